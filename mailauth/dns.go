package mailauth

import (
	"context"
	"errors"
	"net"
)

// resolver wraps the caller's Resolver so that the libraries, which
// classify errors by looking for a *net.DNSError, see one: a name that
// does not exist stays a not-found error, anything else that is not a
// *net.DNSError (a cancelled context, a fake's own error) becomes a
// temporary one. It also refuses to query once the deadline has passed,
// so a resolver that ignores its context cannot stretch a check.
type resolver struct{ r Resolver }

func (r resolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, dnsError(name, err)
	}
	txts, err := r.r.LookupTXT(ctx, name)
	return txts, dnsError(name, err)
}

func (r resolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	if err := ctx.Err(); err != nil {
		return nil, dnsError(name, err)
	}
	mxs, err := r.r.LookupMX(ctx, name)
	return mxs, dnsError(name, err)
}

func (r resolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	if err := ctx.Err(); err != nil {
		return nil, dnsError(host, err)
	}
	ips, err := r.r.LookupIPAddr(ctx, host)
	return ips, dnsError(host, err)
}

func (r resolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, dnsError(addr, err)
	}
	names, err := r.r.LookupAddr(ctx, addr)
	return names, dnsError(addr, err)
}

// dnsError returns err as a *net.DNSError, temporary unless it already is
// a *net.DNSError (the libraries compare types, not errors.As).
func dnsError(name string, err error) error {
	if err == nil {
		return nil
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return de
	}
	return &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true,
		IsTimeout: errors.Is(err, context.DeadlineExceeded)}
}

// notFound reports whether err says the name does not exist.
func notFound(err error) bool {
	var de *net.DNSError
	return errors.As(err, &de) && de.IsNotFound
}
