package store

import (
	"context"
	"fmt"
	"testing"

	"patchwell/core"
)

// TestHeldMessages: on PostgreSQL up to pgHeldRows new messages wait
// for one multi-row INSERT (release), and their patches for another;
// a message's series set after later messages were added goes into its
// held row, and a read of patches in between sees them all, as it would
// have without holding. (An import's messages, told to Expect, whose
// lookups then send no statement.)
func TestHeldMessages(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	n := 2*pgHeldRows + 3
	want := map[string]int64{}
	var batch []*NewMessage
	for i := range n {
		batch = append(batch, msg(l, fmt.Sprintf("m%d@x", i)))
	}
	first := map[int64]int64{} // series -> its patches seen mid-way
	err := st.Update(ctx, func(tx Tx) error {
		if err := tx.Expect(ctx, l.ID, batch); err != nil {
			return err
		}
		var prev *Added
		var prevSeries, firstSeries int64
		for i := range n {
			a, err := tx.AddMessage(ctx, batch[i])
			if err != nil {
				return err
			}
			sid, err := tx.CreateSeries(ctx, &Series{Subject: a.MessageID, Version: 1, Total: 1, MessageID: a.MessageID}, "s", "", l.ID)
			if err != nil {
				return err
			}
			if err := tx.AddPatch(ctx, &Patch{SeriesID: sid, Index: 1, Subject: a.MessageID}, a.ID); err != nil {
				return err
			}
			// The previous message's series, set once this one is
			// held too.
			if prev != nil {
				if err := tx.SetMessageSeries(ctx, prev.ID, prevSeries, core.KindPatch); err != nil {
					return err
				}
				want[prev.MessageID] = prevSeries
			}
			if w, ok := tx.(*writeTx); ok && w.pg && i == 2 && len(w.held) != 3 {
				t.Errorf("%d messages held after 3, want 3", len(w.held))
			}
			if i == 0 {
				firstSeries = sid
			}
			if i == pgHeldRows+pgHeldRows/2 {
				// A read of patches sees the held ones.
				for _, s := range []int64{firstSeries, prevSeries, sid} {
					got, err := tx.PatchIndexes(ctx, s)
					if err != nil {
						return err
					}
					first[s] = int64(len(got))
				}
			}
			prev, prevSeries = a, sid
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for s, n := range first {
		if n != 1 {
			t.Errorf("series %d: %d patches seen mid-way, want 1", s, n)
		}
	}
	for i := range n {
		id := fmt.Sprintf("m%d@x", i)
		m, err := st.Message(ctx, l.Name, id)
		if err != nil {
			t.Fatal(err)
		}
		if m.SeriesID != want[id] || (want[id] != 0) != (m.Kind == core.KindPatch) {
			t.Errorf("%s: series %d, kind %q; want %d", id, m.SeriesID, m.Kind, want[id])
		}
		if m.SeriesID == 0 {
			continue
		}
		ps, err := st.Patches(ctx, m.SeriesID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ps) != 1 || ps[0].MessageID != id {
			t.Errorf("%s: patches %+v", id, ps)
		}
	}
}

// TestHeldSeries: on PostgreSQL a new series' INSERT takes in the
// UpdateSeries that follow it, and of an older series only the last
// UPDATE is sent; a read of series sees them as written, and so does
// the commit.
func TestHeldSeries(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	var old int64
	err := st.Update(ctx, func(tx Tx) (err error) {
		old, err = tx.CreateSeries(ctx, &Series{Subject: "old", Version: 1, Total: 3, Status: StatusProposed}, "old", "", l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := []*NewMessage{msg(l, "a@x")}
	var a, b int64
	err = st.Update(ctx, func(tx Tx) error {
		if err := tx.Expect(ctx, l.ID, batch); err != nil {
			return err
		}
		s := &Series{Subject: "a", Version: 2, Total: 2, Status: StatusProposed, Submitter: core.Person{Email: "x@x"}}
		var err error
		if a, err = tx.CreateSeries(ctx, s, "a", "stem", l.ID); err != nil {
			return err
		}
		for i := range 2 {
			s.Received, s.Subject, s.Previous = i+1, fmt.Sprintf("a%d", i), old
			if err := tx.UpdateSeries(ctx, s, s.Subject); err != nil {
				return err
			}
		}
		o := &Series{ID: old, Subject: "old", Version: 1, Total: 3, Status: StatusSuperseded, SupersededBy: a}
		for i := range 2 {
			o.Received = i + 1
			if err := tx.UpdateSeries(ctx, o, "old"); err != nil {
				return err
			}
		}
		if w, ok := tx.(*writeTx); ok && w.pg && len(w.seriesOrder) != 2 {
			t.Errorf("%d series held, want 2", len(w.seriesOrder))
		}
		// A read of series sees them.
		got, err := tx.SeriesByStem(ctx, l.ID, "x@x", "stem")
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0].ID != a || got[0].Received != 2 || got[0].Subject != "a1" || got[0].Previous != old {
			t.Errorf("SeriesByStem with series held = %+v", got)
		}
		if o, err := tx.Series(ctx, old); err != nil || o.Received != 2 || o.SupersededBy != a {
			t.Errorf("Series(old) with its update held = %+v, %v", o, err)
		}
		// Held again after the read, and then committed.
		s2 := &Series{Subject: "b", Version: 1, Total: 1, Status: StatusProposed}
		if b, err = tx.CreateSeries(ctx, s2, "b", "", l.ID); err != nil {
			return err
		}
		s2.Received = 1
		if err := tx.UpdateSeries(ctx, s2, "b"); err != nil {
			return err
		}
		s.Received = 3
		return tx.UpdateSeries(ctx, s, s.Subject)
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		id       int64
		received int
		subject  string
	}{{a, 3, "a1"}, {old, 2, "old"}, {b, 1, "b"}} {
		s, err := st.Series(ctx, c.id)
		if err != nil {
			t.Fatal(err)
		}
		if s.Received != c.received || s.Subject != c.subject {
			t.Errorf("series %d: received %d, subject %q; want %d, %q", c.id, s.Received, s.Subject, c.received, c.subject)
		}
	}
}

// TestExpectIDs: on PostgreSQL Expect takes ids for the batch's messages
// and patches in its query, and AddMessage and AddPatch use them in
// order without fetching a block of their own (newID).
func TestExpectIDs(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	var batch []*NewMessage
	for i := range 40 {
		m := msg(l, fmt.Sprintf("e%d@x", i))
		m.Kind = core.KindPatch
		batch = append(batch, m)
	}
	err := st.Update(ctx, func(tx Tx) error {
		if err := tx.Expect(ctx, l.ID, batch); err != nil {
			return err
		}
		sid, err := tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Total: 40}, "s", "", l.ID)
		if err != nil {
			return err
		}
		var last, lastPatch int64
		for i, m := range batch {
			a, err := tx.AddMessage(ctx, m)
			if err != nil {
				return err
			}
			p := &Patch{SeriesID: sid, Index: i + 1, Subject: m.Subject}
			if err := tx.AddPatch(ctx, p, a.ID); err != nil {
				return err
			}
			if a.ID <= last || p.ID <= lastPatch {
				t.Errorf("message %d: id %d after %d, patch id %d after %d", i, a.ID, last, p.ID, lastPatch)
			}
			last, lastPatch = a.ID, p.ID
		}
		if w, ok := tx.(*writeTx); ok && w.pg {
			for _, k := range []idKey{{"messages", l.ID}, {"patches", 0}} {
				if b := w.ids[k]; b == nil || b.size != 128 || len(b.free) != 0 {
					t.Errorf("%s ids: %+v, want Expect's 40 all used, no block fetched", k.table, b)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
