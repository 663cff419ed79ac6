// Package gitrepo keeps a git mirror per list and applies series in
// scratch worktrees of it: what CI tests and what a maintainer applies.
//
// Everything goes through the git command line (never a shell) with the
// GIT_* environment removed, hooks disabled (core.hooksPath=/dev/null)
// and no terminal prompt; credentials for a URL come from git's own
// configuration (credential helpers, ~/.git-credentials, ssh keys) of the
// user running patchwell. A list's mirror is DATA/repos/LIST.git, a
// `git clone --mirror` of its repository, fetched before each job; jobs on
// one mirror are serialised by a lock file beside it. Worktrees are made
// under DATA/repos/work/ and removed by Close.
//
// Patches are hostile: CheckPatches refuses, before git sees them, paths
// that leave the worktree (absolute, "..", a .git component, control
// characters, through a symlink of the base tree or of an earlier file)
// and flags those that touch .gitmodules, .gitattributes, .patchwell.yml
// or CI definitions.
//
// Apply (apply.go) applies a series to its list's branch and pushes it;
// MarkApplied finds series applied elsewhere by their patch-ids, and
// Watch fetches every list's repository now and then to find them.
// Workspace (workspace.go) is CI's git half (ci.Workspace).
package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// maxOutput bounds the git output kept in errors and conflict results.
const maxOutput = 64 << 10

// Mirror is a list's mirror of its repository.
type Mirror struct {
	Dir    string // the bare mirror, DATA/repos/LIST.git
	remote string // a URL, or a local bare repository's path
	work   string // where worktrees go
}

// WorkDir is where the worktrees of dataDir's mirrors are made
// (DATA/repos/work): the CI's, whose Disks a killed process may leave
// mounted there (ci.Config.WorkDir), and apply's.
func WorkDir(dataDir string) string { return filepath.Join(dataDir, "repos", "work") }

// NewMirror returns the mirror of list's repository remote in dataDir
// (not yet cloned: Sync clones it).
func NewMirror(dataDir, list, remote string) *Mirror {
	return &Mirror{Dir: mirrorPath(dataDir, list, ".git"), remote: remote, work: WorkDir(dataDir)}
}

// Remote is the repository the mirror is of.
func (m *Mirror) Remote() string { return m.remote }

// local reports whether the remote is a path rather than a URL (then
// git's file protocol is allowed for it).
func (m *Mirror) local() bool {
	return strings.HasPrefix(m.remote, "file://") || (!strings.Contains(m.remote, "://") && !scpLike.MatchString(m.remote))
}

// scpLike matches git's host:path remotes (ssh).
var scpLike = regexp.MustCompile(`^[^/]+:`)

// env is the environment git runs with: the process's without GIT_*
// variables (a hook's GIT_DIR, GIT_INDEX_FILE ... must not leak into
// our commands), never prompting, in the C locale for parseable output.
func env(extra ...string) []string {
	var out []string
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "GIT_") || strings.HasPrefix(e, "LC_ALL=") || strings.HasPrefix(e, "LANG=") {
			continue
		}
		out = append(out, e)
	}
	return append(append(out, "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"), extra...)
}

// git runs git in dir with args, stdin as its input, and returns its
// standard output; an error carries (bounded) standard error.
func (m *Mirror) git(ctx context.Context, dir string, stdin []byte, args ...string) ([]byte, error) {
	base := []string{"-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false", "-c", "core.fsmonitor=false",
		"-c", "protocol.ext.allow=never", "-c", "submodule.recurse=false"}
	if m.local() {
		base = append(base, "-c", "protocol.file.allow=always")
	} else {
		base = append(base, "-c", "protocol.file.allow=never")
	}
	out, errOut, err := runCmd(ctx, "git", dir, env(), stdin, append(base, args...))
	if err != nil {
		return out, &GitError{Args: args, Err: err, Output: errOut}
	}
	return out, nil
}

// runCmd runs prog in dir with env and stdin and returns its standard
// output and, when it fails, what it said: standard error (bounded) and
// the end of its output.
func runCmd(ctx context.Context, prog, dir string, env []string, stdin []byte, args []string) ([]byte, string, error) {
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Dir = dir
	cmd.Env = env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &capped{b: &errb}
	if err := cmd.Run(); err != nil {
		return out.Bytes(), strings.TrimSpace(errb.String() + "\n" + tail(out.String())), err
	}
	return out.Bytes(), "", nil
}

// GitError is a failed git command with what it said.
type GitError struct {
	Args   []string
	Err    error
	Output string
}

func (e *GitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, e.Output)
}

type capped struct{ b *bytes.Buffer }

func (c *capped) Write(p []byte) (int, error) {
	if room := maxOutput - c.b.Len(); room > 0 {
		if len(p) > room {
			c.b.Write(p[:room])
		} else {
			c.b.Write(p)
		}
	}
	return len(p), nil
}

func tail(s string) string {
	if len(s) > maxOutput {
		return s[len(s)-maxOutput:]
	}
	return s
}

// Lock takes the mirror's lock (a job at a time per mirror, across
// processes: the server and `patchwell apply`); the returned func
// releases it.
func (m *Mirror) Lock(ctx context.Context) (func(), error) {
	return lockFile(ctx, m.Dir+".lock")
}

// Sync clones the mirror when it does not exist yet, else fetches every
// ref of the repository into it (pruning deleted ones).
func (m *Mirror) Sync(ctx context.Context) error {
	if _, err := os.Stat(filepath.Join(m.Dir, "HEAD")); err != nil {
		if err := os.MkdirAll(filepath.Dir(m.Dir), 0o750); err != nil {
			return err
		}
		tmp := m.Dir + ".new"
		os.RemoveAll(tmp)
		if _, err := m.git(ctx, filepath.Dir(m.Dir), nil, "clone", "--mirror", "--no-hardlinks", "--", m.remote, tmp); err != nil {
			os.RemoveAll(tmp)
			return err
		}
		return os.Rename(tmp, m.Dir)
	}
	if _, err := m.git(ctx, m.Dir, nil, "remote", "set-url", "origin", "--", m.remote); err != nil {
		return err
	}
	_, err := m.git(ctx, m.Dir, nil, "fetch", "--prune", "--no-recurse-submodules", "origin")
	return err
}

var hexID = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// Resolve returns the commit id a revision names in the mirror.
func (m *Mirror) Resolve(ctx context.Context, rev string) (string, error) {
	out, err := m.git(ctx, m.Dir, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err != nil {
		return "", fmt.Errorf("%s: no such commit in the mirror of %s", rev, m.remote)
	}
	return strings.TrimSpace(string(out)), nil
}

// BranchHead is the commit refs/heads/branch names in the mirror.
func (m *Mirror) BranchHead(ctx context.Context, branch string) (string, error) {
	return m.Resolve(ctx, "refs/heads/"+branch)
}

// Worktree is a scratch checkout of the mirror, detached at its base:
// git's Checkout.
type Worktree struct {
	dir  string
	base string // the commit it was made at
	m    *Mirror
}

// Dir is the worktree's directory.
func (w *Worktree) Dir() string { return w.dir }

// Base is the commit the worktree was made at.
func (w *Worktree) Base() string { return w.base }

// Checkout makes a scratch worktree at base (a base-commit: id) when the
// mirror has that commit, else at the head of branch.
func (m *Mirror) Checkout(ctx context.Context, base, branch string) (Checkout, error) {
	commit, dir, err := startCheckout(ctx, m, base, branch, m.work, strings.TrimSuffix(filepath.Base(m.Dir), ".git"))
	if err != nil {
		return nil, err
	}
	if _, err := m.git(ctx, m.Dir, nil, "worktree", "add", "--detach", "--", dir, commit); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &Worktree{dir: dir, base: commit, m: m}, nil
}

// At makes a worktree at one of the commits Apply made: they are in the
// mirror's objects, which worktrees share.
func (w *Worktree) At(ctx context.Context, commit string) (Checkout, error) {
	c, err := w.m.Checkout(ctx, commit, "")
	if err != nil {
		return nil, err
	}
	if c.Base() != commit {
		c.Close()
		return nil, fmt.Errorf("commit %.12s is not in the mirror", commit)
	}
	return c, nil
}

// Close removes the worktree. It never runs git inside it: after a
// check ran there the tree is hostile (a planted .git could carry
// core.fsmonitor), so the files are deleted and the mirror prunes its
// record of the worktree.
func (w *Worktree) Close() error {
	err := os.RemoveAll(w.dir)
	if _, perr := w.m.git(context.Background(), w.m.Dir, nil, "worktree", "prune"); err == nil {
		err = perr
	}
	return err
}

// Symlinks returns the paths of the symbolic links in the worktree's
// base tree.
func (w *Worktree) Symlinks(ctx context.Context) (map[string]bool, error) {
	out, err := w.m.git(ctx, w.dir, nil, "ls-tree", "-r", "-z", "--full-tree", w.base)
	if err != nil {
		return nil, err
	}
	links := map[string]bool{}
	for _, e := range bytes.Split(out, []byte{0}) {
		meta, path, ok := bytes.Cut(e, []byte{'\t'})
		if ok && bytes.HasPrefix(meta, []byte("120000 ")) {
			links[string(path)] = true
		}
	}
	return links, nil
}

// Conflict is a series that does not apply: nothing was committed.
type Conflict struct {
	Patch   int    // 1-based index of the failing patch
	Subject string // its subject as git am printed it
	Output  string // what git said
}

func (c *Conflict) Error() string {
	return fmt.Sprintf("patch %d (%s) does not apply:\n%s", c.Patch, c.Subject, c.Output)
}

var patchFailed = regexp.MustCompile(`(?m)^Patch failed at (\d+) (.*)$`)

// Apply applies an mboxrd (patches in order) with `git am -3`,
// committing as name <email> with the mails' authorship and dates, and
// returns the new commits, oldest first. A patch that does not apply
// gives a *Conflict (after git am --abort: the worktree is back at its
// start).
func (w *Worktree) Apply(ctx context.Context, mbox []byte, name, email string) ([]string, error) {
	_, err := w.m.git(ctx, w.dir, mbox, "-c", "user.name="+name, "-c", "user.email="+email,
		"am", "-3", "--patch-format=mboxrd", "--no-gpg-sign", "--no-keep-cr")
	if err != nil {
		var ge *GitError
		if !errors.As(err, &ge) {
			return nil, err
		}
		m := patchFailed.FindStringSubmatch(ge.Output)
		var conflict []byte
		if m != nil {
			// The conflicted files with their markers, as git left them.
			conflict, _ = w.m.git(ctx, w.dir, nil, "diff", "--no-color", "--no-ext-diff", "--no-textconv")
		}
		w.m.git(context.Background(), w.dir, nil, "am", "--abort")
		if m == nil {
			return nil, err
		}
		var out []string
		for _, l := range strings.Split(ge.Output, "\n") {
			if !strings.HasPrefix(l, "hint: ") && !strings.HasPrefix(l, "When you have resolved") &&
				!strings.HasPrefix(l, "If you prefer to skip") && !strings.HasPrefix(l, "To restore the original branch") {
				out = append(out, l)
			}
		}
		if len(conflict) > 0 {
			out = append(out, "", tail(string(conflict)))
		}
		c := &Conflict{Output: strings.TrimSpace(strings.Join(out, "\n")), Subject: m[2]}
		fmt.Sscan(m[1], &c.Patch)
		return nil, c
	}
	out, err := w.m.git(ctx, w.dir, nil, "rev-list", "--reverse", w.base+"..HEAD")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(out)), nil
}

// Head returns the worktree's HEAD commit.
func (w *Worktree) Head(ctx context.Context) (string, error) {
	out, err := w.m.git(ctx, w.dir, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(string(out)), err
}

// Push pushes the worktree's HEAD to branch of the repository (the URL
// or local bare repository the mirror was cloned from: it is the truth,
// the mirror a cache), without force: a branch that moved meanwhile is
// refused. The mirror's branch then follows.
func (w *Worktree) Push(ctx context.Context, branch string) error {
	head, err := w.Head(ctx)
	if err != nil {
		return err
	}
	if _, err := w.m.git(ctx, w.dir, nil, "push", "--no-verify", "--", w.m.remote, "HEAD:refs/heads/"+branch); err != nil {
		return err
	}
	_, err = w.m.git(ctx, w.m.Dir, nil, "update-ref", "refs/heads/"+branch, head)
	return err
}

// Commit is one commit with its subject and patch-id.
type Commit struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	PatchID string `json:"patch_id,omitempty"`
}

// Commits returns the non-merge commits of old..new (all of new's
// history when old is empty or all zeros), oldest first, with their
// `git patch-id --stable`, in the repository at dir (the mirror when "").
func (m *Mirror) Commits(ctx context.Context, dir, old, new string) ([]Commit, error) {
	if dir == "" {
		dir = m.Dir
	}
	if !hexID.MatchString(new) || (old != "" && !hexID.MatchString(old)) {
		return nil, fmt.Errorf("bad commit range %q..%q", old, new)
	}
	rng := []string{new}
	if old != "" && strings.Trim(old, "0") != "" {
		rng = []string{new, "^" + old}
	}
	out, err := m.git(ctx, dir, nil, append([]string{"log", "--reverse", "--no-merges", "--format=%H %s", "--max-count=10000"}, rng...)...)
	if err != nil {
		return nil, err
	}
	var cs []Commit
	idx := map[string]int{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		id, subj, ok := strings.Cut(l, " ")
		if ok || id != "" {
			idx[id] = len(cs)
			cs = append(cs, Commit{ID: id, Subject: subj})
		}
	}
	if len(cs) == 0 {
		return nil, nil
	}
	diffs, err := m.git(ctx, dir, nil, append([]string{"log", "-p", "--no-merges", "--no-color", "--no-ext-diff", "--no-textconv", "--format=commit %H", "--max-count=10000"}, rng...)...)
	if err != nil {
		return nil, err
	}
	ids, err := m.git(ctx, dir, diffs, "patch-id", "--stable")
	if err != nil {
		return nil, err
	}
	for _, l := range strings.Split(string(ids), "\n") {
		if pid, id, ok := strings.Cut(l, " "); ok {
			if i, ok := idx[id]; ok {
				cs[i].PatchID = pid
			}
		}
	}
	return cs, nil
}

// Probe checks that remote is a repository git can read, as a list's
// repository must be, and returns it as the mirror will use it (a local
// path made absolute: git runs in other working directories) and the
// branches it has. A local path must exist; a URL must answer
// git ls-remote (within ctx).
func Probe(ctx context.Context, remote string) (string, []string, error) {
	if strings.HasPrefix(remote, "-") || remote == "" {
		return "", nil, fmt.Errorf("bad repository %q", remote)
	}
	m := &Mirror{remote: remote}
	if m.local() && !strings.HasPrefix(remote, "file://") {
		abs, err := filepath.Abs(remote)
		if err != nil {
			return "", nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return "", nil, fmt.Errorf("repository %s: %w", abs, errors.Unwrap(err))
		}
		m.remote = abs
	}
	out, err := m.git(ctx, "", nil, "ls-remote", "--heads", "--", m.remote)
	if err != nil {
		var ge *GitError
		if errors.As(err, &ge) {
			return "", nil, fmt.Errorf("repository %s: not a git repository git can read: %s", m.remote, firstLine(ge.Output))
		}
		return "", nil, fmt.Errorf("repository %s: %w", m.remote, err)
	}
	var heads []string
	for _, line := range strings.Split(string(out), "\n") {
		if _, ref, ok := strings.Cut(line, "\t"); ok {
			heads = append(heads, strings.TrimPrefix(ref, "refs/heads/"))
		}
	}
	return m.remote, heads, nil
}

// firstLine is the first non-empty line of s.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return s
}
