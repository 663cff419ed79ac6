package proxyproto

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzReadHeader: any input gives an address or ErrHeader, never a
// panic, and a header never takes more than its 107 (v1) or 16+536 (v2)
// bytes.
func FuzzReadHeader(f *testing.F) {
	f.Add([]byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 25\r\nEHLO x\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 143\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(append(v2(1, 0x11, []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0, 25}), 'x'))
	f.Add(v2(0, 0, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		a, err := ReadHeader(r)
		if err != nil && !errors.Is(err, ErrHeader) {
			t.Fatalf("ReadHeader() = %v, not ErrHeader", err)
		}
		used := len(in) - r.Len()
		if used > 16+536 {
			t.Fatalf("read %d bytes", used)
		}
		if err == nil && a != nil && a.String() == "" {
			t.Fatalf("empty address")
		}
	})
}
