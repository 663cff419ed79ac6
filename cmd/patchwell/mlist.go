package main

import (
	"context"
	"net"

	"patchwell/lists"
	"patchwell/mailauth"
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
