package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"patchwell/ci"
	"patchwell/sandbox"
	"patchwell/store"
)

func gitRunT(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"-C", dir, "-c", "user.name=T", "-c", "user.email=t@example.org"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestRunnerCommand drives `patchwell runner` against a server speaking
// the CI protocol: a killed runner leaves its job to be retried, and the
// next runner finishes it.
func TestRunnerCommand(t *testing.T) {
	needTool(t, "git", "--version")
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, _ := st.CreateList(ctx, store.List{Name: "dev"})
	var sid int64
	st.Update(ctx, func(tx store.Tx) error {
		sid, err = tx.CreateSeries(ctx, &store.Series{Subject: "add x", Version: 1, Total: 1, MessageID: "x@x"}, "add x", "add x", l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A repository and the series as git format-patch writes it.
	src := t.TempDir()
	gitRunT(t, src, "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(src, "README"), []byte("hi\n"), 0o644)
	gitRunT(t, src, "add", "README")
	gitRunT(t, src, "commit", "-qm", "first")
	bare := filepath.Join(t.TempDir(), "r.git")
	gitRunT(t, src, "clone", "-q", "--bare", src, bare)
	os.WriteFile(filepath.Join(src, "x"), []byte("x\n"), 0o644)
	gitRunT(t, src, "add", "x")
	gitRunT(t, src, "commit", "-qm", "add x")
	mbox := gitRunT(t, src, "format-patch", "--stdout", "-1")

	var mu sync.Mutex
	check := "sleep 6017" // a duration no other test uses: pgrep looks for it below
	var srv *httptest.Server
	h := ci.Handler(ci.HandlerConfig{
		Store: st,
		Auth:  func(_ context.Context, tok string) (string, bool) { return "ci", tok == "tok3n" },
		Describe: func(context.Context, int64) (ci.RemoteJob, error) {
			mu.Lock()
			defer mu.Unlock()
			return ci.RemoteJob{MboxURL: srv.URL + "/mbox", RepoURL: bare, Branch: "main", Check: check, Limits: ci.Limits{WallSeconds: 120}}, nil
		},
		Lease: 2 * time.Second,
	})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/ci/", h)
	mux.HandleFunc("GET /mbox", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, mbox) })
	srv = httptest.NewServer(mux)
	defer srv.Close()
	if _, err := ci.Enqueue(ctx, st, sid); err != nil {
		t.Fatal(err)
	}
	tokFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokFile, []byte("tok3n\n"), 0o600)

	// The first runner takes the job; it is killed mid-check.
	cmd := exec.Command(binary, "runner", "--server", srv.URL, "--token-file", tokFile, "--name", "one", "--poll", "100ms")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		cs, _ := st.Checks(ctx, sid)
		if len(cs) > 0 && cs[len(cs)-1].Context == ci.ContextCheck && strings.HasPrefix(cs[len(cs)-1].Description, "running on remote:ci/one") {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the runner never took the job: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if j, _ := st.JobForSeries(ctx, sid); j.State != store.JobRunning || j.Attempts != 1 {
		t.Fatalf("after the kill: %+v", j)
	}
	mu.Lock()
	check = "test -f x && grep -q hi README"
	mu.Unlock()
	// A second runner finds it once the lease lapses.
	deadline = time.Now().Add(30 * time.Second)
	for {
		out, err := exec.Command(binary, "runner", "--server", srv.URL, "--name", "two", "--once", "--token", "tok3n").CombinedOutput()
		if err != nil {
			t.Fatalf("runner two: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "no job") {
			t.Logf("runner two:\n%s", out)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job was never retried")
		}
		time.Sleep(300 * time.Millisecond)
	}
	j, _ := st.JobForSeries(ctx, sid)
	if j.State != store.JobDone || j.Attempts != 2 {
		t.Errorf("job: %+v", j)
	}
	cs, _ := st.Checks(ctx, sid)
	states := map[string]string{}
	for _, c := range cs {
		states[c.Context] = c.State + " " + c.Description
	}
	if !strings.HasPrefix(states[ci.ContextApply], "success applied on main") || !strings.HasPrefix(states[ci.ContextCheck], "success") {
		t.Errorf("checks: %v", states)
	}
	// The killed runner's sandbox died with it.
	if out, _ := exec.Command("pgrep", "-f", "sleep 6017").Output(); len(out) > 0 {
		t.Errorf("sandboxed process survived its runner: %s", out)
	}
}
