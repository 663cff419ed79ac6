package web

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/core"
	"patchwell/store"
)

// viewComment is a review comment as the series page shows it.
type viewComment struct {
	store.LineComment
	// URL is the reply's message page.
	URL string
	// Where says where a comment that is not shown at a line was made
	// ("drivers/x.c", "drivers/x.c:12 (removed line)"), for the discussion
	// list.
	Where string
	// ResolveKey is the value of its resolve button (resolveValue),
	// ResolveForm the id of the form the button submits ("" for readers
	// who may not resolve).
	ResolveKey, ResolveForm string
}

func newViewComment(c store.LineComment) viewComment {
	c.Body = visible(c.Body)
	c.Author.Name = visible(c.Author.Name)
	for i := range c.Quote {
		c.Quote[i] = visible(c.Quote[i])
	}
	v := viewComment{LineComment: c, URL: "/" + url.PathEscape(c.List) + "/" + url.PathEscape(c.MessageID) + "/", ResolveKey: resolveValue(c.Key())}
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
// /api/v1/series/{id}/comments). Key is what a resolve request names. As
// everywhere in the API, absent values are null and lists [], never
// omitted: file, side and line are null for a comment on a whole patch or
// the cover letter.
type commentJSON struct {
	PatchMessageID string      `json:"patch_message_id"`
	File           *string     `json:"file"`
	Side           *string     `json:"side"`
	Line           *int        `json:"line"`
	Author         core.Person `json:"author"`
	Date           time.Time   `json:"date"`
	Body           string      `json:"body"`
	MessageID      string      `json:"message_id"`
	List           string      `json:"list"`
	URL            string      `json:"url"`
	Quote          []string    `json:"quote"`
	Resolved       bool        `json:"resolved"`
	ResolvedBy     *string     `json:"resolved_by"`
	ResolvedAt     *time.Time  `json:"resolved_at"`
	CarriedFrom    *int        `json:"carried_from"`
	Key            keyJSON     `json:"key"`
}

// keyJSON identifies a comment for its resolved mark.
type keyJSON struct {
	ReplyMessageID string `json:"reply_message_id"`
	PatchMessageID string `json:"patch_message_id"`
	File           string `json:"file"`
	Side           string `json:"side"`
	Line           int    `json:"line"`
}

// nullInt is n, or null for zero.
func nullInt(n int) *int {
	if n == 0 {
		return nil
	}
	return &n
}

func toComment(c store.LineComment) commentJSON {
	k := c.Key()
	out := commentJSON{PatchMessageID: c.PatchMessageID, File: nullString(c.File), Side: nullString(c.Side),
		Line: nullInt(c.Line), Author: c.Author, Date: c.Date, Body: c.Body, MessageID: c.MessageID, List: c.List,
		URL:   "/" + url.PathEscape(c.List) + "/" + url.PathEscape(c.MessageID) + "/",
		Quote: c.Quote, Resolved: c.Resolved, CarriedFrom: nullInt(c.CarriedFrom),
		Key: keyJSON{k.ReplyMessageID, k.PatchMessageID, k.File, k.Side, k.Line}}
	if out.Quote == nil {
		out.Quote = []string{}
	}
	if c.Resolved {
		t := c.ResolvedAt
		out.ResolvedAt, out.ResolvedBy = &t, nullString(c.ResolvedBy)
	}
	return out
}

// apiComments serves GET /api/v1/series/{id}/comments: the review comments
// of a series, in patch order.
func (h *Handler) apiComments(w http.ResponseWriter, r *http.Request) {
	s, _, _, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	id := s.ID
	cs, err := h.r.SeriesComments(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	out := []commentJSON{}
	for _, c := range cs {
		out = append(out, toComment(c))
	}
	writeJSON(w, http.StatusOK, map[string]any{"comments": out})
}

// reviewBlock is what the series page needs for the review forms.
type reviewBlock struct {
	CanComment bool
	CSRF       string
	From       string // who the review mail will be from
	// Archived is the Message-ID of the review just sent (after the
	// redirect), URL its message page.
	Archived, URL string
}

// Limits on review requests.
const maxReviewBody = 1 << 20

// patchForm is one patch's review form.
type patchForm struct {
	ID, CSRF, From, MessageID string
	SeriesID                  int64
	Label                     string
	// Lines: the form has line comments (a patch's, not the cover's).
	Lines bool
	// Split: the page shows the diffs side by side, and so will the
	// page the form leads back to.
	Split bool
}

// commentField names a line's comment input: "c:SIDE:LINE:PATH".
func commentField(side string, line int, path string) string {
	return "c:" + side + ":" + strconv.Itoa(line) + ":" + path
}

// parseCommentField reads a commentField name.
func parseCommentField(name string) (side string, line int, path string, ok bool) {
	parts := strings.SplitN(name, ":", 4)
	if len(parts) != 4 || parts[0] != "c" || (parts[1] != store.SideOld && parts[1] != store.SideNew) || parts[3] == "" {
		return "", 0, "", false
	}
	n, err := strconv.Atoi(parts[2])
	if err != nil || n <= 0 {
		return "", 0, "", false
	}
	return parts[1], n, parts[3], true
}

// enableCommentForms gives every numbered diff line of the page a comment
// input belonging to its patch's review form.
func enableCommentForms(d *seriesPage, may func(author string) bool) {
	if d.S.CoverMessageID != "" {
		d.CoverForm = &patchForm{ID: "review-cover", CSRF: d.Review.CSRF, From: d.Review.From, MessageID: d.S.CoverMessageID,
			SeriesID: d.S.ID, Label: "Reply to the cover letter (the whole series)", Split: d.Split}
	}
	resolvable := func(cs []viewComment) {
		for i := range cs {
			if may(cs[i].Author.Email) {
				cs[i].ResolveForm = "resolve-form"
			}
		}
	}
	resolvable(d.Discussion)
	for pi := range d.Patches {
		p := &d.Patches[pi]
		p.FormID = "review-p" + strconv.Itoa(p.Index)
		p.Form = &patchForm{ID: p.FormID, CSRF: d.Review.CSRF, From: d.Review.From, MessageID: p.MessageID, SeriesID: d.S.ID,
			Label: "Review of patch " + strconv.Itoa(p.Index), Lines: true, Split: d.Split}
		resolvable(p.Discussion)
		for fi := range p.Files {
			f := &p.Files[fi]
			path := f.NewPath
			if path == "" {
				path = f.OldPath
			}
			if path == "" {
				continue
			}
			for li := range f.Lines {
				ln := &f.Lines[li]
				resolvable(ln.Comments)
				ln.Form = p.FormID
				switch ln.Class {
				case "add", "ctx":
					ln.Field = commentField(store.SideNew, ln.New, path)
				case "del":
					ln.Field = commentField(store.SideOld, ln.Old, path)
				default:
					ln.Form = ""
				}
			}
		}
	}
}

// resolveValue encodes a comment's key for the resolve buttons.
func resolveValue(k store.Resolution) string {
	return url.Values{"r": {k.ReplyMessageID}, "p": {k.PatchMessageID}, "f": {k.File}, "s": {k.Side}, "l": {strconv.Itoa(k.Line)}}.Encode()
}

// seriesForWrite resolves the series of a write request and checks act;
// it answers errors itself and returns nil then.
func (h *Handler) seriesForWrite(w http.ResponseWriter, r *http.Request) (*store.Series, *store.List, *store.User) {
	if h.noAccounts(w, r) {
		return nil, nil, nil
	}
	s, l, u, ok := h.seriesFor(w, r, "id", access.Comment)
	if !ok {
		return nil, nil, nil
	}
	return s, l, u
}

// formForWrite reads a review form (what, "review" or "comment", names it
// in the error for one too large) and resolves its series as
// seriesForWrite does; nil when it answered.
func (h *Handler) formForWrite(w http.ResponseWriter, r *http.Request, what string) (*store.Series, *store.User) {
	r.Body = http.MaxBytesReader(w, r.Body, maxReviewBody)
	if err := r.ParseForm(); err != nil {
		h.httpError(w, r, http.StatusRequestEntityTooLarge, what+" too large or malformed")
		return nil, nil
	}
	s, _, u := h.seriesForWrite(w, r)
	return s, u
}

// submit sends a draft and answers the errors; "" when it did.
func (h *Handler) submit(w http.ResponseWriter, r *http.Request, d store.ReviewDraft) (string, string) {
	msgid, list, err := h.r.SubmitReview(r.Context(), d)
	switch {
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, invalidText(err))
		return "", ""
	case errors.Is(err, store.ErrReadOnly):
		h.httpError(w, r, http.StatusNotFound, "web review is not enabled on this server")
		return "", ""
	case err != nil:
		h.fail(w, r, "series", err)
		return "", ""
	}
	return msgid, list
}

// reviewForm serves POST /series/{id}/review: one patch's review form (a
// summary, "patch" naming the patch, and a c:SIDE:LINE:PATH field per
// commented line). It redirects to the series page, which says where the
// reply was archived.
func (h *Handler) reviewForm(w http.ResponseWriter, r *http.Request) {
	s, u := h.formForWrite(w, r, "review")
	if s == nil {
		return
	}
	patch := r.PostFormValue("patch")
	d := store.ReviewDraft{SeriesID: s.ID, From: core.Person{Name: u.Name, Email: u.Email},
		Summary: r.PostFormValue("summary"), InReplyTo: patch}
	names := make([]string, 0, len(r.PostForm))
	for name := range r.PostForm {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !strings.HasPrefix(name, "c:") {
			continue
		}
		side, line, path, ok := parseCommentField(name)
		if !ok {
			h.httpError(w, r, http.StatusBadRequest, "bad comment field "+strconv.Quote(name))
			return
		}
		for _, body := range r.PostForm[name] {
			if strings.TrimSpace(body) != "" {
				d.Comments = append(d.Comments, store.DraftComment{PatchMessageID: patch, File: path, Side: side, Line: line, Body: body,
					Issue: r.PostFormValue("i:"+name) != ""})
			}
		}
	}
	if r.PostFormValue("op") == "draft" {
		// "Add to review": into the pending review, not sent (verdicts.go).
		h.saveDrafts(w, r, s, u, d.Comments)
		return
	}
	msgid, _ := h.submit(w, r, d)
	if msgid == "" {
		return
	}
	http.Redirect(w, r, "/series/"+strconv.FormatInt(s.ID, 10)+"/?reviewed="+url.QueryEscape(msgid)+viewParam(r, "&")+"#review-done", http.StatusSeeOther)
}

// resolveForm serves POST /series/{id}/comments/resolve: a button named
// "resolve" or "unresolve" whose value is the comment's key
// (resolveValue).
func (h *Handler) resolveForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.httpError(w, r, http.StatusBadRequest, "malformed form")
		return
	}
	s, l, u := h.seriesForWrite(w, r)
	if s == nil {
		return
	}
	resolved := true
	v := r.PostFormValue("resolve")
	if v == "" {
		resolved, v = false, r.PostFormValue("unresolve")
	}
	q, err := url.ParseQuery(v)
	line, lerr := strconv.Atoi(q.Get("l"))
	if v == "" || err != nil || lerr != nil || q.Get("r") == "" || q.Get("p") == "" {
		h.httpError(w, r, http.StatusBadRequest, "bad comment key: want resolve or unresolve = r=REPLY&p=PATCH&f=FILE&s=SIDE&l=LINE")
		return
	}
	k := store.Resolution{ReplyMessageID: q.Get("r"), PatchMessageID: q.Get("p"), File: q.Get("f"), Side: q.Get("s"), Line: line}
	if !h.resolve(w, r, s, l, k, u, resolved) {
		return
	}
	http.Redirect(w, r, "/series/"+strconv.FormatInt(s.ID, 10)+"/"+viewParam(r, "?"), http.StatusSeeOther)
}

// viewParam keeps the side-by-side view across a form's round trip:
// sep+"view=split" when the form said so (a hidden input), else "".
func viewParam(r *http.Request, sep string) string {
	if r.PostFormValue("view") == "split" {
		return sep + "view=split"
	}
	return ""
}

// resolve sets or clears a comment's resolved mark when u may: the
// comment's author, the series' submitter or a maintainer of the list.
func (h *Handler) resolve(w http.ResponseWriter, r *http.Request, s *store.Series, l *store.List, k store.Resolution, u *store.User, resolved bool) bool {
	cs, err := h.r.ResolvableComments(r.Context(), s.ID)
	if err != nil {
		h.fail(w, r, "series", err)
		return false
	}
	i := slices.IndexFunc(cs, func(c store.LineComment) bool { return c.Key() == k })
	if i < 0 {
		h.httpError(w, r, http.StatusNotFound, "comment not found")
		return false
	}
	may, err := h.mayResolve(r, s, l, cs[i].Author.Email)
	if err != nil {
		h.fail(w, r, "series", err)
		return false
	}
	if !may {
		h.httpError(w, r, http.StatusForbidden, "only the comment's author, the series' submitter or a maintainer may resolve it")
		return false
	}
	err = h.r.ResolveComment(r.Context(), s.ID, k, u.Email, resolved)
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, "comment not found")
		return false
	}
	if err != nil {
		h.fail(w, r, "series", err)
		return false
	}
	return true
}

// apiPostComments serves POST /api/v1/series/{id}/comments with a bearer
// token and a JSON body {"summary": "...", "in_reply_to": "...",
// "comments": [{"patch_message_id", "file", "side", "line", "body"}]}:
// the same review as the page's form, answered 201 with where it went.
func (h *Handler) apiPostComments(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Summary   string               `json:"summary"`
		InReplyTo string               `json:"in_reply_to"`
		Comments  []store.DraftComment `json:"comments"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxReviewBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		if h.currentUser(r) == nil && h.acc != nil {
			unauthorized(w, "sign in: send Authorization: Bearer TOKEN (create one on /account)")
			return
		}
		h.httpError(w, r, http.StatusBadRequest, `bad request body: want {"summary": "...", "comments": [{"patch_message_id": "...", "file": "...", "side": "new", "line": 1, "body": "..."}]}`)
		return
	}
	s, _, u := h.seriesForWrite(w, r)
	if s == nil {
		return
	}
	msgid, list := h.submit(w, r, store.ReviewDraft{SeriesID: s.ID, From: core.Person{Name: u.Name, Email: u.Email},
		Summary: req.Summary, InReplyTo: req.InReplyTo, Comments: req.Comments})
	if msgid == "" {
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"message_id": msgid, "list": list,
		"url":      "/" + url.PathEscape(list) + "/" + url.PathEscape(msgid) + "/",
		"delivery": "queued"})
}

// apiResolve serves POST /api/v1/series/{id}/comments/resolve with a
// bearer token and a JSON body {"key": {...as in GET comments...},
// "resolved": true|false}.
func (h *Handler) apiResolve(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Key      keyJSON `json:"key"`
		Resolved *bool   `json:"resolved"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF || req.Resolved == nil {
		if h.currentUser(r) == nil && h.acc != nil {
			unauthorized(w, "sign in: send Authorization: Bearer TOKEN (create one on /account)")
			return
		}
		h.httpError(w, r, http.StatusBadRequest, `bad request body: want {"key": {...}, "resolved": true}`)
		return
	}
	s, l, u := h.seriesForWrite(w, r)
	if s == nil {
		return
	}
	k := store.Resolution{ReplyMessageID: req.Key.ReplyMessageID, PatchMessageID: req.Key.PatchMessageID,
		File: req.Key.File, Side: req.Key.Side, Line: req.Key.Line}
	if h.resolve(w, r, s, l, k, u, *req.Resolved) {
		writeJSON(w, http.StatusOK, map[string]any{"resolved": *req.Resolved})
	}
}

// commentRoutes registers the review routes.
func (h *Handler) commentRoutes() {
	h.mux.HandleFunc("GET /api/v1/series/{id}/comments", h.apiComments)
	h.mux.HandleFunc("POST /api/v1/series/{id}/comments", h.apiPostComments)
	h.mux.HandleFunc("POST /api/v1/series/{id}/comments/resolve", h.apiResolve)
	h.mux.HandleFunc("POST /series/{id}/review", h.reviewForm)
	h.mux.HandleFunc("POST /series/{id}/comments/resolve", h.resolveForm)
}

// mayResolve reports whether the request's user may resolve a comment by
// author on series s: its author, the series' submitter, or whoever may
// set the series' status.
func (h *Handler) mayResolve(r *http.Request, s *store.Series, l *store.List, author string) (bool, error) {
	subj, err := h.subject(r, l)
	if err != nil || subj.User == nil || !access.Allowed(subj, l, access.Comment) {
		return false, err
	}
	e := subj.User.Email
	return strings.EqualFold(e, author) || strings.EqualFold(e, s.Submitter.Email) || access.Allowed(subj, l, access.SetStatus), nil
}

// seriesReview builds the page's review block: whether the reader may
// comment, and the notice after a review was sent.
func (h *Handler) seriesReview(r *http.Request, l *store.List) (reviewBlock, error) {
	b := reviewBlock{CSRF: h.csrfToken(r)}
	if a := r.URL.Query().Get("reviewed"); a != "" && len(a) <= maxMessageIDLen {
		b.Archived, b.URL = a, "/"+url.PathEscape(l.Name)+"/"+url.PathEscape(a)+"/"
	}
	if h.acc == nil {
		return b, nil
	}
	subj, err := h.subject(r, l)
	if err != nil {
		return b, err
	}
	b.CanComment = access.Allowed(subj, l, access.Comment)
	if u := subj.User; u != nil {
		b.From = (&mail.Address{Name: u.Name, Address: u.Email}).String()
	}
	return b, nil
}
