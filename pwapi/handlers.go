package pwapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/archive"
	"patchwell/core"
	"patchwell/review/patchmail"
	"patchwell/store"
)

func (h *Handler) projects(w http.ResponseWriter, q *req) {
	p, ok := pagingOf(q.Request)
	if !ok {
		fail(w, http.StatusNotFound, "Invalid page.")
		return
	}
	ls, err := h.readableLists(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	var out []*project
	for i := range ls {
		if i < p.offset() || i > p.offset()+p.perPage {
			continue
		}
		pr, err := v.project(&ls[i])
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		out = append(out, pr)
	}
	page(w, q, p, out)
}

func (h *Handler) project(w http.ResponseWriter, q *req) {
	ls, err := h.readableLists(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	key := q.PathValue("id")
	for i := range ls {
		if itoa(ls[i].ID) == key || ls[i].Name == key {
			pr, err := h.view(q).project(&ls[i])
			if err != nil {
				h.internal(w, q.Request, err)
				return
			}
			writeJSON(w, http.StatusOK, pr)
			return
		}
	}
	notFound(w)
}

// visibleUsers are the accounts the API shows the caller: the
// maintainers and owners of the lists they may read (who can be
// delegates, and are shown as each project's maintainers anyway) and
// themselves; never every account of the site. q filters them by
// address or name, as git-pw looks a delegate up.
func (h *Handler) visibleUsers(q *req) ([]store.User, error) {
	ls, err := h.readableLists(q)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{}
	var out []store.User
	add := func(u store.User) {
		if !seen[u.ID] && !u.Disabled {
			seen[u.ID] = true
			out = append(out, u)
		}
	}
	if q.user != nil {
		add(*q.user)
	}
	for _, l := range ls {
		ms, err := h.cfg.Lists.ListMaintainers(q.Context(), l.Name)
		if err != nil {
			return nil, err
		}
		for _, u := range ms {
			add(u)
		}
	}
	slices.SortFunc(out, func(a, b store.User) int { return int(a.ID - b.ID) })
	needle := strings.ToLower(q.URL.Query().Get("q"))
	return slices.DeleteFunc(out, func(u store.User) bool {
		return needle != "" && !strings.Contains(strings.ToLower(u.Email), needle) && !strings.Contains(strings.ToLower(u.Name), needle)
	}), nil
}

// oneUser is the visible user with the path's id; nil after answering
// 404 when there is none.
func (h *Handler) oneUser(w http.ResponseWriter, q *req) *store.User {
	us, err := h.visibleUsers(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return nil
	}
	id := idParam(q.Request, "id")
	for i := range us {
		if us[i].ID == id {
			return &us[i]
		}
	}
	notFound(w)
	return nil
}

func (h *Handler) users(w http.ResponseWriter, q *req) {
	p, ok := pagingOf(q.Request)
	if !ok {
		fail(w, http.StatusNotFound, "Invalid page.")
		return
	}
	us, err := h.visibleUsers(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	var out []*user
	for i := p.offset(); i < len(us) && i <= p.offset()+p.perPage; i++ {
		out = append(out, v.user(&us[i]))
	}
	page(w, q, p, out)
}

func (h *Handler) user(w http.ResponseWriter, q *req) {
	if u := h.oneUser(w, q); u != nil {
		writeJSON(w, http.StatusOK, h.view(q).user(u))
	}
}

// people are the visible users too: patchwell keeps no table of the
// people who sent mail (see view.person).
func (h *Handler) people(w http.ResponseWriter, q *req) {
	p, ok := pagingOf(q.Request)
	if !ok {
		fail(w, http.StatusNotFound, "Invalid page.")
		return
	}
	us, err := h.visibleUsers(q)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	var out []person
	for i := p.offset(); i < len(us) && i <= p.offset()+p.perPage; i++ {
		pe, err := v.person(core.Person{Name: us[i].Name, Email: us[i].Email})
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		out = append(out, pe)
	}
	page(w, q, p, out)
}

func (h *Handler) person(w http.ResponseWriter, q *req) {
	u := h.oneUser(w, q)
	if u == nil {
		return
	}
	pe, err := h.view(q).person(core.Person{Name: u.Name, Email: u.Email})
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	writeJSON(w, http.StatusOK, pe)
}

// patchFilter reads the patch list's filters as git-pw and pwclient
// send them.
func (h *Handler) patchFilter(q *req, lists []string, p paging) (store.PatchFilter, error) {
	qs := q.URL.Query()
	f := store.PatchFilter{Lists: lists, Order: qs.Get("order"), Limit: p.perPage + 1, Offset: p.offset(),
		Name: qs.Get("q"), PatchID: qs.Get("hash"), MessageID: strings.Trim(qs.Get("msgid"), "<> ")}
	for _, s := range qs["state"] {
		for _, s := range strings.Split(s, ",") {
			if s = strings.TrimSpace(s); s != "" {
				f.States = append(f.States, s)
			}
		}
	}
	var users []store.User
	loadUsers := func() error {
		if users != nil {
			return nil
		}
		var err error
		users, err = h.cfg.Users.Users(q.Context())
		return err
	}
	for _, s := range qs["submitter"] {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			if err := loadUsers(); err != nil {
				return f, err
			}
			f.Submitters = append(f.Submitters, "") // an unknown id matches nothing
			for _, u := range users {
				if u.ID == id {
					f.Submitters[len(f.Submitters)-1] = u.Email
				}
			}
			continue
		}
		f.Submitters = append(f.Submitters, s)
	}
	for _, s := range qs["delegate"] {
		if id, err := strconv.ParseInt(s, 10, 64); err == nil {
			f.Delegates = append(f.Delegates, id)
			continue
		}
		if err := loadUsers(); err != nil {
			return f, err
		}
		f.Delegates = append(f.Delegates, -1) // an unknown user matches nothing
		for _, u := range users {
			if strings.EqualFold(u.Email, s) {
				f.Delegates[len(f.Delegates)-1] = u.ID
			}
		}
	}
	if s := qs.Get("archived"); s != "" {
		b, ok := parseBool(s)
		if ok {
			f.Archived = &b
		}
	}
	var err error
	if f.Since, f.Before, err = dateFilters(q); err != nil {
		return f, badFilter{err}
	}
	if s := qs.Get("series"); s != "" {
		f.SeriesID, _ = strconv.ParseInt(s, 10, 64)
		if f.SeriesID <= 0 {
			f.SeriesID = -1
		}
	}
	return f, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1", "yes", "on":
		return true, true
	case "false", "0", "no", "off":
		return false, true
	}
	return false, false
}

// checkStates fetches the checks of each series once, for the check
// field.
type checkStates struct {
	h  *Handler
	q  *req
	by map[int64][]store.Check
}

func (c *checkStates) of(p *store.TrackedPatch) (string, error) {
	if c.by == nil {
		c.by = map[int64][]store.Check{}
	}
	cs, ok := c.by[p.SeriesID]
	if !ok {
		var err error
		if cs, err = c.h.cfg.Checks.Checks(c.q.Context(), p.SeriesID); err != nil {
			return "", err
		}
		c.by[p.SeriesID] = cs
	}
	return worst(cs, p.Index), nil
}

func (h *Handler) patches(w http.ResponseWriter, q *req) {
	p, lists, ok := h.pagedProjects(w, q)
	if !ok {
		return
	}
	f, err := h.patchFilter(q, lists, p)
	if h.filterFailed(w, q, err) {
		return
	}
	ps, err := h.cfg.Patches.TrackedPatches(q.Context(), f)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	cs := &checkStates{h: h, q: q}
	out := make([]*patchJSON, 0, len(ps))
	for i := range ps {
		check, err := cs.of(&ps[i])
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		pj, err := v.patch(&ps[i], check)
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		out = append(out, pj)
	}
	page(w, q, p, out)
}

// readablePatch returns the patch in the path if the caller may do act
// on its list; nil after answering otherwise (404 when they may not
// read it, 401 or 403 when they may read but not act).
func (h *Handler) readablePatch(w http.ResponseWriter, q *req, act access.Action) *store.TrackedPatch {
	id := idParam(q.Request, "id")
	if id == 0 {
		notFound(w)
		return nil
	}
	p, err := h.cfg.Patches.TrackedPatch(q.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return nil
	}
	if err != nil {
		h.internal(w, q.Request, err)
		return nil
	}
	if !h.may(w, q, p.List, act) {
		return nil
	}
	return p
}

// may answers for a caller who may not do act on list and reports
// whether they may.
func (h *Handler) may(w http.ResponseWriter, q *req, list string, act access.Action) bool {
	l, err := h.cfg.Lists.ListInfo(q.Context(), list)
	if err != nil {
		h.internal(w, q.Request, err)
		return false
	}
	subj, err := h.subject(q.Context(), q.user, list)
	if err != nil {
		h.internal(w, q.Request, err)
		return false
	}
	switch {
	case !access.Allowed(subj, l, access.Read):
		notFound(w)
		return false
	case !access.Allowed(subj, l, act) && q.user == nil:
		w.Header().Set("WWW-Authenticate", "Token")
		fail(w, http.StatusUnauthorized, "Authentication credentials were not provided.")
		return false
	case !access.Allowed(subj, l, act):
		fail(w, http.StatusForbidden, "You do not have permission to perform this action.")
		return false
	}
	return true
}

func (h *Handler) patch(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.Read)
	if p == nil {
		return
	}
	h.writePatch(w, q, p)
}

func (h *Handler) writePatch(w http.ResponseWriter, q *req, p *store.TrackedPatch) {
	cs := &checkStates{h: h, q: q}
	check, err := cs.of(p)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	pj, err := v.patch(p, check)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	raw, err := h.cfg.Patches.Raw(q.Context(), p.List, p.MessageID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	if pj.Related, err = h.related(q, v, p); err != nil {
		h.internal(w, q.Request, err)
		return
	}
	pj.Headers = headers(archive.Fields(raw))
	if m, err := patchmail.Parse(raw); err == nil {
		content, diff := m.Body, m.Diff
		if i := strings.Index(content, diff); diff != "" && i >= 0 {
			content = content[:i]
		}
		pj.Content, pj.Diff = &content, &diff
		pj.Prefixes = append([]string{}, m.Subject.Prefixes...)
	}
	writeJSON(w, http.StatusOK, pj)
}

// related are the patch's other versions (patchwork 1.2): the patch at
// its index in each other revision of its series, oldest first.
func (h *Handler) related(q *req, v *view, p *store.TrackedPatch) ([]submissionRef, error) {
	out := []submissionRef{}
	if h.cfg.Revisions == nil {
		return out, nil
	}
	chain, err := h.cfg.Revisions.Revisions(q.Context(), p.SeriesID)
	if err != nil {
		return nil, err
	}
	for _, r := range chain {
		if r.ID == p.SeriesID {
			continue
		}
		ps, err := h.cfg.Patches.TrackedPatches(q.Context(), store.PatchFilter{Lists: []string{p.List}, SeriesID: r.ID, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, o := range ps {
			if o.Index == p.Index {
				self := fmt.Sprintf("%s/patches/%d/", q.base, o.ID)
				out = append(out, submissionRef{ID: o.ID, URL: self, WebURL: v.archiveURL(o.List, o.MessageID), MsgID: msgid(o.MessageID),
					ListArchiveURL: v.archiveURL(o.List, o.MessageID), Date: date(o.Date), Name: o.Subject, Mbox: self + "mbox/"})
			}
		}
	}
	return out, nil
}

// form is a request body, form-encoded (as git-pw sends it) or JSON.
// form is a request body, JSON or form-encoded (git-pw sends form data,
// other clients JSON): a field repeated in a form is a []any of its
// values.
type form map[string]any

func readForm(r *http.Request) (form, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20+1))
	if err != nil {
		return nil, err
	}
	if len(b) > 1<<20 {
		return nil, errors.New("Request body too large.")
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	out := form{}
	if ct == "application/json" || ct == "" && bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) {
		if err := json.Unmarshal(b, &out); err != nil {
			return nil, fmt.Errorf("JSON parse error - %v", err)
		}
		return out, nil
	}
	vals, err := url.ParseQuery(string(b))
	if err != nil {
		return nil, fmt.Errorf("Bad form body: %v.", err)
	}
	for k, vs := range vals {
		if len(vs) == 1 {
			out[k] = vs[0]
			continue
		}
		all := make([]any, len(vs))
		for i, v := range vs {
			all[i] = v
		}
		out[k] = all
	}
	return out, nil
}

// list returns a field's values: a JSON array's, or a form field's
// (repeated, and each split at commas: "1,2,3"); present reports whether
// it was sent.
func (f form) list(key string) (vals []string, present bool) {
	v, ok := f[key]
	if !ok {
		return nil, false
	}
	items, isList := v.([]any)
	if !isList {
		items = []any{v}
	}
	for _, it := range items {
		s, _ := form{key: it}.str(key)
		for _, part := range strings.Split(s, ",") {
			if part = strings.TrimSpace(part); part != "" {
				vals = append(vals, part)
			}
		}
	}
	return vals, true
}

// str returns a field as a string; present reports whether it was sent
// (null counts as sent, empty).
func (f form) str(key string) (s string, present bool) {
	v, ok := f[key]
	if !ok {
		return "", false
	}
	switch v := v.(type) {
	case string:
		return v, true
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(v), true
	case []any: // a repeated form field: the last one counts
		if len(v) > 0 {
			return form{key: v[len(v)-1]}.str(key)
		}
	}
	return "", true
}

func (h *Handler) updatePatch(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.SetStatus)
	if p == nil {
		return
	}
	f, err := readForm(q.Request)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	var u store.PatchUpdate
	if s, ok := f.str("state"); ok {
		if !store.ValidPatchState(s) {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid state %q: one of %s.", s, strings.Join(store.PatchStates, ", ")))
			return
		}
		u.State = &s
	}
	if s, ok := f.str("archived"); ok {
		b, valid := parseBool(s)
		if !valid {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid archived %q: true or false.", s))
			return
		}
		u.Archived = &b
	}
	if s, ok := f.str("commit_ref"); ok {
		u.CommitRef = &s
	}
	if s, ok := f.str("delegate"); ok {
		var id int64
		if s != "" {
			id, err = h.delegate(q, p.List, s)
			if err != nil {
				fail(w, http.StatusBadRequest, err.Error())
				return
			}
		}
		u.Delegate = &id
	}
	var uid int64
	if q.user != nil {
		uid = q.user.ID
	}
	change, err := h.cfg.Patches.UpdatePatch(q.Context(), p.ID, u, uid, h.cfg.Now())
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		h.internal(w, q.Request, err)
		return
	}
	h.cfg.Log.Info("patch updated", "patch", p.ID, "list", p.List, "user", uid)
	if change != nil && h.cfg.Notify != nil {
		if se, err := h.cfg.Series.Series(q.Context(), p.SeriesID); err != nil {
			h.cfg.Log.Error("webhook event", "event", "series.status_changed", "series", p.SeriesID, "err", err)
		} else if err := h.cfg.Notify.StatusChanged(q.Context(), se, change); err != nil {
			h.cfg.Log.Error("webhook event", "event", "series.status_changed", "series", p.SeriesID, "err", err)
		}
	}
	np, err := h.cfg.Patches.TrackedPatch(q.Context(), p.ID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	h.writePatch(w, q, np)
}

// delegate resolves a delegate (a user id, or an address) who must be a
// maintainer of the list (or a site admin).
func (h *Handler) delegate(q *req, list, s string) (int64, error) {
	us, err := h.cfg.Users.Users(q.Context())
	if err != nil {
		return 0, err
	}
	id, _ := strconv.ParseInt(s, 10, 64)
	for _, u := range us {
		if u.ID != id && !strings.EqualFold(u.Email, s) || u.Disabled {
			continue
		}
		role, err := h.cfg.Tokens.Role(q.Context(), u.ID, list)
		if err != nil {
			return 0, err
		}
		if role == "" && !u.Admin {
			return 0, fmt.Errorf("User '%s' is not a maintainer for project '%s'", u.Email, list)
		}
		return u.ID, nil
	}
	return 0, fmt.Errorf("Invalid delegate %q: no such user.", s)
}

// mbox answers raw as a one-message mbox, a download as patchwork's.
func mbox(w http.ResponseWriter, name string, raw []byte, from string, m *patchmail.Mail) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", "attachment; filename="+name)
	var b bytes.Buffer
	archive.NewMboxWriter(&b).Write(raw, from, m.AuthorDate)
	w.Write(b.Bytes())
}

func (h *Handler) patchMbox(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.Read)
	if p == nil {
		return
	}
	raw, err := h.cfg.Patches.Raw(q.Context(), p.List, p.MessageID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	m, err := patchmail.Parse(raw)
	if err != nil {
		m = &patchmail.Mail{}
	}
	mbox(w, fmt.Sprintf("%d.patch", p.ID), raw, p.Author.Email, m)
}

// comments are the replies to a message in its thread, at any depth but
// not through another patch (a reply to patch 2 is patch 2's comment,
// not the cover letter's).
func (h *Handler) comments(w http.ResponseWriter, q *req, list string, threadID int64, root string) {
	out, err := h.commentList(q, list, threadID, root)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	if id := idParam(q.Request, "comment"); q.PathValue("comment") != "" {
		i := slices.IndexFunc(out, func(c commentJSON) bool { return c.ID == id })
		if i < 0 {
			notFound(w)
			return
		}
		writeJSON(w, http.StatusOK, out[i])
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// commentList returns the comments on root (see comments).
func (h *Handler) commentList(q *req, list string, threadID int64, root string) ([]commentJSON, error) {
	ms, err := h.cfg.Patches.ThreadMessages(q.Context(), []int64{threadID})
	if err != nil {
		return nil, err
	}
	in := map[string]bool{root: true}
	v := h.view(q)
	out := []commentJSON{}
	for _, m := range ms { // in arrival order: a parent comes first
		if !in[m.InReplyTo] || m.MessageID == root || m.Kind == core.KindPatch || m.Kind == core.KindCover {
			continue
		}
		in[m.MessageID] = true
		raw, err := h.cfg.Patches.Raw(q.Context(), list, m.MessageID)
		if err != nil {
			return nil, err
		}
		var content string
		if pm, err := patchmail.Parse(raw); err == nil {
			content = pm.Body
		}
		sub, err := v.person(m.From)
		if err != nil {
			return nil, err
		}
		out = append(out, commentJSON{ID: m.ID, WebURL: v.archiveURL(list, m.MessageID), MsgID: msgid(m.MessageID),
			ListArchiveURL: v.archiveURL(list, m.MessageID), Date: date(m.Date), Subject: m.Subject, Submitter: sub,
			Content: content, Headers: headers(archive.Fields(raw))})
	}
	return out, nil
}

func (h *Handler) patchComments(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.Read)
	if p == nil {
		return
	}
	se, err := h.cfg.Series.Series(q.Context(), p.SeriesID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	h.comments(w, q, p.List, se.ThreadID, p.MessageID)
}

func (h *Handler) checks(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.Read)
	if p == nil {
		return
	}
	cs, err := h.cfg.Checks.Checks(q.Context(), p.SeriesID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	self := fmt.Sprintf("%s/patches/%d/", q.base, p.ID)
	out := []checkJSON{}
	for i := range cs {
		if cs[i].PatchIndex == 0 || cs[i].PatchIndex == p.Index {
			out = append(out, v.check(self, &cs[i]))
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) check(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.Read)
	if p == nil {
		return
	}
	cs, err := h.cfg.Checks.Checks(q.Context(), p.SeriesID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	id := idParam(q.Request, "check")
	for i := range cs {
		if cs[i].ID == id && (cs[i].PatchIndex == 0 || cs[i].PatchIndex == p.Index) {
			writeJSON(w, http.StatusOK, h.view(q).check(fmt.Sprintf("%s/patches/%d/", q.base, p.ID), &cs[i]))
			return
		}
	}
	notFound(w)
}

// postCheck records a check on the patch, as snowpatch and other CI bots
// post them: state, target_url, context, description. It is patchwell's
// check of the patch's series at the patch's index (so the series page
// shows it), posted by whoever may set the series' status.
func (h *Handler) postCheck(w http.ResponseWriter, q *req) {
	p := h.readablePatch(w, q, access.SetStatus)
	if p == nil {
		return
	}
	f, err := readForm(q.Request)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	state, _ := f.str("state")
	if !store.ValidCheckState(state) {
		fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid state %q: one of pending, success, warning, fail.", state))
		return
	}
	ctxName, _ := f.str("context")
	if ctxName == "" {
		ctxName = "default" // patchwork's default context
	}
	target, _ := f.str("target_url")
	desc, _ := f.str("description")
	if strings.ContainsAny(ctxName+desc, "\r\n\x00") || strings.ContainsAny(target, " \r\n\x00") {
		fail(w, http.StatusBadRequest, "Invalid context, description or target_url: one line each.")
		return
	}
	var by int64
	if q.user != nil {
		by = q.user.ID
	}
	c, err := h.cfg.Checks.SetCheck(q.Context(), &store.Check{SeriesID: p.SeriesID, PatchIndex: p.Index, Context: ctxName,
		State: state, Description: desc, URL: target, By: by})
	if errors.Is(err, store.ErrInvalid) {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	h.cfg.Log.Info("check posted", "patch", p.ID, "series", p.SeriesID, "context", c.Context, "state", c.State)
	if h.cfg.Notify != nil {
		if se, err := h.cfg.Series.Series(q.Context(), p.SeriesID); err != nil {
			h.cfg.Log.Error("webhook event", "event", "check.created", "series", p.SeriesID, "err", err)
		} else if err := h.cfg.Notify.CheckCreated(q.Context(), se, c); err != nil {
			h.cfg.Log.Error("webhook event", "event", "check.created", "series", p.SeriesID, "err", err)
		}
	}
	v := h.view(q)
	out := v.check(fmt.Sprintf("%s/patches/%d/", q.base, p.ID), c)
	out.User = v.user(q.user)
	writeJSON(w, http.StatusCreated, out)
}

// readableSeries returns the series in the path if the caller may read
// its list; nil after answering 404 otherwise.
func (h *Handler) readableSeries(w http.ResponseWriter, q *req) *store.Series {
	id := idParam(q.Request, "id")
	if id == 0 {
		notFound(w)
		return nil
	}
	se, err := h.cfg.Series.Series(q.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return nil
	}
	if err != nil {
		h.internal(w, q.Request, err)
		return nil
	}
	if !h.may(w, q, se.List, access.Read) {
		return nil
	}
	return se
}

func (h *Handler) seriesJSON(v *view, se *store.Series) (*seriesJSON, error) {
	proj, err := v.projectNamed(se.List)
	if err != nil {
		return nil, err
	}
	sub, err := v.person(se.Submitter)
	if err != nil {
		return nil, err
	}
	ref := v.seriesRef(se.ID, se.Subject, se.Version, se.Date)
	out := &seriesJSON{ID: se.ID, URL: ref.URL, WebURL: ref.WebURL, Project: proj, Name: se.Subject, Date: ref.Date,
		Submitter: sub, Version: se.Version, Total: se.Total, ReceivedTotal: se.Received, ReceivedAll: se.Complete,
		Mbox: ref.Mbox, Patches: []submissionRef{}}
	if se.CoverMessageID != "" {
		c := h.coverRef(v, se)
		out.CoverLetter = &c
	}
	ps, err := h.cfg.Patches.TrackedPatches(v.ctx(), store.PatchFilter{Lists: []string{se.List}, SeriesID: se.ID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ps, func(a, b store.TrackedPatch) int { return a.Index - b.Index })
	for _, p := range ps {
		self := fmt.Sprintf("%s/patches/%d/", v.q.base, p.ID)
		out.Patches = append(out.Patches, submissionRef{ID: p.ID, URL: self, WebURL: v.archiveURL(p.List, p.MessageID),
			MsgID: msgid(p.MessageID), ListArchiveURL: v.archiveURL(p.List, p.MessageID), Date: date(p.Date), Name: p.Subject,
			Mbox: self + "mbox/"})
	}
	return out, nil
}

// coverRef is a series' cover letter; a cover's id is its series' id.
func (h *Handler) coverRef(v *view, se *store.Series) submissionRef {
	self := fmt.Sprintf("%s/covers/%d/", v.q.base, se.ID)
	return submissionRef{ID: se.ID, URL: self, WebURL: v.archiveURL(se.List, se.CoverMessageID), MsgID: msgid(se.CoverMessageID),
		ListArchiveURL: v.archiveURL(se.List, se.CoverMessageID), Date: date(se.Date), Name: se.Subject, Mbox: self + "mbox/"}
}

func (h *Handler) series(w http.ResponseWriter, q *req) {
	se := h.readableSeries(w, q)
	if se == nil {
		return
	}
	out, err := h.seriesJSON(h.view(q), se)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

// seriesPage returns one page of the series of the lists, newest first
// (with one more, for the next link); keep filters them.
func (h *Handler) seriesPage(q *req, lists []string, p paging, keep func(*store.Series) bool) ([]store.Series, error) {
	var all []store.Series
	want := p.offset() + p.perPage + 1
	for _, l := range lists {
		for off := 0; ; off += 1000 {
			ss, err := h.cfg.Series.SeriesList(q.Context(), l, "", store.Page{Limit: 1000, Offset: off})
			if err != nil {
				return nil, err
			}
			for i := range ss {
				if keep == nil || keep(&ss[i]) {
					all = append(all, ss[i])
				}
			}
			if len(ss) < 1000 || len(all) >= want && len(lists) == 1 {
				break
			}
		}
	}
	slices.SortFunc(all, func(a, b store.Series) int { return int(b.ID - a.ID) })
	if q.URL.Query().Get("order") == "id" || q.URL.Query().Get("order") == "date" {
		slices.Reverse(all)
	}
	if p.offset() >= len(all) {
		return nil, nil
	}
	return all[p.offset():min(len(all), want)], nil
}

// inDates returns whether a series' date is within the request's since
// and before (API 1.1); false after answering 400 for a bad one.
func inDates(w http.ResponseWriter, q *req) (func(*store.Series) bool, bool) {
	since, before, err := dateFilters(q)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return func(se *store.Series) bool {
		return (since.IsZero() || !se.Date.Before(since)) && (before.IsZero() || se.Date.Before(before))
	}, true
}

func (h *Handler) seriesList(w http.ResponseWriter, q *req) {
	qs := q.URL.Query()
	name, subs := strings.ToLower(qs.Get("q")), qs["submitter"]
	dated, ok := inDates(w, q)
	if !ok {
		return
	}
	listSeries(h, w, q, func(se *store.Series) bool {
		if name != "" && !strings.Contains(strings.ToLower(se.Subject), name) || !dated(se) {
			return false
		}
		return len(subs) == 0 || slices.ContainsFunc(subs, func(s string) bool { return strings.EqualFold(s, se.Submitter.Email) })
	}, h.seriesJSON)
}

// listSeries answers a paged listing of the series of the project asked
// for (all readable ones when none) that keep says to, each as shape
// makes it: /series/ and /covers/.
func listSeries[T any](h *Handler, w http.ResponseWriter, q *req, keep func(*store.Series) bool, shape func(*view, *store.Series) (T, error)) {
	p, lists, ok := h.pagedProjects(w, q)
	if !ok {
		return
	}
	ss, err := h.seriesPage(q, lists, p, keep)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	out := make([]T, 0, len(ss))
	for i := range ss {
		x, err := shape(v, &ss[i])
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		out = append(out, x)
	}
	page(w, q, p, out)
}

func (h *Handler) seriesMbox(w http.ResponseWriter, q *req) {
	se := h.readableSeries(w, q)
	if se == nil {
		return
	}
	var b bytes.Buffer
	if err := h.cfg.Mbox.SeriesMbox(q.Context(), se.ID, &b); err != nil {
		h.internal(w, q.Request, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=series-%d.patch", se.ID))
	w.Write(b.Bytes())
}

// cover returns the series in the path if it has a cover letter the
// caller may read; nil after answering 404 otherwise.
func (h *Handler) readableCover(w http.ResponseWriter, q *req) *store.Series {
	se := h.readableSeries(w, q)
	if se == nil {
		return nil
	}
	if se.CoverMessageID == "" {
		notFound(w)
		return nil
	}
	return se
}

func (h *Handler) coverJSON(v *view, se *store.Series) (*coverJSON, error) {
	proj, err := v.projectNamed(se.List)
	if err != nil {
		return nil, err
	}
	sub, err := v.person(se.Submitter)
	if err != nil {
		return nil, err
	}
	ref := h.coverRef(v, se)
	return &coverJSON{ID: ref.ID, URL: ref.URL, WebURL: ref.WebURL, Project: proj, MsgID: ref.MsgID,
		ListArchiveURL: ref.ListArchiveURL, Date: ref.Date, Name: se.Subject, Submitter: sub, Mbox: ref.Mbox,
		Series: []seriesRef{v.seriesRef(se.ID, se.Subject, se.Version, se.Date)}, Comments: ref.URL + "comments/"}, nil
}

func (h *Handler) covers(w http.ResponseWriter, q *req) {
	dated, ok := inDates(w, q)
	if !ok {
		return
	}
	listSeries(h, w, q, func(se *store.Series) bool { return se.CoverMessageID != "" && dated(se) }, h.coverJSON)
}

func (h *Handler) cover(w http.ResponseWriter, q *req) {
	se := h.readableCover(w, q)
	if se == nil {
		return
	}
	c, err := h.coverJSON(h.view(q), se)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	raw, err := h.cfg.Patches.Raw(q.Context(), se.List, se.CoverMessageID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	c.Headers = headers(archive.Fields(raw))
	if m, err := patchmail.Parse(raw); err == nil {
		c.Content = &m.Body
	}
	writeJSON(w, http.StatusOK, c)
}

func (h *Handler) coverMbox(w http.ResponseWriter, q *req) {
	se := h.readableCover(w, q)
	if se == nil {
		return
	}
	raw, err := h.cfg.Patches.Raw(q.Context(), se.List, se.CoverMessageID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	m, err := patchmail.Parse(raw)
	if err != nil {
		m = &patchmail.Mail{}
	}
	mbox(w, fmt.Sprintf("cover-%d.mbox", se.ID), raw, se.Submitter.Email, m)
}

func (h *Handler) coverComments(w http.ResponseWriter, q *req) {
	se := h.readableCover(w, q)
	if se == nil {
		return
	}
	h.comments(w, q, se.List, se.ThreadID, se.CoverMessageID)
}
