// Package testhg makes Mercurial repositories in temporary directories
// and the mail `hg email` (the patchbomb extension) writes for them, for
// tests that feed real Mercurial mail to patchwell. It runs the installed
// hg with no user or system configuration but its own; when hg is
// missing a test skips with the reason, and under CI=true it fails.
package testhg

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// Need returns the path of hg, skipping (or, under CI=true, failing) t
// when it is not installed.
func Need(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("hg")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("hg (Debian package mercurial) not found under CI: %v", err)
		}
		t.Skipf("hg (Debian package mercurial) not found: %v", err)
	}
	return p
}

// Repo is a throw-away Mercurial repository.
type Repo struct {
	t   testing.TB
	hg  string
	env []string
	Dir string // the working directory
}

// New makes an empty repository with the patchbomb extension enabled,
// committing as user.
func New(t testing.TB, user string) *Repo {
	t.Helper()
	hg := Need(t)
	home := t.TempDir()
	rc := filepath.Join(home, "hgrc")
	// HGRCPATH names the only configuration read: none of the host's.
	if err := os.WriteFile(rc, []byte("[extensions]\npatchbomb =\n[ui]\ninteractive = false\n"), 0o644); err != nil {
		t.Fatalf("WriteFile(hgrc) = %v", err)
	}
	r := &Repo{t: t, hg: hg, Dir: filepath.Join(home, "repo")}
	r.env = append(os.Environ(), "HOME="+home, "HGRCPATH="+rc, "HGPLAIN=1", "HGUSER="+user,
		"HGENCODING=utf-8", "HGHOSTNAME=hg.example.org", "TZ=UTC", "LC_ALL=C")
	r.Run("init", r.Dir)
	return r
}

// Run runs hg in the repository and returns its standard output.
func (r *Repo) Run(args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.hg, args...)
	cmd.Dir = filepath.Dir(r.Dir)
	if _, err := os.Stat(r.Dir); err == nil {
		cmd.Dir = r.Dir
	}
	cmd.Env = r.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("hg %q = %v: %s", args, err, stderr.String())
	}
	return string(out)
}

// Write writes a file of the working directory.
func (r *Repo) Write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.Dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatalf("MkdirAll() = %v", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatalf("WriteFile() = %v", err)
	}
}

// Commit commits every change of the working directory (added and
// removed files too) with message msg, dated date ("<unix seconds>
// <seconds west of UTC>", as hg writes it), and returns the node id.
func (r *Repo) Commit(msg, date string) string {
	r.t.Helper()
	r.Run("commit", "-q", "--addremove", "-m", msg, "-d", date)
	return r.Run("log", "-r", ".", "-T", "{node}")
}

// Email runs `hg email -m MBOX` with args (revisions, --intro, --flag ...
// and the like), to dev@patchwell.localhost, and returns the mbox's
// messages in order.
func (r *Repo) Email(args ...string) [][]byte {
	r.t.Helper()
	b, err := os.ReadFile(r.Mbox(args...))
	if err != nil {
		r.t.Fatalf("ReadFile(mbox) = %v", err)
	}
	return Split(b)
}

// Mbox is Email, returning the path of the mbox hg wrote.
func (r *Repo) Mbox(args ...string) string {
	r.t.Helper()
	mbox := filepath.Join(r.t.TempDir(), "out.mbox")
	r.Run(append([]string{"email", "-m", mbox, "--to", "dev@patchwell.localhost"}, args...)...)
	return mbox
}

// Split splits an mbox hg email wrote into messages as an MTA delivers
// them, without the "From sender date" line hg writes before each. hg
// does not escape body lines starting with "From ", so a test's
// descriptions must not have any.
func Split(b []byte) [][]byte {
	var msgs [][]byte
	for _, m := range bytes.Split(append([]byte("\n"), b...), []byte("\nFrom ")) {
		if len(bytes.TrimSpace(m)) == 0 {
			continue
		}
		if i := bytes.IndexByte(m, '\n'); i >= 0 {
			msgs = append(msgs, m[i+1:])
		}
	}
	return msgs
}
