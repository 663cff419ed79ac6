package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	"patchwell/access"
	"patchwell/store"
)

// The series page's revision picker: a link to each revision (v1..vN,
// the page's marked) and a form of two selects that asks for the
// range-diff of any two (GET /series/{id}/compare?from=A&to=B, which
// sends the reader to /series/A/diff/B/): no script needed.

// pickerRevision is one revision in the picker.
type pickerRevision struct {
	ID      int64
	Version int
	Label   string // v2, v2 RESEND ...
	Current bool
	From    bool // selected in the "from" select
	To      bool // selected in the "to" select
}

// revisionPicker is the template "revisionPicker"'s data; nil (no
// picker) for a series without other revisions.
type revisionPicker struct {
	SeriesID  int64
	Revisions []pickerRevision
}

// picker makes the picker of series s from its revision chain.
func (h *Handler) picker(ctx context.Context, s *store.Series) (*revisionPicker, error) {
	if s.Previous == 0 && s.SupersededBy == 0 {
		return nil, nil
	}
	chain, err := h.r.Revisions(ctx, s.ID)
	if err != nil || len(chain) < 2 {
		return nil, err
	}
	p := &revisionPicker{SeriesID: s.ID}
	cur := 0
	for i, r := range chain {
		if r.ID == s.ID {
			cur = i
		}
	}
	// From the previous revision to this one (the first: to the next).
	from, to := cur-1, cur
	if cur == 0 {
		from, to = 0, 1
	}
	for i, r := range chain {
		label := fmt.Sprintf("v%d", max(r.Version, 1))
		if r.Resend {
			label += " RESEND"
		}
		if r.RFC {
			label += " RFC"
		}
		p.Revisions = append(p.Revisions, pickerRevision{ID: r.ID, Version: r.Version, Label: label,
			Current: r.ID == s.ID, From: i == from, To: i == to})
	}
	return p, nil
}

func (h *Handler) pickerRoutes() {
	h.mux.HandleFunc("GET /series/{id}/compare", h.compare)
}

// compare serves the picker's form: a redirect to the range-diff of the
// two revisions chosen, which checks that each may be read and that they
// are revisions of one series.
func (h *Handler) compare(w http.ResponseWriter, r *http.Request) {
	_, _, _, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	q, err := query(r)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	from, err1 := strconv.ParseInt(q.Get("from"), 10, 64)
	to, err2 := strconv.ParseInt(q.Get("to"), 10, 64)
	switch {
	case err1 != nil || err2 != nil || from <= 0 || to <= 0:
		h.httpError(w, r, http.StatusBadRequest, "pick two revisions: from=ID&to=ID")
		return
	case from == to:
		h.httpError(w, r, http.StatusBadRequest, "pick two different revisions to compare")
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/series/%d/diff/%d/", from, to), http.StatusSeeOther)
}
