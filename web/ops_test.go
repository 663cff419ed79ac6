package web

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestHealthzChecks: /healthz asks Config.Health; a failure is 503 with
// its reason on one line.
func TestHealthzChecks(t *testing.T) {
	var fail error
	h := New(fixture(), Config{Domain: "lists.example.org", Health: func(ctx context.Context) error {
		if _, ok := ctx.Deadline(); !ok {
			t.Errorf("Health called without a deadline")
		}
		return fail
	}}, testLogger(t))
	srv := httptest.NewServer(h)
	defer srv.Close()

	res := get(t, srv.URL+"/healthz")
	if res.code != http.StatusOK || string(res.body) != "ok" {
		t.Errorf("GET /healthz (healthy) = %d %q, want 200 \"ok\"", res.code, res.body)
	}
	fail = errors.New("data directory not writable:\nread-only file system")
	res = get(t, srv.URL+"/healthz")
	if res.code != http.StatusServiceUnavailable {
		t.Errorf("GET /healthz (failing) = %d, want 503", res.code)
	}
	if want := "unavailable: data directory not writable: read-only file system\n"; string(res.body) != want {
		t.Errorf("GET /healthz (failing) body = %q, want %q", res.body, want)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
	fail = errors.New(strings.Repeat("x", 5000))
	if res := get(t, srv.URL+"/healthz"); len(res.body) > 400 {
		t.Errorf("a long reason is sent whole: %d bytes", len(res.body))
	}
}

// TestObserve: every request is told to Config.Observe with the route
// pattern that matched, never the path, and the status written.
func TestObserve(t *testing.T) {
	type seen struct {
		Route  string
		Status int
	}
	var (
		mu  sync.Mutex
		got []seen
	)
	h := New(fixture(), Config{Domain: "lists.example.org", Observe: func(route string, status int, d time.Duration) {
		if d <= 0 {
			t.Errorf("Observe(%q) duration %v", route, d)
		}
		mu.Lock()
		got = append(got, seen{route, status})
		mu.Unlock()
	}}, testLogger(t))
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, path := range []string{"/healthz", "/api/v1/lists", "/api/v1/lists/secret-list-name/series", "/secret-list-name/some@msg.id/raw", "/api/nope"} {
		get(t, srv.URL+path)
	}
	res, err := http.Post(srv.URL+"/api/v1/lists", "text/plain", nil)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	res.Body.Close()
	want := []seen{
		{"GET /healthz", 200},
		{"GET /api/v1/lists", 200},
		{"GET /api/v1/lists/{name}/series", 404},
		{"GET /{list}/{rest...}", 404},
		{"GET /api/{rest...}", 404},
		{"", 405},
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}

// BenchmarkObserve: what Config.Observe adds to a request (finding the
// route pattern a second time), on the list page route with a fake
// reader, without and with an observer.
func BenchmarkObserve(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		cfg := Config{Domain: "lists.example.org"}
		if on {
			name = "on"
			cfg.Observe = func(string, int, time.Duration) {}
		}
		b.Run(name, func(b *testing.B) {
			h := New(fixture(), cfg, nil)
			req := httptest.NewRequest("GET", "/api/v1/lists/dev/series", nil)
			for b.Loop() {
				h.ServeHTTP(httptest.NewRecorder(), req)
			}
		})
	}
	b.Run("lookup", func(b *testing.B) { // the added work alone
		h := New(fixture(), Config{Domain: "lists.example.org"}, nil).(*Handler)
		req := httptest.NewRequest("GET", "/api/v1/lists/dev/series", nil)
		for b.Loop() {
			h.mux.Handler(req)
		}
	})
}
