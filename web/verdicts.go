package web

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// The reviewer's side of a series page beyond line comments (issue 17):
// the reviewers' verdicts (template "verdicts"), the open issues
// ("issues"), and the reader's pending review ("pendingReview", with
// "lineActions" and "lineDrafts" in the diff): comments saved
// server-side until submitted, then sent as mail through
// review.Service.SubmitPending. Everything works without JavaScript;
// static/drafts.js saves a comment without reloading the page.

// verdictBadge is one verdict as the page shows it.
type verdictBadge struct {
	Label, Class string
	On           int    // the version it was given on, 0 for this one
	Patches      string // "patches 1, 3"; "" for the whole series
	URL          string // the reply that gave it
}

// reviewerView is one reviewer with their verdicts.
type reviewerView struct {
	Name, Email string
	Badges      []verdictBadge
}

// issueView is one issue in the page's list.
type issueView struct {
	viewComment
	Status string // open, resolved, addressed
	Raised int    // the version it was raised on, 0 for this one
	Note   string // what became of it on this revision
	Link   string // its line on this page, else the reply
	Place  string // "patch 2 README:2"
}

// issuesBlock is the page's open issues.
type issuesBlock struct {
	Open, Total int
	Items       []issueView
}

// draftView is one pending comment of the reader's.
type draftView struct {
	store.DraftComment
	SeriesID int64
	CSRF     string
	Anchor   string // the diff row it is on
	Where    string // "patch 2 README:2"
}

// verdictLabel is how a verdict kind reads on a button or badge.
func verdictLabel(kind string) (label, class string) {
	if kind == store.VerdictChangesRequested {
		return "Changes requested", "changes"
	}
	return kind, "approved"
}

// reviewersOf groups verdicts by reviewer, in their order.
func reviewersOf(s *store.Series, vs []store.Verdict) []reviewerView {
	var out []reviewerView
	at := map[string]int{}
	for _, v := range vs {
		k := strings.ToLower(v.Reviewer.Email)
		i, ok := at[k]
		if !ok {
			name := visible(v.Reviewer.Name)
			if name == "" {
				name = v.Reviewer.Email
			}
			out = append(out, reviewerView{Name: name, Email: v.Reviewer.Email})
			i = len(out) - 1
			at[k] = i
		}
		b := verdictBadge{URL: "/" + url.PathEscape(s.List) + "/" + url.PathEscape(v.MessageID) + "/"}
		b.Label, b.Class = verdictLabel(v.Kind)
		if v.OnSeries != s.ID {
			b.On = v.Version
		}
		if len(v.Patches) > 0 {
			ps := make([]string, len(v.Patches))
			for j, p := range v.Patches {
				ps[j] = strconv.Itoa(p)
			}
			b.Patches = "patch"
			if len(ps) > 1 {
				b.Patches += "es"
			}
			b.Patches += " " + strings.Join(ps, ", ")
		}
		out[i].Badges = append(out[i].Badges, b)
	}
	return out
}

// lineRef finds the diff row of the page a comment's place is on: its
// anchor and a short description; "" anchor when the page has none.
func lineRef(d *seriesPage, patch, file, side string, n int) (anchor, where string) {
	for pi := range d.Patches {
		p := &d.Patches[pi]
		if p.MessageID != patch {
			continue
		}
		where = "patch " + strconv.Itoa(p.Index)
		if file != "" {
			where += " " + visible(file)
			if n > 0 {
				where += ":" + strconv.Itoa(n)
				if side == store.SideOld {
					where += " (old)"
				}
			}
		}
		for fi := range p.Files {
			f := &p.Files[fi]
			if f.NewPath != file && f.OldPath != file {
				continue
			}
			for li := range f.Lines {
				ln := &f.Lines[li]
				if side == store.SideOld && ln.Old == n && (ln.Class == "del" || ln.Class == "ctx") ||
					side == store.SideNew && ln.New == n && (ln.Class == "add" || ln.Class == "ctx") {
					return ln.ID, where
				}
			}
		}
		return "patch-" + strconv.Itoa(p.Index), where
	}
	return "", ""
}

// seriesVerdicts fills the page's reviewers, issues and the reader's
// pending review. mayResolve says whether the reader may resolve a
// comment by author (nil: nobody may).
func (h *Handler) seriesVerdicts(r *http.Request, d *seriesPage, mayResolve func(author string) bool) error {
	ctx := r.Context()
	vs, err := h.r.Verdicts(ctx, d.S.ID)
	if err != nil {
		return err
	}
	d.Reviewers = reviewersOf(d.S, vs)
	is, err := h.r.Issues(ctx, d.S.ID)
	if err != nil {
		return err
	}
	for _, i := range is {
		v := issueView{viewComment: newViewComment(i.LineComment), Note: i.Where}
		switch {
		case i.Resolved:
			v.Status = "resolved"
		case i.Addressed:
			v.Status = "addressed"
		default:
			v.Status = "open"
			d.Issues.Open++
		}
		if i.OnSeries != d.S.ID {
			v.Raised = i.Version
		}
		v.Link = v.URL
		if a, where := lineRef(d, i.PatchMessageID, i.File, i.Side, i.Line); a != "" {
			v.Link, v.Place = "#"+a, where
		} else {
			v.Place = v.Where
			if v.Place == "" {
				v.Place = "the series"
			}
		}
		if mayResolve != nil && mayResolve(i.Author.Email) {
			v.ResolveForm = "resolve-form"
		}
		d.Issues.Items = append(d.Issues.Items, v)
	}
	d.Issues.Total = len(d.Issues.Items)
	u := h.currentUser(r)
	if u == nil || !d.Review.CanComment {
		return nil
	}
	drafts, err := h.r.DraftComments(ctx, u.ID, d.S.ID)
	if err != nil {
		return err
	}
	for _, c := range drafts {
		c.Body = visible(c.Body)
		v := draftView{DraftComment: c, SeriesID: d.S.ID, CSRF: d.Review.CSRF}
		v.Anchor, v.Where = lineRef(d, c.PatchMessageID, c.File, c.Side, c.Line)
		d.Pending = append(d.Pending, v)
		placeDraft(d, v)
	}
	return nil
}

// placeDraft shows a pending comment under its diff line.
func placeDraft(d *seriesPage, v draftView) {
	for pi := range d.Patches {
		p := &d.Patches[pi]
		if p.MessageID != v.PatchMessageID {
			continue
		}
		for fi := range p.Files {
			for li := range p.Files[fi].Lines {
				if ln := &p.Files[fi].Lines[li]; ln.ID != "" && ln.ID == v.Anchor {
					ln.Drafts = append(ln.Drafts, v)
					return
				}
			}
		}
	}
}

// wantsJSON: the request came from drafts.js, which wants the result,
// not a page.
func wantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.Header.Get("Accept"), "application/json")
}

// saveDrafts adds the comments of a review form to the reader's pending
// review (its "Add to review" button) and goes back to the first.
func (h *Handler) saveDrafts(w http.ResponseWriter, r *http.Request, s *store.Series, u *store.User, cs []store.DraftComment) {
	if len(cs) == 0 {
		h.httpError(w, r, http.StatusBadRequest, "write a comment on a line first")
		return
	}
	var saved []store.DraftComment
	for _, c := range cs {
		got, err := h.r.SaveDraftComment(r.Context(), u.ID, s.ID, c)
		if !h.draftErr(w, r, err) {
			return
		}
		saved = append(saved, *got)
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"drafts": saved})
		return
	}
	http.Redirect(w, r, h.seriesPath(s)+"#draft-"+strconv.FormatInt(saved[0].ID, 10), http.StatusSeeOther)
}

// draftErr answers an error of the pending review; false when it did.
func (h *Handler) draftErr(w http.ResponseWriter, r *http.Request, err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, invalidText(err))
	case errors.Is(err, store.ErrNotFound):
		h.httpError(w, r, http.StatusNotFound, "no such pending comment")
	case errors.Is(err, store.ErrReadOnly):
		h.httpError(w, r, http.StatusNotFound, "web review is not enabled on this server")
	default:
		h.fail(w, r, "series", err)
	}
	return false
}

func (h *Handler) seriesPath(s *store.Series) string {
	return "/series/" + strconv.FormatInt(s.ID, 10) + "/"
}

// draftForm serves POST /series/{id}/draft: a pending comment's own form,
// op save (id, body, issue) or delete (id).
func (h *Handler) draftForm(w http.ResponseWriter, r *http.Request) {
	s, u := h.formForWrite(w, r, "comment")
	if s == nil {
		return
	}
	id, err := strconv.ParseInt(r.PostFormValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, "bad pending comment id")
		return
	}
	back := h.seriesPath(s)
	switch r.PostFormValue("op") {
	case "delete":
		if !h.draftErr(w, r, h.r.DeleteDraftComments(r.Context(), u.ID, s.ID, []int64{id})) {
			return
		}
		if a := r.PostFormValue("anchor"); a != "" && len(a) < 200 {
			back += "#" + url.PathEscape(a)
		}
	case "save":
		drafts, err := h.r.DraftComments(r.Context(), u.ID, s.ID)
		if !h.draftErr(w, r, err) {
			return
		}
		i := slices.IndexFunc(drafts, func(c store.DraftComment) bool { return c.ID == id })
		if i < 0 {
			h.httpError(w, r, http.StatusNotFound, "no such pending comment")
			return
		}
		c := drafts[i]
		c.Body, c.Issue = r.PostFormValue("body"), r.PostFormValue("issue") != ""
		if _, err := h.r.SaveDraftComment(r.Context(), u.ID, s.ID, c); !h.draftErr(w, r, err) {
			return
		}
		back += "#draft-" + strconv.FormatInt(id, 10)
	default:
		h.httpError(w, r, http.StatusBadRequest, "op: save or delete")
		return
	}
	if wantsJSON(r) {
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
		return
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// submitForm serves POST /series/{id}/submit: the reader's pending review
// with a summary and a verdict (a button named verdict: "" to send the
// comments alone, Reviewed-by, Acked-by, Tested-by, Changes-requested,
// or discard to drop the pending comments).
func (h *Handler) submitForm(w http.ResponseWriter, r *http.Request) {
	s, u := h.formForWrite(w, r, "review")
	if s == nil {
		return
	}
	verdict := r.PostFormValue("verdict")
	if verdict == "discard" {
		if h.draftErr(w, r, h.r.DeleteDraftComments(r.Context(), u.ID, s.ID, nil)) {
			http.Redirect(w, r, h.seriesPath(s)+"#your-review", http.StatusSeeOther)
		}
		return
	}
	sent, err := h.r.SubmitPending(r.Context(), store.PendingReview{SeriesID: s.ID, UserID: u.ID,
		From: core.Person{Name: u.Name, Email: u.Email}, Summary: r.PostFormValue("summary"), Verdict: verdict})
	if !h.draftErr(w, r, err) {
		return
	}
	http.Redirect(w, r, fmt.Sprintf("%s?reviewed=%s&sent=%d#review-done", h.seriesPath(s), url.QueryEscape(sent[len(sent)-1]), len(sent)), http.StatusSeeOther)
}

// verdictJSON is a verdict in the series API ("reviews"): state approved
// (kind Reviewed-by, Acked-by or Tested-by) or changes_requested; the
// revision it was given on (series_id, version); the patches it was given
// to, [] for the whole series.
type verdictJSON struct {
	Reviewer  core.Person `json:"reviewer"`
	Kind      string      `json:"kind"`
	State     string      `json:"state"`
	SeriesID  int64       `json:"series_id"`
	Version   int         `json:"version"`
	Patches   []int       `json:"patches"`
	MessageID string      `json:"message_id"`
	URL       string      `json:"url"`
	Date      time.Time   `json:"date"`
}

// issueJSON is an issue in the series API ("issues"): a comment (as in
// GET comments, whose key resolves it) with the revision it was raised
// on, its state (open, resolved, addressed) and what became of it.
type issueJSON struct {
	commentJSON
	Version   int     `json:"version"`
	SeriesID  *int64  `json:"series_id"`
	State     string  `json:"state"`
	Addressed bool    `json:"addressed"`
	Note      *string `json:"note"`
}

func toVerdicts(list string, vs []store.Verdict) []verdictJSON {
	out := make([]verdictJSON, 0, len(vs))
	for _, v := range vs {
		state := "approved"
		if v.Kind == store.VerdictChangesRequested {
			state = "changes_requested"
		}
		ps := v.Patches
		if ps == nil {
			ps = []int{}
		}
		out = append(out, verdictJSON{Reviewer: v.Reviewer, Kind: v.Kind, State: state, SeriesID: v.OnSeries, Version: v.Version,
			Patches: ps, MessageID: v.MessageID, URL: "/" + url.PathEscape(list) + "/" + url.PathEscape(v.MessageID) + "/", Date: v.Date})
	}
	return out
}

func toIssues(is []store.Issue) []issueJSON {
	out := make([]issueJSON, 0, len(is))
	for _, i := range is {
		state := "open"
		switch {
		case i.Resolved:
			state = "resolved"
		case i.Addressed:
			state = "addressed"
		}
		out = append(out, issueJSON{commentJSON: toComment(i.LineComment), Version: i.Version, SeriesID: nullID(i.OnSeries),
			State: state, Addressed: i.Addressed, Note: nullString(i.Where)})
	}
	return out
}

//go:embed static/drafts.js
var draftsJS []byte

// draftsScript serves static/drafts.js.
func (h *Handler) draftsScript(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_, _ = w.Write(draftsJS)
}

// verdictRoutes registers the pending review's routes.
func (h *Handler) verdictRoutes() {
	h.mux.HandleFunc("POST /series/{id}/draft", h.draftForm)
	h.mux.HandleFunc("POST /series/{id}/submit", h.submitForm)
	h.mux.HandleFunc("GET /static/drafts.js", h.draftsScript)
}
