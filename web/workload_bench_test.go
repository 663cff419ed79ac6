package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"patchwell/review"
	"patchwell/store"
	"patchwell/web"
)

// BenchmarkListPageWorkload: the list page of the bench corpus (20,000
// messages) with the maintainer's workload on (archived series hidden,
// each row's delegate: one more query per page) against the same page
// without it, a third of the newest 300 series delegated and a tenth
// archived; and the store's two queries alone.
//
//	go test -run '^$' -bench ListPageWorkload ./web
func BenchmarkListPageWorkload(b *testing.B) {
	benchSetup(b)
	ctx := context.Background()
	rows, err := bench.st.DashboardSeries(ctx, "bench", store.SeriesFilter{Limit: 300})
	if err != nil || len(rows) == 0 {
		b.Fatal(err)
	}
	u, err := bench.st.UserByEmail(ctx, "bench-maint@example.org")
	if errors.Is(err, store.ErrNotFound) {
		if u, err = bench.st.CreateUser(ctx, store.User{Email: "bench-maint@example.org", Name: "Bench Maint"}, "x"); err == nil {
			err = bench.st.SetRole(ctx, u.ID, "bench", store.RoleMaintainer)
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	var ids []int64
	for i, r := range rows {
		if i%3 == 0 {
			if err := bench.st.Delegate(ctx, r.ID, 0, u.ID, u.ID, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		if i%10 == 5 {
			if err := bench.st.ArchiveSeries(ctx, r.ID, true); err != nil {
				b.Fatal(err)
			}
		}
		if i < 50 {
			ids = append(ids, r.ID)
		}
	}
	with := web.New(review.NewService(bench.st), web.Config{Domain: "bench.example", Workload: bench.st}, nil)
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"without", bench.h}, {"with", with}} {
		b.Run(c.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/bench/", nil)
			for b.Loop() {
				rec := httptest.NewRecorder()
				c.h.ServeHTTP(rec, req)
				if rec.Code != 200 {
					b.Fatalf("GET /bench/ = %d", rec.Code)
				}
			}
		})
	}
	b.Run("store-dashboard", func(b *testing.B) {
		for b.Loop() {
			if _, err := bench.st.DashboardSeries(ctx, "bench", store.SeriesFilter{Limit: 51, Current: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store-hide-archived", func(b *testing.B) {
		for b.Loop() {
			if _, err := bench.st.DashboardSeries(ctx, "bench", store.SeriesFilter{Limit: 51, Current: true, HideArchived: true}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("store-series-work-50", func(b *testing.B) {
		for b.Loop() {
			if _, err := bench.st.SeriesWork(ctx, ids); err != nil {
				b.Fatal(err)
			}
		}
	})
}
