package review

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/archive"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// BenchmarkNeedsMe reads "needs me" for the most frequent replier of the
// 20,000-message benchmark corpus (on the git list: its maintainer, who
// is also Cc'd on most series and sends many of his own), imported once
// into SQLite (or PostgreSQL with PATCHWELL_STORE_BACKEND=postgres).
//
//	go test ./review -run '^$' -bench NeedsMe -benchtime 50x
func BenchmarkNeedsMe(b *testing.B) {
	ctx := context.Background()
	path := filepath.Join(corpusDir(b), "bench", "git-20k.mbox.gz")
	var st *store.DB
	var err error
	if os.Getenv("PATCHWELL_STORE_BACKEND") == "postgres" {
		st, err = store.OpenPostgres(ctx, pgtest.URL(b))
	} else {
		st, err = store.Open(ctx, b.TempDir())
	}
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		b.Fatal(err)
	}
	in := NewIngester(st, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	importFile(b, in, path)
	in.Close()

	// The most frequent sender of replies.
	src, err := archive.OpenSource(path)
	if err != nil {
		b.Fatal(err)
	}
	counts := map[string]int{}
	for {
		raw, err := src.Next()
		if err != nil {
			break
		}
		h := archive.ParseHeader(raw)
		if strings.HasPrefix(strings.ToLower(h.Subject), "re:") {
			counts[strings.ToLower(h.From.Email)]++
		}
	}
	src.Close()
	top := ""
	for e, n := range counts {
		if top == "" || n > counts[top] || (n == counts[top] && e < top) {
			top = e
		}
	}
	// And the address most often in To/Cc of patches.
	src, err = archive.OpenSource(path)
	if err != nil {
		b.Fatal(err)
	}
	asked := map[string]int{}
	for {
		raw, err := src.Next()
		if err != nil {
			break
		}
		h := archive.ParseHeader(raw)
		if strings.Contains(h.Subject, "PATCH") && !strings.HasPrefix(strings.ToLower(h.Subject), "re:") {
			for _, e := range append(h.To, h.Cc...) {
				if !strings.Contains(e, "vger.kernel.org") {
					asked[e]++
				}
			}
		}
	}
	src.Close()
	most := ""
	for e, n := range asked {
		if most == "" || n > asked[most] || (n == asked[most] && e < most) {
			most = e
		}
	}
	svc := NewService(st)
	for _, email := range []string{top, most} {
		u, err := st.CreateUser(ctx, store.User{Email: email}, "x")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(email, func(b *testing.B) {
			items, err := svc.NeedsMe(ctx, u)
			if err != nil {
				b.Fatal(err)
			}
			by := map[string]int{}
			for _, it := range items {
				by[it.Reason]++
			}
			b.Logf("%s (%d replies, in To/Cc of %d patches): %d items %v", email, counts[email], asked[email], len(items), by)
			b.ResetTimer()
			for range b.N {
				if _, err := svc.NeedsMe(ctx, u); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}
