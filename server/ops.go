package server

// Operations wiring: /metrics (package metrics, on its own listener),
// /healthz's check and CI job timing.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"patchwell/metrics"
	"patchwell/store"
)

// newMetrics makes the registry, with the queue gauges read from st.
func newMetrics(st *store.DB, log *slog.Logger) *metrics.Metrics {
	return metrics.New(func(ctx context.Context) (metrics.Depths, error) {
		d, err := st.QueueDepths(ctx)
		if err != nil {
			return metrics.Depths{}, err
		}
		return metrics.Depths{OutboundPending: d.OutboundPending, CIQueued: d.JobsQueued,
			CIRunning: d.JobsRunning, CIHeld: d.JobsHeld, WebhooksPending: d.WebhooksPending}, nil
	}, log)
}

// metricsServer serves /metrics (and /healthz) on an address of its
// own: the web listener is public, this one is for the monitoring
// network or loopback.
func metricsServer(m *metrics.Metrics, health func(context.Context) error) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	healthz := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := health(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unavailable: %v\n", err)
			return
		}
		fmt.Fprint(w, "ok")
	}
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", healthz)
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, "ok")
	})
	return &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
}

// errDraining is the health checks' answer once shutdown has begun.
var errDraining = errors.New("draining: this node is shutting down")

// unlessDraining is check, failing from the moment the node starts to
// drain.
func (s *Server) unlessDraining(check func(context.Context) error) func(context.Context) error {
	return func(ctx context.Context) error {
		if s.draining.Load() {
			return errDraining
		}
		return check(ctx)
	}
}

// healthCheck is /healthz's question: does the store answer a trivial
// query, and can files be made in the data directory (repositories,
// worktrees and, for SQLite, the database's journal live there)? The
// errors say which, without paths (the answer is public).
func healthCheck(st *store.DB, dataDir string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := st.Ping(ctx); err != nil {
			return errors.New("store does not answer")
		}
		f, err := os.CreateTemp(dataDir, ".healthz-*")
		if err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fmt.Errorf("data directory not writable: %v", err)
		}
		name := f.Name()
		f.Close()
		if err := os.Remove(name); err != nil {
			return errors.New("data directory: cannot remove a file")
		}
		return nil
	}
}

// timedJobs is the store with each CI job timed from its claim (by this
// process's runner, or by a remote runner through this process) to its
// result, for metrics. A job held for a maintainer is not a run and is
// not timed; a result posted to another node is not either. A claim
// whose runner died stays in the map until the job is claimed again
// (its lease lapsed) or finished: one entry per job at most.
type timedJobs struct {
	*store.DB
	observe func(state string, d time.Duration)

	mu      sync.Mutex
	claimed map[int64]time.Time
}

func newTimedJobs(st *store.DB, observe func(state string, d time.Duration)) *timedJobs {
	return &timedJobs{DB: st, observe: observe, claimed: map[int64]time.Time{}}
}

func (t *timedJobs) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*store.Job, error) {
	j, err := t.DB.ClaimJob(ctx, owner, lease)
	if j != nil {
		t.mu.Lock()
		t.claimed[j.ID] = time.Now()
		t.mu.Unlock()
	}
	return j, err
}

func (t *timedJobs) FinishJob(ctx context.Context, id int64, owner, state, lastError string, checks []store.Check) error {
	err := t.DB.FinishJob(ctx, id, owner, state, lastError, checks)
	if err != nil {
		// Not finished (ErrLeaseLost: by another runner, whose claim
		// is the one timed).
		return err
	}
	t.mu.Lock()
	at, ok := t.claimed[id]
	delete(t.claimed, id)
	t.mu.Unlock()
	if ok && state != store.JobHeld {
		t.observe(state, time.Since(at))
	}
	return nil
}
