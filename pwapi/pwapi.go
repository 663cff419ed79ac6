// Package pwapi serves patchwork's REST API (versions 1.0 to 1.3, under
// /api/ and /api/1.N/) over patchwell's lists, series and checks, so that
// git-pw, pwclient and CI bots such as snowpatch work against patchwell as
// against a patchwork instance. A list is a patchwork project; a series is
// a series; a patch mail is a patch with patchwork's per-patch state
// (store.TrackedPatch); a cover letter is a cover (its id is its series'
// id); checks are patchwell's checks; events are store.Events (the
// creations derived from the archive, the changes recorded with them).
//
// It reads and writes through the small interfaces below (implemented by
// the store, review.Service and review.Accounts, proved in server/wire.go)
// and asks access.Allowed for every list it shows or changes: a private
// list the caller may not read does not exist here either (404). It owns
// no state and must not write around the store's methods.
package pwapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// Lists reads the lists (patchwork's projects) and who maintains them.
type Lists interface {
	Lists(ctx context.Context) ([]store.List, error)
	ListInfo(ctx context.Context, name string) (*store.List, error)
	ListMaintainers(ctx context.Context, list string) ([]store.User, error)
}

// Patches reads and changes patches with their per-patch state.
type Patches interface {
	TrackedPatches(ctx context.Context, f store.PatchFilter) ([]store.TrackedPatch, error)
	TrackedPatch(ctx context.Context, id int64) (*store.TrackedPatch, error)
	UpdatePatch(ctx context.Context, id int64, u store.PatchUpdate, userID int64, at time.Time) (*store.StatusChange, error)
	Raw(ctx context.Context, list, messageID string) ([]byte, error)
	ThreadMessages(ctx context.Context, threadIDs []int64) ([]store.Message, error)
}

// Series reads series.
type Series interface {
	Series(ctx context.Context, id int64) (*store.Series, error)
	SeriesList(ctx context.Context, list, status string, p store.Page) ([]store.Series, error)
}

// Revisions finds the revision chain a series is part of, oldest first
// (review.Service): a patch's related patches are the same patch in the
// other revisions.
type Revisions interface {
	Revisions(ctx context.Context, id int64) ([]store.Series, error)
}

// Mboxer writes a series' mbox for git am, with the trailers reviewers
// gave (review.Service).
type Mboxer interface {
	SeriesMbox(ctx context.Context, id int64, w io.Writer) error
}

// Checks are patchwell's CI checks (store.Check).
type Checks interface {
	SetCheck(ctx context.Context, c *store.Check) (*store.Check, error)
	Checks(ctx context.Context, seriesID int64) ([]store.Check, error)
}

// Tokens finds who a request comes from and their role on a list
// (review.Accounts).
type Tokens interface {
	TokenUser(ctx context.Context, token string) (*store.User, error)
	Role(ctx context.Context, userID int64, list string) (string, error)
}

// Users lists the accounts (patchwork's users and people).
type Users interface {
	Users(ctx context.Context) ([]store.User, error)
}

// Notifier hears of the changes the API makes, as the web's routes tell
// it (webhook.Dispatcher).
type Notifier interface {
	StatusChanged(ctx context.Context, s *store.Series, c *store.StatusChange) error
	CheckCreated(ctx context.Context, s *store.Series, c *store.Check) error
}

// Config is what the API is built from; every field but Log, BaseURL,
// Domain, Notify and Revisions is required.
type Config struct {
	Lists   Lists
	Patches Patches
	Series  Series
	Checks  Checks
	Events  Events
	Mbox    Mboxer
	// Revisions fills a patch's related field (nil: none).
	Revisions Revisions
	Tokens    Tokens
	Users     Users
	Bundles   Bundles  // nil: bundles answer 404
	Notify    Notifier // nil: nobody is told
	// BaseURL is the site's address for absolute links ("": each
	// request's Host).
	BaseURL string
	// Domain makes a list's address (NAME@Domain).
	Domain string
	Log    *slog.Logger
	Now    func() time.Time
}

// Handler serves the API.
type Handler struct {
	cfg Config
	mux *http.ServeMux
}

// Versions are the API versions served, each under /api/VERSION/; /api/
// alone is the newest.
var Versions = []string{"1.0", "1.1", "1.2", "1.3"}

// Patterns are the paths to route to the Handler (beside patchwell's own
// /api/v1/).
func Patterns() []string {
	out := []string{"/api/{$}"}
	for _, r := range resources {
		out = append(out, "/api/"+r+"/")
	}
	for _, v := range Versions {
		out = append(out, "/api/"+v+"/")
	}
	return out
}

var resources = []string{"projects", "people", "users", "patches", "covers", "series", "bundles", "events"}

// New returns the API's handler.
func New(cfg Config) *Handler {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	h := &Handler{cfg: cfg, mux: http.NewServeMux()}
	for _, prefix := range append([]string{""}, Versions...) {
		base := "/api"
		if prefix != "" {
			base += "/" + prefix
		}
		route := func(method, path string, fn func(http.ResponseWriter, *req)) {
			h.mux.HandleFunc(method+" "+base+path, h.with(base, fn))
		}
		route("GET", "/{$}", h.index)
		route("GET", "/projects/{$}", h.projects)
		route("GET", "/projects/{id}/{$}", h.project)
		route("GET", "/people/{$}", h.people)
		route("GET", "/people/{id}/{$}", h.person)
		route("GET", "/users/{$}", h.users)
		route("GET", "/users/{id}/{$}", h.user)
		route("GET", "/patches/{$}", h.patches)
		route("GET", "/patches/{id}/{$}", h.patch)
		route("PATCH", "/patches/{id}/{$}", h.updatePatch)
		route("PUT", "/patches/{id}/{$}", h.updatePatch)
		route("GET", "/patches/{id}/mbox/{$}", h.patchMbox)
		route("GET", "/patches/{id}/comments/{$}", h.patchComments)
		route("GET", "/patches/{id}/comments/{comment}/{$}", h.patchComments) // one comment (1.3), as events link to them
		route("GET", "/patches/{id}/checks/{$}", h.checks)
		route("POST", "/patches/{id}/checks/{$}", h.postCheck)
		route("GET", "/patches/{id}/checks/{check}/{$}", h.check)
		route("GET", "/covers/{$}", h.covers)
		route("GET", "/covers/{id}/{$}", h.cover)
		route("GET", "/covers/{id}/mbox/{$}", h.coverMbox)
		route("GET", "/covers/{id}/comments/{$}", h.coverComments)
		route("GET", "/covers/{id}/comments/{comment}/{$}", h.coverComments)
		route("GET", "/series/{$}", h.seriesList)
		route("GET", "/series/{id}/{$}", h.series)
		route("GET", "/series/{id}/mbox/{$}", h.seriesMbox)
		route("GET", "/bundles/{$}", h.bundles)
		route("POST", "/bundles/{$}", h.createBundle)
		route("GET", "/bundles/{id}/{$}", h.bundle)
		route("PATCH", "/bundles/{id}/{$}", h.updateBundle)
		route("PUT", "/bundles/{id}/{$}", h.updateBundle)
		route("DELETE", "/bundles/{id}/{$}", h.deleteBundle)
		route("GET", "/bundles/{id}/mbox/{$}", h.bundleMbox)
		route("GET", "/events/{$}", h.events)
	}
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { notFound(w) })
	return h
}

// ServeHTTP routes a request under /api/ or /api/VERSION/.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

// req is one request with who asks and the links' prefixes.
type req struct {
	*http.Request
	user *store.User
	base string // "http://host/api/1.2", as the request was addressed
	site string // "http://host"
}

// with authenticates a request (Authorization: Token ..., as git-pw and
// pwclient send it, or Bearer) and hands it to fn; no header is
// anonymous, a bad one a 401.
func (h *Handler) with(base string, fn func(http.ResponseWriter, *req)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		site := strings.TrimRight(h.cfg.BaseURL, "/")
		if site == "" {
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			site = scheme + "://" + r.Host
		}
		q := &req{Request: r, base: site + base, site: site}
		if a := r.Header.Get("Authorization"); a != "" {
			scheme, tok, _ := strings.Cut(a, " ")
			tok = strings.TrimSpace(tok)
			if !(strings.EqualFold(scheme, "Token") || strings.EqualFold(scheme, "Bearer")) || tok == "" || len(tok) > 200 {
				w.Header().Set("WWW-Authenticate", "Token")
				fail(w, http.StatusUnauthorized, "Invalid token header.")
				return
			}
			u, err := h.cfg.Tokens.TokenUser(r.Context(), tok)
			if errors.Is(err, store.ErrNotFound) {
				w.Header().Set("WWW-Authenticate", "Token")
				fail(w, http.StatusUnauthorized, "Invalid token.")
				return
			}
			if err != nil {
				h.internal(w, r, err)
				return
			}
			q.user = u
		}
		fn(w, q)
	}
}

// subject is who asks, as access sees them on list.
func (h *Handler) subject(ctx context.Context, u *store.User, list string) (access.Subject, error) {
	if u == nil {
		return access.Subject{}, nil
	}
	role, err := h.cfg.Tokens.Role(ctx, u.ID, list)
	if err != nil {
		return access.Subject{}, err
	}
	return access.Subject{User: u, Admin: u.Admin, Role: role}, nil
}

// allowed reports whether the caller may do act on l.
func (h *Handler) allowed(q *req, l *store.List, act access.Action) (bool, error) {
	s, err := h.subject(q.Context(), q.user, l.Name)
	if err != nil {
		return false, err
	}
	return access.Allowed(s, l, act), nil
}

// readable returns the list named name if the caller may read it; nil
// when it does not exist or is hidden from them.
func (h *Handler) readable(q *req, name string) (*store.List, error) {
	l, err := h.cfg.Lists.ListInfo(q.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	ok, err := h.allowed(q, l, access.Read)
	if err != nil || !ok {
		return nil, err
	}
	return l, nil
}

// readableLists returns the lists the caller may read.
func (h *Handler) readableLists(q *req) ([]store.List, error) {
	all, err := h.cfg.Lists.Lists(q.Context())
	if err != nil {
		return nil, err
	}
	var out []store.List
	for _, l := range all {
		ok, err := h.allowed(q, &l, access.Read)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, l)
		}
	}
	return out, nil
}

// projectParam resolves the project filter (a list name, or its id as
// patchwork also accepts) to the lists to look in: all the caller may
// read when absent; nil, false when it names none they may read.
func (h *Handler) projectParam(q *req) ([]string, bool, error) {
	p := q.URL.Query().Get("project")
	if p == "" || p == "*" {
		ls, err := h.readableLists(q)
		var names []string
		for _, l := range ls {
			names = append(names, l.Name)
		}
		return names, true, err
	}
	if id, err := strconv.ParseInt(p, 10, 64); err == nil {
		ls, err := h.readableLists(q)
		for _, l := range ls {
			if l.ID == id {
				return []string{l.Name}, true, err
			}
		}
		return nil, false, err
	}
	l, err := h.readable(q, p)
	if err != nil || l == nil {
		return nil, false, err
	}
	return []string{l.Name}, true, nil
}

// pagedProjects reads a list request's paging and project filter; false
// when it answered the request already (an invalid page, a project the
// caller may not read, a fault).
func (h *Handler) pagedProjects(w http.ResponseWriter, q *req) (paging, []string, bool) {
	p, ok := pagingOf(q.Request)
	if !ok {
		fail(w, http.StatusNotFound, "Invalid page.")
		return p, nil, false
	}
	lists, ok, err := h.projectParam(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return p, nil, false
	}
	if !ok {
		notFound(w)
		return p, nil, false
	}
	return p, lists, true
}

// filterFailed answers a filter that could not be made: 400 for the
// caller's mistake (badFilter), 500 for a fault; false when err is nil.
func (h *Handler) filterFailed(w http.ResponseWriter, q *req, err error) bool {
	var bad badFilter
	switch {
	case err == nil:
		return false
	case errors.As(err, &bad):
		fail(w, http.StatusBadRequest, err.Error())
	default:
		h.internal(w, q.Request, err)
	}
	return true
}

// fail writes patchwork's error shape, {"detail": "..."}.
func fail(w http.ResponseWriter, status int, detail string) {
	writeJSON(w, status, map[string]string{"detail": detail})
}

func notFound(w http.ResponseWriter) { fail(w, http.StatusNotFound, "Not found.") }

func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	h.cfg.Log.Error("pwapi request", "path", r.URL.Path, "err", err)
	fail(w, http.StatusInternalServerError, "A server error occurred.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Allow", "GET, PATCH, PUT, POST, HEAD, OPTIONS")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

// idParam is the path's {name} as a positive id; 0 when it is not one.
func idParam(r *http.Request, name string) int64 {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0
	}
	return id
}

// Paging as patchwork pages: page (from 1), per_page (default 30, at
// most 250), and a Link header with rel="next" and rel="prev".
const (
	defaultPerPage = 30
	maxPerPage     = 250
)

type paging struct{ page, perPage int }

func pagingOf(r *http.Request) (paging, bool) {
	p := paging{page: 1, perPage: defaultPerPage}
	qs := r.URL.Query()
	if v := qs.Get("page"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return p, false
		}
		p.page = n
	}
	if v := qs.Get("per_page"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			p.perPage = min(n, maxPerPage)
		}
	}
	return p, true
}

func (p paging) offset() int { return (p.page - 1) * p.perPage }

// link writes the Link header for a page that has a next page when more
// is true, and a previous one after the first (patchwork leaves page out
// of the first page's link).
func (q *req) link(w http.ResponseWriter, p paging, more bool) {
	at := func(page int) string {
		v := q.URL.Query()
		if page <= 1 {
			v.Del("page")
		} else {
			v.Set("page", strconv.Itoa(page))
		}
		return q.site + q.URL.Path + queryString(v)
	}
	var links []string
	if more {
		links = append(links, "<"+at(p.page+1)+`>; rel="next"`)
	}
	if p.page > 1 {
		links = append(links, "<"+at(p.page-1)+`>; rel="prev"`)
	}
	if len(links) > 0 {
		w.Header().Set("Link", strings.Join(links, ", "))
	}
}

func queryString(v url.Values) string {
	if len(v) == 0 {
		return ""
	}
	return "?" + v.Encode()
}

// page answers one page of items (fetched with one more than asked, to
// know whether there is a next page).
func page[T any](w http.ResponseWriter, q *req, p paging, items []T) {
	more := len(items) > p.perPage
	if more {
		items = items[:p.perPage]
	}
	if len(items) == 0 && p.page > 1 {
		fail(w, http.StatusNotFound, "Invalid page.")
		return
	}
	if items == nil {
		items = []T{}
	}
	q.link(w, p, more)
	writeJSON(w, http.StatusOK, items)
}

func (h *Handler) index(w http.ResponseWriter, q *req) {
	out := map[string]string{}
	for _, res := range resources {
		out[res] = q.base + "/" + res + "/"
	}
	writeJSON(w, http.StatusOK, out)
}
