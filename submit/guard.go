package submit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"syscall"
)

// Policy is what a fetch on a user's behalf may reach: public addresses
// over http(s) and git, and only what the operator allows besides
// (serve --submit-allow-hosts).
type Policy struct {
	// AllowLocal allows local paths and file:// URLs (the "file" entry).
	AllowLocal bool
	// AllowNets are addresses allowed although loopback, private,
	// link-local or otherwise not public.
	AllowNets []netip.Prefix
	// AllowHosts are host names allowed whatever they resolve to.
	AllowHosts []string
	// Resolver looks host names up (nil: the system's).
	Resolver Resolver
}

// Resolver looks up a host's addresses (net.Resolver does).
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// ParsePolicy reads the operator's list (comma-separated): "file" for
// local paths, address prefixes or addresses (127.0.0.0/8, ::1), and
// host names.
func ParsePolicy(s string) (Policy, error) {
	var p Policy
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "file":
			p.AllowLocal = true
		case strings.Contains(f, "/"):
			pfx, err := netip.ParsePrefix(f)
			if err != nil {
				return p, fmt.Errorf("submit-allow-hosts: %q: %w", f, err)
			}
			p.AllowNets = append(p.AllowNets, pfx.Masked())
		default:
			if a, err := netip.ParseAddr(f); err == nil {
				p.AllowNets = append(p.AllowNets, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
				continue
			}
			if strings.ContainsAny(f, " :@[]") {
				return p, fmt.Errorf("submit-allow-hosts: %q is not a host name, address, prefix or \"file\"", f)
			}
			p.AllowHosts = append(p.AllowHosts, strings.ToLower(strings.TrimSuffix(f, ".")))
		}
	}
	return p, nil
}

// RefusedError is a fetch the policy does not allow; its text is for the
// user.
type RefusedError struct{ Msg string }

func (e *RefusedError) Error() string { return e.Msg }

// nonPublic are the special-purpose ranges besides what netip.Addr's
// methods name (RFC 6890 and its updates).
var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("100.64.0.0/10"), // shared address space (CGNAT)
	netip.MustParsePrefix("192.0.0.0/24"),
	netip.MustParsePrefix("192.0.2.0/24"),
	netip.MustParsePrefix("198.18.0.0/15"),
	netip.MustParsePrefix("198.51.100.0/24"),
	netip.MustParsePrefix("203.0.113.0/24"),
	netip.MustParsePrefix("240.0.0.0/4"),
	netip.MustParsePrefix("64:ff9b::/96"), // NAT64 reaches IPv4 addresses
	netip.MustParsePrefix("2001:db8::/32"),
}

// kind says why a is not public ("" when it is).
func kind(a netip.Addr) string {
	a = a.Unmap()
	switch {
	case a.IsLoopback():
		return "a loopback address"
	case a.IsPrivate():
		return "a private address"
	case a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return "a link-local address"
	case a.IsUnspecified():
		return "the unspecified address"
	case a.IsMulticast(), a.IsInterfaceLocalMulticast():
		return "a multicast address"
	}
	for _, p := range nonPublic {
		if p.Contains(a) {
			return "a reserved address"
		}
	}
	return ""
}

// CheckAddr returns a *RefusedError unless the policy lets a fetch
// connect to a.
func (p *Policy) CheckAddr(a netip.Addr) error {
	a = a.Unmap()
	for _, n := range p.AllowNets {
		if n.Contains(a) {
			return nil
		}
	}
	if k := kind(a); k != "" {
		return &RefusedError{Msg: fmt.Sprintf("refused: %s is %s; the server fetches only from public addresses", a, k)}
	}
	return nil
}

func (p *Policy) hostAllowed(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range p.AllowHosts {
		if h == host {
			return true
		}
	}
	return false
}

// lookup resolves host and checks every address it has: a name with
// one non-public address is refused (it could be given either).
func (p *Policy) lookup(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return []netip.Addr{a.Unmap()}, p.CheckAddr(a)
	}
	var r Resolver = net.DefaultResolver
	if p.Resolver != nil {
		r = p.Resolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil || len(addrs) == 0 {
		return nil, &RefusedError{Msg: fmt.Sprintf("host %s: no address (%v)", host, err)}
	}
	if p.hostAllowed(host) {
		return addrs, nil
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			var re *RefusedError
			errors.As(err, &re)
			return nil, &RefusedError{Msg: fmt.Sprintf("refused: %s resolves to %s", host, strings.TrimPrefix(re.Msg, "refused: "))}
		}
	}
	return addrs, nil
}

// Dial connects to hostport as the policy allows: the name is resolved
// now, each address checked, and the address the socket actually
// connects to is checked again at connect time (a name that resolves
// to a public address for a check and a private one for the connection,
// DNS rebinding, gets nowhere).
func (p *Policy) Dial(ctx context.Context, network, hostport string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, err
	}
	addrs, err := p.lookup(ctx, host)
	if err != nil {
		return nil, err
	}
	allowedHost := p.hostAllowed(host)
	d := net.Dialer{Control: func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return err
		}
		if allowedHost {
			return nil
		}
		return p.CheckAddr(ap.Addr())
	}}
	var last error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		last = err
		var re *RefusedError
		if errors.As(err, &re) {
			return nil, re
		}
	}
	return nil, last
}
