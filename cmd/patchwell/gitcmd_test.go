package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// gitT runs git for a test's setup as Alice.
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

// TestApplyAndPostReceive: list create --repo, import a series made by
// git format-patch, apply it (pushed to the bare repository), refuse a
// second apply, then a series pushed by hand is marked applied by the
// post-receive hook installed in the bare repository.
func TestApplyAndPostReceive(t *testing.T) {
	needTool(t, "git", "--version")
	dir := t.TempDir()
	data, origin, work := filepath.Join(dir, "data"), filepath.Join(dir, "origin.git"), filepath.Join(dir, "work")
	gitT(t, dir, "init", "-q", "--bare", "-b", "main", origin)
	gitT(t, dir, "init", "-q", "-b", "main", work)
	os.WriteFile(filepath.Join(work, "a.txt"), []byte("one\ntwo\nthree\n"), 0o644)
	gitT(t, work, "add", "-A")
	gitT(t, work, "commit", "-q", "-m", "base")
	gitT(t, work, "push", "-q", origin, "main")

	if out, errs, code := cli(t, nil, "list", "create", "dev", "--data", data, "--repo", origin, "--branch", "main", "--check", "make check"); code != 0 || !strings.Contains(out, "branch main") {
		t.Fatalf("list create: %d %s %s", code, out, errs)
	}
	if out, errs, code := cli(t, nil, "list", "update", "dev", "--data", data, "--first-timer-gate=false"); code != 0 || !strings.Contains(out, `check "make check", first-timer gate off`) {
		t.Fatalf("list update: %d %s %s", code, out, errs)
	}
	if _, _, code := cli(t, nil, "list", "update", "dev", "--data", data); code != 2 {
		t.Fatalf("list update without flags: exit %d, want 2", code)
	}

	series := func(name, file, body, subject string) string {
		gitT(t, work, "checkout", "-q", "-b", name, "main")
		os.WriteFile(filepath.Join(work, file), []byte(body), 0o644)
		gitT(t, work, "add", "-A")
		gitT(t, work, "commit", "-q", "-m", subject)
		mbox := filepath.Join(dir, name+".mbox")
		gitT(t, work, "format-patch", "-q", "--output", mbox, "main")
		gitT(t, work, "checkout", "-q", "main")
		if out, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", mbox); code != 0 || !strings.HasPrefix(out, "imported 1,") {
			t.Fatalf("import: %d %s %s", code, out, errs)
		}
		return mbox
	}
	series("t1", "b.txt", "b\n", "b: add b")
	out, errs, code := cli(t, nil, "apply", "--data", data, "1", "--by", "maint@example.org", "--public-url", "https://p.example.org")
	head := gitT(t, origin, "rev-parse", "main")
	if code != 0 || !strings.Contains(out, "Applied to main, thanks!") || !strings.Contains(out, head) {
		t.Fatalf("apply: %d %q %q (origin at %s)", code, out, errs, head)
	}
	if msg := gitT(t, origin, "log", "-1", "--format=%an %ae|%ce|%B", "main"); !strings.HasPrefix(msg, "Alice Author alice@example.org|maint@example.org|b: add b") || !strings.Contains(msg, "Link: https://p.example.org/dev/") {
		t.Fatalf("applied commit: %q", msg)
	}
	if _, errs, code := cli(t, nil, "apply", "--data", data, "1"); code != 1 || !strings.Contains(errs, "applied already") {
		t.Fatalf("second apply: %d %q", code, errs)
	}

	// The hook, installed as git runs it (in the bare repository, GIT_DIR set).
	hook := "#!/bin/sh\nexec " + binary + " hook post-receive --data " + data + " --list dev\n"
	if err := os.WriteFile(filepath.Join(origin, "hooks", "post-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
	series("t2", "c.txt", "c\n", "c: add c")
	gitT(t, work, "pull", "-q", "--ff-only", origin, "main")
	gitT(t, work, "cherry-pick", "main..t2")
	pushed := gitT(t, work, "push", origin, "main")
	if !strings.Contains(pushed, "patchwell: series 2 (") {
		t.Fatalf("push output (the hook's) lacks the series: %q", pushed)
	}
	if out, _, _ := cli(t, nil, "apply", "--data", data, "2"); out != "" {
		t.Fatalf("apply of a series found applied: %q", out)
	}
}

// TestSendEmailThenApplyWhileServing: a series sent with git send-email
// to a running server is applied from the command line while it runs; the
// API then shows it applied and the bare repository has its commits.
func TestSendEmailThenApplyWhileServing(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	srv := startServer(t, data, "--public-url", "https://p.example.org")
	repo := makeRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	gitT(t, repo, "init", "-q", "--bare", "-b", "main", origin)
	gitT(t, repo, "push", "-q", origin, "HEAD~3:refs/heads/main")
	if out, errs, code := cli(t, nil, "list", "update", "dev", "--data", data, "--repo", origin, "--branch", "main"); code != 0 {
		t.Fatalf("list update while serving: %d %s %s", code, out, errs)
	}
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	out, errs, code := cli(t, nil, "apply", "--data", data, fmt.Sprint(s.ID), "--by", "maint@example.org", "--public-url", "https://p.example.org")
	if code != 0 || strings.Count(out, "commit: ") != 3 {
		t.Fatalf("apply while serving: %d %q %q", code, out, errs)
	}
	var after apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &after)
	if after.Status != "applied" {
		t.Fatalf("status after apply: %q", after.Status)
	}
	// Same trees as the author's branch, new commits with Link: trailers.
	if a, b := gitT(t, origin, "rev-parse", "main^{tree}"), gitT(t, repo, "rev-parse", "HEAD^{tree}"); a != b {
		t.Fatalf("applied tree %s, author's %s", a, b)
	}
	if n := strings.Count(gitT(t, origin, "log", "--format=%B", "main"), "Link: https://p.example.org/dev/"); n != 3 {
		t.Fatalf("%d Link: trailers, want 3", n)
	}
	// The "Applied, thanks" reply is archived in the series' thread.
	parent := s.CoverMessageID
	if parent == "" {
		parent = s.MessageID
	}
	thread := string(httpGet(t, "http://"+srv.http+"/api/v1/lists/dev/threads/"+parent))
	m := regexp.MustCompile(`"(applied\.[0-9]+\.[0-9]+@[^"]+)"`).FindStringSubmatch(thread)
	if m == nil {
		t.Fatalf("no applied reply in the thread: %s", thread)
	}
	raw := string(httpGet(t, "http://"+srv.http+"/dev/"+m[1]+"/raw"))
	if !strings.Contains(raw, "Applied to main, thanks!") || !strings.Contains(raw, "From: maint@example.org") {
		t.Errorf("applied reply:\n%s", raw)
	}
	srv.stop()
}

// TestApplyThroughAPI: a maintainer applies a series with the API while
// the server runs; a second apply is a 409; a reader without the role
// may not.
func TestApplyThroughAPI(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	srv := startServer(t, data)
	repo := makeRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	gitT(t, repo, "init", "-q", "--bare", "-b", "main", origin)
	gitT(t, repo, "push", "-q", origin, "HEAD~3:refs/heads/main")
	cli(t, nil, "list", "update", "dev", "--data", data, "--repo", origin, "--branch", "main")
	for _, u := range []string{"maint@example.org", "reader@example.org"} {
		if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", u, "--data", data); code != 0 {
			t.Fatalf("user add: %s", errs)
		}
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	maint, _, _ := cli(t, nil, "user", "token", "maint@example.org", "ci", "--data", data)
	reader, _, _ := cli(t, nil, "user", "token", "reader@example.org", "ci", "--data", data)
	s := sendSeries(t, srv, repo, "v1", "Apply me")
	post := func(tok string) (int, string) {
		req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/series/%d/apply", srv.http, s.ID), nil)
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := post(reader); code != http.StatusForbidden {
		t.Errorf("apply by a reader: %d %s", code, body)
	}
	code, body := post(maint)
	if code != 200 || !strings.Contains(body, "Applied to main, thanks!") {
		t.Fatalf("apply by the maintainer: %d %s", code, body)
	}
	if n := strings.Count(gitT(t, origin, "log", "--format=%s", "main"), "\n"); n < 3 {
		t.Errorf("origin has %d commits", n+1)
	}
	if code, body := post(maint); code != http.StatusConflict || !strings.Contains(body, "applied already") {
		t.Errorf("second apply: %d %s", code, body)
	}
	var after apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &after)
	if after.Status != "applied" {
		t.Errorf("status %q", after.Status)
	}
}
