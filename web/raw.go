package web

import (
	"bufio"
	"compress/gzip"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"patchwell/access"
)

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
	case list != "all" && rest == "submit" && h.cfg.Submit != nil:
		// Submitting patches from the browser (submit.go).
		h.submitPage(w, r)
		return
	case list != "all" && h.mlistGET(w, r, list, rest):
		// The mailing list's pages (mlist.go) decide access themselves.
		return
	}
	if list == "all" {
		// The inbox across every list: find the message's own list.
		id := trimAngle(messageIDOf(r.PathValue("rest")))
		if id == "" {
			h.httpError(w, r, http.StatusNotFound, "not found")
			return
		}
		names, err := h.r.ListsOf(r.Context(), id)
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
	id := trimAngle(rest)
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	h.serveThreadMboxGz(w, r, list, id)
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
// thread (b4.midmask = http://HOST/LIST/%s). The page itself shows the
// message, its headers and body (messagePage).
func (h *Handler) message(w http.ResponseWriter, r *http.Request, list, rest string) {
	page := strings.HasSuffix(rest, "/")
	id := trimAngle(strings.TrimSuffix(rest, "/"))
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	if err := h.r.MessageExists(r.Context(), list, id); err != nil {
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
	h.cached(w, r, func(w http.ResponseWriter) { h.messagePage(w, r, list, id) })
}

// seriesMbox serves GET /api/v1/series/{id}/mbox: the series ready for
// `git am` (as `b4 am` would write it).
func (h *Handler) seriesMbox(w http.ResponseWriter, r *http.Request) {
	s, _, _, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	id := s.ID
	h.stream(w, r, "series", "text/plain; charset=utf-8", "series-"+strconv.FormatInt(id, 10)+".mbox", false, func(out io.Writer) error {
		return h.r.SeriesMbox(r.Context(), id, out)
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
	q := r.URL.Query().Get("q")
	if r.URL.Query().Get("x") != "m" {
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
		return h.r.SearchMbox(r.Context(), lists, q, out)
	})
}
