package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCommitHookWakesIdle: every road to a list goes through the one
// entry point and its commit hook. With the IMAP watcher's poll set to an
// hour, a client idling on the list still hears at once of a series sent
// with git send-email, of the CI summary CI posts on its thread and of a
// review sent from the web API: only the commit hook can have woken it.
// The ingest metrics count all of them.
func TestCommitHookWakesIdle(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "python3", "-c", "import imaplib")
	needSandbox(t)
	imapAddr, metricsAddr := freePort(t), freePort(t)
	data := t.TempDir()
	cliDir(t, "", nil, "list", "create", "dev", "--data", data)
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Rita Reviewer", "rita@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	token, errs, code := cli(t, nil, "user", "token", "--data", data, "rita@example.org", "ci")
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	run(t, bare, "git", "update-ref", "refs/heads/main", strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD~3")))
	run(t, data, binary, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "test -f b.c", "--first-timer-gate=false", "--data", data)
	srv := startServer(t, data, "--imap", imapAddr, "--imap-poll", "1h", "--metrics", metricsAddr, "--ci-mail")
	murl := "http://" + metricsAddr + "/metrics"
	stored := func() float64 {
		return sample(scrapeMetrics(t, murl), "patchwell_ingest_messages_total", "outcome", "stored")
	}
	before := stored()
	lines := startIdle(t, imapAddr, 6)

	s := sendSeries(t, srv, repo, "v1", "Hook")
	waitExistsCount(t, lines, 4, "the series from git send-email")
	if got := waitChecks(t, srv, s.ID, "patchwell/check"); got["patchwell/check"].State != "success" {
		t.Fatalf("checks: %+v", got)
	}
	waitExistsCount(t, lines, 5, "the CI summary")

	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/series/%d/comments", srv.http, s.ID), strings.NewReader(
		`{"summary": "Fine.", "comments": [{"patch_message_id": "`+s.Patches[0].MessageID+`", "file": "a.c", "side": "new", "line": 1, "body": "Name it better."}]}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("POST comments = %d %s", resp.StatusCode, b)
	}
	waitExistsCount(t, lines, 6, "the web review")
	if n := stored() - before; n != 6 {
		t.Errorf("patchwell_ingest_messages_total{outcome=stored} grew by %v, want 6 (4 sent, the CI summary, the web review)", n)
	}
}

// waitExistsCount reads the idle client's lines until it heard of want
// messages (at most 30 s: with the poll at an hour, only the commit hook
// wakes it).
func waitExistsCount(t *testing.T, lines <-chan map[string]any, want float64, what string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("idle client ended before %s", what)
			}
			if n, _ := m["exists"].(float64); n >= want {
				return
			}
		case <-deadline:
			t.Fatalf("the idle client did not hear of %s (EXISTS %v)", what, want)
		}
	}
}
