package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/review"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// mail is one message to list pub or sec.
func mail(list, id, irt, subject, body string) []byte {
	h := ""
	if irt != "" {
		h = "In-Reply-To: <" + irt + ">\r\nReferences: <" + irt + ">\r\n"
	}
	return []byte(fmt.Sprintf("From: Ann Dev <ann@example.org>\r\nTo: %s@lists.example.org\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s"+
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n%s", list, subject, id, h, body))
}

func patchMail(list, id, irt, subject string, n int) []byte {
	return mail(list, id, irt, subject, fmt.Sprintf("Change %d.\r\n\r\nSigned-off-by: Ann Dev <ann@example.org>\r\n---\r\n"+
		"diff --git a/f%d.txt b/f%d.txt\r\n--- a/f%d.txt\r\n+++ b/f%d.txt\r\n@@ -1 +1 @@\r\n-old\r\n+new\r\n", n, n, n, n, n))
}

// eventKey is what a test compares of an event.
type eventKey struct {
	Category                   string
	List                       string
	Patch, Series, Check, Cmnt int64
	Actor                      int64
	Previous, Current          string
}

func keysOf(evs []store.Event) []eventKey {
	var out []eventKey
	for _, e := range evs {
		out = append(out, eventKey{e.Category, e.List, e.PatchID, e.SeriesID, e.CheckID, e.CommentID, e.Actor, e.Previous, e.Current})
	}
	return out
}

// TestEvents checks that each of patchwork's event categories is there
// after what makes it (the creation events derived from the archive,
// the changes recorded with them), with its payload, and the filters and
// paging of Events, on the backend PATCHWELL_STORE_BACKEND names.
func TestEvents(t *testing.T) {
	ctx := context.Background()
	var st *store.DB
	var err error
	if os.Getenv("PATCHWELL_STORE_BACKEND") == "postgres" {
		st, err = store.OpenPostgres(ctx, pgtest.URL(t))
	} else {
		st, err = store.Open(ctx, t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, l := range []string{"pub", "sec"} {
		if _, err := st.CreateList(ctx, store.List{Name: l}); err != nil {
			t.Fatal(err)
		}
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	var secAt time.Time
	for _, m := range []struct {
		list string
		raw  []byte
	}{
		{"pub", mail("pub", "a0@x", "", "[PATCH 0/2] Speed up", "A cover letter.\r\n")},
		{"pub", patchMail("pub", "a1@x", "a0@x", "[PATCH 1/2] Speed up part 1", 1)},
		{"pub", patchMail("pub", "a2@x", "a0@x", "[PATCH 2/2] Speed up part 2", 2)},
		{"pub", mail("pub", "r1@x", "a1@x", "Re: [PATCH 1/2] Speed up part 1", "Looks good.\r\n")},
		{"pub", mail("pub", "r0@x", "a0@x", "Re: [PATCH 0/2] Speed up", "Thanks.\r\n")},
		{"sec", patchMail("sec", "s1@x", "", "[PATCH] Close the hole", 1)},
	} {
		if m.list == "sec" {
			// A second later, for the dates (arrival) to tell apart.
			time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second)))
			secAt = time.Now().Truncate(time.Second)
		}
		if err := in.Post(ctx, review.Post{Lists: []string{m.list}, Raw: m.raw}); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	ps, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"pub"}, Limit: 10})
	if err != nil || len(ps) != 2 {
		t.Fatalf("TrackedPatches = %v, %v", ps, err)
	}
	p1, p2, sid := ps[0].ID, ps[1].ID, ps[0].SeriesID
	sec, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"sec"}, Limit: 10})
	if err != nil || len(sec) != 1 {
		t.Fatalf("TrackedPatches(sec) = %v, %v", sec, err)
	}
	u, err := st.CreateUser(ctx, store.User{Email: "maint@example.org", Name: "Maint"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, u.ID, "pub", store.RoleMaintainer); err != nil { // a delegate maintains the list
		t.Fatal(err)
	}
	msgID := func(id string) int64 {
		t.Helper()
		for _, m := range mustThread(t, st, sid) {
			if m.MessageID == id {
				return m.ID
			}
		}
		t.Fatalf("no message %s", id)
		return 0
	}
	r1, r0 := msgID("r1@x"), msgID("r0@x")

	// The changes, an hour from now (the creation events are now).
	later := time.Now().Add(time.Hour).Truncate(time.Second)
	accepted, del := "accepted", u.ID
	if _, err := st.UpdatePatch(ctx, p1, store.PatchUpdate{State: &accepted, Delegate: &del}, u.ID, later); err != nil {
		t.Fatal(err)
	}
	if _, err := st.UpdatePatch(ctx, p1, store.PatchUpdate{Delegate: &del}, u.ID, later); err != nil { // no change, no event
		t.Fatal(err)
	}
	if _, err := st.SetSeriesStatus(ctx, sid, store.StatusNeedsRevision, u.ID, "", later.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	c1, err := st.SetCheck(ctx, &store.Check{SeriesID: sid, PatchIndex: 2, Context: "ci/build", State: store.CheckSuccess, By: u.ID})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := st.SetCheck(ctx, &store.Check{SeriesID: sid, Context: "ci/test", State: store.CheckFail})
	if err != nil {
		t.Fatal(err)
	}

	all, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 16 {
		t.Errorf("%d events, want 16: %v", len(all), keysOf(all))
	}
	// The changes, newest first (the checks were posted now, the state
	// changes dated later).
	changes, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: 100,
		Categories: []string{store.EventPatchStateChanged, store.EventPatchDelegated, store.EventCheckCreated}})
	if err != nil {
		t.Fatal(err)
	}
	want := []eventKey{
		{store.EventPatchStateChanged, "pub", p2, sid, 0, 0, u.ID, "new", "changes-requested"},
		{store.EventPatchStateChanged, "pub", p1, sid, 0, 0, u.ID, "accepted", "changes-requested"},
		{store.EventPatchDelegated, "pub", p1, sid, 0, 0, u.ID, "", fmt.Sprint(u.ID)},
		{store.EventPatchStateChanged, "pub", p1, sid, 0, 0, u.ID, "new", "accepted"},
		{store.EventCheckCreated, "pub", p2, sid, cs.ID, 0, 0, "", ""},
		{store.EventCheckCreated, "pub", p1, sid, cs.ID, 0, 0, "", ""},
		{store.EventCheckCreated, "pub", p2, sid, c1.ID, 0, u.ID, "", ""},
	}
	if diff := cmp.Diff(want, keysOf(changes)); diff != "" {
		t.Errorf("change events (-want +got):\n%s", diff)
	}
	// The creation events, dated by arrival: compare as a set.
	var created []eventKey
	for _, k := range keysOf(all) {
		if !slices.ContainsFunc(want, func(w eventKey) bool { return w == k }) {
			created = append(created, k)
		}
	}
	slices.SortFunc(created, func(a, b eventKey) int { return cmp2(a, b) })
	wantCreated := []eventKey{
		{store.EventCoverCommentCreated, "pub", 0, sid, 0, r0, 0, "", ""},
		{store.EventCoverCreated, "pub", 0, sid, 0, 0, 0, "", ""},
		{store.EventPatchCommentCreated, "pub", p1, sid, 0, r1, 0, "", ""},
		{store.EventPatchCompleted, "pub", p1, sid, 0, 0, 0, "", ""},
		{store.EventPatchCompleted, "pub", p2, sid, 0, 0, 0, "", ""},
		{store.EventPatchCreated, "pub", p1, sid, 0, 0, 0, "", ""},
		{store.EventPatchCreated, "pub", p2, sid, 0, 0, 0, "", ""},
		{store.EventSeriesCompleted, "pub", 0, sid, 0, 0, 0, "", ""},
		{store.EventSeriesCreated, "pub", 0, sid, 0, 0, 0, "", ""},
	}
	if diff := cmp.Diff(wantCreated, created); diff != "" {
		t.Errorf("creation events (-want +got):\n%s", diff)
	}
	ids := map[int64]bool{}
	for i, e := range all {
		if ids[e.ID] || e.ID <= 0 {
			t.Errorf("event %d: id %d repeated or not positive", i, e.ID)
		}
		ids[e.ID] = true
		if i > 0 && e.Date.After(all[i-1].Date) {
			t.Errorf("event %d (%s) is newer than the one before it", i, e.Category)
		}
	}

	// Filters.
	count := func(f store.EventFilter) []eventKey {
		t.Helper()
		f.Limit = 100
		evs, err := st.Events(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		return keysOf(evs)
	}
	for _, c := range []struct {
		name string
		f    store.EventFilter
		n    int
	}{
		{"category", store.EventFilter{Lists: []string{"pub"}, Categories: []string{store.EventPatchStateChanged}}, 3},
		{"two categories", store.EventFilter{Lists: []string{"pub"}, Categories: []string{store.EventPatchDelegated, store.EventCoverCreated}}, 2},
		{"patch", store.EventFilter{Lists: []string{"pub"}, PatchID: p1}, 7},
		{"series", store.EventFilter{Lists: []string{"pub"}, SeriesID: sid}, len(all)},
		{"cover", store.EventFilter{Lists: []string{"pub"}, CoverID: sid}, 2},
		{"actor", store.EventFilter{Lists: []string{"pub"}, Actor: u.ID}, 5},
		{"since", store.EventFilter{Lists: []string{"pub"}, Since: later.Add(-time.Minute)}, 4},
		{"before", store.EventFilter{Lists: []string{"pub"}, Before: later.Add(-time.Minute)}, 12},
		{"since and before", store.EventFilter{Lists: []string{"pub"}, Since: later, Before: later.Add(time.Second)}, 2},
		{"other list", store.EventFilter{Lists: []string{"sec"}}, 4},
		// The archive's dates become ranges of rows: the cut is exact.
		{"since a message", store.EventFilter{Lists: []string{"pub", "sec"}, Since: secAt}, 4 + 7},
		{"before a message", store.EventFilter{Lists: []string{"pub", "sec"}, Before: secAt}, 9},
		{"before a message, sec", store.EventFilter{Lists: []string{"sec"}, Before: secAt}, 0},
		{"since a message, sec", store.EventFilter{Lists: []string{"sec"}, Since: secAt, Categories: []string{store.EventSeriesCreated}}, 1},
		{"other list's patch", store.EventFilter{Lists: []string{"sec"}, PatchID: p1}, 0},
	} {
		if got := count(c.f); len(got) != c.n {
			t.Errorf("%s: %d events, want %d: %v", c.name, len(got), c.n, got)
		}
	}
	// Paging: the pages together are the whole list.
	var paged []store.Event
	for off := 0; ; off += 4 {
		evs, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: 4, Offset: off})
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			break
		}
		paged = append(paged, evs...)
	}
	if diff := cmp.Diff(all, paged); diff != "" {
		t.Errorf("pages (-all +paged):\n%s", diff)
	}
}

func cmp2(a, b eventKey) int {
	if a.Category != b.Category {
		if a.Category < b.Category {
			return -1
		}
		return 1
	}
	return int(a.Patch - b.Patch)
}

func mustThread(t *testing.T, st *store.DB, seriesID int64) []store.Message {
	t.Helper()
	se, err := st.Series(context.Background(), seriesID)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := st.ThreadMessages(context.Background(), []int64{se.ThreadID})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// TestEventPages: small pages read each source a window of rows at a
// time, across another list's rows and rows of no event; they are, one
// after the other, the one big page.
func TestEventPages(t *testing.T) {
	ctx := context.Background()
	var st *store.DB
	var err error
	if os.Getenv("PATCHWELL_STORE_BACKEND") == "postgres" {
		st, err = store.OpenPostgres(ctx, pgtest.URL(t))
	} else {
		st, err = store.Open(ctx, t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, l := range []string{"pub", "other"} {
		if _, err := st.CreateList(ctx, store.List{Name: l}); err != nil {
			t.Fatal(err)
		}
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	post := func(list string, raw []byte) {
		t.Helper()
		if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 12 {
		post("pub", patchMail("pub", fmt.Sprintf("p%d@x", i), "", fmt.Sprintf("[PATCH] Change %d", i), i))
		for j := range 5 { // another list's rows between
			post("other", patchMail("other", fmt.Sprintf("o%d-%d@x", i, j), "", fmt.Sprintf("[PATCH] Other %d %d", i, j), j))
		}
		if i%3 == 0 {
			post("pub", mail("pub", fmt.Sprintf("r%d@x", i), fmt.Sprintf("p%d@x", i), fmt.Sprintf("Re: [PATCH] Change %d", i), "Good.\r\n"))
		}
	}
	in.Close()
	all, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	// Each patch: created, completed, series created and completed; 4 replies.
	if len(all) != 12*4+4 {
		t.Fatalf("%d events, want %d", len(all), 12*4+4)
	}
	for _, per := range []int{1, 3, 7} {
		var paged []store.Event
		for off := 0; off < 1000; off += per {
			evs, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: per, Offset: off})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				break
			}
			paged = append(paged, evs...)
		}
		if diff := cmp.Diff(all, paged); diff != "" {
			t.Errorf("pages of %d (-all +paged):\n%s", per, diff)
		}
	}
	comments, err := st.Events(ctx, store.EventFilter{Lists: []string{"pub"}, Limit: 2, Offset: 2, Categories: []string{store.EventPatchCommentCreated}})
	if err != nil || len(comments) != 2 {
		t.Fatalf("comment events 3 and 4 = %v, %v", comments, err)
	}
}
