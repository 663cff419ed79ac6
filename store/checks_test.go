package store

import (
	"context"
	"errors"
	"testing"
)

func TestChecks(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	var sid int64
	err := st.Update(ctx, func(tx Tx) error {
		var err error
		sid, err = tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Total: 1, MessageID: "s@x"}, "s", "s", l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := st.SetCheck(ctx, &Check{SeriesID: sid, Context: "build", State: CheckPending, Description: "queued"})
	if err != nil || c.ID == 0 || c.State != CheckPending {
		t.Fatalf("SetCheck = %+v, %v", c, err)
	}
	// The same context again replaces it.
	c2, err := st.SetCheck(ctx, &Check{SeriesID: sid, Context: "build", State: CheckFail, Description: "does not compile", Log: "error: x"})
	if err != nil || c2.ID != c.ID || c2.State != CheckFail || c2.Log != "error: x" {
		t.Fatalf("replace = %+v, %v", c2, err)
	}
	st.SetCheck(ctx, &Check{SeriesID: sid, PatchIndex: 1, Context: "build", State: CheckSuccess})
	cs, err := st.Checks(ctx, sid)
	if err != nil || len(cs) != 2 || cs[0].PatchIndex != 0 || cs[1].PatchIndex != 1 {
		t.Fatalf("Checks = %+v, %v", cs, err)
	}
	if _, err := st.SetCheck(ctx, &Check{SeriesID: sid, Context: "build", State: "great"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad state: %v", err)
	}
	if _, err := st.SetCheck(ctx, &Check{SeriesID: sid, State: CheckSuccess}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no context: %v", err)
	}
	if _, err := st.SetCheck(ctx, &Check{SeriesID: 999, Context: "x", State: CheckSuccess}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown series: %v", err)
	}
}
