package web

import (
	"context"
	"errors"
	"net/http"

	"patchwell/access"
	"patchwell/store"
)

// The maintainer's go-ahead for CI on a first-time contributor's series:
// POST /api/v1/series/{id}/ci/release (bearer token) and the series
// page's button (POST /series/{id}/ci/release, CSRF). Both need the
// SetStatus role on the list; Config.CIRelease does it (nil: 404).

func (h *Handler) ciReleaseRoutes() {
	h.mux.HandleFunc("POST /api/v1/series/{id}/ci/release", h.ciReleaseAPI)
	h.mux.HandleFunc("POST /series/{id}/ci/release", h.ciReleaseForm)
}

// ciRelease checks access and releases; false when it answered.
func (h *Handler) ciRelease(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.CIRelease == nil {
		h.httpError(w, r, http.StatusNotFound, "CI is not run by this server")
		return false
	}
	return h.ciJob(w, r, h.cfg.CIRelease, "no CI job waits for a go-ahead on this series",
		"the series' CI job is not waiting for a go-ahead")
}

// ciJob is a maintainer's action on a series' CI job (release, re-run):
// it checks the reader may (SetStatus on the list), runs act, and
// answers act's store.ErrNotFound and store.ErrConflict with 404
// notFound and 409 conflict; false when it answered.
func (h *Handler) ciJob(w http.ResponseWriter, r *http.Request, act func(context.Context, int64) error, notFound, conflict string) bool {
	if h.noAccounts(w, r) {
		return false
	}
	s, _, _, ok := h.seriesFor(w, r, "id", access.SetStatus)
	if !ok {
		return false
	}
	err := act(r.Context(), s.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.httpError(w, r, http.StatusNotFound, notFound)
		return false
	case errors.Is(err, store.ErrConflict):
		h.httpError(w, r, http.StatusConflict, conflict)
		return false
	case err != nil:
		h.fail(w, r, "series", err)
		return false
	}
	return true
}

func (h *Handler) ciReleaseAPI(w http.ResponseWriter, r *http.Request) {
	if h.ciRelease(w, r) {
		writeJSON(w, http.StatusOK, map[string]any{"released": true})
	}
}

func (h *Handler) ciReleaseForm(w http.ResponseWriter, r *http.Request) {
	if h.ciRelease(w, r) {
		http.Redirect(w, r, "/series/"+r.PathValue("id")+"/#checks", http.StatusSeeOther)
	}
}
