package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/sandbox"
)

// TestCIMailOnSendEmail: serve --ci-mail with a smarthost. A series sent
// with git send-email to a list whose branch has a .patchwell.yml is
// checked with its steps (the list's own --check would fail), and the
// subscriber receives the series and then the CI summary reply, in the
// thread, with the log links under --public-url.
func TestCIMailOnSendEmail(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CI sandbox is required under CI: %v", err)
		}
		t.Skipf("no usable sandbox: %v", err)
	}
	sk := startSink(t)
	data := t.TempDir()
	srv := startServer(t, data, "--smarthost", sk.addr, "--ci-mail", "--public-url", "https://p.example.org")
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	// The branch: the series' base plus a .patchwell.yml.
	ci := filepath.Join(t.TempDir(), "ci")
	run(t, repo, "git", "clone", "-q", bare, ci)
	run(t, ci, "git", "checkout", "-q", "-B", "main", "HEAD~3")
	os.WriteFile(filepath.Join(ci, ".patchwell.yml"), []byte("steps:\n  - name: build\n    run: test -f b.c\n  - name: test\n    run: grep -q world README && echo from the branch\n"), 0o644)
	run(t, ci, "git", "add", ".patchwell.yml")
	run(t, ci, "git", "commit", "-q", "-m", "ci definition")
	run(t, ci, "git", "push", "-q", "--force", "origin", "main")
	run(t, data, binary, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "false", "--first-timer-gate=false", "--data", data)
	run(t, data, binary, "sub", "add", "amy@example.org", "--list", "dev", "--data", data)

	s := sendSeries(t, srv, repo, "v1", "CI mail")
	got := waitChecks(t, srv, s.ID, "patchwell/check")
	if got["patchwell/check"].State != "success" || !strings.HasPrefix(got["patchwell/check"].Description, "passed: 2 steps in ") ||
		!strings.HasPrefix(got["patchwell/apply"].Description, "applied on main at ") {
		t.Fatalf("checks: %+v", got)
	}
	if s.CoverMessageID == "" {
		t.Fatalf("no cover letter: %+v", s)
	}
	mails := sk.waitFor(t, "amy@example.org", 5) // the cover letter, 3 patches, the CI reply
	var reply string
	for _, m := range mails {
		if strings.Contains(string(m.data), "From: \"dev CI\" <dev@patchwell.localhost>") {
			reply = strings.ReplaceAll(string(m.data), "\r\n", "\n")
		}
	}
	for _, want := range []string{"Subject: Re: ", "In-Reply-To: <" + s.CoverMessageID + ">", "Archived-At:",
		"patchwell/apply: success\n", "patchwell/check: success\n  passed: 2 steps in ",
		"  log: https://p.example.org/api/v1/checks/", "Series: https://p.example.org/series/"} {
		if !strings.Contains(reply, want) {
			t.Errorf("CI reply lacks %q:\n%s", want, reply)
		}
	}
}
