package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/review"
	"patchwell/sandbox"
	"patchwell/store"
	"patchwell/webhook"
)

var _ ci.Workspace = (*gitrepo.Workspace)(nil)

// ciWiring runs CI for serve: it finds complete revisions of lists that
// have a repository and queues them (woken after every delivery, and
// every few seconds for mail another process stored), and runs them in
// the in-process runner: mirror fetched, worktree at the base, paths
// checked, `git am -3`, the list's check in the sandbox.
type ciWiring struct {
	st      store.Store
	svc     *review.Service
	ws      ci.Workspace
	data    string
	webURL  string
	log     *slog.Logger
	runner  *ci.Runner
	hooks   *webhook.Dispatcher
	domain  string // the mail domain, for the applied reply
	kick    chan struct{}
	limits  sandbox.Limits
	enqueue func(ctx context.Context, id int64) (*store.Job, error)
	// grace is how long an incomplete revision (k of n patches) waits
	// for the rest before it gets a job anyway (0: it never does);
	// scanEvery is how often incomplete revisions are looked for.
	grace     time.Duration
	scanEvery time.Duration
	// firstSeen is when this process first saw an incomplete revision:
	// its grace runs from the earlier of that and its Date, so a Date
	// in the future does not put it off.
	firstSeen map[int64]time.Time
	now       func() time.Time
	// mail replies on the thread with the summary when a job is done
	// (serve --ci-mail); kickOutbound wakes the delivery worker.
	mail         bool
	kickOutbound func()
}

func newCI(st store.Store, svc *review.Service, ws ci.Workspace, data, webURL string, hooks *webhook.Dispatcher, log *slog.Logger) (*ciWiring, error) {
	w := &ciWiring{st: st, svc: svc, ws: ws, data: data, webURL: webURL, log: log, hooks: hooks,
		kick: make(chan struct{}, 1), limits: sandbox.DefaultLimits,
		grace: defaultCIGrace, scanEvery: time.Minute, firstSeen: map[int64]time.Time{}, now: time.Now}
	r, err := ci.New(ci.Config{Store: st, Prepare: w.prepare, CheckFor: w.checkFor, Gate: w.gate,
		Logger: log, Poll: 2 * time.Second, Finished: w.finished, WorkDir: gitrepo.WorkDir(data)})
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
	var lastScan time.Time
	for {
		ids, err := w.st.SeriesWithoutJob(ctx, 100)
		if err != nil && ctx.Err() == nil {
			w.log.Warn("ci: find revisions", "err", err)
		}
		if w.grace > 0 && w.now().Sub(lastScan) >= w.scanEvery {
			lastScan = w.now()
			ids = append(ids, w.incompleteDue(ctx)...)
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
		}
	}
}

// prepare is the workspace's Prepare with the note of an incomplete
// revision.
func (w *ciWiring) prepare(ctx context.Context, seriesID int64) (string, func(), ci.PrepareResult, error) {
	dir, cleanup, res, err := w.ws.Prepare(ctx, seriesID)
	if err != nil {
		return dir, cleanup, res, err
	}
	se, err := w.st.Series(ctx, seriesID)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return "", nil, res, err
	}
	res.Note = incompleteNote(se)
	return dir, cleanup, res, nil
}

// checkFor is the workspace's definition of the series' check, with
// the limits. The runner calls it after prepare fetched the mirror.
func (w *ciWiring) checkFor(ctx context.Context, seriesID int64) (*ci.Definition, sandbox.Limits, error) {
	def, err := w.ws.Definition(ctx, seriesID, false)
	return def, w.limits, err
}

// incompleteNote is the note on the checks of a revision that has not
// received all its patches; "" for a complete one.
func incompleteNote(se *store.Series) string {
	if se.Received >= se.Total {
		return ""
	}
	return fmt.Sprintf("incomplete: %d of %d patches", se.Received, se.Total)
}

// defaultCIGrace is how long an incomplete revision waits for its
// missing patches before CI runs what arrived (serve --ci-grace).
// git send-email sends a series within seconds; a patch still missing
// after half an hour was lost or is held by moderation.
const defaultCIGrace = 30 * time.Minute

// incompleteWindow bounds how many of a list's newest open series the
// incomplete scan looks at.
const incompleteWindow = 200

// incompleteDue returns the open, incomplete revisions of lists with a
// repository whose grace period has passed and that have no job yet. It
// also queues again, as complete, a revision whose job ran while it was
// incomplete and whose missing patches have arrived since.
func (w *ciWiring) incompleteDue(ctx context.Context) []int64 {
	lists, err := w.st.Lists(ctx)
	if err != nil {
		return nil
	}
	now := w.now()
	var due []int64
	seen := map[int64]bool{}
	for _, l := range lists {
		if _, err := w.st.ListRepo(ctx, l.Name); err != nil {
			continue
		}
		ss, err := w.st.FilterSeries(ctx, l.Name, store.SeriesFilter{Status: store.StatusOpen, Limit: incompleteWindow})
		if err != nil {
			w.log.Warn("ci: find incomplete revisions", "list", l.Name, "err", err)
			continue
		}
		for _, s := range ss {
			if s.Total <= 0 || s.PullURL != "" || s.SupersededBy != 0 {
				continue
			}
			if s.Received >= s.Total {
				w.rerunCompleted(ctx, s.ID)
				continue
			}
			seen[s.ID] = true
			first, ok := w.firstSeen[s.ID]
			if !ok {
				first = now
				w.firstSeen[s.ID] = now
			}
			since := first
			if !s.Date.IsZero() && s.Date.Before(since) {
				since = s.Date
			}
			if now.Sub(since) < w.grace {
				continue
			}
			if _, err := w.st.JobForSeries(ctx, s.ID); errors.Is(err, store.ErrNotFound) {
				w.log.Info("ci: incomplete revision queued after its grace period", "series", s.ID, "received", s.Received, "total", s.Total)
				due = append(due, s.ID)
			}
		}
	}
	for id := range w.firstSeen {
		if !seen[id] {
			delete(w.firstSeen, id)
		}
	}
	return due
}

// rerunCompleted queues again a complete revision whose finished job
// ran while it was incomplete (its checks carry the "incomplete:" note).
func (w *ciWiring) rerunCompleted(ctx context.Context, seriesID int64) {
	j, err := w.st.JobForSeries(ctx, seriesID)
	if err != nil || (j.State != store.JobDone && j.State != store.JobFailed) {
		return
	}
	cs, err := w.st.Checks(ctx, seriesID)
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Context == ci.ContextApply && strings.Contains(c.Description, "(incomplete: ") {
			if _, err := w.runner.Retry(ctx, j.ID); err != nil {
				w.log.Warn("ci: run a completed revision again", "series", seriesID, "err", err)
				return
			}
			w.log.Info("ci: revision completed after an incomplete run: queued again", "series", seriesID)
			return
		}
	}
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

// finished tells webhooks about the checks a job recorded and, with
// serve --ci-mail, replies on the series' thread with their summary.
func (w *ciWiring) finished(j *store.Job, state string, checks []store.Check) {
	ctx := context.Background()
	s, err := w.st.Series(ctx, j.SeriesID)
	if err != nil {
		return
	}
	if w.hooks != nil {
		for i := range checks {
			w.hooks.CheckCreated(ctx, s, &checks[i])
		}
	}
	// Only a result is worth a mail to the list: not a held job (the
	// series page says it waits), not a runner's failure (the log
	// says why, for the operator).
	if w.mail && state == store.JobDone {
		if err := w.sendSummary(ctx, s, checks); err != nil {
			w.log.Error("ci: summary reply not queued", "series", s.ID, "job", j.ID, "err", err)
		}
	}
}

// sendSummary archives the CI summary reply in the series' thread and
// queues it to the list, as the "Applied, thanks" reply is (postReply).
func (w *ciWiring) sendSummary(ctx context.Context, s *store.Series, checks []store.Check) error {
	// The stored checks carry the ids the log URLs need.
	stored, err := w.st.Checks(ctx, s.ID)
	if err != nil {
		return err
	}
	byKey := map[string]store.Check{}
	for _, c := range stored {
		byKey[fmt.Sprintf("%d/%s", c.PatchIndex, c.Context)] = c
	}
	for i, c := range checks {
		if sc, ok := byKey[fmt.Sprintf("%d/%s", c.PatchIndex, c.Context)]; ok {
			checks[i].ID = sc.ID
		}
	}
	from := (&mail.Address{Name: s.List + " CI", Address: s.List + "@" + w.domain}).String()
	_, err = w.svc.PostReply(ctx, review.Reply{Series: s, From: from, Tag: "ci", Body: ciSummary(s, checks, w.webURL)})
	return err
}

// ciSummary is the body of the CI reply: each check's context, state,
// description and log URL, and the series page. Checks on single
// patches are listed only when they did not pass (the series page has
// them all).
func ciSummary(s *store.Series, checks []store.Check, webURL string) string {
	var b strings.Builder
	worst := store.CheckSuccess
	rank := map[string]int{store.CheckSuccess: 0, store.CheckPending: 1, store.CheckWarning: 2, store.CheckFail: 3}
	for _, c := range checks {
		if rank[c.State] > rank[worst] {
			worst = c.State
		}
	}
	fmt.Fprintf(&b, "CI result for this series (v%d, %d of %d patches): %s\n\n", max(s.Version, 1), s.Received, s.Total, worst)
	for _, c := range checks {
		if c.PatchIndex > 0 && c.State == store.CheckSuccess {
			continue
		}
		name := c.Context
		if c.PatchIndex > 0 {
			name = fmt.Sprintf("%s (patch %d)", c.Context, c.PatchIndex)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, c.State)
		if c.Description != "" {
			fmt.Fprintf(&b, "  %s\n", oneLine(c.Description))
		}
		if c.ID > 0 && c.Log != "" {
			fmt.Fprintf(&b, "  log: %s/api/v1/checks/%d/log\n", webURL, c.ID)
		}
	}
	fmt.Fprintf(&b, "\nSeries: %s/series/%d/#checks\n", webURL, s.ID)
	b.WriteString("\n-- \npatchwell CI\n")
	return b.String()
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
			j := ci.RemoteJob{MboxURL: fmt.Sprintf("%s/api/v1/series/%d/mbox", w.webURL, seriesID), RepoURL: repo.Repo,
				Branch: repo.Branch, Base: se.BaseCommit, Check: repo.Check, Limits: ci.WireLimits(w.limits), Note: incompleteNote(se)}
			// The definition comes from the server's mirror of the
			// branch, fetched now, never from the runner's patched clone.
			if err := j.SetDefinition(w.ws.Definition(ctx, seriesID, true)); err != nil {
				return ci.RemoteJob{}, err
			}
			return j, nil
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

// oneLine keeps a description on one line of the summary.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
