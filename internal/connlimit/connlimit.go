// Package connlimit counts a server's connections in total, per client
// address and per client network, for the listeners of smtpd and imapd
// (go-smtp and go-imap have no connection caps of their own).
package connlimit

import (
	"net"
	"net/netip"
	"sync"
)

// Network prefixes that count as one client network: an IPv4 /24 and an
// IPv6 /64 (the smallest block commonly routed to one site). Postfix can
// aggregate its per-client counts the same way
// (smtpd_client_ipv4_prefix_length, default 32, and
// smtpd_client_ipv6_prefix_length, default 84).
const (
	netBits4 = 24
	netBits6 = 64
)

// Limiter caps connections in total, per client address and per client
// network.
type Limiter struct {
	mu                 sync.Mutex
	max, perIP, perNet int
	total              int
	byIP, byNet        map[string]int
}

// New returns a Limiter allowing max connections, perIP from one address,
// and no cap per network beyond max.
func New(max, perIP int) *Limiter {
	return NewPerNet(max, perIP, 0)
}

// NewPerNet returns a Limiter allowing max connections, perIP from one
// address and perNet from one network (an IPv4 /24, an IPv6 /64; no cap
// when perNet <= 0), so that many addresses of one network cannot take
// every slot.
func NewPerNet(max, perIP, perNet int) *Limiter {
	return &Limiter{max: max, perIP: perIP, perNet: perNet, byIP: map[string]int{}, byNet: map[string]int{}}
}

// Acquire takes a slot for a connection from ip ("" for a unix socket:
// only the total counts); false when a cap is reached.
func (l *Limiter) Acquire(ip string) bool {
	host, nw := keys(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max {
		return false
	}
	if host != "" {
		if l.byIP[host] >= l.perIP || (l.perNet > 0 && l.byNet[nw] >= l.perNet) {
			return false
		}
		l.byIP[host]++
		l.byNet[nw]++
	}
	l.total++
	return true
}

// Release gives back a slot Acquire took.
func (l *Limiter) Release(ip string) {
	host, nw := keys(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if host == "" {
		return
	}
	if l.byIP[host]--; l.byIP[host] <= 0 {
		delete(l.byIP, host)
	}
	if l.byNet[nw]--; l.byNet[nw] <= 0 {
		delete(l.byNet, nw)
	}
}

// keys returns the per-address and per-network keys of ip ("192.0.2.7"
// and "192.0.2.0/24"; "2001:db8::7" and "2001:db8::/64"). An IPv4-mapped
// IPv6 address counts as the IPv4 address it carries; something that is
// not an address is its own network.
func keys(ip string) (host, nw string) {
	if ip == "" {
		return "", ""
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip, ip
	}
	a = a.Unmap().WithZone("")
	bits := netBits6
	if a.Is4() {
		bits = netBits4
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return ip, ip
	}
	return a.String(), p.String()
}

// HostOnly is the per-address key of a client address: its IP, "" for
// anything else (a unix socket: the local MTA), which only counts
// against the total cap.
func HostOnly(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return ""
}

// Network is the key of limits on failures (wrong passwords) of a
// client address ip: an IPv4 address itself, an IPv6 address's /64, the
// least a site is given, so that one client cannot get a fresh budget
// from each of its addresses. Anything that is not an IP is kept as is.
func Network(ip string) string {
	a := net.ParseIP(ip)
	if a == nil {
		return ip
	}
	if v4 := a.To4(); v4 != nil {
		return v4.String()
	}
	return (&net.IPNet{IP: a.Mask(net.CIDRMask(64, 128)), Mask: net.CIDRMask(64, 128)}).String()
}
