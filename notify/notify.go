// Package notify tells the submitter of a series, by e-mail, when its
// status changes, whatever changed it (the web, patchwork's API, a mail
// command, apply, CI, its patches' states rolling up): one mail per
// change, saying who changed it, from what to what, their comment and a
// link to the series page. An account can opt out (store.SetStatusMail);
// an address without an account is always told; nobody is told of a
// change they made themselves. A list can have the notice posted to the
// series' thread as well (store.SetNotifyThread); the submitter then
// gets that post (once, with the subscribers) instead of a mail of its
// own.
//
// The Worker reads the status history past a cursor kept in the store
// and queues each notice in the transaction that moves the cursor
// (store.ClaimStatusNotes), so that a change is told once, by one node,
// across restarts. A thread post goes through the Ingester, the one road
// to a list, before the claim: its bytes depend on the change only, so
// posting it again after a crash is a duplicate the ingester ignores.
//
// It writes mail with archive.Compose and reaches the store and the
// ingester through the small interfaces it declares; it decides nothing
// about who may change a status (access does, where the change is made).
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/review"
	"patchwell/store"
)

// Store is what the worker needs of the store.
type Store interface {
	StatusNotes(ctx context.Context, limit int) ([]store.StatusNote, error)
	ClaimStatusNotes(ctx context.Context, upTo int64, fn func(tx store.Tx, notes []store.StatusNote) error) error
}

// Poster posts a message to a list (review.Ingester).
type Poster interface {
	Post(ctx context.Context, p review.Post) error
}

// Config wires a Worker.
type Config struct {
	Domain string // lists are NAME@Domain
	WebURL string // the site, without a trailing slash, for links
	// Poll is how often the worker looks for changes when not kicked
	// (default 5 seconds).
	Poll time.Duration
	// Sent, when set, is called after mail was queued (the outbound
	// worker's Kick).
	Sent func()
}

// batch bounds the changes one step handles.
const batch = 100

// Worker mails the notices. Run it once per node; several nodes share
// the work through the store's cursor.
type Worker struct {
	st   Store
	post Poster
	cfg  Config
	log  *slog.Logger
	kick chan struct{}
}

// New returns a worker; post may be nil (thread posts are then mailed to
// the submitter instead).
func New(st Store, post Poster, cfg Config, log *slog.Logger) *Worker {
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{st: st, post: post, cfg: cfg, log: log, kick: make(chan struct{}, 1)}
}

// Kick wakes the worker (a status was just changed); it never blocks.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run notifies until ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.kick:
		}
		for {
			n, err := w.Step(ctx)
			if err != nil {
				if ctx.Err() == nil {
					w.log.Error("status notifications", "err", err)
				}
				break
			}
			if n < batch {
				break
			}
		}
		t.Reset(w.cfg.Poll)
	}
}

// Step handles the next changes (at most one batch) and returns how many
// it looked at.
func (w *Worker) Step(ctx context.Context) (int, error) {
	notes, err := w.st.StatusNotes(ctx, batch)
	if err != nil || len(notes) == 0 {
		return 0, err
	}
	// Posted to the thread first (idempotent); those that fail are
	// mailed instead.
	posted := map[int64]bool{}
	for _, n := range notes {
		if self(n) || !n.NotifyThread || w.post == nil {
			continue
		}
		var also []string
		if !n.NoMail {
			also = []string{n.Submitter.Email}
		}
		raw := w.compose(n, true)
		if err := w.post.Post(ctx, review.Post{Lists: []string{n.List}, Raw: raw, Distribute: true, Also: also}); err != nil {
			w.log.Warn("post status notice to the thread", "list", n.List, "series", n.SeriesID, "err", err)
			continue
		}
		posted[n.ID] = true
	}
	queued := 0
	err = w.st.ClaimStatusNotes(ctx, notes[len(notes)-1].ID, func(tx store.Tx, ns []store.StatusNote) error {
		for _, n := range ns {
			if self(n) || n.NoMail || posted[n.ID] || !strings.Contains(n.Submitter.Email, "@") {
				continue
			}
			id, err := tx.AddOutbox(ctx, store.OutboxMessage{ListID: n.ListID, Raw: w.compose(n, false)})
			if err != nil {
				return err
			}
			if err := tx.QueueDeliveries(ctx, id, []string{n.Submitter.Email}); err != nil {
				return err
			}
			queued++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("claim status notes: %w", err)
	}
	if queued > 0 {
		w.log.Info("status notices queued", "count", queued)
		if w.cfg.Sent != nil {
			w.cfg.Sent()
		}
	}
	return len(notes), nil
}

// self reports a change the submitter made themselves.
func self(n store.StatusNote) bool {
	return n.User != nil && strings.EqualFold(n.User.Email, n.Submitter.Email)
}

// compose writes the notice of n: to the submitter, or (thread) to the
// list, in reply to the series. Its bytes depend on n alone.
func (w *Worker) compose(n store.StatusNote, thread bool) []byte {
	list := n.List + "@" + w.cfg.Domain
	by := "patchwell"
	if n.User != nil {
		by = n.User.Email
		if name := strings.Join(strings.Fields(n.User.Name), " "); name != "" {
			by = name + " <" + n.User.Email + ">"
		}
	}
	subject := n.SeriesSubject
	if n.SeriesVersion > 1 {
		subject += fmt.Sprintf(" (v%d)", n.SeriesVersion)
	}
	var b strings.Builder
	whose := "your series"
	if thread {
		whose = "the series"
	} else if n.Submitter.Name != "" {
		fmt.Fprintf(&b, "Hello %s,\n\n", n.Submitter.Name)
	}
	fmt.Fprintf(&b, "%s changed the status of %s\n\n  %s\n\non %s from %s to %s.\n", by, whose, subject, list,
		strings.ReplaceAll(n.From, "_", " "), strings.ReplaceAll(n.To, "_", " "))
	if c := strings.TrimSpace(n.Comment); c != "" {
		b.WriteString("\nComment:\n\n")
		for _, line := range strings.Split(c, "\n") {
			b.WriteString("  " + strings.TrimRight(line, "\r") + "\n")
		}
	}
	if w.cfg.WebURL != "" {
		fmt.Fprintf(&b, "\nThe series: %s/series/%d/\n", w.cfg.WebURL, n.SeriesID)
	}
	if !thread {
		b.WriteString("\nYou get this because you sent the series.")
		if w.cfg.WebURL != "" {
			fmt.Fprintf(&b, " If you have an account, you can turn\nthese mails off on %s/account.", w.cfg.WebURL)
		}
		b.WriteString("\n")
	}
	o := archive.Outgoing{
		Subject:   "Re: " + n.SeriesSubject,
		MessageID: fmt.Sprintf("status.%d.%d@%s", n.SeriesID, n.ID, w.cfg.Domain),
		Domain:    w.cfg.Domain, InReplyTo: n.Thread, Date: n.At, Body: b.String(),
		// Written by patchwell (RFC 3834): no vacation reply answers it.
		Extra: []core.Header{{Name: "Auto-Submitted", Value: "auto-generated"},
			{Name: "X-Patchwell-Series", Value: fmt.Sprint(n.SeriesID)},
			{Name: "X-Patchwell-Status-Change", Value: n.From + " -> " + n.To}},
	}
	if thread {
		o.From = (&mail.Address{Name: n.List + " maintainers", Address: list}).String()
		o.To = []string{list}
	} else {
		o.From = (&mail.Address{Name: n.List + " list", Address: n.List + "+owner@" + w.cfg.Domain}).String()
		o.To = []string{(&mail.Address{Name: n.Submitter.Name, Address: n.Submitter.Email}).String()}
		o.Extra = append(o.Extra, core.Header{Name: "X-Loop", Value: list})
	}
	raw, _ := archive.Compose(o)
	return raw
}
