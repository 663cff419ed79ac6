package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"patchwell/gitrepo"
	"patchwell/lists"
	"patchwell/review"
	"patchwell/store"
	"patchwell/web"
)

// applyWiring applies series for serve: the web page's button, the API
// (web.Config.Apply) and the X-Patchwell-Apply mail command
// (lists.Applier) all go through apply, so they do the same thing:
// gitrepo.Applier (git am -3, trailers, push, record, status applied),
// then the "Applied to BRANCH, thanks" reply archived in the thread and
// queued to the list, as `patchwell apply` does.
type applyWiring struct {
	st     store.Store
	svc    *review.Service
	data   string
	webURL string
	domain string
	log    *slog.Logger
}

// refusal is why a series was not applied, worded for whoever asked;
// code is the HTTP status the API answers.
type refusal struct {
	code int
	msg  string
}

func (r *refusal) Error() string { return r.msg }

// apply applies series id as by; a *refusal says why not.
func (a *applyWiring) apply(ctx context.Context, id int64, by string) (*gitrepo.Result, error) {
	// gitrepo refuses these too, in errors meant for the log; checked
	// here to answer them as refusals.
	se, err := a.st.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	switch {
	case se.PullURL != "":
		return nil, &refusal{http.StatusUnprocessableEntity, "the series is a pull request: fetch and merge it"}
	case !se.Complete:
		return nil, &refusal{http.StatusConflict, fmt.Sprintf("the series is incomplete (%d of %d patches received)", se.Received, se.Total)}
	}
	ap := &gitrepo.Applier{Store: a.st, Service: a.svc, DataDir: a.data, WebURL: a.webURL}
	r, err := ap.Apply(ctx, id, by)
	var conflict *gitrepo.Conflict
	var pathErr *gitrepo.PathError
	switch {
	case errors.Is(err, gitrepo.ErrAlreadyApplied):
		return nil, &refusal{http.StatusConflict, "the series is applied already"}
	case errors.As(err, &conflict):
		return nil, &refusal{http.StatusConflict, "nothing was pushed: " + conflict.Error()}
	case errors.As(err, &pathErr):
		return nil, &refusal{http.StatusUnprocessableEntity, "nothing was pushed: " + pathErr.Error()}
	case errors.Is(err, store.ErrNotFound):
		if _, rerr := a.st.ListRepo(ctx, se.List); errors.Is(rerr, store.ErrNotFound) {
			return nil, &refusal{http.StatusNotFound, "the list has no repository to apply to"}
		}
		return nil, err
	case err != nil:
		return nil, err
	}
	if err := sendApplied(ctx, a.st, r, by, a.domain); err != nil {
		a.log.Error("applied, but the reply was not queued", "series", id, "err", err)
	}
	return r, nil
}

// web is web.Config.Apply.
func (a *applyWiring) web(ctx context.Context, id int64, by string) (string, error) {
	r, err := a.apply(ctx, id, by)
	var rf *refusal
	if errors.As(err, &rf) {
		return "", &web.ApplyError{Status: rf.code, Msg: rf.msg}
	}
	if err != nil {
		return "", err
	}
	return r.Reply(), nil
}

// ApplySeries implements lists.Applier (the X-Patchwell-Apply command).
func (a *applyWiring) ApplySeries(ctx context.Context, id int64, by string) (string, error) {
	r, err := a.apply(ctx, id, by)
	var rf *refusal
	if errors.As(err, &rf) {
		return "", &lists.ApplyError{Msg: rf.msg}
	}
	if err != nil {
		return "", err
	}
	return r.Reply(), nil
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
