package web

import (
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
	"patchwell/review/patchmail"
	"patchwell/store"
)

// corpusPatches returns up to n parsed patch mails of the 20,000-message
// git list corpus, in archive order.
func corpusPatches(tb testing.TB, n int) []*patchmail.Mail {
	tb.Helper()
	src, err := archive.OpenSource(filepath.Join(testcorpus.Dir(tb), "bench", "git-20k.mbox.gz"))
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	var out []*patchmail.Mail
	for len(out) < n {
		raw, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		if m, err := patchmail.Parse(raw); err == nil && m.Diff != "" && m.Kind == patchmail.KindPatch {
			out = append(out, m)
		}
	}
	return out
}

// TestDiffViewCorpus runs the diff view over 400 real patches: the files
// and their added and deleted line counts agree with go-gitdiff's (through
// patchmail), highlighting changes no line's text, and the rendered HTML
// holds only the diff template's markup.
func TestDiffViewCorpus(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	mails := corpusPatches(t, 400)
	if len(mails) < 400 {
		t.Fatalf("only %d patches in the corpus", len(mails))
	}
	mismatched, highlighted := 0, 0
	for i, m := range mails {
		files := splitDiff(fmt.Sprint("p", i), m.Diff)
		newHighlighter().files(files)
		highlighted += checkSameText(t, files)
		if i < 100 {
			checkInert(t, renderFiles(t, files))
		}
		var got, want []string
		for _, f := range files {
			add, del := 0, 0
			for _, l := range f.Lines {
				switch l.Class {
				case "add":
					add++
				case "del":
					del++
				}
			}
			path := f.NewPath
			if path == "" {
				path = f.OldPath
			}
			got = append(got, fmt.Sprintf("%s +%d -%d", path, add, del))
		}
		for _, f := range m.Files {
			want = append(want, fmt.Sprintf("%s +%d -%d", f.Path, f.Added, f.Deleted))
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			mismatched++
			if mismatched <= 5 {
				t.Errorf("patch %d (%s): files\n%s\nwant (go-gitdiff)\n%s", i, m.CommitSubject, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	if mismatched > 0 {
		t.Errorf("%d of %d patches disagree with go-gitdiff", mismatched, len(mails))
	}
	if highlighted < 5000 {
		t.Errorf("only %d lines highlighted in %d patches", highlighted, len(mails))
	}
	t.Logf("%d patches, %d lines highlighted", len(mails), highlighted)
}

// textsReader serves a series whose patch diffs are given.
type textsReader struct {
	*fakeReader
	diffs map[int]string
}

func (r textsReader) SeriesTexts(ctx context.Context, id int64) (string, map[int]string, map[int]string, error) {
	return "cover letter", r.diffs, nil, nil
}

func (r textsReader) ThreadBodies(ctx context.Context, list, id string) ([]store.Message, []string, error) {
	return nil, nil, store.ErrNotFound
}

// BenchmarkSeriesPage renders GET /series/{id}/ through the whole handler
// for a 30-patch series made of 30 consecutive real patches of the git
// list corpus (line numbering and syntax highlighting included; the texts
// come from memory, so this is the web side's cost only).
func BenchmarkSeriesPage(b *testing.B) {
	mails := corpusPatches(b, 30)
	s := store.Series{ID: 42, List: "dev", Subject: "[PATCH v3 00/30] a long series", Version: 3,
		Status: store.StatusProposed, Total: 30, Received: 30, Complete: true, MessageID: "cover@example.org"}
	var patches []store.Patch
	diffs := map[int]string{}
	lines := 0
	for i, m := range mails {
		patches = append(patches, store.Patch{Index: i + 1, Subject: m.CommitSubject, MessageID: fmt.Sprintf("p%d@example.org", i),
			CommitSubject: m.CommitSubject, Files: m.Files, PatchID: m.PatchID})
		diffs[i+1] = m.Diff
		lines += strings.Count(m.Diff, "\n")
	}
	f := &fakeReader{lists: []store.List{{Name: "dev"}}, details: map[int64]fakeSeries{42: {s: s, patches: patches}}}
	h := New(textsReader{f, diffs}, Config{Domain: "lists.example.org"}, slog.New(slog.DiscardHandler))
	req := httptest.NewRequest(http.MethodGet, "/series/42/", nil)
	// cold: every view highlights anew (a first view); warm: views of a
	// series whose patches are in the highlighting cache.
	for _, cold := range []bool{true, false} {
		b.Run(map[bool]string{true: "cold", false: "warm"}[cold], func(b *testing.B) {
			b.ReportAllocs()
			var n int64
			for b.Loop() {
				if cold {
					resetHighlightCache()
				}
				f.calls = f.calls[:0]
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("GET = %d %s", rec.Code, rec.Body)
				}
				n = int64(rec.Body.Len())
			}
			b.SetBytes(n)
			b.ReportMetric(float64(lines), "difflines")
		})
	}
}
