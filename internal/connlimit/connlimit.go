// Package connlimit counts a server's connections in total and per client
// address, for the listeners of smtpd and imapd (go-smtp and go-imap have
// no connection caps of their own).
package connlimit

import (
	"net"
	"sync"
)

// Limiter caps connections in total and per client address.
type Limiter struct {
	mu         sync.Mutex
	max, perIP int
	total      int
	byIP       map[string]int
}

// New returns a Limiter allowing max connections, perIP from one address.
func New(max, perIP int) *Limiter {
	return &Limiter{max: max, perIP: perIP, byIP: map[string]int{}}
}

// Acquire takes a slot for a connection from ip ("" for a unix socket:
// only the total counts); false when a cap is reached.
func (l *Limiter) Acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || (ip != "" && l.byIP[ip] >= l.perIP) {
		return false
	}
	l.total++
	if ip != "" {
		l.byIP[ip]++
	}
	return true
}

// Release gives back a slot Acquire took.
func (l *Limiter) Release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if ip == "" {
		return
	}
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
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
