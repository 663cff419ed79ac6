package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is needed")
		}
		t.Skip("git is not installed")
	}
}

// gitRun runs git for the test's own setup, as a developer with
// identity Alice (the patches' author).
func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(env(), "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Alice Author", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice Author", "GIT_COMMITTER_EMAIL=alice@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

type fixture struct {
	ctx    context.Context
	st     *store.DB
	in     *review.Ingester
	ap     *Applier
	origin string // the list's bare repository
	work   string // a developer's clone
	out    string // where format-patch writes
	n      int
}

func newFixture(t testing.TB) *fixture {
	needGit(t)
	f := &fixture{ctx: context.Background()}
	dir := t.TempDir()
	var err error
	f.st, err = store.Open(f.ctx, filepath.Join(dir, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateList(f.ctx, store.List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	f.in = review.NewIngester(f.st, review.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { f.in.Close(); f.st.Close() })
	f.origin = filepath.Join(dir, "origin.git")
	f.work = filepath.Join(dir, "work")
	f.out = filepath.Join(dir, "out")
	gitRun(t, dir, "init", "-q", "--bare", "-b", "main", f.origin)
	gitRun(t, dir, "init", "-q", "-b", "main", f.work)
	var lines []string
	for i := 1; i <= 20; i++ {
		lines = append(lines, fmt.Sprintf("line %d", i))
	}
	os.WriteFile(filepath.Join(f.work, "a.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644)
	os.Symlink("/etc", filepath.Join(f.work, "etc-link"))
	gitRun(t, f.work, "add", "-A")
	gitRun(t, f.work, "commit", "-q", "-m", "base")
	gitRun(t, f.work, "remote", "add", "origin", f.origin)
	gitRun(t, f.work, "push", "-q", "origin", "main")
	if err := f.st.SetListRepo(f.ctx, store.ListRepo{List: "dev", Repo: f.origin, Branch: "main", FirstTimerGate: true}); err != nil {
		t.Fatal(err)
	}
	f.ap = &Applier{Store: f.st, Service: review.NewService(f.st), DataDir: filepath.Join(dir, "data"), WebURL: "https://patches.example.org"}
	return f
}

// edit changes a.txt's line n to s.
func (f *fixture) edit(t testing.TB, n int, s string) {
	b, _ := os.ReadFile(filepath.Join(f.work, "a.txt"))
	lines := strings.Split(string(b), "\n")
	lines[n-1] = s
	os.WriteFile(filepath.Join(f.work, "a.txt"), []byte(strings.Join(lines, "\n")), 0o644)
}

// send makes a branch off main with commits (each a func changing the
// tree, and a message), mails them as a series and returns its id and
// the patches' Message-IDs.
func (f *fixture) send(t *testing.T, commits ...func() string) (int64, []string) {
	t.Helper()
	f.n++
	branch := fmt.Sprintf("topic%d", f.n)
	gitRun(t, f.work, "checkout", "-q", "-b", branch, "main")
	for _, c := range commits {
		msg := c()
		gitRun(t, f.work, "add", "-A")
		gitRun(t, f.work, "commit", "-q", "-m", msg+"\n\nSigned-off-by: Alice Author <alice@example.org>")
	}
	dir := filepath.Join(f.out, branch)
	gitRun(t, f.work, "format-patch", "-q", "--thread=shallow", "--base=main", "-o", dir, "main")
	gitRun(t, f.work, "checkout", "-q", "main")
	files, _ := filepath.Glob(filepath.Join(dir, "*.patch"))
	sort.Strings(files)
	var ids []string
	for _, p := range files {
		raw, _ := os.ReadFile(p)
		if err := f.in.Post(f.ctx, review.Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(raw), "\n") {
			if strings.HasPrefix(strings.ToLower(l), "message-id: <") {
				ids = append(ids, strings.TrimSuffix(l[len("message-id: <"):], ">"))
				break
			}
		}
	}
	m, err := f.st.Message(f.ctx, "dev", ids[0])
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("no series for %s: %v %+v", ids[0], err, m)
	}
	return m.SeriesID, ids
}

func (f *fixture) originLog(t *testing.T) string {
	return gitRun(t, f.origin, "log", "--format=%H%n%an <%ae>%n%ad%n%cn <%ce>%n%B%n--", "main")
}

func TestApplyPushesWithTrailers(t *testing.T) {
	f := newFixture(t)
	before := gitRun(t, f.origin, "rev-parse", "main")
	id, mids := f.send(t,
		func() string { f.edit(t, 5, "line five"); return "a: spell out five" },
		func() string { os.WriteFile(filepath.Join(f.work, "b.txt"), []byte("b\n"), 0o644); return "b: add b" },
	)
	reply := "From: Bob Reviewer <bob@example.org>\nTo: dev@patchwell.localhost\nSubject: Re: [PATCH 1/2] a: spell out five\n" +
		"Message-ID: <review-1@example.org>\nIn-Reply-To: <" + mids[0] + ">\nReferences: <" + mids[0] + ">\nDate: Wed, 2 Dec 2026 10:00:00 +0000\n\n" +
		"Looks right.\n\nReviewed-by: Bob Reviewer <bob@example.org>\n"
	if err := f.in.Post(f.ctx, review.Post{Lists: []string{"dev"}, Raw: []byte(reply)}); err != nil {
		t.Fatal(err)
	}
	var hooked *Result
	f.ap.OnApplied = func(_ context.Context, r *Result) { hooked = r }
	r, err := f.ap.Apply(f.ctx, id, "maint@example.org")
	if err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if len(r.Commits) != 2 || hooked != r || !strings.Contains(r.Reply(), "Applied to main, thanks!") || !strings.Contains(r.Reply(), r.Commits[1].ID) {
		t.Fatalf("result %+v, reply %q", r, r.Reply())
	}
	head := gitRun(t, f.origin, "rev-parse", "main")
	if head != r.Commits[1].ID || gitRun(t, f.origin, "rev-parse", "main~2") != before {
		t.Fatalf("origin main at %s, want %s on top of %s", head, r.Commits[1].ID, before)
	}
	log := f.originLog(t)
	for _, want := range []string{
		"Alice Author <alice@example.org>", "maint@example.org <maint@example.org>",
		"Reviewed-by: Bob Reviewer <bob@example.org>\nLink: https://patches.example.org/dev/" + mids[0] + "/",
		"Link: https://patches.example.org/dev/" + mids[1] + "/",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("origin's log lacks %q:\n%s", want, log)
		}
	}
	if strings.Count(log, "Reviewed-by:") != 1 {
		t.Errorf("Reviewed-by on other patches:\n%s", log)
	}
	// The author date is the mail's (the commit's), not now.
	if a, c := gitRun(t, f.work, "log", "-1", "--format=%ad", "topic1"), gitRun(t, f.origin, "log", "-1", "--format=%ad", "main"); a != c {
		t.Errorf("author date %s, want %s", c, a)
	}
	se, _ := f.st.Series(f.ctx, id)
	ap, err := f.st.AppliedSeries(f.ctx, id)
	if se.Status != store.StatusApplied || err != nil || strings.Join(ap.Commits, " ") != r.Commits[0].ID+" "+r.Commits[1].ID || ap.By != "maint@example.org" {
		t.Fatalf("status %s, applied %+v %v", se.Status, ap, err)
	}
	if _, err := f.ap.Apply(f.ctx, id, "maint@example.org\nX: y"); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Apply by a bad address = %v", err)
	}
	if _, err := f.ap.Apply(f.ctx, id, "maint@example.org"); !errors.Is(err, ErrAlreadyApplied) {
		t.Fatalf("second Apply = %v, want ErrAlreadyApplied", err)
	}
	if gitRun(t, f.origin, "rev-parse", "main") != head {
		t.Fatal("second apply moved the branch")
	}
}

func TestApplyConflictLeavesBranch(t *testing.T) {
	f := newFixture(t)
	first, _ := f.send(t, func() string { f.edit(t, 5, "line five"); return "a: spell out five" })
	clash, _ := f.send(t,
		func() string { os.WriteFile(filepath.Join(f.work, "c.txt"), []byte("c\n"), 0o644); return "c: add c" },
		func() string { f.edit(t, 5, "line FIVE"); return "a: shout five" },
	)
	if _, err := f.ap.Apply(f.ctx, first, ""); err != nil {
		t.Fatal(err)
	}
	head := gitRun(t, f.origin, "rev-parse", "main")
	_, err := f.ap.Apply(f.ctx, clash, "")
	var c *Conflict
	if !errors.As(err, &c) || c.Patch != 2 || !strings.Contains(c.Subject, "a: shout five") || !strings.Contains(err.Error(), "a.txt") ||
		!strings.Contains(err.Error(), "+<<<<<<<") || !strings.Contains(err.Error(), "line FIVE") {
		t.Fatalf("Apply = %v, want a conflict in patch 2 naming a.txt", err)
	}
	t.Logf("conflict: %v", err)
	if gitRun(t, f.origin, "rev-parse", "main") != head {
		t.Fatal("a conflicting series moved the branch")
	}
	if se, _ := f.st.Series(f.ctx, clash); se.Status == store.StatusApplied {
		t.Fatal("conflicting series marked applied")
	}
	// The mirror's worktrees are gone.
	if ents, _ := os.ReadDir(filepath.Join(f.ap.DataDir, "repos", "work")); len(ents) != 0 {
		t.Fatalf("worktrees left: %v", ents)
	}
}

func TestApplyRefusesPathThroughSymlink(t *testing.T) {
	f := newFixture(t)
	head := gitRun(t, f.origin, "rev-parse", "main")
	// A patch writing under the base tree's symlink etc-link -> /etc,
	// made by hand as a developer's tool would never.
	id, _ := f.send(t, func() string { os.WriteFile(filepath.Join(f.work, "x.txt"), []byte("x\n"), 0o644); return "x: add x" })
	_, patches, _ := f.ap.Service.Series(f.ctx, id)
	raw, _ := f.st.Raw(f.ctx, "dev", patches[0].MessageID)
	evil := strings.ReplaceAll(string(raw), "x.txt", "etc-link/x.txt")
	evil = strings.Replace(evil, "Message-ID: <", "Message-ID: <evil-", 1)
	evil = strings.Replace(evil, "Message-Id: <", "Message-Id: <evil-", 1)
	evil = strings.Replace(evil, "x: add x", "x: add evil x", -1)
	if err := f.in.Post(f.ctx, review.Post{Lists: []string{"dev"}, Raw: []byte(evil)}); err != nil {
		t.Fatal(err)
	}
	m, err := f.st.Message(f.ctx, "dev", "evil-"+patches[0].MessageID)
	if err != nil || m.SeriesID == 0 || m.SeriesID == id {
		t.Fatalf("evil series: %+v %v", m, err)
	}
	_, err = f.ap.Apply(f.ctx, m.SeriesID, "")
	var pe *PathError
	if !errors.As(err, &pe) || pe.Path != "etc-link/x.txt" {
		t.Fatalf("Apply = %v, want the path through etc-link refused", err)
	}
	if gitRun(t, f.origin, "rev-parse", "main") != head {
		t.Fatal("refused series moved the branch")
	}
}

func TestPushedElsewhereMarksApplied(t *testing.T) {
	f := newFixture(t)
	id, _ := f.send(t,
		func() string { f.edit(t, 7, "line seven"); return "a: spell out seven" },
		func() string { os.WriteFile(filepath.Join(f.work, "d.txt"), []byte("d\n"), 0o644); return "d: add d" },
	)
	other, _ := f.send(t, func() string { f.edit(t, 18, "line eighteen"); return "a: spell out eighteen" })
	old := gitRun(t, f.origin, "rev-parse", "main")
	// The maintainer applies the series by hand (new commits: other
	// committer and dates, same patches) and pushes.
	gitRun(t, f.work, "cherry-pick", "main..topic1")
	gitRun(t, f.work, "push", "-q", "origin", "main")
	newHead := gitRun(t, f.origin, "rev-parse", "main")
	rs, err := f.ap.MarkApplied(f.ctx, "dev", f.origin, old, newHead)
	if err != nil || len(rs) != 1 || rs[0].Series.ID != id || len(rs[0].Commits) != 2 || rs[0].Commits[1].ID != newHead {
		t.Fatalf("MarkApplied = %+v, %v", rs, err)
	}
	if se, _ := f.st.Series(f.ctx, id); se.Status != store.StatusApplied {
		t.Fatalf("status %s", se.Status)
	}
	if se, _ := f.st.Series(f.ctx, other); se.Status == store.StatusApplied {
		t.Fatal("an unrelated series marked applied")
	}
	// Refresh: the first fetch is the baseline; a later push is found.
	if rs, err := f.ap.Refresh(f.ctx, "dev"); err != nil || len(rs) != 0 {
		t.Fatalf("first Refresh = %+v, %v", rs, err)
	}
	gitRun(t, f.work, "cherry-pick", "main..topic2")
	gitRun(t, f.work, "push", "-q", "origin", "main")
	rs, err = f.ap.Refresh(f.ctx, "dev")
	if err != nil || len(rs) != 1 || rs[0].Series.ID != other {
		t.Fatalf("Refresh = %+v, %v", rs, err)
	}
}

// TestPostReceive: a push to the list's branch, read from the hook's
// input, marks its series applied; other branches and deletions are
// skipped.
func TestPostReceive(t *testing.T) {
	f := newFixture(t)
	id, _ := f.send(t, func() string { f.edit(t, 7, "line seven"); return "a: spell out seven" })
	old := gitRun(t, f.origin, "rev-parse", "main")
	gitRun(t, f.work, "cherry-pick", "main..topic1")
	gitRun(t, f.work, "push", "-q", "origin", "main")
	newHead := gitRun(t, f.origin, "rev-parse", "main")
	zeros := strings.Repeat("0", 40)
	in := strings.Join([]string{
		old + " " + newHead + " refs/heads/other",
		newHead + " " + zeros + " refs/heads/main",
		"garbage",
		old + " " + newHead + " refs/heads/main",
	}, "\n") + "\n"
	rs, err := f.ap.PostReceive(f.ctx, "dev", f.origin, strings.NewReader(in))
	if err != nil || len(rs) != 1 || rs[0].Series.ID != id || rs[0].Branch != "main" {
		t.Fatalf("PostReceive() = %+v, %v; want series %d applied to main", rs, err, id)
	}
	if se, _ := f.st.Series(f.ctx, id); se.Status != store.StatusApplied {
		t.Errorf("status %s, want applied", se.Status)
	}
	if _, err := f.ap.PostReceive(f.ctx, "nope", f.origin, strings.NewReader(in)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("PostReceive(a list without a repository) = %v, want not found", err)
	}
}

// TestRefreshAll: every list with a repository is fetched; one whose
// repository cannot be fetched is logged and does not stop the others;
// a list without a repository is left alone.
func TestRefreshAll(t *testing.T) {
	f := newFixture(t)
	id, _ := f.send(t, func() string { f.edit(t, 3, "line three"); return "a: spell out three" })
	for _, name := range []string{"aaa-broken", "zzz-none"} {
		if _, err := f.st.CreateList(f.ctx, store.List{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.st.SetListRepo(f.ctx, store.ListRepo{List: "aaa-broken", Repo: filepath.Join(t.TempDir(), "missing.git"), Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	ap := *f.ap
	ap.Log = slog.New(slog.NewTextHandler(&logs, nil))
	ap.RefreshAll(f.ctx) // the baseline
	gitRun(t, f.work, "cherry-pick", "main..topic1")
	gitRun(t, f.work, "push", "-q", "origin", "main")
	ap.RefreshAll(f.ctx)
	if se, _ := f.st.Series(f.ctx, id); se.Status != store.StatusApplied {
		t.Errorf("status %s, want applied", se.Status)
	}
	l := logs.String()
	for _, want := range []string{"msg=\"fetch repository\" list=aaa-broken", "msg=\"series found applied on the branch\" list=dev series=" + fmt.Sprint(id)} {
		if !strings.Contains(l, want) {
			t.Errorf("log lacks %q:\n%s", want, l)
		}
	}
	if strings.Contains(l, "zzz-none") {
		t.Errorf("a list without a repository was fetched:\n%s", l)
	}
}

// TestWorktreeBase: a worktree starts at the series' base-commit when the
// mirror has it, else at the branch head; Close removes it. The mirror
// is cloned from a file:// URL here.
func TestWorktreeBase(t *testing.T) {
	f := newFixture(t)
	base := gitRun(t, f.work, "rev-parse", "main")
	f.edit(t, 3, "line three")
	gitRun(t, f.work, "commit", "-q", "-am", "three")
	gitRun(t, f.work, "push", "-q", "origin", "main")
	head := gitRun(t, f.work, "rev-parse", "main")
	m := NewMirror(t.TempDir(), "dev", "file://"+f.origin)
	if err := m.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ base, want string }{{base, base}, {"", head}, {strings.Repeat("ab", 20), head}, {"--upload-pack=x", head}} {
		wt, err := m.Checkout(f.ctx, c.base, "main")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := wt.Head(f.ctx)
		if wt.Base() != c.want || got != c.want {
			t.Errorf("worktree for base %q at %s (%s), want %s", c.base, wt.Base(), got, c.want)
		}
		if err := wt.Close(); err != nil {
			t.Error(err)
		}
		if _, err := os.Stat(wt.Dir()); !os.IsNotExist(err) {
			t.Errorf("worktree %s still there: %v", wt.Dir(), err)
		}
	}
	if _, err := m.Checkout(f.ctx, "", "nosuch"); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Fatalf("worktree of a missing branch: %v", err)
	}
}

// TestVerifyCommits: what git committed is checked again before a push;
// a file name with a newline (which git accepts) is refused, a symlink
// replaced by a directory is not.
func TestVerifyCommits(t *testing.T) {
	f := newFixture(t)
	m := NewMirror(t.TempDir(), "dev", f.origin)
	if err := m.Sync(f.ctx); err != nil {
		t.Fatal(err)
	}
	wt, err := m.Checkout(f.ctx, "", "main")
	if err != nil {
		t.Fatal(err)
	}
	defer wt.Close()
	commit := func(msg string) string {
		gitRun(t, wt.Dir(), "add", "-A")
		gitRun(t, wt.Dir(), "commit", "-q", "-m", msg)
		h, _ := wt.Head(f.ctx)
		return h
	}
	os.Remove(filepath.Join(wt.Dir(), "etc-link"))
	os.MkdirAll(filepath.Join(wt.Dir(), "etc-link"), 0o755)
	os.WriteFile(filepath.Join(wt.Dir(), "etc-link", "x"), []byte("x\n"), 0o644)
	ok := commit("replace the link by a directory")
	if err := wt.VerifyCommits(f.ctx, []string{ok}); err != nil {
		t.Fatalf("VerifyCommits = %v", err)
	}
	os.WriteFile(filepath.Join(wt.Dir(), "bad\nname"), []byte("x\n"), 0o644)
	bad := commit("a name with a newline")
	var pe *PathError
	if err := wt.VerifyCommits(f.ctx, []string{ok, bad}); !errors.As(err, &pe) || pe.Patch != 2 || pe.Path != "bad\nname" {
		t.Fatalf("VerifyCommits = %v, want patch 2's name refused", err)
	}
}
