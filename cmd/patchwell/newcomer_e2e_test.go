package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/sandbox"
)

// needSandbox skips when the CI sandbox cannot run here, and fails under
// CI=true, where .ci/run installs it.
func needSandbox(t *testing.T) {
	t.Helper()
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CI sandbox is required under CI: %v", err)
		}
		t.Skipf("no usable sandbox: %v", err)
	}
}

// TestWrongDataRefused: a command other than serve and list create given
// a directory without a database (none given, away from the server's
// directory, or a mistyped path) says so in one line, exits 1, and
// creates nothing.
func TestWrongDataRefused(t *testing.T) {
	t.Setenv("PATCHWELL_DB", "")
	cwd := t.TempDir()
	missing := filepath.Join(t.TempDir(), "no", "such", "dir")
	for _, args := range [][]string{
		{"apply", "3"},
		{"apply", "--data", missing, "3"},
		{"list", "ls"},
		{"list", "update", "dev", "--check", "true", "--data", missing},
		{"user", "ls", "--data", missing},
		{"sub", "ls", "--list", "dev"},
		{"export", "--list", "dev", "--data", missing},
		{"import", "--list", "dev", "--data", missing, "/dev/null"},
		{"check", "--data", missing},
		{"webhook", "ls"},
		{"hook", "post-receive", "--list", "dev"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			_, errs, code := cliIn(t, cwd, args...)
			if code != 1 || !strings.Contains(errs, "no patchwell database in ") || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Errorf("exit %d, stderr %q; want 1 and one line saying there is no database", code, errs)
			}
		})
	}
	for _, p := range []string{filepath.Join(cwd, "patchwell-data"), missing} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s was created", p)
		}
	}
	// list create may make a new store, as serve does.
	if out, errs, code := cliIn(t, cwd, "list", "create", "dev"); code != 0 || !strings.Contains(out, "created list dev") {
		t.Fatalf("list create in a fresh directory: %d %s %s", code, out, errs)
	}
	if out, _, code := cliIn(t, cwd, "list", "ls", "--data", "patchwell-data"); code != 0 || !strings.HasPrefix(out, "dev\t") {
		t.Fatalf("list ls after list create: %d %q", code, out)
	}
}

// TestListRepoChecked: list update refuses a repository that does not
// exist or is not a git repository, and a branch it lacks; a relative
// path is kept absolute (git runs elsewhere).
func TestListRepoChecked(t *testing.T) {
	t.Setenv("PATCHWELL_DB", "")
	data := t.TempDir()
	cliIn(t, data, "list", "create", "dev", "--data", data)
	notGit := t.TempDir()
	for _, tc := range []struct{ repo, msg string }{
		{"/nonexistent", "no such file or directory"},
		{notGit, "not a git repository"},
		{"http://127.0.0.1:1/nothing.git", "not a git repository git can read"},
	} {
		_, errs, code := cliIn(t, data, "list", "update", "dev", "--repo", tc.repo, "--data", data)
		if code != 1 || !strings.Contains(errs, tc.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("--repo %s: exit %d, stderr %q; want 1 and one line with %q", tc.repo, code, errs, tc.msg)
		}
	}
	repo := makeRepo(t)
	parent := filepath.Dir(repo)
	bare := filepath.Join(parent, "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	if _, errs, code := cliIn(t, parent, "list", "update", "dev", "--repo", "project.git", "--branch", "nope", "--data", data); code != 1 || !strings.Contains(errs, "has no branch nope (it has main)") {
		t.Errorf("--branch nope: exit %d, stderr %q", code, errs)
	}
	out, errs, code := cliIn(t, parent, "list", "update", "dev", "--repo", "project.git", "--branch", "main", "--data", data)
	if code != 0 || !strings.Contains(out, "repository "+bare+", branch main") {
		t.Fatalf("relative --repo: exit %d, %q %q; want the absolute path %s kept", code, out, errs, bare)
	}
	// An empty repository is accepted: its branch comes with the first push.
	empty := filepath.Join(parent, "empty.git")
	run(t, parent, "git", "init", "-q", "--bare", empty)
	if _, errs, code := cliIn(t, data, "list", "update", "dev", "--repo", empty, "--data", data); code != 0 {
		t.Errorf("empty repository: exit %d, %q", code, errs)
	}
}

// TestServePortClashTouchesNothing: when a port is taken, serve fails
// before it creates the data directory, its database or the default list.
func TestServePortClashTouchesNothing(t *testing.T) {
	t.Setenv("PATCHWELL_DB", "")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	for _, flag := range []string{"--smtp", "--http", "--imap", "--metrics"} {
		t.Run(flag, func(t *testing.T) {
			data := filepath.Join(t.TempDir(), "data")
			args := []string{"serve", "--data", data, "--smtp", freePort(t), "--http", freePort(t), "--imap", freePort(t), flag, busy.Addr().String()}
			_, errs, code := cliIn(t, t.TempDir(), args...)
			if code != 1 || !strings.Contains(errs, "address already in use") {
				t.Errorf("exit %d, stderr %q; want 1 and the clash", code, errs)
			}
			if _, err := os.Stat(data); err == nil {
				t.Errorf("serve created %s before failing to bind", data)
			}
		})
	}
}

// TestRelativeDataDir runs serve, list update, CI and apply with the data
// directory given relative to the working directory, as the Quick start
// does (./patchwell-data): the mirror, the CI worktree and the apply
// worktree are where they should be, the check passes and apply pushes.
func TestRelativeDataDir(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needSandbox(t)
	t.Setenv("PATCHWELL_DB", "")
	cwd := t.TempDir()
	srv := startServerIn(t, cwd, "patchwell-data")
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	base := strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD~3"))
	run(t, bare, "git", "update-ref", "refs/heads/main", base)
	if out, errs, code := cliIn(t, cwd, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "test -f b.c", "--first-timer-gate=false", "--data", "patchwell-data"); code != 0 {
		t.Fatalf("list update: %d %s %s", code, out, errs)
	}
	s := sendSeries(t, srv, repo, "v1", "Relative data")
	got := waitChecks(t, srv, s.ID, "patchwell/check")
	if got["patchwell/apply"].State != "success" || got["patchwell/check"].State != "success" {
		t.Fatalf("checks with a relative data directory: %+v", got)
	}
	out, errs, code := cliIn(t, cwd, "apply", "--data", "patchwell-data", fmt.Sprint(s.ID), "--by", "maint@example.org")
	if code != 0 || strings.Count(out, "commit: ") != 3 {
		t.Fatalf("apply with a relative data directory: %d %q %q", code, out, errs)
	}
	if a, b := run(t, bare, "git", "rev-parse", "main^{tree}"), run(t, repo, "git", "rev-parse", "HEAD^{tree}"); a != b {
		t.Fatalf("applied tree %s, author's %s", a, b)
	}
	if _, err := os.Stat(filepath.Join(cwd, "patchwell-data", "repos", "dev.git", "HEAD")); err != nil {
		t.Errorf("mirror not in the data directory: %v", err)
	}
	if nested, _ := filepath.Glob(filepath.Join(cwd, "patchwell-data", "repos", "patchwell-data")); len(nested) > 0 {
		t.Errorf("a data directory inside the data directory: %v", nested)
	}
}

// startServerIn starts serve in the working directory cwd with --data
// data as given (relative to cwd).
func startServerIn(t *testing.T, cwd, data string, extra ...string) *testServer {
	t.Helper()
	s := &testServer{t: t, data: filepath.Join(cwd, data), smtp: freePort(t), http: freePort(t), log: &bytes.Buffer{}}
	args := append([]string{"serve", "--data", data, "--smtp", s.smtp, "--http", s.http, "--imap", "", "--mail-auth=false"}, extra...)
	s.cmd = exec.Command(binary, args...)
	s.cmd.Dir = cwd
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Signal(os.Interrupt)
			s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logText())
		}
	})
	waitUp(t, s)
	return s
}

// waitUp waits until the server answers SMTP and /healthz.
func waitUp(t *testing.T, s *testServer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.Dial("tcp", s.smtp); err == nil {
			c.Close()
			if resp, err := http.Get("http://" + s.http + "/healthz"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					return
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not come up:\n%s", s.logText())
}

// TestNoDateHeader: a message without Date: is dated by its arrival on
// every page and API, never 0001-01-01.
func TestNoDateHeader(t *testing.T) {
	srv := startServer(t, t.TempDir())
	before := time.Now().Add(-time.Second)
	sendRaw(t, srv.smtp, "ada@example.org", []string{"dev@patchwell.localhost"}, "From: Ada <ada@example.org>\r\n"+
		"To: dev@patchwell.localhost\r\nSubject: [PATCH] add a line\r\nMessage-ID: <nodate@example.org>\r\n\r\n"+
		"A line.\r\n\r\nSigned-off-by: Ada <ada@example.org>\r\n---\r\n a | 1 +\r\n 1 file changed, 1 insertion(+)\r\n\r\n"+
		"diff --git a/a b/a\r\nindex 0000000..1111111 100644\r\n--- a/a\r\n+++ b/a\r\n@@ -0,0 +1 @@\r\n+x\r\n")
	after := time.Now().Add(time.Second)
	check := func(what string, d time.Time) {
		t.Helper()
		if d.Before(before) || d.After(after) {
			t.Errorf("%s: date %v, want the arrival time (between %v and %v)", what, d, before, after)
		}
	}
	var msg struct{ Date time.Time }
	srv.getJSON("/api/v1/lists/dev/messages/nodate@example.org", &msg)
	check("message", msg.Date)
	var thread struct{ Messages []struct{ Date *time.Time } }
	srv.getJSON("/api/v1/lists/dev/threads/nodate@example.org", &thread)
	if len(thread.Messages) != 1 || thread.Messages[0].Date == nil {
		t.Fatalf("thread: %+v", thread)
	}
	check("thread", *thread.Messages[0].Date)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Fatalf("series: %+v", list.Series)
	}
	var s struct {
		Date    time.Time
		Patches []struct{ Date time.Time }
	}
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &s)
	check("series", s.Date)
	if len(s.Patches) != 1 {
		t.Fatalf("patches: %+v", s.Patches)
	}
	check("patch", s.Patches[0].Date)
	for _, page := range []string{"/dev/nodate@example.org/", fmt.Sprintf("/series/%d/", list.Series[0].ID), "/dev/"} {
		if body := string(httpGet(t, "http://"+srv.http+page)); strings.Contains(body, "0001-01-01") {
			t.Errorf("%s shows 0001-01-01", page)
		}
	}
}

// TestHostHeaderIgnored: absolute links in pages and feeds (b4's
// configuration, the series mbox, Atom, sign-up confirmation mail) are
// the server's own address, whatever Host a client sends: a page cached
// for everyone or a mailed link must not point to a host of the client's
// choosing.
func TestHostHeaderIgnored(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--signup")
	for _, path := range []string{"/dev/", "/dev/new.atom", "/dev/series.atom"} {
		req, _ := http.NewRequest("GET", "http://"+srv.http+path, nil)
		req.Host = "evil.example"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(body), "evil.example") || !strings.Contains(string(body), "http://"+srv.http+"/dev/") {
			t.Errorf("%s with Host: evil.example links there, or not to http://%s/dev/:\n%s", path, srv.http, body)
		}
	}
	// A sign-up's confirmation link (written to the log without a smarthost).
	form := url.Values{"email": {"eve@example.org"}, "password": {"correct horse battery"}, "password2": {"correct horse battery"}, "name": {"Eve"}}
	req, _ := http.NewRequest("POST", "http://"+srv.http+"/signup", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Host = "evil.example"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// The log line comes through the server's stderr pipe: wait for it.
	var log string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		log = srv.logText()
		if strings.Contains(log, "/confirm/") {
			break
		}
	}
	if strings.Contains(log, "evil.example") || !strings.Contains(log, "http://"+srv.http+"/confirm/") {
		t.Errorf("sign-up confirmation link follows the Host header (status %d):\n%s", resp.StatusCode, log)
	}
}

// TestProgressOnTerminal: import, export and reindex draw a progress line
// (done/total, rate) on a terminal, and print nothing of it otherwise.
func TestProgressOnTerminal(t *testing.T) {
	needTool(t, "script", "--version")
	t.Setenv("PATCHWELL_DB", "")
	mbox := corpusPath(t, "b4/trailers-thread-with-followups.mbox")
	data := t.TempDir()
	cliIn(t, data, "list", "create", "dev", "--data", data)
	if _, errs, code := cliIn(t, data, "import", "--data", data, "--list", "dev", mbox); code != 0 || errs != "" {
		t.Fatalf("import without a terminal: exit %d, stderr %q; want nothing on stderr", code, errs)
	}
	out, _, _ := cliIn(t, data, "list", "ls", "--data", data)
	n := strings.Fields(out)[3] // dev  dev@...  public  N messages
	for _, tc := range []struct{ what, cmd string }{
		{"export", "export --data " + data + " --list dev --out " + filepath.Join(data, "out.mbox")},
		{"reindex", "reindex --data " + data},
		{"migrate", "migrate --from " + data + " --to " + filepath.Join(t.TempDir(), "copy")},
		{"import", "import --data " + data + " --list dev " + mbox},
	} {
		cmd := exec.Command("script", "-q", "-e", "-c", binary+" "+tc.cmd, "/dev/null")
		b, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s on a terminal: %v\n%s", tc.what, err, b)
		}
		if want := tc.what + " 100% "; !strings.Contains(string(b), want) || !strings.Contains(string(b), "("+n+"/"+n+", ") || !strings.Contains(string(b), "msg/s") {
			t.Errorf("%s on a terminal: no progress line %q with %s/%s and a rate:\n%q", tc.what, want, n, n, b)
		}
	}
	if _, errs, code := cliIn(t, data, "export", "--data", data, "--list", "dev", "--out", filepath.Join(data, "out2.mbox")); code != 0 || errs != "" {
		t.Errorf("export without a terminal: exit %d, stderr %q", code, errs)
	}
}
