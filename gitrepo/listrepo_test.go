package gitrepo

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestSetListRepo: the settings given change, the others keep their
// value (or the defaults); a repository is probed and kept absolute,
// and a bad name, a missing branch or list are refused.
func TestSetListRepo(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	work := filepath.Join(dir, "work")
	gitRun(t, dir, "init", "-q", "-b", "main", work)
	gitRun(t, work, "commit", "-q", "--allow-empty", "-m", "base")
	gitRun(t, dir, "clone", "-q", "--bare", work, filepath.Join(dir, "project.git"))
	gitRun(t, dir, "init", "-q", "--bare", filepath.Join(dir, "empty.git"))
	str := func(s string) *string { return &s }
	off := false

	t.Chdir(dir)
	got, err := SetListRepo(ctx, st, "dev", RepoChange{Repo: str("project.git")})
	want := &store.ListRepo{List: "dev", Repo: filepath.Join(dir, "project.git"), VCS: store.VCSGit, Branch: "main", FirstTimerGate: true}
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("SetListRepo(relative path) = %+v, %v; want %+v", got, err, want)
	}
	got, err = SetListRepo(ctx, st, "dev", RepoChange{Check: str("make check"), FirstTimerGate: &off})
	want.Check, want.FirstTimerGate = "make check", false
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("SetListRepo(check, gate) = %+v, %v; want %+v", got, err, want)
	}
	if stored, err := st.ListRepo(ctx, "dev"); err != nil || !cmp.Equal(stored, want) {
		t.Errorf("ListRepo() = %+v, %v; want %+v", stored, err, want)
	}
	if _, err := SetListRepo(ctx, st, "dev", RepoChange{Repo: str(filepath.Join(dir, "empty.git")), Branch: str("next")}); err != nil {
		t.Errorf("SetListRepo(an empty repository) = %v", err)
	}

	for _, tc := range []struct {
		name string
		list string
		c    RepoChange
		want string
	}{
		{"option", "dev", RepoChange{Repo: str("-uhelp")}, `bad repository "-uhelp" or branch "next"`},
		{"bad branch", "dev", RepoChange{Branch: str("a..b")}, `bad repository`},
		{"no branch", "dev", RepoChange{Repo: str("project.git"), Branch: str("nope")}, "has no branch nope (it has main)"},
		{"not git", "dev", RepoChange{Repo: str(work + "/.git/objects")}, "not a git repository"},
		{"no list", "nope", RepoChange{Check: str("true")}, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := SetListRepo(ctx, st, tc.list, tc.c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("SetListRepo() = %v, want %q", err, tc.want)
			}
			var be *BadRepoError
			if errors.As(err, &be) != strings.HasPrefix(tc.want, "bad repository") {
				t.Errorf("SetListRepo() = %v: a *BadRepoError only for a bad name", err)
			}
		})
	}
}

// TestSetListRepoHg: a Mercurial repository is recognised as one (its
// branch default when none is given), or taken as one when said; one
// of the other system, or an unknown system, is refused.
func TestSetListRepoHg(t *testing.T) {
	needGit(t)
	needHg(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, l := range []string{"dev", "other"} {
		if _, err := st.CreateList(ctx, store.List{Name: l}); err != nil {
			t.Fatal(err)
		}
	}
	up := filepath.Join(dir, "upstream")
	hgRun(t, dir, "init", up)
	hgRun(t, dir, "init", filepath.Join(dir, "empty"))
	gitRun(t, dir, "init", "-q", "--bare", filepath.Join(dir, "project.git"))
	str := func(s string) *string { return &s }

	got, err := SetListRepo(ctx, st, "dev", RepoChange{Repo: str(up)})
	want := &store.ListRepo{List: "dev", Repo: up, VCS: store.VCSHg, Branch: "default", FirstTimerGate: true}
	if err != nil || !cmp.Equal(got, want) {
		t.Fatalf("SetListRepo(an hg repository) = %+v, %v; want %+v", got, err, want)
	}
	if stored, err := st.ListRepo(ctx, "dev"); err != nil || !cmp.Equal(stored, want) {
		t.Errorf("ListRepo() = %+v, %v; want %+v", stored, err, want)
	}
	got, err = SetListRepo(ctx, st, "other", RepoChange{Repo: str(filepath.Join(dir, "empty")), VCS: str("hg"), Branch: str("stable")})
	if err != nil || got.VCS != store.VCSHg || got.Branch != "stable" {
		t.Errorf("SetListRepo(--vcs hg --branch stable) = %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name string
		c    RepoChange
		want string
	}{
		{"git said hg", RepoChange{Repo: str(filepath.Join(dir, "project.git")), VCS: str("hg")}, "not a Mercurial repository"},
		{"hg said git", RepoChange{Repo: str(up), VCS: str("git")}, "not a git repository"},
		{"svn", RepoChange{Repo: str(up), VCS: str("svn")}, "unknown version control system"},
	} {
		if _, err := SetListRepo(ctx, st, "dev", tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: SetListRepo() = %v, want %q", tc.name, err, tc.want)
		}
	}
}
