package gitrepo

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

func needHg(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("hg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("hg is needed")
		}
		t.Skip("hg is not installed")
	}
}

// hgRun runs hg for the test's own setup.
func hgRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("hg", append([]string{"--config", "ui.username=Upstream <up@example.org>"}, args...)...)
	cmd.Dir = dir
	cmd.Env = hgEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hg %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// newHgFixture is newFixture with the list's repository a Mercurial one
// (branch default) whose tree is the git base's: series are written with
// git format-patch, as contributors to either send them.
func newHgFixture(t testing.TB) (*fixture, string) {
	needHg(t)
	f := newFixture(t)
	up := filepath.Join(t.TempDir(), "upstream")
	hgRun(t, "", "init", up)
	for _, name := range []string{"a.txt"} {
		b, err := os.ReadFile(filepath.Join(f.work, name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(up, name), b, 0o644)
	}
	os.Symlink("/etc", filepath.Join(up, "etc-link"))
	hgRun(t, up, "add", "a.txt", "etc-link")
	hgRun(t, up, "commit", "-m", "base")
	if err := f.st.SetListRepo(f.ctx, store.ListRepo{List: "dev", Repo: up, Branch: "default", VCS: store.VCSHg}); err != nil {
		t.Fatal(err)
	}
	return f, up
}

// TestHgApply: a series applies to a Mercurial repository as to a git
// one: one changeset per patch with its author, author date and whole
// commit message (trailers collected, Link: added), pushed to the
// repository; the patch-ids of the changesets are those git gives the
// same commits.
func TestHgApply(t *testing.T) {
	f, up := newHgFixture(t)
	id, mids := f.send(t,
		func() string { f.edit(t, 5, "line five"); return "a: spell out five\n\nFive reads better spelt out." },
		func() string { os.WriteFile(filepath.Join(f.work, "b.txt"), []byte("b\n"), 0o644); return "b: add b" },
	)
	reply := "From: Bob Reviewer <bob@example.org>\nTo: dev@patchwell.localhost\nSubject: Re: [PATCH 1/2] a: spell out five\n" +
		"Message-ID: <hg-review@example.org>\nIn-Reply-To: <" + mids[0] + ">\nReferences: <" + mids[0] + ">\nDate: Wed, 2 Dec 2026 10:00:00 +0000\n\n" +
		"Reviewed-by: Bob Reviewer <bob@example.org>\n"
	if err := f.in.Post(f.ctx, review.Post{Lists: []string{"dev"}, Raw: []byte(reply)}); err != nil {
		t.Fatal(err)
	}
	r, err := f.ap.Apply(f.ctx, id, "maint@example.org")
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if len(r.Commits) != 2 || len(r.Commits[1].ID) != 40 {
		t.Fatalf("result %+v", r)
	}
	log := hgRun(t, up, "log", "-r", "1:", "-T", "{node}\n{author}\n{date|hgdate}\n{desc}\n--\n")
	gitDate := gitRun(t, f.work, "log", "-1", "--format=%at", "topic1~1")
	for _, want := range []string{
		r.Commits[0].ID + "\nAlice Author <alice@example.org>\n" + gitDate + " 0\na: spell out five\n\nFive reads better spelt out.\n\nSigned-off-by: Alice Author <alice@example.org>\nReviewed-by: Bob Reviewer <bob@example.org>\nLink: https://patches.example.org/dev/" + mids[0] + "/\n--",
		r.Commits[1].ID + "\nAlice Author <alice@example.org>\n",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("the repository's log lacks %q:\n%s", want, log)
		}
	}
	if got := hgRun(t, up, "cat", "-r", "tip", "b.txt"); got != "b" {
		t.Errorf("b.txt at tip = %q", got)
	}
	// The same change has one patch-id, whichever system exported it.
	m, repo, err := f.ap.Mirror(f.ctx, "dev")
	if err != nil || repo.VCS != store.VCSHg {
		t.Fatalf("Mirror = %v, %+v", err, repo)
	}
	cs, err := m.Commits(f.ctx, "", hgRun(t, up, "log", "-r", "0", "-T", "{node}"), r.Commits[1].ID)
	if err != nil || len(cs) != 2 {
		t.Fatalf("Commits = %+v, %v", cs, err)
	}
	cmd := exec.Command("sh", "-c", "git log -p --format='commit %H' main..topic1 | git patch-id --stable")
	cmd.Dir = f.work
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.PatchID == "" || !strings.Contains(string(out), c.PatchID+" ") {
			t.Errorf("changeset %s (%s): patch-id %q, not one git gives the commits:\n%s", c.ID, c.Subject, c.PatchID, out)
		}
	}
	if _, err := f.ap.Apply(f.ctx, id, "maint@example.org"); !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("second Apply = %v", err)
	}
}

// TestHgApplyRefusals: a series that does not apply is a conflict with
// hg's rejects; one whose path enters .hg is refused before hg sees it;
// a push that would make a second head (the branch moved) is refused:
// the repository is untouched each time.
func TestHgApplyRefusals(t *testing.T) {
	f, up := newHgFixture(t)
	tip := hgRun(t, up, "log", "-r", "tip", "-T", "{node}")
	hgRun(t, up, "update", "-q", "tip")
	// The repository's line 7 differs from the git base the series is made on.
	b, _ := os.ReadFile(filepath.Join(up, "a.txt"))
	os.WriteFile(filepath.Join(up, "a.txt"), []byte(strings.Replace(string(b), "line 7\n", "line seven\n", 1)), 0o644)
	hgRun(t, up, "commit", "-m", "upstream: seven")
	tip = hgRun(t, up, "log", "-r", "tip", "-T", "{node}")
	id, _ := f.send(t, func() string { f.edit(t, 7, "line 7!"); return "a: excite seven" })
	_, err := f.ap.Apply(f.ctx, id, "maint@example.org")
	var c *Conflict
	if !errors.As(err, &c) || c.Patch != 1 || !strings.Contains(c.Output, "a.txt.rej") || !strings.Contains(c.Output, "-line 7") {
		t.Fatalf("Apply of a conflicting series = %v", err)
	}
	evil, _ := f.send(t, func() string {
		os.MkdirAll(filepath.Join(f.work, ".hg"), 0o755)
		os.WriteFile(filepath.Join(f.work, ".hg", "hgrc"), []byte("[hooks]\nprecommit = touch /tmp/pwned\n"), 0o644)
		return "evil: hooks"
	})
	var pe *PathError
	if _, err := f.ap.Apply(f.ctx, evil, "maint@example.org"); !errors.As(err, &pe) || pe.Path != ".hg/hgrc" {
		t.Fatalf("Apply of a patch into .hg = %v", err)
	}
	if got := hgRun(t, up, "log", "-r", "tip", "-T", "{node}"); got != tip {
		t.Errorf("the repository moved to %s", got)
	}

	// A checkout made before the branch moves may not push a new head.
	m, _, _ := f.ap.Mirror(f.ctx, "dev")
	if err := m.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	co, err := m.Checkout(f.ctx, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	os.WriteFile(filepath.Join(co.Dir(), "c.txt"), []byte("c\n"), 0o644)
	hgRun(t, co.Dir(), "add", "c.txt")
	hgRun(t, co.Dir(), "commit", "-m", "from the checkout")
	os.WriteFile(filepath.Join(up, "d.txt"), []byte("d\n"), 0o644)
	hgRun(t, up, "add", "d.txt")
	hgRun(t, up, "commit", "-m", "upstream moves on")
	moved := hgRun(t, up, "log", "-r", "tip", "-T", "{node}")
	if err := co.Push(f.ctx, "default"); err == nil || !strings.Contains(err.Error(), "head") {
		t.Fatalf("push of a second head = %v", err)
	}
	if got := hgRun(t, up, "log", "-r", "tip", "-T", "{node}"); got != moved {
		t.Errorf("the repository moved to %s", got)
	}
}

// TestHgFiles: a file of the branch head and of a changeset, with the
// paths and files Mirror refuses refused alike.
func TestHgFiles(t *testing.T) {
	f, up := newHgFixture(t)
	m, _, _ := f.ap.Mirror(f.ctx, "dev")
	if err := m.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	head := hgRun(t, up, "log", "-r", "tip", "-T", "{node}")
	b, rev, err := m.BranchFile(f.ctx, "default", "a.txt", 1<<20)
	if err != nil || rev != head || !strings.HasPrefix(string(b), "line 1\nline 2\n") {
		t.Fatalf("BranchFile = %q, %s, %v", b, rev, err)
	}
	if _, _, err := m.BranchFile(f.ctx, "default", "nope.txt", 1<<20); !errors.Is(err, ErrNoFile) {
		t.Errorf("missing file: %v", err)
	}
	if _, _, err := m.BranchFile(f.ctx, "default", "a.txt", 10); !errors.Is(err, ErrBadFile) {
		t.Errorf("too large: %v", err)
	}
	if _, err := m.File(f.ctx, head, "etc-link", 1<<20); !errors.Is(err, ErrBadFile) {
		t.Errorf("symbolic link: %v", err)
	}
	for _, p := range []string{"../a.txt", ".hg/hgrc", "/etc/passwd"} {
		if _, err := m.File(f.ctx, head, p, 1<<20); !errors.Is(err, ErrBadFile) {
			t.Errorf("File(%q) = %v, want refused", p, err)
		}
	}
	if _, err := m.File(f.ctx, strings.Repeat("0", 39)+"1", "a.txt", 1<<20); !errors.Is(err, ErrNoFile) {
		t.Errorf("unknown changeset: %v", err)
	}
	co, err := m.Checkout(f.ctx, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	links, err := co.Symlinks(f.ctx)
	if err != nil || !links["etc-link"] || len(links) != 1 {
		t.Errorf("Symlinks = %v, %v", links, err)
	}
	dir := co.Dir()
	if err := co.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("checkout %s still there", dir)
	}
}

// TestHgWorkspace: CI's half on a Mercurial list: the series applied in
// a scratch clone at its base, a fresh clone at each of its changesets
// for per-patch checks (the changesets come from a bundle written
// before any check, not from the clone a check ran in), and the check
// definition read from the branch head in the mirror.
func TestHgWorkspace(t *testing.T) {
	f, up := newHgFixture(t)
	os.WriteFile(filepath.Join(up, ".patchwell.yml"), []byte("steps:\n  - name: test\n    run: test -f a.txt\n"), 0o644)
	hgRun(t, up, "add", ".patchwell.yml")
	hgRun(t, up, "commit", "-m", "ci")
	id, _ := f.send(t,
		func() string { f.edit(t, 3, "line three"); return "a: three" },
		func() string { os.WriteFile(filepath.Join(f.work, "b.txt"), []byte("b\n"), 0o644); return "b: add b" },
	)
	w, err := NewWorkspace(WorkspaceConfig{Store: f.st, Service: review.NewService(f.st), DataDir: f.ap.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	def, err := w.Definition(f.ctx, id, true)
	if err != nil || len(def.Steps) != 1 || !strings.Contains(def.Source, ".patchwell.yml on default at ") {
		t.Fatalf("Definition = %+v, %v", def, err)
	}
	dir, cleanup, res, err := w.Prepare(f.ctx, id)
	if err != nil || !res.Applied || len(res.Commits) != 2 {
		t.Fatalf("Prepare = %q, %+v, %v", dir, res, err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "b.txt")); err != nil || string(b) != "b\n" {
		t.Errorf("b.txt in the applied clone: %q, %v", b, err)
	}
	// A check may do anything to the clone: it is not used again.
	os.RemoveAll(filepath.Join(dir, ".hg"))
	first, done, err := res.Checkout(f.ctx, res.Commits[0])
	if err != nil {
		t.Fatalf("Checkout(first) = %v", err)
	}
	a, _ := os.ReadFile(filepath.Join(first, "a.txt"))
	if _, err := os.Stat(filepath.Join(first, "b.txt")); !os.IsNotExist(err) || !strings.Contains(string(a), "line three\n") {
		t.Errorf("the first patch's clone: b.txt %v, a.txt %q", err, a)
	}
	done()
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("clone %s still there", dir)
	}
	if left, _ := filepath.Glob(filepath.Join(WorkDir(f.ap.DataDir), "*")); len(left) != 0 {
		t.Errorf("left in the work directory: %v", left)
	}
}

// TestHgVerifyCommits: the files of each changeset as Mercurial
// committed them are checked, and the one with a control character in
// a name is named by its position.
func TestHgVerifyCommits(t *testing.T) {
	f, _ := newHgFixture(t)
	m, _, _ := f.ap.Mirror(f.ctx, "dev")
	if err := m.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	co, err := m.Checkout(f.ctx, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	var ids []string
	for _, name := range []string{"ok.txt", "a\tb"} {
		os.WriteFile(filepath.Join(co.Dir(), name), []byte("x\n"), 0o644)
		os.WriteFile(filepath.Join(co.Dir(), "also-"+fmt.Sprint(len(ids))), []byte("y\n"), 0o644)
		hgRun(t, co.Dir(), "add", "-q", ".")
		hgRun(t, co.Dir(), "commit", "-m", "add "+name)
		h, _ := co.Head(f.ctx)
		ids = append(ids, h)
	}
	if err := co.VerifyCommits(f.ctx, ids[:1]); err != nil {
		t.Errorf("VerifyCommits(a good changeset) = %v", err)
	}
	var pe *PathError
	if err := co.VerifyCommits(f.ctx, ids); !errors.As(err, &pe) || pe.Patch != 2 || pe.Path != "a\tb" {
		t.Errorf("VerifyCommits = %v, want changeset 2's %q refused", err, "a\tb")
	}
}
