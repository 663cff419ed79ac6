package ci_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/outbound"
	"patchwell/review"
	"patchwell/sandbox"
	"patchwell/store"
)

// ciFixture is a list "dev" whose repository is a bare origin, with a
// Scheduler on a gitrepo.Workspace of its data directory (no server).
type ciFixture struct {
	t            *testing.T
	dir, data    string
	origin, work string
	st           *store.DB
	in           *review.Ingester
	ws           *gitrepo.Workspace
	cw           *ci.Scheduler
	ctx          context.Context
}

// newCIFixture makes the list with check as its check command and the
// files in its first commit, and a Scheduler that mails its summaries;
// config, when given, changes the Scheduler's configuration.
func newCIFixture(t *testing.T, files map[string]string, check string, config ...func(*ci.SchedulerConfig)) *ciFixture {
	t.Helper()
	for _, tool := range []string{"git", "bwrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			skipOrFail(t, err.Error())
		}
	}
	if err := sandbox.Check(); err != nil {
		skipOrFail(t, "no usable sandbox: "+err.Error())
	}
	dir := t.TempDir()
	f := &ciFixture{t: t, dir: dir, data: filepath.Join(dir, "data"), origin: filepath.Join(dir, "origin.git"), work: filepath.Join(dir, "work"), ctx: context.Background()}
	gitT(t, dir, "init", "-q", "--bare", "-b", "main", f.origin)
	gitT(t, dir, "init", "-q", "-b", "main", f.work)
	for name, body := range files {
		os.WriteFile(filepath.Join(f.work, name), []byte(body), 0o644)
	}
	gitT(t, f.work, "add", "-A")
	gitT(t, f.work, "commit", "-q", "-m", "base")
	gitT(t, f.work, "push", "-q", f.origin, "main")

	st, err := store.Open(f.ctx, f.data)
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	if _, err := st.CreateList(f.ctx, store.List{Name: "dev"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	if err := st.SetListRepo(f.ctx, store.ListRepo{List: "dev", Repo: f.origin, Branch: "main", Check: check}); err != nil {
		t.Fatalf("SetListRepo() = %v", err)
	}
	if err := st.Subscribe(f.ctx, "dev", "reader@example.org", "Reader", store.SubActive); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	subscribers := func(ctx context.Context, list string) ([]string, error) {
		subs, err := st.Subscribers(ctx, list, store.SubActive)
		out := make([]string, len(subs))
		for i, s := range subs {
			out[i] = s.Email
		}
		return out, err
	}
	f.in = review.NewIngester(st, review.Config{Log: log, Distribute: outbound.NewQueue(st, "patchwell.localhost", subscribers, nil).Distribute})
	t.Cleanup(func() { f.in.Close() })
	svc := review.New(st, review.ServiceConfig{Ingester: f.in, Domain: "patchwell.localhost"})
	f.ws, err = gitrepo.NewWorkspace(gitrepo.WorkspaceConfig{Store: st, Service: svc, DataDir: f.data, WebURL: "https://p.example.org", Logger: log})
	if err != nil {
		t.Fatalf("NewWorkspace() = %v", err)
	}
	cfg := ci.SchedulerConfig{Store: st, Workspace: f.ws, Domain: "patchwell.localhost", WebURL: "https://p.example.org",
		Mail: true, Replies: svc, Grace: ci.DefaultGrace, WorkDir: gitrepo.WorkDir(f.data), Logger: log}
	for _, c := range config {
		c(&cfg)
	}
	f.cw, err = ci.NewScheduler(cfg)
	if err != nil {
		t.Fatalf("NewScheduler() = %v", err)
	}
	return f
}

func skipOrFail(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required under CI: %s", why)
	}
	t.Skip(why)
}

// gitT runs git for the test's own setup, as Alice.
func gitT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=Alice Author", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice Author", "GIT_COMMITTER_EMAIL=alice@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// fillCover gives the cover letter format-patch wrote in dir a subject
// and a blurb.
func fillCover(t *testing.T, dir, subject string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*0000-cover-letter.patch"))
	if len(files) != 1 {
		t.Fatalf("cover letter in %s: %v", dir, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "*** SUBJECT HERE ***", subject, 1)
	s = strings.Replace(s, "*** BLURB HERE ***", "This series changes things.", 1)
	if err := os.WriteFile(files[0], []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// series commits files on a new branch from main and returns the
// format-patch files (cover letter first).
func (f *ciFixture) series(branch string, commits ...map[string]string) []string {
	f.t.Helper()
	gitT(f.t, f.work, "checkout", "-q", "-b", branch, "main")
	for i, files := range commits {
		for name, body := range files {
			os.WriteFile(filepath.Join(f.work, name), []byte(body), 0o644)
		}
		gitT(f.t, f.work, "add", "-A")
		gitT(f.t, f.work, "commit", "-q", "-m", branch+": change "+string(rune('1'+i)))
	}
	out := filepath.Join(f.dir, branch)
	gitT(f.t, f.work, "format-patch", "-q", "--thread", "--cover-letter", "--base=main", "-o", out, "main")
	gitT(f.t, f.work, "checkout", "-q", "main")
	fillCover(f.t, out, branch+" series")
	files, _ := filepath.Glob(filepath.Join(out, "*.patch"))
	sort.Strings(files)
	return files
}

// importFiles archives the mails as an import does: not sent to the
// subscribers.
func (f *ciFixture) importFiles(files ...string) {
	f.t.Helper()
	for _, p := range files {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.t.Fatal(err)
		}
		if err := f.in.Post(f.ctx, review.Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
			f.t.Fatalf("Post(%s) = %v", p, err)
		}
	}
}

// runJobs queues the series and runs every due job in the in-process
// runner.
func (f *ciFixture) runJobs(ids ...int64) {
	f.t.Helper()
	for _, id := range ids {
		if _, err := f.cw.Runner().Enqueue(f.ctx, id); err != nil {
			f.t.Fatal(err)
		}
	}
	for {
		ran, err := f.cw.Runner().RunOnce(f.ctx, "t")
		if err != nil {
			f.t.Fatal(err)
		}
		if !ran {
			return
		}
	}
}

func (f *ciFixture) checks(id int64) map[string]store.Check {
	f.t.Helper()
	cs, err := f.st.Checks(f.ctx, id)
	if err != nil {
		f.t.Fatal(err)
	}
	m := map[string]store.Check{}
	for _, c := range cs {
		m[c.Context] = c
	}
	return m
}

// outbox returns the raw mail queued for the list so far.
func (f *ciFixture) outbox() []string {
	f.t.Helper()
	ms, err := f.st.Outbox(f.ctx, "")
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, string(m.Raw))
	}
	return out
}

const twoSteps = `# the project's CI
timeout: 5m
steps:
  - name: build
    run: test -f a.txt && echo built > build.out
  - name: test
    run: grep -q built build.out && grep -q two b.txt && echo trusted definition ran
`

// TestCIDefinitionFromBranch: the check is the target branch's
// .patchwell.yml, even when the series under test rewrites it; a
// malformed file on the branch is a failed check naming the line; with
// no file the list's --check runs. Each finished job replies on the
// thread (archived and queued to the subscriber).
func TestCIDefinitionFromBranch(t *testing.T) {
	f := newCIFixture(t, map[string]string{"a.txt": "one\n", ".patchwell.yml": twoSteps}, "echo list check ran")
	files := f.series("evil",
		map[string]string{"b.txt": "two\n"},
		map[string]string{".patchwell.yml": "steps:\n  - name: evil\n    run: echo PWNED; touch /work/pwned\n"})
	f.importFiles(files...)
	ids, err := f.st.SeriesWithoutJob(f.ctx, 10)
	if err != nil || len(ids) != 1 {
		t.Fatalf("SeriesWithoutJob() = %v, %v", ids, err)
	}
	sid := ids[0]
	// What a remote runner is sent: the branch's steps, fetched now.
	var rj ci.RemoteJob
	if err := rj.SetDefinition(f.ws.Definition(f.ctx, sid, true)); err != nil || len(rj.Steps) != 2 || rj.Steps[0].Name != "build" || rj.Steps[1].Name != "test" ||
		rj.TimeoutSeconds != 300 || !strings.HasPrefix(rj.Source, ".patchwell.yml on main at ") {
		t.Fatalf("remote job: %+v, %v", rj, err)
	}
	f.runJobs(sid)
	c := f.checks(sid)
	if c[ci.ContextApply].State != store.CheckSuccess {
		t.Fatalf("apply: %+v", c[ci.ContextApply])
	}
	ch := c[ci.ContextCheck]
	if ch.State != store.CheckSuccess || !strings.HasPrefix(ch.Description, "passed: 2 steps in ") ||
		!strings.Contains(ch.Log, "check: .patchwell.yml on main at ") || !strings.Contains(ch.Log, "trusted definition ran") || strings.Contains(ch.Log, "PWNED") {
		t.Fatalf("check: %s %q\n%s", ch.State, ch.Description, ch.Log)
	}

	se, err := f.st.Series(f.ctx, sid)
	if err != nil {
		t.Fatal(err)
	}
	if se.CoverMessageID == "" {
		t.Fatalf("no cover letter: %+v", se)
	}
	// The summary reply: in the thread and queued to the subscriber.
	checkReply := func(n int, want ...string) {
		t.Helper()
		box := f.outbox()
		if len(box) != n {
			t.Fatalf("%d messages queued, want %d", len(box), n)
		}
		raw := box[n-1]
		for _, w := range append([]string{"Subject: Re: ", "In-Reply-To: <" + se.CoverMessageID + ">", "From: \"dev CI\" <dev@patchwell.localhost>",
			"Series: https://p.example.org/series/" + itoa(sid) + "/#checks"}, want...) {
			if !strings.Contains(raw, w) {
				t.Errorf("reply %d lacks %q:\n%s", n, w, raw)
			}
		}
		msgs, err := f.st.ThreadMessages(f.ctx, []int64{se.ThreadID})
		if err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, m := range msgs {
			if strings.HasPrefix(m.MessageID, "ci.") {
				found++
			}
		}
		if found != n {
			t.Errorf("%d CI replies archived in the thread, want %d", found, n)
		}
	}
	checkReply(1, "patchwell/apply: success", "patchwell/check: success", "  passed: 2 steps in ",
		"  log: https://p.example.org/api/v1/checks/"+itoa(ch.ID)+"/log")

	// A malformed definition on the branch: a failed check, line named.
	os.WriteFile(filepath.Join(f.work, ".patchwell.yml"), []byte("steps:\n  - name: build\n    run: make: all\n"), 0o644)
	gitT(t, f.work, "commit", "-q", "-a", "-m", "broken ci")
	gitT(t, f.work, "push", "-q", f.origin, "main")
	f.retry(sid)
	ch = f.checks(sid)[ci.ContextCheck]
	if ch.State != store.CheckFail || ch.Description != "'.patchwell.yml': line 3: mapping values are not allowed in this context" {
		t.Fatalf("malformed: %s %q", ch.State, ch.Description)
	}
	checkReply(2, "patchwell/check: fail", "'.patchwell.yml': line 3:")

	// No definition: the list's check command.
	gitT(t, f.work, "rm", "-q", ".patchwell.yml")
	gitT(t, f.work, "commit", "-q", "-m", "no ci file")
	gitT(t, f.work, "push", "-q", f.origin, "main")
	f.retry(sid)
	ch = f.checks(sid)[ci.ContextCheck]
	if ch.State != store.CheckSuccess || !strings.Contains(ch.Log, "the list's check command (no .patchwell.yml on main)") || !strings.Contains(ch.Log, "$ echo list check ran\nlist check ran\n") {
		t.Fatalf("fallback: %s %q\n%s", ch.State, ch.Description, ch.Log)
	}
}

func (f *ciFixture) retry(sid int64) {
	f.t.Helper()
	j, err := f.st.JobForSeries(f.ctx, sid)
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.cw.Runner().Retry(f.ctx, j.ID); err != nil {
		f.t.Fatal(err)
	}
	f.runJobs()
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestCIGraceIncomplete: a revision missing a patch gets no job until
// its grace period has passed; then its checks say "incomplete: 2 of 3
// patches". When the missing patch arrives, the revision runs again,
// complete.
func TestCIGraceIncomplete(t *testing.T) {
	now := time.Now()
	f := newCIFixture(t, map[string]string{"a.txt": "one\n"}, "test -f p1 && test -f p2 && test -f p3", func(c *ci.SchedulerConfig) {
		c.Mail, c.Grace, c.Now = false, time.Hour, func() time.Time { return now }
	})
	files := f.series("three", map[string]string{"p1": "1\n"}, map[string]string{"p2": "2\n"}, map[string]string{"p3": "3\n"})
	if len(files) != 4 {
		t.Fatalf("files: %v", files)
	}
	f.importFiles(files[0], files[1], files[3]) // patch 2 is missing
	ss, err := f.st.SeriesList(f.ctx, "dev", "", store.Page{})
	if err != nil || len(ss) != 1 || ss[0].Received != 2 || ss[0].Total != 3 {
		t.Fatalf("series: %+v, %v", ss, err)
	}
	sid := ss[0].ID
	if ids, _ := f.st.SeriesWithoutJob(f.ctx, 10); len(ids) != 0 {
		t.Fatalf("incomplete series queued at once: %v", ids)
	}
	if due := f.cw.IncompleteDue(f.ctx); len(due) != 0 {
		t.Fatalf("due before the grace period: %v", due)
	}
	now = now.Add(59 * time.Minute)
	if due := f.cw.IncompleteDue(f.ctx); len(due) != 0 {
		t.Fatalf("due before the grace period: %v", due)
	}
	now = now.Add(2 * time.Minute)
	due := f.cw.IncompleteDue(f.ctx)
	if len(due) != 1 || due[0] != sid {
		t.Fatalf("due after the grace period: %v, want [%d]", due, sid)
	}
	f.runJobs(sid)
	c := f.checks(sid)
	if a := c[ci.ContextApply]; a.State != store.CheckSuccess || !strings.HasSuffix(a.Description, " (incomplete: 2 of 3 patches)") {
		t.Fatalf("apply: %s %q\n%s", a.State, a.Description, a.Log)
	}
	if ch := c[ci.ContextCheck]; ch.State != store.CheckFail || !strings.HasSuffix(ch.Description, " (incomplete: 2 of 3 patches)") {
		t.Fatalf("check: %s %q\n%s", ch.State, ch.Description, ch.Log)
	}
	if due := f.cw.IncompleteDue(f.ctx); len(due) != 0 {
		t.Fatalf("due again: %v", due)
	}

	// The missing patch arrives: the revision is complete and runs again.
	f.importFiles(files[2])
	if s, _ := f.st.Series(f.ctx, sid); s.Received != 3 {
		t.Fatalf("after the missing patch: %+v", s)
	}
	if due := f.cw.IncompleteDue(f.ctx); len(due) != 0 {
		t.Fatalf("a complete series is due as incomplete: %v", due)
	}
	if j, _ := f.st.JobForSeries(f.ctx, sid); j.State != store.JobQueued {
		t.Fatalf("job not queued again: %+v", j)
	}
	f.runJobs()
	c = f.checks(sid)
	if a, ch := c[ci.ContextApply], c[ci.ContextCheck]; a.State != store.CheckSuccess || ch.State != store.CheckSuccess ||
		strings.Contains(a.Description, "incomplete") || strings.Contains(ch.Description, "incomplete") {
		t.Fatalf("complete run: %+v %+v", a, ch)
	}
	// Nothing more to do: no loop.
	f.cw.IncompleteDue(f.ctx)
	if j, _ := f.st.JobForSeries(f.ctx, sid); j.State != store.JobDone || j.Attempts != 1 {
		t.Fatalf("job after the complete run: %+v", j)
	}
}

// TestCIPerPatch: with per_patch: true the steps also run at each patch,
// each a check on that patch; the series passes at its last patch while
// patch 2 alone breaks the check, and patch 3 is then not run. Each
// patch gets its own patchwell/apply check, and a series that does not
// apply names the patch that failed.
func TestCIPerPatch(t *testing.T) {
	f := newCIFixture(t, map[string]string{"a.txt": "one\n", "v": "ok0\n",
		".patchwell.yml": "per_patch: true\nsteps:\n  - name: build\n    run: cat v; test \"$(cat v)\" != broken\n"}, "",
		func(c *ci.SchedulerConfig) { c.Mail = false })
	files := f.series("bisect", map[string]string{"v": "ok1\n"}, map[string]string{"v": "broken\n"}, map[string]string{"v": "ok3\n"})
	f.importFiles(files...)

	// A series made on a commit the repository does not have: patch 2
	// cannot apply on the branch.
	gitT(t, f.work, "checkout", "-q", "-b", "unsent", "main")
	os.WriteFile(filepath.Join(f.work, "a.txt"), []byte("mid\n"), 0o644)
	gitT(t, f.work, "commit", "-q", "-a", "-m", "not sent")
	unsent := gitT(t, f.work, "rev-parse", "HEAD")
	os.WriteFile(filepath.Join(f.work, "p1"), []byte("p1\n"), 0o644)
	gitT(t, f.work, "add", "p1")
	gitT(t, f.work, "commit", "-q", "-m", "conflict: add p1")
	os.WriteFile(filepath.Join(f.work, "a.txt"), []byte("end\n"), 0o644)
	gitT(t, f.work, "commit", "-q", "-a", "-m", "conflict: a.txt")
	os.WriteFile(filepath.Join(f.work, "p3"), []byte("p3\n"), 0o644)
	gitT(t, f.work, "add", "p3")
	gitT(t, f.work, "commit", "-q", "-m", "conflict: add p3")
	out := filepath.Join(f.dir, "conflict")
	gitT(t, f.work, "format-patch", "-q", "--thread", "--cover-letter", "-o", out, unsent)
	gitT(t, f.work, "checkout", "-q", "main")
	fillCover(t, out, "conflict series")
	cfiles, _ := filepath.Glob(filepath.Join(out, "*.patch"))
	f.importFiles(cfiles...)

	ids, err := f.st.SeriesWithoutJob(f.ctx, 10)
	if err != nil || len(ids) != 2 {
		t.Fatalf("SeriesWithoutJob() = %v, %v", ids, err)
	}
	f.runJobs(ids...)
	type key struct {
		patch   int
		context string
	}
	got := func(sid int64) map[key]store.Check {
		cs, err := f.st.Checks(f.ctx, sid)
		if err != nil {
			t.Fatal(err)
		}
		m := map[key]store.Check{}
		for _, c := range cs {
			m[key{c.PatchIndex, c.Context}] = c
		}
		return m
	}
	want := func(m map[key]store.Check, k key, state, desc string) {
		t.Helper()
		c, ok := m[k]
		if !ok || c.State != state || !strings.HasPrefix(c.Description, desc) {
			t.Errorf("%+v: %s %q, want %s %q...\n%s", k, c.State, c.Description, state, desc, c.Log)
		}
	}
	m := got(ids[0])
	want(m, key{0, ci.ContextApply}, store.CheckSuccess, "applied on main at ")
	want(m, key{0, ci.ContextCheck}, store.CheckSuccess, "passed in ")
	for i := 1; i <= 3; i++ {
		want(m, key{i, ci.ContextApply}, store.CheckSuccess, "applied as ")
	}
	want(m, key{1, ci.ContextCheck}, store.CheckSuccess, "passed in ")
	want(m, key{2, ci.ContextCheck}, store.CheckFail, "exit status 1 after ")
	want(m, key{3, ci.ContextCheck}, store.CheckWarning, "not run: the check fails at patch 2")
	if l := m[key{2, ci.ContextCheck}].Log; !strings.Contains(l, "broken\n") {
		t.Errorf("patch 2's log:\n%s", l)
	}
	if l := m[key{1, ci.ContextCheck}].Log; !strings.Contains(l, "ok1\n") {
		t.Errorf("patch 1's log:\n%s", l)
	}

	m = got(ids[1])
	want(m, key{0, ci.ContextApply}, store.CheckFail, "does not apply on main at ")
	want(m, key{1, ci.ContextApply}, store.CheckSuccess, "applies")
	want(m, key{2, ci.ContextApply}, store.CheckFail, "does not apply on main at ")
	want(m, key{3, ci.ContextApply}, store.CheckWarning, "not tried: patch 2 does not apply")
	if _, ok := m[key{1, ci.ContextCheck}]; ok {
		t.Errorf("a check ran on a series that does not apply: %+v", m)
	}
}
