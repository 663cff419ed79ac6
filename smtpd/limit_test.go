package smtpd

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"patchwell/internal/proxyproto"
)

// TestPerNetworkCap: many addresses of one client network (an IPv4 /24,
// an IPv6 /64) share MaxConnsPerNet slots while another network still
// connects. The client is the one the connection comes from or, behind a
// trusted load balancer, the one its PROXY header names.
func TestPerNetworkCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proxy bool
		same  []string // addresses of one network
		other string   // another network
	}{
		// Every 127/8 address is loopback on Linux: dial from 127.0.1.x.
		{"direct ipv4", false, []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}, "127.0.2.1"},
		{"proxy ipv4", true, []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, "198.51.101.1"},
		{"proxy ipv6", true, []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:3::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.proxy {
				l = &proxyproto.Listener{Listener: l, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
			}
			s, err := New(Config{Domain: "localhost", MaxConns: 20, MaxConnsPerIP: 2, MaxConnsPerNet: 3}, newFake(), testLogger(t))
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			go s.Serve(l)
			t.Cleanup(func() { s.Close() })
			addr := l.Addr().String()
			connect := func(from string) (net.Conn, string) {
				t.Helper()
				d := net.Dialer{Timeout: 5 * time.Second}
				if !tc.proxy {
					d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial from %s: %v", from, err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.proxy {
					fam := "TCP4"
					if strings.Contains(from, ":") {
						fam = "TCP6"
					}
					fmt.Fprintf(c, "PROXY %s %s %s 40000 25\r\n", fam, from, from)
				}
				line, _ := bufio.NewReader(c).ReadString('\n')
				return c, line
			}
			want := func(from, code string) net.Conn {
				t.Helper()
				c, line := connect(from)
				if !strings.HasPrefix(line, code) {
					t.Fatalf("connection from %s: %q, want %s", from, line, code)
				}
				return c
			}
			first := want(tc.same[0], "220")
			want(tc.same[0], "220")
			want(tc.same[0], "421 4.7.0") // per address
			want(tc.same[1], "220")
			want(tc.same[2], "421 4.7.0") // per network: 3 taken
			want(tc.other, "220")
			want(tc.other, "220")

			// A slot given back in the network is free again.
			first.Close()
			for end := time.Now().Add(5 * time.Second); ; {
				c, line := connect(tc.same[2])
				if strings.HasPrefix(line, "220") {
					break
				}
				c.Close()
				if time.Now().After(end) {
					t.Fatalf("after a close in the network: %q, want 220", line)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}
