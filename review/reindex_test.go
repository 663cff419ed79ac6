package review

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestReindex rebuilds a store from its raw messages: the same messages,
// UIDs, UIDVALIDITY, arrival times, threads and series.
func TestReindex(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "patchwork", "series")
	in, old := newTestIngester(t)
	for _, f := range []string{"revision-basic.mbox", "base-out-of-order.mbox", "bugs-nocover.mbox"} {
		importFile(t, in, filepath.Join(dir, f))
	}
	fresh, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	stats, err := Reindex(context.Background(), old, fresh, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatalf("Reindex() = %v", err)
	}
	if stats["dev"].Imported == 0 {
		t.Fatalf("stats = %+v", stats)
	}
	before, after := summary(t, old), summary(t, fresh)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("series after reindex (-before +after):\n%s", diff)
	}
	type row struct {
		UID       uint32
		MessageID string
		Thread    string
		Arrived   int64
		SHA       string
	}
	rows := func(st store.Store) []row {
		var out []row
		roots := map[int64]string{}
		st.Walk(context.Background(), "dev", func(m *store.Message, _ []byte) error {
			if _, ok := roots[m.ThreadID]; !ok {
				roots[m.ThreadID] = m.MessageID // threads named by their first message
			}
			out = append(out, row{m.UID, m.MessageID, roots[m.ThreadID], m.Arrived.Unix(), m.SHA256})
			return nil
		})
		return out
	}
	if diff := cmp.Diff(rows(old), rows(fresh)); diff != "" {
		t.Errorf("messages after reindex (-before +after):\n%s", diff)
	}
	// The search index is rebuilt: the same queries find the same mails.
	if n, err := fresh.SearchUnindexed(context.Background()); n != 0 || err != nil {
		t.Errorf("SearchUnindexed() after reindex = %d, %v", n, err)
	}
	for _, q := range []string{`s:"sample series"`, `b:"sample cover letter"`, `dfn:test.md`, `dfb:lorem`, `f:stephen*`, `d:20160101..`} {
		find := func(st store.Store) []string {
			hits, err := NewService(st).Search(context.Background(), "dev", q, store.Page{Limit: 1000})
			if err != nil {
				t.Fatalf("Search(%q) = %v", q, err)
			}
			var ids []string
			for _, h := range hits {
				ids = append(ids, h.MessageID)
			}
			return ids
		}
		b, a := find(old), find(fresh)
		if len(b) == 0 || !slices.Equal(a, b) {
			t.Errorf("Search(%q): %d hits before reindex, %d after", q, len(b), len(a))
		}
	}
	lo, _ := old.List(context.Background(), "dev")
	ln, _ := fresh.List(context.Background(), "dev")
	if lo.UIDValidity != ln.UIDValidity {
		t.Errorf("UIDVALIDITY %d, was %d", ln.UIDValidity, lo.UIDValidity)
	}
}
