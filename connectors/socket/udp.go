package socket

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"

	"github.com/braidhq/braid/connectors/sdk"
)

// maxDatagram is the largest UDP payload there is.
const maxDatagram = 65535

// socketReadBuffer is the receive buffer the UDP source asks the kernel for.
const socketReadBuffer = 4 << 20

// UDP is the udp source.
type UDP struct {
	base
	pc *net.UDPConn

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	invalid, dropped atomic.Int64

	warnInvalid, warnDropped limiter
}

// NewUDP builds the source from validated settings; Open starts listening.
func NewUDP(cfg sdk.Config, env sdk.Env) (*UDP, error) {
	s := newSettings("udp", cfg, env)
	return &UDP{base: base{s: s, buf: newBuffer(s.bufferBytes)}}, nil
}

// Open binds the socket. UDP cannot replay, so pos is ignored.
func (u *UDP) Open(ctx context.Context, _ sdk.Position) error {
	pc, err := (&net.ListenConfig{}).ListenPacket(ctx, "udp", u.s.listen)
	if err != nil {
		return sdk.Retryable(fmt.Errorf("udp: listen on %s: %w", u.s.listen, err))
	}
	u.pc = pc.(*net.UDPConn)
	// Room for bursts while the reader is descheduled; the kernel caps it
	// at net.core.rmem_max.
	_ = u.pc.SetReadBuffer(socketReadBuffer)
	u.ctx, u.cancel = context.WithCancel(context.Background())
	u.wg.Add(2)
	go func() {
		defer u.wg.Done()
		u.receive()
	}()
	go func() {
		defer u.wg.Done()
		u.s.reportGauges(u.ctx, []gauge{{"dropped_datagrams", &u.dropped}, {"invalid_frames", &u.invalid},
			{"buffered_bytes", &u.buf.used}})
	}()
	u.s.log.Info("udp source listening", "listen", u.pc.LocalAddr().String(), "framing", u.s.framing)
	return nil
}

// Addr is the address the source listens on (useful with port 0).
func (u *UDP) Addr() string {
	if u.pc == nil {
		return ""
	}
	return u.pc.LocalAddr().String()
}

// receive reads datagrams and never blocks on the log: what does not fit
// in the buffer is dropped and counted.
func (u *UDP) receive() {
	data := make([]byte, min(u.s.maxLen, maxDatagram)+1)
	b := newBatcher(&u.s, &u.invalid)
	for {
		n, ap, err := u.pc.ReadFromUDPAddrPort(data)
		if err != nil {
			if u.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			u.s.log.Warn("udp source: read failed", "listen", u.s.listen, "error", err)
			continue
		}
		d := data[:n]
		b.start(peerOf(ap), n, 1)
		if frame, inv := u.frames(b, d); inv != nil {
			u.invalid.Add(1)
			if ok, skipped := u.warnInvalid.allow(); ok {
				u.s.log.Warn("udp source: invalid datagram", "peer", ap.String(), "error", inv.msg,
					"dead_letter", u.s.deadLetter, "invalid_since_last_warning", skipped)
			}
			if u.s.deadLetter {
				b.addInvalid(frame, inv)
			}
		}
		ch := b.finish()
		if len(ch.recs) == 0 {
			continue
		}
		if !u.buf.tryAcquire(ch.cost) {
			u.dropped.Add(1)
			if ok, skipped := u.warnDropped.allow(); ok {
				u.s.log.Warn("udp source: buffer.bytes reached, the log is behind; dropping datagrams",
					"buffer_bytes", u.s.bufferBytes, "dropped_total", u.dropped.Load(), "dropped_since_last_warning", skipped)
			}
			continue
		}
		u.buf.push(ch)
	}
}

// frames adds the records of one datagram; an invalid one adds none and
// is returned with the bytes it keeps of it.
func (u *UDP) frames(b *batcher, d []byte) ([]byte, *invalidFrame) {
	if len(d) > u.s.maxLen {
		// The read buffer holds max.length+1 bytes, so a longer
		// datagram's length is not known.
		return d[:u.s.maxLen], tooLong(-1, u.s.maxLen)
	}
	if u.s.framing == FramingSyslog {
		d = trimTrailer(d)
		if err := b.add(d); err != nil {
			return d, &invalidFrame{msg: "syslog: " + err.Error()}
		}
		return nil, nil
	}
	for len(d) > 0 {
		var line []byte
		line, d, _ = bytes.Cut(d, []byte{'\n'})
		_ = b.add(bytes.TrimSuffix(line, []byte{'\r'})) // fails only with framing syslog
	}
	return nil, nil
}

// Close closes the socket.
func (u *UDP) Close(ctx context.Context) error {
	u.buf.close()
	if u.pc == nil {
		return nil
	}
	u.cancel()
	_ = u.pc.Close()
	return waitGroup(ctx, &u.wg)
}
