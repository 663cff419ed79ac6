package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func newSeries(t testing.TB, st *DB, listID int64, n int) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	err := st.Update(ctx, func(tx Tx) error {
		for i := 0; i < n; i++ {
			id, err := tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Total: 1, MessageID: fmt.Sprintf("s%d@x", i)}, "s", "s", listID)
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
	return ids
}

func TestJobQueue(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	sid := newSeries(t, st, l.ID, 1)[0]
	j, created, err := st.EnqueueJob(ctx, sid)
	if err != nil || !created || j.State != JobQueued {
		t.Fatalf("EnqueueJob = %+v %v %v", j, created, err)
	}
	j2, created, err := st.EnqueueJob(ctx, sid)
	if err != nil || created || j2.ID != j.ID {
		t.Fatalf("second EnqueueJob = %+v %v %v", j2, created, err)
	}
	if _, _, err := st.EnqueueJob(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown series: %v", err)
	}
	c, err := st.ClaimJob(ctx, "a", 50*time.Millisecond)
	if err != nil || c == nil || c.ID != j.ID || c.State != JobRunning || c.Attempts != 1 || c.LeaseOwner != "a" {
		t.Fatalf("claim = %+v %v", c, err)
	}
	if c2, err := st.ClaimJob(ctx, "b", time.Minute); err != nil || c2 != nil {
		t.Fatalf("claimed twice: %+v %v", c2, err)
	}
	// a stops; after its lease lapses b gets the job, and a can neither
	// renew nor finish it.
	time.Sleep(60 * time.Millisecond)
	if err := st.RenewJob(ctx, j.ID, "a", time.Minute); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("renew after lapse: %v", err)
	}
	c, err = st.ClaimJob(ctx, "b", time.Minute)
	if err != nil || c == nil || c.Attempts != 2 || c.LeaseOwner != "b" {
		t.Fatalf("reclaim = %+v %v", c, err)
	}
	if err := st.FinishJob(ctx, j.ID, "a", JobDone, "", []Check{{Context: "x", State: CheckSuccess}}); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("finish by a: %v", err)
	}
	if err := st.RenewJob(ctx, j.ID, "b", time.Minute); err != nil {
		t.Errorf("renew by b: %v", err)
	}
	if err := st.FinishJob(ctx, j.ID, "b", JobDone, "", []Check{{Context: "patchwell/check", State: CheckFail, Description: "exit 2", Log: "boom"}}); err != nil {
		t.Fatal(err)
	}
	cs, _ := st.Checks(ctx, sid)
	if len(cs) != 1 || cs[0].Context != "patchwell/check" || cs[0].State != CheckFail || cs[0].Log != "boom" {
		t.Errorf("checks = %+v", cs)
	}
	if j, _ := st.Job(ctx, j.ID); j.State != JobDone || j.LeaseOwner != "" {
		t.Errorf("after finish: %+v", j)
	}
	if err := st.FinishJob(ctx, j.ID, "b", JobDone, "", nil); !errors.Is(err, ErrLeaseLost) {
		t.Errorf("finish twice: %v", err)
	}
	if c, _ := st.ClaimJob(ctx, "c", time.Minute); c != nil {
		t.Errorf("done job claimed: %+v", c)
	}

	// Held until released.
	sid2 := newSeries(t, st, l.ID, 1)[0]
	st.EnqueueJob(ctx, sid2)
	c, _ = st.ClaimJob(ctx, "a", time.Minute)
	if err := st.FinishJob(ctx, c.ID, "a", JobHeld, "", []Check{{Context: "patchwell/check", State: CheckPending, Description: "waiting"}}); err != nil {
		t.Fatal(err)
	}
	if c2, _ := st.ClaimJob(ctx, "a", time.Minute); c2 != nil {
		t.Fatalf("held job claimed")
	}
	if _, err := st.ReleaseJob(ctx, j.ID); !errors.Is(err, ErrInvalid) {
		t.Errorf("release a done job: %v", err)
	}
	if _, err := st.ReleaseJob(ctx, 9999); !errors.Is(err, ErrNotFound) {
		t.Errorf("release unknown: %v", err)
	}
	if r, err := st.ReleaseJob(ctx, c.ID); err != nil || r.State != JobQueued || !r.Released {
		t.Fatalf("release = %+v %v", r, err)
	}
	if c2, _ := st.ClaimJob(ctx, "a", time.Minute); c2 == nil || c2.ID != c.ID || !c2.Released {
		t.Fatalf("released job not claimed: %+v", c2)
	}

	// A job whose runner dies every time ends failed.
	sid3 := newSeries(t, st, l.ID, 1)[0]
	j3, _, _ := st.EnqueueJob(ctx, sid3)
	for i := 0; i < MaxJobAttempts; i++ {
		c, err := st.ClaimJob(ctx, "crash", time.Millisecond)
		if err != nil || c == nil || c.ID != j3.ID {
			t.Fatalf("attempt %d: %+v %v", i, c, err)
		}
		time.Sleep(3 * time.Millisecond)
	}
	if c, _ := st.ClaimJob(ctx, "crash", time.Millisecond); c != nil {
		t.Fatalf("claimed after %d attempts", MaxJobAttempts)
	}
	if j, _ := st.Job(ctx, j3.ID); j.State != JobFailed || j.LastError == "" {
		t.Errorf("given up: %+v", j)
	}
	if js, err := st.JobList(ctx, JobFailed, Page{}); err != nil || len(js) != 1 {
		t.Errorf("JobList failed = %d %v", len(js), err)
	}
	if r, err := st.RetryJob(ctx, j3.ID); err != nil || r.State != JobQueued || r.Attempts != 0 {
		t.Errorf("retry = %+v %v", r, err)
	}
	if _, err := st.RetryJob(ctx, j3.ID); !errors.Is(err, ErrInvalid) {
		t.Errorf("retry a queued job: %v", err)
	}
}

// Concurrent claimers never get the same job while its lease holds.
func TestJobClaimConcurrent(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	for _, id := range newSeries(t, st, l.ID, 100) {
		if _, _, err := st.EnqueueJob(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(owner string) {
			defer wg.Done()
			for {
				j, err := st.ClaimJob(ctx, owner, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if j == nil {
					return
				}
				mu.Lock()
				if o, ok := seen[j.ID]; ok {
					t.Errorf("job %d claimed by %s and %s", j.ID, o, owner)
				}
				seen[j.ID] = owner
				mu.Unlock()
				if err := st.FinishJob(ctx, j.ID, owner, JobDone, "", nil); err != nil {
					t.Error(err)
				}
			}
		}(fmt.Sprint("w", w))
	}
	wg.Wait()
	if len(seen) != 100 {
		t.Errorf("%d jobs run, want 100", len(seen))
	}
}

// The queue survives a reindex: jobs are exported and imported with the
// mailing list's data, a running one queued again.
func TestJobsCarriedAcrossReindex(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	ids := newSeries(t, st, l.ID, 3)
	for _, id := range ids {
		st.EnqueueJob(ctx, id)
	}
	done, _ := st.ClaimJob(ctx, "a", time.Minute)
	st.FinishJob(ctx, done.ID, "a", JobDone, "", nil)
	running, _ := st.ClaimJob(ctx, "a", time.Minute)
	d, err := st.ExportMailingList(ctx)
	if err != nil || len(d.Jobs) != 3 {
		t.Fatalf("export: %d jobs, %v", len(d.Jobs), err)
	}
	st2, l2 := mustOpen(t)
	newSeries(t, st2, l2.ID, 3)
	if err := st2.ImportMailingList(ctx, d); err != nil {
		t.Fatal(err)
	}
	js, err := st2.JobList(ctx, "", Page{})
	if err != nil || len(js) != 3 {
		t.Fatalf("imported %d jobs, %v", len(js), err)
	}
	want := map[int64]string{done.SeriesID: JobDone, running.SeriesID: JobQueued}
	for _, j := range js {
		if w, ok := want[j.SeriesID]; ok && j.State != w || j.LeaseOwner != "" {
			t.Errorf("job of series %d: %+v, want %s", j.SeriesID, j, w)
		}
	}
	if c, _ := st2.ClaimJob(ctx, "b", time.Minute); c == nil || c.SeriesID != running.SeriesID {
		t.Errorf("after import the running job is claimed first: %+v", c)
	}
}
