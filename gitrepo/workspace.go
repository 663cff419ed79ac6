package gitrepo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"

	"patchwell/ci"
	"patchwell/review"
	"patchwell/store"
)

// Workspace is CI's git half (ci.Workspace): a series applied with
// `git am -3` in a worktree of its list's mirror at the series' base, a
// worktree at each of its commits for per-patch checks, and the check
// definition read from the branch's ref in the mirror.
type Workspace struct {
	st      WorkspaceStore
	svc     *review.Service
	dataDir string
	webURL  string
	log     *slog.Logger
}

// WorkspaceStore is what a Workspace needs of the store.
type WorkspaceStore interface {
	RawReader
	Series(ctx context.Context, id int64) (*store.Series, error)
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
}

// WorkspaceConfig configures a Workspace.
type WorkspaceConfig struct {
	Store WorkspaceStore
	// Service gives a series with its patches, and their mbox.
	Service *review.Service
	// DataDir holds the mirrors (DATA/repos/LIST.git) and the worktrees
	// (WorkDir).
	DataDir string
	// WebURL is the web UI's address, for each commit's "Link:"
	// trailer (none when empty).
	WebURL string
	// Logger is told of a failed fetch before a definition is read.
	Logger *slog.Logger
}

// NewWorkspace returns a Workspace.
func NewWorkspace(cfg WorkspaceConfig) (*Workspace, error) {
	if cfg.Store == nil || cfg.Service == nil || cfg.DataDir == "" {
		return nil, errors.New("gitrepo: a workspace needs a store, a service and a data directory")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Workspace{st: cfg.Store, svc: cfg.Service, dataDir: cfg.DataDir, webURL: cfg.WebURL, log: log}, nil
}

// Prepare makes a worktree of the list's mirror (fetched first) at the
// series' base with the series applied by `git am -3`, after
// CheckPatches refused none of its paths, and VerifyCommits after; a
// series that does not apply or is refused is a result, not an error.
// Per-patch checks get a fresh worktree at each commit from the mirror
// (the commits git am made are in its objects): never git in a
// worktree a check has run in.
func (w *Workspace) Prepare(ctx context.Context, seriesID int64) (string, func(), ci.PrepareResult, error) {
	se, patches, err := w.svc.Series(ctx, seriesID)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	repo, err := w.st.ListRepo(ctx, se.List)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	m := Open(w.dataDir, se.List, repo)
	unlock, err := m.Lock(ctx)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	defer unlock()
	if err := m.Sync(ctx); err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	wt, err := m.Checkout(ctx, se.BaseCommit, repo.Branch)
	if err != nil {
		return "", nil, ci.PrepareResult{}, err
	}
	cleanup := func() { wt.Close() }
	res := ci.PrepareResult{Base: fmt.Sprintf("%s at %.12s", repo.Branch, wt.Base())}
	for _, p := range patches {
		res.Indexes = append(res.Indexes, p.Index)
	}
	fail := func(out string) (string, func(), ci.PrepareResult, error) {
		cleanup()
		res.Output = out
		return "", nil, res, nil
	}
	links, err := wt.Symlinks(ctx)
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	diffs, err := SeriesDiffs(ctx, w.st, se.List, patches)
	var pe *ParseError
	if errors.As(err, &pe) {
		return fail(fmt.Sprintf("patch %d does not parse: %v", pe.Patch, pe.Err))
	}
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	if _, err := CheckPatches(diffs, links); err != nil {
		return fail("refused before git saw it: " + err.Error())
	}
	var mbox bytes.Buffer
	if err := w.svc.SeriesMboxLinked(ctx, seriesID, w.webURL, &mbox); err != nil {
		cleanup()
		return "", nil, res, err
	}
	commits, err := wt.Apply(ctx, mbox.Bytes(), "patchwell CI", "ci@patchwell.invalid")
	var conflict *Conflict
	if errors.As(err, &conflict) {
		res.FailedPatch = conflict.Patch
		return fail(conflict.Error())
	}
	if err != nil {
		cleanup()
		return "", nil, res, err
	}
	if err := wt.VerifyCommits(ctx, commits); err != nil {
		return fail("refused after git am: " + err.Error())
	}
	res.Applied = true
	res.Output = fmt.Sprintf("applied %d patches on %s", len(commits), res.Base)
	res.Commits = commits
	res.Checkout = func(ctx context.Context, commit string) (string, func(), error) {
		unlock, err := m.Lock(ctx)
		if err != nil {
			return "", nil, err
		}
		defer unlock()
		pw, err := wt.At(ctx, commit)
		if err != nil {
			return "", nil, err
		}
		return pw.Dir(), func() { pw.Close() }, nil
	}
	return wt.Dir(), cleanup, res, nil
}

// Definition is the check of the series' list: the target branch's
// .patchwell.yml, read from the mirror's branch ref (a trusted ref;
// never from a worktree a series was applied in), else the list's check
// command. fetch fetches the mirror first (Prepare has, when the runner
// asks).
func (w *Workspace) Definition(ctx context.Context, seriesID int64, fetch bool) (*ci.Definition, error) {
	se, err := w.st.Series(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	repo, err := w.st.ListRepo(ctx, se.List)
	if err != nil {
		return nil, err
	}
	m := Open(w.dataDir, se.List, repo)
	unlock, err := m.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if fetch {
		// A failed fetch leaves the mirror as last fetched: still the
		// branch, only older; without a mirror BranchFile fails.
		if err := m.Sync(ctx); err != nil {
			w.log.Warn("ci: fetch for the check definition", "list", se.List, "err", err)
		}
	}
	b, commit, err := m.BranchFile(ctx, repo.Branch, ci.DefinitionFile, ci.MaxDefinitionSize)
	if errors.Is(err, ErrNoFile) {
		return ci.CommandDefinition(repo.Check, "the list's check command (no "+ci.DefinitionFile+" on "+repo.Branch+")"), nil
	}
	if errors.Is(err, ErrBadFile) {
		return nil, &ci.DefinitionError{File: ci.DefinitionFile, Msg: err.Error()}
	}
	if err != nil {
		return nil, err
	}
	def, err := ci.ParseDefinition(b)
	if err != nil {
		return nil, err
	}
	def.Source = fmt.Sprintf("%s on %s at %.12s", ci.DefinitionFile, repo.Branch, commit)
	return def, nil
}
