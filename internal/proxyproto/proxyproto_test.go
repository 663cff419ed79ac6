package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func v2(cmd, fam byte, addrs []byte) []byte {
	b := append([]byte(nil), v2sig...)
	b = append(b, 0x20|cmd, fam, 0, 0)
	binary.BigEndian.PutUint16(b[14:], uint16(len(addrs)))
	return append(b, addrs...)
}

func TestReadHeader(t *testing.T) {
	ip4 := []byte{203, 0, 113, 7, 10, 0, 0, 1, 0x15, 0xb3, 0, 25} // 203.0.113.7:5555 -> 10.0.0.1:25
	ip6 := make([]byte, 36)
	copy(ip6, netip.MustParseAddr("2001:db8::7").AsSlice())
	copy(ip6[16:], netip.MustParseAddr("2001:db8::1").AsSlice())
	binary.BigEndian.PutUint16(ip6[32:], 40000)
	binary.BigEndian.PutUint16(ip6[34:], 143)
	withTLV := append(append([]byte(nil), ip4...), 0x04, 0, 2, 'h', 'i') // a TLV, skipped
	for _, tc := range []struct {
		name   string
		in     []byte
		want   string // "" for no address (LOCAL, UNKNOWN)
		bad    bool
		remain string // what the server reads next
	}{
		{"v1 tcp4", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 25\r\nEHLO x\r\n"), "203.0.113.7:5555", false, "EHLO x\r\n"},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 40000 143\r\na1 LOGIN"), "[2001:db8::7]:40000", false, "a1 LOGIN"},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\nrest"), "", false, "rest"},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nrest"), "", false, "rest"},
		{"v2 tcp4", append(v2(1, 0x11, ip4), "GET /"...), "203.0.113.7:5555", false, "GET /"},
		{"v2 tcp4 with a TLV", append(v2(1, 0x11, withTLV), "x"...), "203.0.113.7:5555", false, "x"},
		{"v2 tcp6", append(v2(1, 0x21, ip6), "x"...), "[2001:db8::7]:40000", false, "x"},
		{"v2 local (health check)", append(v2(0, 0x00, nil), "x"...), "", false, "x"},
		{"no header", []byte("EHLO attacker.example\r\n"), "", true, ""},
		{"short", []byte("PROXY TCP4"), "", true, ""},
		{"v1 no CRLF", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 25\n" + strings.Repeat("x", 200)), "", true, ""},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::7 10.0.0.1 5555 25\r\n"), "", true, ""},
		{"v1 bad port", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 65536 25\r\n"), "", true, ""},
		{"v1 leading zero port", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 0555 25\r\n"), "", true, ""},
		{"v1 extra field", []byte("PROXY TCP4 203.0.113.7 10.0.0.1 5555 25 x\r\n"), "", true, ""},
		{"v2 wrong version", func() []byte { b := v2(1, 0x11, ip4); b[12] = 0x11; return b }(), "", true, ""},
		{"v2 short addresses", v2(1, 0x11, ip4[:8]), "", true, ""},
		{"v2 too long", func() []byte { b := v2(1, 0x11, nil); binary.BigEndian.PutUint16(b[14:], 5000); return b }(), "", true, ""},
		{"v2 udp", v2(1, 0x12, ip4), "", true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bytes.NewReader(tc.in)
			a, err := ReadHeader(r)
			if tc.bad {
				if !errors.Is(err, ErrHeader) {
					t.Fatalf("ReadHeader() = %v, %v; want ErrHeader", a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadHeader() = %v", err)
			}
			got := ""
			if a != nil {
				got = a.String()
			}
			if got != tc.want {
				t.Errorf("source = %q, want %q", got, tc.want)
			}
			rest, _ := io.ReadAll(r)
			if string(rest) != tc.remain {
				t.Errorf("left for the server %q, want %q", rest, tc.remain)
			}
		})
	}
}

func TestParseTrusted(t *testing.T) {
	got, err := ParseTrusted(" 10.0.0.5, 192.168.1.7/24,::1 ")
	if err != nil {
		t.Fatalf("ParseTrusted() = %v", err)
	}
	want := []string{"10.0.0.5/32", "192.168.1.0/24", "::1/128"}
	if len(got) != len(want) {
		t.Fatalf("ParseTrusted() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("prefix %d = %s, want %s", i, got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.300", "10.0.0.0/33", "host.example"} {
		if _, err := ParseTrusted(bad); err == nil {
			t.Errorf("ParseTrusted(%q) = nil error", bad)
		}
	}
}

// TestListener: over TCP, a trusted peer's header gives the address and
// is not seen by the server; an untrusted peer is served as it comes; a
// trusted peer without a header is refused.
func TestListener(t *testing.T) {
	for _, tc := range []struct {
		name    string
		trusted string
		send    string
		remote  string // "" for the peer's own address
		line    string // what the server reads; "" for a failed read
	}{
		{"trusted with header", "127.0.0.0/8", "PROXY TCP4 198.51.100.9 127.0.0.1 4321 25\r\nHELLO\n", "198.51.100.9:4321", "HELLO\n"},
		{"untrusted", "10.0.0.0/8", "PROXY TCP4 198.51.100.9 127.0.0.1 4321 25\r\nHELLO\n", "", "PROXY TCP4 198.51.100.9 127.0.0.1 4321 25\r\n"},
		{"trusted without header", "127.0.0.1", "HELLO from nowhere\r\n", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			trusted, err := ParseTrusted(tc.trusted)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			l := &Listener{Listener: raw, Trusted: trusted, Timeout: 10 * time.Second}
			defer l.Close()
			cc, err := net.Dial("tcp", raw.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer cc.Close()
			if _, err := io.WriteString(cc, tc.send); err != nil {
				t.Fatal(err)
			}
			c, err := l.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			want := tc.remote
			if want == "" {
				want = cc.LocalAddr().String()
			}
			if got := c.RemoteAddr().String(); got != want {
				t.Errorf("RemoteAddr() = %s, want %s", got, want)
			}
			line, err := bufio.NewReader(c).ReadString('\n')
			if tc.line == "" {
				if !errors.Is(err, ErrHeader) {
					t.Errorf("read = %q, %v; want ErrHeader", line, err)
				}
				return
			}
			if err != nil || line != tc.line {
				t.Errorf("read = %q, %v; want %q", line, err, tc.line)
			}
		})
	}
}

// TestHeaderTimeout: a trusted peer that sends nothing is given up on
// after the timeout, and the server's own deadline is kept afterwards.
func TestHeaderTimeout(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &Listener{Listener: raw, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, Timeout: 50 * time.Millisecond}
	defer l.Close()
	cc, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	c, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.RemoteAddr().String(); got != cc.LocalAddr().String() {
		t.Errorf("RemoteAddr() after a timeout = %s, want the peer's own", got)
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, ErrHeader) {
		t.Errorf("Read() = %v, want ErrHeader", err)
	}
}
