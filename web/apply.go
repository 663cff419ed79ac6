package web

import (
	"errors"
	"net/http"

	"patchwell/access"
	"patchwell/store"
)

// Applying a series from the web: POST /api/v1/series/{id}/apply (bearer
// token) and the series page's form (POST /series/{id}/apply, CSRF), for
// users with the Apply role (maintainer, owner, admin). Config.Apply does
// it (nil: 404).

// ApplyError is a refusal the applier words for the user: Status is the
// HTTP status (409 conflict or already applied, 422 refused path).
type ApplyError struct {
	Status int
	Msg    string
}

func (e *ApplyError) Error() string { return e.Msg }

func (h *Handler) applyRoutes() {
	h.mux.HandleFunc("POST /api/v1/series/{id}/apply", h.applyAPI)
	h.mux.HandleFunc("POST /series/{id}/apply", h.applyForm)
}

// apply checks access and applies; "" when it answered an error.
func (h *Handler) apply(w http.ResponseWriter, r *http.Request) (string, bool) {
	if h.cfg.Apply == nil {
		h.httpError(w, r, http.StatusNotFound, "this server does not apply series")
		return "", false
	}
	if h.noAccounts(w, r) {
		return "", false
	}
	s, _, u, ok := h.seriesFor(w, r, "id", access.Apply)
	if !ok {
		return "", false
	}
	reply, err := h.cfg.Apply(r.Context(), s.ID, u.Email)
	var ae *ApplyError
	switch {
	case errors.As(err, &ae):
		h.httpError(w, r, ae.Status, ae.Msg)
		return "", false
	case errors.Is(err, store.ErrNotFound):
		h.httpError(w, r, http.StatusNotFound, "the list has no repository to apply to")
		return "", false
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, invalidText(err))
		return "", false
	case err != nil:
		h.fail(w, r, "series", err)
		return "", false
	}
	return reply, true
}

func (h *Handler) applyAPI(w http.ResponseWriter, r *http.Request) {
	if reply, ok := h.apply(w, r); ok {
		writeJSON(w, http.StatusOK, map[string]any{"applied": true, "reply": reply})
	}
}

func (h *Handler) applyForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := h.apply(w, r); ok {
		http.Redirect(w, r, "/series/"+r.PathValue("id")+"/#status", http.StatusSeeOther)
	}
}
