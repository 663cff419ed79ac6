package web

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"patchwell/access"
	"patchwell/store"
)

// Notifier is told of changes made through the web, after they commit:
// the webhook dispatcher (package webhook) implements it. Its errors are
// logged; the change stands.
type Notifier interface {
	StatusChanged(ctx context.Context, s *store.Series, c *store.StatusChange) error
	CheckCreated(ctx context.Context, s *store.Series, c *store.Check) error
}

// checkJSON is one check in the API.
type checkJSON struct {
	ID          int64     `json:"id"`
	PatchIndex  int       `json:"patch_index"` // 0: the whole series
	Context     string    `json:"context"`
	State       string    `json:"state"`
	Description string    `json:"description"`
	URL         *string   `json:"url"`
	LogURL      *string   `json:"log_url"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
}

func toCheck(c *store.Check) checkJSON {
	out := checkJSON{ID: c.ID, PatchIndex: c.PatchIndex, Context: c.Context, State: c.State, Description: c.Description,
		URL: nullString(c.URL), Created: c.Created, Updated: c.Updated}
	if c.Log != "" {
		out.LogURL = nullString("/api/v1/checks/" + strconv.FormatInt(c.ID, 10) + "/log")
	}
	return out
}

// checkRank orders states from best to worst for the combined state.
// Unlike patchwork, which ranks pending below success, a pending check
// makes the series pending: not everything has passed yet.
var checkRank = map[string]int{store.CheckSuccess: 1, store.CheckPending: 2, store.CheckWarning: 3, store.CheckFail: 4}

// combinedState is the worst state of the checks; nil without checks.
func combinedState(cs []store.Check) *string {
	var worst string
	for _, c := range cs {
		if checkRank[c.State] > checkRank[worst] {
			worst = c.State
		}
	}
	return nullString(worst)
}

func checksJSON(cs []store.Check) []checkJSON {
	out := make([]checkJSON, 0, len(cs))
	for i := range cs {
		out = append(out, toCheck(&cs[i]))
	}
	return out
}

func (h *Handler) checkRoutes() {
	h.mux.HandleFunc("GET /api/v1/series/{id}/checks", h.apiChecks)
	h.mux.HandleFunc("POST /api/v1/series/{id}/checks", h.apiPostCheck)
	h.mux.HandleFunc("GET /api/v1/checks/{id}/log", h.apiCheckLog)
}

// apiChecks serves GET /api/v1/series/{id}/checks.
func (h *Handler) apiChecks(w http.ResponseWriter, r *http.Request) {
	s, _, _, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	cs, err := h.r.Checks(r.Context(), s.ID)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"checks": checksJSON(cs), "check_state": combinedState(cs)})
}

// checkRequest is the body of POST /api/v1/series/{id}/checks. URL and
// TargetURL are the same field (patchwork calls it target_url).
type checkRequest struct {
	Context     string  `json:"context"`
	State       string  `json:"state"`
	Description string  `json:"description"`
	URL         string  `json:"url"`
	TargetURL   string  `json:"target_url"`
	PatchIndex  *int    `json:"patch_index"`
	Log         *string `json:"log"`
}

// Bounds of a posted check (the store enforces the same on the first
// three; the log is capped by the body limit).
const (
	maxCheckContext     = 200
	maxCheckDescription = 2000
	maxCheckURL         = 2000
	maxCheckBody        = 2 << 20
)

const checkBodyHelp = `bad request body: want {"context": "...", "state": "pending|success|warning|fail", "description": "...", "target_url": "...", "patch_index": N}`

// validText reports whether s is UTF-8 without control characters
// (C0, DEL, C1; tabs and newlines included): one line of text.
func validText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) {
			return false
		}
	}
	return true
}

// validate checks a posted check against the series; the error is the
// 400 answer.
func (c *checkRequest) validate(s *store.Series) (*store.Check, error) {
	u := c.URL
	if c.TargetURL != "" {
		if u != "" && u != c.TargetURL {
			return nil, errors.New("url and target_url differ: send one")
		}
		u = c.TargetURL
	}
	switch {
	case !store.ValidCheckState(c.State):
		return nil, errors.New("bad state " + strconv.Quote(c.State) + ": one of pending, success, warning, fail")
	case c.Context == "" || len(c.Context) > maxCheckContext || !validText(c.Context):
		return nil, errors.New("bad context: 1 to 200 bytes of text without control characters")
	case len(c.Description) > maxCheckDescription || !validText(c.Description):
		return nil, errors.New("bad description: at most 2000 bytes of text without control characters")
	case len(u) > maxCheckURL || !validText(u) || strings.ContainsRune(u, ' '):
		return nil, errors.New("bad target_url: at most 2000 bytes, no spaces or control characters")
	}
	if u != "" {
		if _, err := url.Parse(u); err != nil {
			return nil, errors.New("bad target_url: not a URL")
		}
	}
	out := &store.Check{SeriesID: s.ID, Context: c.Context, State: c.State, Description: c.Description, URL: u}
	if c.PatchIndex != nil {
		if *c.PatchIndex < 0 || *c.PatchIndex > s.Total {
			return nil, errors.New("bad patch_index: 0 (the whole series) to " + strconv.Itoa(s.Total))
		}
		out.PatchIndex = *c.PatchIndex
	}
	if c.Log != nil {
		if !utf8.ValidString(*c.Log) {
			return nil, errors.New("bad log: not UTF-8")
		}
		out.Log = *c.Log
	}
	return out, nil
}

// apiPostCheck serves POST /api/v1/series/{id}/checks: a CI system
// (or a maintainer) reports a result with a bearer token of a user who
// may set the series' status (access.SetStatus: maintainers and owners
// of the list, site admins). It answers 201 with the check as stored.
func (h *Handler) apiPostCheck(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	var req checkRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxCheckBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		if h.currentUser(r) == nil {
			unauthorized(w, "sign in: send Authorization: Bearer TOKEN (create one on /account)")
			return
		}
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			h.httpError(w, r, http.StatusRequestEntityTooLarge, "request body too large: at most 2 MiB")
			return
		}
		h.httpError(w, r, http.StatusBadRequest, checkBodyHelp)
		return
	}
	s, _, _, ok := h.seriesFor(w, r, "id", access.SetStatus)
	if !ok {
		return
	}
	c, err := req.validate(s)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if c, err = h.r.SetCheck(r.Context(), c); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if h.cfg.Notify != nil {
		if err := h.cfg.Notify.CheckCreated(r.Context(), s, c); err != nil {
			h.log.Error("webhook event", "event", "check.created", "series", s.ID, "err", err)
		}
	}
	writeJSON(w, http.StatusCreated, toCheck(c))
}

// apiCheckLog serves GET /api/v1/checks/{id}/log: the check's log as
// plain text (404 when it has none).
func (h *Handler) apiCheckLog(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, "check id must be a positive integer")
		return
	}
	c, err := h.r.CheckByID(r.Context(), id)
	if err != nil {
		h.fail(w, r, "check", err)
		return
	}
	s, err := h.r.SeriesInfo(r.Context(), c.SeriesID)
	if err != nil {
		h.fail(w, r, "check", err)
		return
	}
	l, err := h.listInfo(r.Context(), s.List)
	if err != nil {
		h.fail(w, r, "check", err)
		return
	}
	if _, ok := h.authorizeAs(w, r, l, access.Read, "check"); !ok {
		return
	}
	if c.Log == "" {
		h.httpError(w, r, http.StatusNotFound, "check has no log")
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("Content-Length", strconv.Itoa(len(c.Log)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, c.Log)
}

// notifyStatus tells the Notifier of a status change made on the web.
func (h *Handler) notifyStatus(ctx context.Context, s *store.Series, c *store.StatusChange) {
	if h.cfg.Notify == nil {
		return
	}
	s2 := *s
	s2.Status = c.To
	if err := h.cfg.Notify.StatusChanged(ctx, &s2, c); err != nil {
		h.log.Error("webhook event", "event", "series.status_changed", "series", s.ID, "err", err)
	}
}

// viewCheck is a check on the series page.
type viewCheck struct {
	store.Check
	// Link is true when URL is http(s): only then is it a link.
	Link   bool
	LogURL string
	// Sandbox is the commit CI made applying the patch in its scratch
	// worktree (a patchwell/apply check): shown as such, never as one of
	// the branch's.
	Sandbox string
}

func toViewChecks(cs []store.Check) []viewCheck {
	out := make([]viewCheck, 0, len(cs))
	for _, c := range cs {
		v := viewCheck{Check: c}
		if u, err := url.Parse(c.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
			v.Link = true
		}
		if c.Log != "" {
			v.LogURL = "/api/v1/checks/" + strconv.FormatInt(c.ID, 10) + "/log"
		}
		if m := sandboxCommit.FindStringSubmatch(c.Description); m != nil && c.Context == ciContextPrefix+"apply" {
			v.Sandbox = m[1]
		}
		v.Log = "" // not shown on the page
		out = append(out, v)
	}
	return out
}

// attachChecks puts series checks (patch index 0) on the page and the
// others on their patches; checks of patches the page does not show go
// with the series' own.
func attachChecks(d *seriesPage, cs []store.Check) {
	d.HasChecks = len(cs) > 0
	d.CheckState = ""
	if st := combinedState(cs); st != nil {
		d.CheckState = *st
	}
	byIndex := map[int]int{}
	for i := range d.Patches {
		byIndex[d.Patches[i].Index] = i
	}
	for _, v := range toViewChecks(cs) {
		if i, ok := byIndex[v.PatchIndex]; ok && v.PatchIndex != 0 {
			d.Patches[i].Checks = append(d.Patches[i].Checks, v)
			continue
		}
		d.Checks = append(d.Checks, v)
	}
}
