package ci

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// TestSchedulerRerun: a maintainer's re-run queues a finished job again
// (its check pending, the Notifier told) and it runs again; a series
// without a job is not found, a queued job is a conflict.
func TestSchedulerRerun(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.SetListRepo(ctx, store.ListRepo{List: "dev", Repo: e.repo, Branch: "main"}); err != nil {
		t.Fatalf("SetListRepo() = %v", err)
	}
	rec := &recorder{}
	s, err := NewScheduler(SchedulerConfig{Store: e.st, Workspace: fakeWorkspace{e}, Notify: rec,
		Limits: sandbox.Limits{Wall: 30 * time.Second}, Logger: slog.New(slog.NewTextHandler(tlog{t}, nil))})
	if err != nil {
		t.Fatalf("NewScheduler() = %v", err)
	}
	sid := e.series(1, "pass")[0]
	if err := s.Rerun(ctx, sid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Rerun() without a job = %v, want ErrNotFound", err)
	}
	if _, err := s.runner.Enqueue(ctx, sid); err != nil {
		t.Fatal(err)
	}
	if err := s.Rerun(ctx, sid); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Rerun() of a queued job = %v, want ErrConflict", err)
	}
	if n := drain(t, s.runner, "t"); n != 1 {
		t.Fatalf("ran %d jobs", n)
	}
	rec.take()
	if err := s.Rerun(ctx, sid); err != nil {
		t.Fatalf("Rerun() = %v", err)
	}
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckPending || c.Description != "queued again" {
		t.Errorf("after Rerun: %+v", c)
	}
	if ev := rec.take(); !slices.Contains(ev, "series") {
		t.Errorf("Notifier told %v, want the series changed", ev)
	}
	if n := drain(t, s.runner, "t"); n != 1 {
		t.Fatalf("after Rerun: ran %d jobs", n)
	}
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("after the re-run: %+v", c)
	}
}
