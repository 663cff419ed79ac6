package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// FuzzRequest sends arbitrary paths and queries through the handler: it must
// never panic and must answer with one of the statuses it documents.
func FuzzRequest(f *testing.F) {
	for _, seed := range [][2]string{
		{"/api/v1/lists/dev/series", "limit=5000&status=approved"},
		{"/api/v1/series/1", ""},
		{"/dev/a%2Fb@x/raw", ""},
		{"/dev/<x>/raw", ""},
		{"/api/v1/lists/dev/threads", "offset=-1"},
		{"/", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	fr := fixture()
	fr.raw[[2]string{"dev", "a/b@x"}] = []byte("x")
	h := New(fr, Config{Domain: "example.org"}, slog.New(slog.DiscardHandler))
	f.Fuzz(func(t *testing.T, rawPath, rawQuery string) {
		u, err := url.Parse("http://example.org")
		if err != nil {
			t.Fatalf("url.Parse = %v", err)
		}
		p, err := url.PathUnescape(rawPath)
		if err != nil || len(p) == 0 || p[0] != '/' {
			return
		}
		u.Path, u.RawPath, u.RawQuery = p, rawPath, rawQuery
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL, req.RequestURI = u, u.RequestURI()
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		switch rec.Code {
		case 200, 301, 302, 307, 308, 400, 404: // 302: /LIST/MSGID to its page, as b4 expects
		default:
			t.Errorf("GET %q ? %q = %d %s", rawPath, rawQuery, rec.Code, rec.Body)
		}
		if n := h.(*Handler).Panics(); n != 0 {
			t.Fatalf("Panics() = %d", n)
		}
	})
}
