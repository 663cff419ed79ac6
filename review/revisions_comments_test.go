package review

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// threaded builds a raw message answering refs' last entry, with refs as
// its References (as git send-email --in-reply-to writes them).
func threaded(from, msgid, subject string, day int, refs []string, body string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nMessage-ID: <%s>\nSubject: %s\nDate: Mon, %d Aug 2024 10:00:00 +0000\n", from, msgid, subject, day)
	if len(refs) > 0 {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\nReferences: <%s>\n", refs[len(refs)-1], strings.Join(refs, "> <"))
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n")
	b.WriteString(body)
	return []byte(b.String())
}

// TestCommentsStayWithTheirRevision: v2 and v3 are sent in reply to the
// previous cover letter (git send-email --in-reply-to), so the three
// revisions share a thread. A reply belongs to the revision whose
// message it answers: v1's comments do not include v2's, v2's
// Discussion does not hold v3's comment or Reviewed-by, and v3 shows its
// own comment once.
func TestCommentsStayWithTheirRevision(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	var refs []string // the thread so far, root first
	for v := 1; v <= 3; v++ {
		ver := ""
		if v > 1 {
			ver = fmt.Sprintf(" v%d", v)
		}
		cover := fmt.Sprintf("c%d@example.org", v)
		deliver(t, in, threaded(author, cover, fmt.Sprintf("[PATCH%s 0/2] wdt fixes", ver), v, refs, "Two fixes.\n"))
		crefs := append(append([]string(nil), refs...), cover)
		for i, d := range []string{testDiff, secondDiff} {
			subj := []string{"wdt: write twice", "README: underline"}[i]
			deliver(t, in, threaded(author, fmt.Sprintf("v%d-%d@example.org", v, i+1), fmt.Sprintf("[PATCH%s %d/2] %s", ver, i+1, subj), v, crefs,
				subj+"\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+d))
		}
		refs = crefs
	}
	// A review of v2's patch 2 and one of v3's patch 2 (with a trailer).
	deliver(t, in,
		threaded("Rita <rita@example.org>", "r2@example.org", "Re: [PATCH v2 2/2] README: underline", 9,
			[]string{"c1@example.org", "c2@example.org", "v2-2@example.org"},
			"> @@ -1,3 +1,4 @@\n>  Watchdog drivers\n> +================\n\nToo long for the title.\n"),
		threaded("Rita <rita@example.org>", "r3@example.org", "Re: [PATCH v3 2/2] README: underline", 10,
			[]string{"c1@example.org", "c2@example.org", "c3@example.org", "v3-2@example.org"},
			"> @@ -1,3 +1,4 @@\n>  Watchdog drivers\n> +================\n\nStill too long.\n\nReviewed-by: Rita <rita@example.org>\n"))
	for _, tc := range []struct {
		series string
		want   []string // "reply carried-from" per comment, sorted
	}{
		{"v1-1@example.org", nil},
		{"v2-1@example.org", []string{"r2@example.org 0"}},
		{"v3-1@example.org", []string{"r2@example.org 2", "r3@example.org 0"}},
	} {
		id := seriesOf(t, st, tc.series)
		cs, err := svc.SeriesComments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, fmt.Sprintf("%s %d", c.MessageID, c.CarriedFrom))
		}
		sort.Strings(got)
		if strings.Join(got, ", ") != strings.Join(tc.want, ", ") {
			t.Errorf("series of %s: comments %q, want %q", tc.series, got, tc.want)
		}
	}
}

// TestTrailersCarriedByPatchID: a Reviewed-by given on v2's patch 2 is
// carried to v3's identical patch 2 (the same patch-id), marked with the
// version it was given on, and goes into v3's mbox (what apply uses);
// v3's changed patch 1 gets nothing.
func TestTrailersCarriedByPatchID(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	changed := strings.Replace(testDiff, "0xff", "0xfe", 1) // v3's patch 1 differs
	for v := 2; v <= 3; v++ {
		cover := fmt.Sprintf("c%d@example.org", v)
		deliver(t, in, threaded(author, cover, fmt.Sprintf("[PATCH v%d 0/2] wdt fixes", v), v, nil, "Two fixes.\n"))
		for i, d := range []string{testDiff, secondDiff} {
			if v == 3 && i == 0 {
				d = changed
			}
			subj := []string{"wdt: write twice", "README: underline"}[i]
			deliver(t, in, threaded(author, fmt.Sprintf("v%d-%d@example.org", v, i+1), fmt.Sprintf("[PATCH v%d %d/2] %s", v, i+1, subj), v,
				[]string{cover}, subj+"\n\nSigned-off-by: Ann Author <ann@example.org>\n---\n"+d))
		}
	}
	deliver(t, in, threaded("Rita <rita@example.org>", "r1@example.org", "Re: [PATCH v2 1/2] wdt: write twice", 9,
		[]string{"c2@example.org", "v2-1@example.org"}, "Acked-by: Rita <rita@example.org>\n"),
		threaded("Rita <rita@example.org>", "r2@example.org", "Re: [PATCH v2 2/2] README: underline", 9,
			[]string{"c2@example.org", "v2-2@example.org"}, "Reviewed-by: Rita <rita@example.org>\n"))
	id := seriesOf(t, st, "v3-1@example.org")
	se, patches, err := svc.Series(ctx, id)
	if err != nil || se.Previous == 0 || len(patches) != 2 {
		t.Fatalf("Series() = %+v, %d patches, %v; want v3 after v2", se, len(patches), err)
	}
	for _, p := range patches {
		var got []string
		for _, tr := range p.Trailers {
			got = append(got, fmt.Sprintf("%s: %s (v%d)", tr.Key, tr.Value, tr.CarriedFrom))
		}
		want := map[int]string{1: "Signed-off-by: Ann Author <ann@example.org> (v0)",
			2: "Signed-off-by: Ann Author <ann@example.org> (v0), Reviewed-by: Rita <rita@example.org> (v2)"}[p.Index]
		if strings.Join(got, ", ") != want {
			t.Errorf("v3 patch %d trailers %q, want %q", p.Index, got, want)
		}
	}
	var mbox strings.Builder
	if err := svc.SeriesMbox(ctx, id, &mbox); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(mbox.String(), "Reviewed-by: Rita <rita@example.org>"); n != 1 || strings.Contains(mbox.String(), "Acked-by") {
		t.Errorf("v3's mbox has %d Reviewed-by (want 1, on patch 2) or an Acked-by of the changed patch:\n%s", n, mbox.String())
	}
}

func TestWithoutGitSignature(t *testing.T) {
	for in, want := range map[string]string{
		"Two fixes.\n\n-- \n2.39.5\n\n":               "Two fixes.\n\n",
		"Two fixes.\n-- \n2.45.2.windows.1\n":         "Two fixes.\n",
		"Two fixes.\n-- \nAnn Author, Example Corp\n": "Two fixes.\n-- \nAnn Author, Example Corp\n",
		"No signature.\n":                             "No signature.\n",
	} {
		if got := withoutGitSignature(in); got != want {
			t.Errorf("withoutGitSignature(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestBotRepliesApart: a reply patchwell writes (a CI summary, posted
// with PostReply) is marked Auto-Submitted and read back as a bot's
// comment, not a reviewer's.
func TestBotRepliesApart(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff),
		rawMail("Rita <rita@example.org>", "human@example.org", "v1-1@example.org", "Re: [PATCH 1/2] wdt: write twice", "Mon, 1 Aug 2024 11:00:00 +0000", "Why twice?\n"))
	id := seriesOf(t, st, "v1-1@example.org")
	se, _, err := svc.Series(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	msgid, err := svc.PostReply(ctx, Reply{Series: se, From: "dev CI <dev@lists.example.org>", Tag: "ci", Body: "CI result for this series: success\n"})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := st.Raw(ctx, "dev", msgid)
	if err != nil || !strings.Contains(string(raw), "\nAuto-Submitted: auto-generated\n") {
		t.Fatalf("the CI reply (%v) is not marked Auto-Submitted:\n%s", err, raw)
	}
	cs, err := svc.SeriesComments(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	bots := map[string]bool{}
	for _, c := range cs {
		bots[c.MessageID] = c.Bot
	}
	if len(bots) != 2 || bots["human@example.org"] || !bots[msgid] {
		t.Errorf("comments (message -> bot): %v; want the human's and the CI reply, only the latter a bot's", bots)
	}
}
