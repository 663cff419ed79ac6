// Package metrics defines patchwell's Prometheus metrics and serves them
// (/metrics, in the text exposition format). It owns one registry (never
// the global one) and every metric name; the packages it measures do not
// import it: smtpd, imapd, web and review each take a small observer
// func in their config, and cmd/patchwell connects those to the methods
// here. The queue depths are read from the store on each scrape by a
// Collector (Depths, a few indexed counts).
//
// Labels are bounded by construction: HTTP requests by route pattern
// ("GET /{list}/{rest...}"), never the raw path; IMAP commands by a fixed
// set of names; SMTP replies and HTTP statuses by class. No label carries
// a list name, so a scrape says nothing about which (private) lists
// exist; still, serve builds it on its own listener (--metrics), not on
// the public web one.
package metrics

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Ingest outcomes of a message stored in one list (Metrics.Stored).
const (
	Stored    = "stored"    // newly archived, nothing odd about it
	Flagged   = "flagged"   // newly archived with a flag (unparsable, no or reused Message-ID ...)
	Duplicate = "duplicate" // the same bytes were already in the list
)

// Depths are the queues' lengths, read from the store on each scrape.
type Depths struct {
	OutboundPending int64 // list mail deliveries not yet sent or given up
	CIQueued        int64
	CIRunning       int64
	CIHeld          int64 // waiting for a maintainer's go-ahead
	WebhooksPending int64
}

// DepthsFunc reads the queue depths (store.SQLite.QueueDepths, adapted).
type DepthsFunc func(ctx context.Context) (Depths, error)

// Metrics holds the registry and the metrics patchwell updates.
type Metrics struct {
	reg      *prometheus.Registry
	replies  *prometheus.CounterVec
	messages *prometheus.CounterVec
	commit   *prometheus.HistogramVec
	ciJobs   *prometheus.HistogramVec
	http     *prometheus.HistogramVec
	imap     *prometheus.HistogramVec
	log      *slog.Logger
}

// New makes the registry with patchwell's metrics, the Go runtime's and
// the process's. depths may be nil (no queue gauges).
func New(depths DepthsFunc, log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		log: log,
		replies: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchwell_ingest_replies_total",
			Help: "Replies to SMTP DATA (per recipient for LMTP): accepted (250, committed), rejected (5xx), deferred (4xx, the sender retries).",
		}, []string{"proto", "result"}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "patchwell_ingest_messages_total",
			Help: "Messages archived by serve (SMTP/LMTP posts, approved held posts, web reviews, apply replies) per list copy, counted once committed: stored, flagged (stored with a flag: unparsable, no or reused Message-ID) or duplicate (already in the list).",
		}, []string{"outcome"}),
		commit: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "patchwell_ingest_commit_seconds",
			Help: "Time from the end of a message's DATA to its durable commit, for accepted messages: how long the client waits for 250.",
			// 1 ms to 16 s.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"proto"}),
		ciJobs: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchwell_ci_job_duration_seconds",
			Help:    "Time from a CI job's claim to its result (apply and check), by final state: done (a result, pass or fail) or failed (the runner could not run it).",
			Buckets: []float64{1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"state"}),
		http: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchwell_http_request_duration_seconds",
			Help:    "HTTP request latency by route pattern and status class.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route", "code"}),
		imap: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "patchwell_imap_command_duration_seconds",
			Help:    "IMAP command latency by command (IDLE not included).",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"command"}),
	}
	m.reg.MustRegister(m.replies, m.messages, m.commit, m.ciJobs, m.http, m.imap,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if depths != nil {
		m.reg.MustRegister(newQueueCollector(depths))
	}
	// Every series of the counters exists from the start, at 0, so that
	// rate() and alerts see the first event.
	for _, p := range []string{"smtp", "lmtp"} {
		for _, r := range []string{"accepted", "rejected", "deferred"} {
			m.replies.WithLabelValues(p, r)
		}
		m.commit.WithLabelValues(p)
	}
	for _, o := range []string{Stored, Flagged, Duplicate} {
		m.messages.WithLabelValues(o)
	}
	return m
}

// Handler serves the registry. A failed collector (the store not
// answering) is logged and left out; the rest is served.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:      slogPrintln{m.log},
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg, // counts its own errors: promhttp_metric_handler_errors_total
		Timeout:       10 * time.Second,
	})
}

// Registry is the registry, for tests and for adding collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SMTPData returns the observer of one SMTP or LMTP server (proto "smtp"
// or "lmtp"; smtpd.Config.Observe): code is the reply to DATA, wait the
// time from the end of the message to the reply.
func (m *Metrics) SMTPData(proto string) func(code int, wait time.Duration) {
	accepted := m.replies.WithLabelValues(proto, "accepted")
	rejected := m.replies.WithLabelValues(proto, "rejected")
	deferred := m.replies.WithLabelValues(proto, "deferred")
	commit := m.commit.WithLabelValues(proto)
	return func(code int, wait time.Duration) {
		switch {
		case code >= 200 && code < 300:
			accepted.Inc()
			commit.Observe(wait.Seconds())
		case code >= 500:
			rejected.Inc()
		default:
			deferred.Inc()
		}
	}
}

// Stored counts a message stored in one list with its outcome (Stored,
// Flagged or Duplicate; review.Ingester's observer).
func (m *Metrics) Stored(outcome string) {
	switch outcome {
	case Stored, Flagged, Duplicate:
	default:
		outcome = "other"
	}
	m.messages.WithLabelValues(outcome).Inc()
}

// CIJob records a finished CI job: its final state and how long it ran
// from its claim.
func (m *Metrics) CIJob(state string, d time.Duration) {
	m.ciJobs.WithLabelValues(state).Observe(d.Seconds())
}

// HTTPRequest records a request (web.Config.Observe): route is the
// pattern that matched ("" when none did), status the code written (0:
// none, which net/http sends as 200).
func (m *Metrics) HTTPRequest(route string, status int, d time.Duration) {
	if route == "" {
		route = "unmatched"
	}
	m.http.WithLabelValues(route, statusClass(status)).Observe(d.Seconds())
}

// IMAPCommand records one IMAP command (imapd.Config.Observe); imapd
// names commands from a fixed set.
func (m *Metrics) IMAPCommand(name string, d time.Duration) {
	m.imap.WithLabelValues(name).Observe(d.Seconds())
}

// Instrument wraps a handler mounted outside package web (the remote CI
// runners' API) so that its requests are counted under route.
func (m *Metrics) Instrument(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		m.HTTPRequest(route, sw.status, time.Since(start))
	})
}

func statusClass(code int) string {
	if code == 0 {
		code = http.StatusOK
	}
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code/100) + "xx"
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// queueCollector reads the queue depths on each scrape.
type queueCollector struct {
	desc   *prometheus.Desc
	depths DepthsFunc
}

func newQueueCollector(depths DepthsFunc) *queueCollector {
	return &queueCollector{
		desc: prometheus.NewDesc("patchwell_queue_items",
			"Items waiting in patchwell's durable queues, read from the store at scrape time: outbound (list mail deliveries pending), ci (jobs queued, running, held for a maintainer), webhook (deliveries pending).",
			[]string{"queue", "state"}, nil),
		depths: depths,
	}
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d, err := c.depths(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, fmt.Errorf("queue depths: %w", err))
		return
	}
	for _, q := range []struct {
		queue, state string
		n            int64
	}{
		{"outbound", "pending", d.OutboundPending},
		{"ci", "queued", d.CIQueued},
		{"ci", "running", d.CIRunning},
		{"ci", "held", d.CIHeld},
		{"webhook", "pending", d.WebhooksPending},
	} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(q.n), q.queue, q.state)
	}
}

// slogPrintln adapts slog to promhttp's error logger.
type slogPrintln struct{ log *slog.Logger }

func (l slogPrintln) Println(v ...any) { l.log.Warn("metrics", "err", fmt.Sprint(v...)) }
