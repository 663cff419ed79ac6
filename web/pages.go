package web

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"patchwell/store"
)

// PageReader is an optional ability of a Reader that the HTML pages need:
// texts that only parsing the stored mail gives.
type PageReader interface {
	// SeriesTexts returns the cover letter's text and each patch's diff by
	// patch index.
	SeriesTexts(ctx context.Context, id int64) (string, map[int]string, error)
	// ThreadBodies returns the messages of a message's thread, in arrival
	// order, with their decoded text bodies.
	ThreadBodies(ctx context.Context, list, messageID string) ([]store.Message, []string, error)
}

// visible shows the characters that render invisibly or reorder text
// (Unicode bidi controls, zero-width characters: "Trojan Source") as
// <U+XXXX>, so that what a reviewer reads is what git applies.
func visible(s string) string {
	if strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "<U+%04X>", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hidden(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r >= 0x200B && r <= 0x200F,
		r == 0x061C, r == 0xFEFF, r == 0x2060, r == 0x00AD:
		return true
	}
	return r != '\n' && r != '\t' && unicode.IsControl(r)
}

// line is one line of a diff or a mail body, with how to show it.
type line struct {
	Class string // add, del, hunk, file, quote, ""
	Text  string
	No    int // line number in the new file, for diff lines that have one
}

// diffFile is one file of a patch's diff.
type diffFile struct {
	Name  string
	Lines []line
}

// splitDiff cuts a diff into files and classifies its lines; new-file line
// numbers come from the hunk headers.
func splitDiff(diff string) []diffFile {
	var files []diffFile
	newLine := 0
	for _, l := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		l = visible(l)
		if strings.HasPrefix(l, "diff --git ") || len(files) == 0 {
			name := strings.TrimPrefix(l, "diff --git ")
			if i := strings.LastIndex(name, " b/"); i >= 0 {
				name = name[i+3:]
			}
			files = append(files, diffFile{Name: name})
		}
		f := &files[len(files)-1]
		ln := line{Text: l}
		switch {
		case strings.HasPrefix(l, "@@"):
			ln.Class = "hunk"
			if i := strings.Index(l, " +"); i >= 0 {
				n := l[i+2:]
				if j := strings.IndexAny(n, ", "); j >= 0 {
					n = n[:j]
				}
				newLine, _ = strconv.Atoi(n)
			}
		case strings.HasPrefix(l, "+++ "), strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "diff "), strings.HasPrefix(l, "index "):
			ln.Class = "file"
		case strings.HasPrefix(l, "+"):
			ln.Class, ln.No = "add", newLine
			newLine++
		case strings.HasPrefix(l, "-"):
			ln.Class = "del"
		case strings.HasPrefix(l, " "):
			ln.No = newLine
			newLine++
		}
		f.Lines = append(f.Lines, ln)
	}
	return files
}

// block is a run of a mail body's lines: quoted runs fold.
type block struct {
	Quote bool
	Text  string
	Lines int
}

func splitBody(body string) []block {
	var out []block
	var text strings.Builder // of the last block: += would be quadratic
	for _, l := range strings.Split(strings.TrimRight(body, "\n"), "\n") {
		q := strings.HasPrefix(l, ">")
		if len(out) == 0 || out[len(out)-1].Quote != q {
			if len(out) > 0 {
				out[len(out)-1].Text = text.String()
				text.Reset()
			}
			out = append(out, block{Quote: q})
		}
		text.WriteString(visible(l))
		text.WriteByte('\n')
		out[len(out)-1].Lines++
	}
	if len(out) > 0 {
		out[len(out)-1].Text = text.String()
	}
	return out
}

func (h *Handler) render(w http.ResponseWriter, name string, data any) {
	if h.tmplErr != nil {
		h.fail(w, "page", h.tmplErr)
		return
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, name, data); err != nil {
		h.fail(w, "page", err)
		return
	}
	setHTMLHeaders(w)
	_, _ = w.Write(buf.Bytes())
}

type listPage struct {
	List               apiListLike
	Status             string
	Statuses           []string
	Series             []store.Series
	Threads            []store.Thread
	Prev, Next         string
	SMTPHost, SMTPPort string
}

// apiListLike is what the list page shows of a list.
type apiListLike struct {
	Name, Address, Description string
	Messages, Series, Open     int
}

// listPage serves GET /{list}/: series (filter by status, paged) and
// threads, with how to send to the list.
func (h *Handler) listPage(w http.ResponseWriter, r *http.Request, name string) {
	l, err := h.r.List(r.Context(), name)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	p, err := parsePage(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !slices.Contains(statuses, status) {
		writeError(w, http.StatusBadRequest, "bad status")
		return
	}
	series, err := h.r.SeriesList(r.Context(), name, status, p)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	threads, err := h.r.Threads(r.Context(), name, store.Page{Limit: 20})
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	d := listPage{
		List:     apiListLike{l.Name, l.Name + "@" + h.cfg.Domain, l.Description, l.Messages, l.Series, l.OpenSeries},
		Status:   status,
		Statuses: statuses,
		Series:   series,
		Threads:  threads,
	}
	d.SMTPHost, d.SMTPPort = smtpHostPort(h.cfg)
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if p.Offset > 0 {
		q.Set("offset", strconv.Itoa(max(0, p.Offset-p.Limit)))
		d.Prev = "?" + q.Encode()
	}
	if len(series) == p.Limit {
		q.Set("offset", strconv.Itoa(p.Offset+p.Limit))
		d.Next = "?" + q.Encode()
	}
	h.render(w, "list.html", d)
}

type seriesPatch struct {
	store.Patch
	Files []diffFile
}

type seriesPage struct {
	S       *store.Series
	Cover   []block
	Patches []seriesPatch
	MboxURL string
}

// seriesPage serves GET /series/{id}/: the series with its cover letter,
// patches, trailers and diffs file by file, links to its other revisions,
// and how to apply it.
func (h *Handler) seriesPage(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "bad series id: want a positive number")
		return
	}
	s, patches, err := h.r.Series(r.Context(), id)
	if err != nil {
		h.fail(w, "series", err)
		return
	}
	d := seriesPage{S: s, MboxURL: absURL(r, fmt.Sprintf("/api/v1/series/%d/mbox", id))}
	var cover string
	var diffs map[int]string
	if pr, ok := h.r.(PageReader); ok {
		if cover, diffs, err = pr.SeriesTexts(r.Context(), id); err != nil {
			h.fail(w, "series", err)
			return
		}
	}
	if cover != "" {
		d.Cover = splitBody(cover)
	}
	for _, p := range patches {
		d.Patches = append(d.Patches, seriesPatch{Patch: p, Files: splitDiff(diffs[p.Index])})
	}
	h.render(w, "series.html", d)
}

type threadMessage struct {
	M      store.Message
	Depth  int
	Blocks []block
}

type threadPage struct {
	List     string
	Subject  string
	Messages []threadMessage
	// Thread links to the whole thread when the page shows one message.
	Thread string
}

// threadPage serves GET /{list}/{message-id}/T/: the message's thread in
// arrival order, nested by reply, quoted text folded.
func (h *Handler) threadPage(w http.ResponseWriter, r *http.Request, list, id string) {
	pr, ok := h.r.(PageReader)
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	msgs, bodies, err := pr.ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
		return
	}
	depth := map[string]int{}
	d := threadPage{List: list}
	for i, m := range msgs {
		dep := 0
		if p, ok := depth[m.InReplyTo]; ok {
			dep = min(p+1, 12)
		}
		depth[m.MessageID] = dep
		if i == 0 {
			d.Subject = m.Subject
		}
		m.Subject = visible(m.Subject)
		d.Messages = append(d.Messages, threadMessage{M: m, Depth: dep, Blocks: splitBody(bodies[i])})
	}
	h.render(w, "thread.html", d)
}

// absURL makes an absolute URL for commands people paste.
func absURL(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

//go:embed static/style.css
var styleCSS []byte

// style serves the pages' one stylesheet (a file, not inline, so that the
// Content-Security-Policy can stay default-src 'self').
func (h *Handler) style(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(styleCSS)
}

// seriesAtom serves GET /{list}/series.atom: the newest 50 series as an
// Atom feed (RFC 4287), for feed readers and bots.
func (h *Handler) seriesAtom(w http.ResponseWriter, r *http.Request, list string) {
	l, err := h.r.List(r.Context(), list)
	if err != nil {
		h.fail(w, "list", err)
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

// messagePage serves GET /{list}/{message-id}/: one message, its headers
// and body, with links to its thread (the page lore shows there).
func (h *Handler) messagePage(w http.ResponseWriter, r *http.Request, list, id string) {
	msgs, bodies, err := h.r.(PageReader).ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
		return
	}
	for i, m := range msgs {
		if m.MessageID != id {
			continue
		}
		m.Subject = visible(m.Subject)
		h.render(w, "thread.html", threadPage{List: list, Subject: m.Subject,
			Messages: []threadMessage{{M: m, Blocks: splitBody(bodies[i])}},
			Thread:   "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/T/"})
		return
	}
	writeError(w, http.StatusNotFound, "message not found")
}
