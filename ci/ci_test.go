package ci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

func needSandbox(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		skipOrFail(t, "git: "+err.Error())
	}
	if err := sandbox.Check(); err != nil {
		skipOrFail(t, err.Error())
	}
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// countingStore counts what the runner records.
type countingStore struct {
	*store.DB
	mu       sync.Mutex
	finished map[int64]int // job id -> successful FinishJob calls
	setCheck atomic.Int64
}

func (c *countingStore) SetCheck(ctx context.Context, ch *store.Check) (*store.Check, error) {
	c.setCheck.Add(1)
	return c.DB.SetCheck(ctx, ch)
}

func (c *countingStore) finishedCount(id int64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.finished[id]
}

func (c *countingStore) FinishJob(ctx context.Context, id int64, owner, state, lastErr string, checks []store.Check) error {
	err := c.DB.FinishJob(ctx, id, owner, state, lastErr, checks)
	if err == nil {
		c.mu.Lock()
		c.finished[id]++
		c.mu.Unlock()
	}
	return err
}

type env struct {
	t    testing.TB
	st   *countingStore
	list int64
	repo string
	data string

	mu      sync.Mutex
	kind    map[int64]string // series -> pass, fail, conflict
	prepare atomic.Int64
}

func newEnv(t testing.TB) *env {
	t.Helper()
	ctx := context.Background()
	data := t.TempDir()
	sq, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	l, err := sq.CreateList(ctx, store.List{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, st: &countingStore{DB: sq, finished: map[int64]int{}}, list: l.ID, repo: t.TempDir(), kind: map[int64]string{}, data: data}
	e.git(e.repo, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(e.repo, "README"), []byte("hello\n"), 0o644)
	e.git(e.repo, "add", "README")
	e.git(e.repo, "commit", "-q", "-m", "first")
	return e
}

func (e *env) git(dir string, args ...string) string {
	e.t.Helper()
	cmd := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "safe.directory=*"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		e.t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// series makes n series whose fake application does kind.
func (e *env) series(n int, kind string) []int64 {
	e.t.Helper()
	ctx := context.Background()
	var ids []int64
	err := e.st.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < n; i++ {
			id, err := tx.CreateSeries(ctx, &store.Series{Subject: kind, Version: 1, Total: 1, MessageID: fmt.Sprintf("%s-%d-%d@x", kind, i, time.Now().UnixNano())}, kind, kind, e.list)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	e.mu.Lock()
	for _, id := range ids {
		e.kind[id] = kind
	}
	e.mu.Unlock()
	return ids
}

// Prepare makes a real worktree of the test repository; a "pass" series
// adds the file x in a commit, "conflict" does not apply.
func (e *env) Prepare(ctx context.Context, sid int64) (string, func(), PrepareResult, error) {
	e.prepare.Add(1)
	e.mu.Lock()
	defer e.mu.Unlock()
	kind := e.kind[sid]
	if kind == "conflict" {
		return "", nil, PrepareResult{Output: "Applying: change README\nCONFLICT (content): Merge conflict in README\nPatch failed at 0001 change README"}, nil
	}
	wt := filepath.Join(e.t.TempDir(), "wt")
	// Errors are returned, not fatal: this runs on a runner goroutine.
	git := func(dir string, args ...string) error {
		out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "safe.directory=*"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("git %v: %w: %s", args, err, out)
		}
		return nil
	}
	if err := git(e.repo, "worktree", "add", "-q", "--detach", wt, "main"); err != nil {
		return "", nil, PrepareResult{}, err
	}
	if kind == "pass" {
		os.WriteFile(filepath.Join(wt, "x"), []byte("x\n"), 0o644)
		if err := git(wt, "add", "x"); err != nil {
			return "", nil, PrepareResult{}, err
		}
		if err := git(wt, "commit", "-q", "-m", "add x"); err != nil {
			return "", nil, PrepareResult{}, err
		}
	}
	cleanup := func() {
		// Under the lock: a prune beside another job's worktree add
		// races it for .git/worktrees/ (could not create directory).
		e.mu.Lock()
		defer e.mu.Unlock()
		os.RemoveAll(wt)
		exec.Command("git", "-C", e.repo, "worktree", "prune").Run()
	}
	return wt, cleanup, PrepareResult{Applied: true, Output: "Applying: " + kind, Base: "main"}, nil
}

func (e *env) runner(cfg Config) *Runner {
	e.t.Helper()
	cfg.Store = e.st
	if cfg.Prepare == nil {
		cfg.Prepare = e.Prepare
	}
	if cfg.CheckFor == nil {
		cfg.CheckFor = func(context.Context, int64) (*Definition, sandbox.Limits, error) {
			return CommandDefinition("test -f x", ""), sandbox.Limits{Wall: 30 * time.Second}, nil
		}
	}
	if cfg.Poll == 0 {
		cfg.Poll = 20 * time.Millisecond
	}
	if tl, ok := e.t.(*testing.T); ok && cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(tlog{tl}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	r, err := New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) { w.t.Log(strings.TrimSpace(string(p))); return len(p), nil }

func (e *env) checks(sid int64) map[string]store.Check {
	e.t.Helper()
	cs, err := e.st.Checks(context.Background(), sid)
	if err != nil {
		e.t.Fatal(err)
	}
	m := map[string]store.Check{}
	for _, c := range cs {
		m[c.Context] = c
	}
	return m
}

func drain(t testing.TB, r *Runner, owner string) int {
	n := 0
	for {
		ran, err := r.RunOnce(context.Background(), owner)
		if err != nil {
			t.Fatal(err)
		}
		if !ran {
			return n
		}
		n++
	}
}

func TestRunnerPassFailConflict(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	pass, fail, conflict := e.series(1, "pass")[0], e.series(1, "fail")[0], e.series(1, "conflict")[0]
	r := e.runner(Config{})
	for _, id := range []int64{pass, fail, conflict} {
		if _, err := r.Enqueue(ctx, id); err != nil {
			t.Fatal(err)
		}
		if c := e.checks(id)[ContextCheck]; c.State != store.CheckPending || c.Description != "queued" {
			t.Errorf("after Enqueue: %+v", c)
		}
	}
	if n := drain(t, r, "t"); n != 3 {
		t.Fatalf("ran %d jobs, want 3", n)
	}
	c := e.checks(pass)
	if c[ContextApply].State != store.CheckSuccess || c[ContextCheck].State != store.CheckSuccess || !strings.Contains(c[ContextCheck].Log, "$ test -f x") {
		t.Errorf("pass: %+v", c)
	}
	c = e.checks(fail)
	if c[ContextApply].State != store.CheckSuccess || c[ContextCheck].State != store.CheckFail || !strings.HasPrefix(c[ContextCheck].Description, "exit status 1") {
		t.Errorf("fail: %+v", c)
	}
	c = e.checks(conflict)
	if c[ContextApply].State != store.CheckFail || !strings.Contains(c[ContextApply].Log, "CONFLICT (content): Merge conflict in README") || c[ContextCheck].State != store.CheckWarning {
		t.Errorf("conflict: %+v", c)
	}
	for _, id := range []int64{pass, fail, conflict} {
		if j, _ := e.st.JobForSeries(ctx, id); j.State != store.JobDone || j.Attempts != 1 {
			t.Errorf("job of %d: %+v", id, j)
		}
	}
	// Run again: the failing one now passes.
	e.mu.Lock()
	e.kind[fail] = "pass"
	e.mu.Unlock()
	j, _ := e.st.JobForSeries(ctx, fail)
	if _, err := r.Retry(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := drain(t, r, "t"); n != 1 {
		t.Fatalf("retry ran %d jobs", n)
	}
	if c := e.checks(fail)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("after retry: %+v", c)
	}
}

func TestEnqueueIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	sid := e.series(1, "pass")[0]
	a, err := Enqueue(ctx, e.st, sid)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Enqueue(ctx, e.st, sid)
	if err != nil || b.ID != a.ID {
		t.Fatalf("second Enqueue = %+v, %v (first %d)", b, err, a.ID)
	}
	if js, _ := e.st.JobList(ctx, "", store.Page{}); len(js) != 1 {
		t.Errorf("%d jobs, want 1", len(js))
	}
	if _, err := Enqueue(ctx, e.st, 12345); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown series: %v", err)
	}
}

func TestGate(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	sid := e.series(1, "pass")[0]
	gated := 0
	r := e.runner(Config{Gate: func(_ context.Context, id int64) (bool, string) {
		gated++
		return false, "first patch from new@example.org"
	}})
	j, _ := r.Enqueue(ctx, sid)
	drain(t, r, "t")
	if j, _ := e.st.Job(ctx, j.ID); j.State != store.JobHeld {
		t.Fatalf("job not held: %+v", j)
	}
	c := e.checks(sid)[ContextCheck]
	if c.State != store.CheckPending || !strings.HasPrefix(c.Description, "waiting for a maintainer's go-ahead") {
		t.Errorf("held check: %+v", c)
	}
	if e.prepare.Load() != 0 {
		t.Errorf("a held series was prepared")
	}
	if n := drain(t, r, "t"); n != 0 {
		t.Errorf("held job ran")
	}
	if _, err := r.Release(ctx, j.ID); err != nil {
		t.Fatal(err)
	}
	if n := drain(t, r, "t"); n != 1 || gated != 1 {
		t.Fatalf("after release: ran %d, gate asked %d times", n, gated)
	}
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("after release: %+v", c)
	}
}

// A runner stopped mid-job leaves it to its lease; another runner takes
// it when the lease lapses and it is finished exactly once.
func TestRunnerDiesJobRetried(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	sid := e.series(1, "pass")[0]
	var calls atomic.Int64
	started := make(chan struct{}, 1)
	check := func(context.Context, int64) (*Definition, sandbox.Limits, error) {
		if calls.Add(1) == 1 {
			started <- struct{}{}
			return CommandDefinition("sleep 600", ""), sandbox.Limits{Wall: time.Minute}, nil
		}
		return CommandDefinition("test -f x", ""), sandbox.Limits{Wall: 30 * time.Second}, nil
	}
	lease := 500 * time.Millisecond
	a := e.runner(Config{Name: "a", CheckFor: check, Lease: lease})
	j, _ := a.Enqueue(ctx, sid)
	actx, stop := context.WithCancel(ctx)
	go func() { <-started; time.Sleep(200 * time.Millisecond); stop() }()
	if err := a.Run(actx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	if j, _ := e.st.Job(ctx, j.ID); j.State != store.JobRunning || j.LeaseOwner != "a" {
		t.Fatalf("after a died: %+v", j)
	}
	b := e.runner(Config{Name: "b", CheckFor: check, Lease: lease})
	// Wait for the lease to lapse (b finds nothing before).
	deadline := time.Now().Add(10 * time.Second)
	for {
		ran, err := b.RunOnce(ctx, "b")
		if err != nil {
			t.Fatal(err)
		}
		if ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("job never retried")
		}
		time.Sleep(50 * time.Millisecond)
	}
	j, _ = e.st.Job(ctx, j.ID)
	if j.State != store.JobDone || j.Attempts != 2 {
		t.Errorf("after retry: %+v", j)
	}
	if n := e.st.finishedCount(j.ID); n != 1 {
		t.Errorf("finished %d times", n)
	}
	if c := e.checks(sid)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("check: %+v", c)
	}
}

func run100(t testing.TB, e *env, workers int) time.Duration {
	ctx := context.Background()
	ids := e.series(100, "pass")
	var done sync.WaitGroup
	done.Add(len(ids))
	r := e.runner(Config{Workers: workers, Finished: func(*store.Job, string, []store.Check) { done.Done() }})
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	start := time.Now()
	for _, id := range ids {
		if _, err := r.Enqueue(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	go r.Run(rctx)
	done.Wait()
	el := time.Since(start)
	stop()
	for _, id := range ids {
		j, err := e.st.JobForSeries(ctx, id)
		if err != nil || j.State != store.JobDone || j.Attempts != 1 || e.st.finishedCount(j.ID) != 1 {
			t.Fatalf("series %d: %+v %v, finished %d times", id, j, err, e.st.finishedCount(j.ID))
		}
	}
	return el
}

func Test100Jobs2Runners(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	run100(t, e, 2)
	// Enqueue's pending + apply pending + check pending per job.
	if n := e.st.setCheck.Load(); n != 300 {
		t.Errorf("%d SetCheck calls, want 300", n)
	}
}

// A hostile check sees neither the data directory, nor the mirror, nor
// another job's worktree, nor the network: the check below passes only
// if every attempt fails.
func TestCheckIsolated(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	other := t.TempDir()
	os.WriteFile(filepath.Join(other, "secret"), []byte("s"), 0o644)
	os.WriteFile(filepath.Join(e.repo, ".git", "config-secret"), []byte("s"), 0o644)
	sid := e.series(1, "pass")[0]
	cmd := fmt.Sprintf(`test -f x && ! ls %[1]s && ! cat %[1]s/%[2]s && ! cat %[3]s/.git/config && ! cat %[4]s/secret && ! cat .git/../../*/secret && ! bash -c 'exec 3<>/dev/tcp/1.1.1.1/80' && ! touch /usr/x && echo isolated`,
		e.data, store.DBFile, e.repo, other)
	r := e.runner(Config{CheckFor: func(context.Context, int64) (*Definition, sandbox.Limits, error) {
		return CommandDefinition(cmd, ""), sandbox.Limits{Wall: 30 * time.Second}, nil
	}})
	r.Enqueue(ctx, sid)
	drain(t, r, "t")
	c := e.checks(sid)[ContextCheck]
	if c.State != store.CheckSuccess || !strings.Contains(c.Log, "isolated") {
		t.Fatalf("check: %s %s\n%s", c.State, c.Description, c.Log)
	}
	t.Logf("check log:\n%s", c.Log)
}
