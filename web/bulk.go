package web

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// maxBulk bounds the series one bulk action changes (a list page shows
// listPageSize).
const maxBulk = 200

// bulkForm is the list page's form for maintainers: the series ticked
// in the table, and what to do with them.
type bulkForm struct {
	List     string
	CSRF     string
	Statuses []string
	People   []choice
}

// bulkResult is what bulk.html says of one action.
type bulkResult struct {
	List    string
	Action  string
	Changed []bulkSeries
	Refused []bulkSeries
}

type bulkSeries struct {
	ID      int64
	Subject string
	Why     string
}

// bulkFor returns the list page's bulk form when the reader may change
// the status of the list's series (access.SetStatus), else nil.
func (h *Handler) bulkFor(r *http.Request, l *store.List) (*bulkForm, error) {
	if h.cfg.Workload == nil || h.acc == nil || h.currentUser(r) == nil {
		return nil, nil
	}
	subj, err := h.subject(r, l)
	if err != nil || !access.Allowed(subj, l, access.SetStatus) {
		return nil, err
	}
	f := &bulkForm{List: l.Name, CSRF: h.csrfToken(r), Statuses: store.SettableStatuses}
	ms, err := h.cfg.Workload.ListMaintainers(r.Context(), l.Name)
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		f.People = append(f.People, choice{Value: strconv.FormatInt(m.ID, 10), Label: userLabel(m.Name, m.Email)})
	}
	return f, nil
}

// bulkForm serves POST /{list}/bulk: series (repeated: the ticked ids)
// and do, one of status (with status and an optional comment), delegate
// (with delegate, "" for nobody), archive or unarchive. Each series is
// checked on its own: it must be of this list and the user must be
// allowed to set its status; the page says how many changed and which
// were refused, and why.
func (h *Handler) bulkForm(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Workload == nil {
		h.notFound(w, r)
		return
	}
	if h.noAccounts(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	l, ok := h.readable(w, r, r.PathValue("list"), "list")
	if !ok {
		return
	}
	u, ok := h.authorize(w, r, l, access.SetStatus)
	if !ok {
		return
	}
	if err := r.ParseForm(); err != nil {
		h.httpError(w, r, http.StatusBadRequest, "bad form")
		return
	}
	var ids []int64
	for _, s := range r.PostForm["series"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bad series %q: want a series number", s))
			return
		}
		if !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	switch {
	case len(ids) == 0:
		h.httpError(w, r, http.StatusBadRequest, "no series selected: tick the series to change in the list")
		return
	case len(ids) > maxBulk:
		h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("%d series selected: at most %d at once", len(ids), maxBulk))
		return
	}
	res := bulkResult{List: l.Name}
	// What to do to one series; an error is a bulkRefusal, worded for the user.
	var apply func(s *store.Series) error
	switch do := r.PostFormValue("do"); do {
	case "status":
		status, comment := r.PostFormValue("status"), r.PostFormValue("comment")
		if !slices.Contains(store.SettableStatuses, status) {
			h.httpError(w, r, http.StatusBadRequest, "bad status "+strconv.Quote(status)+": one of "+strings.Join(store.SettableStatuses, ", "))
			return
		}
		res.Action = "Status set to " + status
		apply = func(s *store.Series) error {
			c, err := h.acc.SetStatus(r.Context(), s.ID, u.ID, status, comment)
			switch {
			case errors.Is(err, store.ErrConflict):
				return bulkRefusal("already " + status)
			case errors.Is(err, store.ErrInvalid):
				return bulkRefusal(invalidText(err))
			case err != nil:
				return err
			}
			h.notifyStatus(r.Context(), s, c)
			return nil
		}
	case "delegate":
		who, err := idField(r, "delegate")
		if err != nil {
			h.httpError(w, r, http.StatusBadRequest, err.Error())
			return
		}
		res.Action = "Delegated to nobody"
		if who != 0 {
			res.Action = fmt.Sprintf("Delegated to account %d", who)
			if ms, err := h.cfg.Workload.ListMaintainers(r.Context(), l.Name); err == nil {
				for _, m := range ms {
					if m.ID == who {
						res.Action = "Delegated to " + userLabel(m.Name, m.Email)
					}
				}
			}
		}
		apply = func(s *store.Series) error {
			err := h.cfg.Workload.Delegate(r.Context(), s.ID, 0, who, actorID(h.currentUser(r)), time.Now())
			if errors.Is(err, store.ErrInvalid) {
				return bulkRefusal(invalidText(err))
			}
			return err
		}
	case "archive", "unarchive":
		res.Action = map[string]string{"archive": "Archived", "unarchive": "Unarchived"}[do]
		apply = func(s *store.Series) error { return h.cfg.Workload.ArchiveSeries(r.Context(), s.ID, do == "archive") }
	default:
		h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bad action %q: status, delegate, archive or unarchive", do))
		return
	}
	for _, id := range ids {
		b := bulkSeries{ID: id}
		s, err := h.r.SeriesInfo(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound) || err == nil && s == nil:
			b.Why = "no such series"
		case err != nil:
			h.fail(w, r, "series", err)
			return
		case s.List != l.Name:
			// Not said which list: it may be one the user cannot read.
			b.Why = "not a series of " + l.Name
		default:
			b.Subject = s.Subject
			var no bulkRefusal
			switch err := apply(s); {
			case err == nil:
			case errors.As(err, &no):
				b.Why = string(no)
			case errors.Is(err, store.ErrNotFound):
				b.Why = "no such series"
			default:
				h.fail(w, r, "series", err)
				return
			}
		}
		if b.Why != "" {
			res.Refused = append(res.Refused, b)
		} else {
			res.Changed = append(res.Changed, b)
		}
	}
	h.log.Info("bulk action", "list", l.Name, "action", res.Action, "changed", len(res.Changed), "refused", len(res.Refused), "by", u.ID)
	h.render(w, r, "bulk.html", res)
}

// bulkRefusal is why one series of a bulk action was not changed.
type bulkRefusal string

func (r bulkRefusal) Error() string { return string(r) }
