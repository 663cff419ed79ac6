package main

import (
	"context"
	"fmt"
	"mime"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

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

// siteMailer sends the site's own mail (the sign-up confirmation) to one
// address straight through the smarthost: not queued, so a failure is
// shown to the person signing up, who asks again.
func siteMailer(smarthost, user, pass string, starttls bool, from string) func(ctx context.Context, to, subject, body string) error {
	return func(ctx context.Context, to, subject, body string) error {
		var c *smtp.Client
		var err error
		if starttls {
			c, err = smtp.DialStartTLS(smarthost, nil)
		} else {
			c, err = smtp.Dial(smarthost)
		}
		if err != nil {
			return err
		}
		defer c.Close()
		if user != "" {
			if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
				return err
			}
		}
		now := time.Now()
		msg := fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%d.site@%s>\r\nAuto-Submitted: auto-generated\r\n"+
			"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n%s",
			from, to, mime.QEncoding.Encode("utf-8", subject), now.Format(time.RFC1123Z), now.UnixNano(), domainOf(from),
			strings.ReplaceAll(body, "\n", "\r\n"))
		if err := c.SendMail(from, []string{to}, strings.NewReader(msg)); err != nil {
			return err
		}
		return c.Quit()
	}
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return strings.Trim(addr[i+1:], ">")
	}
	return "localhost"
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
