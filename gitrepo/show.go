package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ErrNoFile means the branch has no such file; ErrBadFile that it is
// not a regular file or too large.
var (
	ErrNoFile  = errors.New("no such file on the branch")
	ErrBadFile = errors.New("unusable file")
)

// BranchFile returns the file at path on the mirror's branch (its
// refs/heads/ ref, as last fetched: a trusted ref, never a worktree a
// patch was applied in), the commit it was read at, and ErrNoFile when
// the branch has no such file. A blob larger than max bytes is an
// error (ErrBadFile).
func (m *Mirror) BranchFile(ctx context.Context, branch, path string, max int64) ([]byte, string, error) {
	if strings.HasPrefix(branch, "-") || strings.ContainsAny(branch, ":\x00") || strings.Contains(path, "\x00") {
		return nil, "", fmt.Errorf("bad branch %q or path %q", branch, path)
	}
	commit, err := m.Resolve(ctx, "refs/heads/"+branch)
	if err != nil {
		return nil, "", fmt.Errorf("branch %s: %w", branch, err)
	}
	out, err := m.blob(ctx, commit, path, max)
	return out, commit, err
}

// File returns the file at path in commit (a full commit id, as a
// series' base-commit: names it), for showing the lines a diff leaves
// out. The path comes from a patch, so it is untrusted: it must be
// relative, clean (no "." or ".." component, no empty one), free of
// control characters, and not inside .git; it is read with git cat-file
// as commit:path, which names a blob of that commit's tree and nothing
// outside the repository. ErrNoFile when the mirror lacks the commit or
// the commit the file; ErrBadFile when the path is refused or names no
// regular file, or the blob is larger than max bytes.
func (m *Mirror) File(ctx context.Context, commit, path string, max int64) ([]byte, error) {
	if !fullID.MatchString(commit) {
		return nil, fmt.Errorf("%w: commit %q is not a full commit id", ErrBadFile, commit)
	}
	if why := badPath(path); why != "" {
		return nil, fmt.Errorf("%w: path %q: %s", ErrBadFile, path, why)
	}
	if _, err := m.git(ctx, m.Dir, nil, "cat-file", "-e", commit+"^{commit}"); err != nil {
		return nil, ErrNoFile
	}
	return m.blob(ctx, commit, path, max)
}

// fullID is a full SHA-1 or SHA-256 object id.
var fullID = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// blob reads the regular file at path in commit, at most max bytes.
func (m *Mirror) blob(ctx context.Context, commit, path string, max int64) ([]byte, error) {
	// `git show COMMIT:PATH` would do; cat-file lets us check the type
	// and the size before reading.
	obj := commit + ":" + path
	out, err := m.git(ctx, m.Dir, nil, "cat-file", "-t", obj)
	if err != nil {
		return nil, ErrNoFile
	}
	if t := strings.TrimSpace(string(out)); t != "blob" {
		return nil, fmt.Errorf("%w: a %s, not a file", ErrBadFile, t)
	}
	out, err = m.git(ctx, m.Dir, nil, "cat-file", "-s", obj)
	if err != nil {
		return nil, err
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("size of %s: %w", path, err)
	}
	if size > max {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d", ErrBadFile, size, max)
	}
	return m.git(ctx, m.Dir, nil, "cat-file", "blob", obj)
}
