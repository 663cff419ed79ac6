package web

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"patchwell/store"
)

// pageError answers a browser (a request that accepts text/html) with a
// small HTML page saying what is wrong; other clients, as the API and the
// downloads always do, get JSON (writeError).
func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, code int, msg string) {
	if h.tmplErr != nil || !strings.Contains(r.Header.Get("Accept"), "text/html") {
		writeError(w, code, msg)
		return
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, "error.html", struct {
		Code         int
		Status, Text string
	}{code, http.StatusText(code), msg}); err != nil {
		writeError(w, code, msg)
		return
	}
	setHTMLHeaders(w)
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// pageFail is fail for HTML pages: store.ErrNotFound is a 404 page naming
// what, store.ErrInvalid a 400, anything else a 500 whose detail goes to
// the request log only.
func (h *Handler) pageFail(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, store.ErrNotFound):
		h.pageError(w, r, http.StatusNotFound, what+" not found")
	case errors.Is(err, store.ErrInvalid):
		h.pageError(w, r, http.StatusBadRequest, invalidText(err))
	default:
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
		h.pageError(w, r, http.StatusInternalServerError, "internal error")
	}
}
