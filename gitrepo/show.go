package gitrepo

import (
	"context"
	"errors"
	"fmt"
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
	// `git show COMMIT:PATH` would do; cat-file lets us check the type
	// and the size before reading.
	obj := commit + ":" + path
	out, err := m.git(ctx, m.Dir, nil, "cat-file", "-t", obj)
	if err != nil {
		return nil, commit, ErrNoFile
	}
	if t := strings.TrimSpace(string(out)); t != "blob" {
		return nil, commit, fmt.Errorf("%w: a %s, not a file", ErrBadFile, t)
	}
	out, err = m.git(ctx, m.Dir, nil, "cat-file", "-s", obj)
	if err != nil {
		return nil, commit, err
	}
	size, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	if err != nil {
		return nil, commit, fmt.Errorf("size of %s: %w", path, err)
	}
	if size > max {
		return nil, commit, fmt.Errorf("%w: %d bytes, larger than %d", ErrBadFile, size, max)
	}
	out, err = m.git(ctx, m.Dir, nil, "cat-file", "blob", obj)
	if err != nil {
		return nil, commit, err
	}
	return out, commit, nil
}
