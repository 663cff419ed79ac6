package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkAccessCheck measures a raw-message request through the whole
// handler, as anonymous on a public list and with a bearer token or a
// session cookie on a private one (token or session lookup, role, list).
func BenchmarkAccessCheck(b *testing.B) {
	e := newAuthEnv(b, Config{})
	e.h.log = slog.New(slog.DiscardHandler)
	c := e.signin("maint@example.org")
	for _, bc := range []struct {
		name, path string
		set        func(*http.Request)
	}{
		{"anonymous-public", "/pub/p-pub@example.org/raw", func(*http.Request) {}},
		{"bearer-private", "/sec/p-sec@example.org/raw", func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+e.tokens["maint"]) }},
		{"cookie-private", "/sec/p-sec@example.org/raw", func(r *http.Request) { r.AddCookie(c) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			r := httptest.NewRequest("GET", bc.path, nil)
			bc.set(r)
			for b.Loop() {
				w := httptest.NewRecorder()
				e.h.ServeHTTP(w, r)
				if w.Code != 200 {
					b.Fatalf("%s: %d %s", bc.path, w.Code, w.Body)
				}
			}
		})
	}
}
