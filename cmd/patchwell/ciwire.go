package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/review"
	"patchwell/sandbox"
	"patchwell/store"
	"patchwell/webhook"
)

// ciWiring runs CI for serve: it finds complete revisions of lists that
// have a repository and queues them (woken after every delivery, and
// every few seconds for mail another process stored), and runs them in
// the in-process runner: mirror fetched, worktree at the base, paths
// checked, `git am -3`, the list's check in the sandbox.
type ciWiring struct {
	st     store.Store
	svc    *review.Service
	data   string
	webURL string
	log    *slog.Logger
	runner *ci.Runner
	hooks  *webhook.Dispatcher
	domain string // the mail domain, for the applied reply
	kick   chan struct{}
	limits sandbox.Limits
	// fetchEvery is how often every repository is fetched to find series
	// applied by a direct push (the post-receive hook finds them at once).
	fetchEvery time.Duration
	enqueue    func(ctx context.Context, id int64) (*store.Job, error)
}

func newCI(st store.Store, svc *review.Service, data, webURL string, hooks *webhook.Dispatcher, log *slog.Logger) (*ciWiring, error) {
	w := &ciWiring{st: st, svc: svc, data: data, webURL: webURL, log: log, hooks: hooks,
		kick: make(chan struct{}, 1), limits: sandbox.DefaultLimits, fetchEvery: 5 * time.Minute}
	r, err := ci.New(ci.Config{Store: st, Prepare: w.prepare, CheckFor: w.checkFor, Gate: w.gate,
		Logger: log, Poll: 2 * time.Second, Finished: w.finished})
	if err != nil {
		return nil, err
	}
	w.runner = r
	w.enqueue = r.Enqueue
	return w, nil
}

// Kick looks for new complete revisions now.
func (w *ciWiring) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run queues and runs jobs until ctx ends.
func (w *ciWiring) Run(ctx context.Context) {
	go w.runner.Run(ctx)
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	fetch := time.NewTicker(w.fetchEvery)
	defer fetch.Stop()
	for {
		ids, err := w.st.SeriesWithoutJob(ctx, 100)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("ci: find revisions", "err", err)
		}
		for _, id := range ids {
			if _, err := w.enqueue(ctx, id); err != nil {
				w.log.Warn("ci: enqueue", "series", id, "err", err)
				continue
			}
			if w.hooks != nil {
				if s, err := w.st.Series(ctx, id); err == nil {
					w.hooks.SeriesChanged(ctx, s)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.kick:
		case <-fetch.C:
			w.refreshAll(ctx)
		}
	}
}

// prepare makes the worktree with the series applied.
func (w *ciWiring) prepare(ctx context.Context, seriesID int64) (string, func(), ci.PrepareResult, error) {
	se, patches, err := w.svc.Series(ctx, seriesID)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	repo, err := w.st.ListRepo(ctx, se.List)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	m := gitrepo.NewMirror(w.data, se.List, repo.Repo)
	unlock, err := m.Lock(ctx)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	defer unlock()
	if err := m.Sync(ctx); err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	wt, err := m.Worktree(ctx, se.BaseCommit, repo.Branch)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	cleanup := func() { wt.Close() }
	res := ci.PrepareResult{Base: fmt.Sprintf("%s at %.12s", repo.Branch, wt.Base)}
	fail := func(out string) (string, func(), ci.PrepareResult, error) {
		cleanup()
		res.Output = out
		return "", nil, res, nil
	}
	links, err := wt.Symlinks(ctx)
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	diffs, err := gitrepo.SeriesDiffs(ctx, w.st, se.List, patches)
	var pe *gitrepo.ParseError
	if errors.As(err, &pe) {
		return fail(fmt.Sprintf("patch %d does not parse: %v", pe.Patch, pe.Err))
	}
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	if _, err := gitrepo.CheckPatches(diffs, links); err != nil {
		return fail("refused before git saw it: " + err.Error())
	}
	var mbox bytes.Buffer
	if err := w.svc.SeriesMboxLinked(ctx, seriesID, w.webURL, &mbox); err != nil {
		cleanup()
		return "", nil, res, err
	}
	commits, err := wt.Am(ctx, mbox.Bytes(), "patchwell CI", "ci@patchwell.invalid")
	var conflict *gitrepo.Conflict
	if errors.As(err, &conflict) {
		return fail(conflict.Error())
	}
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	if err := wt.VerifyCommits(ctx, commits); err != nil {
		return fail("refused after git am: " + err.Error())
	}
	res.Applied = true
	res.Output = fmt.Sprintf("applied %d patches on %s", len(commits), res.Base)
	return wt.Dir, cleanup, res, nil
}

// checkFor is the list's check command (its .patchwell.yml on the target
// branch is not read yet).
func (w *ciWiring) checkFor(ctx context.Context, seriesID int64) (string, sandbox.Limits, error) {
	se, err := w.st.Series(ctx, seriesID)
	if err != nil {
		return "", w.limits, err
	}
	repo, err := w.st.ListRepo(ctx, se.List)
	if err != nil {
		return "", w.limits, err
	}
	return repo.Check, w.limits, nil
}

// gate holds a first-time contributor's series (no earlier series of
// theirs applied or approved on the list) until a maintainer releases
// it, when the list asks for that (the default).
func (w *ciWiring) gate(ctx context.Context, seriesID int64) (bool, string) {
	se, err := w.st.Series(ctx, seriesID)
	if err != nil {
		return false, err.Error()
	}
	repo, err := w.st.ListRepo(ctx, se.List)
	if err != nil || !repo.FirstTimerGate {
		return true, ""
	}
	ok, err := w.st.EarlierAccepted(ctx, seriesID)
	if err != nil {
		return false, err.Error()
	}
	if !ok {
		return false, fmt.Sprintf("first series from %s on %s: a maintainer must allow its code to run", se.Submitter.Email, se.List)
	}
	return true, ""
}

// finished tells webhooks about the checks a job recorded.
func (w *ciWiring) finished(j *store.Job, state string, checks []store.Check) {
	if w.hooks == nil {
		return
	}
	ctx := context.Background()
	s, err := w.st.Series(ctx, j.SeriesID)
	if err != nil {
		return
	}
	for i := range checks {
		w.hooks.CheckCreated(ctx, s, &checks[i])
	}
}

// remoteHandler serves remote runners (`patchwell runner`): a token must
// belong to a site admin (an account made for the runner).
func (w *ciWiring) remoteHandler(acc *review.Accounts) http.Handler {
	return ci.Handler(ci.HandlerConfig{
		Store: w.st,
		Auth: func(ctx context.Context, token string) (string, bool) {
			u, err := acc.TokenUser(ctx, token)
			if err != nil || !u.Admin {
				return "", false
			}
			return u.Email, true
		},
		Describe: func(ctx context.Context, seriesID int64) (ci.RemoteJob, error) {
			se, err := w.st.Series(ctx, seriesID)
			if err != nil {
				return ci.RemoteJob{}, err
			}
			repo, err := w.st.ListRepo(ctx, se.List)
			if err != nil {
				return ci.RemoteJob{}, err
			}
			return ci.RemoteJob{MboxURL: fmt.Sprintf("%s/api/v1/series/%d/mbox", w.webURL, seriesID), RepoURL: repo.Repo,
				Branch: repo.Branch, Base: se.BaseCommit, Check: repo.Check, Limits: ci.WireLimits(w.limits)}, nil
		},
		Gate:     w.gate,
		Logger:   w.log,
		Finished: w.finished,
	})
}

// release gives a held series' job the go-ahead (web.Config.CIRelease).
func (w *ciWiring) release(ctx context.Context, seriesID int64) error {
	j, err := w.st.JobForSeries(ctx, seriesID)
	if err != nil {
		return err
	}
	if j.State != store.JobHeld {
		return fmt.Errorf("job %d is %s: %w", j.ID, j.State, store.ErrConflict)
	}
	_, err = w.runner.Release(ctx, j.ID)
	return err
}

// refreshAll fetches every list's repository and marks series whose
// patches arrived there by another way (a direct push) applied.
func (w *ciWiring) refreshAll(ctx context.Context) {
	lists, err := w.st.Lists(ctx)
	if err != nil {
		return
	}
	ap := &gitrepo.Applier{Store: w.st, Service: w.svc, DataDir: w.data, WebURL: w.webURL}
	for _, l := range lists {
		if _, err := w.st.ListRepo(ctx, l.Name); err != nil {
			continue
		}
		rs, err := ap.Refresh(ctx, l.Name)
		if err != nil {
			w.log.Warn("fetch repository", "list", l.Name, "err", err)
			continue
		}
		for _, r := range rs {
			w.log.Info("series found applied on the branch", "list", l.Name, "series", r.Series.ID)
		}
	}
}
