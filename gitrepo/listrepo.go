package gitrepo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"patchwell/store"
)

// RepoChange is a change to a list's repository settings (list create
// and list update): a nil field keeps its value.
type RepoChange struct {
	Repo, Branch, Check *string
	// VCS is git or hg; when a new repository is given without it, the
	// repository tells (Probe).
	VCS            *string
	FirstTimerGate *bool
}

// BadRepoError refuses a repository that git would take for an option,
// or a branch name git refuses.
type BadRepoError struct{ Repo, Branch string }

func (e *BadRepoError) Error() string {
	return fmt.Sprintf("bad repository %q or branch %q", e.Repo, e.Branch)
}

// RepoStore is what SetListRepo needs of the store.
type RepoStore interface {
	ListInfo(ctx context.Context, name string) (*store.List, error)
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
	SetListRepo(ctx context.Context, r store.ListRepo) error
}

// SetListRepo applies c to the repository settings of list (a list
// without any has branch main and the first-timer gate on) and stores
// them. When c gives the repository or the branch, the repository is
// probed (Probe, for at most a minute): a local path is stored absolute,
// and the branch must be one it has, unless it has none yet (the first
// push brings it). It returns the settings stored.
func SetListRepo(ctx context.Context, st RepoStore, list string, c RepoChange) (*store.ListRepo, error) {
	cur, err := st.ListRepo(ctx, list)
	if errors.Is(err, store.ErrNotFound) {
		if _, lerr := st.ListInfo(ctx, list); lerr != nil {
			return nil, lerr
		}
		cur, err = &store.ListRepo{List: list, Branch: "main", FirstTimerGate: true}, nil
	}
	if err != nil {
		return nil, err
	}
	set(&cur.Repo, c.Repo)
	set(&cur.Branch, c.Branch)
	set(&cur.Check, c.Check)
	set(&cur.FirstTimerGate, c.FirstTimerGate)
	switch {
	case c.VCS != nil:
		cur.VCS = *c.VCS
	case c.Repo != nil:
		cur.VCS = "" // a new repository says what it is
	}
	if cur.VCS != "" && cur.VCS != store.VCSGit && cur.VCS != store.VCSHg {
		return nil, fmt.Errorf("%w: unknown version control system %q (git or hg)", store.ErrInvalid, cur.VCS)
	}
	if strings.HasPrefix(cur.Repo, "-") || !store.ValidBranch(cur.Branch) {
		return nil, &BadRepoError{cur.Repo, cur.Branch}
	}
	if (c.Repo != nil || c.Branch != nil || c.VCS != nil) && cur.Repo != "" {
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		repo, vcs, heads, err := ProbeVCS(pctx, cur.Repo, cur.VCS)
		cancel()
		if err != nil {
			return nil, err
		}
		if vcs == store.VCSHg && c.Branch == nil && cur.Branch == "main" && !slices.Contains(heads, "main") {
			cur.Branch = "default" // Mercurial's branch, where git's would be main
		}
		cur.Repo, cur.VCS = repo, vcs
		if len(heads) > 0 && !slices.Contains(heads, cur.Branch) {
			if len(heads) > 5 {
				heads = append(heads[:5], "...")
			}
			return nil, fmt.Errorf("repository %s has no branch %s (it has %s)", repo, cur.Branch, strings.Join(heads, ", "))
		}
	}
	if err := st.SetListRepo(ctx, *cur); err != nil {
		return nil, err
	}
	return cur, nil
}

// set sets *v to *to, when to is not nil.
func set[T any](v *T, to *T) {
	if to != nil {
		*v = *to
	}
}
