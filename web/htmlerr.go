package web

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"patchwell/store"
)

// httpError is the one place a handler's error becomes a reply, by route
// and by what the client accepts:
//
//   - /api/ routes answer JSON ({"error": msg}), whatever the Accept header
//     says: scripts parse it.
//   - every other route (pages, downloads such as raw, t.mbox.gz and the
//     b4 search, feeds, forms) answers a small HTML page saying what is
//     wrong when the client prefers text/html (prefersHTML: a browser), and
//     plain text otherwise (curl, b4, feed readers, git am scripts).
func (h *Handler) httpError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if strings.HasPrefix(r.URL.Path, "/api/") {
		writeError(w, code, msg)
		return
	}
	w.Header().Add("Vary", "Accept")
	if h.tmplErr == nil && prefersHTML(r.Header.Get("Accept")) {
		var buf bytes.Buffer
		if err := h.tmpl.ExecuteTemplate(&buf, "error.html", struct {
			Code         int
			Status, Text string
		}{code, http.StatusText(code), msg}); err == nil {
			page := h.framed(r, buf.Bytes(), errorFrame{})
			setHTMLHeaders(w)
			w.Header().Set("Content-Length", strconv.Itoa(len(page)))
			w.WriteHeader(code)
			_, _ = w.Write(page)
			return
		}
	}
	writeText(w, code, msg)
}

// writeText answers code with msg as plain text.
func writeText(w http.ResponseWriter, code int, msg string) {
	hd := w.Header()
	for _, k := range []string{"Content-Encoding", "Content-Disposition", "ETag"} {
		hd.Del(k)
	}
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(msg)+1))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(msg + "\n"))
}

// prefersHTML reports whether an Accept header (RFC 9110 12.5.1) names
// text/html (or application/xhtml+xml) with a quality above zero and at
// least that of application/json and text/plain. Wildcards alone ("*/*",
// as curl and b4 send) do not make a browser.
func prefersHTML(accept string) bool {
	var html, other float64 = -1, -1
	for _, part := range strings.Split(accept, ",") {
		typ, params, _ := strings.Cut(part, ";")
		q := 1.0
		for _, p := range strings.Split(params, ";") {
			k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
			if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
				if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil && f >= 0 && f <= 1 {
					q = f
				} else {
					q = 0
				}
			}
		}
		switch strings.ToLower(strings.TrimSpace(typ)) {
		case "text/html", "application/xhtml+xml":
			html = max(html, q)
		case "application/json", "text/plain":
			other = max(other, q)
		}
	}
	return html > 0 && html >= other
}

// fail answers an error with httpError: store.ErrNotFound is a 404
// naming what, store.ErrInvalid a 400 in the error's own words, anything
// else a 500 whose detail goes to the request log only.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.httpError(w, r, http.StatusNotFound, what+" not found")
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, invalidText(err))
	default:
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
		h.httpError(w, r, http.StatusInternalServerError, "internal error")
	}
}
