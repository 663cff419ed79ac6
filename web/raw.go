package web

import (
	"net/http"
	"strconv"
	"strings"
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
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	rest, ok := strings.CutSuffix(r.PathValue("rest"), "/raw")
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	id := trimAngle(rest)
	if id == "" || len(id) > maxMessageIDLen {
		writeError(w, http.StatusBadRequest, errBadMsgID.Error())
		return
	}
	b, err := h.r.Raw(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
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
