package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strings"

	"patchwell/store"
)

// maxFrameLists is how many lists the site header names; the rest are one
// click away on the home page.
const maxFrameLists = 8

// frameData is the site header every HTML page starts with: the site, the
// lists the reader may see, a search box (the current list's, else all
// lists'), and who is signed in.
type frameData struct {
	Site  string
	Lists []string
	More  bool   // more lists than Lists names
	List  string // the list the page belongs to, "" for none
	Query string
	User  *store.User
	CSRF  string
	Next  string // where sign-in comes back to
	// NeedsMe links "needs me" (needsme.go) for a signed-in reader.
	NeedsMe bool
}

// errorFrame marks an error page (httpError).
type errorFrame struct{}

// framer is a page that knows its list when its path does not say it
// (/series/ID/).
type framer interface{ frameList() string }

// framed puts the site header right after page's <body> tag (which may
// have attributes). A page
// without one, or a header that does not render, is left as it is: the
// header is an aid, not the page.
func (h *Handler) framed(r *http.Request, page []byte, data any) []byte {
	i := bytes.Index(page, []byte("<body"))
	if i < 0 || r == nil {
		return page
	}
	end := bytes.IndexByte(page[i:], '>')
	if end < 0 {
		return page
	}
	i += end + 1
	d := frameData{Site: h.cfg.Domain, User: h.currentUser(r), CSRF: h.csrfToken(r), NeedsMe: h.cfg.NeedsMe != nil}
	if d.Site == "" {
		d.Site = "patchwell"
	}
	if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/signin") {
		d.Next = r.URL.RequestURI()
	}
	if _, ok := data.(errorFrame); ok {
		// An error page is the same whatever the path: a private list's 404
		// must read as an unknown one's.
		d.Next = ""
	}
	if f, ok := data.(framer); ok {
		d.List = f.frameList()
	}
	first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if ls, err := h.r.ListsByActivity(r.Context()); err == nil {
		if ls, err = h.listed(r, ls); err == nil {
			for _, l := range ls {
				if d.List == "" && l.Name == first {
					d.List = l.Name
				}
				if len(d.Lists) < maxFrameLists {
					d.Lists = append(d.Lists, l.Name)
				} else {
					d.More = true
				}
			}
		}
	}
	if q := r.URL.Query().Get("q"); q != "" && (d.List == first || first == "all") {
		d.Query = q
	}
	var fb bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&fb, "frame", d); err != nil {
		return page
	}
	out := make([]byte, 0, len(page)+fb.Len())
	out = append(out, page[:i]...)
	out = append(out, fb.Bytes()...)
	return append(out, page[i:]...)
}

// signinHref is the header's sign-in link, coming back to next.
func signinHref(next string) string {
	if next == "" || next == "/" {
		return "/signin"
	}
	return "/signin?next=" + url.QueryEscape(next)
}

func (p seriesPage) frameList() string {
	if p.S == nil {
		return ""
	}
	return p.S.List
}

func (p seriesDiffPage) frameList() string {
	if p.D == nil {
		return ""
	}
	return p.D.New.List
}
