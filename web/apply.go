package web

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// Applying a series from the web: POST /api/v1/series/{id}/apply (bearer
// token) and the series page's "Apply to BRANCH" button (POST
// /series/{id}/apply, CSRF), for users with the Apply role (maintainer,
// owner, admin). Config.Apply does it (nil: 404). The button shows on
// lists with a repository (the Reader's RepoReader) for series not applied
// yet; the series page then shows the commits (AppliedSeries), and a
// refusal (conflict, refused path, applied already) is a page of its
// own, the message in full.
//
// The series page also shows the paths Config.PathFlags marks: files
// that change how git or CI treats the tree (.gitmodules,
// .gitattributes, CI definitions), symbolic links made or retargeted
// (with their targets), names with invisible or direction-changing
// characters, and paths apply refuses; GET /api/v1/series/{id} gives
// them as "flags".

// refusal is an applier's refusal (gitrepo.Refusal), worded for the
// user, and its status: 409 for store.ErrConflict (applied already,
// incomplete, a patch that does not apply), 422 for store.ErrInvalid (a
// refused path, a pull request), 404 for store.ErrNotFound (no
// repository). Anything else is a fault.
type refusal struct {
	Status int
	Msg    string
}

func refusalOf(err error) *refusal {
	switch {
	case errors.Is(err, store.ErrConflict):
		return &refusal{http.StatusConflict, err.Error()}
	case errors.Is(err, store.ErrInvalid):
		return &refusal{http.StatusUnprocessableEntity, err.Error()}
	case errors.Is(err, store.ErrNotFound):
		return &refusal{http.StatusNotFound, err.Error()}
	}
	return nil
}

// PathFlag is a file of a series a reviewer should look at before
// applying it; Refused: apply and CI refuse the series because of it.
type PathFlag struct {
	Patch   int // 1-based
	Path    string
	Reason  string
	Refused bool
}

func (h *Handler) applyRoutes() {
	h.mux.HandleFunc("POST /api/v1/series/{id}/apply", h.applyAPI)
	h.mux.HandleFunc("POST /series/{id}/apply", h.applyForm)
}

// apply checks access and applies; false when it answered an error
// (a refusal is returned for the form to show).
func (h *Handler) apply(w http.ResponseWriter, r *http.Request) (string, *store.Series, *refusal, bool) {
	if h.cfg.Apply == nil {
		h.httpError(w, r, http.StatusNotFound, "this server does not apply series")
		return "", nil, nil, false
	}
	if h.noAccounts(w, r) {
		return "", nil, nil, false
	}
	s, _, u, ok := h.seriesFor(w, r, "id", access.Apply)
	if !ok {
		return "", nil, nil, false
	}
	reply, err := h.cfg.Apply(r.Context(), s.ID, u.Email)
	if rf := refusalOf(err); rf != nil {
		return "", s, rf, false
	}
	switch {
	case err != nil:
		h.fail(w, r, "series", err)
		return "", s, nil, false
	}
	return reply, s, nil, true
}

func (h *Handler) applyAPI(w http.ResponseWriter, r *http.Request) {
	reply, _, ae, ok := h.apply(w, r)
	switch {
	case ae != nil:
		h.httpError(w, r, ae.Status, ae.Msg)
	case ok:
		writeJSON(w, http.StatusOK, map[string]any{"applied": true, "reply": reply})
	}
}

// applyFailed is the page a refused apply from the form shows: the
// whole message (a conflict's hunks with their markers), preformatted.
type applyFailed struct {
	Code   int
	Status string
	S      *store.Series
	Msg    string
}

func (h *Handler) applyForm(w http.ResponseWriter, r *http.Request) {
	_, s, ae, ok := h.apply(w, r)
	switch {
	case ae != nil && prefersHTML(r.Header.Get("Accept")):
		w.Header().Add("Vary", "Accept")
		h.renderStatus(w, r, ae.Status, "applyfailed.html", applyFailed{Code: ae.Status, Status: http.StatusText(ae.Status), S: s, Msg: visible(ae.Msg)})
	case ae != nil:
		h.httpError(w, r, ae.Status, ae.Msg)
	case ok:
		http.Redirect(w, r, "/series/"+r.PathValue("id")+"/#apply", http.StatusSeeOther)
	}
}

// applyBlock is the series page's "Apply" section.
type applyBlock struct {
	// Branch is the list's target branch; "" when it has no repository
	// (or the page cannot say).
	Branch string
	// CanApply: the button shows (the reader may apply, the series is
	// complete, not a pull request and not applied).
	CanApply bool
	CSRF     string
	Applied  *appliedView
}

type appliedView struct {
	Branch, By string
	At         time.Time
	Commits    []appliedCommit
}

type appliedCommit struct {
	Index   int
	Subject string
	ID      string
}

// seriesApply fills the series page's Apply section.
func (h *Handler) seriesApply(r *http.Request, s *store.Series, patches []store.Patch, l *store.List) (applyBlock, error) {
	var b applyBlock
	ctx := r.Context()
	a, err := h.r.AppliedSeries(ctx, s.ID)
	switch {
	case err == nil:
		v := &appliedView{Branch: a.Branch, By: a.By, At: a.AppliedAt}
		for i, c := range a.Commits {
			ac := appliedCommit{Index: i + 1, ID: c}
			if i < len(patches) {
				ac.Subject = patches[i].CommitSubject
			}
			v.Commits = append(v.Commits, ac)
		}
		b.Applied = v
	case !errors.Is(err, store.ErrNotFound):
		return b, err
	}
	repo, err := h.r.ListRepo(ctx, s.List)
	if errors.Is(err, store.ErrNotFound) {
		return b, nil
	}
	if err != nil {
		return b, err
	}
	b.Branch = repo.Branch
	if h.cfg.Apply == nil || h.acc == nil || b.Applied != nil || s.Status == store.StatusApplied ||
		!s.Complete || s.PullURL != "" {
		return b, nil
	}
	subj, err := h.subject(r, l)
	if err != nil {
		return b, err
	}
	if subj.User != nil && access.Allowed(subj, l, access.Apply) {
		b.CanApply, b.CSRF = true, h.csrfToken(r)
	}
	return b, nil
}

// seriesFlags checks a series' diffs (by patch index) with
// Config.PathFlags; the same file named twice (old and new name) is
// flagged once. The paths and reasons are as PathFlags gives them (the
// API's); the page shows them with flagsVisible. The string says why
// the diffs could not be checked.
func (h *Handler) seriesFlags(patches []store.Patch, diffs map[int]string) ([]PathFlag, string) {
	if h.cfg.PathFlags == nil || len(patches) == 0 {
		return nil, ""
	}
	in := make([]string, len(patches))
	for i, p := range patches {
		in[i] = diffs[p.Index]
	}
	flags, err := h.cfg.PathFlags(in)
	if err != nil {
		return nil, err.Error()
	}
	seen := map[PathFlag]bool{}
	var out []PathFlag
	for _, f := range flags {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out, ""
}

// flagsVisible is how the page shows flags: as written, with what would
// hide or reorder text made visible (<U+202E>) and line breaks escaped.
func flagsVisible(flags []PathFlag) []PathFlag {
	out := make([]PathFlag, len(flags))
	for i, f := range flags {
		path := strings.NewReplacer("\n", `\n`, "\r", `\r`, "\t", `\t`).Replace(f.Path)
		out[i] = PathFlag{Patch: f.Patch, Path: visible(path), Reason: visible(f.Reason), Refused: f.Refused}
	}
	return out
}
