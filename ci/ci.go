// Package ci runs a check on every complete revision: a job is queued
// per revision (Enqueue), a Runner claims it, makes a worktree with the
// series applied (Prepare, given by the caller: gitrepo's worktree and
// `git am -3`), runs the check's steps in the sandbox (a Definition: the
// target branch's .patchwell.yml, parsed by ParseDefinition, or the
// list's check command) and records two checks on the series,
// "patchwell/apply" and "patchwell/check", and, when Prepare says how
// each patch went, the same on each patch.
//
// A server runs a Scheduler (scheduler.go): it queues the revisions due
// (complete ones at once, incomplete ones after a grace period), runs
// them in a Runner on a Workspace (the version-control half, declared
// here and given by the caller: gitrepo.Workspace), holds a first-time
// contributor's series for a maintainer, tells a Notifier of jobs and
// checks, replies on the thread with the summary (a Replier, the one
// road to a list) and serves remote runners (RemoteHandler). Package ci
// imports no version-control package.
//
// # The queue
//
// The queue is a table of the store (store.Jobs), not riverqueue/river.
// River is a good library, but its SQLite driver (riverdriver/riversqlite)
// brings its own tables and migrations (river_job, river_leader,
// river_queue, river_migration...) run through its own migration tool,
// its leader election and its job-insertion API, which would have to live
// beside our user_version migrations and our single-writer connection
// (store.DB serialises writes on one connection; river wants a
// *sql.DB it owns). What we need is small: one job per revision (a
// UNIQUE series_id), a lease so that a crashed runner's job is claimed
// again when the lease lapses and never by two runners at once, a held
// state for the first-time contributor gate, and results written in the
// same transaction that ends the lease, so a runner that lost its lease
// cannot record a stale result. That is one table and one UPDATE ...
// RETURNING (store/jobs.go), and it works the same for remote runners over
// HTTP, which river does not offer. Revisit if we need cron-like or
// prioritised jobs, or PostgreSQL with many runners (LISTEN/NOTIFY).
//
// # Trust
//
// The check command comes from the caller (the list's setting, or the
// target branch's definition), never from the patch under test. A
// series held by Gate runs no code until Release.
package ci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// Check contexts the runner records.
const (
	ContextApply = "patchwell/apply"
	ContextCheck = "patchwell/check"
)

// Store is what the runner needs of the store.
type Store interface {
	store.Jobs
	SetCheck(ctx context.Context, c *store.Check) (*store.Check, error)
}

// PrepareResult says whether the series applied.
type PrepareResult struct {
	Applied bool
	// Output is the version-control tool's output (git's); the
	// conflict when the series does not apply.
	Output string
	// Base names what the series was applied on ("main at 1a2b3c4").
	Base string
	// Note is added to the descriptions of the checks ("incomplete: 2
	// of 3 patches").
	Note string

	// Patch by patch, when the caller knows (else the checks are on the
	// series only): Indexes are the series' patch indexes in the order
	// applied; Commits, when it applied, the commit of each; FailedPatch,
	// when it did not, the 1-based position in Indexes of the patch that
	// failed. Checkout makes a fresh worktree at one of Commits, for
	// per-patch checks (Definition.PerPatch); nil: none.
	Indexes     []int
	Commits     []string
	FailedPatch int
	Checkout    func(ctx context.Context, commit string) (dir string, cleanup func(), err error)
}

// PrepareFunc makes a worktree with the series applied. An error means
// the runner could not try (the mirror cannot be fetched...); a series
// that does not apply is a result (Applied false), not an error. cleanup
// is called when the check is over; it may be nil.
type PrepareFunc func(ctx context.Context, seriesID int64) (worktree string, cleanup func(), res PrepareResult, err error)

// CheckFunc returns the check definition for a series (from a trusted
// ref: the target branch's .patchwell.yml, else the list's check
// command) and its limits; nil runs no check. It is called after Prepare,
// so a mirror Prepare fetched is fresh. A *DefinitionError (a malformed
// file) is recorded as a failed check, not as a failure of the runner.
type CheckFunc func(ctx context.Context, seriesID int64) (def *Definition, limits sandbox.Limits, err error)

// GateFunc reports whether a series' code may run before a maintainer
// says so (false for a first-time contributor), and why not.
type GateFunc func(ctx context.Context, seriesID int64) (ok bool, why string)

// Config configures a Runner.
type Config struct {
	Store    Store
	Prepare  PrepareFunc
	CheckFor CheckFunc
	Gate     GateFunc // nil: every series runs
	// Name identifies this runner in leases (default "local").
	Name string
	// Workers is how many jobs run at once (default 1).
	Workers int
	// Lease is how long a claim lasts without renewal (default 1m); the
	// runner renews it every Lease/3.
	Lease time.Duration
	// Poll is how often an idle worker looks for jobs (default 5s);
	// Enqueue and Release wake the workers at once.
	Poll time.Duration
	// LogCap bounds each check's log (default 64 KiB, the end kept).
	LogCap int
	Logger *slog.Logger
	// Finished, when set, is called after a job ends (done, failed or
	// held) with its checks recorded: the web side's webhooks and mail.
	Finished func(j *store.Job, state string, checks []store.Check)
	// Sandbox runs the check (default sandbox.Run); tests replace it.
	Sandbox func(ctx context.Context, spec sandbox.Spec) (*sandbox.Result, error)
	// WorkDir, when set, is the directory Prepare makes worktrees in
	// (serve: gitrepo.WorkDir), where no other process makes a
	// sandbox.Disk: Run first undoes the Disks a process killed
	// mid-check left there (sandbox.CleanDisks).
	WorkDir string
}

// Runner claims and runs jobs.
type Runner struct {
	cfg  Config
	log  *slog.Logger
	wake chan struct{}
}

// New returns a Runner; Run starts it.
func New(cfg Config) (*Runner, error) {
	if cfg.Store == nil || cfg.Prepare == nil || cfg.CheckFor == nil {
		return nil, errors.New("ci: a runner needs a store, Prepare and CheckFor")
	}
	if cfg.Name == "" {
		cfg.Name = "local"
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 1
	}
	if cfg.Lease <= 0 {
		cfg.Lease = time.Minute
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.LogCap <= 0 {
		cfg.LogCap = 64 << 10
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Sandbox == nil {
		cfg.Sandbox = sandbox.Run
	}
	return &Runner{cfg: cfg, log: cfg.Logger, wake: make(chan struct{}, cfg.Workers)}, nil
}

// Enqueue queues a job for a complete revision; a second call for the
// same series returns the job already there.
func Enqueue(ctx context.Context, st Store, seriesID int64) (*store.Job, error) {
	j, created, err := st.EnqueueJob(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	if created {
		if _, err := st.SetCheck(ctx, &store.Check{SeriesID: seriesID, Context: ContextCheck, State: store.CheckPending, Description: "queued"}); err != nil {
			return j, err
		}
	}
	return j, nil
}

// Enqueue queues a job (see the function Enqueue) and wakes a worker.
func (r *Runner) Enqueue(ctx context.Context, seriesID int64) (*store.Job, error) {
	j, err := Enqueue(ctx, r.cfg.Store, seriesID)
	r.poke()
	return j, err
}

// Release gives a held job a maintainer's go-ahead and wakes a worker.
func (r *Runner) Release(ctx context.Context, jobID int64) (*store.Job, error) {
	j, err := r.cfg.Store.ReleaseJob(ctx, jobID)
	if err == nil {
		if _, err := r.cfg.Store.SetCheck(ctx, &store.Check{SeriesID: j.SeriesID, Context: ContextCheck, State: store.CheckPending, Description: "queued (go-ahead given)"}); err != nil {
			return j, err
		}
	}
	r.poke()
	return j, err
}

// Retry queues a finished job again ("run CI again") and wakes a
// worker.
func (r *Runner) Retry(ctx context.Context, jobID int64) (*store.Job, error) {
	j, err := r.cfg.Store.RetryJob(ctx, jobID)
	if err == nil {
		if _, err := r.cfg.Store.SetCheck(ctx, &store.Check{SeriesID: j.SeriesID, Context: ContextCheck, State: store.CheckPending, Description: "queued again"}); err != nil {
			return j, err
		}
	}
	r.poke()
	return j, err
}

func (r *Runner) poke() {
	for i := 0; i < r.cfg.Workers; i++ {
		select {
		case r.wake <- struct{}{}:
		default:
		}
	}
}

// Run runs the workers until ctx is done. A job cut short by ctx is left
// to its lease: another runner (or this one, restarted) takes it again.
// First it cleans Config.WorkDir of the Disks a killed process left.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.WorkDir != "" {
		cleanDisks(ctx, r.log, r.cfg.WorkDir)
	}
	var wg sync.WaitGroup
	for i := 0; i < r.cfg.Workers; i++ {
		name := r.cfg.Name
		if r.cfg.Workers > 1 {
			name = fmt.Sprintf("%s-%d", name, i+1)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.worker(ctx, name)
		}()
	}
	wg.Wait()
	return ctx.Err()
}

// cleanDisks undoes the Disks a process killed mid-check left under dir
// (sandbox.CleanDisks) and logs what it did; false when something is
// left (logged as an error: the operator must unmount it).
func cleanDisks(ctx context.Context, log *slog.Logger, dir string) bool {
	mounts, images, err := sandbox.CleanDisks(ctx, dir)
	for _, p := range mounts {
		log.Warn("ci unmounted a disk left by a killed check", slog.String("dir", p))
	}
	for _, p := range images {
		log.Warn("ci removed a disk image left by a killed check", slog.String("image", p))
	}
	if err != nil {
		log.Error("ci cannot clean the disks left by a killed check", slog.String("dir", dir), slog.Any("err", err))
	}
	return err == nil
}

func (r *Runner) worker(ctx context.Context, name string) {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-r.wake:
		}
		for ctx.Err() == nil {
			ran, err := r.RunOnce(ctx, name)
			if err != nil && ctx.Err() == nil {
				r.log.Error("ci job", slog.String("runner", name), slog.Any("err", err))
			}
			if !ran || err != nil {
				break
			}
		}
		t.Reset(r.cfg.Poll)
	}
}

// RunOnce claims one due job as owner and runs it; false when none was
// due.
func (r *Runner) RunOnce(ctx context.Context, owner string) (bool, error) {
	j, err := r.cfg.Store.ClaimJob(ctx, owner, r.cfg.Lease)
	if err != nil || j == nil {
		return false, err
	}
	log := r.log.With(slog.Int64("job", j.ID), slog.Int64("patchset", j.SeriesID), slog.String("runner", owner))
	// Renew the lease while the job runs; stop the job when it is lost.
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(r.cfg.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-jctx.Done():
				return
			case <-t.C:
				if err := r.cfg.Store.RenewJob(jctx, j.ID, owner, r.cfg.Lease); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	start := time.Now()
	state, checks, err := r.process(jctx, j)
	if ctx.Err() != nil {
		// Stopped: leave the job to its lease.
		return true, ctx.Err()
	}
	if cause := context.Cause(jctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return true, fmt.Errorf("job %d: %w", j.ID, cause)
	}
	lastErr := ""
	if err != nil {
		lastErr = err.Error()
	}
	ran := time.Since(start)
	if err := r.cfg.Store.FinishJob(ctx, j.ID, owner, state, lastErr, checks); err != nil {
		return true, err
	}
	log.Info("ci job finished", slog.String("state", state), slog.String("checks", summary(checks)),
		slog.Duration("ran", ran), slog.Duration("total", time.Since(start)))
	if r.cfg.Finished != nil {
		r.cfg.Finished(j, state, checks)
	}
	return true, nil
}

func summary(cs []store.Check) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.Context + "=" + c.State)
	}
	return b.String()
}

// process runs one claimed job and returns the job's final state and
// the checks to record with it.
func (r *Runner) process(ctx context.Context, j *store.Job) (string, []store.Check, error) {
	sid := j.SeriesID
	if !j.Released && r.cfg.Gate != nil {
		if ok, why := r.cfg.Gate(ctx, sid); !ok {
			d := "waiting for a maintainer's go-ahead"
			if why != "" {
				d += ": " + why
			}
			return store.JobHeld, []store.Check{{Context: ContextCheck, State: store.CheckPending, Description: clip(d, 2000)}}, nil
		}
	}
	t0 := time.Now()
	r.setPending(ctx, sid, ContextApply, "applying")
	t1 := time.Now()
	wt, cleanup, pr, err := r.cfg.Prepare(ctx, sid)
	r.log.Debug("ci prepared", slog.Int64("patchset", sid), slog.Duration("pending", t1.Sub(t0)), slog.Duration("prepare", time.Since(t1)))
	if cleanup != nil {
		defer cleanup()
	}
	note := func(cs []store.Check) []store.Check {
		if pr.Note != "" {
			for i := range cs {
				cs[i].Description = clip(cs[i].Description+" ("+pr.Note+")", 2000)
			}
		}
		return cs
	}
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		return store.JobFailed, []store.Check{
			{Context: ContextApply, State: store.CheckWarning, Description: clip("could not prepare a worktree: "+err.Error(), 2000)},
			{Context: ContextCheck, State: store.CheckWarning, Description: "not run"},
		}, err
	}
	if !pr.Applied {
		return store.JobDone, note(append([]store.Check{
			{Context: ContextApply, State: store.CheckFail, Description: clip("does not apply"+on(pr.Base), 2000), Log: r.capLog(pr.Output)},
			{Context: ContextCheck, State: store.CheckWarning, Description: "not run: the series does not apply"},
		}, r.patchApply(pr)...)), nil
	}
	apply := store.Check{Context: ContextApply, State: store.CheckSuccess, Description: clip("applied"+on(pr.Base), 2000), Log: r.capLog(pr.Output)}
	perApply := r.patchApply(pr)
	def, limits, err := r.cfg.CheckFor(ctx, sid)
	var de *DefinitionError
	switch {
	case errors.As(err, &de):
		return store.JobDone, note(append([]store.Check{apply, {Context: ContextCheck, State: store.CheckFail, Description: clip(de.Error(), 2000), Log: r.capLog(de.Error() + "\n")}}, perApply...)), nil
	case err != nil:
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		return store.JobFailed, note([]store.Check{apply, {Context: ContextCheck, State: store.CheckWarning, Description: clip("no check definition: "+err.Error(), 2000)}}), err
	case def == nil || len(def.Steps) == 0:
		return store.JobDone, note(append([]store.Check{apply, {Context: ContextCheck, State: store.CheckWarning, Description: "no check command for this list"}}, perApply...)), nil
	}
	r.setPending(ctx, sid, ContextCheck, "running")
	t2 := time.Now()
	c, err := RunDefinition(ctx, r.cfg.Sandbox, wt, def, limits, r.cfg.LogCap)
	r.log.Debug("ci sandbox", slog.Int64("patchset", sid), slog.Duration("sandbox", time.Since(t2)))
	if err != nil {
		if ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		return store.JobFailed, note([]store.Check{apply, {Context: ContextCheck, State: store.CheckWarning, Description: clip("could not run the check: "+err.Error(), 2000)}}), err
	}
	checks := append([]store.Check{apply, c}, perApply...)
	if def.PerPatch {
		pc, err := r.perPatch(ctx, pr, def, limits, c)
		if err != nil && ctx.Err() != nil {
			return "", nil, ctx.Err()
		}
		checks = append(checks, pc...)
	}
	return store.JobDone, note(checks), nil
}

// patchApply is the patchwell/apply check of each patch, when Prepare
// said how each went.
func (r *Runner) patchApply(pr PrepareResult) []store.Check {
	var cs []store.Check
	switch {
	case pr.Applied && len(pr.Commits) == len(pr.Indexes):
		for i, commit := range pr.Commits {
			cs = append(cs, store.Check{PatchIndex: pr.Indexes[i], Context: ContextApply, State: store.CheckSuccess, Description: fmt.Sprintf("applied as %.12s", commit)})
		}
	case !pr.Applied && pr.FailedPatch > 0 && pr.FailedPatch <= len(pr.Indexes):
		failed := pr.Indexes[pr.FailedPatch-1]
		for i, idx := range pr.Indexes {
			c := store.Check{PatchIndex: idx, Context: ContextApply}
			switch {
			case i+1 < pr.FailedPatch:
				c.State, c.Description = store.CheckSuccess, "applies"
			case i+1 == pr.FailedPatch:
				c.State, c.Description, c.Log = store.CheckFail, clip("does not apply"+on(pr.Base), 2000), r.capLog(pr.Output)
			default:
				c.State, c.Description = store.CheckWarning, fmt.Sprintf("not tried: patch %d does not apply", failed)
			}
			cs = append(cs, c)
		}
	}
	return cs
}

// perPatch runs def at each patch of an applied series (Definition.
// PerPatch), in a fresh worktree per patch: the series' result is the
// last patch's. After the first patch that fails, the later ones are
// not run (the series is not bisectable there). An error means a
// worktree or the sandbox failed: the checks so far are returned, the
// rest are warnings.
func (r *Runner) perPatch(ctx context.Context, pr PrepareResult, def *Definition, limits sandbox.Limits, last store.Check) ([]store.Check, error) {
	n := len(pr.Commits)
	if pr.Checkout == nil || n == 0 || n != len(pr.Indexes) {
		return nil, nil
	}
	var cs []store.Check
	rest := func(from int, why string) {
		for _, idx := range pr.Indexes[from:] {
			cs = append(cs, store.Check{PatchIndex: idx, Context: ContextCheck, State: store.CheckWarning, Description: clip(why, 2000)})
		}
	}
	for i, commit := range pr.Commits[:n-1] {
		dir, cleanup, err := pr.Checkout(ctx, commit)
		if err != nil {
			rest(i, "not run: could not check out the patch: "+err.Error())
			return cs, err
		}
		c, err := RunDefinition(ctx, r.cfg.Sandbox, dir, def, limits, r.cfg.LogCap)
		if cleanup != nil {
			cleanup()
		}
		if err != nil {
			rest(i, "not run: "+err.Error())
			return cs, err
		}
		c.PatchIndex = pr.Indexes[i]
		cs = append(cs, c)
		if c.State != store.CheckSuccess {
			rest(i+1, fmt.Sprintf("not run: the check fails at patch %d", pr.Indexes[i]))
			return cs, nil
		}
	}
	last.PatchIndex = pr.Indexes[n-1]
	return append(cs, last), nil
}

func on(base string) string {
	if base == "" {
		return ""
	}
	return " on " + base
}

func (r *Runner) setPending(ctx context.Context, sid int64, context, d string) {
	if _, err := r.cfg.Store.SetCheck(ctx, &store.Check{SeriesID: sid, Context: context, State: store.CheckPending, Description: d}); err != nil && ctx.Err() == nil {
		r.log.Warn("ci pending check", slog.Int64("patchset", sid), slog.Any("err", err))
	}
}

func (r *Runner) capLog(s string) string { return capLog(s, r.cfg.LogCap) }

// capLog keeps the end of s within n bytes.
func capLog(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const note = "[log truncated: the end follows]\n"
	return note + s[len(s)-n+len(note):]
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
