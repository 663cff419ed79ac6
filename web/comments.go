package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"patchwell/store"
)

// CommentReader is an optional ability of a Reader: the review comments
// found in the replies to a series' patches (review.Service has it).
type CommentReader interface {
	// SeriesComments returns the comments on the patches of series id,
	// with resolved marks and those carried from the previous revision.
	SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error)
}

// viewComment is a review comment as the series page shows it.
type viewComment struct {
	store.LineComment
	// URL is the reply's message page.
	URL string
	// Where says where a comment that is not shown at a line was made
	// ("drivers/x.c", "drivers/x.c:12 (removed line)"), for the discussion
	// list.
	Where string
}

func newViewComment(c store.LineComment) viewComment {
	c.Body = visible(c.Body)
	c.Author.Name = visible(c.Author.Name)
	for i := range c.Quote {
		c.Quote[i] = visible(c.Quote[i])
	}
	v := viewComment{LineComment: c, URL: "/" + url.PathEscape(c.List) + "/" + url.PathEscape(c.MessageID) + "/"}
	if c.File != "" {
		v.Where = visible(c.File)
		if c.Line > 0 {
			v.Where += ":" + strconv.Itoa(c.Line)
			if c.Side == store.SideOld {
				v.Where += " (old)"
			}
		}
	}
	return v
}

// attachComments puts each comment under the diff line it answers: by
// patch, file path (the new path, or the old one for a deleted file),
// side and number. A comment that names no line, or a line the diff does
// not have, goes to its patch's Discussion; comments on the cover letter
// to the page's.
func attachComments(d *seriesPage, comments []store.LineComment) {
	byMsg := make(map[string]*seriesPatch, len(d.Patches))
	for i := range d.Patches {
		byMsg[d.Patches[i].MessageID] = &d.Patches[i]
	}
	for _, c := range comments {
		v := newViewComment(c)
		p := byMsg[c.PatchMessageID]
		if p == nil {
			d.Discussion = append(d.Discussion, v)
			continue
		}
		if c.File == "" || c.Line <= 0 || !placeComment(p.Files, v) {
			p.Discussion = append(p.Discussion, v)
		}
	}
}

// placeComment attaches v to its line in files; false if there is none.
func placeComment(files []diffFile, v viewComment) bool {
	for fi := range files {
		f := &files[fi]
		path := f.NewPath
		if path == "" {
			path = f.OldPath
		}
		if path != v.File && f.OldPath != v.File {
			continue
		}
		at := -1
		for li := range f.Lines {
			ln := &f.Lines[li]
			if v.Side == store.SideOld {
				if ln.Old == v.Line && ln.Class == "del" {
					at = li
					break
				}
				if ln.Old == v.Line && ln.Class == "ctx" && at < 0 {
					at = li
				}
			} else if ln.New == v.Line && (ln.Class == "add" || ln.Class == "ctx") {
				at = li
				break
			}
		}
		if at >= 0 {
			v.Where = ""
			f.Lines[at].Comments = append(f.Lines[at].Comments, v)
			return true
		}
	}
	return false
}

// commentJSON is a review comment in the API (GET
// /api/v1/series/{id}/comments). Key is what a resolve request names.
type commentJSON struct {
	PatchMessageID string       `json:"patch_message_id"`
	File           string       `json:"file,omitempty"`
	Side           string       `json:"side,omitempty"`
	Line           int          `json:"line,omitempty"`
	Author         store.Person `json:"author"`
	Date           time.Time    `json:"date"`
	Body           string       `json:"body"`
	MessageID      string       `json:"message_id"`
	List           string       `json:"list"`
	URL            string       `json:"url"`
	Quote          []string     `json:"quote,omitempty"`
	Resolved       bool         `json:"resolved"`
	ResolvedBy     string       `json:"resolved_by,omitempty"`
	ResolvedAt     *time.Time   `json:"resolved_at,omitempty"`
	CarriedFrom    int          `json:"carried_from,omitempty"`
	Key            keyJSON      `json:"key"`
}

// keyJSON identifies a comment for its resolved mark.
type keyJSON struct {
	ReplyMessageID string `json:"reply_message_id"`
	PatchMessageID string `json:"patch_message_id"`
	File           string `json:"file"`
	Side           string `json:"side"`
	Line           int    `json:"line"`
}

func toComment(c store.LineComment) commentJSON {
	k := c.Key()
	out := commentJSON{PatchMessageID: c.PatchMessageID, File: c.File, Side: c.Side, Line: c.Line, Author: c.Author,
		Date: c.Date, Body: c.Body, MessageID: c.MessageID, List: c.List,
		URL:   "/" + url.PathEscape(c.List) + "/" + url.PathEscape(c.MessageID) + "/",
		Quote: c.Quote, Resolved: c.Resolved, ResolvedBy: c.ResolvedBy, CarriedFrom: c.CarriedFrom,
		Key: keyJSON{k.ReplyMessageID, k.PatchMessageID, k.File, k.Side, k.Line}}
	if c.Resolved {
		t := c.ResolvedAt
		out.ResolvedAt = &t
	}
	return out
}

// apiComments serves GET /api/v1/series/{id}/comments: the review comments
// of a series, in patch order.
func (h *Handler) apiComments(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, errBadID.Error())
		return
	}
	if _, _, err := h.r.Series(r.Context(), id); err != nil {
		h.fail(w, "series", err)
		return
	}
	out := []commentJSON{}
	if cr, ok := h.r.(CommentReader); ok {
		cs, err := cr.SeriesComments(r.Context(), id)
		if err != nil {
			h.fail(w, "series", err)
			return
		}
		for _, c := range cs {
			out = append(out, toComment(c))
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"comments": out})
}
