package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// The maintainer's workload on the web: a series (or one of its
// patches) delegated to a maintainer of its list, from the series page
// (delegate.go) and, for many series at once with their status and
// archived flag, from the list page (bulk.go); the account's choice to
// be mailed of status changes of one's series (package notify mails
// them).

// Workload is what these pages need of the store (store.DB).
type Workload interface {
	// ListMaintainers are the users with a role on a list: whom a
	// series of it may be delegated to.
	ListMaintainers(ctx context.Context, list string) ([]store.User, error)
	// SeriesWork is the delegate and archived flag of these series.
	SeriesWork(ctx context.Context, ids []int64) (map[int64]store.SeriesWork, error)
	// Delegate delegates a series' patches (patchID 0) or one of them;
	// delegate 0 clears it. store.ErrInvalid, worded for the user, for
	// someone who cannot be a delegate; store.ErrNotFound for a patch
	// not of the series.
	Delegate(ctx context.Context, seriesID, patchID, delegate, by int64, at time.Time) error
	ArchiveSeries(ctx context.Context, seriesID int64, archived bool) error
	// StatusMail and SetStatusMail: whether the user is mailed when a
	// series of theirs changes status.
	StatusMail(ctx context.Context, userID int64) (bool, error)
	SetStatusMail(ctx context.Context, userID int64, on bool) error
}

func (h *Handler) workloadRoutes() {
	h.mux.HandleFunc("POST /series/{id}/delegate", h.delegateForm)
	h.mux.HandleFunc("POST /{list}/bulk", h.bulkForm)
	h.mux.HandleFunc("POST /account/notifications", h.statusMailForm)
}

// choice is an option of a select.
type choice struct {
	Value, Label string
	Selected     bool
}

// delegateView is the series page's delegation block: the delegate for
// every reader, the form for those who may set the status.
type delegateView struct {
	SeriesID int64
	Delegate string // who, "" for nobody
	Mixed    bool   // some patches have another delegate, or none
	Archived bool
	CanSet   bool
	CSRF     string
	People   []choice // the list's maintainers
	Patches  []choice // "the whole series" and each patch
}

// userLabel is how a page names an account.
func userLabel(name, email string) string {
	if name = strings.TrimSpace(visible(name)); name != "" {
		return name + " <" + email + ">"
	}
	return email
}

// delegateBlock builds the series page's delegation block; nil without
// the workload or when there is nothing to show.
func (h *Handler) delegateBlock(r *http.Request, s *store.Series, patches []store.Patch, l *store.List, canSet bool) (*delegateView, error) {
	if h.cfg.Workload == nil {
		return nil, nil
	}
	ws, err := h.cfg.Workload.SeriesWork(r.Context(), []int64{s.ID})
	if err != nil {
		return nil, err
	}
	w := ws[s.ID]
	v := &delegateView{SeriesID: s.ID, Mixed: w.Mixed, Archived: w.Archived, CanSet: canSet && h.acc != nil, CSRF: h.csrfToken(r)}
	if w.Delegate != nil {
		v.Delegate = userLabel(w.Delegate.Name, w.Delegate.Email)
	}
	if !v.CanSet {
		if v.Delegate == "" && !v.Archived {
			return nil, nil
		}
		return v, nil
	}
	ms, err := h.cfg.Workload.ListMaintainers(r.Context(), l.Name)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		v.People = append(v.People, choice{strconv.FormatInt(m.ID, 10), userLabel(m.Name, m.Email), !w.Mixed && m.ID == w.DelegateID})
	}
	if len(patches) > 1 {
		v.Patches = append(v.Patches, choice{"", "the whole series", true})
		for _, p := range patches {
			v.Patches = append(v.Patches, choice{Value: strconv.FormatInt(p.ID, 10),
				Label: fmt.Sprintf("patch %d/%d: %s", p.Index, s.Total, visible(p.Subject))})
		}
	}
	return v, nil
}

// idField reads an optional positive id from a form field ("" is 0).
func idField(r *http.Request, name string) (int64, error) {
	s := strings.TrimSpace(r.PostFormValue(name))
	if s == "" || s == "none" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("bad %s %q: want an account's number from the form", name, s)
	}
	return id, nil
}

// delegateForm serves POST /series/{id}/delegate: the series page's
// form, delegate (a user id, "" for nobody) and patch (a patch of the
// series, "" for all of them). Who may set the status may delegate.
func (h *Handler) delegateForm(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Workload == nil {
		h.notFound(w, r)
		return
	}
	if h.noAccounts(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	s, _, _, ok := h.seriesFor(w, r, "id", access.SetStatus)
	if !ok {
		return
	}
	who, err := idField(r, "delegate")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	patch, err := idField(r, "patch")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if err := h.cfg.Workload.Delegate(r.Context(), s.ID, patch, who, actorID(h.currentUser(r)), time.Now()); err != nil {
		h.workloadError(w, r, err)
		return
	}
	h.log.Info("delegated", "series", s.ID, "patch", patch, "delegate", who, "by", h.currentUser(r).ID)
	http.Redirect(w, r, fmt.Sprintf("/series/%d/#delegate", s.ID), http.StatusSeeOther)
}

// workloadError answers an error of a Workload write.
func (h *Handler) workloadError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, invalidText(err))
	case errors.Is(err, store.ErrNotFound):
		h.httpError(w, r, http.StatusNotFound, "no such patch in this series")
	default:
		h.fail(w, r, "series", err)
	}
}

// statusMailForm serves POST /account/notifications: the account page's
// checkbox "mail me when a series of mine changes status".
func (h *Handler) statusMailForm(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	if h.cfg.Workload == nil {
		h.notFound(w, r)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	var on bool
	switch v := r.PostFormValue("status_mail"); v {
	case "":
	case "1":
		on = true
	default:
		h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bad status_mail %q: 1 or nothing", v))
		return
	}
	if err := h.cfg.Workload.SetStatusMail(r.Context(), u.ID, on); err != nil {
		h.fail(w, r, "account", err)
		return
	}
	http.Redirect(w, r, "/account#notifications", http.StatusSeeOther)
}

// statusMail is the account page's setting: whether it is shown (not
// without the workload) and its value.
func (h *Handler) statusMail(ctx context.Context, u *store.User) (shown, on bool, err error) {
	if h.cfg.Workload == nil {
		return false, false, nil
	}
	on, err = h.cfg.Workload.StatusMail(ctx, u.ID)
	return true, on, err
}

// seriesWork returns the delegates and archived flags of a page's
// series (nil without the workload).
func (h *Handler) seriesWork(ctx context.Context, rows []store.SeriesRow) (map[int64]store.SeriesWork, error) {
	if h.cfg.Workload == nil || len(rows) == 0 {
		return nil, nil
	}
	ids := make([]int64, len(rows))
	for i, s := range rows {
		ids[i] = s.ID
	}
	return h.cfg.Workload.SeriesWork(ctx, ids)
}

// actorID is the id of who acts (0 for nobody signed in).
func actorID(u *store.User) int64 {
	if u == nil {
		return 0
	}
	return u.ID
}
