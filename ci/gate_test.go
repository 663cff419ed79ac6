package ci

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// fakeWorkspace is a Workspace on the test repository of env.
type fakeWorkspace struct{ e *env }

func (w fakeWorkspace) Prepare(ctx context.Context, sid int64) (string, func(), PrepareResult, error) {
	return w.e.Prepare(ctx, sid)
}

func (fakeWorkspace) Definition(context.Context, int64, bool) (*Definition, error) {
	return CommandDefinition("test -f x", ""), nil
}

// recorder is a Notifier that records what it is told.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) SeriesChanged(_ context.Context, s *store.Series) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, "series")
	return nil
}

func (r *recorder) CheckCreated(_ context.Context, s *store.Series, c *store.Check) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, c.Context+"="+c.State)
	return nil
}

func (r *recorder) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ev := r.events
	r.events = nil
	return ev
}

// TestSchedulerGateRelease: on a list with the first-timer gate, a
// series from a new contributor is held (the Notifier told of the
// pending check) until Release; Release refuses a job that is not held;
// once released it runs and its checks are told.
func TestSchedulerGateRelease(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	if err := e.st.SetListRepo(ctx, store.ListRepo{List: "dev", Repo: e.repo, Branch: "main", FirstTimerGate: true}); err != nil {
		t.Fatalf("SetListRepo() = %v", err)
	}
	rec := &recorder{}
	s, err := NewScheduler(SchedulerConfig{Store: e.st, Workspace: fakeWorkspace{e}, Notify: rec,
		Limits: sandbox.Limits{Wall: 30 * time.Second}, Logger: slog.New(slog.NewTextHandler(tlog{t}, nil))})
	if err != nil {
		t.Fatalf("NewScheduler() = %v", err)
	}
	sid := e.series(1, "pass")[0]
	if err := s.Release(ctx, sid); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Release() without a job = %v, want ErrNotFound", err)
	}
	if _, err := s.runner.Enqueue(ctx, sid); err != nil {
		t.Fatal(err)
	}
	drain(t, s.runner, "t")
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckPending || !strings.HasPrefix(c.Description, "waiting for a maintainer's go-ahead: first series from ") ||
		!strings.HasSuffix(c.Description, " on dev: a maintainer must allow its code to run") {
		t.Fatalf("held check: %+v", c)
	}
	if ev := rec.take(); len(ev) != 1 || ev[0] != ContextCheck+"="+store.CheckPending {
		t.Errorf("told of the held job: %v", ev)
	}
	if e.prepare.Load() != 0 {
		t.Errorf("a held series was prepared")
	}
	if err := s.Release(ctx, sid); err != nil {
		t.Fatalf("Release() = %v", err)
	}
	if err := s.Release(ctx, sid); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("Release() of a queued job = %v, want ErrConflict", err)
	}
	if n := drain(t, s.runner, "t"); n != 1 {
		t.Fatalf("after release: ran %d jobs", n)
	}
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("after release: %+v", c)
	}
	if ev := rec.take(); len(ev) != 2 || ev[0] != ContextApply+"=success" || ev[1] != ContextCheck+"=success" {
		t.Errorf("told of the checks: %v", ev)
	}
}
