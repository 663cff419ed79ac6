package web

import (
	"cmp"
	"crypto/sha1"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// feedSize is how many entries a feed holds (public-inbox's new.atom has
// 25).
const feedSize = 25

// Atom (RFC 4287) documents, written with encoding/xml, which escapes all
// text and replaces characters XML cannot carry.
type (
	atomLink struct {
		Href string `xml:"href,attr"`
		Rel  string `xml:"rel,attr,omitempty"`
		Type string `xml:"type,attr,omitempty"`
	}
	atomPerson struct {
		Name  string `xml:"name"`
		Email string `xml:"email,omitempty"`
	}
	atomEntry struct {
		Title   string     `xml:"title"`
		ID      string     `xml:"id"`
		Link    atomLink   `xml:"link"`
		Updated string     `xml:"updated"`
		Author  atomPerson `xml:"author"`
		Summary string     `xml:"summary,omitempty"`
	}
	atomFeed struct {
		XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
		Title   string      `xml:"title"`
		ID      string      `xml:"id"`
		Link    []atomLink  `xml:"link"`
		Updated string      `xml:"updated"`
		Entries []atomEntry `xml:"entry"`
	}
)

func atomTime(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// writeAtom sends a feed.
func (h *Handler) writeAtom(w http.ResponseWriter, f *atomFeed) {
	w.Header().Set("Content-Type", "application/atom+xml; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = io.WriteString(w, xml.Header)
	if err := xml.NewEncoder(w).Encode(f); err != nil {
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
	}
}

// seriesAtom serves GET /{list}/series.atom: the newest 50 series as an
// Atom feed (RFC 4287), for feed readers and bots.
func (h *Handler) seriesAtom(w http.ResponseWriter, r *http.Request, list string) {
	l, err := h.r.List(r.Context(), list)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	if _, ok := h.authorize(w, r, l, access.Read); !ok {
		return
	}
	series, err := h.r.SeriesList(r.Context(), list, "", store.Page{Limit: 50})
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	home := h.absURL(r, "/"+url.PathEscape(l.Name)+"/")
	f := atomFeed{Title: "Series on " + l.Name + "@" + h.cfg.Domain, ID: home,
		Link:    []atomLink{{Href: home}, {Href: home + "series.atom", Rel: "self"}},
		Updated: atomTime(time.Unix(0, 0))}
	for i, s := range series {
		u := h.absURL(r, fmt.Sprintf("/series/%d/", s.ID))
		if i == 0 {
			f.Updated = atomTime(s.Date)
		}
		f.Entries = append(f.Entries, atomEntry{Title: visible(s.Subject), ID: u, Link: atomLink{Href: u},
			Updated: atomTime(s.Date), Author: atomPerson{Name: visible(s.Submitter.Name), Email: s.Submitter.Email},
			Summary: fmt.Sprintf("v%d, %d/%d patches, %s", s.Version, s.Received, s.Total, s.Status)})
	}
	h.writeAtom(w, &f)
}

// newAtom serves GET /{list}/new.atom, and /all/new.atom for every list
// (list ""): the newest messages, as public-inbox's new.atom. An entry's
// id is a urn:uuid made from the Message-ID, so it stays the same when the
// host name changes; its link is the message's page.
func (h *Handler) newAtom(w http.ResponseWriter, r *http.Request, list string) {
	var msgs []store.Message
	var err error
	if list != "" {
		msgs, err = h.r.RecentMessages(r.Context(), list, feedSize)
	} else {
		msgs, err = h.recentListed(r, feedSize)
	}
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	name, title := "all", "New messages on every list at "+h.cfg.Domain
	if list != "" {
		name, title = list, "New messages on "+list+"@"+h.cfg.Domain
	}
	home := h.absURL(r, "/"+url.PathEscape(name)+"/")
	f := atomFeed{Title: title, ID: home,
		Link:    []atomLink{{Href: home, Type: "text/html"}, {Href: home + "new.atom", Rel: "self"}},
		Updated: atomTime(time.Unix(0, 0))}
	for i := range msgs {
		if i == 0 {
			f.Updated = atomTime(msgs[i].Arrived)
		}
		f.Entries = append(f.Entries, h.messageEntry(r, &msgs[i], ""))
	}
	h.writeAtom(w, &f)
}

// messageEntry is a message as an Atom entry: its id a urn:uuid made from
// the Message-ID, its link the message's page, summary the search
// snippet if any.
func (h *Handler) messageEntry(r *http.Request, m *store.Message, summary string) atomEntry {
	when := m.Date
	if when.IsZero() {
		when = m.Arrived
	}
	author := visible(m.From.Name)
	if author == "" {
		author = m.From.Email
	}
	subject := visible(m.Subject)
	if subject == "" {
		subject = "(no subject)"
	}
	return atomEntry{Title: subject, ID: messageURN(m.MessageID),
		Link:    atomLink{Href: h.absURL(r, "/"+url.PathEscape(m.List)+"/"+url.PathEscape(m.MessageID)+"/")},
		Updated: atomTime(when), Author: atomPerson{Name: author, Email: m.From.Email}, Summary: visible(summary)}
}

// searchAtom answers GET /{list}/?q=QUERY&x=A (and /all/): the hits of a
// search, newest first, as an Atom feed (public-inbox's x=A), so a feed
// reader can follow a query. Its updated time is the newest hit's arrival.
func (h *Handler) searchAtom(w http.ResponseWriter, r *http.Request, list, q string, hits []store.SearchHit) {
	home := h.absURL(r, "/"+url.PathEscape(list)+"/")
	self := home + searchURL(q, "A", 0)
	scope := list + "@" + h.cfg.Domain
	if list == "all" {
		scope = "every list at " + h.cfg.Domain
	}
	f := atomFeed{Title: visible("Search for " + q + " on " + scope), ID: self,
		Link:    []atomLink{{Href: home + searchURL(q, "", 0), Type: "text/html"}, {Href: self, Rel: "self"}},
		Updated: atomTime(time.Unix(0, 0))}
	for i := range hits {
		m := &hits[i].Message
		f.Updated = max(f.Updated, atomTime(m.Arrived)) // RFC 3339 in UTC sorts as text
		f.Entries = append(f.Entries, h.messageEntry(r, m, hits[i].Snippet))
	}
	h.writeAtom(w, &f)
}

// recentListed returns the newest messages of the lists the request's
// indexes show (as the home page): one query when that is every list,
// otherwise the newest of each shown list, merged.
func (h *Handler) recentListed(r *http.Request, n int) ([]store.Message, error) {
	all, err := h.r.Lists(r.Context())
	if err != nil {
		return nil, err
	}
	shown, err := h.listed(r, slices.Clone(all))
	if err != nil {
		return nil, err
	}
	if len(shown) == len(all) {
		return h.r.RecentMessages(r.Context(), "", n)
	}
	var msgs []store.Message
	for _, l := range shown {
		m, err := h.r.RecentMessages(r.Context(), l.Name, n)
		if err != nil {
			return nil, err
		}
		msgs = append(msgs, m...)
	}
	slices.SortFunc(msgs, func(a, b store.Message) int { return cmp.Compare(b.ID, a.ID) })
	return msgs[:min(len(msgs), n)], nil
}

// messageURN is a stable Atom id for a Message-ID: a name-based UUID (the
// version 5 layout over SHA-1, without a namespace).
func messageURN(id string) string {
	s := sha1.Sum([]byte(id))
	s[6] = s[6]&0x0f | 0x50
	s[8] = s[8]&0x3f | 0x80
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", s[0:4], s[4:6], s[6:8], s[8:10], s[10:16])
}

// allPage serves GET /all/: the newest messages of every list the request
// may see, the HTML side of /all/new.atom (public-inbox's /all/).
func (h *Handler) allPage(w http.ResponseWriter, r *http.Request) {
	msgs, err := h.recentListed(r, listPageSize)
	if err != nil {
		h.fail(w, r, "lists", err)
		return
	}
	for i := range msgs {
		msgs[i].Subject = visible(msgs[i].Subject)
		msgs[i].From.Name = visible(msgs[i].From.Name)
	}
	h.render(w, r, "all.html", msgs)
}
