package main

import (
	"context"
	"errors"
	"net/http"

	"patchwell/gitrepo"
	"patchwell/store"
	"patchwell/web"
)

// webApply is web.Config.Apply: the one apply service, its refusal as
// the web's *ApplyError (409 conflict, applied already or incomplete;
// 422 a refused path or a pull request; 404 no repository).
func webApply(ap *gitrepo.Applier) func(ctx context.Context, id int64, by string) (string, error) {
	return func(ctx context.Context, id int64, by string) (string, error) {
		reply, err := ap.ApplySeries(ctx, id, by)
		var rf *gitrepo.Refusal
		if errors.As(err, &rf) {
			status := http.StatusConflict
			switch {
			case errors.Is(rf.Kind, store.ErrInvalid):
				status = http.StatusUnprocessableEntity
			case errors.Is(rf.Kind, store.ErrNotFound):
				status = http.StatusNotFound
			}
			return "", &web.ApplyError{Status: status, Msg: rf.Msg}
		}
		return reply, err
	}
}

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
