package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"

	"patchwell/review"
	"patchwell/store"
)

// RangeDiffer gives the revision diff page `git range-diff` between two
// revisions of a series on a list with a repository: each revision is
// applied with `git am -3` in a scratch worktree of the mirror (paths
// checked first, as for CI), and range-diff compares the two commit
// ranges. It implements review.RangeDiffer; results are kept per pair of
// series (the revisions do not change once complete).
type RangeDiffer struct {
	Store   RangeDiffStore
	Service *review.Service
	DataDir string

	mu    sync.Mutex
	cache map[[2]int64]string
}

var _ review.RangeDiffer = (*RangeDiffer)(nil)

// rangeDiffRepo is a Repo that compares two ranges of revisions (git's
// range-diff); a Mercurial list's revisions are compared by the diff of
// their diffs.
type rangeDiffRepo interface {
	Repo
	rangeDiff(ctx context.Context, older, newer string) ([]byte, error)
}

// rangeDiff is `git range-diff older newer` in the mirror.
func (m *Mirror) rangeDiff(ctx context.Context, older, newer string) ([]byte, error) {
	return m.git(ctx, m.Dir, nil, "range-diff", "--no-color", older, newer)
}

// RangeDiffStore is what a RangeDiffer needs of the store.
type RangeDiffStore interface {
	RawReader
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
}

// RangeDiff implements review.RangeDiffer: ok is false when the list has
// no repository or a revision does not apply, so the page falls back to
// the diff of diffs.
func (r *RangeDiffer) RangeDiff(ctx context.Context, older, newer *store.Series) (string, bool, error) {
	key := [2]int64{older.ID, newer.ID}
	r.mu.Lock()
	out, ok := r.cache[key]
	r.mu.Unlock()
	if ok {
		return out, true, nil
	}
	repo, err := r.Store.ListRepo(ctx, newer.List)
	if errors.Is(err, store.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	m, ok := Open(r.DataDir, newer.List, repo).(rangeDiffRepo)
	if !ok {
		return "", false, nil // the diff of diffs it is
	}
	unlock, err := m.Lock(ctx)
	if err != nil {
		return "", false, err
	}
	defer unlock()
	if err := m.Sync(ctx); err != nil {
		return "", false, err
	}
	var ranges [2]string
	for i, s := range []*store.Series{older, newer} {
		rg, ok, err := r.apply(ctx, m, repo.Branch, s)
		if err != nil || !ok {
			return "", false, err
		}
		ranges[i] = rg
	}
	b, err := m.rangeDiff(ctx, ranges[0], ranges[1])
	if err != nil {
		return "", false, err
	}
	out = string(b)
	r.mu.Lock()
	if r.cache == nil {
		r.cache = map[[2]int64]string{}
	}
	r.cache[key] = out
	r.mu.Unlock()
	return out, true, nil
}

// apply applies a revision in a scratch worktree and returns its commit
// range (base..head); the commits stay in the mirror's object store.
func (r *RangeDiffer) apply(ctx context.Context, m Repo, branch string, s *store.Series) (string, bool, error) {
	se, patches, err := r.Service.Series(ctx, s.ID)
	if err != nil {
		return "", false, err
	}
	if !se.Complete || len(patches) == 0 || se.PullURL != "" {
		return "", false, nil
	}
	wt, err := m.Checkout(ctx, se.BaseCommit, branch)
	if err != nil {
		return "", false, err
	}
	defer wt.Close()
	links, err := wt.Symlinks(ctx)
	if err != nil {
		return "", false, err
	}
	diffs, err := SeriesDiffs(ctx, r.Store, se.List, patches)
	var pe *ParseError
	if errors.As(err, &pe) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if _, err := CheckPatches(diffs, links); err != nil {
		return "", false, nil
	}
	var mbox bytes.Buffer
	if err := r.Service.SeriesMbox(ctx, s.ID, &mbox); err != nil {
		return "", false, err
	}
	commits, err := wt.Apply(ctx, mbox.Bytes(), "patchwell", "range-diff@patchwell.invalid")
	var conflict *Conflict
	if errors.As(err, &conflict) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	return fmt.Sprintf("%s..%s", wt.Base(), commits[len(commits)-1]), true, nil
}
