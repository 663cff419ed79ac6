package web

import (
	"context"
	"net/http"
	"regexp"
	"strings"

	"patchwell/store"
)

// CIRerunner queues a series' CI job again: a maintainer's "re-run the
// checks" (ci.Scheduler; server/wire.go proves it).
type CIRerunner interface {
	// Rerun queues the series' finished job again; store.ErrNotFound
	// when the series has no CI job, store.ErrConflict when its job is
	// queued, running or waiting for a go-ahead.
	Rerun(ctx context.Context, seriesID int64) error
}

// Re-running a series' checks: POST /api/v1/series/{id}/ci/rerun
// (bearer token) and the series page's button (POST
// /series/{id}/ci/rerun, CSRF as every form). Both need the SetStatus
// role on the list (maintainers, owners, admins); Config.CIRerun does
// it (nil: 404).

func (h *Handler) ciRerunRoutes() {
	h.mux.HandleFunc("POST /api/v1/series/{id}/ci/rerun", h.ciRerunAPI)
	h.mux.HandleFunc("POST /series/{id}/ci/rerun", h.ciRerunForm)
}

// ciRerun checks access and queues the job again; false when it
// answered.
func (h *Handler) ciRerun(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.CIRerun == nil {
		h.httpError(w, r, http.StatusNotFound, "CI is not run by this server")
		return false
	}
	return h.ciJob(w, r, h.cfg.CIRerun.Rerun, "CI has not run this series: there is nothing to run again",
		"the series' CI job is already queued, running or waiting for a go-ahead")
}

func (h *Handler) ciRerunAPI(w http.ResponseWriter, r *http.Request) {
	if h.ciRerun(w, r) {
		writeJSON(w, http.StatusAccepted, map[string]any{"queued": true})
	}
}

func (h *Handler) ciRerunForm(w http.ResponseWriter, r *http.Request) {
	if h.ciRerun(w, r) {
		http.Redirect(w, r, "/series/"+r.PathValue("id")+"/#checks", http.StatusSeeOther)
	}
}

// canRerun says whether the series page offers the re-run button: CI
// runs here, the reader may set the status, and CI has finished with the
// series (its own checks are there, none pending).
func (h *Handler) canRerun(d *seriesPage, cs []store.Check) bool {
	if h.cfg.CIRerun == nil || !d.Status.CanSet {
		return false
	}
	ran := false
	for _, c := range cs {
		if !strings.HasPrefix(c.Context, ciContextPrefix) {
			continue
		}
		if c.State == store.CheckPending {
			return false
		}
		ran = true
	}
	return ran
}

// ciContextPrefix starts the contexts of patchwell's own CI (package ci:
// patchwell/apply, patchwell/check).
const ciContextPrefix = "patchwell/"

// sandboxCommit finds the commit CI made applying a patch in its
// scratch worktree, in the description of a patchwell/apply check
// ("applied as 0123456789ab"): that commit is not on any branch.
var sandboxCommit = regexp.MustCompile(`^applied as ([0-9a-f]{7,40})$`)
