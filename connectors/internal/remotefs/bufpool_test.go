package remotefs

import "testing"

// TestValuePool: lent buffers come back only through release, up to the
// acknowledged seq; get reuses the smallest that fits; the free list keeps
// at most max buffers and maxFreeBytes.
func TestValuePool(t *testing.T) {
	p := valuePool{max: 2}
	a, b, c := p.get(100), p.get(200), p.get(300)
	p.lend(1, a)
	p.lend(2, b)
	p.lend(3, c)
	if got := p.get(100); &got[:1][0] == &a[:1][0] {
		t.Fatal("a lent buffer was handed out again")
	}
	p.release(2) // a and b
	if len(p.free) != 2 || len(p.lent) != 1 || p.lent[0].seq != 3 {
		t.Fatalf("after release(2): %d free, lent %v", len(p.free), p.lent)
	}
	if got := p.get(150); cap(got) != cap(b) || &got[:1][0] != &b[:1][0] {
		t.Fatalf("get(150) has capacity %d, want b's %d", cap(got), cap(b))
	}
	p.put(b)
	p.release(3) // c replaces the smallest (a): max is 2
	if len(p.free) != 2 || p.freeBytes != cap(b)+cap(c) {
		t.Fatalf("%d free of %d bytes, want b and c", len(p.free), p.freeBytes)
	}
	p.put(make([]byte, 0, maxFreeBytes)) // would go past maxFreeBytes
	if p.freeBytes != cap(b)+cap(c) {
		t.Fatalf("free bytes %d: a buffer past maxFreeBytes was kept", p.freeBytes)
	}
	p.lend(4, p.get(10))
	p.forget()
	p.release(4)
	if len(p.lent) != 0 || len(p.free) != 1 {
		t.Fatalf("after forget: lent %v, %d free; want nothing lent and the forgotten buffer gone", p.lent, len(p.free))
	}
}
