package main

import (
	"context"
	"net"

	"patchwell/lists"
	"patchwell/mailauth"
	"patchwell/store"
)

// verifier adapts mailauth to what lists needs. authserv is the name in
// Authentication-Results (the mail domain).
func verifier(authserv string, o mailauth.Options) func(ctx context.Context, raw []byte, env lists.Envelope) *lists.Auth {
	return func(ctx context.Context, raw []byte, env lists.Envelope) *lists.Auth {
		var ip net.IP
		if host, _, err := net.SplitHostPort(env.Remote); err == nil {
			ip = net.ParseIP(host)
		}
		r := mailauth.Verify(ctx, raw, ip, env.Helo, env.MailFrom, o)
		return &lists.Auth{
			DMARC:       string(r.DMARC),
			DMARCPolicy: r.Policy,
			DKIMAligned: r.AlignedDKIM,
			FromDomain:  r.From,
			SignedBy:    r.SignedBy(),
			Header:      r.Header(authserv),
		}
	}
}

// dnsResolver asks the DNS server at addr (HOST:PORT) instead of the
// system's; nil (the system's) for "".
func dnsResolver(addr string) mailauth.Resolver {
	if addr == "" {
		return nil
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// activeSubscribers names the recipients of a list's posts, for
// outbound.NewQueue.
func activeSubscribers(st store.Store) func(ctx context.Context, list string) ([]string, error) {
	return func(ctx context.Context, list string) ([]string, error) {
		subs, err := st.Subscribers(ctx, list, store.SubActive)
		out := make([]string, len(subs))
		for i, s := range subs {
			out[i] = s.Email
		}
		return out, err
	}
}
