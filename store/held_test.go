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
