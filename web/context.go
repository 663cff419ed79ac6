package web

import (
	"bytes"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/store"
)

// Context: the lines a diff leaves out, read from the list's repository
// at the series' base commit (Config.BaseFile). A hunk header gets a link
// to the lines above it, a file's last hunk one to the lines below; the
// link shows them on a page of their own (GET /series/{id}/context), and
// review.js asks the same URL for table rows (&frag=1) and puts them in
// place. The request names the file by its patch and index, never by
// path: the path is the one the stored diff gives, and Config.BaseFile
// checks it again before git reads it.
//
// The base holds the file as the first patch of the series found it. A
// file an earlier patch of the series changed, added or renamed differs
// from that, so its hunks get no links; nor do added and binary files,
// series without a base-commit: line, and lists without a repository.

// Limits on context requests.
const (
	contextStep     = 20  // lines a link shows
	maxContextLines = 200 // lines one request may ask for
)

// expandLink is one "show lines" link.
type expandLink struct {
	URL string
	// Up: the lines above a hunk, down to Min (the line after the
	// previous hunk); else the lines after the file's last hunk.
	Up       bool
	Min      int
	From, To int
}

// fullCommit is the base-commit a series must name for its context: a
// full SHA-1 or SHA-256 id.
var fullCommit = regexp.MustCompile(`^(?:[0-9a-f]{40}|[0-9a-f]{64})$`)

// hasContext reports whether the series' context can be read: a base
// commit, and a list with a repository (branch: its branch, "" when it
// has none).
func (h *Handler) hasContext(s *store.Series, branch string) bool {
	return h.cfg.BaseFile != nil && branch != "" && fullCommit.MatchString(s.BaseCommit)
}

// contextFiles reports, for each patch in order, which of its files
// (by index) can show their context: neither added nor binary, with an
// old path that no earlier patch of the series touched.
func contextFiles(patches [][]diffFile) [][]bool {
	touched := map[string]bool{}
	out := make([][]bool, len(patches))
	for pi, files := range patches {
		out[pi] = make([]bool, len(files))
		for fi := range files {
			f := &files[fi]
			out[pi][fi] = f.OldPath != "" && !f.Binary && f.Status != "added" && !touched[f.OldPath]
		}
		for fi := range files {
			touched[files[fi].OldPath] = true
			touched[files[fi].NewPath] = true
		}
	}
	return out
}

// addExpandLinks gives the hunks of the page's files that can show
// their context their links.
func addExpandLinks(d *seriesPage) {
	all := make([][]diffFile, len(d.Patches))
	for i := range d.Patches {
		all[i] = d.Patches[i].Files
	}
	ok := contextFiles(all)
	base := "/series/" + strconv.FormatInt(d.S.ID, 10) + "/context?patch="
	view := ""
	if d.Split {
		view = "&view=split"
	}
	for pi := range d.Patches {
		p := &d.Patches[pi]
		for fi := range p.Files {
			if !ok[pi][fi] {
				continue
			}
			f := &p.Files[fi]
			link := func(from, to, delta int) string {
				return base + strconv.Itoa(p.Index) + "&file=" + strconv.Itoa(fi) + "&from=" + strconv.Itoa(from) +
					"&to=" + strconv.Itoa(to) + "&d=" + strconv.Itoa(delta) + view
			}
			oldEnd, newEnd := 0, 0 // the last line of the previous hunk on each side
			for li := range f.Lines {
				ln := &f.Lines[li]
				if ln.Class != "hunk" {
					continue
				}
				o, ol, n, nl, good := parseHunk(ln.raw)
				if !good || o == 0 || o <= oldEnd {
					oldEnd = -1 // a header out of order: no more links
					break
				}
				if o > oldEnd+1 {
					from := max(oldEnd+1, o-contextStep)
					ln.Expand = &expandLink{URL: link(from, o-1, n-o), Up: true, Min: oldEnd + 1, From: from, To: o - 1}
				}
				oldEnd, newEnd = o+ol-1, n+nl-1
			}
			if oldEnd > 0 {
				from := oldEnd + 1
				f.More = &expandLink{URL: link(from, from+contextStep-1, newEnd-oldEnd), From: from, To: from + contextStep - 1}
			}
		}
	}
}

// contextPage is the page of a file's lines without JavaScript.
type contextPage struct {
	S          *store.Series
	Patch      int
	Path, Back string
	From, To   int
	File       diffFile
}

// contextLines serves GET /series/{id}/context?patch=P&file=F&from=A&to=B&d=D:
// lines A to B of patch P's F-th file at the series' base commit,
// numbered A.. on the old side and A+D.. on the new (D: how far the
// hunks before them moved the lines), as a page, or as the rows of its
// diff table with frag=1 (review.js). view=split: side by side. Lines
// past the end of the file are left out.
func (h *Handler) contextLines(w http.ResponseWriter, r *http.Request) {
	s, patches, _, ok := h.seriesWithPatches(w, r, access.Read)
	if !ok {
		return
	}
	q := r.URL.Query()
	num := func(name string) (int, bool) {
		n, err := strconv.Atoi(q.Get(name))
		return n, err == nil && n >= -1<<30 && n <= 1<<30
	}
	patch, ok1 := num("patch")
	fi, ok2 := num("file")
	from, ok3 := num("from")
	to, ok4 := num("to")
	delta, ok5 := num("d")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || fi < 0 || from < 1 || to < from || from+delta < 1 {
		h.httpError(w, r, http.StatusBadRequest, "bad context request: want patch, file, from, to (1 <= from <= to) and d")
		return
	}
	to = min(to, from+maxContextLines-1)
	repo, err := h.r.ListRepo(r.Context(), s.List)
	branch := ""
	if err == nil {
		branch = repo.Branch
	} else if !errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, "series", err)
		return
	}
	if !h.hasContext(s, branch) {
		h.httpError(w, r, http.StatusNotFound, "the lines around this diff are not available: the list has no repository, or the series names no base commit")
		return
	}
	_, diffs, _, err := h.r.SeriesTexts(r.Context(), s.ID)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	var all [][]diffFile
	at := -1
	for _, p := range patches {
		if p.Index == patch {
			at = len(all)
		}
		all = append(all, splitDiff("p"+strconv.Itoa(p.Index), diffs[p.Index]))
	}
	if at < 0 || fi >= len(all[at]) || !contextFiles(all)[at][fi] {
		h.httpError(w, r, http.StatusNotFound, "no such file, or its context is not available")
		return
	}
	f := &all[at][fi]
	data, err := h.cfg.BaseFile(r.Context(), s.List, s.BaseCommit, f.OldPath)
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, "the file is not available at the base commit")
		return
	}
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	out := diffFile{Anchor: f.Anchor, Name: f.Name, Split: q.Get("view") == "split"}
	no := 0
	for len(data) > 0 && no < to {
		text := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			text, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		no++
		if no < from {
			continue
		}
		raw := " " + strings.TrimSuffix(string(text), "\r")
		ln := line{Class: "ctx", Text: visible(raw), raw: raw, Old: no, New: no + delta}
		numberLine(&ln, "p"+strconv.Itoa(patch), fi)
		out.Lines = append(out.Lines, ln)
	}
	// Coloured as the diff's lines are (the file's whole run is lexed as
	// one block).
	out.OldPath, out.NewPath = f.OldPath, f.NewPath
	newHighlighter().file(&out)
	w.Header().Set("Cache-Control", "private, max-age=300")
	if q.Get("frag") == "1" {
		rw := rowWriter{}
		if out.Split {
			err = rw.split(&out)
		} else {
			err = rw.unified(&out)
		}
		if err != nil {
			h.fail(w, r, "series", err)
			return
		}
		setHTMLHeaders(w)
		_, _ = w.Write([]byte(rw.b.String()))
		return
	}
	back := "/series/" + strconv.FormatInt(s.ID, 10) + "/"
	if out.Split {
		back += "?view=split"
	}
	h.render(w, r, "context.html", contextPage{S: s, Patch: patch, Path: visible(f.OldPath), Back: back + "#" + f.Anchor, From: from, To: from + len(out.Lines) - 1, File: out})
}
