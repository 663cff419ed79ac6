package web

import (
	"cmp"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// The JSON shapes of API v1. They are declared here rather than taken from
// the store's tags so that the contract does not move with the store:
// absent links are null (never omitted), lists are [] (never null).

type personJSON struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

type listJSON struct {
	Name         string    `json:"name"`
	Address      string    `json:"address"`
	Description  string    `json:"description"`
	Owner        string    `json:"owner,omitempty"`
	Created      time.Time `json:"created"`
	Messages     int       `json:"messages"`
	Series       int       `json:"series"`
	OpenSeries   int       `json:"open_series"`
	LastActivity time.Time `json:"last_activity,omitzero"`
	// Visibility is public, unlisted or private (who may read: see
	// package access).
	Visibility string `json:"visibility"`
}

type seriesJSON struct {
	ID             int64      `json:"id"`
	List           string     `json:"list"`
	Subject        string     `json:"subject"`
	Version        int        `json:"version"`
	Status         string     `json:"status"`
	Submitter      personJSON `json:"submitter"`
	Total          int        `json:"total"`
	Received       int        `json:"received"`
	Complete       bool       `json:"complete"`
	MessageID      string     `json:"message_id"`
	CoverMessageID *string    `json:"cover_message_id"`
	Date           time.Time  `json:"date"`
	Previous       *int64     `json:"previous"`
	SupersededBy   *int64     `json:"superseded_by"`
	ThreadID       int64      `json:"thread_id"`
	RFC            bool       `json:"rfc"`
	Resend         bool       `json:"resend"`
	Prefix         string     `json:"prefix,omitempty"`
	ChangeID       string     `json:"change_id,omitempty"`
	BaseCommit     string     `json:"base_commit,omitempty"`
	PullURL        string     `json:"pull_url,omitempty"`
	PullRef        string     `json:"pull_ref,omitempty"`
}

type fileJSON struct {
	Path    string  `json:"path"`
	OldPath *string `json:"old_path"`
	Added   int     `json:"added"`
	Deleted int     `json:"deleted"`
	Binary  bool    `json:"binary"`
}

type trailerJSON struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	FromMessageID string `json:"from_message_id"`
	// CarriedFrom: given to the same change in that earlier revision.
	CarriedFrom int `json:"carried_from,omitempty"`
}

type patchJSON struct {
	Index         int           `json:"index"`
	Subject       string        `json:"subject"`
	MessageID     string        `json:"message_id"`
	Author        personJSON    `json:"author"`
	Date          time.Time     `json:"date"`
	CommitSubject string        `json:"commit_subject"`
	Files         []fileJSON    `json:"files"`
	PatchID       string        `json:"patch_id"`
	Trailers      []trailerJSON `json:"trailers"`
	Diffstat      diffstatJSON  `json:"diffstat"`
	URL           string        `json:"url"`
	RawURL        string        `json:"raw_url"`
}

type seriesDetailJSON struct {
	seriesJSON
	seriesLinks
	Diffstat diffstatJSON `json:"diffstat"`
	Patches  []patchJSON  `json:"patches"`
	// Checks are CI results on the series and its patches, by patch
	// then context; always an array. CheckState is the worst of their
	// states, null without checks.
	Checks     []checkJSON `json:"checks"`
	CheckState *string     `json:"check_state"`
	// History is the series' status changes, oldest first.
	History []statusChangeJSON `json:"history"`
	// Flags are the paths to look at before applying (Config.PathFlags,
	// as the page's warning); always an array, empty when none or when
	// the server does not check paths. FlagsError says why the diffs
	// could not be checked.
	Flags      []flagJSON `json:"flags"`
	FlagsError string     `json:"flags_error,omitempty"`
	// Reviews are the reviewers' standing verdicts, Issues the comments
	// marked as issues (this revision's and the previous one's); always
	// arrays (verdicts.go).
	Reviews []verdictJSON `json:"reviews"`
	Issues  []issueJSON   `json:"issues"`
	// Signatures are the developer signatures (patatt) of the cover
	// letter and patches, as the page shows them; always an array.
	Signatures []signatureJSON `json:"signatures"`
}

// flagJSON is a PathFlag: the path as the patch writes it.
type flagJSON struct {
	Patch   int    `json:"patch"`
	Path    string `json:"path"`
	Reason  string `json:"reason"`
	Refused bool   `json:"refused"`
}

type threadJSON struct {
	ID            int64     `json:"id"`
	Subject       string    `json:"subject"`
	RootMessageID string    `json:"root_message_id"`
	Messages      int       `json:"messages"`
	FirstDate     time.Time `json:"first_date"`
	LastDate      time.Time `json:"last_date"`
}

type errorJSON struct {
	Error string `json:"error"`
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func nullID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func (h *Handler) toList(l *store.List) listJSON {
	return listJSON{
		Name:         l.Name,
		Address:      l.Name + "@" + h.cfg.Domain,
		Description:  l.Description,
		Owner:        l.Owner,
		Created:      l.Created,
		Messages:     l.Messages,
		Series:       l.Series,
		OpenSeries:   l.OpenSeries,
		LastActivity: l.LastActivity,
		Visibility:   cmp.Or(l.Visibility, store.VisibilityPublic),
	}
}

func toSeries(s *store.Series) seriesJSON {
	return seriesJSON{
		ID:             s.ID,
		List:           s.List,
		Subject:        s.Subject,
		Version:        s.Version,
		Status:         s.Status,
		Submitter:      personJSON(s.Submitter),
		Total:          s.Total,
		Received:       s.Received,
		Complete:       s.Complete,
		MessageID:      s.MessageID,
		CoverMessageID: nullString(s.CoverMessageID),
		Date:           s.Date,
		Previous:       nullID(s.Previous),
		SupersededBy:   nullID(s.SupersededBy),
		ThreadID:       s.ThreadID,
		RFC:            s.RFC,
		Resend:         s.Resend,
		Prefix:         s.Prefix,
		ChangeID:       s.ChangeID,
		BaseCommit:     s.BaseCommit,
		PullURL:        s.PullURL,
		PullRef:        s.PullRef,
	}
}

func toPatch(list string, p *store.Patch) patchJSON {
	files := make([]fileJSON, 0, len(p.Files))
	for _, f := range p.Files {
		files = append(files, fileJSON{
			Path:    f.Path,
			OldPath: nullString(f.OldPath),
			Added:   f.Added,
			Deleted: f.Deleted,
			Binary:  f.Binary,
		})
	}
	trailers := make([]trailerJSON, 0, len(p.Trailers))
	for _, t := range p.Trailers {
		trailers = append(trailers, trailerJSON(t))
	}
	return patchJSON{
		Index:         p.Index,
		Subject:       p.Subject,
		MessageID:     p.MessageID,
		Author:        personJSON(p.Author),
		Date:          p.Date,
		CommitSubject: p.CommitSubject,
		Files:         files,
		PatchID:       p.PatchID,
		Trailers:      trailers,
		Diffstat:      diffstat(p.Files),
		URL:           msgPath(list, p.MessageID) + "/",
		RawURL:        msgPath(list, p.MessageID) + "/raw",
	}
}

// writeJSON encodes v completely before writing, so that an encoding error
// is still a clean 500.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
		code = http.StatusInternalServerError
		b = []byte(`{"error":"internal error"}`)
	}
	b = append(b, '\n')
	hd := w.Header()
	hd.Set("Content-Type", "application/json; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorJSON{Error: msg})
}

// Errors of request parameters; their text is the 400 reply.
var (
	errBadLimit  = errors.New("limit must be a non-negative integer")
	errBadOffset = errors.New("offset must be a non-negative integer")
	errBadQuery  = errors.New("query string too long or malformed")
	errBadStatus = errors.New("unknown status")
	errBadID     = errors.New("series id must be a positive integer")
	errBadName   = errors.New("bad list name")
	errBadMsgID  = errors.New("bad message-id")
)

var statuses = []string{
	store.StatusProposed, store.StatusNeedsRevision, store.StatusApproved,
	store.StatusRejected, store.StatusApplied, store.StatusSuperseded,
}

// query parses the query string with a size bound.
func query(r *http.Request) (url.Values, error) {
	if len(r.URL.RawQuery) > maxQueryLen {
		return nil, errBadQuery
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, errBadQuery
	}
	return q, nil
}

// parsePage reads limit and offset: absent or 0 limit means the default,
// larger than the maximum means the maximum (store.Page.Normalize);
// non-numeric or negative values are errors.
func parsePage(q url.Values) (store.Page, error) {
	var p store.Page
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, errBadLimit
		}
		p.Limit = n
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return p, errBadOffset
		}
		p.Offset = n
	}
	return p.Normalize(), nil
}

// listName checks the {name} path value before it goes to the Reader.
func listName(r *http.Request, key string) (string, error) {
	name := r.PathValue(key)
	if name == "" || len(name) > maxListNameLen {
		return "", errBadName
	}
	return name, nil
}

// knownList answers 404 (or 500) and returns false when the list does not
// exist or the request may not read it.
func (h *Handler) knownList(w http.ResponseWriter, r *http.Request, name string) bool {
	_, ok := h.readable(w, r, name, "list")
	return ok
}

func (h *Handler) apiLists(w http.ResponseWriter, r *http.Request) {
	ls, err := h.r.Lists(r.Context())
	if err == nil {
		ls, err = h.listed(r, ls)
	}
	if err != nil {
		h.fail(w, r, "lists", err)
		return
	}
	out := make([]listJSON, 0, len(ls))
	for i := range ls {
		out = append(out, h.toList(&ls[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"lists": out})
}

func (h *Handler) apiList(w http.ResponseWriter, r *http.Request) {
	name, err := listName(r, "name")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	l, err := h.r.List(r.Context(), name)
	if err == nil && l == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	if _, ok := h.authorize(w, r, l, access.Read); !ok {
		return
	}
	writeJSON(w, http.StatusOK, h.toList(l))
}

// listParams reads what the list API routes share: the {name} path value,
// the query string and its paging. An error is a 400 to answer.
func listParams(r *http.Request) (string, url.Values, store.Page, error) {
	name, err := listName(r, "name")
	if err != nil {
		return "", nil, store.Page{}, err
	}
	q, err := query(r)
	if err != nil {
		return "", nil, store.Page{}, err
	}
	p, err := parsePage(q)
	return name, q, p, err
}

func (h *Handler) apiSeriesList(w http.ResponseWriter, r *http.Request) {
	name, q, p, err := listParams(r)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	status := q.Get("status")
	if status != "" && !slices.Contains(statuses, status) {
		h.httpError(w, r, http.StatusBadRequest, errBadStatus.Error()+"; one of "+strings.Join(statuses, ", "))
		return
	}
	if !h.knownList(w, r, name) {
		return
	}
	ss, err := h.r.SeriesList(r.Context(), name, status, p)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	out := make([]seriesJSON, 0, len(ss))
	for i := range ss {
		out = append(out, toSeries(&ss[i]))
	}
	writeJSON(w, http.StatusOK, map[string]any{"series": out})
}

func (h *Handler) apiSeries(w http.ResponseWriter, r *http.Request) {
	s, ps, _, ok := h.seriesWithPatches(w, r, access.Read)
	if !ok {
		return
	}
	id := s.ID
	hist, err := h.history(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	cs, err := h.r.Checks(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	out := seriesDetailJSON{seriesJSON: toSeries(s), seriesLinks: toSeriesLinks(s),
		Patches: make([]patchJSON, 0, len(ps)), Checks: checksJSON(cs), CheckState: combinedState(cs), History: make([]statusChangeJSON, 0, len(hist))}
	for i := range ps {
		out.Patches = append(out.Patches, toPatch(s.List, &ps[i]))
		out.Diffstat.Files += len(ps[i].Files)
		d := diffstat(ps[i].Files)
		out.Diffstat.Added += d.Added
		out.Diffstat.Deleted += d.Deleted
	}
	for i := range hist {
		out.History = append(out.History, toStatusChange(&hist[i]))
	}
	out.Flags = []flagJSON{}
	if h.cfg.PathFlags != nil {
		_, diffs, _, err := h.r.SeriesTexts(r.Context(), id)
		if err != nil {
			h.fail(w, r, "series", err)
			return
		}
		var flags []PathFlag
		flags, out.FlagsError = h.seriesFlags(ps, diffs)
		for _, f := range flags {
			out.Flags = append(out.Flags, flagJSON(f))
		}
	}
	vs, err := h.r.Verdicts(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	is, err := h.r.Issues(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	out.Reviews, out.Issues = toVerdicts(s.List, vs), toIssues(is)
	sigs, err := h.r.SeriesSignatures(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	out.Signatures = signaturesJSON(sigs, seriesMessageIDs(s, ps))
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) apiThreads(w http.ResponseWriter, r *http.Request) {
	name, _, p, err := listParams(r)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if !h.knownList(w, r, name) {
		return
	}
	ts, err := h.r.Threads(r.Context(), name, p)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	out := make([]threadJSON, 0, len(ts))
	for _, t := range ts {
		out = append(out, threadJSON(t))
	}
	writeJSON(w, http.StatusOK, map[string]any{"threads": out})
}
