package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLockDir: a second lock on a data directory is refused until the
// first is released; a missing directory is made.
func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	unlock, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir() = %v", err)
	}
	if _, err := LockDir(dir); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second LockDir() = %v, want in use", err)
	}
	unlock()
	unlock2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir() after unlock = %v", err)
	}
	unlock2()
}

// TestReplaceDB: the database rebuilt beside the data directory takes
// the place of its database, which is kept under another name.
func TestReplaceDB(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	from := filepath.Join(dir, "rebuilt")
	for d, list := range map[string]string{dir: "old", from: "new"} {
		st, err := Open(ctx, d)
		if err != nil {
			t.Fatalf("Open(%s) = %v", d, err)
		}
		if _, err := st.CreateList(ctx, List{Name: list}); err != nil {
			t.Fatalf("CreateList() = %v", err)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close() = %v", err)
		}
	}
	if err := ReplaceDB(dir, from, ".kept"); err != nil {
		t.Fatalf("ReplaceDB() = %v", err)
	}
	names := func(d string) []string {
		st, err := Open(ctx, d)
		if err != nil {
			t.Fatalf("Open(%s) = %v", d, err)
		}
		defer st.Close()
		ls, err := st.Lists(ctx)
		if err != nil {
			t.Fatalf("Lists() = %v", err)
		}
		var out []string
		for _, l := range ls {
			out = append(out, l.Name)
		}
		return out
	}
	if got := names(dir); len(got) != 1 || got[0] != "new" {
		t.Errorf("lists after ReplaceDB() = %v, want [new]", got)
	}
	if _, err := os.Stat(filepath.Join(from, DBFile)); err == nil {
		t.Errorf("%s still in %s", DBFile, from)
	}
	kept := t.TempDir()
	if err := os.Rename(filepath.Join(dir, DBFile+".kept"), filepath.Join(kept, DBFile)); err != nil {
		t.Fatalf("old database not kept: %v", err)
	}
	if got := names(kept); len(got) != 1 || got[0] != "old" {
		t.Errorf("lists of the kept database = %v, want [old]", got)
	}
}
