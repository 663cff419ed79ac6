package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"patchwell/store"
)

// Limits of BaseFiles.
const (
	maxBaseFile    = 4 << 20          // bytes of one file
	baseFetchEvery = time.Minute      // a list's mirror is fetched for it at most this often
	baseFetchTime  = 30 * time.Second // and for at most this long
)

// BaseFiles reads a file at a series' base commit from the mirror of its
// list's repository (Mirror.File checks the path), for the series page's
// context lines (the server gives File to web.Config.BaseFile). A mirror that lacks the commit (not cloned yet, or fetched
// before the series' base was pushed) is fetched, at most once a minute
// per list, under its lock.
type BaseFiles struct {
	applier *Applier

	mu      sync.Mutex
	fetched map[string]time.Time // list -> last fetch for a reader
}

// NewBaseFiles reads files through a's mirrors.
func NewBaseFiles(a *Applier) *BaseFiles { return &BaseFiles{applier: a} }

// File returns path at commit in the mirror of list's repository;
// store.ErrNotFound when the list has no repository, the commit or the
// file is not there, or the path is refused.
func (b *BaseFiles) File(ctx context.Context, list, commit, path string) ([]byte, error) {
	m, _, err := b.applier.Mirror(ctx, list)
	if err != nil {
		return nil, err // store.ErrNotFound: no repository
	}
	data, err := m.File(ctx, commit, path, maxBaseFile)
	if errors.Is(err, ErrNoFile) && b.mayFetch(list) {
		if ferr := b.fetch(ctx, m); ferr != nil {
			return nil, fmt.Errorf("fetch the repository of %s: %w", list, ferr)
		}
		data, err = m.File(ctx, commit, path, maxBaseFile)
	}
	if errors.Is(err, ErrNoFile) || errors.Is(err, ErrBadFile) {
		return nil, fmt.Errorf("%w: %v", store.ErrNotFound, err)
	}
	return data, err
}

// mayFetch reports whether list's mirror may be fetched now, and notes
// that it is.
func (b *BaseFiles) mayFetch(list string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.fetched == nil {
		b.fetched = map[string]time.Time{}
	}
	if time.Since(b.fetched[list]) < baseFetchEvery {
		return false
	}
	b.fetched[list] = time.Now()
	return true
}

func (b *BaseFiles) fetch(ctx context.Context, m Repo) error {
	ctx, cancel := context.WithTimeout(ctx, baseFetchTime)
	defer cancel()
	unlock, err := m.Lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	return m.Sync(ctx)
}
