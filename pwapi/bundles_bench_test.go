package pwapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"patchwell/pwapi"
	"patchwell/review"
	"patchwell/store"
)

// BenchmarkBundles measures the bundle requests over the 20,000-message
// bench corpus (list "bench", as BenchmarkPatchList loads it) with 200
// bundles of 20 users, half of them public, 10 patches each, and one of
// 100 patches: git pw bundle list's GET /api/1.2/bundles/, a bundle's
// detail and mbox (100 patches), and BundlesOf, the query the series
// page adds for a signed-in reader.
//
//	PATCHWELL_BENCH_DATA=/tmp/pw-bench go test -run '^$' -bench Bundles ./pwapi
func BenchmarkBundles(b *testing.B) {
	ctx := context.Background()
	st, _ := benchStore(b, false)
	defer st.Close()
	ps, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"bench"}, Limit: 5000})
	if err != nil || len(ps) < 2100 {
		b.Fatalf("patches of bench: %d %v", len(ps), err)
	}
	var big int64
	var user1 int64
	if bs, err := st.Bundles(ctx, store.BundleFilter{Lists: []string{"bench"}, Name: "big"}); err != nil {
		b.Fatal(err)
	} else if len(bs) == 1 {
		big, user1 = bs[0].ID, bs[0].OwnerID
	} else {
		for u := range 20 {
			nu, err := st.CreateUser(ctx, store.User{Email: fmt.Sprintf("bundler%d@example.org", u), Name: "Bundler"}, "x")
			if err != nil {
				b.Fatal(err)
			}
			if u == 0 {
				user1 = nu.ID
			}
			for k := range 10 {
				n := u*10 + k
				var ids []int64
				for _, p := range ps[n*10 : n*10+10] {
					ids = append(ids, p.ID)
				}
				if _, err := st.CreateBundle(ctx, store.Bundle{OwnerID: nu.ID, List: "bench", Name: fmt.Sprintf("bundle %d", n), Public: n%2 == 0}, ids); err != nil {
					b.Fatal(err)
				}
			}
		}
		var ids []int64
		for _, p := range ps[2000:2100] {
			ids = append(ids, p.ID)
		}
		nb, err := st.CreateBundle(ctx, store.Bundle{OwnerID: user1, List: "bench", Name: "big", Public: true}, ids)
		if err != nil {
			b.Fatal(err)
		}
		big = nb.ID
	}
	acc := review.NewAccounts(st, review.DefaultArgon2)
	h := pwapi.New(pwapi.Config{Lists: st, Patches: st, Series: st, Checks: st, Mbox: review.NewService(st), Tokens: acc, Users: st,
		Bundles: st, Domain: "bench.example"})
	for _, c := range []struct{ name, path string }{
		{"list", "/api/1.2/bundles/?project=bench"},
		{"list-page-3", "/api/1.2/bundles/?project=bench&page=3&order=name"},
		{"detail-100", fmt.Sprintf("/api/1.2/bundles/%d/", big)},
		{"mbox-100", fmt.Sprintf("/api/1.2/bundles/%d/mbox/", big)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, c.path, nil))
				if rec.Code != 200 || rec.Body.Len() < 1000 {
					b.Fatalf("GET %s = %d %.300s", c.path, rec.Code, rec.Body)
				}
			}
		})
	}
	b.Run("BundlesOf", func(b *testing.B) {
		for b.Loop() {
			bs, err := st.BundlesOf(ctx, user1, "bench")
			if err != nil || len(bs) != 11 {
				b.Fatalf("BundlesOf() = %d, %v", len(bs), err)
			}
		}
	})
}
