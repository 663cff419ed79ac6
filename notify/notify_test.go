package notify

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"patchwell/outbound"
	"patchwell/review"
	"patchwell/store"
)

const patchMail = `From: Ann Author <ann@example.org>
To: dev@lists.example.org
Subject: [PATCH] greet: say hello
Message-ID: <p1@example.org>
Date: Mon, 1 Jan 2024 00:00:00 +0000

Say hello.

Signed-off-by: Ann Author <ann@example.org>
---
 hello.txt | 1 +
 1 file changed, 1 insertion(+)

diff --git a/hello.txt b/hello.txt
index e69de29..ce01362 100644
--- a/hello.txt
+++ b/hello.txt
@@ -0,0 +1 @@
+hello
-- 
2.43.0
`

type env struct {
	st     *store.DB
	in     *review.Ingester
	w      *Worker
	series int64
	maint  *store.User
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Subscribe(ctx, "dev", "sub@example.net", "", store.SubActive); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	q := outbound.NewQueue(st, "lists.example.org", nil, nil)
	in := review.NewIngester(st, review.Config{Log: log, Distribute: q.Distribute})
	t.Cleanup(func() { in.Close() })
	if err := in.Post(ctx, review.Post{Lists: []string{"dev"}, Raw: []byte(patchMail), Distribute: true}); err != nil {
		t.Fatal(err)
	}
	m, err := st.Message(ctx, "dev", "p1@example.org")
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("the patch made no series: %+v %v", m, err)
	}
	maint, err := st.CreateUser(ctx, store.User{Email: "maint@example.org", Name: "Maint"}, "h")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{st: st, in: in, series: m.SeriesID, maint: maint,
		w: New(st, in, Config{Domain: "lists.example.org", WebURL: "https://lists.example.org"}, log)}
	// The patch's own copy to the subscriber is not a notice.
	e.drain(t)
	return e
}

// drain returns the mail queued since the last call, by recipient, and
// marks it sent.
func (e *env) drain(t *testing.T) map[string][]string {
	t.Helper()
	ctx := context.Background()
	bs, err := e.st.DueDeliveries(ctx, time.Now().Add(time.Hour), 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	var ids []int64
	for _, b := range bs {
		for _, d := range b.Deliveries {
			out[d.Rcpt] = append(out[d.Rcpt], string(b.Message.Raw))
			ids = append(ids, d.ID)
		}
	}
	if len(ids) > 0 {
		if err := e.st.MarkSent(ctx, ids, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func (e *env) step(t *testing.T) {
	t.Helper()
	if _, err := e.w.Step(context.Background()); err != nil {
		t.Fatalf("Step() = %v", err)
	}
}

func (e *env) setStatus(t *testing.T, status string, by int64, comment string) {
	t.Helper()
	if _, err := e.st.SetSeriesStatus(context.Background(), e.series, status, by, comment, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func TestNotifySubmitter(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.setStatus(t, store.StatusNeedsRevision, e.maint.ID, "Please split the greeting.\nThanks.")
	e.step(t)
	e.step(t) // nothing more
	got := e.drain(t)
	if len(got) != 1 || len(got["ann@example.org"]) != 1 {
		t.Fatalf("queued = %v, want one mail to ann@example.org", got)
	}
	m := got["ann@example.org"][0]
	for _, want := range []string{"Subject: Re: greet: say hello", "In-Reply-To: <p1@example.org>",
		"Auto-Submitted: auto-generated", `Maint <maint@example.org> changed the status of your series`,
		"from proposed to needs revision", "  Please split the greeting.\n  Thanks.",
		"https://lists.example.org/series/", "Hello Ann Author,"} {
		if !strings.Contains(m, want) {
			t.Errorf("notice lacks %q:\n%s", want, m)
		}
	}
	// Her own change: nothing.
	ann, err := e.st.CreateUser(ctx, store.User{Email: "Ann@Example.org", Name: "Ann"}, "h")
	if err != nil {
		t.Fatal(err)
	}
	e.setStatus(t, store.StatusProposed, ann.ID, "resent")
	e.step(t)
	if got := e.drain(t); len(got) != 0 {
		t.Fatalf("self-change notified: %v", got)
	}
	// Opted out: nothing; opted in again: one per change.
	if err := e.st.SetStatusMail(ctx, ann.ID, false); err != nil {
		t.Fatal(err)
	}
	e.setStatus(t, store.StatusApproved, e.maint.ID, "")
	e.step(t)
	if got := e.drain(t); len(got) != 0 {
		t.Fatalf("opted out, notified: %v", got)
	}
	if err := e.st.SetStatusMail(ctx, ann.ID, true); err != nil {
		t.Fatal(err)
	}
	e.setStatus(t, store.StatusApplied, e.maint.ID, "")
	e.setStatus(t, store.StatusRejected, 0, "")
	e.step(t)
	got = e.drain(t)
	if len(got["ann@example.org"]) != 2 || !strings.Contains(got["ann@example.org"][1], "patchwell changed the status") {
		t.Fatalf("two changes: %v", got)
	}
}

// failClaim fails the first claim, as a node that dies between posting
// to the thread and claiming.
type failClaim struct {
	*store.DB
	failed bool
}

func (f *failClaim) ClaimStatusNotes(ctx context.Context, upTo int64, fn func(store.Tx, []store.StatusNote) error) error {
	if !f.failed {
		f.failed = true
		return errors.New("node died")
	}
	return f.DB.ClaimStatusNotes(ctx, upTo, fn)
}

func TestNotifyThread(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.SetNotifyThread(ctx, "dev", true); err != nil {
		t.Fatal(err)
	}
	e.w.st = &failClaim{DB: e.st}
	e.setStatus(t, store.StatusApproved, e.maint.ID, "nice")
	if _, err := e.w.Step(ctx); err == nil {
		t.Fatal("the failing claim went unnoticed")
	}
	e.step(t) // posts again (a duplicate), then claims
	e.step(t)
	got := e.drain(t)
	if len(got) != 2 || len(got["ann@example.org"]) != 1 || len(got["sub@example.net"]) != 1 {
		t.Fatalf("queued = %v, want the thread post once to the subscriber and to Ann", got)
	}
	post := got["sub@example.net"][0]
	if !strings.Contains(post, "To: dev@lists.example.org") || !strings.Contains(post, "changed the status of the series") {
		t.Errorf("thread post:\n%s", post)
	}
	notes, err := e.st.StatusHistory(ctx, e.series)
	if err != nil || len(notes) != 1 {
		t.Fatal(notes, err)
	}
	// Archived in the thread.
	m, err := e.st.Message(ctx, "dev", "status."+itoa(e.series)+"."+itoa(notes[0].ID)+"@lists.example.org")
	if err != nil || m.InReplyTo != "p1@example.org" {
		t.Fatalf("the notice is not in the thread: %+v %v", m, err)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

type failPost struct{}

func (failPost) Post(context.Context, review.Post) error { return errors.New("list gone") }

// TestNotifyThreadFails: a thread post that fails is mailed to the
// submitter instead; the change is not lost.
func TestNotifyThreadFails(t *testing.T) {
	e := newEnv(t)
	if err := e.st.SetNotifyThread(context.Background(), "dev", true); err != nil {
		t.Fatal(err)
	}
	e.w.post = failPost{}
	e.setStatus(t, store.StatusRejected, e.maint.ID, "")
	e.step(t)
	got := e.drain(t)
	if len(got) != 1 || len(got["ann@example.org"]) != 1 || !strings.Contains(got["ann@example.org"][0], "changed the status of your series") {
		t.Fatalf("queued = %v, want the notice mailed to Ann", got)
	}
}
