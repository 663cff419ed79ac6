package store

import (
	"context"
	"testing"
	"time"
)

// TestResolutions: marking a comment resolved twice keeps the newest mark,
// clearing it removes it.
func TestResolutions(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	r := Resolution{ReplyMessageID: "r@x", PatchMessageID: "p@x", File: "a.c", Side: "b", Line: 3, By: "one@x", At: time.Unix(1000, 0)}
	set := func(r Resolution, resolved bool) {
		t.Helper()
		if err := st.Update(ctx, func(tx Tx) error { return tx.SetResolution(ctx, r, resolved) }); err != nil {
			t.Fatalf("SetResolution(%v) = %v", resolved, err)
		}
	}
	set(r, true)
	r2 := r
	r2.By, r2.At = "two@x", time.Unix(2000, 0)
	set(r2, true)
	got, err := st.Resolutions(ctx, []string{"p@x"})
	if err != nil || len(got) != 1 || got[0].By != "two@x" || got[0].At.Unix() != 2000 {
		t.Fatalf("Resolutions() = %+v, %v", got, err)
	}
	set(r, false)
	if got, _ := st.Resolutions(ctx, nil); len(got) != 0 {
		t.Errorf("after clearing: %+v", got)
	}
}
