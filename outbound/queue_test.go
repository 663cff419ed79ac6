package outbound

import (
	"bytes"
	"context"
	"fmt"
	"net/mail"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

// TestQueue: a post archived and distributed in one transaction reaches
// every subscriber (From rewritten when asked), a duplicate is not sent
// again, and mail the list writes (Send) carries no Archived-At.
func TestQueue(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	l, err := st.CreateList(ctx, store.List{Name: "dev"})
	if err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	subs := []string{"s1@example.net", "s2@example.net"}
	s := newSink(t, nil)
	w := newWorker(t, st, s, nil, nil)
	q := NewQueue(st, "lists.test", func(_ context.Context, list string) ([]string, error) {
		if list != "dev" {
			t.Errorf("subscribers of %q", list)
		}
		return subs, nil
	}, w.Kick)
	archive := func(raw string, rewrite bool) {
		t.Helper()
		err := st.Update(ctx, func(tx store.Tx) error {
			a, err := tx.AddMessage(ctx, &store.NewMessage{ListID: l.ID, Raw: []byte(raw), MessageID: "p1@example.org", Arrived: time.Now()})
			if err != nil {
				return err
			}
			return q.Distribute(ctx, tx, l, a, []byte(raw), rewrite, nil)
		})
		if err != nil {
			t.Fatalf("archive and distribute: %v", err)
		}
	}
	archive(post, true)
	archive(post, true) // the same bytes again: a duplicate
	if err := q.Send(ctx, "dev", []string{"new@example.net"}, []byte("From: dev+owner@lists.test\r\nSubject: confirm\r\n\r\nReply to confirm.\r\n")); err != nil {
		t.Fatalf("Send() = %v", err)
	}
	if n, err := w.Drain(ctx); n != 3 || err != nil {
		t.Fatalf("Drain() = %d, %v; want 3", n, err)
	}
	got := s.messages()
	for i, m := range got {
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("copy %d: %v", i, err)
		}
		h := msg.Header
		if i < 2 {
			if m.Rcpt != subs[i] || h.Get("From") != `"Alice Example via dev" <dev@lists.test>` ||
				h.Get("Reply-To") != "Alice Example <alice@example.org>" || h.Get("Archived-At") == "" {
				t.Errorf("post copy to %s: From %q, Reply-To %q, Archived-At %q", m.Rcpt, h.Get("From"), h.Get("Reply-To"), h.Get("Archived-At"))
			}
			continue
		}
		if m.Rcpt != "new@example.net" || h.Get("Archived-At") != "" || h.Get("Subject") != "confirm" {
			t.Errorf("list mail to %s: Archived-At %q, Subject %q", m.Rcpt, h.Get("Archived-At"), h.Get("Subject"))
		}
	}
	if len(got) != 3 {
		t.Errorf("sink got %d copies, want 3", len(got))
	}
	if err := q.Send(ctx, "nolist", []string{"x@example.net"}, []byte("x")); err == nil {
		t.Errorf("Send() to an unknown list = nil")
	}
}

// TestWithAlso: the addresses a post names besides the subscribers are
// added once each (case aside), never a subscriber twice, at most maxAlso.
func TestWithAlso(t *testing.T) {
	got := withAlso([]string{"sub@example.org", "ann@example.org"}, []string{"Ann@Example.org", "bob@example.org", "bob@example.org", "not an address", ""})
	if strings.Join(got, " ") != "sub@example.org ann@example.org bob@example.org" {
		t.Errorf("withAlso = %q", got)
	}
	var many []string
	for i := range 50 {
		many = append(many, fmt.Sprintf("p%d@example.org", i))
	}
	if got := withAlso(nil, many); len(got) != maxAlso {
		t.Errorf("withAlso of 50 addresses = %d, want %d", len(got), maxAlso)
	}
}
