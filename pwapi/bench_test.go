package pwapi_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/archive"
	"patchwell/internal/testcorpus"
	"patchwell/pwapi"
	"patchwell/review"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// benchStore opens the store holding the 20,000-message bench corpus in
// list "bench": PATCHWELL_BENCH_DATA when set (imported there on the
// first run), else a temporary directory, or with postgres a fresh
// PostgreSQL schema; fresh reports whether the corpus was imported now.
func benchStore(b *testing.B, postgres bool) (st *store.DB, fresh bool) {
	ctx := context.Background()
	dir := os.Getenv("PATCHWELL_BENCH_DATA")
	if dir == "" || postgres {
		testcorpus.Path(b, "bench/git-20k.mbox.gz")
		dir = b.TempDir()
	}
	var err error
	if postgres {
		st, err = store.OpenPostgres(ctx, pgtest.URL(b))
	} else {
		st, err = store.Open(ctx, dir)
	}
	if err != nil {
		b.Fatal(err)
	}
	if _, err := st.List(ctx, "bench"); err == nil {
		return st, false
	}
	if _, err := st.CreateList(ctx, store.List{Name: "bench"}); err != nil {
		b.Fatal(err)
	}
	corpus, _ := testcorpus.Find()
	src, err := archive.OpenSource(filepath.Join(corpus, "bench", "git-20k.mbox.gz"))
	if err != nil {
		b.Fatal(err)
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	_, err = in.Import(ctx, "bench", src)
	src.Close()
	in.Close()
	if err != nil {
		b.Fatal(err)
	}
	return st, true
}

// BenchmarkPatchList is git-pw's and snowpatch's most frequent request,
// GET /api/1.2/patches/?project=bench&per_page=100 (and the states git
// pw patch list asks by default, and a later page), through the whole
// handler over the 20,000-message bench corpus (and the events, and
// patches by date, as snowpatch polls them) in list "bench": from
// PATCHWELL_BENCH_DATA when set (a data directory holding it, imported
// there on the first run), else imported into a temporary directory.
//
//	PATCHWELL_BENCH_DATA=/tmp/pw-bench go test -run '^$' -bench PatchList ./pwapi
//
// PATCHWELL_STORE_BACKEND=postgres runs it on PostgreSQL (PATCHWELL_TEST_PG).
func BenchmarkPatchList(b *testing.B) {
	ctx := context.Background()
	st, fresh := benchStore(b, os.Getenv("PATCHWELL_STORE_BACKEND") == "postgres")
	defer st.Close()
	if fresh {
		// Some maintainer's work: 500 patches' states changed, for
		// the events.
		ps, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"bench"}, Limit: 500, Order: "-id"})
		if err != nil {
			b.Fatal(err)
		}
		for i, p := range ps {
			state := store.PatchStates[1+i%4]
			if _, err := st.UpdatePatch(ctx, p.ID, store.PatchUpdate{State: &state}, 0, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	acc := review.NewAccounts(st, review.DefaultArgon2)
	h := pwapi.New(pwapi.Config{Lists: st, Patches: st, Series: st, Checks: st, Events: st, Mbox: review.NewService(st), Tokens: acc, Users: st,
		Domain: "bench.example"})
	for _, c := range []struct{ name, path string }{
		{"per_page=100", "/api/1.2/patches/?project=bench&per_page=100"},
		{"git-pw-default", "/api/1.2/patches/?project=bench&state=under-review&state=new&archived=false&page=1&per_page=100&order=-date"},
		{"page=30", "/api/1.2/patches/?project=bench&per_page=100&page=30"},
		{"series", "/api/1.2/series/?project=bench&per_page=100"},
		{"since", "/api/1.2/patches/?project=bench&since=2024-04-01T00:00:00&per_page=100"},
		{"events", "/api/1.2/events/?project=bench&per_page=100"},
		{"events-1.3", "/api/1.3/events/?project=bench&per_page=100"},
		{"events-page=10", "/api/1.2/events/?project=bench&per_page=100&page=10"},
		{"events-state", "/api/1.2/events/?project=bench&category=patch-state-changed&per_page=100"},
		{"events-since", "/api/1.2/events/?project=bench&since=2000-01-01T00:00:00&per_page=100"},
		// None so new: every source scanned to its end (the worst case).
		{"events-since-none", "/api/1.2/events/?project=bench&since=2100-01-01T00:00:00&per_page=100"},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
				if rec.Code != 200 || rec.Body.Len() < 1000 && !strings.Contains(c.name, "none") {
					b.Fatalf("GET %s = %d %.300s", c.path, rec.Code, rec.Body)
				}
			}
		})
	}
	// The store's part of a page of events.
	b.Run("store-events", func(b *testing.B) {
		for b.Loop() {
			if evs, err := st.Events(ctx, store.EventFilter{Lists: []string{"bench"}, Limit: 101}); err != nil || len(evs) != 101 {
				b.Fatalf("Events = %d, %v", len(evs), err)
			}
		}
	})
	n, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"bench"}, Limit: 100000})
	if err != nil {
		b.Fatal(err)
	}
	b.Log(fmt.Sprintf("%d patches in list bench", len(n)))
}
