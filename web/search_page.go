package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"patchwell/store"
)

// Search page limits.
const (
	searchPageSize  = 50
	maxSearchOffset = 10000
	maxSearchQuery  = 4096
)

type searchHit struct {
	Subject, From, Date, Snippet, Href, List string
}

// searchThread is one thread of the x=t view: the matching messages of a
// thread, under the thread's link.
type searchThread struct {
	Subject, Href, List string
	Hits                []searchHit
}

type searchPage struct {
	List       string // "all" across lists
	Query      string
	Mode       string // "" messages, "t" threads
	Error      string
	Hits       []searchHit
	Threads    []searchThread // x=t
	Offset     int
	Prev, Next string
	// Messages, Threads and Atom link the same query's other views.
	MessagesURL, ThreadsURL, AtomURL string
}

// searchPage serves GET /{list}/?q=QUERY[&o=OFFSET][&x=t|A] and /all/?q=:
// the matching messages, newest first, searchPageSize a page; o pages as
// in public-inbox. As public-inbox, x=t shows the same hits grouped by
// thread (each thread linked, its matching messages under it) and x=A
// answers an Atom feed of the newest feedSize hits. x=m, the mbox of the
// matching threads, is a POST (search). A query that does not parse is a
// 400 page that says why.
func (h *Handler) searchPage(w http.ResponseWriter, r *http.Request, list string) {
	qv := r.URL.Query()
	d := searchPage{List: list, Query: qv.Get("q"), Mode: qv.Get("x")}
	switch d.Mode {
	case "", "t", "A":
	case "m":
		w.Header().Set("Allow", "POST")
		h.httpError(w, r, http.StatusMethodNotAllowed, "x=m (mbox) searches are POST requests")
		return
	default:
		h.httpError(w, r, http.StatusBadRequest, "x must be t (threads), A (Atom) or m (mbox, POST)")
		return
	}
	lists, ok := h.searchScope(w, r, list)
	if !ok {
		return
	}
	status := http.StatusOK
	if o := qv.Get("o"); o != "" {
		n, err := strconv.Atoi(o)
		if err != nil || n < 0 || n > maxSearchOffset {
			h.httpError(w, r, http.StatusBadRequest, "o must be an offset from 0 to "+strconv.Itoa(maxSearchOffset))
			return
		}
		d.Offset = n
	}
	size := searchPageSize
	if d.Mode == "A" {
		size = feedSize
	}
	var hits []store.SearchHit
	switch {
	case len(d.Query) > maxSearchQuery:
		status, d.Error = http.StatusBadRequest, "query too long (at most 4096 bytes)"
	case d.Query != "":
		var err error
		hits, err = h.r.Search(r.Context(), lists, d.Query, store.Page{Limit: size + 1, Offset: d.Offset})
		switch {
		case errors.Is(err, store.ErrInvalid):
			status, d.Error = http.StatusBadRequest, invalidText(err)
		case err != nil:
			h.fail(w, r, "list", err)
			return
		}
	}
	if d.Mode == "A" {
		if status != http.StatusOK {
			h.httpError(w, r, status, d.Error)
			return
		}
		h.searchAtom(w, r, list, d.Query, hits[:min(len(hits), size)])
		return
	}
	if len(hits) > size {
		hits = hits[:size]
		d.Next = searchURL(d.Query, d.Mode, d.Offset+size)
	}
	if d.Offset > 0 {
		d.Prev = searchURL(d.Query, d.Mode, max(0, d.Offset-size))
	}
	if d.Query != "" {
		d.MessagesURL, d.ThreadsURL, d.AtomURL = searchURL(d.Query, "", 0), searchURL(d.Query, "t", 0), searchURL(d.Query, "A", 0)
	}
	threads := map[[2]any]int{} // (list, thread id) -> index in d.Threads
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
		if d.Mode != "t" {
			d.Hits = append(d.Hits, sh)
			continue
		}
		// Threads in the order of their newest hit; a thread is named and
		// linked by its oldest hit on the page (hits come newest first).
		key := [2]any{m.List, m.ThreadID}
		i, ok := threads[key]
		if !ok || m.ThreadID == 0 {
			i = len(d.Threads)
			threads[key] = i
			d.Threads = append(d.Threads, searchThread{List: m.List})
		}
		t := &d.Threads[i]
		t.Subject, t.Href = sh.Subject, "/"+url.PathEscape(m.List)+"/"+url.PathEscape(m.MessageID)+"/t/"
		t.Hits = append(t.Hits, sh)
	}
	if status != http.StatusOK {
		h.renderStatus(w, r, status, "search.html", d)
		return
	}
	h.render(w, r, "search.html", d)
}

// searchURL is the relative URL of a search page: query q, view x, offset
// o.
func searchURL(q, x string, o int) string {
	v := url.Values{"q": {q}}
	if o > 0 {
		v.Set("o", strconv.Itoa(o))
	}
	if x != "" {
		v.Set("x", x)
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
	h.render(w, r, "help.html", struct{ List string }{list})
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
