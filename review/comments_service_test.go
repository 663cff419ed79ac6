package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

// rawMail builds a raw message.
func rawMail(from, msgid, inReplyTo, subject, date, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nMessage-ID: <%s>\r\nSubject: %s\r\nDate: %s\r\n", from, msgid, subject, date)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	b.WriteString(strings.ReplaceAll(body, "\n", "\r\n"))
	return []byte(b.String())
}

const author = "Ann Author <ann@example.org>"

// secondDiff is patch 2 of the test series; v2 changes it.
const secondDiff = `diff --git a/README b/README
index 5555555..6666666 100644
--- a/README
+++ b/README
@@ -1,3 +1,4 @@
 Watchdog drivers
+================
 
 See Documentation/watchdog.
`

func patchMail(v, i int, diff string) []byte {
	ver := ""
	if v > 1 {
		ver = fmt.Sprintf(" v%d", v)
	}
	subj := []string{"", "wdt: write twice", "README: underline"}[i]
	parent := ""
	if i > 1 {
		parent = fmt.Sprintf("v%d-1@example.org", v)
	}
	return rawMail(author, fmt.Sprintf("v%d-%d@example.org", v, i), parent,
		fmt.Sprintf("[PATCH%s %d/2] %s", ver, i, subj), fmt.Sprintf("Mon, %d Aug 2024 10:00:0%d +0000", v, i),
		subj+"\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+diff+"-- \n2.45.0\n")
}

func deliver(t *testing.T, in *Ingester, raws ...[]byte) {
	t.Helper()
	for _, raw := range raws {
		if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
			t.Fatalf("Deliver() = %v", err)
		}
	}
}

// TestCarryForward: an unresolved comment on v1's unchanged patch shows on
// v2 (at the line it moved to), a resolved one does not, and a comment on
// a patch v2 changed stays behind.
func TestCarryForward(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	deliver(t, in, rawMail("Rita Reviewer <rita@example.org>", "r1@example.org", "v1-1@example.org",
		"Re: [PATCH 1/2] wdt: write twice", "Tue, 2 Aug 2024 10:00:00 +0000",
		"On Mon, Ann Author wrote:\n> +\twriteb(0xff, priv->base + WDTRR);\n\nWhy twice?\n\n> +\tudelay(5);\n\nWhy 5?\n"),
		rawMail("Rita Reviewer <rita@example.org>", "r2@example.org", "v1-2@example.org",
			"Re: [PATCH 2/2] README: underline", "Tue, 2 Aug 2024 10:00:01 +0000",
			"> +================\n\nToo long.\n"))
	v1 := seriesOf(t, st, "v1-1@example.org")
	cs, err := svc.SeriesComments(ctx, v1)
	if err != nil || len(cs) != 3 {
		t.Fatalf("SeriesComments(v1) = %+v, %v; want 3 comments", cs, err)
	}
	// Resolve "Why 5?".
	k := store.Resolution{ReplyMessageID: "r1@example.org", PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44}
	if err := svc.ResolveComment(ctx, v1, k, "ann@example.org", true); err != nil {
		t.Fatalf("ResolveComment() = %v", err)
	}
	bad := k
	bad.Line = 45
	if err := svc.ResolveComment(ctx, v1, bad, "ann@example.org", true); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ResolveComment(no such comment) = %v, want ErrNotFound", err)
	}

	// v2: patch 1 unchanged but five lines further down, patch 2 changed.
	moved := strings.NewReplacer("@@ -10,7 +10,8 @@", "@@ -15,7 +15,8 @@", "@@ -40,6 +41,7 @@", "@@ -45,6 +46,7 @@").Replace(testDiff)
	deliver(t, in, patchMail(2, 1, moved), patchMail(2, 2, strings.Replace(secondDiff, "+================", "+----------------", 1)))
	v2 := seriesOf(t, st, "v2-1@example.org")
	if s, _ := st.Series(ctx, v2); s.Previous != v1 {
		t.Fatalf("v2 previous = %d, want %d", s.Previous, v1)
	}
	cs, err = svc.SeriesComments(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("v2 comments = %+v, want only the unresolved one on the unchanged patch", cs)
	}
	c := cs[0]
	if c.Body != "Why twice?" || c.PatchMessageID != "v2-1@example.org" || c.CarriedFrom != 1 || c.CarriedPatch != "v1-1@example.org" ||
		c.File != "drivers/wdt.c" || c.Side != "new" || c.Line != 19 {
		t.Errorf("carried comment = %+v, want Why twice? on v2-1 drivers/wdt.c new 19 carried from v1", c)
	}
	// Resolving it on v2 resolves the original.
	k2 := c.Key()
	if k2.PatchMessageID != "v1-1@example.org" || k2.Line != 14 {
		t.Errorf("carried comment's key = %+v, want its place on v1", k2)
	}
	if err := svc.ResolveComment(ctx, v2, k2, "ann@example.org", true); err != nil {
		t.Fatalf("ResolveComment(carried) = %v", err)
	}
	if cs, _ := svc.SeriesComments(ctx, v2); len(cs) != 0 {
		t.Errorf("after resolving, v2 comments = %+v, want none", cs)
	}
	cs, _ = svc.SeriesComments(ctx, v1)
	resolved := 0
	for _, c := range cs {
		if c.Resolved {
			resolved++
			if c.ResolvedBy != "ann@example.org" || c.ResolvedAt.IsZero() {
				t.Errorf("resolved comment %+v lacks who/when", c)
			}
		}
	}
	if resolved != 2 {
		t.Errorf("v1 has %d resolved comments, want 2", resolved)
	}
	// Clearing the mark brings it back on v2.
	if err := svc.ResolveComment(ctx, v1, store.Resolution{ReplyMessageID: "r1@example.org", PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 14}, "ann@example.org", false); err != nil {
		t.Fatal(err)
	}
	if cs, _ := svc.SeriesComments(ctx, v2); len(cs) != 1 || cs[0].Resolved {
		t.Errorf("after clearing, v2 comments = %+v, want the one unresolved", cs)
	}
}

// TestReindexKeepsReviewState: resolved marks and the outbox are not in
// the messages; reindex carries them over.
func TestReindexKeepsReviewState(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	sid := seriesOf(t, st, "v1-1@example.org")
	msgid, _, err := svc.SubmitReview(ctx, store.ReviewDraft{SeriesID: sid, From: core.Person{Name: "Rita", Email: "rita@example.org"},
		Comments: []store.DraftComment{{PatchMessageID: "v1-1@example.org", File: "Makefile", Side: "new", Line: 88, Body: "Sort."}}})
	if err != nil {
		t.Fatal(err)
	}
	k := store.Resolution{ReplyMessageID: msgid, PatchMessageID: "v1-1@example.org", File: "Makefile", Side: "new", Line: 88}
	if err := svc.ResolveComment(ctx, sid, k, "ann@example.org", true); err != nil {
		t.Fatal(err)
	}
	fresh, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := Reindex(ctx, st, fresh, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatalf("Reindex() = %v", err)
	}
	cs, err := NewService(fresh).SeriesComments(ctx, seriesOf(t, fresh, "v1-1@example.org"))
	if err != nil || len(cs) != 1 || !cs[0].Resolved || cs[0].ResolvedBy != "ann@example.org" {
		t.Errorf("comments after reindex = %+v, %v; want the one, resolved by ann", cs, err)
	}
	box, err := fresh.Outbox(ctx, store.OutboxQueued)
	if err != nil || len(box) != 1 || box[0].MessageID != msgid || box[0].List != "dev" {
		t.Errorf("outbox after reindex = %+v, %v", box, err)
	}
}

// TestCarryIntoChangedPatch: when v2 changes a patch (new patch-id, same
// commit subject), v1's comments follow it to the lines that are still
// there, marked carried; a comment whose line v2 changed stays behind.
func TestCarryIntoChangedPatch(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	deliver(t, in, rawMail("Rita Reviewer <rita@example.org>", "r1@example.org", "v1-1@example.org",
		"Re: [PATCH 1/2] wdt: write twice", "Tue, 2 Aug 2024 10:00:00 +0000",
		"On Mon, Ann Author wrote:\n> +\twriteb(0xff, priv->base + WDTRR);\n\nWhy twice?\n\n> +\tudelay(5);\n\nWhy 5?\n"))
	changed := strings.Replace(testDiff, "+\tudelay(5);", "+\tudelay(10);", 1)
	deliver(t, in, patchMail(2, 1, changed), patchMail(2, 2, secondDiff))
	v2 := seriesOf(t, st, "v2-1@example.org")
	_, ps, err := svc.Series(ctx, v2)
	if err != nil || len(ps) != 2 {
		t.Fatalf("Series(v2) = %v, %v", ps, err)
	}
	v1 := seriesOf(t, st, "v1-1@example.org")
	_, ps1, _ := svc.Series(ctx, v1)
	if ps[0].PatchID == ps1[0].PatchID || ps[0].CommitSubject != ps1[0].CommitSubject {
		t.Fatalf("v2's patch 1 must be changed with the same subject: %q %q / %q %q", ps[0].PatchID, ps[0].CommitSubject, ps1[0].PatchID, ps1[0].CommitSubject)
	}
	cs, err := svc.SeriesComments(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("v2 comments = %+v, want only Why twice?", cs)
	}
	c := cs[0]
	if c.Body != "Why twice?" || c.PatchMessageID != "v2-1@example.org" || c.CarriedFrom != 1 || c.File != "drivers/wdt.c" || c.Side != "new" || c.Line != 14 {
		t.Errorf("carried comment = %+v, want Why twice? on v2-1 drivers/wdt.c new 14, carried from v1", c)
	}
}
