package web

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestCaptureKeepsOnlyPlain200s(t *testing.T) {
	for _, tc := range []struct {
		name   string
		render func(http.ResponseWriter)
		keep   bool
	}{
		{"200", func(w http.ResponseWriter) { w.Write([]byte("page")) }, true},
		{"404", func(w http.ResponseWriter) { writeError(w, http.StatusNotFound, "message not found") }, false},
		{"sets a cookie", func(w http.ResponseWriter) {
			w.Header().Set("Set-Cookie", "csrf=1")
			w.Write([]byte("page"))
		}, false},
		{"no-store", func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "private, no-store")
			w.Write([]byte("page"))
		}, false},
		{"already encoded", func(w http.ResponseWriter) {
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("page"))
		}, false},
	} {
		p := capture(httptest.NewRecorder(), tc.render)
		if p.keep != tc.keep {
			t.Errorf("%s: keep = %v, want %v", tc.name, p.keep, tc.keep)
		}
	}
}

func TestEtagMatchAndAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		`"abc"`: true, `W/"abc"`: true, `"x", "abc"`: true, `*`: true, `"abd"`: false, ``: false,
	} {
		if got := etagMatch(h, `"abc"`); got != want {
			t.Errorf("etagMatch(%q) = %v", h, got)
		}
	}
	for h, want := range map[string]bool{
		"gzip": true, "gzip, deflate, br": true, "br;q=1.0, GZIP;q=0.5": true,
		"gzip;q=0": false, "gzip; q=0.000": false, "identity": false, "": false, "x-gzip": false,
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", h)
		if got := acceptsGzip(r); got != want {
			t.Errorf("acceptsGzip(%q) = %v", h, got)
		}
	}
}
