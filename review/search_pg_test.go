package review

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"

	"patchwell/archive"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestSearchSameOnPostgres imports the linux-watchdog archive slice into
// a SQLite store and a PostgreSQL one and runs the same queries on both:
// the same messages come back, in the same order (newest first).
func TestSearchSameOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("imports the archive slice twice")
	}
	path := corpusDir(t) + "/linux-watchdog-archive/linux-watchdog-last4000.mboxrd.gz"
	ctx := context.Background()
	sq, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	pg, err := store.OpenPostgres(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	for _, st := range []*store.DB{sq, pg} {
		if _, err := st.CreateList(ctx, store.List{Name: "wd"}); err != nil {
			t.Fatal(err)
		}
		src, err := archive.OpenSource(path)
		if err != nil {
			t.Fatal(err)
		}
		in := NewIngester(st, Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if _, err := in.Import(ctx, "wd", src); err != nil {
			t.Fatal(err)
		}
		in.Close()
		src.Close()
	}
	for _, q := range []string{
		"watchdog", "s:watchdog", "s:\"watchdog: add\"", "f:guenter", "b:timeout", "q:timeout", "nq:timeout",
		"dfn:drivers/watchdog", "dfa:return", "dfb:devm_kzalloc", "wdt*", "s:wdt*", "timeout AND s:fix", "timeout OR s:fix",
		"timeout NOT s:fix", "NOT s:watchdog", "s:fix OR s:add", "\"set the timeout\"", "d:2024-01-01..2025-01-01",
		"s:watchdog d:2025-06-01..", "rt:..2025-01-01 s:fix", "t:linux-watchdog", "c:linux-kernel",
		"f:linux NOT s:watchdog", "dfb:\"return 0\"", "b:\"Signed-off-by\" s:imx", "s:\"watchdog: add\" f:guenter",
		"(s:fix OR s:add) AND dfn:Kconfig", "s:imx*",
	} {
		e, err := parseQuery(q)
		if err != nil {
			t.Errorf("%q: %v", q, err)
			continue
		}
		var got [2][]string
		for i, st := range []*store.DB{sq, pg} {
			ms, err := st.Search(ctx, []string{"wd"}, e, store.Page{Limit: 1000}) // the most a page gives
			if err != nil {
				t.Fatalf("%q on %d: %v", q, i, err)
			}
			for _, m := range ms {
				got[i] = append(got[i], m.MessageID)
			}
		}
		if !slices.Equal(got[0], got[1]) {
			t.Errorf("%q: SQLite found %d, PostgreSQL %d (first difference at %d)", q, len(got[0]), len(got[1]), firstDiff(got[0], got[1]))
		} else {
			t.Logf("%q: %d on both", q, len(got[0]))
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
