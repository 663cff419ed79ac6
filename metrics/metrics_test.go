package metrics

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape GETs /metrics from h and parses the text format.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d: %s", rec.Code, rec.Body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// value finds the sample of family name whose labels include want:
// a counter's or gauge's value, a histogram's sample count; ok false
// when there is none.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.Metric {
		labels := map[string]string{}
		for _, l := range m.Label {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func TestMetrics(t *testing.T) {
	m := New(func(context.Context) (Depths, error) {
		return Depths{OutboundPending: 7, CIQueued: 1, CIRunning: 2, CIHeld: 3, WebhooksPending: 4}, nil
	}, nil)
	fams := scrape(t, m.Handler())
	// Every counter series is there, at zero, before anything happened.
	for _, r := range []string{"accepted", "rejected", "deferred"} {
		if v, ok := value(fams, "patchwell_ingest_replies_total", map[string]string{"proto": "lmtp", "result": r}); !ok || v != 0 {
			t.Errorf("lmtp %s before any mail = %v, %v; want 0, true", r, v, ok)
		}
	}

	smtp := m.SMTPData("smtp")
	smtp(250, 3*time.Millisecond)
	smtp(250, 5*time.Millisecond)
	smtp(550, 0)
	smtp(452, 0)
	smtp(451, time.Second)
	m.Stored(Stored)
	m.Stored(Stored)
	m.Stored(Flagged)
	m.Stored(Duplicate)
	m.CIJob("done", 90*time.Second)
	m.HTTPRequest("GET /{list}/{rest...}", 0, time.Millisecond)
	m.HTTPRequest("GET /{list}/{rest...}", 404, time.Millisecond)
	m.HTTPRequest("", 405, time.Millisecond)
	m.IMAPCommand("UID FETCH", 2*time.Millisecond)
	fams = scrape(t, m.Handler())

	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"patchwell_ingest_replies_total", map[string]string{"proto": "smtp", "result": "accepted"}, 2},
		{"patchwell_ingest_replies_total", map[string]string{"proto": "smtp", "result": "rejected"}, 1},
		{"patchwell_ingest_replies_total", map[string]string{"proto": "smtp", "result": "deferred"}, 2},
		{"patchwell_ingest_replies_total", map[string]string{"proto": "lmtp", "result": "accepted"}, 0},
		{"patchwell_ingest_commit_seconds", map[string]string{"proto": "smtp"}, 2}, // accepted only
		{"patchwell_ingest_messages_total", map[string]string{"outcome": "stored"}, 2},
		{"patchwell_ingest_messages_total", map[string]string{"outcome": "flagged"}, 1},
		{"patchwell_ingest_messages_total", map[string]string{"outcome": "duplicate"}, 1},
		{"patchwell_ci_job_duration_seconds", map[string]string{"state": "done"}, 1},
		{"patchwell_http_request_duration_seconds", map[string]string{"route": "GET /{list}/{rest...}", "code": "2xx"}, 1},
		{"patchwell_http_request_duration_seconds", map[string]string{"route": "GET /{list}/{rest...}", "code": "4xx"}, 1},
		{"patchwell_http_request_duration_seconds", map[string]string{"route": "unmatched", "code": "4xx"}, 1},
		{"patchwell_imap_command_duration_seconds", map[string]string{"command": "UID FETCH"}, 1},
		{"patchwell_queue_items", map[string]string{"queue": "outbound", "state": "pending"}, 7},
		{"patchwell_queue_items", map[string]string{"queue": "ci", "state": "queued"}, 1},
		{"patchwell_queue_items", map[string]string{"queue": "ci", "state": "running"}, 2},
		{"patchwell_queue_items", map[string]string{"queue": "ci", "state": "held"}, 3},
		{"patchwell_queue_items", map[string]string{"queue": "webhook", "state": "pending"}, 4},
	} {
		got, ok := value(fams, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// The commit histogram holds the two waits: 8 ms in all.
	h := fams["patchwell_ingest_commit_seconds"]
	for _, mm := range h.Metric {
		if mm.Label[0].GetValue() == "smtp" {
			if s := mm.Histogram.GetSampleSum(); s < 0.0079 || s > 0.0081 {
				t.Errorf("commit seconds sum = %v, want 0.008", s)
			}
		}
	}
	if fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Errorf("runtime and process metrics missing")
	}
}

// TestQueueError: a store that does not answer leaves the queue gauges
// out; the rest is still served, and the failure is counted.
func TestQueueError(t *testing.T) {
	m := New(func(context.Context) (Depths, error) { return Depths{}, errors.New("database is locked") }, nil)
	m.Stored(Stored)
	fams := scrape(t, m.Handler())
	if _, ok := value(fams, "patchwell_queue_items", nil); ok {
		t.Errorf("queue gauges served from a failed read")
	}
	if v, ok := value(fams, "patchwell_ingest_messages_total", map[string]string{"outcome": "stored"}); !ok || v != 1 {
		t.Errorf("stored = %v, %v; want 1", v, ok)
	}
	fams = scrape(t, m.Handler())
	if v, ok := value(fams, "promhttp_metric_handler_errors_total", map[string]string{"cause": "gathering"}); !ok || v < 1 {
		t.Errorf("promhttp_metric_handler_errors_total{cause=gathering} = %v, %v; want >= 1", v, ok)
	}
}

// TestInstrument: a handler mounted outside web is counted under its
// route with the status class it wrote.
func TestInstrument(t *testing.T) {
	m := New(nil, nil)
	h := m.Instrument("/api/v1/ci/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
	}))
	for range 3 {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/v1/ci/claim", nil))
	}
	fams := scrape(t, m.Handler())
	got, _ := value(fams, "patchwell_http_request_duration_seconds", map[string]string{"route": "/api/v1/ci/", "code": "4xx"})
	if diff := cmp.Diff(3.0, got); diff != "" {
		t.Errorf("instrumented requests (-want +got):\n%s", diff)
	}
	if _, ok := fams["patchwell_queue_items"]; ok {
		t.Errorf("queue gauges without a depths func")
	}
}

func TestStatusClass(t *testing.T) {
	for code, want := range map[int]string{0: "2xx", 200: "2xx", 204: "2xx", 301: "3xx", 404: "4xx", 503: "5xx", 42: "other", 600: "other"} {
		if got := statusClass(code); got != want {
			t.Errorf("statusClass(%d) = %q, want %q", code, got, want)
		}
	}
}
