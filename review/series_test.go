package review

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/store"
)

// corpusDir is the shared mail corpus (see internal/testcorpus).
func corpusDir(t testing.TB) string { return testcorpus.Dir(t) }

func newTestIngester(t testing.TB) (*Ingester, *store.DB) {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	if _, err := st.CreateList(context.Background(), store.List{Name: "dev"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	// Posts that go to subscribers wait in the outbox, as they do
	// without a delivery worker.
	queue := func(ctx context.Context, tx store.Tx, l *store.List, a *store.Added, raw []byte, _ bool, _ []string) error {
		_, err := tx.AddOutbox(ctx, store.OutboxMessage{ListID: l.ID, MessageID: a.MessageID, Raw: raw, State: store.OutboxQueued, Created: time.Now()})
		return err
	}
	in := NewIngester(st, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Distribute: queue})
	t.Cleanup(func() {
		in.Close()
		st.Close()
	})
	return in, st
}

func importFile(t testing.TB, in *Ingester, path string) ImportStats {
	t.Helper()
	src, err := archive.OpenSource(path)
	if err != nil {
		t.Fatalf("OpenSource(%s) = %v", path, err)
	}
	defer src.Close()
	stats, err := in.Import(context.Background(), "dev", src)
	if err != nil {
		t.Fatalf("Import(%s) = %v", path, err)
	}
	return stats
}

// summary renders a list's series in a form a maintainer reads:
// "v2 2/2 +cover prev=v1 superseded".
func summary(t *testing.T, st store.Store) []string {
	t.Helper()
	all, err := st.SeriesList(context.Background(), "dev", "", store.Page{Limit: 1000})
	if err != nil {
		t.Fatalf("SeriesList() = %v", err)
	}
	byID := map[int64]store.Series{}
	for _, s := range all {
		byID[s.ID] = s
	}
	var out []string
	for _, s := range all {
		line := fmt.Sprintf("v%d %d/%d", s.Version, s.Received, s.Total)
		if s.CoverMessageID != "" {
			line += " +cover"
		}
		if s.Previous != 0 {
			line += fmt.Sprintf(" prev=v%d", byID[s.Previous].Version)
		}
		if s.Status != store.StatusProposed {
			line += " " + s.Status
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// TestPatchworkSeries assembles patchwork's series test threads and
// compares with what a maintainer of the list expects.
func TestPatchworkSeries(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "patchwork", "series")
	for _, tc := range []struct {
		file string
		want []string
	}{
		{"base-cover-letter", []string{"v1 2/2 +cover"}},
		{"base-deep-threaded", []string{"v1 2/2 +cover"}},
		// The cover names v3, the patches no version: one v3 series.
		{"base-different-versions", []string{"v3 4/4 +cover"}},
		// "[PATCH 3/2]" is an extra patch of the same series (its diff is
		// malformed, but it carries a diff header and a [PATCH] tag).
		{"base-extra-patches", []string{"v1 3/2 +cover"}},
		{"base-incomplete", []string{"v1 1/2 +cover"}},
		{"base-no-cover-letter", []string{"v1 2/2"}},
		// No References at all: same sender, version and count, close in time.
		{"base-no-references-no-cover", []string{"v1 2/2 +cover"}},
		{"base-no-references", []string{"v2 2/2"}},
		{"base-out-of-order", []string{"v1 2/2 +cover"}},
		{"base-single-patch", []string{"v1 1/1"}},
		{"bugs-mixed-versions", []string{"v1 1/2", "v2 1/2"}},
		{"bugs-multiple-content-types", []string{"v1 1/1"}},
		{"bugs-multiple-references", []string{"v2 4/4 +cover"}},
		// Sent again, unversioned, in reply to the first sending: a new
		// revision of it.
		{"bugs-nocover-noversion", []string{"v1 2/2 prev=v1", "v1 2/2 superseded"}},
		{"bugs-nocover", []string{"v1 2/2 superseded", "v2 2/2 prev=v1"}},
		// The same patch sent three times, unthreaded: three series, each
		// re-send superseding the one before (as b4 and lore treat resends).
		{"bugs-spamming", []string{"v2 1/4 prev=v2", "v2 1/4 prev=v2 superseded", "v2 1/4 superseded"}},
		// The patch without a [PATCH] tag stands alone.
		{"bugs-unnumbered", []string{"v1 1/1", "v1 1/2 +cover"}},
		{"mercurial-cover-letter", []string{"v1 2/2 +cover"}},
		{"mercurial-no-cover-letter", []string{"v1 2/2"}},
		{"revision-basic", []string{"v1 2/2 +cover superseded", "v2 2/2 +cover prev=v1"}},
		{"revision-no-cover-letter", []string{"v1 2/2 +cover superseded", "v2 2/2 prev=v1"}},
		{"revision-out-of-order", []string{"v1 2/2 +cover superseded", "v2 2/2 +cover prev=v1"}},
		{"revision-threaded-to-cover", []string{"v1 2/2 +cover superseded", "v2 2/2 +cover prev=v1"}},
		{"revision-threaded-to-patch", []string{"v1 2/2 +cover superseded", "v2 2/2 +cover prev=v1"}},
		{"revision-threaded-to-single-patch", []string{"v1 1/1 superseded", "v2 1/1 prev=v1"}},
		// The same series sent again without a new version: a new revision.
		{"revision-unlabeled", []string{"v1 2/2 +cover prev=v1", "v1 2/2 +cover superseded"}},
		// Two unthreaded sendings an hour apart: two series, the second
		// replacing the first.
		{"revision-unlabeled-noreferences", []string{"v2 2/2 prev=v2", "v2 2/2 superseded"}},
		{"dependency-base-patch", []string{"v1 2/2 +cover"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			in, st := newTestIngester(t)
			importFile(t, in, filepath.Join(dir, tc.file+".mbox"))
			if diff := cmp.Diff(tc.want, summary(t, st)); diff != "" {
				t.Errorf("series (-want +got):\n%s", diff)
			}
		})
	}
}
