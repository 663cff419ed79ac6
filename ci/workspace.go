package ci

import "context"

// Workspace is the version-control half of CI for a server: it knows
// where a list's repository is mirrored and how to apply a series there.
// gitrepo.Workspace is the git one; nothing here is git's own, so that
// other systems can give the same.
type Workspace interface {
	// Prepare makes a working directory at the series' base with the
	// series applied, as PrepareFunc says (the mirror fetched first;
	// paths the patches touch checked before the tool sees them;
	// PrepareResult.Checkout set for per-patch checks). Note is left
	// to the Scheduler.
	Prepare(ctx context.Context, seriesID int64) (dir string, cleanup func(), res PrepareResult, err error)
	// Definition is the check of the series' list: the target branch's
	// DefinitionFile, read from the branch as last fetched (a trusted
	// ref, never a working directory a series was applied in), else the
	// list's check command (CommandDefinition); a malformed file is a
	// *DefinitionError. fetch fetches the branch first; a failed fetch
	// leaves the branch as last fetched.
	Definition(ctx context.Context, seriesID int64, fetch bool) (*Definition, error)
}
