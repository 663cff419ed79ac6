package web_test

import (
	"context"
	"database/sql"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"

	"patchwell/archive"
	"patchwell/internal/testcorpus"
	"patchwell/review"
	"patchwell/store"
	"patchwell/web"
)

// The read benchmarks run the whole handler (routing, middleware, review,
// SQLite) on the 20,000-message bench corpus in list "bench": from
// PATCHWELL_BENCH_DATA when set (a data directory that holds it, as
// bench/web.sh makes), else imported once into a temporary directory.
//
//	go test -run '^$' -bench 'Read' -cpuprofile cpu.out ./web

var bench struct {
	once   sync.Once
	err    error
	st     *store.DB
	dir    string // the data directory
	h      http.Handler
	thread string // escaped Message-ID of the thread closest to 32 messages
	series int64
}

func benchSetup(b *testing.B) {
	b.Helper()
	if os.Getenv("PATCHWELL_BENCH_DATA") == "" {
		testcorpus.Path(b, "bench/git-20k.mbox.gz")
	}
	bench.once.Do(func() { bench.err = loadBench() })
	if bench.err != nil {
		b.Fatal(bench.err)
	}
}

func loadBench() error {
	ctx := context.Background()
	dir := os.Getenv("PATCHWELL_BENCH_DATA")
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "patchwell-bench-"); err != nil {
			return err
		}
		// Left for the OS to clean: benchmarks share it across functions.
	}
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	if _, err := st.List(ctx, "bench"); err != nil {
		if _, err := st.CreateList(ctx, store.List{Name: "bench"}); err != nil {
			return err
		}
		corpus, _ := testcorpus.Find()
		src, err := archive.OpenSource(filepath.Join(corpus, "bench", "git-20k.mbox.gz"))
		if err != nil {
			return err
		}
		in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
		_, err = in.Import(ctx, "bench", src)
		src.Close()
		in.Close()
		if err != nil {
			return err
		}
	}
	// The thread closest to 32 messages, and its series.
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, store.DBFile)+"?mode=ro")
	if err != nil {
		return err
	}
	defer db.Close()
	var tid int64
	var mid string
	if err := db.QueryRow(`SELECT t.id, m.message_id FROM threads t JOIN messages m ON m.id = t.root
		ORDER BY abs(t.messages - 32), t.id LIMIT 1`).Scan(&tid, &mid); err != nil {
		return err
	}
	if err := db.QueryRow(`SELECT id FROM series WHERE thread_id = ? ORDER BY id LIMIT 1`, tid).Scan(&bench.series); err != nil {
		return err
	}
	bench.st, bench.dir = st, dir
	bench.thread = url.PathEscape(mid)
	bench.h = web.New(review.NewService(st), web.Config{Domain: "bench.example"}, nil)
	return nil
}

func benchGet(b *testing.B, method, path string, want int) {
	benchSetup(b)
	req := httptest.NewRequest(method, path, nil)
	b.ReportAllocs()
	var n int64
	for b.Loop() {
		rec := httptest.NewRecorder()
		bench.h.ServeHTTP(rec, req)
		if rec.Code != want {
			b.Fatalf("%s %s = %d: %s", method, path, rec.Code, rec.Body.String())
		}
		n, _ = io.Copy(io.Discard, rec.Body)
	}
	b.SetBytes(n)
}

func BenchmarkReadThreadMbox(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/bench/"+bench.thread+"/t.mbox.gz", http.StatusOK)
}

func BenchmarkReadThreadPage(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/bench/"+bench.thread+"/T/", http.StatusOK)
}

func BenchmarkReadMessageHead(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodHead, "/bench/"+bench.thread, http.StatusFound)
}

func BenchmarkReadSeriesPage(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/series/"+itoa(bench.series)+"/", http.StatusOK)
}

func BenchmarkReadSeriesAPI(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/api/v1/series/"+itoa(bench.series), http.StatusOK)
}

func BenchmarkReadThreadAPI(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/api/v1/lists/bench/threads/"+bench.thread, http.StatusOK)
}

func BenchmarkReadMessageAPI(b *testing.B) {
	benchSetup(b)
	benchGet(b, http.MethodGet, "/api/v1/lists/bench/messages/"+bench.thread, http.StatusOK)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
