package review

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchwell/core"
	"patchwell/review/patchmail"
	"patchwell/store"
)

var rita = core.Person{Name: "Rita Reviewer", Email: "rita@example.org"}

// TestReviewRoundTrip writes a web review on one patch, archives it, and
// reads it back: the reply is an ordinary mail in the thread that
// FindComments maps to the same lines, its trailer counts, and it waits
// in the outbox.
func TestReviewRoundTrip(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	sid := seriesOf(t, st, "v1-1@example.org")
	draft := store.ReviewDraft{SeriesID: sid, From: rita,
		Summary: "Mostly fine, two nits.\n\nReviewed-by: Rita Reviewer <rita@example.org>",
		Comments: []store.DraftComment{
			{PatchMessageID: "v1-1@example.org", File: "Makefile", Side: "new", Line: 88, Body: "Keep this sorted."},
			{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 14, Body: "Why twice?\n> not a quote\n-- \nnot a signature"},
			{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "old", Line: 13, Body: "The old value was fine."},
			{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "Comment the delay."},
			{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "And why 5?"},
			{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 17, Body: "   "},
		}}
	msgid, list, err := svc.SubmitReview(ctx, draft)
	if err != nil {
		t.Fatalf("SubmitReview() = %v", err)
	}
	if list != "dev" || !strings.HasSuffix(msgid, "@lists.example.org") {
		t.Errorf("SubmitReview() = %q, %q", msgid, list)
	}
	raw, err := st.Raw(ctx, "dev", msgid)
	if err != nil {
		t.Fatalf("the review is not archived: %v", err)
	}
	t.Logf("the review as mailed:\n%s", raw)
	m, err := st.Message(ctx, "dev", msgid)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := st.Message(ctx, "dev", "v1-1@example.org")
	if m.Kind != core.KindReply || m.InReplyTo != "v1-1@example.org" || m.ThreadID != p1.ThreadID || m.From.Email != rita.Email {
		t.Errorf("archived review = %+v, want a reply from Rita in the patch's thread", m)
	}
	// Stored as the archive keeps mail: LF line endings (archive.Compose).
	for _, h := range []string{"Subject: Re: [PATCH 1/2] wdt: write twice\n", "To: dev@lists.example.org\n",
		"Content-Type: text/plain; charset=utf-8\n", "References: <v1-1@example.org>\n", "\n\nMostly fine, two nits.\n",
		"\nOn Thu, Aug 1, 2024 at 10:00:01 +0000, Ann Author wrote:\n> diff --git a/drivers/wdt.c b/drivers/wdt.c\n"} {
		if !bytes.Contains(raw, []byte(h)) {
			t.Errorf("review lacks %q", h)
		}
	}
	pm, err := patchmail.Parse(raw)
	if err != nil || pm.Kind != patchmail.KindNone {
		t.Fatalf("Parse(review) = %v, %v", pm, err)
	}

	cs, err := svc.SeriesComments(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	want := []store.LineComment{
		{PatchMessageID: "v1-1@example.org", Body: "Mostly fine, two nits.\n\nReviewed-by: Rita Reviewer <rita@example.org>"},
		{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "old", Line: 13, Body: "The old value was fine."},
		{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 14, Body: "Why twice?\n > not a quote\n -- \nnot a signature"},
		{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "Comment the delay.\n\nAnd why 5?"},
		{PatchMessageID: "v1-1@example.org", File: "Makefile", Side: "new", Line: 88, Body: "Keep this sorted."},
	}
	for i := range want {
		want[i].Author, want[i].MessageID, want[i].List = core.Person{Name: rita.Name, Email: rita.Email}, msgid, "dev"
	}
	if diff := cmp.Diff(want, cs, cmpopts.IgnoreFields(store.LineComment{}, "Quote", "Date")); diff != "" {
		t.Errorf("comments read back (-want +got):\n%s", diff)
	}
	_, patches, _ := svc.Series(ctx, sid)
	if got := patches[0].Trailers; len(got) != 2 || got[1].Key != "Reviewed-by" || got[1].FromMessageID != msgid {
		t.Errorf("patch 1 trailers = %+v, want the review's Reviewed-by collected", got)
	}

	out, err := st.Outbox(ctx, store.OutboxQueued)
	if err != nil || len(out) != 1 || out[0].MessageID != msgid || !bytes.Equal(out[0].Raw, raw) || out[0].List != "dev" {
		t.Fatalf("Outbox() = %d rows, %v; want the review queued, byte for byte", len(out), err)
	}
}

// TestReviewAcrossPatches: comments on two patches of a series with a cover
// letter go in one reply to the cover letter and map back to each patch.
func TestReviewAcrossPatches(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	cover := rawMail(author, "c3-0@example.org", "", "[PATCH v3 0/2] wdt fixes", "Mon, 3 Aug 2024 10:00:00 +0000", "Two fixes.\n")
	p1 := rawMail(author, "c3-1@example.org", "c3-0@example.org", "[PATCH v3 1/2] wdt: write twice", "Mon, 3 Aug 2024 10:00:01 +0000",
		"wdt\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+testDiff)
	p2 := rawMail(author, "c3-2@example.org", "c3-0@example.org", "[PATCH v3 2/2] README: underline", "Mon, 3 Aug 2024 10:00:02 +0000",
		"readme\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+secondDiff)
	deliver(t, in, cover, p1, p2)
	sid := seriesOf(t, st, "c3-1@example.org")
	draft := store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{
		{PatchMessageID: "c3-2@example.org", File: "README", Side: "new", Line: 2, Body: "Too long."},
		{PatchMessageID: "c3-1@example.org", File: "Makefile", Side: "new", Line: 87, Body: "Context comment."},
	}}
	msgid, _, err := svc.SubmitReview(ctx, draft)
	if err != nil {
		t.Fatalf("SubmitReview() = %v", err)
	}
	m, _ := st.Message(ctx, "dev", msgid)
	if m.InReplyTo != "c3-0@example.org" {
		t.Errorf("review answers %q, want the cover letter", m.InReplyTo)
	}
	cs, err := svc.SeriesComments(ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range cs {
		got = append(got, fmt.Sprintf("%s %s %s:%d %s", c.PatchMessageID, c.File, c.Side, c.Line, c.Body))
	}
	wantS := []string{"c3-1@example.org Makefile new:87 Context comment.", "c3-2@example.org README new:2 Too long."}
	if !cmp.Equal(got, wantS) {
		t.Errorf("comments = %q, want %q", got, wantS)
	}
}

func TestComposeReviewErrors(t *testing.T) {
	in, st := newTestIngester(t)
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	sid := seriesOf(t, st, "v1-1@example.org")
	c := func(patch, file, side string, line int) store.DraftComment {
		return store.DraftComment{PatchMessageID: patch, File: file, Side: side, Line: line, Body: "x"}
	}
	tests := []struct {
		name string
		d    store.ReviewDraft
	}{
		{"empty", store.ReviewDraft{SeriesID: sid, From: rita}},
		{"no sender", store.ReviewDraft{SeriesID: sid, Summary: "hi"}},
		{"not a patch of the series", store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{c("other@x", "Makefile", "new", 88)}}},
		{"no such line", store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{c("v1-1@example.org", "Makefile", "new", 500)}}},
		{"bad side", store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{c("v1-1@example.org", "Makefile", "left", 88)}}},
		{"two patches, no cover", store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{
			c("v1-1@example.org", "Makefile", "new", 88), c("v1-2@example.org", "README", "new", 2)}}},
		{"too large", store.ReviewDraft{SeriesID: sid, From: rita, Summary: strings.Repeat("x", maxDraftBytes+1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, _, err := svc.ComposeReview(context.Background(), tc.d, "example.org", time.Now()); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("ComposeReview() = %v, want ErrInvalid", err)
			}
		})
	}
	if _, _, _, err := svc.ComposeReview(context.Background(), store.ReviewDraft{SeriesID: 999, From: rita, Summary: "x"}, "example.org", time.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ComposeReview(unknown series) = %v, want ErrNotFound", err)
	}
	if _, _, err := svc.SubmitReview(context.Background(), store.ReviewDraft{SeriesID: sid, From: rita, Summary: "x"}); !errors.Is(err, store.ErrReadOnly) {
		t.Errorf("SubmitReview() of a read-only Service = %v, want ErrReadOnly", err)
	}
}

// TestComposeGap: two comments far apart in one hunk quote a few lines
// above each, with "[...]" between, and read back at their lines.
func TestComposeGap(t *testing.T) {
	in, st := newTestIngester(t)
	var d strings.Builder
	d.WriteString("diff --git a/long.c b/long.c\nindex 1111111..2222222 100644\n--- a/long.c\n+++ b/long.c\n@@ -1,30 +1,31 @@\n")
	for i := 1; i <= 30; i++ {
		if i == 20 {
			d.WriteString("+\tadded(20);\n")
		}
		fmt.Fprintf(&d, " \tline(%d);\n", i)
	}
	deliver(t, in, rawMail(author, "gap-1@example.org", "", "[PATCH] long: add", "Mon, 5 Aug 2024 10:00:00 +0000",
		"long\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+d.String()))
	svc := NewService(st)
	sid := seriesOf(t, st, "gap-1@example.org")
	raw, _, _, err := svc.ComposeReview(context.Background(), store.ReviewDraft{SeriesID: sid, From: rita, Comments: []store.DraftComment{
		{PatchMessageID: "gap-1@example.org", File: "long.c", Side: "new", Line: 20, Body: "Why here?"},
		{PatchMessageID: "gap-1@example.org", File: "long.c", Side: "new", Line: 2, Body: "Early."},
	}}, "example.org", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(raw), "\r\n", "\n")
	want := "> @@ -1,30 +1,31 @@\n>  \tline(1);\n>  \tline(2);\n\nEarly.\n\n[...]\n\n>  \tline(17);\n>  \tline(18);\n>  \tline(19);\n> +\tadded(20);\n\nWhy here?\n"
	if !strings.Contains(text, want) {
		t.Errorf("review lacks\n%s\nin\n%s", want, text)
	}
	pm, _ := patchmail.Parse(raw)
	praw, _ := st.Raw(context.Background(), "dev", "gap-1@example.org")
	ppm, _ := patchmail.Parse(praw)
	got := FindComments([]Target{{MessageID: "gap-1@example.org", Diff: ppm.Diff}}, "gap-1@example.org", pm.Body)
	if len(got) != 2 || got[0].Line != 2 || got[0].Body != "Early." || got[1].Line != 20 || got[1].Body != "Why here?" {
		t.Errorf("read back = %+v", got)
	}
}

// TestReviewGoesToAuthorAndCc: a web review is sent, besides the
// subscribers, to the patch's author and the people the patch was sent
// to (reply-all), never to the reviewer or the list itself.
func TestReviewGoesToAuthorAndCc(t *testing.T) {
	_, st := newTestIngester(t)
	var also []string
	in := NewIngester(st, Config{Distribute: func(_ context.Context, _ store.Tx, _ *store.List, _ *store.Added, _ []byte, _ bool, a []string) error {
		also = a
		return nil
	}})
	defer in.Close()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	p := patchMail(1, 1, testDiff)
	p = []byte(strings.Replace(string(p), "MIME-Version:", "To: dev@lists.example.org, Maintainer <maint@example.org>\r\nCc: Rita Reviewer <rita@example.org>, bob@example.org\r\nMIME-Version:", 1))
	deliver(t, in, p)
	sid := seriesOf(t, st, "v1-1@example.org")
	if _, _, err := svc.SubmitReview(context.Background(), store.ReviewDraft{SeriesID: sid, From: rita, Summary: "Looks fine."}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(also, " ") != "ann@example.org maint@example.org bob@example.org" {
		t.Errorf("the review also went to %q, want the author, the maintainer and bob", also)
	}
}
