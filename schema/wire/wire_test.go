package wire

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	b := AppendHeader(nil, 0x01020304)
	b = append(b, "payload"...)
	if !bytes.Equal(b[:5], []byte{0, 1, 2, 3, 4}) {
		t.Fatalf("header = % x", b[:5])
	}
	id, p, err := Parse(b)
	if err != nil || id != 0x01020304 || string(p) != "payload" {
		t.Fatalf("parse = %d %q %v", id, p, err)
	}
	if _, _, err := Parse([]byte{0, 1}); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short: %v", err)
	}
	if _, _, err := Parse([]byte{1, 0, 0, 0, 1}); !errors.Is(err, ErrMagic) {
		t.Fatalf("magic: %v", err)
	}
}

func TestMessageIndexes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		idx  []int
		want []byte
	}{
		{[]int{0}, []byte{0}},
		{nil, []byte{0}},
		{[]int{1}, []byte{2, 2}},       // count 1, index 1 (zigzag)
		{[]int{0, 2}, []byte{4, 0, 4}}, // nested: second-level index 2
		{[]int{3, 64}, []byte{4, 6, 0x80, 0x01}},
	}
	for _, c := range cases {
		got := AppendMessageIndexes(nil, c.idx)
		if !bytes.Equal(got, c.want) {
			t.Errorf("append %v = % x, want % x", c.idx, got, c.want)
		}
		idx, rest, err := ParseMessageIndexes(append(got, 0xAA))
		want := c.idx
		if len(want) == 0 {
			want = []int{0}
		}
		if err != nil || !slices.Equal(idx, want) || !bytes.Equal(rest, []byte{0xAA}) {
			t.Errorf("parse % x = %v % x %v", got, idx, rest, err)
		}
	}
	for _, bad := range [][]byte{{}, {0x80}, {2}, {1, 0}, {0x7e, 0}} {
		if _, _, err := ParseMessageIndexes(bad); !errors.Is(err, ErrMessageIndexes) {
			t.Errorf("parse % x: err = %v", bad, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1, 2, 2, 'x'})
	f.Add([]byte{0, 0, 0, 0, 7, 0})
	f.Add([]byte{0, 1, 2})
	f.Fuzz(func(t *testing.T, data []byte) {
		id, payload, err := Parse(data)
		if err != nil {
			return
		}
		if again := append(AppendHeader(nil, id), payload...); !bytes.Equal(again, data) {
			t.Fatalf("header round trip: % x != % x", again, data)
		}
		idx, rest, err := ParseMessageIndexes(payload)
		if err != nil {
			return
		}
		if len(idx) > len(payload) {
			t.Fatalf("%d indexes from %d bytes", len(idx), len(payload))
		}
		enc := AppendMessageIndexes(nil, idx)
		idx2, rest2, err := ParseMessageIndexes(append(enc, rest...))
		if err != nil || !slices.Equal(idx, idx2) || !bytes.Equal(rest, rest2) {
			t.Fatalf("indexes round trip: %v -> % x -> %v %v", idx, enc, idx2, err)
		}
	})
}
