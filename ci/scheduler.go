package ci

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"patchwell/review"
	"patchwell/sandbox"
	"patchwell/store"
)

// SchedulerStore is what the Scheduler needs of the store besides the
// runner's Store.
type SchedulerStore interface {
	Store
	Lists(ctx context.Context) ([]store.List, error)
	Series(ctx context.Context, id int64) (*store.Series, error)
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
	FilterSeries(ctx context.Context, list string, f store.SeriesFilter) ([]store.Series, error)
	Checks(ctx context.Context, seriesID int64) ([]store.Check, error)
}

// Replier posts a reply on a series' thread: the one road to a list
// (review.Service.PostReply).
type Replier interface {
	PostReply(ctx context.Context, r review.Reply) (string, error)
}

// Notifier is told of queued jobs (the series changed) and of the
// checks a job recorded (webhook.Dispatcher).
type Notifier interface {
	SeriesChanged(ctx context.Context, s *store.Series) error
	CheckCreated(ctx context.Context, s *store.Series, c *store.Check) error
}

// Tokens finds the account an API token belongs to
// (review.Accounts.TokenUser).
type Tokens interface {
	TokenUser(ctx context.Context, token string) (*store.User, error)
}

// DefaultGrace is how long an incomplete revision waits for its
// missing patches before CI runs what arrived (serve --ci-grace).
// git send-email sends a series within seconds; a patch still missing
// after half an hour was lost or is held by moderation.
const DefaultGrace = 30 * time.Minute

// SchedulerConfig configures a Scheduler.
type SchedulerConfig struct {
	Store     SchedulerStore
	Workspace Workspace
	// Domain is the mail domain: the summary reply is from LIST@Domain.
	Domain string
	// WebURL is the web UI's address, for the links of the summary and
	// the series' mbox a remote runner fetches.
	WebURL string
	// Mail replies on the series' thread with the summary of the
	// checks when a job is done (serve --ci-mail), through Replies.
	Mail    bool
	Replies Replier
	// Notify, when set, is told of queued jobs and recorded checks.
	Notify Notifier
	// Grace is how long an incomplete revision (k of n patches) waits
	// for the rest before it gets a job anyway; 0: it never does.
	Grace time.Duration
	// QueueOnly queues jobs without running any here: remote runners
	// (patchwell runner) claim them (a cluster's serve nodes need no
	// sandbox then).
	QueueOnly bool
	// Limits bound each check (default sandbox.DefaultLimits).
	Limits sandbox.Limits
	// WorkDir is where the Workspace makes its working directories
	// (Config.WorkDir).
	WorkDir string
	Logger  *slog.Logger
	// Now is the clock of the grace period (default time.Now).
	Now func() time.Time
}

// Scheduler runs CI for a server: it finds the complete revisions of
// lists with a repository that have no job and queues them (at once
// when kicked, after every delivery, and every few seconds for mail
// another process stored), gives an incomplete revision a grace period
// for its missing patches, runs the jobs in an in-process Runner on the
// Workspace, holds a first-time contributor's series until a maintainer
// releases it (when the list asks for that), tells the Notifier of jobs
// and checks, and, with Mail, replies on the thread with the summary.
type Scheduler struct {
	cfg    SchedulerConfig
	log    *slog.Logger
	runner *Runner
	kick   chan struct{}
	// scanEvery is how often incomplete revisions are looked for.
	scanEvery time.Duration
	// firstSeen is when this process first saw an incomplete revision:
	// its grace runs from the earlier of that and its Date, so a Date
	// in the future does not put it off. Only Run's goroutine uses it.
	firstSeen map[int64]time.Time
}

// NewScheduler returns a Scheduler; Run starts it.
func NewScheduler(cfg SchedulerConfig) (*Scheduler, error) {
	if cfg.Store == nil || cfg.Workspace == nil {
		return nil, errors.New("ci: a scheduler needs a store and a workspace")
	}
	if cfg.Mail && cfg.Replies == nil {
		return nil, errors.New("ci: summary replies need a Replier")
	}
	if cfg.Grace < 0 {
		return nil, fmt.Errorf("ci: negative grace period %s", cfg.Grace)
	}
	if cfg.Limits == (sandbox.Limits{}) {
		cfg.Limits = sandbox.DefaultLimits
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Scheduler{cfg: cfg, log: cfg.Logger, kick: make(chan struct{}, 1), scanEvery: time.Minute, firstSeen: map[int64]time.Time{}}
	r, err := New(Config{Store: cfg.Store, Prepare: s.prepare, CheckFor: s.checkFor, Gate: s.gate,
		Logger: cfg.Logger, Poll: 2 * time.Second, Finished: s.finished, WorkDir: cfg.WorkDir})
	if err != nil {
		return nil, err
	}
	s.runner = r
	return s, nil
}

// Kick looks for new complete revisions now.
func (s *Scheduler) Kick() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Run queues and runs jobs until ctx ends.
func (s *Scheduler) Run(ctx context.Context) {
	if !s.cfg.QueueOnly {
		go s.runner.Run(ctx)
	}
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	var lastScan time.Time
	for {
		ids, err := s.cfg.Store.SeriesWithoutJob(ctx, 100)
		if err != nil && ctx.Err() == nil {
			s.log.Warn("ci: find revisions", "err", err)
		}
		if s.cfg.Grace > 0 && s.cfg.Now().Sub(lastScan) >= s.scanEvery {
			lastScan = s.cfg.Now()
			ids = append(ids, s.incompleteDue(ctx)...)
		}
		for _, id := range ids {
			if _, err := s.runner.Enqueue(ctx, id); err != nil {
				s.log.Warn("ci: enqueue", "series", id, "err", err)
				continue
			}
			if s.cfg.Notify != nil {
				if se, err := s.cfg.Store.Series(ctx, id); err == nil {
					s.cfg.Notify.SeriesChanged(ctx, se)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.kick:
		}
	}
}

// prepare is the Workspace's Prepare with the note of an incomplete
// revision.
func (s *Scheduler) prepare(ctx context.Context, seriesID int64) (string, func(), PrepareResult, error) {
	dir, cleanup, res, err := s.cfg.Workspace.Prepare(ctx, seriesID)
	if err != nil {
		return dir, cleanup, res, err
	}
	se, err := s.cfg.Store.Series(ctx, seriesID)
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return "", nil, res, err
	}
	res.Note = incompleteNote(se)
	return dir, cleanup, res, nil
}

// checkFor is the Workspace's definition of the series' check, with the
// scheduler's limits. The runner calls it after prepare fetched.
func (s *Scheduler) checkFor(ctx context.Context, seriesID int64) (*Definition, sandbox.Limits, error) {
	def, err := s.cfg.Workspace.Definition(ctx, seriesID, false)
	return def, s.cfg.Limits, err
}

// incompleteNote is the note on the checks of a revision that has not
// received all its patches; "" for a complete one.
func incompleteNote(se *store.Series) string {
	if se.Received >= se.Total {
		return ""
	}
	return fmt.Sprintf("incomplete: %d of %d patches", se.Received, se.Total)
}

// gate holds a first-time contributor's series (no earlier series of
// theirs applied or approved on the list) until a maintainer releases
// it, when the list asks for that (the default).
func (s *Scheduler) gate(ctx context.Context, seriesID int64) (bool, string) {
	se, err := s.cfg.Store.Series(ctx, seriesID)
	if err != nil {
		return false, err.Error()
	}
	repo, err := s.cfg.Store.ListRepo(ctx, se.List)
	if err != nil || !repo.FirstTimerGate {
		return true, ""
	}
	ok, err := s.cfg.Store.EarlierAccepted(ctx, seriesID)
	if err != nil {
		return false, err.Error()
	}
	if !ok {
		return false, fmt.Sprintf("first series from %s on %s: a maintainer must allow its code to run", se.Submitter.Email, se.List)
	}
	return true, ""
}

// Release gives a held series' job the go-ahead (web.Config.CIRelease);
// store.ErrConflict when its job is not held.
func (s *Scheduler) Release(ctx context.Context, seriesID int64) error {
	j, err := s.cfg.Store.JobForSeries(ctx, seriesID)
	if err != nil {
		return err
	}
	if j.State != store.JobHeld {
		return fmt.Errorf("job %d is %s: %w", j.ID, j.State, store.ErrConflict)
	}
	_, err = s.runner.Release(ctx, j.ID)
	return err
}

// RemoteHandler serves remote runners (`patchwell runner`, see
// Handler): a token must belong to a site admin (an account made for
// the runner). A job's check definition comes from the server's mirror
// of the branch, fetched when the job is claimed, never from the
// runner's patched clone.
func (s *Scheduler) RemoteHandler(tokens Tokens) http.Handler {
	return Handler(HandlerConfig{
		Store: s.cfg.Store,
		Auth: func(ctx context.Context, token string) (string, bool) {
			u, err := tokens.TokenUser(ctx, token)
			if err != nil || !u.Admin {
				return "", false
			}
			return u.Email, true
		},
		Describe: s.describe,
		Gate:     s.gate,
		Logger:   s.log,
		Finished: s.finished,
	})
}

// describe is the RemoteJob of a series (HandlerConfig.Describe).
func (s *Scheduler) describe(ctx context.Context, seriesID int64) (RemoteJob, error) {
	se, err := s.cfg.Store.Series(ctx, seriesID)
	if err != nil {
		return RemoteJob{}, err
	}
	repo, err := s.cfg.Store.ListRepo(ctx, se.List)
	if err != nil {
		return RemoteJob{}, err
	}
	j := RemoteJob{MboxURL: fmt.Sprintf("%s/api/v1/series/%d/mbox", s.cfg.WebURL, seriesID), RepoURL: repo.Repo, VCS: repo.VCS,
		Branch: repo.Branch, Base: se.BaseCommit, Check: repo.Check, Limits: WireLimits(s.cfg.Limits), Note: incompleteNote(se)}
	if err := j.SetDefinition(s.cfg.Workspace.Definition(ctx, seriesID, true)); err != nil {
		return RemoteJob{}, err
	}
	return j, nil
}

// incompleteWindow bounds how many of a list's newest open series the
// incomplete scan looks at.
const incompleteWindow = 200

// incompleteDue returns the open, incomplete revisions of lists with a
// repository whose grace period has passed and that have no job yet. It
// also queues again, as complete, a revision whose job ran while it was
// incomplete and whose missing patches have arrived since.
func (s *Scheduler) incompleteDue(ctx context.Context) []int64 {
	lists, err := s.cfg.Store.Lists(ctx)
	if err != nil {
		return nil
	}
	now := s.cfg.Now()
	var due []int64
	seen := map[int64]bool{}
	for _, l := range lists {
		if _, err := s.cfg.Store.ListRepo(ctx, l.Name); err != nil {
			continue
		}
		ss, err := s.cfg.Store.FilterSeries(ctx, l.Name, store.SeriesFilter{Status: store.StatusOpen, Limit: incompleteWindow})
		if err != nil {
			s.log.Warn("ci: find incomplete revisions", "list", l.Name, "err", err)
			continue
		}
		for _, se := range ss {
			if se.Total <= 0 || se.PullURL != "" || se.SupersededBy != 0 {
				continue
			}
			if se.Received >= se.Total {
				s.rerunCompleted(ctx, se.ID)
				continue
			}
			seen[se.ID] = true
			first, ok := s.firstSeen[se.ID]
			if !ok {
				first = now
				s.firstSeen[se.ID] = now
			}
			since := first
			if !se.Date.IsZero() && se.Date.Before(since) {
				since = se.Date
			}
			if now.Sub(since) < s.cfg.Grace {
				continue
			}
			if _, err := s.cfg.Store.JobForSeries(ctx, se.ID); errors.Is(err, store.ErrNotFound) {
				s.log.Info("ci: incomplete revision queued after its grace period", "series", se.ID, "received", se.Received, "total", se.Total)
				due = append(due, se.ID)
			}
		}
	}
	for id := range s.firstSeen {
		if !seen[id] {
			delete(s.firstSeen, id)
		}
	}
	return due
}

// rerunCompleted queues again a complete revision whose finished job
// ran while it was incomplete (its checks carry the "incomplete:" note).
func (s *Scheduler) rerunCompleted(ctx context.Context, seriesID int64) {
	j, err := s.cfg.Store.JobForSeries(ctx, seriesID)
	if err != nil || (j.State != store.JobDone && j.State != store.JobFailed) {
		return
	}
	cs, err := s.cfg.Store.Checks(ctx, seriesID)
	if err != nil {
		return
	}
	for _, c := range cs {
		if c.Context == ContextApply && strings.Contains(c.Description, "(incomplete: ") {
			if _, err := s.runner.Retry(ctx, j.ID); err != nil {
				s.log.Warn("ci: run a completed revision again", "series", seriesID, "err", err)
				return
			}
			s.log.Info("ci: revision completed after an incomplete run: queued again", "series", seriesID)
			return
		}
	}
}
