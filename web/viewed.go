package web

import (
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/store"
)

// "Viewed" marks: a signed-in reader ticks the files of a series they
// have read; the marks are kept per account (Reader.SetViewed) and a
// viewed file starts folded. Each file's box belongs to a small form of
// its own (POST /series/{id}/viewed), sent by its "Save" button without
// JavaScript and by review.js on every change with it.

// viewForm is the form of one file's viewed box.
type viewForm struct {
	ID, Action, CSRF string
	Patch            int
	Path, Anchor     string
	// Split: the page shows the diffs side by side, and so will the
	// page the form leads back to.
	Split bool
}

// filePath is the path a file's marks and comments are keyed by: its
// new path, or its old one when the patch deletes it.
func filePath(f *diffFile) string {
	if f.NewPath != "" {
		return f.NewPath
	}
	return f.OldPath
}

// attachViewed gives every file of the page its viewed box and folds the
// files marks says were viewed.
func attachViewed(d *seriesPage, csrf string, marks []store.ViewedFile) {
	seen := make(map[string]bool, len(marks))
	for _, m := range marks {
		seen[strconv.Itoa(m.Patch)+"\x00"+m.Path] = true
	}
	d.ViewedOn = true
	action := "/series/" + strconv.FormatInt(d.S.ID, 10) + "/viewed"
	for pi := range d.Patches {
		p := &d.Patches[pi]
		for fi := range p.Files {
			f := &p.Files[fi]
			path := filePath(f)
			if path == "" {
				continue
			}
			f.ViewForm = &viewForm{ID: "viewed-" + f.Anchor, Action: action, CSRF: csrf, Patch: p.Index, Path: path, Anchor: f.Anchor, Split: d.Split}
			if seen[strconv.Itoa(p.Index)+"\x00"+path] {
				f.Viewed = true
				d.ViewedN++
			}
		}
	}
}

// seriesViewed loads the reader's marks onto the page; nothing for
// anonymous readers.
func (h *Handler) seriesViewed(r *http.Request, d *seriesPage) error {
	u := h.currentUser(r)
	if h.acc == nil || u == nil {
		return nil
	}
	marks, err := h.r.ViewedFiles(r.Context(), u.ID, d.S.ID)
	if err != nil {
		return err
	}
	attachViewed(d, h.csrfToken(r), marks)
	return nil
}

// fileAnchor is what a viewed form's anchor field may name.
var fileAnchor = regexp.MustCompile(`^p[0-9]{1,6}-f[0-9]{1,6}$`)

// viewedForm serves POST /series/{id}/viewed: patch (its index), path,
// viewed ("1" marks, absent clears), and anchor and view to come back to.
// It answers JSON to scripts that ask for it (Accept: application/json),
// else redirects to the file on the series page.
func (h *Handler) viewedForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		h.httpError(w, r, http.StatusBadRequest, "malformed form")
		return
	}
	if h.noAccounts(w, r) {
		return
	}
	s, _, u, ok := h.seriesFor(w, r, "id", access.Read)
	if !ok {
		return
	}
	if u == nil {
		h.httpError(w, r, http.StatusForbidden, "sign in to mark files viewed")
		return
	}
	patch, err := strconv.Atoi(r.PostFormValue("patch"))
	path := r.PostFormValue("path")
	if err != nil || patch <= 0 || path == "" || len(path) > 4096 {
		h.httpError(w, r, http.StatusBadRequest, "bad viewed mark: want patch=INDEX&path=PATH[&viewed=1]")
		return
	}
	viewed := r.PostFormValue("viewed") != ""
	err = h.r.SetViewed(r.Context(), u.ID, s.ID, patch, path, viewed)
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, "the series has no such patch or file")
		return
	}
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		writeJSON(w, http.StatusOK, map[string]any{"patch": patch, "path": path, "viewed": viewed})
		return
	}
	to := "/series/" + strconv.FormatInt(s.ID, 10) + "/" + viewParam(r, "?")
	if a := r.PostFormValue("anchor"); fileAnchor.MatchString(a) {
		to += "#" + a
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}
