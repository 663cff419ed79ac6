package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/sandbox"
)

// TestCIQueueOnly: serve --ci-queue-only queues a job for a series sent
// with git send-email but runs none itself (a cluster's serve nodes need
// no sandbox); `patchwell runner --once`, elsewhere, claims and runs it.
func TestCIQueueOnly(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CI sandbox is required under CI: %v", err)
		}
		t.Skipf("no usable sandbox: %v", err)
	}
	data := t.TempDir()
	srv := startServer(t, data, "--ci-queue-only")
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	run(t, bare, "git", "update-ref", "refs/heads/main", strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD~3")))
	run(t, data, binary, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "test -f b.c", "--first-timer-gate=false", "--data", data)
	s := sendSeries(t, srv, repo, "q", "Queued for a runner")

	// Queued, and still pending after a while: nobody here runs it.
	deadline := time.Now().Add(20 * time.Second)
	for {
		var got struct{ Checks []apiCheck }
		srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &got)
		pending := 0
		for _, c := range got.Checks {
			if c.State != "pending" {
				t.Fatalf("a check ran in the queue-only server: %+v", got.Checks)
			}
			pending++
		}
		if pending > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no job queued after 20 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(3 * time.Second)
	var still struct{ Checks []apiCheck }
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &still)
	for _, c := range still.Checks {
		if c.State != "pending" {
			t.Fatalf("a check ran in the queue-only server: %+v", still.Checks)
		}
	}

	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "ci@example.org", "--admin", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	tok, _, _ := cli(t, nil, "user", "token", "ci@example.org", "runner", "--data", data)
	runner := exec.Command(binary, "runner", "--server", "http://"+srv.http, "--token", strings.TrimSpace(tok), "--once", "--poll", "200ms")
	runner.Env = append(os.Environ(), "TMPDIR="+t.TempDir())
	if out, err := runner.CombinedOutput(); err != nil {
		t.Fatalf("patchwell runner --once: %v\n%s", err, out)
	}
	got := waitChecks(t, srv, s.ID, "patchwell/check")
	if got["patchwell/check"].State != "success" {
		t.Errorf("the runner's check: %+v", got)
	}
}
