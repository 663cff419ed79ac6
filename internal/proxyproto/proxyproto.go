// Package proxyproto reads the PROXY protocol header that a TCP load
// balancer (HAProxy's send-proxy and send-proxy-v2) puts before a
// connection's data, so that the servers behind it see the client's
// address rather than the balancer's: for their per-address limits, SPF
// and logs. Only connections from trusted addresses are read; theirs must
// start with a header, everyone else's are served as they come.
//
// Both versions of the protocol are read
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt): version
// 1, one text line of at most 107 bytes, and version 2, a binary header of
// 16 bytes and at most 536 more (TLVs are skipped). Nothing past the
// header is read, so the server reads its protocol from the first byte.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrHeader is a missing or malformed header from a trusted address.
var ErrHeader = errors.New("proxy protocol: bad header")

// Listener wraps a listener; connections from Trusted addresses must
// begin with a PROXY header.
type Listener struct {
	net.Listener
	Trusted []netip.Prefix
	// Timeout bounds the wait for the header (default 5 s).
	Timeout time.Duration
}

// ParseTrusted parses a comma-separated list of addresses and CIDR
// prefixes ("10.0.0.5,192.168.1.0/24").
func ParseTrusted(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if !strings.Contains(f, "/") {
			a, err := netip.ParseAddr(f)
			if err != nil {
				return nil, fmt.Errorf("proxy protocol source %q: %w", f, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(f)
		if err != nil {
			return nil, fmt.Errorf("proxy protocol source %q: %w", f, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Accept returns the next connection; one from a trusted address reads
// its header on first use (RemoteAddr or Read).
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if !l.trusted(c.RemoteAddr()) {
		return c, nil
	}
	t := l.Timeout
	if t <= 0 {
		t = 5 * time.Second
	}
	return &Conn{Conn: c, timeout: t}, nil
}

func (l *Listener) trusted(a net.Addr) bool {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return false
	}
	ip, ok := netip.AddrFromSlice(ta.IP)
	if !ok {
		return false
	}
	ip = ip.Unmap()
	for _, p := range l.Trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// Conn is a connection from a trusted address. Its header is read on the
// first RemoteAddr or Read; a bad or missing header fails every Read
// (ErrHeader), and RemoteAddr stays the balancer's.
type Conn struct {
	net.Conn
	timeout time.Duration

	once   sync.Once
	remote net.Addr // the client's; nil for a LOCAL header (health checks)
	err    error

	mu sync.Mutex
	rd time.Time // the read deadline the server set
}

func (c *Conn) init() {
	c.once.Do(func() {
		c.mu.Lock()
		rd := c.rd
		c.mu.Unlock()
		dl := time.Now().Add(c.timeout)
		if !rd.IsZero() && rd.Before(dl) {
			dl = rd
		}
		c.Conn.SetReadDeadline(dl)
		c.remote, c.err = ReadHeader(c.Conn)
		c.mu.Lock()
		c.Conn.SetReadDeadline(c.rd)
		c.mu.Unlock()
	})
}

// RemoteAddr is the client's address from the header.
func (c *Conn) RemoteAddr() net.Addr {
	c.init()
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// NetConn is the connection from the balancer, as tls.Conn.NetConn.
func (c *Conn) NetConn() net.Conn { return c.Conn }

func (c *Conn) Read(p []byte) (int, error) {
	c.init()
	if c.err != nil {
		return 0, c.err
	}
	return c.Conn.Read(p)
}

func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetDeadline(t)
}

var v2sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// ReadHeader reads one PROXY header (version 1 or 2) from r and nothing
// more, and returns the source address it gives: nil for version 1's
// UNKNOWN and version 2's LOCAL (the balancer's own connection, such as
// a health check).
func ReadHeader(r io.Reader) (net.Addr, error) {
	var head [16]byte
	// Every header is at least 15 bytes ("PROXY UNKNOWN\r\n"; 16 for v2).
	if _, err := io.ReadFull(r, head[:12]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	if bytes.Equal(head[:12], v2sig) {
		return readV2(r, head[:])
	}
	if string(head[:6]) != "PROXY " {
		return nil, fmt.Errorf("%w: no PROXY header", ErrHeader)
	}
	line := append([]byte(nil), head[:12]...)
	var b [1]byte
	for !bytes.HasSuffix(line, []byte("\r\n")) {
		if len(line) >= 107 {
			return nil, fmt.Errorf("%w: version 1 line too long", ErrHeader)
		}
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrHeader, err)
		}
		line = append(line, b[0])
	}
	return parseV1(string(line[:len(line)-2]))
}

// parseV1 parses "PROXY TCP4 SRC DST SPORT DPORT" (or TCP6, or UNKNOWN
// followed by anything).
func parseV1(line string) (net.Addr, error) {
	f := strings.Split(line, " ")
	if len(f) >= 2 && f[1] == "UNKNOWN" {
		return nil, nil
	}
	if len(f) != 6 || (f[1] != "TCP4" && f[1] != "TCP6") {
		return nil, fmt.Errorf("%w: %q", ErrHeader, line)
	}
	src, err := netip.ParseAddr(f[2])
	if err != nil || src.Is4() != (f[1] == "TCP4") || src.Zone() != "" {
		return nil, fmt.Errorf("%w: source address %q", ErrHeader, f[2])
	}
	if dst, err := netip.ParseAddr(f[3]); err != nil || dst.Is4() != (f[1] == "TCP4") {
		return nil, fmt.Errorf("%w: destination address %q", ErrHeader, f[3])
	}
	port, err := parsePort(f[4])
	if err != nil {
		return nil, err
	}
	if _, err := parsePort(f[5]); err != nil {
		return nil, err
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(src, port)), nil
}

func parsePort(s string) (uint16, error) {
	// Decimal without leading zeros, as the specification says.
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil || (len(s) > 1 && s[0] == '0') {
		return 0, fmt.Errorf("%w: port %q", ErrHeader, s)
	}
	return uint16(n), nil
}

// readV2 reads the rest of a version 2 header, whose first 12 bytes (the
// signature) are in head.
func readV2(r io.Reader, head []byte) (net.Addr, error) {
	if _, err := io.ReadFull(r, head[12:16]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	verCmd, fam := head[12], head[13]
	n := int(binary.BigEndian.Uint16(head[14:16]))
	if verCmd>>4 != 2 {
		return nil, fmt.Errorf("%w: version %d", ErrHeader, verCmd>>4)
	}
	if n > 536 {
		return nil, fmt.Errorf("%w: %d bytes of addresses", ErrHeader, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrHeader, err)
	}
	switch verCmd & 0xf {
	case 0: // LOCAL: the balancer's own connection
		return nil, nil
	case 1: // PROXY
	default:
		return nil, fmt.Errorf("%w: command %d", ErrHeader, verCmd&0xf)
	}
	switch fam {
	case 0x11: // TCP over IPv4
		if n < 12 {
			return nil, fmt.Errorf("%w: short IPv4 addresses", ErrHeader)
		}
		ip := netip.AddrFrom4([4]byte(body[0:4]))
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[8:10]))), nil
	case 0x21: // TCP over IPv6
		if n < 36 {
			return nil, fmt.Errorf("%w: short IPv6 addresses", ErrHeader)
		}
		ip := netip.AddrFrom16([16]byte(body[0:16])).Unmap()
		return net.TCPAddrFromAddrPort(netip.AddrPortFrom(ip, binary.BigEndian.Uint16(body[32:34]))), nil
	case 0x00: // UNSPEC
		return nil, nil
	}
	return nil, fmt.Errorf("%w: address family 0x%02x", ErrHeader, fam)
}
