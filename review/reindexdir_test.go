package review

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/store"
)

// mustDataDir is a data directory whose list dev holds n messages, its
// store closed.
func mustDataDir(t *testing.T, n int) string {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	in := NewIngester(st, Config{Log: slog.New(slog.DiscardHandler)})
	for i := range n {
		if _, err := in.Import(ctx, "dev", oneMessage(fmt.Sprintf("Subject: m%d\nMessage-ID: <m%d@example.org>\n\nbody %d\n", i, i, i))); err != nil {
			t.Fatalf("Import() = %v", err)
		}
	}
	if err := in.Close(); err != nil {
		t.Fatalf("Ingester.Close() = %v", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	return dir
}

// messages is how many messages list dev of the store in dir holds.
func messages(t *testing.T, dir string) int {
	t.Helper()
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	defer st.Close()
	l, err := st.List(context.Background(), "dev")
	if err != nil {
		t.Fatalf("List() = %v", err)
	}
	return l.Messages
}

// counter is a Progress that records the total and the messages counted.
type counter struct{ total, n int64 }

func (c *counter) progress(total int64) func(int) {
	c.total = total
	return func(n int) { c.n += int64(n) }
}

// TestReindexDir rebuilds a data directory in place: the new database
// holds the messages, the old one is kept under the name returned, the
// progress is told the total and each message, and the directory is
// refused while locked or without a database.
func TestReindexDir(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	dir := mustDataDir(t, 3)
	var c counter
	stats, kept, err := ReindexDir(ctx, dir, log, c.progress)
	if err != nil {
		t.Fatalf("ReindexDir() = %v", err)
	}
	if stats["dev"].Imported != 3 || c.total != 3 || c.n != 3 {
		t.Errorf("ReindexDir() stats %+v, progress %+v; want 3 messages", stats, c)
	}
	if !strings.HasPrefix(kept, store.DBFile+".before-reindex-") {
		t.Errorf("ReindexDir() kept %q", kept)
	}
	if _, err := os.Stat(filepath.Join(dir, kept)); err != nil {
		t.Errorf("old database not kept: %v", err)
	}
	if n := messages(t, dir); n != 3 {
		t.Errorf("%d messages after reindex, want 3", n)
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.IsDir() {
			t.Errorf("%s left in the data directory", e.Name())
		}
	}

	unlock, err := store.LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir() = %v", err)
	}
	if _, _, err := ReindexDir(ctx, dir, log, nil); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("ReindexDir() while locked = %v, want in use", err)
	}
	unlock()
	if _, _, err := ReindexDir(ctx, t.TempDir(), log, nil); err == nil || !strings.Contains(err.Error(), "no database in ") {
		t.Errorf("ReindexDir() of an empty directory = %v, want no database", err)
	}
}

// TestMigrate copies a data directory into a new one, and refuses to
// fill a store that is not empty or to copy one that does not exist.
func TestMigrate(t *testing.T) {
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	from := mustDataDir(t, 2)
	to := filepath.Join(t.TempDir(), "copy")
	var c counter
	stats, err := Migrate(ctx, from, to, log, c.progress)
	if err != nil {
		t.Fatalf("Migrate() = %v", err)
	}
	if stats["dev"].Imported != 2 || c.total != 2 || c.n != 2 {
		t.Errorf("Migrate() stats %+v, progress %+v; want 2 messages", stats, c)
	}
	if n := messages(t, to); n != 2 {
		t.Errorf("%d messages in the copy, want 2", n)
	}
	if _, err := Migrate(ctx, from, to, log, nil); err == nil || !strings.Contains(err.Error(), "is not empty (it has 1 lists)") {
		t.Errorf("Migrate() into a full store = %v, want not empty", err)
	}
	if _, err := Migrate(ctx, t.TempDir(), filepath.Join(t.TempDir(), "x"), log, nil); err == nil || !strings.Contains(err.Error(), "no database in ") {
		t.Errorf("Migrate() from an empty directory = %v, want no database", err)
	}
}
