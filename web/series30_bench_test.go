package web_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/archive"
	"patchwell/internal/testcorpus"
	"patchwell/review"
	"patchwell/store"
	"patchwell/web"
)

// BenchmarkReadSeries30 renders the page of a 30-patch series through
// the whole handler on SQLite, in the bench corpus's store (review,
// verdicts, issues, trailers carried, highlighting): cached (the page
// cache's copy, as anonymous readers get it), warm (rendered, the review
// and highlighting caches warm), fresh (after a write: the page made
// again, parsed mail and highlighting kept by content) and cold (after
// a write, with the highlighting cache emptied: a first view).
//
//	go test -run '^$' -bench ReadSeries30 ./web
func BenchmarkReadSeries30(b *testing.B) {
	benchSetup(b)
	ctx := context.Background()
	id := series30(b)
	path := "/series/" + itoa(id) + "/"
	b.Run("cached", func(b *testing.B) { benchGet(b, http.MethodGet, path, http.StatusOK) })
	// warm: rendered for every request, as for a signed-in reader (a
	// Cookie keeps the page cache out), the review and highlighting
	// caches warm.
	b.Run("warm", func(b *testing.B) {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Cookie", "other=1")
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			bench.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("GET %s = %d", path, rec.Code)
			}
		}
	})
	for _, cold := range []bool{false, true} {
		b.Run(map[bool]string{false: "fresh", true: "cold"}[cold], func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, path, nil)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				b.StopTimer()
				// A write: the store's generation moves on.
				n++
				gen, _ := bench.st.Generation(ctx)
				if _, err := bench.st.SetCheck(ctx, &store.Check{SeriesID: id, Context: "poke", State: store.CheckPending, Description: itoa(int64(n))}); err != nil {
					b.Fatal(err)
				}
				if g, _ := bench.st.Generation(ctx); g == gen {
					b.Fatal("the write did not change the store's generation")
				}
				if cold {
					web.ResetHighlightCache()
				}
				b.StartTimer()
				rec := httptest.NewRecorder()
				bench.h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET %s = %d", path, rec.Code)
				}
			}
		})
	}
}

// series30 returns the id of a series of 30 patches in list bench30 of
// the bench store, sent there first (once per data directory) as one
// series: the first 30 patches of the corpus, renamed [PATCH nn/30] and
// threaded under a cover letter.
func series30(b *testing.B) int64 {
	ctx := context.Background()
	if _, err := bench.st.List(ctx, "bench30"); errors.Is(err, store.ErrNotFound) {
		if _, err := bench.st.CreateList(ctx, store.List{Name: "bench30"}); err != nil {
			b.Fatal(err)
		}
		src, err := archive.OpenSource(filepath.Join(testcorpus.Dir(b), "bench", "git-20k.mbox.gz"))
		if err != nil {
			b.Fatal(err)
		}
		defer src.Close()
		hdr := func(n int, subject string) string {
			h := fmt.Sprintf("From: Sam Series <sam@example.org>\nSubject: [PATCH %02d/30] %s\nMessage-ID: <s30-%d@example.org>\nDate: Mon, 7 Dec 2026 10:%02d:00 +0000\n", n, subject, n, n)
			if n > 0 {
				h += "In-Reply-To: <s30-0@example.org>\nReferences: <s30-0@example.org>\n"
			}
			return h
		}
		msgs := [][]byte{[]byte(hdr(0, "a long series") + "\nThirty patches for the benchmark.\n")}
		for len(msgs) <= 30 {
			raw, err := src.Next()
			if err != nil {
				b.Fatalf("the corpus has fewer than 30 patches: %v", err)
			}
			head, body, ok := bytes.Cut(raw, []byte("\n\n"))
			if !ok || !bytes.Contains(body, []byte("\ndiff --git ")) || !bytes.Contains(head, []byte("[PATCH")) {
				continue
			}
			subject := ""
			var kept []string
			skip := false
			for _, l := range strings.Split(string(head), "\n") {
				if (l == "" || l[0] == ' ' || l[0] == '\t') && skip {
					continue
				}
				name, value, _ := strings.Cut(l, ":")
				switch strings.ToLower(name) {
				case "subject":
					subject = value[strings.LastIndex(value, "]")+1:]
					skip = true
				case "from", "message-id", "in-reply-to", "references", "date":
					skip = true
				default:
					skip = false
					kept = append(kept, l)
				}
			}
			n := len(msgs)
			msgs = append(msgs, []byte(hdr(n, strings.TrimSpace(subject))+strings.Join(kept, "\n")+"\n\n"+string(body)))
		}
		in := review.NewIngester(bench.st, review.Config{Log: slog.New(slog.DiscardHandler)})
		_, err = in.Import(ctx, "bench30", &sliceSource{msgs: msgs})
		in.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
	ss, err := bench.st.SeriesList(ctx, "bench30", "", store.Page{Limit: 10})
	if err != nil || len(ss) != 1 || ss[0].Total != 30 || ss[0].Received != 30 {
		b.Fatalf("bench30's series: %+v, %v; want one of 30 patches", ss, err)
	}
	return ss[0].ID
}

// sliceSource is an archive.Source of messages in memory.
type sliceSource struct{ msgs [][]byte }

func (s *sliceSource) Next() ([]byte, error) {
	if len(s.msgs) == 0 {
		return nil, io.EOF
	}
	m := s.msgs[0]
	s.msgs = s.msgs[1:]
	return m, nil
}

func (s *sliceSource) Close() error { return nil }
