package web

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// BenchmarkPagesCorpus renders the browsing pages over a data directory
// made from the bench corpus (PATCHWELL_BENCH_DATA, e.g. after
// `patchwell import` of ../shared/corpus/bench/git-20k.mbox.gz into list
// dev), through the whole handler. PATCHWELL_BENCH_THREAD names the thread
// (a Message-ID in it); the default is the corpus's 32-message thread.
func BenchmarkPagesCorpus(b *testing.B) {
	dir := os.Getenv("PATCHWELL_BENCH_DATA")
	if dir == "" {
		b.Skip("PATCHWELL_BENCH_DATA not set")
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	thread := os.Getenv("PATCHWELL_BENCH_THREAD")
	if thread == "" {
		thread = "20240211043740.7151-0-ps@pks.im"
	}
	h := New(review.NewService(st), Config{Domain: "lists.example.org"}, slog.New(slog.DiscardHandler))
	for _, p := range []struct{ name, path string }{
		{"home", "/"},
		{"list", "/dev/"},
		{"list-open", "/dev/?status=open"},
		{"threads", "/dev/?tab=threads"},
		{"thread", "/dev/" + thread + "/T/"},
		{"flat", "/dev/" + thread + "/t/"},
		{"new.atom", "/dev/new.atom"},
	} {
		b.Run(p.name, func(b *testing.B) {
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, p.path, nil))
				if rec.Code != 200 {
					b.Fatalf("GET %s = %d", p.path, rec.Code)
				}
			}
		})
	}
}
