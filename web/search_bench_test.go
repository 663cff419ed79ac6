package web

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"testing"

	"patchwell/archive"
	"patchwell/internal/testcorpus"
	"patchwell/review"
	"patchwell/store"
)

// searchQueries are typical queries on the git list: what b4 am -c sends
// to find a newer revision, and what people type.
var searchQueries = []struct{ name, q string }{
	{"b4-revision", `(s:"fix NULL pointer access when seeking" AND f:"ps@pks.im") AND d:20240101..`},
	{"subject-phrase", `s:"reftable/table"`},
	{"from", `f:peff@peff.net`},
	{"body-word", `b:segfault`},
	{"dfn", `dfn:builtin/am.c`},
	{"date-and-term", `d:20240201..20240229 AND rebase`},
	{"bare-common-word", `commit`},
}

// BenchmarkSearchGit20k imports the 20,000-message benchmark corpus into
// one list, then times the b4 search POST (x=m: whole threads, gzipped
// mboxrd) and the HTML search page for each of searchQueries, through the
// handler (no network).
func BenchmarkSearchGit20k(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateList(ctx, store.List{Name: "git"}); err != nil {
		b.Fatal(err)
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	defer in.Close()
	src, err := archive.OpenSource(filepath.Join(testcorpus.Dir(b), "bench", "git-20k.mbox.gz"))
	if err != nil {
		b.Fatal(err)
	}
	if _, err := in.Import(ctx, "git", src); err != nil {
		b.Fatal(err)
	}
	src.Close()
	h := New(review.NewService(st), Config{Domain: "example.org"}, nil)
	run := func(b *testing.B, method, target string) {
		var n int64
		for b.Loop() {
			w := &countingWriter{header: http.Header{}}
			h.ServeHTTP(w, httptest.NewRequest(method, target, nil))
			if w.code != 0 && w.code != http.StatusOK {
				b.Fatalf("%s %s = %d", method, target, w.code)
			}
			n = w.n
		}
		b.ReportMetric(float64(n), "bytes")
	}
	for _, q := range searchQueries {
		b.Run("post/"+q.name, func(b *testing.B) { run(b, http.MethodPost, "/git/?x=m&t=1&q="+url.QueryEscape(q.q)) })
		b.Run("page/"+q.name, func(b *testing.B) { run(b, http.MethodGet, "/git/?q="+url.QueryEscape(q.q)) })
	}
}

// countingWriter is a ResponseWriter that keeps only the status and the
// length of the body.
type countingWriter struct {
	header http.Header
	code   int
	n      int64
}

func (w *countingWriter) Header() http.Header { return w.header }
func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}
func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}

var _ io.Writer = (*countingWriter)(nil)
