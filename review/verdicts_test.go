package review

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

// coverSeries is version v of the two-patch test series with a cover
// letter (v{v}-0), its patches in reply to it; patch 2's diff is given.
func coverSeries(v int, second string) [][]byte {
	ver := ""
	if v > 1 {
		ver = fmt.Sprintf(" v%d", v)
	}
	cover := fmt.Sprintf("v%d-0@example.org", v)
	out := [][]byte{rawMail(author, cover, "", fmt.Sprintf("[PATCH%s 0/2] wdt fixes", ver),
		fmt.Sprintf("Mon, %d Aug 2024 10:00:00 +0000", v), "Two fixes.\n")}
	for i, diff := range []string{testDiff, second} {
		subj := []string{"wdt: write twice", "README: underline"}[i]
		out = append(out, rawMail(author, fmt.Sprintf("v%d-%d@example.org", v, i+1), cover,
			fmt.Sprintf("[PATCH%s %d/2] %s", ver, i+1, subj), fmt.Sprintf("Mon, %d Aug 2024 10:00:0%d +0000", v, i+1),
			subj+"\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+diff+"-- \n2.45.0\n"))
	}
	return out
}

var changedSecond = strings.Replace(secondDiff, "+================", "+----------------", 1)

// verdictsOf renders verdicts as "email kind vN [patches]" lines.
func verdictsOf(vs []store.Verdict) string {
	var b strings.Builder
	for _, v := range vs {
		fmt.Fprintf(&b, "%s %s v%d %v\n", v.Reviewer.Email, v.Kind, v.Version, v.Patches)
	}
	return b.String()
}

// TestVerdicts: trailers in replies become per-reviewer verdicts on the
// revision they answer and later ones; the newest verdict of a person
// wins; a request for changes never becomes a commit's trailer.
func TestVerdicts(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, coverSeries(1, secondDiff)...)
	reply := func(from, msgid, parent, body string, n int) []byte {
		return rawMail(from, msgid, parent, "Re: [PATCH 0/2] wdt fixes", fmt.Sprintf("Tue, 6 Aug 2024 10:00:%02d +0000", n), body)
	}
	deliver(t, in,
		reply("Rita Reviewer <rita@example.org>", "r1@example.org", "v1-0@example.org", "Nice.\n\nReviewed-by: Rita Reviewer <rita@example.org>\n", 1),
		reply("Tom Tester <tom@example.org>", "t1@example.org", "v1-1@example.org", "Tested-by: Tom Tester <tom@example.org>\n", 2),
		reply("Carl Critic <carl@example.org>", "c1@example.org", "v1-0@example.org", "The locking is wrong.\n\nChanges-requested: yes\n", 3),
		// Someone else's trailer quoted without ">" does not count.
		reply("Nosy <nosy@example.org>", "n1@example.org", "v1-0@example.org", "Acked-by: Carl Critic <carl@example.org>\n", 4),
	)
	v1 := seriesOf(t, st, "v1-1@example.org")
	got, err := svc.Verdicts(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	want := "rita@example.org Reviewed-by v1 []\ntom@example.org Tested-by v1 [1]\ncarl@example.org Changes-requested v1 []\n"
	if verdictsOf(got) != want {
		t.Errorf("Verdicts(v1):\n%s\nwant:\n%s", verdictsOf(got), want)
	}

	deliver(t, in, coverSeries(2, changedSecond)...)
	v2 := seriesOf(t, st, "v2-1@example.org")
	deliver(t, in,
		reply("Carl Critic <carl@example.org>", "c2@example.org", "v2-0@example.org", "Better.\n\nAcked-by: Carl Critic <carl@example.org>\n", 5),
		reply("Rita Reviewer <rita@example.org>", "r2@example.org", "v2-2@example.org", "> +----------------\n\nToo long now.\n\nChanges-requested: yes\n", 6),
		reply("Tom Tester <tom@example.org>", "t2@example.org", "v1-2@example.org", "Tested-by: Tom Tester <tom@example.org>\n", 7),
	)
	got, err = svc.Verdicts(ctx, v2)
	if err != nil {
		t.Fatal(err)
	}
	// Tom tested both patches of v1 one by one: the whole of v1.
	want = "rita@example.org Changes-requested v2 [2]\ntom@example.org Tested-by v1 []\ncarl@example.org Acked-by v2 []\n"
	if verdictsOf(got) != want {
		t.Errorf("Verdicts(v2):\n%s\nwant:\n%s", verdictsOf(got), want)
	}
	many, err := svc.VerdictsOf(ctx, []int64{v1, v2})
	if err != nil || verdictsOf(many[v2]) != want || len(many[v1]) != 3 {
		t.Errorf("VerdictsOf() = %v, %v", many, err)
	}
	if _, err := svc.Verdicts(ctx, 999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Verdicts(unknown) = %v", err)
	}
	// The trailers collected into the patches: Rita's Reviewed-by on v1,
	// no Changes-requested anywhere.
	_, ps, err := svc.Series(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if !hasTrailer(p.Trailers, core.Trailer{Key: "Reviewed-by", Value: "Rita Reviewer <rita@example.org>"}) {
			t.Errorf("v1 patch %d trailers %+v lack Rita's Reviewed-by", p.Index, p.Trailers)
		}
	}
	_, ps, _ = svc.Series(ctx, v2)
	for _, p := range ps {
		for _, tr := range p.Trailers {
			if tr.Key == "Changes-requested" {
				t.Errorf("v2 patch %d has trailer %+v", p.Index, tr)
			}
		}
	}
}

// TestSubmitPending: a pending review goes out as one reply per patch
// and the summary with the verdict to the cover letter; the draft is
// then empty, the comments read back at their lines, the trailer is
// collected for every patch, and the comments marked as issues are
// issues; on the next revision the one whose line changed is addressed.
func TestSubmitPending(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	deliver(t, in, coverSeries(1, secondDiff)...)
	v1 := seriesOf(t, st, "v1-1@example.org")
	rita, err := st.CreateUser(ctx, store.User{Email: "rita@example.org", Name: "Rita Reviewer"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	from := core.Person{Name: rita.Name, Email: rita.Email}
	if _, err := svc.SubmitPending(ctx, store.PendingReview{SeriesID: v1, UserID: rita.ID, From: from}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SubmitPending(nothing) = %v, want ErrInvalid", err)
	}
	for _, c := range []store.DraftComment{
		{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 14, Body: "Why twice?", Issue: true},
		{PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44, Body: "Why 5?"},
		{PatchMessageID: "v1-2@example.org", File: "README", Side: "new", Line: 2, Body: "Too long.", Issue: true},
	} {
		if _, err := svc.SaveDraftComment(ctx, rita.ID, v1, c); err != nil {
			t.Fatalf("SaveDraftComment() = %v", err)
		}
	}
	if _, err := svc.SaveDraftComment(ctx, rita.ID, v1, store.DraftComment{PatchMessageID: "other@example.org", File: "x", Side: "new", Line: 1, Body: "x"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SaveDraftComment(foreign patch) = %v", err)
	}
	if _, err := svc.SubmitPending(ctx, store.PendingReview{SeriesID: v1, UserID: rita.ID, From: from, Verdict: store.VerdictChangesRequested}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("SubmitPending(changes requested, no summary) = %v, want ErrInvalid", err)
	}
	sent, err := svc.SubmitPending(ctx, store.PendingReview{SeriesID: v1, UserID: rita.ID, From: from, Summary: "Two nits.", Verdict: store.VerdictReviewed})
	if err != nil || len(sent) != 3 {
		t.Fatalf("SubmitPending() = %v, %v; want 3 replies", sent, err)
	}
	if d, _ := svc.DraftComments(ctx, rita.ID, v1); len(d) != 0 {
		t.Errorf("draft after submitting: %+v", d)
	}
	parents := map[string]string{}
	for _, id := range sent {
		m, err := st.Message(ctx, "dev", id)
		if err != nil {
			t.Fatal(err)
		}
		parents[m.InReplyTo] = id
	}
	for _, p := range []string{"v1-0@example.org", "v1-1@example.org", "v1-2@example.org"} {
		if parents[p] == "" {
			t.Errorf("no reply to %s among %v", p, parents)
		}
	}
	raw, _ := st.Raw(ctx, "dev", parents["v1-0@example.org"])
	if !strings.Contains(strings.ReplaceAll(string(raw), "\r\n", "\n"), "Two nits.\n\nReviewed-by: Rita Reviewer <rita@example.org>") {
		t.Errorf("summary reply:\n%s", raw)
	}
	cs, err := svc.SeriesComments(ctx, v1)
	if err != nil {
		t.Fatal(err)
	}
	at := map[string]store.LineComment{}
	for _, c := range cs {
		at[fmt.Sprintf("%s:%s:%d", c.File, c.Side, c.Line)] = c
	}
	if c := at["drivers/wdt.c:new:14"]; c.Body != "Why twice?" || !c.Issue || c.MessageID != parents["v1-1@example.org"] {
		t.Errorf("comment at wdt.c:14 = %+v", c)
	}
	if c := at["drivers/wdt.c:new:44"]; c.Body != "Why 5?" || c.Issue {
		t.Errorf("comment at wdt.c:44 = %+v", c)
	}
	if c := at["README:new:2"]; c.Body != "Too long." || !c.Issue {
		t.Errorf("comment at README:2 = %+v", c)
	}
	_, ps, _ := svc.Series(ctx, v1)
	for _, p := range ps {
		if !hasTrailer(p.Trailers, core.Trailer{Key: "Reviewed-by", Value: "Rita Reviewer <rita@example.org>"}) {
			t.Errorf("patch %d trailers %+v", p.Index, p.Trailers)
		}
	}
	if vs, _ := svc.Verdicts(ctx, v1); verdictsOf(vs) != "rita@example.org Reviewed-by v1 []\n" {
		t.Errorf("verdicts: %s", verdictsOf(vs))
	}
	is, err := svc.Issues(ctx, v1)
	if err != nil || len(is) != 2 || is[0].Addressed || is[1].Addressed || is[0].Resolved {
		t.Fatalf("Issues(v1) = %+v, %v", is, err)
	}

	// v2 changes patch 2's commented line and leaves patch 1 alone.
	deliver(t, in, coverSeries(2, changedSecond)...)
	v2 := seriesOf(t, st, "v2-1@example.org")
	is, err = svc.Issues(ctx, v2)
	if err != nil || len(is) != 2 {
		t.Fatalf("Issues(v2) = %+v, %v", is, err)
	}
	byBody := map[string]store.Issue{}
	for _, i := range is {
		byBody[i.Body] = i
	}
	if i := byBody["Why twice?"]; i.Addressed || i.CarriedFrom != 1 || i.Version != 1 {
		t.Errorf("issue on the unchanged patch: %+v", i)
	}
	if i := byBody["Too long."]; !i.Addressed || i.Version != 1 || i.Where != "line changed in v2" {
		t.Errorf("issue on the changed line: %+v", i)
	}
	// The author resolves v1's issue from v2's page.
	tooLong := byBody["Too long."]
	if err := svc.ResolveComment(ctx, v2, tooLong.Key(), "ann@example.org", true); err != nil {
		t.Fatalf("ResolveComment(v1's issue on v2) = %v", err)
	}
	is, _ = svc.Issues(ctx, v2)
	for _, i := range is {
		if i.Body == "Too long." && !i.Resolved {
			t.Errorf("after resolving: %+v", i)
		}
	}
}

// TestSubmitPendingNoCover: a series of several patches without a cover
// letter gets the verdict's trailer in a reply to each patch (where the
// trailer collection finds it), the summary with the first, and a
// request for changes goes to the first patch alone.
func TestSubmitPendingNoCover(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	id := seriesOf(t, st, "v1-1@example.org")
	rita, err := st.CreateUser(ctx, store.User{Email: "rita@example.org", Name: "Rita Reviewer"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	from := core.Person{Name: rita.Name, Email: rita.Email}
	if _, err := svc.SaveDraftComment(ctx, rita.ID, id, store.DraftComment{PatchMessageID: "v1-2@example.org", File: "README", Side: "new", Line: 2, Body: "Too long."}); err != nil {
		t.Fatal(err)
	}
	sent, err := svc.SubmitPending(ctx, store.PendingReview{SeriesID: id, UserID: rita.ID, From: from, Summary: "Fine.", Verdict: store.VerdictAcked})
	if err != nil || len(sent) != 2 {
		t.Fatalf("SubmitPending() = %v, %v; want a reply to each patch", sent, err)
	}
	_, ps, _ := svc.Series(ctx, id)
	for _, p := range ps {
		if !hasTrailer(p.Trailers, core.Trailer{Key: "Acked-by", Value: "Rita Reviewer <rita@example.org>"}) {
			t.Errorf("patch %d trailers %+v", p.Index, p.Trailers)
		}
	}
	if vs, _ := svc.Verdicts(ctx, id); verdictsOf(vs) != "rita@example.org Acked-by v1 []\n" {
		t.Errorf("verdicts: %s", verdictsOf(vs))
	}
	sent, err = svc.SubmitPending(ctx, store.PendingReview{SeriesID: id, UserID: rita.ID, From: from, Summary: "On second thought, no.", Verdict: store.VerdictChangesRequested})
	if err != nil || len(sent) != 1 {
		t.Fatalf("SubmitPending(changes) = %v, %v", sent, err)
	}
	raw, _ := st.Raw(ctx, "dev", sent[0])
	if body := strings.ReplaceAll(string(raw), "\r\n", "\n"); !strings.Contains(body, "In-Reply-To: <v1-1@example.org>") ||
		!strings.Contains(body, "requesting changes") || !strings.Contains(body, "On second thought, no.\n\nChanges-requested: yes") {
		t.Errorf("request for changes:\n%s", body)
	}
	if vs, _ := svc.Verdicts(ctx, id); verdictsOf(vs) != "rita@example.org Changes-requested v1 [1]\n" {
		t.Errorf("verdicts after the request: %s", verdictsOf(vs))
	}
}

// TestDashboardChangesRequested: the dashboard counts the reviewers whose
// standing verdict asks for changes, and its filter keeps only those
// series; a later approval by the same reviewer takes the request back.
func TestDashboardChangesRequested(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, coverSeries(1, secondDiff)...)
	reply := func(from, msgid, parent, body string, n int) []byte {
		return rawMail(from, msgid, parent, "Re: [PATCH 0/2] wdt fixes", fmt.Sprintf("Tue, 6 Aug 2024 10:00:%02d +0000", n), body)
	}
	deliver(t, in, reply("Carl Critic <carl@example.org>", "c1@example.org", "v1-0@example.org", "The locking is wrong.\n\nChanges-requested: yes\n", 1))
	v1 := seriesOf(t, st, "v1-1@example.org")
	rows := func(f store.SeriesFilter) map[int64]int {
		t.Helper()
		rs, err := svc.Dashboard(ctx, "dev", f)
		if err != nil {
			t.Fatal(err)
		}
		out := map[int64]int{}
		for _, r := range rs {
			out[r.ID] = r.Stats.ChangesRequested
		}
		return out
	}
	if got := rows(store.SeriesFilter{}); got[v1] != 1 {
		t.Errorf("Dashboard() changes requested = %v, want 1 on series %d", got, v1)
	}
	if got := rows(store.SeriesFilter{ChangesRequested: true}); len(got) != 1 || got[v1] != 1 {
		t.Errorf("Dashboard(changes requested) = %v, want series %d alone", got, v1)
	}
	deliver(t, in, reply("Carl Critic <carl@example.org>", "c2@example.org", "v1-0@example.org", "Fine after all.\n\nAcked-by: Carl Critic <carl@example.org>\n", 2))
	if got := rows(store.SeriesFilter{}); got[v1] != 0 {
		t.Errorf("after the approval: changes requested = %v, want 0", got)
	}
	if got := rows(store.SeriesFilter{ChangesRequested: true}); len(got) != 0 {
		t.Errorf("after the approval: Dashboard(changes requested) = %v, want none", got)
	}
}
