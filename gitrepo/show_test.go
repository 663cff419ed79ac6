package gitrepo

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BranchFile reads the branch as fetched into the mirror: not a file of
// a worktree (even one whose HEAD has it), not a directory, not a blob
// over the limit.
func TestBranchFile(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	gitRun(t, dir, "init", "-q", "--bare", "-b", "main", origin)
	gitRun(t, dir, "init", "-q", "-b", "main", work)
	os.WriteFile(filepath.Join(work, "ci.yml"), []byte("steps: []\n"), 0o644)
	os.MkdirAll(filepath.Join(work, "dir"), 0o755)
	os.WriteFile(filepath.Join(work, "dir", "f"), []byte("f\n"), 0o644)
	os.WriteFile(filepath.Join(work, "big"), []byte(strings.Repeat("x", 100)), 0o644)
	gitRun(t, work, "add", "-A")
	gitRun(t, work, "commit", "-q", "-m", "base")
	gitRun(t, work, "push", "-q", origin, "main")

	m := NewMirror(filepath.Join(dir, "data"), "dev", origin)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	head := gitRun(t, origin, "rev-parse", "main")
	b, commit, err := m.BranchFile(ctx, "main", "ci.yml", 1000)
	if err != nil || string(b) != "steps: []\n" || commit != head {
		t.Fatalf("BranchFile(ci.yml) = %q, %s, %v (head %s)", b, commit, err, head)
	}
	// A worktree that commits a new ci.yml does not change what the
	// branch says.
	wt, err := m.Checkout(ctx, "", "main")
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	os.WriteFile(filepath.Join(wt.Dir(), "ci.yml"), []byte("evil\n"), 0o644)
	gitRun(t, wt.Dir(), "commit", "-q", "-a", "-m", "evil")
	if b, _, err := m.BranchFile(ctx, "main", "ci.yml", 1000); err != nil || string(b) != "steps: []\n" {
		t.Fatalf("after a worktree commit: %q, %v", b, err)
	}
	for _, tc := range []struct {
		branch, path string
		want         error
	}{
		{"main", "absent.yml", ErrNoFile},
		{"main", "dir", ErrBadFile},
		{"main", "big", ErrBadFile},
	} {
		if _, _, err := m.BranchFile(ctx, tc.branch, tc.path, 50); !errors.Is(err, tc.want) {
			t.Errorf("BranchFile(%s, %s) = %v, want %v", tc.branch, tc.path, err, tc.want)
		}
	}
	for _, branch := range []string{"nope", "-x", "main:ci.yml"} {
		if _, _, err := m.BranchFile(ctx, branch, "ci.yml", 1000); err == nil || errors.Is(err, ErrNoFile) {
			t.Errorf("BranchFile(%q) = %v, want an error", branch, err)
		}
	}
}

// File reads a blob of a commit by a path a patch named: never a path
// that leaves the tree or names git's own files, never a tree, never a
// commit given by anything but its full id.
func TestFile(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	origin, work := filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	gitRun(t, dir, "init", "-q", "--bare", "-b", "main", origin)
	gitRun(t, dir, "init", "-q", "-b", "main", work)
	os.MkdirAll(filepath.Join(work, "dir"), 0o755)
	os.WriteFile(filepath.Join(work, "dir", "f.c"), []byte("one\ntwo\n"), 0o644)
	os.WriteFile(filepath.Join(work, "big"), []byte(strings.Repeat("x", 100)), 0o644)
	gitRun(t, work, "add", "-A")
	gitRun(t, work, "commit", "-q", "-m", "base")
	gitRun(t, work, "push", "-q", origin, "main")
	m := NewMirror(filepath.Join(dir, "data"), "dev", origin)
	if err := m.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	head := gitRun(t, origin, "rev-parse", "main")
	if b, err := m.File(ctx, head, "dir/f.c", 1000); err != nil || string(b) != "one\ntwo\n" {
		t.Fatalf("File(dir/f.c) = %q, %v", b, err)
	}
	for _, tc := range []struct {
		name, commit, path string
		want               error
	}{
		{"absent file", head, "dir/g.c", ErrNoFile},
		{"unknown commit", strings.Repeat("a", 40), "dir/f.c", ErrNoFile},
		{"short id", head[:12], "dir/f.c", ErrBadFile},
		{"a ref", "main", "dir/f.c", ErrBadFile},
		{"an option", "--output=x", "dir/f.c", ErrBadFile},
		{"a tree", head, "dir", ErrBadFile},
		{"too big", head, "big", ErrBadFile},
		{"dot-dot", head, "dir/../big", ErrBadFile},
		{"leading dot-dot", head, "../origin.git/config", ErrBadFile},
		{"absolute", head, "/etc/passwd", ErrBadFile},
		{"git dir", head, ".git/config", ErrBadFile},
		{"empty component", head, "dir//f.c", ErrBadFile},
		{"control character", head, "dir/f\n.c", ErrBadFile},
	} {
		if _, err := m.File(ctx, tc.commit, tc.path, 50); !errors.Is(err, tc.want) {
			t.Errorf("%s: File(%s, %q) = %v, want %v", tc.name, tc.commit, tc.path, err, tc.want)
		}
	}
}
