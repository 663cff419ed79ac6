package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchwell/core"
)

// Several writers at once: on PostgreSQL each list has its own writer
// (lockList), and what is not tied to a list keeps itself right (pgWrites
// in postgres.go). These tests open two handles on one database, as two
// nodes have.

// twoNodes opens two handles on one PostgreSQL database with lists a and
// b (a's id below b's); on SQLite the test skips.
func twoNodes(t *testing.T) (n1, n2 *DB, a, b *List) {
	t.Helper()
	if !onPostgres() {
		t.Skip("SQLite has one writer per database")
	}
	ctx := context.Background()
	open := opener(t)
	for _, p := range []**DB{&n1, &n2} {
		st, err := open()
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		t.Cleanup(func() { st.Close() })
		*p = st
	}
	var err error
	if a, err = n1.CreateList(ctx, List{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if b, err = n1.CreateList(ctx, List{Name: "b"}); err != nil {
		t.Fatal(err)
	}
	return n1, n2, a, b
}

// holdWrite starts a write transaction on st that adds m and stays open
// until release is closed; it returns once m is added, and done reports
// how Update ended.
func holdWrite(t *testing.T, st *DB, m *NewMessage) (release chan struct{}, done chan error) {
	t.Helper()
	added := make(chan error, 1)
	release, done = make(chan struct{}), make(chan error, 1)
	go func() {
		done <- st.Update(context.Background(), func(tx Tx) error {
			_, err := tx.AddMessage(context.Background(), m)
			added <- err
			<-release
			return err
		})
	}()
	if err := <-added; err != nil {
		t.Fatalf("AddMessage() = %v", err)
	}
	return release, done
}

// TestWritersOfTwoLists: while one node holds a write transaction open on
// list a, the other writes to list b without waiting, and what it wrote is
// visible (Generation changed, b's head moved, a's did not); a write to a
// waits for the open one and gets the next UID after it.
func TestWritersOfTwoLists(t *testing.T) {
	n1, n2, a, b := twoNodes(t)
	ctx := context.Background()
	release, done := holdWrite(t, n1, msg(a, "a1@x"))
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	gen, err := n2.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	quick, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var got *Added
	err = n2.Update(quick, func(tx Tx) error {
		var err error
		got, err = tx.AddMessage(quick, msg(b, "b1@x"))
		return err
	})
	if err != nil {
		t.Fatalf("a write to list b while list a's writer is open: %v", err)
	}
	if got.UID != 1 {
		t.Errorf("b1: uid %d", got.UID)
	}
	if g, err := n2.Generation(ctx); err != nil || g == gen {
		t.Errorf("Generation() = %d, %v after a commit, before %d", g, err, gen)
	}
	heads, err := n2.ListHeads(ctx)
	if err != nil || heads[a.ID] != 1 || heads[b.ID] != 2 {
		t.Errorf("ListHeads() = %v, %v; want a 1 (nothing committed), b 2", heads, err)
	}

	second := make(chan *Added, 1)
	go func() {
		var got *Added
		err := n2.Update(ctx, func(tx Tx) error {
			var err error
			got, err = tx.AddMessage(ctx, msg(a, "a2@x"))
			return err
		})
		if err != nil {
			t.Error(err)
		}
		second <- got
	}()
	select {
	case <-second:
		t.Fatal("a second writer of list a did not wait for the open one")
	case <-time.After(500 * time.Millisecond):
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("the held write: %v", err)
	}
	if a2 := <-second; a2 == nil || a2.UID != 2 {
		t.Fatalf("a2 = %+v, want uid 2 (after the held a1)", a2)
	}
	es, err := n1.MailboxEntries(ctx, a.ID, 1, 3)
	if err != nil || len(es) != 2 || es[0].UID != 1 || es[1].UID != 2 {
		t.Errorf("MailboxEntries(a) = %+v, %v", es, err)
	}
}

// TestListsTakenOutOfOrder: one transaction writes list b, then a; the
// other a, then b. The first finds a busy out of order, is rolled back and
// run again with both lists taken in order: both commit, no deadlock, and
// each list's UIDs follow commit order.
func TestListsTakenOutOfOrder(t *testing.T) {
	n1, n2, a, b := twoNodes(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hasB, hasA := make(chan struct{}), make(chan struct{})
	var runs int
	var wg sync.WaitGroup
	wg.Add(2)
	errs := make(chan error, 2)
	go func() { // b, then a
		defer wg.Done()
		errs <- n1.Update(ctx, func(tx Tx) error {
			runs++
			if _, err := tx.AddMessage(ctx, msg(b, "first-b@x")); err != nil {
				return err
			}
			if runs == 1 {
				close(hasB)
				<-hasA
			}
			_, err := tx.AddMessage(ctx, msg(a, "first-a@x"))
			return err
		})
	}()
	go func() { // a, then b
		defer wg.Done()
		<-hasB
		errs <- n2.Update(ctx, func(tx Tx) error {
			if _, err := tx.AddMessage(ctx, msg(a, "second-a@x")); err != nil {
				return err
			}
			close(hasA)
			_, err := tx.AddMessage(ctx, msg(b, "second-b@x"))
			return err
		})
	}()
	wg.Wait()
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if runs != 2 {
		t.Errorf("the b-then-a transaction ran %d times, want 2 (rolled back once)", runs)
	}
	for _, c := range []struct {
		list  string
		order []string
	}{{"a", []string{"second-a@x", "first-a@x"}}, {"b", []string{"second-b@x", "first-b@x"}}} {
		var got []string
		err := n1.Scan(ctx, c.list, func(m *Message) error {
			got = append(got, fmt.Sprintf("%d %s", m.UID, m.MessageID))
			return nil
		})
		want := []string{"1 " + c.order[0], "2 " + c.order[1]}
		if err != nil || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("list %s: %v, %v; want %v", c.list, got, err, want)
		}
	}
}

// TestJobClaimAcrossNodes: workers on two nodes never claim one job twice.
func TestJobClaimAcrossNodes(t *testing.T) {
	n1, n2, a, _ := twoNodes(t)
	ctx := context.Background()
	for _, id := range newSeries(t, n1, a.ID, 60) {
		if _, _, err := n1.EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w, st := range []*DB{n1, n2, n1, n2} {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			for {
				j, err := st.ClaimJob(ctx, owner, time.Minute)
				if err != nil || j == nil {
					if err != nil {
						t.Error(err)
					}
					return
				}
				mu.Lock()
				if o, ok := seen[j.ID]; ok {
					t.Errorf("job %d claimed by %s and %s", j.ID, o, owner)
				}
				seen[j.ID] = owner
				mu.Unlock()
			}
		}(fmt.Sprint("w", w))
	}
	wg.Wait()
	if len(seen) != 60 {
		t.Errorf("%d jobs claimed, want 60", len(seen))
	}
}

// TestConsumedOnceAcrossNodes: an e-mail or subscription confirmation
// taken by two nodes at once works for one of them only.
func TestConsumedOnceAcrossNodes(t *testing.T) {
	n1, n2, a, _ := twoNodes(t)
	ctx := context.Background()
	u, err := n1.CreateUser(ctx, User{Email: "u@x.org"}, "h")
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	for i := range 30 {
		hash := []byte(fmt.Sprintf("c%d", i))
		if err := n1.CreateConfirmation(ctx, u.ID, hash, exp); err != nil {
			t.Fatal(err)
		}
		if err := n1.AddSubConfirmation(ctx, hash, a.Name, "s@x.org", "subscribe", exp); err != nil {
			t.Fatal(err)
		}
		for _, take := range []func(st *DB) error{
			func(st *DB) error { _, err := st.Confirm(ctx, hash, time.Now()); return err },
			func(st *DB) error { _, _, _, err := st.TakeSubConfirmation(ctx, hash, time.Now()); return err },
		} {
			errs := make(chan error, 2)
			for _, st := range []*DB{n1, n2} {
				go func() { errs <- take(st) }()
			}
			e1, e2 := <-errs, <-errs
			if (e1 == nil) == (e2 == nil) || !errors.Is(e1, ErrNotFound) && !errors.Is(e2, ErrNotFound) {
				t.Fatalf("confirmation %d taken twice at once: %v and %v (want one nil, one not found)", i, e1, e2)
			}
		}
	}
}

// TestOutboxSentAcrossNodes: two nodes finishing the two deliveries of one
// message at once leave it marked sent.
func TestOutboxSentAcrossNodes(t *testing.T) {
	n1, n2, a, _ := twoNodes(t)
	ctx := context.Background()
	for i := range 30 {
		var box int64
		err := n1.Update(ctx, func(tx Tx) error {
			var err error
			box, err = tx.AddOutbox(ctx, OutboxMessage{ListID: a.ID, MessageID: fmt.Sprintf("m%d@x", i), Raw: []byte("Subject: x\r\n\r\nx\r\n")})
			if err != nil {
				return err
			}
			return tx.QueueDeliveries(ctx, box, []string{"r1@x.org", "r2@x.org"})
		})
		if err != nil {
			t.Fatal(err)
		}
		ds, err := n1.Deliveries(ctx, box)
		if err != nil || len(ds) != 2 {
			t.Fatalf("Deliveries() = %v, %v", ds, err)
		}
		errs := make(chan error, 2)
		for k, st := range []*DB{n1, n2} {
			go func() { errs <- st.MarkSent(ctx, []int64{ds[k].ID}, time.Now()) }()
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		box1, err := n1.Outbox(ctx, "sent")
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, m := range box1 {
			found = found || m.ID == box
		}
		if !found {
			t.Fatalf("message %d: both deliveries sent, the message not marked sent", i)
		}
	}
}

// TestSeriesWithPatchIDs: per series, how many of the given patch-ids it
// carries (a patch-id given twice counts twice; "" none), in one query
// per 50 patch-ids.
func TestSeriesWithPatchIDs(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	other, err := st.CreateList(ctx, List{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	var s1, s2, s3 int64
	err = st.Update(ctx, func(tx Tx) error {
		for i, c := range []struct {
			list int64
			id   *int64
			pids []string
		}{{l.ID, &s1, []string{"a", "b", "c"}}, {l.ID, &s2, []string{"b", "c", "d"}}, {other.ID, &s3, []string{"a", "b"}}} {
			a, err := tx.AddMessage(ctx, msg(&List{ID: c.list}, fmt.Sprintf("s%d@x", i)))
			if err != nil {
				return err
			}
			if *c.id, err = tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Total: len(c.pids), MessageID: a.MessageID}, "s", "", c.list); err != nil {
				return err
			}
			for k, pid := range c.pids {
				if err := tx.AddPatch(ctx, &Patch{SeriesID: *c.id, Index: k + 1, Subject: "p", PatchID: pid}, a.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	many := []string{"x", "", "c", "b", "c"}
	for i := range 60 {
		many = append(many, fmt.Sprintf("none%d", i))
	}
	many = append(many, "d")
	err = st.Update(ctx, func(tx Tx) error {
		got, err := tx.SeriesWithPatchIDs(ctx, l.ID, many)
		if err != nil {
			return err
		}
		if want := map[int64]int{s1: 3, s2: 4}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("SeriesWithPatchIDs() = %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMessageSeries: the series of the messages a patch names, right
// after AddMessage (PostgreSQL asks with its lookUp) and after a series
// was written (it asks again). A reused Message-ID counts its first
// message's series; ids without a series, unknown or "" are left out.
func TestMessageSeries(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	err := st.Update(ctx, func(tx Tx) error {
		series := map[string]int64{}
		for _, id := range []string{"a@x", "b@x"} {
			a, err := tx.AddMessage(ctx, msg(l, id))
			if err != nil {
				return err
			}
			sid, err := tx.CreateSeries(ctx, &Series{Subject: id, Version: 1, Total: 1, MessageID: id}, id, "", l.ID)
			if err != nil {
				return err
			}
			if err := tx.SetMessageSeries(ctx, a.ID, sid, core.KindPatch); err != nil {
				return err
			}
			series[id] = sid
		}
		again := msg(l, "a@x") // a@x reused, another series
		again.Raw = append(again.Raw, "again\n"...)
		a, err := tx.AddMessage(ctx, again)
		if err != nil {
			return err
		}
		sid, err := tx.CreateSeries(ctx, &Series{Subject: "again", Version: 1, Total: 1, MessageID: "a@x"}, "again", "", l.ID)
		if err != nil {
			return err
		}
		if err := tx.SetMessageSeries(ctx, a.ID, sid, core.KindPatch); err != nil {
			return err
		}
		if _, err := tx.AddMessage(ctx, msg(l, "c@x")); err != nil { // no series
			return err
		}
		p := msg(l, "p@x", "a@x", "c@x", "unknown@x", "b@x")
		p.Kind = core.KindPatch
		pa, err := tx.AddMessage(ctx, p)
		if err != nil {
			return err
		}
		want := map[string]int64{"a@x": series["a@x"], "b@x": series["b@x"]}
		for _, ids := range [][]string{p.References, {"a@x", "", "b@x", "p@x"}, {"elsewhere@x", "a@x", "b@x"}} {
			got, err := tx.MessageSeries(ctx, l.ID, ids)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("MessageSeries(%q) (-want +got):\n%s", ids, diff)
			}
		}
		// The patch joins b@x's series: the answer changes with it.
		if err := tx.SetMessageSeries(ctx, pa.ID, series["b@x"], core.KindPatch); err != nil {
			return err
		}
		got, err := tx.MessageSeries(ctx, l.ID, []string{"p@x", "a@x"})
		if err != nil {
			return err
		}
		if want := map[string]int64{"a@x": series["a@x"], "p@x": series["b@x"]}; !cmp.Equal(got, want) {
			t.Errorf("MessageSeries() after SetMessageSeries = %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestRevisions: every clue to an older revision at once: the same
// subject or change-id (lower ids only), a patch's commit subject (of
// the same submitter), and the series sharing patch-ids, counted per
// patch of s.
func TestRevisions(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	type def struct {
		subject, submitter, change string
		patches                    [][2]string // commit subject, patch-id
	}
	defs := []def{
		{"fix it", "a@x", "", [][2]string{{"one", "p1"}, {"two", "p2"}}},
		{"other", "a@x", "I1", [][2]string{{"two", "p2"}, {"three", "p3"}}},
		{"fix it", "b@x", "", [][2]string{{"one", "p1"}}},
		{"fix it", "a@x", "I1", [][2]string{{"one", "p1"}, {"two", "p2"}, {"x", ""}}}, // s
	}
	ids := make([]int64, len(defs))
	err := st.Update(ctx, func(tx Tx) error {
		for i, d := range defs {
			a, err := tx.AddMessage(ctx, msg(l, fmt.Sprintf("s%d@x", i)))
			if err != nil {
				return err
			}
			s := &Series{Subject: d.subject, Version: 1, Total: len(d.patches), MessageID: a.MessageID, ChangeID: d.change,
				Submitter: core.Person{Email: d.submitter}}
			if ids[i], err = tx.CreateSeries(ctx, s, d.subject, "", l.ID); err != nil {
				return err
			}
			for k, p := range d.patches {
				if err := tx.AddPatch(ctx, &Patch{SeriesID: ids[i], Index: k + 1, Subject: p[0], CommitSubject: p[0], PatchID: p[1]}, a.ID); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = st.Update(ctx, func(tx Tx) error {
		s, err := tx.Series(ctx, ids[3])
		if err != nil {
			return err
		}
		for _, subj := range []string{"two", ""} {
			r, err := tx.Revisions(ctx, l.ID, s, "fix it", subj)
			if err != nil {
				return err
			}
			seriesIDs := func(list []Series) []int64 {
				var out []int64
				for _, x := range list {
					out = append(out, x.ID)
				}
				return out
			}
			var want []int64
			if diff := cmp.Diff([]int64{ids[1], ids[0]}, seriesIDs(r.ByName)); diff != "" {
				t.Errorf("ByName (-want +got):\n%s", diff)
			}
			want = nil
			if subj != "" {
				want = []int64{ids[3], ids[1], ids[0]}
			}
			if diff := cmp.Diff(want, seriesIDs(r.ByPatchSubject)); diff != "" {
				t.Errorf("ByPatchSubject(%q) (-want +got):\n%s", subj, diff)
			}
			if r.PatchIDs != 3 {
				t.Errorf("PatchIDs = %d, want 3", r.PatchIDs)
			}
			if diff := cmp.Diff(map[int64]int{ids[0]: 2, ids[1]: 1, ids[2]: 1, ids[3]: 2}, r.ByPatchIDs); diff != "" {
				t.Errorf("ByPatchIDs (-want +got):\n%s", diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMessageSeriesSet: a message's series and kind, set in the
// transaction that adds it, whatever comes between (on PostgreSQL its
// INSERT is held until then, or until a statement that may read it),
// and its patch, which goes after it.
func TestMessageSeriesSet(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	steps := map[string]func(tx Tx, a *Added, sid int64) error{
		"at once": func(tx Tx, a *Added, sid int64) error { return nil },
		"after a series read": func(tx Tx, a *Added, sid int64) error {
			_, err := tx.SeriesByStem(ctx, l.ID, "x@x", "stem")
			return err
		},
		"after a message read": func(tx Tx, a *Added, sid int64) error {
			_, err := tx.MessageSeries(ctx, l.ID, []string{"elsewhere@x"})
			return err
		},
		"after a patch read": func(tx Tx, a *Added, sid int64) error {
			_, err := tx.PatchIndexes(ctx, sid)
			return err
		},
		"after the same bytes again": func(tx Tx, a *Added, sid int64) error {
			d, err := tx.AddMessage(ctx, msg(l, a.MessageID))
			if err == nil && (!d.Duplicate || d.ID != a.ID) {
				t.Errorf("same bytes again: duplicate %v, id %d, want %d", d.Duplicate, d.ID, a.ID)
			}
			return err
		},
	}
	want := map[string]int64{}
	err := st.Update(ctx, func(tx Tx) error {
		for name, step := range steps {
			a, err := tx.AddMessage(ctx, msg(l, name+"@x"))
			if err != nil {
				return err
			}
			sid, err := tx.CreateSeries(ctx, &Series{Subject: name, Version: 1, Total: 1, MessageID: a.MessageID}, name, "", l.ID)
			if err != nil {
				return err
			}
			if err := tx.AddPatch(ctx, &Patch{SeriesID: sid, Index: 1, Subject: name, PatchID: name}, a.ID); err != nil {
				return err
			}
			if err := step(tx, a, sid); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := tx.SetMessageSeries(ctx, a.ID, sid, core.KindPatch); err != nil {
				return err
			}
			want[name+"@x"] = sid
		}
		// The last one's series comes with the commit.
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for id, sid := range want {
		m, err := st.Message(ctx, l.Name, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.SeriesID != sid || m.Kind != core.KindPatch {
			t.Errorf("%s: series %d, kind %q; want %d, %q", id, m.SeriesID, m.Kind, sid, core.KindPatch)
		}
		p, err := st.Patches(ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) != 1 || p[0].MessageID != id {
			t.Errorf("%s: patches %+v", id, p)
		}
	}
}

// TestSeriesByStem: a patch's series by its Message-ID's stem, right
// after AddMessage (PostgreSQL asks with its lookUp), and after a series
// with that stem was created.
func TestSeriesByStem(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	err := st.Update(ctx, func(tx Tx) error {
		newSeries := func(stem, submitter string) (int64, error) {
			return tx.CreateSeries(ctx, &Series{Subject: stem, Version: 1, Total: 2, MessageID: stem,
				Submitter: core.Person{Email: submitter}}, stem, stem, l.ID)
		}
		s1, err := newSeries("a-*-x@x", "me@x")
		if err != nil {
			return err
		}
		if _, err := newSeries("a-*-x@x", "other@x"); err != nil {
			return err
		}
		for _, c := range []struct {
			id, stem string
			create   bool // a series with the stem before asking
			want     []int64
		}{
			{"a-2-x@x", "a-*-x@x", false, []int64{s1}},
			{"b-1-x@x", "b-*-x@x", false, nil},
			{"b-2-x@x", "b-*-x@x", true, nil}, // want: the new one
		} {
			m := msg(l, c.id)
			m.From = core.Person{Email: "Me@x"}
			m.Kind, m.Stem = core.KindPatch, c.stem
			if _, err := tx.AddMessage(ctx, m); err != nil {
				return err
			}
			want := c.want
			if c.create {
				sid, err := newSeries(c.stem, "me@x")
				if err != nil {
					return err
				}
				want = []int64{sid}
			}
			got, err := tx.SeriesByStem(ctx, l.ID, "me@x", c.stem)
			if err != nil {
				return err
			}
			var ids []int64
			for _, s := range got {
				ids = append(ids, s.ID)
			}
			if diff := cmp.Diff(want, ids); diff != "" {
				t.Errorf("%s: SeriesByStem() (-want +got):\n%s", c.id, diff)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestThreadingOneTransaction: threads made and merged within one
// transaction (on PostgreSQL a new thread's row is written at commit,
// with its counts) come out as when each message has its own.
func TestThreadingOneTransaction(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	err := st.Update(ctx, func(tx Tx) error {
		for _, m := range []*NewMessage{
			msg(l, "c2@x", "root@x", "c1@x"), msg(l, "other@x"), msg(l, "c1@x", "root@x"), msg(l, "root@x"),
			msg(l, "c3@x", "c2@x"), msg(l, "x@x", "ghost@x"), msg(l, "y@x", "other@x", "ghost@x"),
		} {
			m.Date = m.Date.Add(time.Duration(len(m.References)) * time.Hour)
			if _, err := tx.AddMessage(ctx, m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	th, err := st.Threads(ctx, "dev", Page{})
	if err != nil {
		t.Fatalf("Threads() = %v", err)
	}
	type sum struct {
		Root                  string
		Messages              int
		FirstHours, LastHours int
	}
	var got []sum
	for _, x := range th {
		got = append(got, sum{x.RootMessageID, x.Messages, int(x.FirstDate.Sub(time.Unix(1700000000, 0)).Hours()), int(x.LastDate.Sub(time.Unix(1700000000, 0)).Hours())})
	}
	want := []sum{{"other@x", 3, 0, 2}, {"root@x", 4, 0, 2}}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b sum) bool { return a.Root < b.Root })); diff != "" {
		t.Errorf("Threads() (-want +got):\n%s", diff)
	}
}

// TestExpect: a transaction told of its messages beforehand (Expect)
// stores them as one that looks each up: duplicates of earlier and of
// its own messages, reused Message-IDs, threads that meet, a patch, a
// message it was not told of.
func TestExpect(t *testing.T) {
	ctx := context.Background()
	run := func(expect bool) ([]Added, []Thread) {
		st, l := mustOpen(t)
		err := st.Update(ctx, func(tx Tx) error {
			for _, m := range []*NewMessage{msg(l, "old@x"), msg(l, "t1@x", "old@x"), msg(l, "far@x", "ghost@x")} {
				if _, err := tx.AddMessage(ctx, m); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		reused := msg(l, "new1@x")
		reused.Raw = append(reused.Raw, "again\n"...)
		patch := msg(l, "p@x", "a@x")
		patch.Kind = core.KindPatch
		batch := []*NewMessage{msg(l, "old@x"), msg(l, "new1@x", "old@x"), reused, msg(l, "twice@x"), msg(l, "twice@x"),
			msg(l, "a@x", "ghost@x"), msg(l, "b@x", "b0@x"), patch, msg(l, "c@x", "b@x", "ghost@x"), msg(l, "d@x", "c@x", "far@x"),
			msg(l, "g@x", "b0@x")}
		late := msg(l, "e@x", "b@x", "unknown@x")
		var got []Added
		err = st.Update(ctx, func(tx Tx) error {
			got = nil
			if expect {
				if err := tx.Expect(ctx, l.ID, batch); err != nil {
					return err
				}
			}
			for _, m := range append(batch[:len(batch):len(batch)], late, msg(l, "f@x", "unknown@x")) {
				a, err := tx.AddMessage(ctx, m)
				if err != nil {
					return err
				}
				got = append(got, *a)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		th, err := st.Threads(ctx, "dev", Page{})
		if err != nil {
			t.Fatal(err)
		}
		return got, th
	}
	wantAdded, wantThreads := run(false)
	gotAdded, gotThreads := run(true)
	type row struct {
		ID, ThreadID int64
		UID          uint32
		Flags        int
		Duplicate    bool
	}
	rows := func(as []Added) (out []row) {
		for _, a := range as {
			out = append(out, row{a.ID, a.ThreadID, a.UID, int(a.Flags), a.Duplicate})
		}
		return out
	}
	if diff := cmp.Diff(rows(wantAdded), rows(gotAdded)); diff != "" {
		t.Errorf("AddMessage after Expect (-without +with):\n%s", diff)
	}
	if diff := cmp.Diff(wantThreads, gotThreads); diff != "" {
		t.Errorf("Threads after Expect (-without +with):\n%s", diff)
	}
	var dups, taken int
	for _, a := range gotAdded {
		if a.Duplicate {
			dups++
		} else if a.Flags&FlagDupMessageID != 0 {
			taken++
		}
	}
	if dups != 2 || taken != 1 {
		t.Errorf("duplicates %d, reused Message-IDs %d; want 2, 1", dups, taken)
	}
}

// TestExpectSeries: what series assembly asks (MessageSeries,
// SeriesByStem) gets the same answers after Expect as without it, while
// the transaction adds messages, creates series and sets and clears
// messages' series (which Expect's answers must follow).
func TestExpectSeries(t *testing.T) {
	ctx := context.Background()
	run := func(expect bool) []string {
		st, l := mustOpen(t)
		patch := func(id, from, stem string, refs ...string) *NewMessage {
			m := msg(l, id, refs...)
			m.Kind, m.Stem, m.From = core.KindPatch, stem, core.Person{Email: from}
			return m
		}
		var log []string
		note := func(tx Tx, what string) error {
			ms, err := tx.MessageSeries(ctx, l.ID, []string{"old@x", "c@x", "p1@x", "p2@x", "r@x"}) // all named by the batch
			if err != nil {
				return err
			}
			var stems []int64
			for _, k := range [][2]string{{"a@x", "stem"}, {"b@x", "s2"}, {"b@x", "s3"}} {
				ss, err := tx.SeriesByStem(ctx, l.ID, k[0], k[1])
				if err != nil {
					return err
				}
				stems = append(stems, int64(len(ss)))
				for _, s := range ss {
					stems = append(stems, s.ID)
				}
			}
			log = append(log, fmt.Sprintf("%s: %v %v", what, ms, stems))
			return nil
		}
		create := func(tx Tx, from, stem string, a *Added) (int64, error) {
			return tx.CreateSeries(ctx, &Series{Subject: stem, Version: 1, Status: StatusProposed, Total: 2,
				Submitter: core.Person{Email: from}, MessageID: a.MessageID, ThreadID: a.ThreadID}, stem, stem, l.ID)
		}
		err := st.Update(ctx, func(tx Tx) error {
			old, err := tx.AddMessage(ctx, patch("old@x", "a@x", "stem"))
			if err != nil {
				return err
			}
			s1, err := create(tx, "a@x", "stem", old)
			if err != nil {
				return err
			}
			return tx.SetMessageSeries(ctx, old.ID, s1, core.KindPatch)
		})
		if err != nil {
			t.Fatal(err)
		}
		again := patch("old@x", "a@x", "stem")
		again.Raw = append(again.Raw, "again\n"...)
		batch := []*NewMessage{patch("c@x", "B@x", "s2"), patch("p1@x", "b@x", "s2", "c@x"), again,
			patch("p2@x", "b@x", "s3", "c@x"), msg(l, "r@x", "c@x", "p1@x")}
		batch[0].Kind = core.KindCover
		err = st.Update(ctx, func(tx Tx) error {
			log = nil
			if expect {
				if err := tx.Expect(ctx, l.ID, batch); err != nil {
					return err
				}
			}
			if err := note(tx, "start"); err != nil {
				return err
			}
			add := func(i int) (*Added, error) { return tx.AddMessage(ctx, batch[i]) }
			c, err := add(0)
			if err != nil {
				return err
			}
			s2, err := create(tx, "b@x", "s2", c)
			if err != nil {
				return err
			}
			if err := note(tx, "s2 created"); err != nil {
				return err
			}
			step := func(what string, a *Added, sid int64) error {
				if err := tx.SetMessageSeries(ctx, a.ID, sid, a.Kind); err != nil {
					return err
				}
				return note(tx, what)
			}
			if err := step("c in s2", c, s2); err != nil {
				return err
			}
			p1, err := add(1)
			if err != nil {
				return err
			}
			if err := step("p1 in s2", p1, s2); err != nil {
				return err
			}
			o2, err := add(2)
			if err != nil {
				return err
			}
			if err := step("second old@x in s2", o2, s2); err != nil {
				return err
			}
			if err := step("second old@x in none", o2, 0); err != nil {
				return err
			}
			if err := step("c in none", c, 0); err != nil {
				return err
			}
			if err := step("c in s2 again", c, s2); err != nil {
				return err
			}
			p2, err := add(3)
			if err != nil {
				return err
			}
			if _, err := create(tx, "b@x", "s3", p2); err != nil {
				return err
			}
			if _, err := add(4); err != nil {
				return err
			}
			return note(tx, "end")
		})
		if err != nil {
			t.Fatal(err)
		}
		return log
	}
	want := run(false)
	got := run(true)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("series answers after Expect (-without +with):\n%s", diff)
	}
	if len(want) != 9 || want[0] != "start: map[old@x:1] [1 1 0 0]" || want[8] != "end: map[c@x:2 old@x:1 p1@x:2] [1 1 1 2 1 3]" {
		t.Errorf("series answers without Expect:\n%s", strings.Join(want, "\n"))
	}
}
