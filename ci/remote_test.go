package ci

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/store"
)

type remoteEnv struct {
	*env
	srv   *httptest.Server
	bare  string
	mu    sync.Mutex
	mbox  map[int64][]byte
	check string
	// extra, when set, adds to each RemoteJob (a definition, a note).
	extra func(sid int64, j *RemoteJob) error
}

// newRemoteEnv serves the runner protocol and each series' mbox, made
// by git format-patch from a real repository.
func newRemoteEnv(t *testing.T, lease time.Duration) *remoteEnv {
	needSandbox(t)
	e := newEnv(t)
	re := &remoteEnv{env: e, bare: filepath.Join(t.TempDir(), "repo.git"), mbox: map[int64][]byte{}, check: "test -f x"}
	e.git(e.repo, "clone", "-q", "--bare", e.repo, re.bare)
	h := Handler(HandlerConfig{
		Store: e.st,
		Auth: func(_ context.Context, tok string) (string, bool) {
			return "ci1", tok == "s3cret"
		},
		Describe: func(_ context.Context, sid int64) (RemoteJob, error) {
			re.mu.Lock()
			defer re.mu.Unlock()
			j := RemoteJob{MboxURL: fmt.Sprintf("%s/mbox/%d", re.srv.URL, sid), RepoURL: re.bare, Branch: "main", Check: re.check, Limits: Limits{WallSeconds: 60}}
			if re.extra != nil {
				return j, re.extra(sid, &j)
			}
			return j, nil
		},
		Lease: lease,
	})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/ci/", h)
	mux.HandleFunc("GET /mbox/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		re.mu.Lock()
		defer re.mu.Unlock()
		w.Write(re.mbox[id])
	})
	re.srv = httptest.NewServer(mux)
	t.Cleanup(re.srv.Close)
	return re
}

// patch makes a series whose mbox changes file to content on top of
// main (or of a diverged README when conflict).
func (re *remoteEnv) patch(file, content string, conflict bool) int64 {
	sid := re.series(1, "remote")[0]
	w := filepath.Join(re.t.TempDir(), "w")
	re.git(re.repo, "clone", "-q", re.bare, w)
	if conflict {
		os.WriteFile(filepath.Join(w, "README"), []byte("something else\n"), 0o644)
		re.git(w, "commit", "-qam", "diverge")
	}
	os.WriteFile(filepath.Join(w, file), []byte(content), 0o644)
	re.git(w, "add", file)
	re.git(w, "commit", "-qm", "change "+file)
	mbox := re.git(w, "format-patch", "--stdout", "-1")
	re.mu.Lock()
	re.mbox[sid] = []byte(mbox)
	re.mu.Unlock()
	if _, err := Enqueue(context.Background(), re.st, sid); err != nil {
		re.t.Fatal(err)
	}
	return sid
}

func (re *remoteEnv) runner(name string) *RemoteRunner {
	return &RemoteRunner{Server: re.srv.URL, Token: "s3cret", Name: name, Poll: 50 * time.Millisecond, WorkDir: re.t.TempDir()}
}

func TestRemoteRunner(t *testing.T) {
	re := newRemoteEnv(t, time.Minute)
	ctx := context.Background()
	pass := re.patch("x", "x\n", false)
	fail := re.patch("y", "y\n", false)
	conflict := re.patch("README", "changed\n", true)
	rr := re.runner("r1")
	for i := 0; i < 3; i++ {
		if ran, err := rr.RunOnce(ctx); !ran || err != nil {
			t.Fatalf("RunOnce %d = %v, %v", i, ran, err)
		}
	}
	if ran, err := rr.RunOnce(ctx); ran || err != nil {
		t.Fatalf("empty queue: %v %v", ran, err)
	}
	c := re.checks(pass)
	if c[ContextApply].State != store.CheckSuccess || c[ContextCheck].State != store.CheckSuccess {
		t.Errorf("pass: %+v", c)
	}
	c = re.checks(fail)
	if c[ContextApply].State != store.CheckSuccess || c[ContextCheck].State != store.CheckFail {
		t.Errorf("fail: %+v", c)
	}
	c = re.checks(conflict)
	if c[ContextApply].State != store.CheckFail || !strings.Contains(c[ContextApply].Log, "README") {
		t.Errorf("conflict: %+v", c)
	}
	for _, id := range []int64{pass, fail, conflict} {
		if j, _ := re.st.JobForSeries(ctx, id); j.State != store.JobDone || j.LeaseOwner != "" || re.st.finishedCount(j.ID) != 1 {
			t.Errorf("job of %d: %+v", id, j)
		}
	}
}

func TestRemoteProtocolRefusals(t *testing.T) {
	re := newRemoteEnv(t, time.Minute)
	ctx := context.Background()
	re.patch("x", "x\n", false)
	bad := &RemoteRunner{Server: re.srv.URL, Token: "wrong", Name: "r", WorkDir: t.TempDir()}
	if _, err := bad.RunOnce(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong token: %v", err)
	}
	// r1 claims; r2 (same token, other runner) may not report for it.
	r1, r2 := re.runner("r1"), re.runner("r2")
	r1.defaults()
	r2.defaults()
	var j RemoteJob
	if code, err := r1.post(ctx, "/api/v1/ci/claim", map[string]string{"runner": "r1"}, &j); err != nil || code != 200 || j.ID == 0 {
		t.Fatalf("claim = %d %+v %v", code, j, err)
	}
	res := RemoteResult{Runner: "r2", State: store.JobDone, Checks: []RemoteCheck{{Context: ContextCheck, State: store.CheckSuccess}}}
	if _, err := r2.post(ctx, fmt.Sprintf("/api/v1/ci/jobs/%d/result", j.ID), res, nil); !errors.Is(err, errLeaseLost) {
		t.Errorf("result by another runner: %v", err)
	}
	res.Runner = "r1"
	res.Checks[0].Context = "someone/else"
	if _, err := r1.post(ctx, fmt.Sprintf("/api/v1/ci/jobs/%d/result", j.ID), res, nil); err == nil || !strings.Contains(err.Error(), "400") {
		t.Errorf("foreign context: %v", err)
	}
	res.Checks[0].Context = ContextCheck
	if _, err := r1.post(ctx, fmt.Sprintf("/api/v1/ci/jobs/%d/result", j.ID), res, nil); err != nil {
		t.Errorf("result by r1: %v", err)
	}
	if _, err := r1.post(ctx, fmt.Sprintf("/api/v1/ci/jobs/%d/result", j.ID), res, nil); !errors.Is(err, errLeaseLost) {
		t.Errorf("second result: %v", err)
	}
}

// A remote runner killed mid-job: the job is retried after its lease
// and finished once.
func TestRemoteRunnerKilled(t *testing.T) {
	re := newRemoteEnv(t, 2*time.Second)
	ctx := context.Background()
	re.check = "sleep 600"
	sid := re.patch("x", "x\n", false)
	rctx, kill := context.WithCancel(ctx)
	go func() {
		for {
			time.Sleep(50 * time.Millisecond)
			if c := re.checks(sid)[ContextCheck]; strings.HasPrefix(c.Description, "running on") {
				time.Sleep(300 * time.Millisecond)
				kill()
				return
			}
		}
	}()
	if _, err := re.runner("r1").RunOnce(rctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("killed runner: %v", err)
	}
	j, _ := re.st.JobForSeries(ctx, sid)
	if j.State != store.JobRunning {
		t.Fatalf("after kill: %+v", j)
	}
	re.mu.Lock()
	re.check = "test -f x"
	re.mu.Unlock()
	r2 := re.runner("r2")
	deadline := time.Now().Add(20 * time.Second)
	for {
		ran, err := r2.RunOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if ran {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never retried")
		}
		time.Sleep(200 * time.Millisecond)
	}
	j, _ = re.st.JobForSeries(ctx, sid)
	if j.State != store.JobDone || j.Attempts != 2 || re.st.finishedCount(j.ID) != 1 {
		t.Errorf("after retry: %+v finished %d", j, re.st.finishedCount(j.ID))
	}
	if c := re.checks(sid)[ContextCheck]; c.State != store.CheckSuccess {
		t.Errorf("check: %+v", c)
	}
}

// A remote runner runs the steps the server read from the branch (not
// the list's command), adds the server's note, and reports a malformed
// definition as a failed check.
func TestRemoteRunnerSteps(t *testing.T) {
	re := newRemoteEnv(t, time.Minute)
	ctx := context.Background()
	yml := map[int64]string{}
	re.extra = func(sid int64, j *RemoteJob) error {
		j.Note = "incomplete: 1 of 2 patches"
		return j.SetDefinition(ParseDefinition([]byte(yml[sid])))
	}
	good := re.patch("x", "x\n", false)
	bad := re.patch("y", "y\n", false)
	re.mu.Lock()
	yml[good] = "timeout: 1m\nsteps:\n  - {name: one, run: test -f x}\n  - {name: two, run: echo step two ran}\n"
	yml[bad] = "steps:\n  - {name: one, run: x}\nimage: [a]\n"
	re.check = "false"
	re.mu.Unlock()
	rr := re.runner("r1")
	for i := 0; i < 2; i++ {
		if ran, err := rr.RunOnce(ctx); !ran || err != nil {
			t.Fatalf("RunOnce %d = %v, %v", i, ran, err)
		}
	}
	c := re.checks(good)[ContextCheck]
	if c.State != store.CheckSuccess || !strings.HasPrefix(c.Description, "passed: 2 steps in ") || !strings.HasSuffix(c.Description, " (incomplete: 1 of 2 patches)") || !strings.Contains(c.Log, "step two ran") {
		t.Errorf("good: %s %q\n%s", c.State, c.Description, c.Log)
	}
	c = re.checks(bad)[ContextCheck]
	if c.State != store.CheckFail || !strings.HasPrefix(c.Description, "'.patchwell.yml': line 3: image: expected a name") {
		t.Errorf("bad: %s %q", c.State, c.Description)
	}
}

// TestRemoteRunnerHg: a job on a Mercurial list is cloned with hg, the
// series imported with hg import and checked; one that does not apply
// says so.
func TestRemoteRunnerHg(t *testing.T) {
	if _, err := exec.LookPath("hg"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("hg is needed")
		}
		t.Skip("hg is not installed")
	}
	re := newRemoteEnv(t, time.Minute)
	// The same tree as the git repository's main, as a Mercurial one.
	up := filepath.Join(t.TempDir(), "up")
	re.git(re.repo, "worktree", "add", "-q", "--detach", up, "main")
	os.RemoveAll(filepath.Join(up, ".git"))
	hg := func(args ...string) {
		cmd := exec.Command("hg", append([]string{"--config", "ui.username=t <t@example.org>"}, args...)...)
		cmd.Dir = up
		cmd.Env = append(os.Environ(), "HGPLAIN=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("hg %v: %v\n%s", args, err, out)
		}
	}
	hg("init")
	hg("add", "-q")
	hg("commit", "-m", "base")
	re.extra = func(_ int64, j *RemoteJob) error {
		j.RepoURL, j.VCS, j.Branch, j.Base = up, store.VCSHg, "default", "not-a-hex-id; evil()"
		return nil
	}
	pass := re.patch("x", "x\n", false)
	conflict := re.patch("README", "changed\n", true)
	rr := re.runner("hg1")
	for i := 0; i < 2; i++ {
		if ran, err := rr.RunOnce(context.Background()); !ran || err != nil {
			t.Fatalf("RunOnce %d = %v, %v", i, ran, err)
		}
	}
	if c := re.checks(pass); c[ContextApply].State != store.CheckSuccess || c[ContextCheck].State != store.CheckSuccess {
		t.Errorf("pass: %+v", c)
	}
	if c := re.checks(conflict); c[ContextApply].State != store.CheckFail || !strings.Contains(c[ContextApply].Description, "does not apply on default") {
		t.Errorf("conflict: %+v", c)
	}
}
