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
