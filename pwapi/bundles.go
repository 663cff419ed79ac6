package pwapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/archive"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Bundles are patchwork's bundles: an owner's named, ordered set of
// patches of one list, public or private (store.Bundle).
type Bundles interface {
	CreateBundle(ctx context.Context, b store.Bundle, patches []int64) (*store.Bundle, error)
	UpdateBundle(ctx context.Context, id int64, u store.BundleUpdate) (*store.Bundle, error)
	DeleteBundle(ctx context.Context, id int64) error
	Bundles(ctx context.Context, f store.BundleFilter) ([]store.Bundle, error)
	Bundle(ctx context.Context, id int64) (*store.Bundle, []store.TrackedPatch, error)
	BundlePatches(ctx context.Context, ids []int64) (map[int64][]store.TrackedPatch, error)
}

type bundleJSON struct {
	ID      int64           `json:"id"`
	URL     string          `json:"url"`
	WebURL  string          `json:"web_url,omitempty"` // 1.1 and later
	Project *project        `json:"project"`
	Name    string          `json:"name"`
	Owner   *user           `json:"owner"`
	Patches []submissionRef `json:"patches"`
	Public  bool            `json:"public"`
	Mbox    string          `json:"mbox"`
}

// version is the API version a request was addressed to (the newest
// under /api/ alone), as [major, minor].
func (q *req) version() [2]int {
	v := Versions[len(Versions)-1]
	if i := strings.LastIndex(q.base, "/api/"); i >= 0 {
		v = q.base[i+len("/api/"):]
	}
	major, minor, _ := strings.Cut(v, ".")
	a, _ := strconv.Atoi(major)
	b, _ := strconv.Atoi(minor)
	return [2]int{a, b}
}

func (q *req) atLeast(major, minor int) bool {
	v := q.version()
	return v[0] > major || v[0] == major && v[1] >= minor
}

func (v *view) bundle(b *store.Bundle, ps []store.TrackedPatch) (*bundleJSON, error) {
	proj, err := v.projectNamed(b.List)
	if err != nil {
		return nil, err
	}
	owner := v.user(&store.User{ID: b.OwnerID, Email: b.OwnerEmail, Name: b.OwnerName})
	self := fmt.Sprintf("%s/bundles/%d/", v.q.base, b.ID)
	out := &bundleJSON{ID: b.ID, URL: self, Project: proj, Name: b.Name, Owner: owner, Public: b.Public,
		Mbox: self + "mbox/", Patches: []submissionRef{}}
	if v.q.atLeast(1, 1) {
		out.WebURL = fmt.Sprintf("%s/bundle/%d/", v.q.site, b.ID)
	}
	for _, p := range ps {
		u := fmt.Sprintf("%s/patches/%d/", v.q.base, p.ID)
		out.Patches = append(out.Patches, submissionRef{ID: p.ID, URL: u, WebURL: v.archiveURL(p.List, p.MessageID),
			MsgID: msgid(p.MessageID), ListArchiveURL: v.archiveURL(p.List, p.MessageID), Date: date(p.Date), Name: p.Subject,
			Mbox: u + "mbox/"})
	}
	return out, nil
}

func (h *Handler) noBundles(w http.ResponseWriter) bool {
	if h.cfg.Bundles == nil {
		notFound(w)
		return true
	}
	return false
}

func (h *Handler) bundles(w http.ResponseWriter, q *req) {
	if h.noBundles(w) {
		return
	}
	p, lists, ok := h.pagedProjects(w, q)
	if !ok {
		return
	}
	qs := q.URL.Query()
	f := store.BundleFilter{Lists: lists, Owners: qs["owner"], Name: qs.Get("q"), Order: qs.Get("order"),
		Limit: p.perPage + 1, Offset: p.offset()}
	if q.user != nil {
		f.Viewer = q.user.ID
	}
	if s := qs.Get("public"); s != "" {
		b, valid := parseBool(s)
		if !valid {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid public %q: true or false.", s))
			return
		}
		f.Public = &b
	}
	switch strings.TrimPrefix(f.Order, "-") {
	case "", "id", "name", "owner":
	default:
		fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid order %q: id, name or owner, with - for descending.", f.Order))
		return
	}
	bs, err := h.cfg.Bundles.Bundles(q.Context(), f)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	ids := make([]int64, len(bs))
	for i := range bs {
		ids[i] = bs[i].ID
	}
	patches, err := h.cfg.Bundles.BundlePatches(q.Context(), ids)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	v := h.view(q)
	out := make([]*bundleJSON, 0, len(bs))
	for i := range bs {
		bj, err := v.bundle(&bs[i], patches[bs[i].ID])
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		out = append(out, bj)
	}
	page(w, q, p, out)
}

// readableBundle returns the bundle in the path and its patches if the
// caller may see it: a public one to whoever may read its list, a
// private one to its owner only (404 for everyone else, as patchwork
// does, not to tell it exists). With write, only the owner passes: 401
// anonymous, 403 for others who may see it. nil after answering.
func (h *Handler) readableBundle(w http.ResponseWriter, q *req, write bool) (*store.Bundle, []store.TrackedPatch) {
	if h.noBundles(w) {
		return nil, nil
	}
	id := idParam(q.Request, "id")
	if id == 0 {
		notFound(w)
		return nil, nil
	}
	b, ps, err := h.cfg.Bundles.Bundle(q.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		notFound(w)
		return nil, nil
	}
	if err != nil {
		h.internal(w, q.Request, err)
		return nil, nil
	}
	own := q.user != nil && q.user.ID == b.OwnerID
	if !own && !b.Public {
		notFound(w)
		return nil, nil
	}
	if !h.may(w, q, b.List, access.Read) {
		return nil, nil
	}
	if write && !own {
		if q.user == nil {
			w.Header().Set("WWW-Authenticate", "Token")
			fail(w, http.StatusUnauthorized, "Authentication credentials were not provided.")
		} else {
			fail(w, http.StatusForbidden, "You do not have permission to perform this action.")
		}
		return nil, nil
	}
	return b, ps
}

func (h *Handler) bundle(w http.ResponseWriter, q *req) {
	b, ps := h.readableBundle(w, q, false)
	if b == nil {
		return
	}
	h.writeBundle(w, q, http.StatusOK, b, ps)
}

func (h *Handler) writeBundle(w http.ResponseWriter, q *req, status int, b *store.Bundle, ps []store.TrackedPatch) {
	bj, err := h.view(q).bundle(b, ps)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	writeJSON(w, status, bj)
}

// bundleForm is the body of a bundle's POST, PATCH or PUT: form-encoded
// (git-pw sends each patch as one more patches=N) or JSON (patches a
// list of ids).
type bundleForm struct {
	name, public   *string
	patches        []string
	patchesPresent bool
}

func readBundleForm(r *http.Request) (*bundleForm, error) {
	f, err := readForm(r)
	if err != nil {
		return nil, err
	}
	out := &bundleForm{}
	if v, ok := f["name"]; ok && v != nil {
		name, _ := f.str("name")
		out.name = &name
	}
	if s, ok := f.str("public"); ok {
		out.public = &s
	}
	out.patches, out.patchesPresent = f.list("patches")
	return out, nil
}

// bundlePatches resolves the patch ids of a body: each must be a patch
// the caller may read, all of one list (patchwork's rules); the list is
// returned. A message for the caller when not.
func (h *Handler) bundlePatches(q *req, ids []string) ([]int64, string, string, error) {
	if len(ids) == 0 {
		return nil, "", "Bundles cannot be empty.", nil
	}
	if len(ids) > store.MaxBundlePatches {
		return nil, "", fmt.Sprintf("A bundle holds at most %d patches.", store.MaxBundlePatches), nil
	}
	var out []int64
	list := ""
	readable := map[string]bool{}
	for _, s := range ids {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil || id <= 0 {
			return nil, "", fmt.Sprintf("Incorrect type. Expected pk value, received %q.", s), nil
		}
		p, err := h.cfg.Patches.TrackedPatch(q.Context(), id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, "", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", id), nil
		}
		if err != nil {
			return nil, "", "", err
		}
		ok, seen := readable[p.List]
		if !seen {
			l, err := h.readable(q, p.List)
			if err != nil {
				return nil, "", "", err
			}
			ok, readable[p.List] = l != nil, l != nil
		}
		if !ok { // a hidden patch does not exist
			return nil, "", fmt.Sprintf("Invalid pk \"%d\" - object does not exist.", id), nil
		}
		if list != "" && p.List != list {
			return nil, "", "Bundle patches must belong to the same project.", nil
		}
		list = p.List
		out = append(out, id)
	}
	return out, list, "", nil
}

// writable refuses a write before API 1.2 (405, as patchwork) and an
// anonymous caller (401); false after answering.
func (h *Handler) writable(w http.ResponseWriter, q *req) bool {
	if !q.atLeast(1, 2) {
		fail(w, http.StatusMethodNotAllowed, fmt.Sprintf("Method \"%s\" not allowed.", q.Method))
		return false
	}
	if q.user == nil {
		w.Header().Set("WWW-Authenticate", "Token")
		fail(w, http.StatusUnauthorized, "Authentication credentials were not provided.")
		return false
	}
	return true
}

// bundleError answers a store error of a bundle write.
func (h *Handler) bundleError(w http.ResponseWriter, q *req, err error) {
	switch {
	case errors.Is(err, store.ErrExists):
		fail(w, http.StatusBadRequest, "You already have a bundle of that name on this project.")
	case errors.Is(err, store.ErrInvalid):
		// "update bundle: invalid request: a bundle needs a name" says
		// "A bundle needs a name."
		d := err.Error()
		if i := strings.LastIndex(d, store.ErrInvalid.Error()+": "); i >= 0 {
			d = d[i+len(store.ErrInvalid.Error())+2:]
		}
		if d != "" {
			d = strings.ToUpper(d[:1]) + d[1:] + "."
		}
		fail(w, http.StatusBadRequest, d)
	case errors.Is(err, store.ErrNotFound):
		fail(w, http.StatusBadRequest, err.Error())
	default:
		h.internal(w, q.Request, err)
	}
}

func (h *Handler) createBundle(w http.ResponseWriter, q *req) {
	if h.noBundles(w) || !h.writable(w, q) {
		return
	}
	f, err := readBundleForm(q.Request)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	if f.name == nil || strings.TrimSpace(*f.name) == "" {
		fail(w, http.StatusBadRequest, "A bundle needs a name.")
		return
	}
	b := store.Bundle{OwnerID: q.user.ID, Name: *f.name}
	if f.public != nil {
		var valid bool
		if b.Public, valid = parseBool(*f.public); !valid {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid public %q: true or false.", *f.public))
			return
		}
	}
	ids, list, msg, err := h.bundlePatches(q, f.patches)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	if msg != "" {
		fail(w, http.StatusBadRequest, msg)
		return
	}
	b.List = list
	nb, err := h.cfg.Bundles.CreateBundle(q.Context(), b, ids)
	if err != nil {
		h.bundleError(w, q, err)
		return
	}
	h.cfg.Log.Info("bundle created", "bundle", nb.ID, "list", nb.List, "user", q.user.ID)
	_, ps, err := h.cfg.Bundles.Bundle(q.Context(), nb.ID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	h.writeBundle(w, q, http.StatusCreated, nb, ps)
}

func (h *Handler) updateBundle(w http.ResponseWriter, q *req) {
	if h.noBundles(w) || !h.writable(w, q) {
		return
	}
	b, _ := h.readableBundle(w, q, true)
	if b == nil {
		return
	}
	f, err := readBundleForm(q.Request)
	if err != nil {
		fail(w, http.StatusBadRequest, err.Error())
		return
	}
	var u store.BundleUpdate
	u.Name = f.name
	if f.public != nil {
		pub, valid := parseBool(*f.public)
		if !valid {
			fail(w, http.StatusBadRequest, fmt.Sprintf("Invalid public %q: true or false.", *f.public))
			return
		}
		u.Public = &pub
	}
	if f.patchesPresent {
		ids, list, msg, err := h.bundlePatches(q, f.patches)
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		if msg == "" && list != b.List {
			msg = "Bundle patches must belong to the same project."
		}
		if msg != "" {
			fail(w, http.StatusBadRequest, msg)
			return
		}
		u.Patches = &ids
	}
	if _, err := h.cfg.Bundles.UpdateBundle(q.Context(), b.ID, u); err != nil {
		h.bundleError(w, q, err)
		return
	}
	h.cfg.Log.Info("bundle updated", "bundle", b.ID, "list", b.List, "user", q.user.ID)
	nb, ps, err := h.cfg.Bundles.Bundle(q.Context(), b.ID)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	h.writeBundle(w, q, http.StatusOK, nb, ps)
}

func (h *Handler) deleteBundle(w http.ResponseWriter, q *req) {
	if h.noBundles(w) || !h.writable(w, q) {
		return
	}
	b, _ := h.readableBundle(w, q, true)
	if b == nil {
		return
	}
	if err := h.cfg.Bundles.DeleteBundle(q.Context(), b.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.internal(w, q.Request, err)
		return
	}
	h.cfg.Log.Info("bundle deleted", "bundle", b.ID, "list", b.List, "user", q.user.ID)
	w.WriteHeader(http.StatusNoContent)
}

// bundleMbox answers the bundle's patches, in its order, as one mbox
// git am applies.
func (h *Handler) bundleMbox(w http.ResponseWriter, q *req) {
	b, ps := h.readableBundle(w, q, false)
	if b == nil {
		return
	}
	var buf bytes.Buffer
	mw := archive.NewMboxWriter(&buf)
	for _, p := range ps {
		raw, err := h.cfg.Patches.Raw(q.Context(), p.List, p.MessageID)
		if err != nil {
			h.internal(w, q.Request, err)
			return
		}
		m, err := patchmail.Parse(raw)
		if err != nil {
			m = &patchmail.Mail{}
		}
		if err := mw.Write(raw, p.Author.Email, m.AuthorDate); err != nil {
			h.internal(w, q.Request, err)
			return
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=bundle-%d.mbox", b.ID))
	w.Write(buf.Bytes())
}
