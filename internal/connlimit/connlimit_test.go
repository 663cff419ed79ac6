package connlimit

import (
	"net"
	"testing"
)

func TestLimiter(t *testing.T) {
	l := New(3, 2)
	if !l.Acquire("a") || !l.Acquire("a") {
		t.Fatal("first two from a refused")
	}
	if l.Acquire("a") {
		t.Error("third from a allowed (per-address cap 2)")
	}
	if !l.Acquire("") {
		t.Error("a unix socket counted against an address")
	}
	if l.Acquire("b") {
		t.Error("fourth connection allowed (total cap 3)")
	}
	l.Release("a")
	if !l.Acquire("b") {
		t.Error("a released slot was not given back")
	}
	l.Release("a")
	l.Release("b")
	l.Release("")
	if len(l.byIP) != 0 || l.total != 0 {
		t.Errorf("after releasing all: total %d, byIP %v", l.total, l.byIP)
	}
}

func TestHostOnly(t *testing.T) {
	if got := HostOnly(&net.TCPAddr{IP: net.ParseIP("192.0.2.1"), Port: 25}); got != "192.0.2.1" {
		t.Errorf("tcp: %q", got)
	}
	if got := HostOnly(&net.UnixAddr{Name: "/run/lmtp", Net: "unix"}); got != "" {
		t.Errorf("unix: %q", got)
	}
}

// TestPerNet: addresses of one IPv4 /24 or one IPv6 /64 share a cap of
// their own, so that one network cannot take every slot, while another
// network still gets in; the per-address cap still holds within it.
func TestPerNet(t *testing.T) {
	for _, tc := range []struct {
		name      string
		same      []string // distinct addresses in one network
		other     string   // an address in a neighbouring network
		sameAgain string   // yet another address of the first network
	}{
		{"ipv4 /24", []string{"192.0.2.1", "192.0.2.2", "192.0.2.200"}, "192.0.3.1", "192.0.2.77"},
		{"ipv6 /64", []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2:ffff:ffff:ffff:ffff"}, "2001:db8:1:3::1", "2001:db8:1:2:abcd::9"},
		{"ipv4-mapped", []string{"::ffff:198.51.100.1", "198.51.100.2", "::ffff:198.51.100.3"}, "198.51.101.1", "198.51.100.4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := NewPerNet(100, 2, 4)
			if !l.Acquire(tc.same[0]) || !l.Acquire(tc.same[0]) {
				t.Fatal("first two from one address refused")
			}
			if l.Acquire(tc.same[0]) {
				t.Error("third from one address allowed (per-address cap 2)")
			}
			if !l.Acquire(tc.same[1]) || !l.Acquire(tc.same[2]) {
				t.Fatal("other addresses of the network refused below its cap")
			}
			if l.Acquire(tc.sameAgain) {
				t.Errorf("fifth connection from one network allowed (per-network cap 4)")
			}
			if !l.Acquire(tc.other) {
				t.Errorf("%s refused: another network has slots of its own", tc.other)
			}
			l.Release(tc.same[1])
			if !l.Acquire(tc.sameAgain) {
				t.Error("a slot released in the network was not given back")
			}
			for _, ip := range []string{tc.same[0], tc.same[0], tc.same[2], tc.sameAgain, tc.other} {
				l.Release(ip)
			}
			if len(l.byIP) != 0 || len(l.byNet) != 0 || l.total != 0 {
				t.Errorf("after releasing all: total %d, byIP %v, byNet %v", l.total, l.byIP, l.byNet)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ ip, host, nw string }{
		{"192.0.2.130", "192.0.2.130", "192.0.2.0/24"},
		{"::ffff:192.0.2.130", "192.0.2.130", "192.0.2.0/24"},
		{"2001:db8:a:b:c:d:e:f", "2001:db8:a:b:c:d:e:f", "2001:db8:a:b::/64"},
		{"fe80::1%eth0", "fe80::1", "fe80::/64"},
		{"not an address", "not an address", "not an address"},
		{"", "", ""},
	} {
		if host, nw := keys(tc.ip); host != tc.host || nw != tc.nw {
			t.Errorf("keys(%q) = %q, %q; want %q, %q", tc.ip, host, nw, tc.host, tc.nw)
		}
	}
}

func TestNetwork(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.7":            "192.0.2.7",
		"::ffff:192.0.2.7":     "192.0.2.7",
		"2001:db8:1:2:3:4:5:6": "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff::1": "2001:db8:1:2::/64",
		"2001:db8:1:3::1":      "2001:db8:1:3::/64",
		"::1":                  "::/64",
		"":                     "",
		"not an address":       "not an address",
	} {
		if got := Network(in); got != want {
			t.Errorf("Network(%q) = %q, want %q", in, got, want)
		}
	}
}
