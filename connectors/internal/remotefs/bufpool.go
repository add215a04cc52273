package remotefs

import "sync"

// valuePool recycles the buffers that hold whole files (the binary format)
// once the log has them: a file's record is handed to the worker, which
// keeps nothing of it past the Ack that covers it (sdk.Source), so Ack
// gives the buffer back and the next file is read into it. Without it each
// file is a fresh allocation the runtime must zero before the download
// overwrites it (as long as the transfer itself on loopback) and the
// garbage collector must then reclaim.
//
// At most max buffers and maxFreeBytes wait free (an idle source keeps no
// more); buffers still with the worker are lent, in the order of the seq of
// the position that releases them.
type valuePool struct {
	mu        sync.Mutex
	max       int
	free      [][]byte
	freeBytes int
	lent      []lentBuf
}

const maxFreeBytes = 64 << 20

type lentBuf struct {
	seq int64
	buf []byte
}

// get returns a buffer of at least n bytes' capacity and length 0: the
// smallest free one that fits, or a new one.
func (p *valuePool) get(n int) []byte {
	p.mu.Lock()
	best := -1
	for i, b := range p.free {
		if cap(b) >= n && (best < 0 || cap(b) < cap(p.free[best])) {
			best = i
		}
	}
	if best >= 0 {
		b := p.free[best]
		p.free = append(p.free[:best], p.free[best+1:]...)
		p.freeBytes -= cap(b)
		p.mu.Unlock()
		return b[:0]
	}
	p.mu.Unlock()
	return make([]byte, 0, n)
}

// put makes b free again; when max are free already, the smallest goes,
// and a buffer that would take the free ones past maxFreeBytes is dropped.
func (p *valuePool) put(b []byte) {
	if cap(b) == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.putLocked(b)
}

func (p *valuePool) putLocked(b []byte) {
	if len(p.free) < p.max {
		if p.freeBytes+cap(b) <= maxFreeBytes {
			p.free = append(p.free, b)
			p.freeBytes += cap(b)
		}
		return
	}
	small := 0
	for i, f := range p.free {
		if cap(f) < cap(p.free[small]) {
			small = i
		}
	}
	if d := cap(b) - cap(p.free[small]); d > 0 && p.freeBytes+d <= maxFreeBytes {
		p.free[small] = b
		p.freeBytes += d
	}
}

// lend records that b went out in the record of position seq.
func (p *valuePool) lend(seq int64, b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lent = append(p.lent, lentBuf{seq, b})
}

// release frees what positions up to seq lent: the log has those records.
func (p *valuePool) release(seq int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for n < len(p.lent) && p.lent[n].seq <= seq {
		p.putLocked(p.lent[n].buf)
		n++
	}
	p.lent = append(p.lent[:0], p.lent[n:]...)
}

// forget drops what is lent: after Close no Ack comes, and whoever holds
// those records may keep them.
func (p *valuePool) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lent = nil
}
