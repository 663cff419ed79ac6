package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/archive"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Bundles are patchwork's bundles (store.Bundle): a user's named,
// ordered sets of patches of one list, public (to whoever may read the
// list) or private (to their owner). The same bundles git-pw reaches
// through pwapi.
type Bundles interface {
	CreateBundle(ctx context.Context, b store.Bundle, patches []int64) (*store.Bundle, error)
	UpdateBundle(ctx context.Context, id int64, u store.BundleUpdate) (*store.Bundle, error)
	AddBundlePatches(ctx context.Context, id int64, patches []int64) error
	RemoveBundlePatches(ctx context.Context, id int64, patches []int64) error
	DeleteBundle(ctx context.Context, id int64) error
	Bundle(ctx context.Context, id int64) (*store.Bundle, []store.TrackedPatch, error)
	BundlesOf(ctx context.Context, userID int64, list string) ([]store.Bundle, error)
	UserBundles(ctx context.Context, userID int64) ([]store.Bundle, error)
}

// bundleRoutes registers the bundle page, its mbox, the user's bundles
// page and the forms that change them.
func (h *Handler) bundleRoutes() {
	h.mux.HandleFunc("GET /bundle/{id}/{$}", h.bundlePage)
	h.mux.HandleFunc("GET /bundle/{id}/mbox", h.bundleMbox)
	h.mux.HandleFunc("GET /account/bundles", h.myBundles)
	h.mux.HandleFunc("POST /account/bundles", h.createBundleForm)
	h.mux.HandleFunc("POST /series/{id}/bundle", h.addToBundle)
	h.mux.HandleFunc("POST /bundle/{id}/rename", h.renameBundle)
	h.mux.HandleFunc("POST /bundle/{id}/public", h.bundlePublic)
	h.mux.HandleFunc("POST /bundle/{id}/remove", h.removeFromBundle)
	h.mux.HandleFunc("POST /bundle/{id}/delete", h.deleteBundle)
}

// bundleURL is a bundle's page.
func bundleURL(id int64) string { return "/bundle/" + strconv.FormatInt(id, 10) + "/" }

// visibleBundle loads the bundle of the path if the request may see it:
// a public one whoever may read its list, a private one its owner (who
// must still read the list). Anyone else gets the 404 of a bundle that
// does not exist. With write, only the owner passes (403 for others who
// see it). It answers when it returns nil.
func (h *Handler) visibleBundle(w http.ResponseWriter, r *http.Request, write bool) (*store.Bundle, []store.TrackedPatch, *store.User) {
	if h.cfg.Bundles == nil {
		h.httpError(w, r, http.StatusNotFound, "bundles are not enabled on this server")
		return nil, nil, nil
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, errBadID.Error())
		return nil, nil, nil
	}
	b, ps, err := h.cfg.Bundles.Bundle(r.Context(), id)
	if err != nil {
		h.fail(w, r, "bundle", err)
		return nil, nil, nil
	}
	u := h.currentUser(r)
	own := u != nil && u.ID == b.OwnerID
	ok, err := h.canRead(r, b.List)
	if err != nil {
		h.fail(w, r, "bundle", err)
		return nil, nil, nil
	}
	if !ok || !own && !b.Public {
		h.httpError(w, r, http.StatusNotFound, "bundle not found")
		return nil, nil, nil
	}
	if write && !own {
		if u == nil {
			h.httpError(w, r, http.StatusForbidden, "sign in first")
		} else {
			h.httpError(w, r, http.StatusForbidden, "only the bundle's owner may change it")
		}
		return nil, nil, nil
	}
	return b, ps, u
}

// bundleView is the data of bundle.html.
type bundleView struct {
	B       *store.Bundle
	Patches []store.TrackedPatch
	Own     bool
	CSRF    string
	MboxURL string // absolute, for the git am line
}

func (h *Handler) bundlePage(w http.ResponseWriter, r *http.Request) {
	b, ps, u := h.visibleBundle(w, r, false)
	if b == nil {
		return
	}
	d := bundleView{B: b, Patches: ps, Own: u != nil && u.ID == b.OwnerID, CSRF: h.csrfToken(r),
		MboxURL: h.absURL(r, bundleURL(b.ID)+"mbox")}
	w.Header().Set("Cache-Control", "no-store")
	h.render(w, r, "bundle.html", d)
}

// bundleMbox answers the bundle's patches, in its order, as one mbox for
// git am.
func (h *Handler) bundleMbox(w http.ResponseWriter, r *http.Request) {
	b, ps, _ := h.visibleBundle(w, r, false)
	if b == nil {
		return
	}
	var raws [][]byte
	for _, p := range ps {
		raw, err := h.r.Raw(r.Context(), p.List, p.MessageID)
		if err != nil {
			h.fail(w, r, "bundle", err)
			return
		}
		raws = append(raws, raw)
	}
	h.stream(w, r, "bundle", "text/plain; charset=utf-8", fmt.Sprintf("bundle-%d.mbox", b.ID), false, func(out io.Writer) error {
		mw := archive.NewMboxWriter(out)
		for i, raw := range raws {
			m, err := patchmail.Parse(raw)
			if err != nil {
				m = &patchmail.Mail{}
			}
			if err := mw.Write(raw, ps[i].Author.Email, m.AuthorDate); err != nil {
				return err
			}
		}
		return nil
	})
}

// myBundlesView is the data of bundles.html.
type myBundlesView struct {
	User    *store.User
	CSRF    string
	Bundles []store.Bundle
	Lists   []string // where a new bundle may go
	Error   string
}

func (h *Handler) myBundles(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	h.renderMyBundles(w, r, u, http.StatusOK, "")
}

func (h *Handler) renderMyBundles(w http.ResponseWriter, r *http.Request, u *store.User, code int, msg string) {
	if h.cfg.Bundles == nil {
		h.httpError(w, r, http.StatusNotFound, "bundles are not enabled on this server")
		return
	}
	d := myBundlesView{User: u, CSRF: h.csrfToken(r), Error: msg}
	var err error
	if d.Bundles, err = h.cfg.Bundles.UserBundles(r.Context(), u.ID); err != nil {
		h.fail(w, r, "bundles", err)
		return
	}
	all, err := h.r.Lists(r.Context())
	if err != nil {
		h.fail(w, r, "bundles", err)
		return
	}
	for _, l := range all {
		subj, err := h.subject(r, &l)
		if err != nil {
			h.fail(w, r, "bundles", err)
			return
		}
		if access.Allowed(subj, &l, access.Read) {
			d.Lists = append(d.Lists, l.Name)
		}
	}
	h.renderStatus(w, r, code, "bundles.html", d)
}

// bundleErr answers a store error of a bundle form: the user's mistakes
// as 400 (or 409 for a taken name) on their bundles page.
func (h *Handler) bundleErr(w http.ResponseWriter, r *http.Request, u *store.User, err error) {
	switch {
	case errors.Is(err, store.ErrExists):
		h.renderMyBundles(w, r, u, http.StatusConflict, "You have a bundle of that name on that list already.")
	case errors.Is(err, store.ErrInvalid):
		h.renderMyBundles(w, r, u, http.StatusBadRequest, invalidText(err))
	default:
		h.fail(w, r, "bundle", err)
	}
}

// createBundleForm makes an empty bundle on a list the user may read.
func (h *Handler) createBundleForm(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	if h.cfg.Bundles == nil {
		h.httpError(w, r, http.StatusNotFound, "bundles are not enabled on this server")
		return
	}
	list := r.PostFormValue("list")
	if ok, err := h.canRead(r, list); err != nil {
		h.fail(w, r, "list", err)
		return
	} else if !ok {
		h.httpError(w, r, http.StatusNotFound, "list not found")
		return
	}
	b, err := h.cfg.Bundles.CreateBundle(r.Context(), store.Bundle{OwnerID: u.ID, List: list, Name: strings.TrimSpace(r.PostFormValue("name")),
		Public: r.PostFormValue("public") != ""}, nil)
	if err != nil {
		h.bundleErr(w, r, u, err)
		return
	}
	h.log.Info("bundle created", "bundle", b.ID, "list", list, "user", u.Email)
	http.Redirect(w, r, "/account/bundles", http.StatusSeeOther)
}

// addToBundle puts a series' patches, or one of them (patch), into one of
// the user's bundles of its list (bundle), or into a new one (name).
func (h *Handler) addToBundle(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	s, ps, _, ok := h.seriesWithPatches(w, r, access.Read)
	if !ok {
		return
	}
	u := h.currentUser(r)
	if u == nil {
		h.httpError(w, r, http.StatusForbidden, "sign in first")
		return
	}
	if h.cfg.Bundles == nil {
		h.httpError(w, r, http.StatusNotFound, "bundles are not enabled on this server")
		return
	}
	var ids []int64
	if p := r.PostFormValue("patch"); p != "" {
		id, err := strconv.ParseInt(p, 10, 64)
		for _, sp := range ps {
			if err == nil && sp.ID == id {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			h.httpError(w, r, http.StatusBadRequest, "no such patch in this series")
			return
		}
	} else {
		for _, sp := range ps {
			ids = append(ids, sp.ID)
		}
	}
	if len(ids) == 0 {
		h.httpError(w, r, http.StatusBadRequest, "the series has no patch yet")
		return
	}
	var bid int64
	if v := r.PostFormValue("bundle"); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			h.httpError(w, r, http.StatusBadRequest, "bad bundle id")
			return
		}
		b, _, err := h.cfg.Bundles.Bundle(r.Context(), id)
		if errors.Is(err, store.ErrNotFound) || err == nil && b.OwnerID != u.ID {
			h.httpError(w, r, http.StatusNotFound, "bundle not found")
			return
		}
		if err != nil {
			h.fail(w, r, "bundle", err)
			return
		}
		if b.List != s.List {
			h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bundle %q holds patches of %s, not of %s", b.Name, b.List, s.List))
			return
		}
		if err := h.cfg.Bundles.AddBundlePatches(r.Context(), id, ids); err != nil {
			h.bundleErr(w, r, u, err)
			return
		}
		bid = id
	} else {
		name := strings.TrimSpace(r.PostFormValue("name"))
		if name == "" {
			h.httpError(w, r, http.StatusBadRequest, "choose one of your bundles or name a new one")
			return
		}
		b, err := h.cfg.Bundles.CreateBundle(r.Context(), store.Bundle{OwnerID: u.ID, List: s.List, Name: name}, ids)
		if err != nil {
			h.bundleErr(w, r, u, err)
			return
		}
		bid = b.ID
	}
	h.log.Info("patches bundled", "bundle", bid, "patchset", s.ID, "patches", len(ids), "user", u.Email)
	http.Redirect(w, r, bundleURL(bid), http.StatusSeeOther)
}

func (h *Handler) renameBundle(w http.ResponseWriter, r *http.Request) {
	b, _, u := h.visibleBundle(w, r, true)
	if b == nil {
		return
	}
	name := strings.TrimSpace(r.PostFormValue("name"))
	if _, err := h.cfg.Bundles.UpdateBundle(r.Context(), b.ID, store.BundleUpdate{Name: &name}); err != nil {
		h.bundleErr(w, r, u, err)
		return
	}
	http.Redirect(w, r, h.back(r, b.ID), http.StatusSeeOther)
}

func (h *Handler) bundlePublic(w http.ResponseWriter, r *http.Request) {
	b, _, u := h.visibleBundle(w, r, true)
	if b == nil {
		return
	}
	pub := r.PostFormValue("public") == "1"
	if _, err := h.cfg.Bundles.UpdateBundle(r.Context(), b.ID, store.BundleUpdate{Public: &pub}); err != nil {
		h.bundleErr(w, r, u, err)
		return
	}
	http.Redirect(w, r, h.back(r, b.ID), http.StatusSeeOther)
}

func (h *Handler) removeFromBundle(w http.ResponseWriter, r *http.Request) {
	b, _, u := h.visibleBundle(w, r, true)
	if b == nil {
		return
	}
	id, err := strconv.ParseInt(r.PostFormValue("patch"), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, "bad patch id")
		return
	}
	if err := h.cfg.Bundles.RemoveBundlePatches(r.Context(), b.ID, []int64{id}); err != nil {
		h.bundleErr(w, r, u, err)
		return
	}
	http.Redirect(w, r, bundleURL(b.ID), http.StatusSeeOther)
}

func (h *Handler) deleteBundle(w http.ResponseWriter, r *http.Request) {
	b, _, u := h.visibleBundle(w, r, true)
	if b == nil {
		return
	}
	if err := h.cfg.Bundles.DeleteBundle(r.Context(), b.ID); err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, "bundle", err)
		return
	}
	h.log.Info("bundle deleted", "bundle", b.ID, "list", b.List, "user", u.Email)
	http.Redirect(w, r, "/account/bundles", http.StatusSeeOther)
}

// back is where a bundle form returns: the bundles page when it came
// from there (from=account), else the bundle's page.
func (h *Handler) back(r *http.Request, id int64) string {
	if r.PostFormValue("from") == "account" {
		return "/account/bundles"
	}
	return bundleURL(id)
}

// seriesBundles is the series page's "add to bundle" form, for a
// signed-in reader: their bundles of the list.
type seriesBundles struct {
	CSRF    string
	Bundles []store.Bundle
}

func (h *Handler) seriesBundleForm(r *http.Request, s *store.Series) (*seriesBundles, error) {
	u := h.currentUser(r)
	if u == nil || h.cfg.Bundles == nil {
		return nil, nil
	}
	bs, err := h.cfg.Bundles.BundlesOf(r.Context(), u.ID, s.List)
	if err != nil {
		return nil, err
	}
	return &seriesBundles{CSRF: h.csrfToken(r), Bundles: bs}, nil
}
