package web

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// seriesAtom serves GET /{list}/series.atom: the newest 50 series as an
// Atom feed (RFC 4287), for feed readers and bots.
func (h *Handler) seriesAtom(w http.ResponseWriter, r *http.Request, list string) {
	l, err := h.r.List(r.Context(), list)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	if _, ok := h.authorize(w, r, l, access.Read); !ok {
		return
	}
	series, err := h.r.SeriesList(r.Context(), list, "", store.Page{Limit: 50})
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	type link struct {
		Href string `xml:"href,attr"`
		Rel  string `xml:"rel,attr,omitempty"`
	}
	type person struct {
		Name  string `xml:"name"`
		Email string `xml:"email,omitempty"`
	}
	type entry struct {
		Title   string `xml:"title"`
		ID      string `xml:"id"`
		Link    link   `xml:"link"`
		Updated string `xml:"updated"`
		Author  person `xml:"author"`
		Summary string `xml:"summary"`
	}
	type feed struct {
		XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string   `xml:"title"`
		ID      string   `xml:"id"`
		Link    []link   `xml:"link"`
		Updated string   `xml:"updated"`
		Entries []entry  `xml:"entry"`
	}
	f := feed{Title: "Series on " + l.Name + "@" + h.cfg.Domain, ID: absURL(r, "/"+l.Name+"/"),
		Link:    []link{{Href: absURL(r, "/"+l.Name+"/")}, {Href: absURL(r, "/"+l.Name+"/series.atom"), Rel: "self"}},
		Updated: time.Unix(0, 0).UTC().Format(time.RFC3339)}
	for i, s := range series {
		u := absURL(r, fmt.Sprintf("/series/%d/", s.ID))
		if i == 0 {
			f.Updated = s.Date.UTC().Format(time.RFC3339)
		}
		f.Entries = append(f.Entries, entry{Title: visible(s.Subject), ID: u, Link: link{Href: u},
			Updated: s.Date.UTC().Format(time.RFC3339), Author: person{Name: s.Submitter.Name, Email: s.Submitter.Email},
			Summary: fmt.Sprintf("v%d, %d/%d patches, %s", s.Version, s.Received, s.Total, s.Status)})
	}
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, xml.Header)
	if err := xml.NewEncoder(w).Encode(f); err != nil {
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
	}
}
