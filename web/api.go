package web

import (
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"patchwell/store"
)

//go:embed templates/*.html
var templateFS embed.FS

func parseTemplates() (*template.Template, error) {
	return template.ParseFS(templateFS, "templates/*.html")
}

// writeJSON answers v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// writeError answers {"error": msg}.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}

// apiList is a list as the API shows it.
type apiList struct {
	Name         string     `json:"name"`
	Address      string     `json:"address"`
	Description  string     `json:"description"`
	Messages     int        `json:"messages"`
	Series       int        `json:"series"`
	OpenSeries   int        `json:"open_series"`
	Created      time.Time  `json:"created"`
	LastActivity *time.Time `json:"last_activity"`
}

func (h *Handler) list(l store.List) apiList {
	a := apiList{Name: l.Name, Address: l.Name + "@" + h.cfg.Domain, Description: l.Description,
		Messages: l.Messages, Series: l.Series, OpenSeries: l.OpenSeries, Created: l.Created}
	if !l.LastActivity.IsZero() {
		t := l.LastActivity
		a.LastActivity = &t
	}
	return a
}

// apiSeries is a series as the API shows it: previous and superseded_by are
// null when absent.
type apiSeries struct {
	ID             int64        `json:"id"`
	List           string       `json:"list"`
	Subject        string       `json:"subject"`
	Version        int          `json:"version"`
	Status         string       `json:"status"`
	Submitter      store.Person `json:"submitter"`
	Total          int          `json:"total"`
	Received       int          `json:"received"`
	Complete       bool         `json:"complete"`
	MessageID      string       `json:"message_id"`
	CoverMessageID *string      `json:"cover_message_id"`
	Date           time.Time    `json:"date"`
	Previous       *int64       `json:"previous"`
	SupersededBy   *int64       `json:"superseded_by"`
	RFC            bool         `json:"rfc"`
	Resend         bool         `json:"resend"`
	Prefix         string       `json:"prefix"`
	ChangeID       string       `json:"change_id,omitempty"`
	BaseCommit     string       `json:"base_commit,omitempty"`
	PullURL        string       `json:"pull_url,omitempty"`
	PullRef        string       `json:"pull_ref,omitempty"`
	Patches        []apiPatch   `json:"patches,omitempty"`
}

type apiPatch struct {
	Index         int             `json:"index"`
	Subject       string          `json:"subject"`
	MessageID     string          `json:"message_id"`
	Author        store.Person    `json:"author"`
	Date          *time.Time      `json:"date"`
	CommitSubject string          `json:"commit_subject"`
	Files         []store.File    `json:"files"`
	PatchID       string          `json:"patch_id"`
	Trailers      []store.Trailer `json:"trailers"`
}

func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func series(s store.Series) apiSeries {
	a := apiSeries{ID: s.ID, List: s.List, Subject: s.Subject, Version: s.Version, Status: s.Status, Submitter: s.Submitter,
		Total: s.Total, Received: s.Received, Complete: s.Complete, MessageID: s.MessageID, Date: s.Date,
		Previous: optID(s.Previous), SupersededBy: optID(s.SupersededBy), RFC: s.RFC, Resend: s.Resend, Prefix: s.Prefix,
		ChangeID: s.ChangeID, BaseCommit: s.BaseCommit, PullURL: s.PullURL, PullRef: s.PullRef}
	if s.CoverMessageID != "" {
		c := s.CoverMessageID
		a.CoverMessageID = &c
	}
	return a
}

func patch(p store.Patch) apiPatch {
	a := apiPatch{Index: p.Index, Subject: p.Subject, MessageID: p.MessageID, Author: p.Author, CommitSubject: p.CommitSubject,
		Files: p.Files, PatchID: p.PatchID, Trailers: p.Trailers}
	if !p.Date.IsZero() {
		d := p.Date
		a.Date = &d
	}
	if a.Files == nil {
		a.Files = []store.File{}
	}
	if a.Trailers == nil {
		a.Trailers = []store.Trailer{}
	}
	return a
}

// page reads ?limit and ?offset: 400 on anything but non-negative numbers.
func page(r *http.Request) (store.Page, error) {
	var p store.Page
	if len(r.URL.RawQuery) > maxQueryLen {
		return p, errors.New("query too long")
	}
	q := r.URL.Query()
	for _, f := range []struct {
		name string
		dst  *int
	}{{"limit", &p.Limit}, {"offset", &p.Offset}} {
		v := q.Get(f.name)
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return p, errors.New("bad " + f.name + ": want a number >= 0")
		}
		*f.dst = n
	}
	return p.Normalize(), nil
}

func (h *Handler) apiLists(w http.ResponseWriter, r *http.Request) {
	lists, err := h.r.Lists(r.Context())
	if err != nil {
		h.fail(w, "lists", err)
		return
	}
	out := make([]apiList, 0, len(lists))
	for _, l := range lists {
		out = append(out, h.list(l))
	}
	writeJSON(w, http.StatusOK, map[string]any{"lists": out})
}

func (h *Handler) listName(w http.ResponseWriter, r *http.Request) (string, bool) {
	name := r.PathValue("name")
	if len(name) > maxListNameLen || !store.ValidListName(name) {
		writeError(w, http.StatusNotFound, "list not found")
		return "", false
	}
	return name, true
}

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	name, ok := h.listName(w, r)
	if !ok {
		return
	}
	l, err := h.r.List(r.Context(), name)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	writeJSON(w, http.StatusOK, h.list(*l))
}

var statuses = map[string]bool{
	store.StatusProposed: true, store.StatusNeedsRevision: true, store.StatusApproved: true,
	store.StatusRejected: true, store.StatusApplied: true, store.StatusSuperseded: true,
}

func (h *Handler) apiSeriesList(w http.ResponseWriter, r *http.Request) {
	name, ok := h.listName(w, r)
	if !ok {
		return
	}
	p, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	status := r.URL.Query().Get("status")
	if status != "" && !statuses[status] {
		writeError(w, http.StatusBadRequest, "bad status: want proposed, needs_revision, approved, rejected, applied or superseded")
		return
	}
	list, err := h.r.SeriesList(r.Context(), name, status, p)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	out := make([]apiSeries, 0, len(list))
	for _, s := range list {
		out = append(out, series(s))
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": out})
}

func (h *Handler) apiSeries(w http.ResponseWriter, r *http.Request) {
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
	a := series(*s)
	a.Patches = make([]apiPatch, 0, len(patches))
	for _, p := range patches {
		a.Patches = append(a.Patches, patch(p))
	}
	// Always present, even when empty.
	type withPatches struct {
		apiSeries
		Patches []apiPatch `json:"patches"`
	}
	writeJSON(w, http.StatusOK, withPatches{a, a.Patches})
}

type apiThread struct {
	ID            int64     `json:"id"`
	Subject       string    `json:"subject"`
	RootMessageID string    `json:"root_message_id"`
	Messages      int       `json:"messages"`
	FirstDate     time.Time `json:"first_date"`
	LastDate      time.Time `json:"last_date"`
}

func (h *Handler) apiThreads(w http.ResponseWriter, r *http.Request) {
	name, ok := h.listName(w, r)
	if !ok {
		return
	}
	p, err := page(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	threads, err := h.r.Threads(r.Context(), name, p)
	if err != nil {
		h.fail(w, "list", err)
		return
	}
	out := make([]apiThread, 0, len(threads))
	for _, t := range threads {
		out = append(out, apiThread(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"threads": out})
}

// raw serves /{list}/{message-id}/raw: the stored bytes as text/plain (as
// public-inbox does, so browsers show rather than download them), with
// nosniff. The id may contain '/' and may be given with <> or escaped.
func (h *Handler) raw(w http.ResponseWriter, r *http.Request) {
	list := r.PathValue("list")
	rest := r.PathValue("rest")
	// PathValue is unescaped; ids may hold "%2F" that decoded into "/",
	// which is fine: we only need the suffix.
	id, ok := strings.CutSuffix(rest, "/raw")
	if !ok || list == "" || len(list) > maxListNameLen || !store.ValidListName(list) {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	if u, err := url.PathUnescape(id); err == nil && strings.Contains(id, "%") {
		id = u
	}
	id = strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(id), "<"), ">")
	if id == "" || len(id) > maxMessageIDLen {
		writeError(w, http.StatusNotFound, "message not found")
		return
	}
	raw, err := h.r.Raw(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'")
	w.Header().Set("Content-Length", strconv.Itoa(len(raw)))
	_, _ = w.Write(raw)
}

type homeData struct {
	Lists              []apiList
	SMTPHost, SMTPPort string
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if h.tmplErr != nil {
		h.fail(w, "page", h.tmplErr)
		return
	}
	lists, err := h.r.Lists(r.Context())
	if err != nil {
		h.fail(w, "lists", err)
		return
	}
	d := homeData{SMTPHost: h.cfg.Domain, SMTPPort: "25"}
	if host, port, err := net.SplitHostPort(h.cfg.SMTPAddr); err == nil {
		if host != "" && host != "0.0.0.0" && host != "::" {
			d.SMTPHost = host
		}
		d.SMTPPort = port
	}
	for _, l := range lists {
		d.Lists = append(d.Lists, h.list(l))
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; style-src 'self' 'unsafe-inline'")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if err := h.tmpl.ExecuteTemplate(w, "home.html", d); err != nil {
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
	}
}
