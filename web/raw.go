package web

import (
	"bufio"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/store"
)

// SeriesMboxer is an optional ability of a Reader: a series' patches as
// mboxrd for git am, with the trailers replies gave; store.ErrNotFound
// before anything is written.
type SeriesMboxer interface {
	SeriesMbox(ctx context.Context, id int64, w io.Writer) error
}

// Searcher is an optional ability of a Reader: the whole threads that
// hold a message matching a public-inbox query, as mboxrd;
// store.ErrNotFound (nothing matches) or store.ErrInvalid (the query does
// not parse) before anything is written.
type Searcher interface {
	SearchMbox(ctx context.Context, lists []string, query string, w io.Writer) error
}

// MessageFinder is an optional ability of a Reader: a message's metadata
// without its bytes, so the HEAD b4 sends for every lookup stays cheap.
type MessageFinder interface {
	Message(ctx context.Context, list, messageID string) (*store.Message, error)
}

// ListFinder is an optional ability of a Reader: which list holds a
// message, for /all/, the inbox across every list (as lore's /all/).
type ListFinder interface {
	ListOf(ctx context.Context, messageID string) (string, error)
}

// ListsFinder is an optional ability of a Reader: every list holding a
// message, in name order, so that /all/ serves the copy of a list the
// reader may see (a message cross-posted to a private list and a public
// one).
type ListsFinder interface {
	ListsOf(ctx context.Context, messageID string) ([]string, error)
}

// ThreadMboxer is an optional ability of a Reader: the thread of a message
// as mboxrd, or store.ErrNotFound before anything is written.
type ThreadMboxer interface {
	ThreadMbox(ctx context.Context, list, messageID string, w io.Writer) error
}

// raw serves GET /{list}/{message-id}/raw: the stored bytes, exactly.
//
// The Message-ID may be given with or without its angle brackets and
// URL-escaped; it may contain "/" (escaped as %2F or not), since the route
// takes the rest of the path up to the final "/raw". Unescaped "//" or "."
// and ".." segments are cleaned (and redirected) by net/http before we see
// them, so clients should escape ids with path.Escape-like rules; %2F always
// works.
//
// Content type: message/rfc822 would be the exact type, but browsers offer
// it as a download instead of showing it. Like public-inbox we serve
// text/plain; charset=utf-8, with X-Content-Type-Options: nosniff so that no
// browser sniffs HTML or script out of untrusted mail, and a CSP sandbox for
// good measure. The bytes are not transcoded: invalid UTF-8 and NUL pass
// through untouched.
func (h *Handler) raw(w http.ResponseWriter, r *http.Request) {
	list, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	switch rest := r.PathValue("rest"); {
	case rest == "_/text/help/":
		h.helpPage(w, r, list)
		return
	case rest == "" && r.URL.Query().Has("q"):
		h.searchPage(w, r, list)
		return
	case list == "all" && rest == "new.atom":
		h.newAtom(w, r, "")
		return
	case list == "all" && rest == "":
		h.allPage(w, r)
		return
	case list != "all" && h.mlistGET(w, r, list, rest):
		// The mailing list's pages (mlist.go) decide access themselves.
		return
	}
	if list == "all" {
		// The inbox across every list: find the message's own list.
		lf, ok := h.r.(ListFinder)
		id := trimAngle(messageIDOf(r.PathValue("rest")))
		if !ok || id == "" {
			h.httpError(w, r, http.StatusNotFound, "not found")
			return
		}
		names := []string{}
		if lsf, ok := h.r.(ListsFinder); ok {
			names, err = lsf.ListsOf(r.Context(), id)
		} else if list, err = lf.ListOf(r.Context(), id); err == nil {
			names = []string{list}
		}
		if err != nil {
			h.fail(w, r, "message", err)
			return
		}
		// A message of a list the request may not read is not there.
		list = ""
		for _, name := range names {
			ok, err := h.canRead(r, name)
			if err != nil {
				h.fail(w, r, "message", err)
				return
			}
			if ok {
				list = name
				break
			}
		}
		if list == "" {
			h.httpError(w, r, http.StatusNotFound, "message not found")
			return
		}
	} else if _, ok := h.readable(w, r, list, "list"); !ok {
		// Every page and download below reads the list: one check.
		return
	}
	rest, ok := strings.CutSuffix(r.PathValue("rest"), "/raw")
	if !ok {
		if rest, ok = strings.CutSuffix(r.PathValue("rest"), "/t.mbox.gz"); ok {
			h.threadMbox(w, r, list, rest)
			return
		}
		switch rest := r.PathValue("rest"); {
		case rest == "":
			h.listPage(w, r, list)
		case rest == "series.atom":
			h.seriesAtom(w, r, list)
		case rest == "new.atom":
			h.newAtom(w, r, list)
		case strings.HasSuffix(rest, "/T/"), strings.HasSuffix(rest, "/t/"):
			h.cached(w, r, func(w http.ResponseWriter) {
				h.threadPage(w, r, list, trimAngle(rest[:len(rest)-3]), strings.HasSuffix(rest, "/T/"))
			})
		default:
			h.message(w, r, list, rest)
		}
		return
	}
	id := trimAngle(rest)
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusBadRequest, errBadMsgID.Error())
		return
	}
	b, err := h.r.Raw(r.Context(), list, id)
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// trimAngle removes one pair of enclosing angle brackets.
func trimAngle(id string) string {
	if len(id) >= 2 && id[0] == '<' && id[len(id)-1] == '>' {
		return id[1 : len(id)-1]
	}
	return id
}

// threadMbox serves GET /{list}/{message-id}/t.mbox.gz: the message's whole
// thread as gzipped mboxrd, the URL public-inbox serves and b4 fetches
// (b4.midmask = http://HOST/LIST/%s).
func (h *Handler) threadMbox(w http.ResponseWriter, r *http.Request, list, rest string) {
	tm, ok := h.r.(ThreadMboxer)
	id := trimAngle(rest)
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	if h.serveThreadMboxGz(w, r, list, id) {
		return
	}
	if !ok {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	h.stream(w, r, "message", "application/gzip", "t.mbox.gz", true, func(out io.Writer) error {
		return tm.ThreadMbox(r.Context(), list, id, out)
	})
}

// stream answers with what write produces, optionally gzipped. The head is
// written with the first bytes, so an error before any (store.ErrNotFound,
// say) still gets its error reply (httpError); one after is logged with the
// request.
func (h *Handler) stream(w http.ResponseWriter, r *http.Request, what, contentType, filename string, gz bool, write func(io.Writer) error) {
	pw := &lazyWriter{w: w}
	bw := bufio.NewWriterSize(pw, 64<<10)
	pw.start = func() {
		hd := w.Header()
		hd.Set("Content-Type", contentType)
		if filename != "" {
			hd.Set("Content-Disposition", "inline; filename="+filename)
		}
		hd.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusOK)
	}
	var out io.Writer = bw
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(bw)
		out = zw
	}
	err := write(out)
	if err == nil && zw != nil {
		err = zw.Close()
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		return
	}
	if !pw.started {
		h.fail(w, r, what, err)
		return
	}
	if rw, ok := w.(*recorder); ok {
		rw.err = err
	}
}

// lazyWriter writes the response head on the first write.
type lazyWriter struct {
	w       io.Writer
	start   func()
	started bool
}

func (l *lazyWriter) Write(p []byte) (int, error) {
	if !l.started {
		l.started = true
		l.start()
	}
	return l.w.Write(p)
}

// message answers /{list}/{message-id} as public-inbox does: a redirect to
// the canonical /{list}/{message-id}/, whose Location b4 reads to find the
// thread (b4.midmask = http://HOST/LIST/%s). The page itself shows the raw
// message until the web UI renders threads.
func (h *Handler) message(w http.ResponseWriter, r *http.Request, list, rest string) {
	page := strings.HasSuffix(rest, "/")
	id := trimAngle(strings.TrimSuffix(rest, "/"))
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	var err error
	if mc, ok := h.r.(MessageChecker); ok {
		err = mc.MessageExists(r.Context(), list, id)
	} else if mf, ok := h.r.(MessageFinder); ok {
		_, err = mf.Message(r.Context(), list, id)
	} else {
		_, err = h.r.Raw(r.Context(), list, id)
	}
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	if !page {
		scheme := "http"
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			scheme = "https"
		}
		u := scheme + "://" + r.Host + "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/"
		redirectFound(w, u)
		return
	}
	if _, ok := h.r.(PageReader); ok {
		h.cached(w, r, func(w http.ResponseWriter) { h.messagePage(w, r, list, id) })
		return
	}
	http.Redirect(w, r, "/"+url.PathEscape(list)+"/"+url.PathEscape(id)+"/raw", http.StatusFound)
}

// seriesMbox serves GET /api/v1/series/{id}/mbox: the series ready for
// `git am` (as `b4 am` would write it).
func (h *Handler) seriesMbox(w http.ResponseWriter, r *http.Request) {
	sm, ok := h.r.(SeriesMboxer)
	if !ok {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	s, _, _, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	id := s.ID
	h.stream(w, r, "series", "text/plain; charset=utf-8", "series-"+strconv.FormatInt(id, 10)+".mbox", false, func(out io.Writer) error {
		return sm.SeriesMbox(r.Context(), id, out)
	})
}

// messageIDOf strips the known suffixes of a message URL's path.
func messageIDOf(rest string) string {
	for _, suffix := range []string{"/raw", "/t.mbox.gz", "/T/", "/t/", "/"} {
		if id, ok := strings.CutSuffix(rest, suffix); ok {
			return id
		}
	}
	return rest
}

// search answers POST /{list}/?x=m&t=1&q=QUERY as public-inbox does for b4:
// a gzipped mboxrd of the whole matching threads, 404 when none match.
func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	list, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	sr, ok := h.r.(Searcher)
	q := r.URL.Query().Get("q")
	if !ok || r.URL.Query().Get("x") != "m" {
		h.httpError(w, r, http.StatusNotFound, "not found: only x=m (mbox) searches are served")
		return
	}
	if q == "" || len(q) > 4096 {
		h.httpError(w, r, http.StatusBadRequest, "bad query: want q= with at most 4096 bytes")
		return
	}
	lists, ok := h.searchScope(w, r, list)
	if !ok {
		return
	}
	h.stream(w, r, "match", "application/gzip", "", true, func(out io.Writer) error {
		return sr.SearchMbox(r.Context(), lists, q, out)
	})
}
