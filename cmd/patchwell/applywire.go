package main

import (
	"errors"

	"patchwell/gitrepo"
	"patchwell/web"
)

// pathFlags is web.Config.PathFlags: gitrepo.CheckPatches without the
// base tree (the symbolic links it holds are checked when applying).
func pathFlags(diffs []string) ([]web.PathFlag, error) {
	flags, err := gitrepo.CheckPatches(diffs, nil)
	var pe *gitrepo.PathError
	if errors.As(err, &pe) {
		return []web.PathFlag{{Patch: pe.Patch, Path: pe.Path, Reason: pe.Reason, Refused: true}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]web.PathFlag, len(flags))
	for i, f := range flags {
		out[i] = web.PathFlag{Patch: f.Patch, Path: f.Path, Reason: f.Reason}
	}
	return out, nil
}
