package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// quickStart returns the command blocks of README.md's Quick start
// section: its indented code blocks, in order.
func quickStart(t *testing.T, readme string) []string {
	t.Helper()
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "\n## Quick start\n")
	if i < 0 {
		t.Fatal("README.md has no Quick start section")
	}
	s = s[i+len("\n## Quick start\n"):]
	if j := strings.Index(s, "\n## "); j >= 0 {
		s = s[:j]
	}
	var blocks []string
	var cur []string
	prevBlank := true
	for _, line := range strings.Split(s, "\n") {
		switch {
		case strings.HasPrefix(line, "    ") && (prevBlank || len(cur) > 0):
			cur = append(cur, strings.TrimPrefix(line, "    "))
		case len(cur) > 0:
			blocks = append(blocks, strings.Join(cur, "\n"))
			cur = nil
		}
		prevBlank = strings.TrimSpace(line) == ""
	}
	if len(cur) > 0 {
		blocks = append(blocks, strings.Join(cur, "\n"))
	}
	return blocks
}

// checkoutCopy makes a clone of the repository this test runs in, with
// the working tree's files (committed or not) on top: what a newcomer
// gets from git clone, with the changes under test.
func checkoutCopy(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "patchwell")
	if out, err := exec.Command("git", "clone", "-q", root, dst).CombinedOutput(); err != nil {
		t.Fatalf("git clone: %v\n%s", err, out)
	}
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		t.Fatal(err)
	}
	// Files of the commit the working tree no longer has go too.
	committed, err := exec.Command("git", "-C", dst, "ls-files", "-z").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range strings.Split(strings.TrimRight(string(committed), "\x00"), "\x00") {
		if _, err := os.Lstat(filepath.Join(root, f)); errors.Is(err, os.ErrNotExist) {
			os.Remove(filepath.Join(dst, f))
		}
	}
	for _, f := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		src := filepath.Join(root, f)
		fi, err := os.Lstat(src)
		if err != nil { // deleted in the working tree
			os.Remove(filepath.Join(dst, f))
			continue
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(dst, f)), 0o755)
		if err := os.WriteFile(filepath.Join(dst, f), b, fi.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// TestQuickStart runs README.md's Quick start as written: make run in a
// fresh checkout, and the other commands pasted into a second terminal
// (one bash in a pseudo-terminal, whose input never answers: a prompt
// would hang it), then stops the server as Ctrl-C does. The commands
// come from the README itself, so it cannot drift from what is tested.
func TestQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds patchwell afresh")
	}
	needTool(t, "git", "send-email", "--help")
	needTool(t, "make", "--version")
	needTool(t, "curl", "--version")
	needTool(t, "script", "--version")
	needSandbox(t)
	for _, addr := range []string{"127.0.0.1:2525", "127.0.0.1:8080", "127.0.0.1:1143"} {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("the Quick start's port %s is taken: %v", addr, err)
			}
			t.Skipf("the Quick start's port %s is taken: %v", addr, err)
		}
		l.Close()
	}
	t.Setenv("PATCHWELL_DB", "")
	checkout := checkoutCopy(t)
	blocks := quickStart(t, filepath.Join(checkout, "README.md"))
	if len(blocks) < 3 || blocks[0] != "make run" {
		t.Fatalf("Quick start blocks: %q; want make run first", blocks)
	}

	// Terminal 1: make run, in its own process group as a shell's job.
	log := &syncBuffer{}
	ready := make(chan struct{})
	pr, pw := io.Pipe()
	serve := exec.Command("bash", "-c", blocks[0])
	serve.Dir = checkout
	serve.Stdout, serve.Stderr = io.MultiWriter(log, pw), io.MultiWriter(log, pw)
	serve.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "patchwell ready") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	start := time.Now()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait(); pw.Close() }()
	t.Cleanup(func() {
		syscall.Kill(-serve.Process.Pid, syscall.SIGKILL)
		if t.Failed() {
			t.Logf("make run:\n%s", log.String())
		}
	})
	select {
	case <-ready:
		t.Logf("make run: ready after %v", time.Since(start).Round(time.Second))
	case err := <-exited:
		t.Fatalf("make run exited: %v\n%s", err, log.String())
	case <-time.After(15 * time.Minute):
		t.Fatalf("make run: not ready after 15 minutes\n%s", log.String())
	}

	// Terminal 2: the rest, pasted into one shell, as a git user would.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n[init]\n\tdefaultBranch = main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(home, "quickstart.sh")
	if err := os.WriteFile(script, []byte("set -ex\n"+strings.Join(blocks[1:], "\n")+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	term := exec.CommandContext(ctx, "script", "-q", "-e", "-c", "bash "+script, "/dev/null")
	term.Dir = checkout
	term.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "TERM=dumb")
	stdin, _ := term.StdinPipe() // never written: a prompt waits, and the test times out
	defer stdin.Close()
	out, err := term.CombinedOutput()
	if err != nil {
		t.Fatalf("the Quick start's commands: %v\n%s", err, out)
	}
	t.Logf("second terminal:\n%s", out)
	text := strings.ReplaceAll(string(out), "\r\n", "\n")
	if !strings.Contains(text, `"subject":"README: three lines"`) {
		t.Errorf("the API's series after the Quick start: no cover letter subject in\n%s", text)
	}
	if !strings.Contains(text, "README: line 3") || strings.Count(text, "commit: ") != 3 {
		t.Errorf("apply: want three commits applied and README: line 3 in demo.git's log:\n%s", text)
	}

	// The check CI ran on the series.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var s struct {
			Checks []apiCheck
			Status string
		}
		resp, err := http.Get("http://127.0.0.1:8080/api/v1/series/1")
		if err != nil {
			t.Fatal(err)
		}
		json.NewDecoder(resp.Body).Decode(&s)
		resp.Body.Close()
		state := ""
		for _, c := range s.Checks {
			if c.Context == "patchwell/check" && c.PatchIndex == 0 {
				state = c.State
			}
		}
		if state == "success" && s.Status == "applied" {
			break
		}
		if (state != "" && state != "pending") || time.Now().After(deadline) {
			t.Fatalf("series 1: status %q, checks %+v; want the check passed and the series applied", s.Status, s.Checks)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Ctrl-C: the terminal signals the job's process group.
	syscall.Kill(-serve.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("make run did not stop on Ctrl-C\n%s", log.String())
	}
	if c, err := net.Dial("tcp", "127.0.0.1:8080"); err == nil {
		c.Close()
		t.Errorf("something still serves 127.0.0.1:8080 after Ctrl-C")
	}
	if !strings.Contains(log.String(), "shutting down") {
		t.Errorf("the server did not shut down cleanly:\n%s", log.String())
	}
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
