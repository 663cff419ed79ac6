package main

import (
	"context"
	"fmt"
	"log/slog"
	"mime"
	"net/mail"
	"strings"
	"time"

	"patchwell/outbound"
	"patchwell/review"
	"patchwell/store"
)

// threadReply is a message patchwell writes on a series' thread: the
// "Applied, thanks" reply, the CI summary.
type threadReply struct {
	Series *store.Series
	From   string // an address; "" is "LIST maintainers <LIST@DOMAIN>"
	Tag    string // names the kind in the Message-ID: "applied", "ci"
	Body   string
}

// postReply archives r in the series' thread (In-Reply-To its cover
// letter, else its first patch) and queues it to the list's subscribers,
// in one transaction, like any post; a running server's outbound worker
// delivers it (kick, when set, wakes it at once).
func postReply(ctx context.Context, st store.Store, domain string, kick func(), r threadReply) error {
	s := r.Series
	parent := s.CoverMessageID
	if parent == "" {
		parent = s.MessageID
	}
	from := r.From
	if from == "" {
		from = (&mail.Address{Name: s.List + " maintainers", Address: s.List + "@" + domain}).String()
	}
	now := time.Now()
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s@%s\nSubject: %s\nDate: %s\n", oneLine(from), s.List, domain,
		mime.QEncoding.Encode("utf-8", "Re: "+oneLine(s.Subject)), now.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s.%d.%d@%s>\n", r.Tag, s.ID, now.UnixNano(), domain)
	if parent != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\nReferences: <%s>\n", oneLine(parent), oneLine(parent))
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n")
	b.WriteString(r.Body)
	raw := []byte(b.String())
	in := review.NewIngester(st, slog.New(slog.DiscardHandler))
	defer in.Close()
	q := outbound.NewQueue(st, domain, activeSubscribers(st), nil)
	err := in.DeliverWith(ctx, []string{s.List}, raw, func(ctx context.Context, tx store.Tx, list string, a *store.Added) error {
		l, err := st.ListInfo(ctx, list)
		if err != nil {
			return err
		}
		return q.Distribute(ctx, tx, l, a, raw, false)
	})
	if err == nil && kick != nil {
		kick()
	}
	return err
}

// oneLine keeps a header value on one line.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
