package server

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestHealthCheck: healthy, then each failure with its reason.
func TestHealthCheck(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data")
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	check := healthCheck(st, dir)
	if err := check(ctx); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".healthz-*")); len(m) != 0 {
		t.Errorf("files left behind: %v", m)
	}
	if err := check(ctx); err != nil {
		t.Fatalf("healthy again: %v", err)
	}
	other := healthCheck(st, filepath.Join(dir, "missing"))
	if err := other(ctx); err == nil || err.Error() != "data directory not writable: no such file or directory" {
		t.Errorf("missing directory: %v", err)
	}
	st.Close()
	if err := check(ctx); err == nil || err.Error() != "store does not answer" {
		t.Errorf("closed store: %v", err)
	}
}

// TestTimedJobs: a job is timed from its claim to its result; a held job
// and a result refused for a lost lease are not, and the refused one
// leaves the claim's time for the real result.
func TestTimedJobs(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	l, err := st.CreateList(ctx, store.List{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	err = st.Update(ctx, func(tx store.Tx) error {
		for _, mid := range []string{"a@x", "b@x", "c@x"} {
			id, err := tx.CreateSeries(ctx, &store.Series{Subject: "s", Version: 1, Total: 1, MessageID: mid}, "s", "s", l.ID)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	type obs struct {
		State string
		Timed bool
	}
	var got []obs
	tj := newTimedJobs(st, func(state string, d time.Duration) { got = append(got, obs{state, d > 0}) })
	for _, id := range ids {
		if _, _, err := tj.EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	claim := func(lease time.Duration) *store.Job {
		t.Helper()
		j, err := tj.ClaimJob(ctx, "me", lease)
		if err != nil || j == nil {
			t.Fatalf("ClaimJob() = %v, %v", j, err)
		}
		return j
	}
	j := claim(time.Minute)
	if err := tj.FinishJob(ctx, j.ID, "me", store.JobDone, "", nil); err != nil {
		t.Fatalf("FinishJob(done) = %v", err)
	}
	j = claim(time.Minute)
	if err := tj.FinishJob(ctx, j.ID, "me", store.JobHeld, "", nil); err != nil {
		t.Fatalf("FinishJob(held) = %v", err)
	}
	j = claim(time.Minute)
	if err := tj.FinishJob(ctx, j.ID, "someone else", store.JobDone, "", nil); !errors.Is(err, store.ErrLeaseLost) {
		t.Fatalf("FinishJob(not ours) = %v, want ErrLeaseLost", err)
	}
	if err := tj.FinishJob(ctx, j.ID, "me", store.JobFailed, "no git", nil); err != nil {
		t.Fatalf("FinishJob(failed) = %v", err)
	}
	want := []obs{{store.JobDone, true}, {store.JobFailed, true}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
	if len(tj.claimed) != 0 {
		t.Errorf("claims left: %v", tj.claimed)
	}
}
