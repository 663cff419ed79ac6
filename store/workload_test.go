package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"patchwell/core"
)

// workSeries adds a series of n patches by author@example.org to l.
func workSeries(t *testing.T, st *DB, l *List, name string, n int) (int64, []int64) {
	t.Helper()
	ctx := context.Background()
	var sid int64
	var pids []int64
	for i := 1; i <= n; i++ {
		m := msg(l, fmt.Sprintf("%s.%d@x", name, i))
		m.Kind = core.KindPatch
		a := add(t, st, m)
		err := st.Update(ctx, func(tx Tx) error {
			if i == 1 {
				var err error
				se := &Series{Subject: name, Version: 1, Status: StatusProposed, Total: n, Received: n, MessageID: m.MessageID,
					Date: time.Unix(1700000000, 0), ThreadID: a.ThreadID, Submitter: core.Person{Name: "Au", Email: "author@example.org"}}
				if sid, err = tx.CreateSeries(ctx, se, name, name, l.ID); err != nil {
					return err
				}
			}
			if err := tx.SetMessageSeries(ctx, a.ID, sid, core.KindPatch); err != nil {
				return err
			}
			return tx.AddPatch(ctx, &Patch{SeriesID: sid, Index: i, Subject: m.MessageID, CommitSubject: m.MessageID}, a.ID)
		})
		if err != nil {
			t.Fatalf("add patch: %v", err)
		}
	}
	ps, err := st.TrackedPatches(ctx, PatchFilter{Lists: []string{l.Name}, SeriesID: sid, Limit: 100})
	if err != nil || len(ps) != n {
		t.Fatalf("TrackedPatches = %d, %v", len(ps), err)
	}
	for _, p := range ps {
		pids = append(pids, p.ID)
	}
	return sid, pids
}

func TestDelegate(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	other, err := st.CreateList(ctx, List{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	user := func(email string, role string, list string) int64 {
		u, err := st.CreateUser(ctx, User{Email: email, Name: email[:1]}, "h")
		if err != nil {
			t.Fatal(err)
		}
		if role != "" {
			if err := st.SetRole(ctx, u.ID, list, role); err != nil {
				t.Fatal(err)
			}
		}
		return u.ID
	}
	m1 := user("m1@example.org", RoleMaintainer, "dev")
	m2 := user("m2@example.org", RoleOwner, "dev")
	stranger := user("s@example.org", "", "")
	elsewhere := user("e@example.org", RoleMaintainer, other.Name)
	gone := user("g@example.org", RoleMaintainer, "dev")
	if err := st.SetDisabled(ctx, gone, true); err != nil {
		t.Fatal(err)
	}
	sid, pids := workSeries(t, st, l, "work", 3)

	if err := st.Delegate(ctx, sid, 0, m1, m1, time.Now()); err != nil {
		t.Fatalf("Delegate(series) = %v", err)
	}
	w, err := st.SeriesWork(ctx, []int64{sid})
	if err != nil || w[sid].Delegate == nil || w[sid].Delegate.Email != "m1@example.org" || w[sid].Mixed || w[sid].DelegateID != m1 {
		t.Fatalf("SeriesWork after delegating the series = %+v, %v", w[sid], err)
	}
	if err := st.Delegate(ctx, sid, pids[1], m2, m1, time.Now()); err != nil {
		t.Fatalf("Delegate(patch) = %v", err)
	}
	p, _ := st.TrackedPatch(ctx, pids[1])
	if p.Delegate != m2 {
		t.Fatalf("patch delegate = %d, want %d", p.Delegate, m2)
	}
	// Each change is a patch-delegated event (patchwork's), by whom it
	// was done: three for the series, one for the patch.
	evs, err := st.ExportEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var delegated []string
	for _, e := range evs {
		if e.Category == EventPatchDelegated {
			delegated = append(delegated, fmt.Sprintf("%d:%s->%s", e.Actor, e.Previous, e.Current))
		}
	}
	one, two := fmt.Sprint(m1), fmt.Sprint(m2)
	want := []string{one + ":->" + one, one + ":->" + one, one + ":->" + one, one + ":" + one + "->" + two}
	if !slices.Equal(delegated, want) {
		t.Errorf("patch-delegated events %q, want %q", delegated, want)
	}
	if w, _ := st.SeriesWork(ctx, []int64{sid}); !w[sid].Mixed {
		t.Fatalf("two delegates: %+v, want Mixed", w[sid])
	}
	for _, tc := range []struct {
		name       string
		series     int64
		patch, who int64
		want       error
	}{
		{"no role", sid, 0, stranger, ErrInvalid},
		{"role on another list", sid, 0, elsewhere, ErrInvalid},
		{"disabled", sid, 0, gone, ErrInvalid},
		{"no such user", sid, 0, 9999, ErrInvalid},
		{"no such series", 9999, 0, m1, ErrNotFound},
		{"patch of another series", sid, 9999, m1, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.Delegate(ctx, tc.series, tc.patch, tc.who, 0, time.Now()); !errors.Is(err, tc.want) {
				t.Fatalf("Delegate = %v, want %v", err, tc.want)
			}
		})
	}
	// The API's road checks the same.
	if _, err := st.UpdatePatch(ctx, pids[0], PatchUpdate{Delegate: &stranger}, m1, time.Now()); !errors.Is(err, ErrInvalid) {
		t.Fatalf("UpdatePatch(delegate: no role) = %v, want ErrInvalid", err)
	}
	if err := st.Delegate(ctx, sid, 0, 0, m1, time.Now()); err != nil {
		t.Fatal(err)
	}
	if w, _ := st.SeriesWork(ctx, []int64{sid}); w[sid].Delegate != nil || w[sid].Mixed {
		t.Fatalf("cleared: %+v", w[sid])
	}
	ps, err := st.TrackedPatches(ctx, PatchFilter{Lists: []string{"dev"}, Delegates: []int64{m1}, Limit: 10})
	if err != nil || len(ps) != 0 {
		t.Fatalf("patches delegated to m1 after clearing: %d %v", len(ps), err)
	}
}

func TestArchiveSeries(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	a, _ := workSeries(t, st, l, "a", 2)
	b, pb := workSeries(t, st, l, "b", 2)
	shown := func() []int64 {
		t.Helper()
		rows, err := st.DashboardSeries(ctx, "dev", SeriesFilter{HideArchived: true})
		if err != nil {
			t.Fatal(err)
		}
		var ids []int64
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		return ids
	}
	if err := st.ArchiveSeries(ctx, a, true); err != nil {
		t.Fatal(err)
	}
	if got := shown(); len(got) != 1 || got[0] != b {
		t.Fatalf("archived series a hidden: shown %v, want [%d]", got, b)
	}
	if w, _ := st.SeriesWork(ctx, []int64{a, b}); !w[a].Archived || w[b].Archived {
		t.Fatalf("SeriesWork archived = %v %v", w[a].Archived, w[b].Archived)
	}
	// One archived patch of two leaves the series shown.
	yes := true
	if _, err := st.UpdatePatch(ctx, pb[0], PatchUpdate{Archived: &yes}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := shown(); len(got) != 1 {
		t.Fatalf("half-archived series: shown %v", got)
	}
	if rows, _ := st.DashboardSeries(ctx, "dev", SeriesFilter{}); len(rows) != 2 {
		t.Fatalf("without HideArchived: %d series, want 2", len(rows))
	}
	if err := st.ArchiveSeries(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if got := shown(); len(got) != 2 {
		t.Fatalf("unarchived: shown %v", got)
	}
	if err := st.ArchiveSeries(ctx, 9999, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown series: %v", err)
	}
}

func TestStatusNotes(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	sid, _ := workSeries(t, st, l, "n", 1)
	m, _ := st.CreateUser(ctx, User{Email: "m@example.org", Name: "M"}, "h")
	// A change made before: the cursor starts past it only for a new
	// database's migration; here it is after, and is notified.
	if _, err := st.SetSeriesStatus(ctx, sid, StatusApproved, m.ID, "ok", time.Now()); err != nil {
		t.Fatal(err)
	}
	notes, err := st.StatusNotes(ctx, 10)
	if err != nil || len(notes) != 1 {
		t.Fatalf("StatusNotes = %+v %v", notes, err)
	}
	n := notes[0]
	if n.List != "dev" || n.SeriesSubject != "n" || n.Submitter.Email != "author@example.org" || n.Thread != "n.1@x" ||
		n.NoMail || n.NotifyThread || n.User == nil || n.User.Email != "m@example.org" || n.To != StatusApproved || n.Comment != "ok" {
		t.Fatalf("note = %+v", n)
	}
	// The submitter's account opts out; the list posts to the thread.
	au, _ := st.CreateUser(ctx, User{Email: "Author@Example.org"}, "h")
	if on, err := st.StatusMail(ctx, au.ID); err != nil || !on {
		t.Fatalf("StatusMail of a new account = %v %v, want on", on, err)
	}
	if err := st.SetStatusMail(ctx, au.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := st.SetNotifyThread(ctx, "dev", true); err != nil {
		t.Fatal(err)
	}
	if on, _ := st.NotifyThread(ctx, "dev"); !on {
		t.Fatal("NotifyThread not set")
	}
	if notes, _ := st.StatusNotes(ctx, 10); !notes[0].NoMail || !notes[0].NotifyThread {
		t.Fatalf("settings not in the note: %+v", notes[0])
	}
	// Claimed once: a second claim of the same range gets nothing.
	calls := 0
	claim := func(upTo int64) error {
		return st.ClaimStatusNotes(ctx, upTo, func(tx Tx, ns []StatusNote) error {
			calls += len(ns)
			id, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, Raw: []byte("Subject: x\n\nx\n")})
			if err != nil {
				return err
			}
			return tx.QueueDeliveries(ctx, id, []string{ns[0].Submitter.Email})
		})
	}
	if err := claim(n.ID); err != nil || calls != 1 {
		t.Fatalf("ClaimStatusNotes = %v, %d notes", err, calls)
	}
	if err := claim(n.ID); err != nil || calls != 1 {
		t.Fatalf("claimed twice: %v, %d notes", err, calls)
	}
	if notes, _ := st.StatusNotes(ctx, 10); len(notes) != 0 {
		t.Fatalf("after the claim: %+v", notes)
	}
	// A failing fn leaves the cursor where it was.
	if _, err := st.SetSeriesStatus(ctx, sid, StatusApplied, m.ID, "", time.Now()); err != nil {
		t.Fatal(err)
	}
	notes, _ = st.StatusNotes(ctx, 10)
	boom := errors.New("boom")
	if err := st.ClaimStatusNotes(ctx, notes[0].ID, func(Tx, []StatusNote) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing claim = %v", err)
	}
	if again, _ := st.StatusNotes(ctx, 10); len(again) != 1 {
		t.Fatalf("after a failed claim: %d notes, want 1", len(again))
	}
	// Imported history is not notified again; the opt-out is carried.
	data, err := st.ExportAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st2, l2 := mustOpen(t)
	sid2, _ := workSeries(t, st2, l2, "n", 1)
	if _, err := st2.ImportAccounts(ctx, data); err != nil {
		t.Fatal(err)
	}
	if h, _ := st2.StatusHistory(ctx, sid2); len(h) != 2 {
		t.Fatalf("imported history: %d changes, want 2", len(h))
	}
	if on, err := st2.StatusMail(ctx, au.ID); err != nil || on {
		t.Fatalf("imported opt-out: StatusMail = %v %v, want off", on, err)
	}
	if on, err := st2.StatusMail(ctx, m.ID); err != nil || !on {
		t.Fatalf("imported account that did not opt out: StatusMail = %v %v, want on", on, err)
	}
	if on, err := st2.NotifyThread(ctx, "dev"); err != nil || !on {
		t.Fatalf("imported list setting: NotifyThread = %v %v, want on", on, err)
	}
	if notes, err := st2.StatusNotes(ctx, 10); err != nil || len(notes) != 0 {
		t.Fatalf("imported history to notify: %+v %v", notes, err)
	}
}

// TestClaimStatusNotesTwoNodes: two handles on one database (two nodes,
// or a restart beside a running one) claim the same changes at once:
// each change is handed to fn once in all.
func TestClaimStatusNotesTwoNodes(t *testing.T) {
	open := opener(t)
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	l, err := a.CreateList(ctx, List{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	sid, _ := workSeries(t, a, l, "two", 1)
	for _, st := range []string{StatusApproved, StatusNeedsRevision, StatusApplied} {
		if _, err := a.SetSeriesStatus(ctx, sid, st, 0, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	b, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	notes, err := b.StatusNotes(ctx, 10)
	if err != nil || len(notes) != 3 {
		t.Fatalf("StatusNotes = %d %v", len(notes), err)
	}
	upTo := notes[2].ID
	got := make(chan int, 2)
	errs := make(chan error, 2)
	for _, st := range []*DB{a, b} {
		go func() {
			n := 0
			errs <- st.ClaimStatusNotes(ctx, upTo, func(_ Tx, ns []StatusNote) error {
				n += len(ns)
				return nil
			})
			got <- n
		}()
	}
	total := 0
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatalf("ClaimStatusNotes = %v", err)
		}
		total += <-got
	}
	if total != 3 {
		t.Fatalf("changes claimed %d times in all, want 3", total)
	}
}
