package gitrepo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"patchwell/store"
)

// Repo is a list's repository as patchwell keeps it: a mirror in the
// data directory, of a git repository (Mirror) or a Mercurial one
// (HgMirror). Apply, CI's Workspace, BaseFiles and the applied-on-push
// checks work through it alone; Open picks the system the list's
// repository uses.
type Repo interface {
	// Remote is the repository mirrored: a URL or a local path.
	Remote() string
	// Lock takes the mirror's lock (one job at a time per mirror, across
	// processes); the returned func releases it.
	Lock(ctx context.Context) (func(), error)
	// Sync makes the mirror when there is none, else brings it up to
	// date with the repository.
	Sync(ctx context.Context) error
	// Resolve returns the full id of the revision rev names.
	Resolve(ctx context.Context, rev string) (string, error)
	// BranchHead is the revision at the head of branch in the mirror.
	BranchHead(ctx context.Context, branch string) (string, error)
	// Checkout makes a scratch working copy at base (a series' base)
	// when the mirror has it, else at the head of branch.
	Checkout(ctx context.Context, base, branch string) (Checkout, error)
	// Commits returns old..new's changes (all of new's history when old
	// is empty or zeros), oldest first, with their patch-ids, in the
	// repository at dir (the mirror when "").
	Commits(ctx context.Context, dir, old, new string) ([]Commit, error)
	// BranchFile returns path at the head of branch, and that head.
	BranchFile(ctx context.Context, branch, path string, max int64) ([]byte, string, error)
	// File returns path at commit.
	File(ctx context.Context, commit, path string, max int64) ([]byte, error)
}

// Checkout is a scratch working copy of a Repo, made at a revision.
// Once a check ran in it, it is hostile: Close deletes it without
// running the VCS inside it.
type Checkout interface {
	Dir() string
	// Base is the revision it was made at.
	Base() string
	Close() error
	// Symlinks are the paths of the symbolic links of its base.
	Symlinks(ctx context.Context) (map[string]bool, error)
	// Apply commits an mboxrd's patches in order, as name <email>
	// with the mails' authors and dates, and returns the new
	// revisions, oldest first; a *Conflict when one does not apply
	// (nothing is left committed).
	Apply(ctx context.Context, mbox []byte, name, email string) ([]string, error)
	// VerifyCommits refuses (a *PathError) revisions whose files leave
	// the tree or are otherwise unsafe.
	VerifyCommits(ctx context.Context, commits []string) error
	// At makes a fresh checkout at one of the revisions Apply made, for a
	// check of that patch alone, without running the VCS in this one
	// (a check may have run in it); the mirror's lock must be held.
	At(ctx context.Context, rev string) (Checkout, error)
	// Head is the revision the working copy is at.
	Head(ctx context.Context) (string, error)
	// Push pushes the working copy's head to branch of the repository,
	// without force; the mirror follows.
	Push(ctx context.Context, branch string) error
}

// Open returns the mirror of list's repository repo in dataDir.
func Open(dataDir, list string, repo *store.ListRepo) Repo {
	if repo.VCS == store.VCSHg {
		return NewHgMirror(dataDir, list, repo.Repo)
	}
	return NewMirror(dataDir, list, repo.Repo)
}

var (
	_ Repo     = (*Mirror)(nil)
	_ Checkout = (*Worktree)(nil)
)

// startCheckout is where a checkout of r starts: the revision (base when
// the mirror has it, else the head of branch) and a new scratch
// directory in work named after the list.
func startCheckout(ctx context.Context, r Repo, base, branch, work, list string) (string, string, error) {
	rev := ""
	if hexID.MatchString(base) {
		rev, _ = r.Resolve(ctx, base)
	}
	if rev == "" {
		head, err := r.BranchHead(ctx, branch)
		if err != nil {
			return "", "", fmt.Errorf("branch %s: %w", branch, err)
		}
		rev = head
	}
	if err := os.MkdirAll(work, 0o750); err != nil {
		return "", "", err
	}
	dir, err := os.MkdirTemp(work, list+"-")
	return rev, dir, err
}

// mirrorPath is where list's mirror lives in dataDir, ext its system's.
func mirrorPath(dataDir, list, ext string) string {
	return filepath.Join(dataDir, "repos", list+ext)
}
