package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"patchwell/sandbox"
)

type apiCheck struct {
	PatchIndex  int `json:"patch_index"`
	Context     string
	State       string
	Description string
}

// waitChecks polls the series API until the context has left pending,
// and returns the series' own checks (not those on single patches).
func waitChecks(t *testing.T, srv *testServer, id int64, context string) map[string]apiCheck {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var s struct{ Checks []apiCheck }
		srv.getJSON(fmt.Sprintf("/api/v1/series/%d", id), &s)
		got := map[string]apiCheck{}
		for _, c := range s.Checks {
			if c.PatchIndex == 0 {
				got[c.Context] = c
			}
		}
		if c, ok := got[context]; ok && c.State != "pending" {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("series %d: no %s result after 60 s: %+v", id, context, got)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCIOnSendEmail: a list with a repository runs CI on a series sent
// with git send-email: applied on the branch with git am -3 and checked
// in the sandbox; a check that fails says so.
func TestCIOnSendEmail(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CI sandbox is required under CI: %v", err)
		}
		t.Skipf("no usable sandbox: %v", err)
	}
	data := t.TempDir()
	srv := startServer(t, data)
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	base := strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD~3"))
	run(t, bare, "git", "update-ref", "refs/heads/main", base)
	run(t, data, binary, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "test -f b.c && grep -q world README", "--first-timer-gate=false", "--data", data)

	out := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", out, "HEAD~3")
	fillCover(t, out, "CI run")
	sendEmail(t, repo, srv.smtp, out)
	sent := time.Now()
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Fatalf("series: %+v", list.Series)
	}
	got := waitChecks(t, srv, list.Series[0].ID, "patchwell/check")
	t.Logf("from git send-email's return to the check result: %v", time.Since(sent))
	if got["patchwell/apply"].State != "success" || got["patchwell/check"].State != "success" {
		t.Fatalf("checks: %+v", got)
	}

	// The same series with a check that cannot pass: a second list.
	run(t, data, binary, "list", "create", "strict", "--repo", bare, "--branch", "main",
		"--check", "grep -q nonexistent README", "--data", data)
	run(t, data, binary, "list", "update", "strict", "--first-timer-gate=false", "--data", data)
	sendEmail(t, repo, srv.smtp, "--to=strict@patchwell.localhost", out)
	var strict struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/strict/series", &strict)
	if len(strict.Series) != 1 {
		t.Fatalf("strict series: %+v", strict.Series)
	}
	got = waitChecks(t, srv, strict.Series[0].ID, "patchwell/check")
	if got["patchwell/apply"].State != "success" || got["patchwell/check"].State != "fail" {
		t.Fatalf("checks on strict: %+v", got)
	}
}

// TestKilledCheckLeavesNoMount kills serve (SIGKILL) while a check runs
// on its disk budget's loop mount under DATA/repos/work: the mount
// stays; the restarted serve's CI unmounts it, removes its image and
// logs it.
func TestKilledCheckLeavesNoMount(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	if err := sandbox.Check(); err != nil {
		skipOrFailE2E(t, "no usable sandbox: "+err.Error())
	}
	if _, err := os.Stat("/usr/sbin/mke2fs"); err != nil || os.Geteuid() != 0 {
		skipOrFailE2E(t, "a Disk needs root and mke2fs")
	}
	data := t.TempDir()
	work, _ := filepath.EvalSymlinks(data)
	work = filepath.Join(work, "repos", "work")
	t.Cleanup(func() { sandbox.CleanDisks(context.Background(), work) })
	srv := startServer(t, data)
	repo := makeRepo(t)
	bare := filepath.Join(t.TempDir(), "project.git")
	run(t, repo, "git", "clone", "-q", "--bare", repo, bare)
	run(t, bare, "git", "update-ref", "refs/heads/main", strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD~3")))
	run(t, data, binary, "list", "update", "dev", "--repo", bare, "--branch", "main",
		"--check", "sleep 6023", "--first-timer-gate=false", "--data", data)
	out := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "-o", out, "HEAD~3")
	sendEmail(t, repo, srv.smtp, out)

	// mounts lists the mount points under work.
	mounts := func() []string {
		b, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		var m []string
		for _, l := range strings.Split(string(b), "\n") {
			if f := strings.Fields(l); len(f) > 4 && strings.HasPrefix(f[4], work+"/") {
				m = append(m, f[4])
			}
		}
		return m
	}
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(60 * time.Second); !ok(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after 60 s; mounts under %s: %q", what, work, mounts())
			}
		}
	}
	waitFor("the check's disk mounted", func() bool { return len(mounts()) == 1 })
	left := mounts()[0]
	if err := srv.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	images, _ := filepath.Glob(filepath.Join(work, ".*.disk-*"))
	if m := mounts(); len(m) != 1 || m[0] != left || len(images) != 1 {
		t.Fatalf("after kill -9: mounts %q, images %q; want the check's", m, images)
	}

	srv = startServer(t, data)
	// The cleanup unmounts, then removes the image, then logs both: wait
	// for all of it.
	logged := func() bool {
		log := srv.logText()
		for _, want := range [][2]string{{"ci unmounted a disk left by a killed check", "dir=" + left}, {"ci removed a disk image left by a killed check", "image=" + images[0]}} {
			if !slices.ContainsFunc(strings.Split(log, "\n"), func(l string) bool { return strings.Contains(l, want[0]) && strings.Contains(l, want[1]) }) {
				return false
			}
		}
		return true
	}
	waitFor("the left mount undone, its image removed and both logged", func() bool {
		_, err := os.Lstat(images[0])
		return !slices.Contains(mounts(), left) && errors.Is(err, os.ErrNotExist) && logged()
	})
	srv.stop()
}

func skipOrFailE2E(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}
