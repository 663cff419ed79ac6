package gitrepo

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkCheckoutApply10 measures what each apply (and each CI job)
// does in the repository before its own work, for git and Mercurial:
// bring the mirror up to date, make a scratch checkout at the branch
// head, check the paths, apply a 10-patch series (git am -3; hg import
// of each, with its bundle for per-patch checks), re-check the commits,
// remove the checkout.
func BenchmarkCheckoutApply10(b *testing.B) {
	b.Run("git", func(b *testing.B) {
		f := newFixture(b)
		benchApply10(b, f, NewMirror(b.TempDir(), "dev", f.origin), "main")
	})
	b.Run("hg", func(b *testing.B) {
		f, up := newHgFixture(b)
		benchApply10(b, f, NewHgMirror(b.TempDir(), "dev", up), "default")
	})
}

func benchApply10(b *testing.B, f *fixture, m Repo, branch string) {
	gitRun(b, f.work, "checkout", "-q", "-b", "ten", "main")
	for i := 1; i <= 10; i++ {
		os.WriteFile(filepath.Join(f.work, fmt.Sprintf("f%d.c", i)), []byte(strings.Repeat("int x;\n", 50)), 0o644)
		f.edit(b, 2*i-1, fmt.Sprintf("line %d changed", 2*i-1))
		gitRun(b, f.work, "add", "-A")
		gitRun(b, f.work, "commit", "-q", "-m", fmt.Sprintf("patch %d", i))
	}
	mbox := []byte(gitRun(b, f.work, "format-patch", "--stdout", "main") + "\n")
	diffs := strings.Split(string(mbox), "\nFrom ")
	if err := m.Sync(f.ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := m.Sync(f.ctx); err != nil {
			b.Fatal(err)
		}
		wt, err := m.Checkout(f.ctx, "", branch)
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
