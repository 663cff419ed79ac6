package review

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/store"
)

// TestCommitHook: every commit tells the hooks, after it, which lists
// got messages and, for each list a posted message went to, whether it
// was stored, flagged or a duplicate; an import's batch is told its
// lists without outcomes; a post refused in its transaction tells
// nothing.
func TestCommitHook(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	if _, err := st.CreateList(ctx, store.List{Name: "other"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	var (
		mu  sync.Mutex
		got []Committed
	)
	in.Subscribe(func(c Committed) {
		mu.Lock()
		got = append(got, c)
		mu.Unlock()
	})
	plain := []byte("From: Ada <ada@example.org>\nSubject: hello\nMessage-ID: <obs1@example.org>\n\nhi\n")
	noID := []byte("From: Ada <ada@example.org>\nSubject: no id\n\nhi\n")
	for _, d := range []struct {
		lists []string
		raw   []byte
	}{
		{[]string{"dev"}, plain},
		{[]string{"dev"}, plain},
		{[]string{"dev", "other"}, noID},
	} {
		if err := in.Post(ctx, Post{Lists: d.lists, Raw: d.raw}); err != nil {
			t.Fatalf("Post(%v) = %v", d.lists, err)
		}
	}
	// A post refused in its transaction (its distribution fails) is not told.
	refused := NewIngester(st, Config{Distribute: func(context.Context, store.Tx, *store.List, *store.Added, []byte, bool, []string) error {
		return errors.New("refused")
	}})
	defer refused.Close()
	refused.Subscribe(func(c Committed) { t.Errorf("a refused post was told: %+v", c) })
	if err := refused.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte("Subject: x\nMessage-ID: <obs2@example.org>\n\nx\n"), Distribute: true}); err == nil {
		t.Fatal("Post() with a failing distribution = nil")
	}
	if _, err := in.Import(ctx, "other", oneMessage("Subject: imported\nMessage-ID: <imp@example.org>\n\nx\n")); err != nil {
		t.Fatalf("Import() = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []Committed{
		{Lists: []string{"dev"}, Outcomes: []string{"stored"}},
		{Outcomes: []string{"duplicate"}},
		{Lists: []string{"dev", "other"}, Outcomes: []string{"flagged", "flagged"}},
		{Lists: []string{"other"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("told (-want +got):\n%s", diff)
	}
}

// oneMessage is an import source of one message.
func oneMessage(raw string) archive.Source {
	src, err := archive.NewStreamSource(strings.NewReader(raw), io.NopCloser(nil))
	if err != nil {
		panic(err)
	}
	return src
}

// TestPostAll: a series posted together lands in one commit, assembled
// as a series; when one of its messages is refused in the transaction,
// none of them is stored and the hooks are told nothing.
func TestPostAll(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	var got []Committed
	in.Subscribe(func(c Committed) { got = append(got, c) })
	msg := func(id string, k int) Post {
		subject := "[PATCH 0/2] two things"
		if k > 0 {
			subject = "[PATCH " + string(rune('0'+k)) + "/2] thing " + string(rune('0'+k))
		}
		raw := "From: Ada <ada@example.org>\nSubject: " + subject + "\nMessage-ID: <" + id + "-" + string(rune('0'+k)) + "@example.org>\n"
		if k > 0 {
			raw += "In-Reply-To: <" + id + "-0@example.org>\n"
		}
		raw += "\nbody\n"
		if k > 0 {
			raw += "---\n f | 1 +\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+x\n"
		}
		return Post{Lists: []string{"dev"}, Raw: []byte(raw), Distribute: true}
	}
	if err := in.PostAll(ctx, []Post{msg("ok", 0), msg("ok", 1), msg("ok", 2)}); err != nil {
		t.Fatalf("PostAll() = %v", err)
	}
	for k := 0; k < 3; k++ {
		m, err := st.Message(ctx, "dev", "ok-"+string(rune('0'+k))+"@example.org")
		if err != nil || (k > 0 && m.SeriesID == 0) {
			t.Errorf("message %d: %+v, %v; want stored in a series", k, m, err)
		}
	}
	if want := []Committed{{Lists: []string{"dev"}, Outcomes: []string{"stored", "stored", "stored"}}}; !cmp.Equal(want, got) {
		t.Errorf("told %+v, want %+v", got, want)
	}

	refused := NewIngester(st, Config{Distribute: func(_ context.Context, _ store.Tx, _ *store.List, a *store.Added, _ []byte, _ bool, _ []string) error {
		if strings.HasPrefix(a.MessageID, "bad-2") {
			return errors.New("refused")
		}
		return nil
	}})
	defer refused.Close()
	refused.Subscribe(func(c Committed) { t.Errorf("a refused series was told: %+v", c) })
	if err := refused.PostAll(ctx, []Post{msg("bad", 0), msg("bad", 1), msg("bad", 2)}); err == nil {
		t.Fatal("PostAll() with its last message refused = nil")
	}
	for k := 0; k < 3; k++ {
		if m, err := st.Message(ctx, "dev", "bad-"+string(rune('0'+k))+"@example.org"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("message %d of the refused series: %+v, %v; want none stored", k, m, err)
		}
	}
}

// TestPostSubmitter: mail sent from the browser says "NAME via LIST" in
// From:; with its Submitter, the message and its series are the
// person's, and two people's series of the same title are not taken for
// revisions of one another (without it they would be: same From, same
// title).
func TestPostSubmitter(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	post := func(id, who string, submitter *core.Person) *store.Message {
		t.Helper()
		raw := "From: " + who + " via dev <dev@patchwell.localhost>\nSubject: [PATCH] calc: add modulo\nMessage-ID: <" + id + ">\nDate: Mon, 7 Dec 2026 00:00:00 +0000\n\n" +
			"From: " + who + " <x@example.org>\n\nAdd it.\n---\n f | 1 +\n\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -0,0 +1 @@\n+" + id + "\n"
		if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(raw), Submitter: submitter}); err != nil {
			t.Fatal(err)
		}
		m, err := st.Message(ctx, "dev", id)
		if err != nil || m.SeriesID == 0 {
			t.Fatalf("%s: %+v, %v", id, m, err)
		}
		return m
	}
	a := post("web-a@example.org", "Ada", &core.Person{Name: "Ada", Email: "Ada@Example.org"})
	b := post("web-b@example.org", "Bob", &core.Person{Name: "Bob", Email: "bob@example.org"})
	if a.From.Email != "ada@example.org" || b.From.Email != "bob@example.org" {
		t.Errorf("senders %v and %v, want Ada's and Bob's addresses", a.From, b.From)
	}
	if sb, err := st.Series(ctx, b.SeriesID); err != nil || sb.Previous != 0 || sb.Version != 1 {
		t.Errorf("Bob's series = %+v, %v; want a first version, no previous (Ada's is not his)", sb, err)
	}
	c := post("web-c@example.org", "Cy", nil)
	d := post("web-d@example.org", "Di", nil)
	if sd, err := st.Series(ctx, d.SeriesID); err != nil || sd.Previous != c.SeriesID {
		t.Errorf("without submitters: %+v, %v; want the list's two posts taken for revisions (previous %d)", sd, err, c.SeriesID)
	}
}
