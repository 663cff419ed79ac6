package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"patchwell/store"
)

// BenchmarkReadListDashboard renders the list page's dashboard on the
// bench corpus (20,000 messages, 5,684 series): each order and filter,
// warm (the open comment counts kept for the store's generation) and
// cold (a write before every request: the counts made again). A data
// directory without checks gets three on every series first.
//
//	go test -run '^$' -bench ReadListDashboard ./web
func BenchmarkReadListDashboard(b *testing.B) {
	benchSetup(b)
	ctx := context.Background()
	page, err := bench.st.DashboardSeries(ctx, "bench", store.SeriesFilter{Limit: 1000})
	if err != nil || len(page) == 0 {
		b.Fatal(err)
	}
	if cc, _ := bench.st.CheckCounts(ctx, []int64{page[0].ID}); cc[page[0].ID].Total() == 0 {
		all, err := bench.st.SeriesList(ctx, "bench", "", store.Page{Limit: 1000})
		if err != nil {
			b.Fatal(err)
		}
		for off := 1000; len(all) == off; off += 1000 {
			more, err := bench.st.SeriesList(ctx, "bench", "", store.Page{Limit: 1000, Offset: off})
			if err != nil {
				b.Fatal(err)
			}
			all = append(all, more...)
		}
		states := []string{store.CheckSuccess, store.CheckWarning, store.CheckFail}
		for i, s := range all {
			for j, c := range []string{"build", "test", "lint"} {
				st := store.CheckSuccess
				if (i+j)%7 == 0 {
					st = states[(i+j)%3]
				}
				if _, err := bench.st.SetCheck(ctx, &store.Check{SeriesID: s.ID, Context: c, State: st}); err != nil {
					b.Fatal(err)
				}
			}
		}
	}
	for _, p := range []struct{ name, path string }{
		{"date", "/bench/"},
		{"activity", "/bench/?sort=activity"},
		{"checks", "/bench/?sort=checks"},
		{"reviews", "/bench/?sort=reviews"},
		{"needs-review", "/bench/?review=needs"},
		{"superseded", "/bench/?superseded=1"},
		{"page-10", "/bench/?sort=activity&page=10"},
	} {
		b.Run(p.name, func(b *testing.B) {
			benchGet(b, http.MethodGet, p.path, http.StatusOK)
		})
	}
	b.Run("date-cold", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, "/bench/", nil)
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			if _, err := bench.st.SetCheck(ctx, &store.Check{SeriesID: page[0].ID, Context: "poke", State: store.CheckPending}); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			rec := httptest.NewRecorder()
			bench.h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatalf("GET / = %d", rec.Code)
			}
		}
	})
}
