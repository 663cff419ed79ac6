package web

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode"

	"patchwell/access"
	"patchwell/store"
)

// visible shows the characters that render invisibly or reorder text
// (Unicode bidi controls, zero-width characters: "Trojan Source") as
// <U+XXXX>, so that what a reviewer reads is what git applies.
func visible(s string) string {
	if strings.IndexFunc(s, hidden) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if hidden(r) {
			fmt.Fprintf(&b, "<U+%04X>", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

func hidden(r rune) bool {
	switch {
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069, r >= 0x200B && r <= 0x200F,
		r == 0x061C, r == 0xFEFF, r == 0x2060, r == 0x00AD:
		return true
	}
	return r != '\n' && r != '\t' && unicode.IsControl(r)
}

// line is one line of a diff, with how to show it.
type line struct {
	Class string // add, del, ctx, hunk, file, nonl ("\\ No newline..."), ""
	Text  string // the line as shown: visible(raw line)
	// Old and New are the line's numbers in the old and new file, 0 when
	// it has none on that side (added, deleted and header lines).
	Old, New int
	// ID is the row's stable anchor, p{patch}-f{file}-n{New} or, for a
	// deleted line, -o{Old}; OldID names a context line's old side.
	ID, OldID string
	// HTML is the syntax-highlighted line (see highlight.go), "" when it
	// is shown plain as Text.
	HTML template.HTML

	raw string // the line as received
	// Comments are the review comments on this line (series page).
	Comments []viewComment
	// Expand, on a hunk header, links to the lines above the hunk
	// (context.go).
	Expand *expandLink
	// Form and Field name the line's comment input and the review form it
	// belongs to; "" when the reader may not comment.
	Form, Field string
	// Drafts are the reader's pending comments on this line (verdicts.go).
	Drafts []draftView
}

// diffFile is one file of a patch's diff.
type diffFile struct {
	Name             string // what to show: the path, or "old → new"
	OldPath, NewPath string // "" on the side where the file does not exist
	Status           string // added, deleted, renamed, copied or ""
	Binary           bool
	Lines            []line
	Plain            string // why the file is not highlighted, if it says
	// Anchor is the file's id on the page, {prefix}-f{index} (its lines
	// are {Anchor}-n{line} and -o{line}); Added and Deleted count its
	// added and deleted lines.
	Anchor         string
	Added, Deleted int
	// Split: the file is shown side by side (difftable.go).
	Split bool
	// Viewed: the reader marked the file viewed (it starts folded);
	// ViewForm is its box's form, nil for readers who cannot mark
	// (viewed.go).
	Viewed   bool
	ViewForm *viewForm
	// More links to the lines after the last hunk (context.go).
	More *expandLink

	hunks    int  // hunk headers seen so far
	sawMinus bool // "--- " seen
}

// block is a run of a mail body's lines: quoted runs fold.
type block struct {
	Quote bool
	Text  string
	Lines int
}

func splitBody(body string) []block {
	// Blocks are cut out of the body (made visible once) rather than built
	// line by line: appending to a string per line is quadratic, and a
	// patch mail is one block of thousands of lines.
	body = visible(strings.TrimRight(body, "\n")) + "\n"
	var out []block
	start, lines := 0, 0
	quote := strings.HasPrefix(body, ">")
	for i := 0; i < len(body); {
		j := strings.IndexByte(body[i:], '\n') + i + 1
		if q := body[i] == '>'; q != quote {
			out = append(out, block{Quote: quote, Text: body[start:i], Lines: lines})
			start, lines, quote = i, 0, q
		}
		lines++
		i = j
	}
	return append(out, block{Quote: quote, Text: body[start:], Lines: lines})
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, name string, data any) {
	err := h.tmplErr
	var buf bytes.Buffer
	if err == nil {
		err = h.tmpl.ExecuteTemplate(&buf, name, data)
	}
	if err != nil {
		// A page that does not render cannot show an error page either.
		if rw, ok := w.(*recorder); ok {
			rw.err = err
		}
		writeText(w, http.StatusInternalServerError, "internal error")
		return
	}
	setHTMLHeaders(w)
	_, _ = w.Write(h.framed(r, buf.Bytes(), data))
}

type seriesPatch struct {
	store.Patch
	// Signature is its developer signature (signatures.go); nil: none.
	Signature *sigView
	// Message is the commit message's body (after its subject line).
	Message []block
	Files   []diffFile
	// Discussion: review comments on the patch that answer no diff line.
	Discussion []viewComment
	// FormID names the patch's review form when the reader may comment;
	// Form is then what the form shows.
	FormID string
	Form   *patchForm
	// Checks are the CI results on this patch.
	Checks []viewCheck
	// Tree is the patch's files as a tree (filetree.go).
	Tree []*treeNode
}

type seriesPage struct {
	S       *store.Series
	Work    *delegateView // delegation (delegate.go)
	Cover   []block
	Patches []seriesPatch
	// Tree is the files of every patch as one tree; Files, Added and
	// Deleted its totals (a file changed by two patches counts once in
	// Files).
	Tree                  []*treeNode
	Files, Added, Deleted int
	MboxURL               string
	// Status is the status history and, for maintainers, its form
	// (template "series-status", status.html).
	Status  statusBlock
	Compare []store.Series // other revisions, for "compare with" links
	// Discussion: comments in replies to the cover letter.
	Discussion []viewComment
	// Comments counts the review comments, Unresolved those not resolved;
	// Automated the replies programs wrote (CI results, "Applied").
	Comments, Unresolved, Automated int
	// Review: the review forms, for readers who may comment; CoverForm a
	// reply to the cover letter.
	Review    reviewBlock
	CoverForm *patchForm
	// Checks are the CI results on the whole series (checks.go);
	// CheckState the worst state of all checks, "" without any.
	Checks     []viewCheck
	CheckState string
	HasChecks  bool
	// WaitsGoAhead: CI holds the series for a maintainer's go-ahead
	// (shown as a button to those who may give it).
	WaitsGoAhead bool
	// CanRerun offers maintainers "Re-run checks" (cirerun.go).
	CanRerun bool
	// Picker: the revisions, v1..vN, and a range-diff form (picker.go).
	Picker *revisionPicker
	// Signature sums up the series' developer signatures; nil: none.
	Signature *sigView
	// Apply: the list's branch, the "Apply to BRANCH" button for those
	// who may apply, the commits once applied (apply.go).
	Apply applyBlock
	// Flags: paths to look at before applying (.gitmodules ...) and
	// refused ones; FlagsErr: why the diffs could not be checked.
	Flags    []PathFlag
	FlagsErr string
	// Reviewers are the verdicts by reviewer, Issues the open issues,
	// Pending the reader's pending review (verdicts.go).
	Reviewers []reviewerView
	Issues    issuesBlock
	Pending   []draftView
	// Bundle: the signed-in reader's "add to bundle" form (bundles.go);
	// nil: none.
	Bundle *seriesBundles
	// Split: the diffs are shown side by side (?view=split), not
	// unified.
	Split bool
	// DiffFiles counts the files of every patch (a file changed by two
	// patches counts twice); ViewedOn: the reader may mark them viewed
	// (signed in), ViewedN how many are (viewed.go).
	DiffFiles int
	ViewedOn  bool
	ViewedN   int
	// Sent: the reader just sent the series from the browser; Resubmit
	// is where they submit its next version (their own, sent from the
	// web: submit.go).
	Sent     bool
	Resubmit string
}

// seriesPage serves GET /series/{id}/: the series with its cover letter,
// patches, trailers and diffs file by file, links to its other revisions,
// and how to apply it.
func (h *Handler) seriesPage(w http.ResponseWriter, r *http.Request) {
	s, patches, l, ok := h.seriesWithPatches(w, r, access.Read)
	if !ok {
		return
	}
	id := s.ID
	var err error
	d := seriesPage{S: s, MboxURL: h.absURL(r, fmt.Sprintf("/api/v1/series/%d/mbox", id)), Split: r.URL.Query().Get("view") == "split"}
	if u := h.currentUser(r); u != nil {
		sub, err := h.ownSubmission(r.Context(), s, u)
		if err != nil {
			h.fail(w, r, "series", err)
			return
		}
		if sub != nil {
			d.Sent = r.URL.Query().Get("sent") == "1"
			d.Resubmit = fmt.Sprintf("/%s/submit?again=%d", url.PathEscape(s.List), id)
		}
	}
	if d.Status, err = h.seriesStatus(r, s, l); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if d.Work, err = h.delegateBlock(r, s, patches, l, d.Status.CanSet); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	cover, diffs, messages, err := h.r.SeriesTexts(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if cover != "" {
		d.Cover = splitBody(cover)
	}
	if d.Compare, err = h.compareWith(r.Context(), s); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	hl := newHighlighter()
	all := make([]patchFiles, 0, len(patches))
	for _, p := range patches {
		files := splitDiff("p"+strconv.Itoa(p.Index), diffs[p.Index])
		hl.patch(diffs[p.Index], files)
		for i := range files {
			files[i].Split = d.Split
		}
		sp := seriesPatch{Patch: p, Files: files, Tree: fileTree([]patchFiles{{p.Index, files}}, false)}
		if m := strings.TrimSpace(messages[p.Index]); m != "" {
			sp.Message = splitBody(m)
		}
		d.Patches = append(d.Patches, sp)
		d.DiffFiles += len(files)
		all = append(all, patchFiles{p.Index, files})
	}
	sigs, err := h.r.SeriesSignatures(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	d.Signature = seriesSigSummary(sigs, seriesMessageIDs(s, patches))
	for i := range d.Patches {
		if sig, ok := sigs[d.Patches[i].MessageID]; ok {
			d.Patches[i].Signature = toSigView(sig)
		}
	}
	d.Tree = fileTree(all, true)
	d.Files, d.Added, d.Deleted = treeTotals(d.Tree)
	flags, flagsErr := h.seriesFlags(patches, diffs)
	d.Flags, d.FlagsErr = flagsVisible(flags), visible(flagsErr)
	if d.Apply, err = h.seriesApply(r, s, patches, l); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if h.hasContext(s, d.Apply.Branch) {
		addExpandLinks(&d)
	}
	checks, err := h.r.Checks(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	attachChecks(&d, checks)
	d.CanRerun = h.canRerun(&d, checks)
	if d.Picker, err = h.picker(r.Context(), s); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	for _, c := range checks {
		if h.cfg.CIRelease != nil && c.Context == "patchwell/check" && c.State == store.CheckPending &&
			strings.HasPrefix(c.Description, "waiting for a maintainer") {
			d.WaitsGoAhead = true
		}
	}
	cs, err := h.r.SeriesComments(r.Context(), id)
	if err != nil {
		h.fail(w, r, "series", err)
		return
	}
	attachComments(&d, cs)
	for _, c := range cs {
		switch {
		case c.Bot:
			d.Automated++
		case !c.Resolved:
			d.Unresolved++
			d.Comments++
		default:
			d.Comments++
		}
	}
	if d.Bundle, err = h.seriesBundleForm(r, s); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if d.Review, err = h.seriesReview(r, l); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if err := h.seriesViewed(r, &d); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	if d.Review.CanComment {
		var merr error
		enableCommentForms(&d, func(author string) bool {
			ok, err := h.mayResolve(r, s, l, author)
			merr = errors.Join(merr, err)
			return ok
		})
		if merr != nil {
			h.fail(w, r, "series", merr)
			return
		}
	}
	var may func(string) bool
	if d.Review.CanComment {
		may = func(author string) bool {
			ok, err := h.mayResolve(r, s, l, author)
			return ok && err == nil
		}
	}
	if err := h.seriesVerdicts(r, &d, may); err != nil {
		h.fail(w, r, "series", err)
		return
	}
	h.render(w, r, "series.html", d)
}

// absURL is path on this site as its readers reach it: Config.BaseURL.
// The request's Host header is the client's to choose, so it is used
// only when no BaseURL was configured (tests): a confirmation link or
// a cached page must not point where a client's Host says.
func (h *Handler) absURL(r *http.Request, path string) string {
	if h.cfg.BaseURL != "" {
		return h.cfg.BaseURL + path
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

//go:embed static/style.css
var styleCSS []byte

//go:embed static/review.js
var reviewJS []byte

// static serves a file of the pages: the one stylesheet and the series
// page's script (files, not inline, so that the Content-Security-Policy
// can stay default-src 'self').
func static(ctype string, body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ctype)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	}
}
