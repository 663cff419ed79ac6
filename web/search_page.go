package web

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"patchwell/store"
)

// PageSearcher is an optional ability of a Reader: the messages of a list
// ("all" for every list) matching a public-inbox query, newest first, with
// a snippet each; store.ErrInvalid for a query that does not parse,
// store.ErrNotFound for an unknown list.
type PageSearcher interface {
	Search(ctx context.Context, lists []string, query string, p store.Page) ([]store.SearchHit, error)
}

// Search page limits.
const (
	searchPageSize  = 50
	maxSearchOffset = 10000
	maxSearchQuery  = 4096
)

type searchHit struct {
	Subject, From, Date, Snippet, Href, List string
}

type searchPage struct {
	List       string // "all" across lists
	Query      string
	Error      string
	Hits       []searchHit
	Offset     int
	Prev, Next string
}

// searchPage serves GET /{list}/?q=QUERY[&o=OFFSET] and /all/?q=: the
// matching messages, newest first, searchPageSize a page; o pages as in
// public-inbox. A query that does not parse is a 400 page that says why.
func (h *Handler) searchPage(w http.ResponseWriter, r *http.Request, list string) {
	ps, ok := h.r.(PageSearcher)
	if !ok {
		h.httpError(w, r, http.StatusNotFound, "search is not available")
		return
	}
	lists, ok := h.searchScope(w, r, list)
	if !ok {
		return
	}
	qv := r.URL.Query()
	d := searchPage{List: list, Query: qv.Get("q")}
	status := http.StatusOK
	if o := qv.Get("o"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 || n > maxSearchOffset {
			h.httpError(w, r, http.StatusBadRequest, "o must be an offset from 0 to "+strconv.Itoa(maxSearchOffset))
			return
		}
		d.Offset = n
	}
	switch {
	case len(d.Query) > maxSearchQuery:
		status, d.Error = http.StatusBadRequest, "query too long (at most 4096 bytes)"
	case d.Query != "":
		hits, err := ps.Search(r.Context(), lists, d.Query, store.Page{Limit: searchPageSize + 1, Offset: d.Offset})
		switch {
		case errors.Is(err, store.ErrInvalid):
			status, d.Error = http.StatusBadRequest, invalidText(err)
		case err != nil:
			h.fail(w, r, "list", err)
			return
		}
		if len(hits) > searchPageSize {
			hits = hits[:searchPageSize]
			d.Next = pageURL(d.Query, d.Offset+searchPageSize)
		}
		if d.Offset > 0 {
			d.Prev = pageURL(d.Query, max(0, d.Offset-searchPageSize))
		}
		for _, m := range hits {
			sh := searchHit{Subject: visible(m.Subject), From: visible(m.From.Name), Snippet: visible(m.Snippet), List: m.List,
				Href: "/" + url.PathEscape(m.List) + "/" + url.PathEscape(m.MessageID) + "/"}
			if sh.From == "" {
				sh.From = m.From.Email
			}
			if sh.Subject == "" {
				sh.Subject = "(no subject)"
			}
			if !m.Date.IsZero() {
				sh.Date = m.Date.UTC().Format("2006-01-02 15:04")
			}
			d.Hits = append(d.Hits, sh)
		}
	}
	if status != http.StatusOK {
		h.renderStatus(w, status, "search.html", d)
		return
	}
	h.render(w, "search.html", d)
}

func pageURL(q string, o int) string {
	v := url.Values{"q": {q}}
	if o > 0 {
		v.Set("o", strconv.Itoa(o))
	}
	return "?" + v.Encode()
}

// helpPage serves /{list}/_/text/help/: the search syntax (public-inbox
// has its help there, and b4 checks that the page exists).
func (h *Handler) helpPage(w http.ResponseWriter, r *http.Request, list string) {
	if list != "all" {
		if _, ok := h.readable(w, r, list, "list"); !ok {
			return
		}
	}
	h.render(w, "help.html", struct{ List string }{list})
}

// searchScope names the lists a search of list covers: that list when the
// request may read it, or for "all" the lists /all/ shows this reader
// (never a private list they are not a member of, nor an unlisted one).
// It answers 404 and returns false when the list is not readable.
func (h *Handler) searchScope(w http.ResponseWriter, r *http.Request, list string) ([]string, bool) {
	if list != "all" {
		if _, ok := h.readable(w, r, list, "list"); !ok {
			return nil, false
		}
		return []string{list}, true
	}
	all, err := h.r.Lists(r.Context())
	if err == nil {
		all, err = h.listed(r, all)
	}
	if err != nil {
		h.fail(w, r, "list", err)
		return nil, false
	}
	names := make([]string, len(all))
	for i, l := range all {
		names[i] = l.Name
	}
	return names, true
}
