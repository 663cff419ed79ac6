package main

// Operations wiring: /metrics (package metrics, on its own listener),
// /healthz's check, CI job timing, and the backup command.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"patchwell/internal/proxyproto"
	"patchwell/metrics"
	"patchwell/store"
)

// queueCounter is an optional ability of a store: counting what waits
// in its queues (store.SQLite has it, store/ops.go).
type queueCounter interface {
	QueueDepths(ctx context.Context) (*store.QueueDepths, error)
}

// pinger is an optional ability of a store: a trivial query for health
// checks. Stores without it are asked their Generation.
type pinger interface {
	Ping(ctx context.Context) error
}

// newMetrics makes the registry, with the queue gauges when st can count
// its queues.
func newMetrics(st store.Store, log *slog.Logger) *metrics.Metrics {
	qc, ok := st.(queueCounter)
	if !ok {
		return metrics.New(nil, log)
	}
	return metrics.New(func(ctx context.Context) (metrics.Depths, error) {
		d, err := qc.QueueDepths(ctx)
		if err != nil {
			return metrics.Depths{}, err
		}
		return metrics.Depths{OutboundPending: d.OutboundPending, CIQueued: d.JobsQueued,
			CIRunning: d.JobsRunning, CIHeld: d.JobsHeld, WebhooksPending: d.WebhooksPending}, nil
	}, log)
}

// proxyListen returns serve's listen function: net.Listen, and with
// trusted load balancers (--proxy-protocol-from) TCP listeners that read
// their PROXY headers, so that smtpd, imapd and web see clients'
// addresses.
func proxyListen(from string) (func(network, addr string) (net.Listener, error), error) {
	trusted, err := proxyproto.ParseTrusted(from)
	if err != nil {
		return nil, err
	}
	return func(network, addr string) (net.Listener, error) {
		l, err := net.Listen(network, addr)
		if err != nil || len(trusted) == 0 || network != "tcp" {
			return l, err
		}
		return &proxyproto.Listener{Listener: l, Trusted: trusted}, nil
	}, nil
}

// serveMetrics serves /metrics (and /healthz) on addr, an address of its
// own: the web listener is public, this one is for the monitoring
// network or loopback.
func serveMetrics(l net.Listener, m *metrics.Metrics, health func(context.Context) error, errc chan<- error) *http.Server {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", m.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := health(r.Context()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "unavailable: %v\n", err)
			return
		}
		fmt.Fprint(w, "ok")
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() { errc <- srv.Serve(l) }()
	return srv
}

// healthCheck is /healthz's question: does the store answer a trivial
// query, and can files be made in the data directory (repositories,
// worktrees and, for SQLite, the database's journal live there)? The
// errors say which, without paths (the answer is public).
func healthCheck(st store.Store, dataDir string) func(ctx context.Context) error {
	ping := func(ctx context.Context) error { _, err := st.Generation(ctx); return err }
	if p, ok := st.(pinger); ok {
		ping = p.Ping
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := ping(ctx); err != nil {
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
	store.Store
	observe func(state string, d time.Duration)

	mu      sync.Mutex
	claimed map[int64]time.Time
}

func newTimedJobs(st store.Store, observe func(state string, d time.Duration)) *timedJobs {
	return &timedJobs{Store: st, observe: observe, claimed: map[int64]time.Time{}}
}

func (t *timedJobs) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*store.Job, error) {
	j, err := t.Store.ClaimJob(ctx, owner, lease)
	if j != nil {
		t.mu.Lock()
		t.claimed[j.ID] = time.Now()
		t.mu.Unlock()
	}
	return j, err
}

func (t *timedJobs) FinishJob(ctx context.Context, id int64, owner, state, lastError string, checks []store.Check) error {
	err := t.Store.FinishJob(ctx, id, owner, state, lastError, checks)
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

func cmdBackup(args []string) error {
	fs := newFlags("backup")
	data, dbURL := storeFlags(fs)
	out := fs.String("out", "", "the copy to write (must not exist)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) != 0 {
		return usageError{"usage: patchwell " + commands["backup"].usage}
	}
	if *dbURL != "" {
		return errors.New("the store is PostgreSQL (--db or $PATCHWELL_DB): back it up with pg_dump (docs/deploy.md)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := store.Backup(ctx, *data, *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", *out, fi.Size())
	return nil
}
