package web

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"

	"patchwell/access"
	"patchwell/store"
)

type listPage struct {
	List               apiListLike
	Status             string
	Statuses           []string
	Series             []store.Series
	Threads            []store.Thread
	Prev, Next         string
	SMTPHost, SMTPPort string
}

// apiListLike is what the list page shows of a list.
type apiListLike struct {
	Name, Address, Description string
	Messages, Series, Open     int
}

// listPage serves GET /{list}/: series (filter by status, paged) and
// threads, with how to send to the list.
func (h *Handler) listPage(w http.ResponseWriter, r *http.Request, name string) {
	l, err := h.r.List(r.Context(), name)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	if _, ok := h.authorize(w, r, l, access.Read); !ok {
		return
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(statuses, status) {
		writeError(w, http.StatusBadRequest, "bad status")
		return
	}
	series, err := h.r.SeriesList(r.Context(), name, status, p)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	threads, err := h.r.Threads(r.Context(), name, store.Page{Limit: 20})
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	d := listPage{
		List:     apiListLike{l.Name, l.Name + "@" + h.cfg.Domain, l.Description, l.Messages, l.Series, l.OpenSeries},
		Status:   status,
		Statuses: statuses,
		Series:   series,
		Threads:  threads,
	}
	d.SMTPHost, d.SMTPPort = smtpHostPort(h.cfg)
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(max(0, p.Offset-p.Limit)))
		d.Prev = "?" + q.Encode()
	}
	if len(series) == p.Limit {
		q.Set("offset", strconv.Itoa(p.Offset+p.Limit))
		d.Next = "?" + q.Encode()
	}
	h.render(w, "list.html", d)
}
