package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/alecthomas/chroma/v2"
	"github.com/alecthomas/chroma/v2/lexers"

	"patchwell/access"
	"patchwell/store"
)

// compareWith returns the other revisions of s for the series page's
// "compare with" links.
func (h *Handler) compareWith(ctx context.Context, s *store.Series) ([]store.Series, error) {
	if s.Previous == 0 && s.SupersededBy == 0 {
		return nil, nil
	}
	chain, err := h.r.Revisions(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	var out []store.Series
	for _, r := range chain {
		if r.ID != s.ID {
			out = append(out, r)
		}
	}
	return out, nil
}

// seriesDiff is how both diff routes start: it reads {id} and {other},
// checks that the request may read each (400 or 404 otherwise, answered
// here when it returns false) and asks the Reader what changed. Each
// series is looked up once for the access check (its row only,
// SeriesInfo); SeriesDiff loads what it compares.
func (h *Handler) seriesDiff(w http.ResponseWriter, r *http.Request) (*store.SeriesDiff, bool) {
	// Each series must be readable on its own: a private series on the
	// other side is as unknown as a missing one (404), so that "not
	// revisions of one series" (400) never tells that it exists.
	var ids [2]int64
	for i, param := range []string{"id", "other"} {
		s, _, _, ok := h.seriesFor(w, r, param, access.Read)
		if !ok {
			return nil, false
		}
		ids[i] = s.ID
	}
	d, err := h.r.SeriesDiff(r.Context(), ids[0], ids[1])
	if err != nil {
		h.fail(w, r, "series", err)
		return nil, false
	}
	return d, true
}

// diffPatch is one entry of the revision diff page.
type diffPatch struct {
	store.PatchDiff
	Anchor string // d1, d2, ...: the section's id
	Files  []diffFile
}

type seriesDiffPage struct {
	D       *store.SeriesDiff
	Patches []diffPatch
	// RangeDiff is git range-diff's output, line by line.
	RangeDiff []diffFile
	Summary   string // "2 unchanged · 1 changed"
}

// diffLexer colours the inner diff of a diff of diffs, as git range-diff
// --dual-color does.
var diffLexer = chroma.Coalesce(lexers.Get("diff"))

// splitLines cuts a text into lines, without a last empty one.
func splitLines(s string) []string { return strings.Split(strings.TrimSuffix(s, "\n"), "\n") }

// seriesDiffPage serves GET /series/{id}/diff/{other}/: what changed from
// one revision of a series to another, patch by patch.
func (h *Handler) seriesDiffPage(w http.ResponseWriter, r *http.Request) {
	d, ok := h.seriesDiff(w, r)
	if !ok {
		return
	}
	d.Old.Subject, d.New.Subject = visible(d.Old.Subject), visible(d.New.Subject)
	page := seriesDiffPage{D: d}
	counts := map[string]int{}
	hl := newHighlighter()
	if d.RangeDiff != "" {
		page.RangeDiff = []diffFile{{Name: "git range-diff"}}
		for _, l := range splitLines(d.RangeDiff) {
			page.RangeDiff[0].Lines = append(page.RangeDiff[0].Lines, line{Text: visible(l), raw: l})
		}
	}
	for k, p := range d.Patches {
		counts[p.Status]++
		dp := diffPatch{PatchDiff: p, Anchor: fmt.Sprintf("d%d", k+1)}
		if p.Diff != "" {
			dp.Files = splitDiff(dp.Anchor, p.Diff)
			for i := range dp.Files {
				dp.Files[i].Name = "changes to the patch"
				hl.fileAs(&dp.Files[i], diffLexer)
			}
		}
		page.Patches = append(page.Patches, dp)
	}
	var summary []string
	for _, st := range []string{store.PatchUnchanged, store.PatchChanged, store.PatchAdded, store.PatchDropped} {
		if counts[st] > 0 {
			summary = append(summary, fmt.Sprintf("%d %s", counts[st], st))
		}
	}
	page.Summary = strings.Join(summary, " · ")
	h.render(w, r, "seriesdiff.html", page)
}

// apiSeriesDiff serves GET /api/v1/series/{id}/diff/{other}: the revision
// diff as JSON.
func (h *Handler) apiSeriesDiff(w http.ResponseWriter, r *http.Request) {
	d, ok := h.seriesDiff(w, r)
	if !ok {
		return
	}
	out := seriesDiffJSON{Old: toSeries(&d.Old), New: toSeries(&d.New), Method: d.Method,
		RangeDiff: nullString(d.RangeDiff), Patches: make([]patchDiffJSON, 0, len(d.Patches))}
	for _, p := range d.Patches {
		pj := patchDiffJSON{Status: p.Status, PairedBy: nullString(p.PairedBy), Diff: p.Diff, Note: p.Note}
		if p.Old != nil {
			o := toPatch(d.Old.List, p.Old)
			pj.Old = &o
		}
		if p.New != nil {
			n := toPatch(d.New.List, p.New)
			pj.New = &n
		}
		out.Patches = append(out.Patches, pj)
	}
	writeJSON(w, http.StatusOK, out)
}

type seriesDiffJSON struct {
	Old       seriesJSON      `json:"old"`
	New       seriesJSON      `json:"new"`
	Method    string          `json:"method"` // "range-diff" or "diff-of-diffs"
	RangeDiff *string         `json:"range_diff"`
	Patches   []patchDiffJSON `json:"patches"`
}

type patchDiffJSON struct {
	Status   string     `json:"status"` // unchanged, changed, added, dropped
	PairedBy *string    `json:"paired_by"`
	Old      *patchJSON `json:"old"`
	New      *patchJSON `json:"new"`
	Diff     string     `json:"diff"`
	Note     string     `json:"note,omitempty"`
}
