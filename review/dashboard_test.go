package review

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"patchwell/store"
)

// TestDashboardCounts: the dashboard's counts of a page are those of the
// series page (Series, SeriesComments): trailers from replies and carried
// from the previous revision, open comments of people only (not of a CI
// bot), checks; resolving a comment lowers the count at once.
func TestDashboardCounts(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	bot := rawMail("CI <ci@example.org>", "bot@example.org", "v1-1@example.org",
		"Re: [PATCH 1/2] wdt: write twice", "Tue, 2 Aug 2024 09:00:00 +0000",
		"> +\tudelay(5);\n\nbuild warning here\n")
	bot = bytes.Replace(bot, []byte("MIME-Version"), []byte("Auto-Submitted: auto-generated\r\nMIME-Version"), 1)
	deliver(t, in, bot,
		rawMail("Rita Reviewer <rita@example.org>", "r1@example.org", "v1-1@example.org",
			"Re: [PATCH 1/2] wdt: write twice", "Tue, 2 Aug 2024 10:00:00 +0000",
			"On Mon, Ann Author wrote:\n> +\twriteb(0xff, priv->base + WDTRR);\n\nWhy twice?\n\n> +\tudelay(5);\n\nWhy 5?\n"),
		rawMail("Rita Reviewer <rita@example.org>", "r2@example.org", "v1-1@example.org",
			"Re: [PATCH 1/2] wdt: write twice", "Tue, 2 Aug 2024 11:00:00 +0000",
			"Looks right otherwise.\n\nReviewed-by: Rita Reviewer <rita@example.org>\n"),
		rawMail("Tom Tester <tom@example.org>", "r3@example.org", "v1-2@example.org",
			"Re: [PATCH 2/2] README: underline", "Tue, 2 Aug 2024 12:00:00 +0000",
			"Tested-by: Tom Tester <tom@example.org>\nAcked-by: Tom Tester <tom@example.org>\n"))
	v1 := seriesOf(t, st, "v1-1@example.org")
	moved := strings.NewReplacer("@@ -10,7 +10,8 @@", "@@ -15,7 +15,8 @@", "@@ -40,6 +41,7 @@", "@@ -45,6 +46,7 @@").Replace(testDiff)
	deliver(t, in, patchMail(2, 1, moved), patchMail(2, 2, strings.Replace(secondDiff, "+================", "+----------------", 1)))
	v2 := seriesOf(t, st, "v2-1@example.org")
	if _, err := st.SetCheck(ctx, &store.Check{SeriesID: v2, Context: "build", State: store.CheckWarning}); err != nil {
		t.Fatal(err)
	}

	rows, err := svc.Dashboard(ctx, "dev", store.SeriesFilter{})
	if err != nil || len(rows) != 2 || rows[0].ID != v2 || rows[1].ID != v1 {
		t.Fatalf("Dashboard = %+v, %v; want v2, v1", rows, err)
	}
	want := map[int64]store.SeriesStats{
		// v1: Rita's Reviewed-by, Tom's Acked-by and Tested-by; Rita's
		// two line comments and her reply, Tom's reply (the bot's does
		// not count).
		v1: {Acked: 1, Reviewed: 1, Tested: 1, OpenComments: 4},
		// v2: Rita's Reviewed-by and comments carried with the unchanged
		// patch 1; Tom's were on patch 2, which changed.
		v2: {Reviewed: 1, OpenComments: 2, Checks: store.CheckCounts{Warning: 1}},
	}
	for _, r := range rows {
		got := r.Stats
		got.LastActivity = got.LastActivity.UTC()
		w := want[r.ID]
		w.LastActivity = got.LastActivity
		if got != w {
			t.Errorf("series %d stats = %+v, want %+v", r.ID, got, w)
		}
		if r.Stats.LastActivity.IsZero() {
			t.Errorf("series %d: no last activity", r.ID)
		}
		// The same as the series page's.
		_, ps, err := svc.Series(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		a, rv, ts := countReviews(ps)
		if a != r.Stats.Acked || rv != r.Stats.Reviewed || ts != r.Stats.Tested {
			t.Errorf("series %d: page's A/R/T = %d/%d/%d, dashboard's %+v", r.ID, a, rv, ts, r.Stats)
		}
		cs, err := svc.SeriesComments(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		open := 0
		for _, c := range cs {
			if !c.Bot && !c.Resolved {
				open++
			}
		}
		if open != r.Stats.OpenComments {
			t.Errorf("series %d: page's unresolved = %d, dashboard's %d", r.ID, open, r.Stats.OpenComments)
		}
	}

	// Resolving "Why 5?" on v1 takes it off both (v2 carries only
	// unresolved comments).
	k := store.Resolution{ReplyMessageID: "r1@example.org", PatchMessageID: "v1-1@example.org", File: "drivers/wdt.c", Side: "new", Line: 44}
	if err := svc.ResolveComment(ctx, v1, k, "ann@example.org", true); err != nil {
		t.Fatalf("ResolveComment() = %v", err)
	}
	rows, err = svc.Dashboard(ctx, "dev", store.SeriesFilter{})
	if err != nil || rows[0].Stats.OpenComments != 1 || rows[1].Stats.OpenComments != 3 {
		t.Errorf("after resolving: %+v, %v", rows, err)
	}

	// Needs review: v2 is reviewed through the carried trailer.
	rows, err = svc.Dashboard(ctx, "dev", store.SeriesFilter{NeedsReview: true, Current: true})
	if err != nil || len(rows) != 0 {
		t.Errorf("needs review = %+v, %v; want none", rows, err)
	}
	// Has my review: Tom replied to v1 only.
	rows, err = svc.Dashboard(ctx, "dev", store.SeriesFilter{RepliedBy: []string{"tom@example.org"}})
	if err != nil || len(rows) != 1 || rows[0].ID != v1 {
		t.Errorf("replied by tom = %+v, %v; want v1", rows, err)
	}
	if _, err := svc.Dashboard(ctx, "nope", store.SeriesFilter{}); err == nil {
		t.Error("unknown list: no error")
	}
}
