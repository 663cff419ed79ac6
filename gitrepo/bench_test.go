package gitrepo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkWorktreeAm10 measures what each apply (and each CI job) does
// in git before its own work: fetch the mirror, make a worktree at the
// branch head, check the paths, git am -3 a 10-patch series, re-check
// the commits, remove the worktree.
func BenchmarkWorktreeAm10(b *testing.B) {
	f := newFixture(b)
	gitRun(b, f.work, "checkout", "-q", "-b", "ten", "main")
	for i := 1; i <= 10; i++ {
		os.WriteFile(filepath.Join(f.work, fmt.Sprintf("f%d.c", i)), []byte(strings.Repeat("int x;\n", 50)), 0o644)
		f.edit(b, 2*i-1, fmt.Sprintf("line %d changed", 2*i-1))
		gitRun(b, f.work, "add", "-A")
		gitRun(b, f.work, "commit", "-q", "-m", fmt.Sprintf("patch %d", i))
	}
	mbox := []byte(gitRun(b, f.work, "format-patch", "--stdout", "main") + "\n")
	diffs := strings.Split(string(mbox), "\nFrom ")
	m := NewMirror(b.TempDir(), "dev", f.origin)
	if err := m.Sync(f.ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Sync(f.ctx); err != nil {
			b.Fatal(err)
		}
		wt, err := m.Checkout(f.ctx, "", "main")
		if err != nil {
			b.Fatal(err)
		}
		links, err := wt.Symlinks(f.ctx)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := CheckPatches(diffs, links); err != nil {
			b.Fatal(err)
		}
		ids, err := wt.Apply(f.ctx, mbox, "bench", "bench@example.org")
		if err != nil || len(ids) != 10 {
			b.Fatalf("am: %d commits, %v", len(ids), err)
		}
		if err := wt.VerifyCommits(f.ctx, ids); err != nil {
			b.Fatal(err)
		}
		if err := wt.Close(); err != nil {
			b.Fatal(err)
		}
	}
}
