package web

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/store"
)

// Submitter prepares and sends series from the browser (submit.Service):
// "Submit patches" on a list page, a preview, "Send". Errors wrapping
// store.ErrInvalid are refusals worded for the user, shown on the form.
type Submitter interface {
	// Prepare fetches the branch (or takes the pasted patches), checks
	// the series and keeps it as u's draft; nothing is sent.
	Prepare(ctx context.Context, u *store.User, req store.SubmitRequest) (*store.Submission, error)
	// Submission returns u's submission; store.ErrNotFound for another's.
	Submission(ctx context.Context, id string, userID int64) (*store.Submission, error)
	// SubmissionByMessage returns the sent submission a series started
	// with (its first message); store.ErrNotFound when it came by mail.
	SubmissionByMessage(ctx context.Context, messageID string) (*store.Submission, error)
	// Update saves the preview's edits.
	Update(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (*store.Submission, error)
	// Send posts the draft to the list (all its mails or none) and
	// returns the series' id.
	Send(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (int64, error)
}

func (h *Handler) submitRoutes() {
	// GET /{list}/submit is dispatched by raw (a GET /{list}/... pattern
	// here would conflict with /api/{rest...}).
	h.mux.HandleFunc("POST /{list}/submit", h.submitPrepare)
	h.mux.HandleFunc("GET /submit/{id}/{$}", h.submitPreview)
	h.mux.HandleFunc("POST /submit/{id}/{$}", h.submitSend)
}

// maxPasteFile bounds an uploaded format-patch file (the series limit of
// package submit is smaller; this stops reading).
const maxPasteFile = 8 << 20

// submitFormPage is the data of submit.html.
type submitFormPage struct {
	List      string
	Address   string
	CSRF      string
	HasRepo   bool
	Branch    string // the list's branch
	Req       store.SubmitRequest
	Again     *store.Series // "Submit a new version" of this series
	Error     string
	UploadMax int
}

func (p submitFormPage) frameList() string { return p.List }

// submitList is how every submit route on a list starts: the list exists,
// the reader may read it, and is signed in with a confirmed address (the
// Comment action asks exactly that). False: it answered.
func (h *Handler) submitList(w http.ResponseWriter, r *http.Request, name string) (*store.List, *store.User, bool) {
	if h.cfg.Submit == nil {
		h.notFound(w, r)
		return nil, nil, false
	}
	l, ok := h.readable(w, r, name, "list")
	if !ok {
		return nil, nil, false
	}
	if h.currentUser(r) == nil {
		if h.signedIn(w, r) == nil {
			return nil, nil, false
		}
	}
	// Whoever may read a list may post to it (access.Post); the list's
	// own posting policy is for mail from outside: a confirmed account is
	// what the web asks (access.Comment).
	u, ok := h.authorize(w, r, l, access.Comment)
	if !ok {
		return nil, nil, false
	}
	return l, u, true
}

func (h *Handler) submitFormData(r *http.Request, l *store.List) submitFormPage {
	d := submitFormPage{List: l.Name, Address: l.Name + "@" + h.cfg.Domain, CSRF: h.csrfToken(r), UploadMax: maxPasteFile >> 20}
	if repo, err := h.r.ListRepo(r.Context(), l.Name); err == nil {
		d.HasRepo, d.Branch = true, repo.Branch
	}
	return d
}

// submitPage serves GET /{list}/submit: a branch or pasted patches.
// ?again=SERIES fills in the branch the user sent that series from.
func (h *Handler) submitPage(w http.ResponseWriter, r *http.Request) {
	l, u, ok := h.submitList(w, r, r.PathValue("list"))
	if !ok {
		return
	}
	d := h.submitFormData(r, l)
	if again := r.URL.Query().Get("again"); again != "" {
		id, err := strconv.ParseInt(again, 10, 64)
		if err != nil || id <= 0 {
			h.httpError(w, r, http.StatusBadRequest, errBadID.Error())
			return
		}
		s, err := h.r.SeriesInfo(r.Context(), id)
		if err != nil || s.List != l.Name {
			h.httpError(w, r, http.StatusNotFound, "series not found")
			return
		}
		sub, err := h.ownSubmission(r.Context(), s, u)
		if err != nil {
			h.fail(w, r, "series", err)
			return
		}
		if sub == nil {
			h.httpError(w, r, http.StatusForbidden, "you did not send this series from the web")
			return
		}
		d.Again, d.Req.Repo, d.Req.Branch = s, sub.Repo, sub.Branch
	}
	h.renderStatus(w, r, http.StatusOK, "submit.html", d)
}

// ownSubmission is the submission u sent series s with; nil when s came
// otherwise or is someone else's.
func (h *Handler) ownSubmission(ctx context.Context, s *store.Series, u *store.User) (*store.Submission, error) {
	if h.cfg.Submit == nil || u == nil {
		return nil, nil
	}
	sub, err := h.cfg.Submit.SubmissionByMessage(ctx, s.MessageID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && sub.UserID != u.ID) {
		return nil, nil
	}
	return sub, err
}

// submitPrepare serves POST /{list}/submit: prepare the draft and show
// its preview, or the form again with the refusal.
func (h *Handler) submitPrepare(w http.ResponseWriter, r *http.Request) {
	l, u, ok := h.submitList(w, r, r.PathValue("list"))
	if !ok {
		return
	}
	d := h.submitFormData(r, l)
	d.Req = store.SubmitRequest{List: l.Name, Repo: r.FormValue("repo"), Branch: r.FormValue("branch"), Base: r.FormValue("base"),
		Patches: r.FormValue("patches")}
	if f, _, err := r.FormFile("patchfile"); err == nil {
		b, err := io.ReadAll(io.LimitReader(f, maxPasteFile+1))
		f.Close()
		if err != nil || len(b) > maxPasteFile {
			d.Error = fmt.Sprintf("the file is larger than %d MiB", maxPasteFile>>20)
			h.renderStatus(w, r, http.StatusUnprocessableEntity, "submit.html", d)
			return
		}
		if len(strings.TrimSpace(string(b))) > 0 {
			if strings.TrimSpace(d.Req.Patches) != "" {
				d.Error = "give the patches once: pasted or as a file"
				h.renderStatus(w, r, http.StatusUnprocessableEntity, "submit.html", d)
				return
			}
			d.Req.Patches = string(b)
		}
	}
	if strings.TrimSpace(d.Req.Patches) != "" && d.Req.Repo == "" {
		d.Req.Branch = ""
	}
	sub, err := h.cfg.Submit.Prepare(r.Context(), u, d.Req)
	if errors.Is(err, store.ErrInvalid) {
		d.Error = invalidText(err)
		if len(d.Req.Patches) > 256<<10 {
			d.Req.Patches = "" // not sent back whole
		}
		h.renderStatus(w, r, http.StatusUnprocessableEntity, "submit.html", d)
		return
	}
	if err != nil {
		h.fail(w, r, "submission", err)
		return
	}
	http.Redirect(w, r, "/submit/"+url.PathEscape(sub.ID)+"/", http.StatusSeeOther)
}

// previewPatch is one patch of the preview, shown as the series page
// shows a patch.
type previewPatch struct {
	Index   int
	Subject string
	store.SubmitPatch
	Message []block
	Files   []diffFile
}

// submitPreviewPage is the data of submitpreview.html.
type submitPreviewPage struct {
	Sub     *store.Submission
	List    string
	Address string
	CSRF    string
	Patches []previewPatch
	Total   int
	// Cover: the series needs a cover letter (two or more patches).
	Cover  bool
	Cc     string
	Error  string
	Notice string
}

func (p submitPreviewPage) frameList() string { return p.List }

// Tag is the subject prefix the mails will have.
func (p submitPreviewPage) Tag(k int) string {
	var b strings.Builder
	b.WriteString("[")
	if p.Sub.Draft.RFC {
		b.WriteString("RFC ")
	}
	b.WriteString("PATCH")
	if p.Sub.Version > 1 {
		fmt.Fprintf(&b, " v%d", p.Sub.Version)
	}
	if p.Total > 1 {
		fmt.Fprintf(&b, " %d/%d", k, p.Total)
	}
	return b.String() + "]"
}

// submission loads the request's user's submission {id}; false: answered.
func (h *Handler) submission(w http.ResponseWriter, r *http.Request) (*store.Submission, *store.User, bool) {
	if h.cfg.Submit == nil {
		h.notFound(w, r)
		return nil, nil, false
	}
	u := h.currentUser(r)
	if u == nil || h.acc == nil {
		// A submission is its user's alone: to anyone else it is not there.
		h.httpError(w, r, http.StatusNotFound, "submission not found")
		return nil, nil, false
	}
	id := r.PathValue("id")
	if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" {
		h.httpError(w, r, http.StatusNotFound, "submission not found")
		return nil, nil, false
	}
	sub, err := h.cfg.Submit.Submission(r.Context(), id, u.ID)
	if err != nil {
		h.fail(w, r, "submission", err)
		return nil, nil, false
	}
	l, ok := h.readable(w, r, sub.List, "submission")
	if !ok {
		return nil, nil, false
	}
	if _, ok := h.authorize(w, r, l, access.Comment); !ok {
		return nil, nil, false
	}
	return sub, u, true
}

func (h *Handler) previewData(r *http.Request, sub *store.Submission) submitPreviewPage {
	d := submitPreviewPage{Sub: sub, List: sub.List, Address: sub.List + "@" + h.cfg.Domain, CSRF: h.csrfToken(r),
		Total: len(sub.Draft.Patches), Cover: len(sub.Draft.Patches) > 1, Cc: strings.Join(sub.Draft.Cc, ", ")}
	hl := newHighlighter()
	for i, p := range sub.Draft.Patches {
		pp := previewPatch{Index: i + 1, Subject: p.Subject, SubmitPatch: p, Files: splitDiff("p"+strconv.Itoa(i+1), p.Diff)}
		hl.patch(p.Diff, pp.Files)
		if m := strings.TrimSpace(p.Message); m != "" {
			pp.Message = splitBody(m)
		}
		d.Patches = append(d.Patches, pp)
	}
	return d
}

// submitPreview serves GET /submit/{id}/: the series as it will be sent.
func (h *Handler) submitPreview(w http.ResponseWriter, r *http.Request) {
	sub, _, ok := h.submission(w, r)
	if !ok {
		return
	}
	d := h.previewData(r, sub)
	if !sub.Sent.IsZero() {
		d.Notice = "This series was sent."
	}
	h.renderStatus(w, r, http.StatusOK, "submitpreview.html", d)
}

// submitEdit reads the preview form.
func submitEdit(r *http.Request) store.SubmitEdit {
	v, _ := strconv.Atoi(strings.TrimSpace(r.FormValue("version")))
	e := store.SubmitEdit{CoverSubject: r.FormValue("subject"), CoverBody: r.FormValue("body"), Version: v,
		RFC: r.FormValue("rfc") == "1", Reroll: r.FormValue("reroll") == "1"}
	for _, a := range strings.FieldsFunc(r.FormValue("cc"), func(c rune) bool { return c == ',' || c == '\n' || c == ';' }) {
		if a = strings.TrimSpace(a); a != "" {
			e.Cc = append(e.Cc, a)
		}
	}
	return e
}

// submitSend serves POST /submit/{id}/: "Save" keeps the edits, "Send"
// posts the series and goes to its page.
func (h *Handler) submitSend(w http.ResponseWriter, r *http.Request) {
	sub, u, ok := h.submission(w, r)
	if !ok {
		return
	}
	e := submitEdit(r)
	if r.FormValue("action") != "send" {
		saved, err := h.cfg.Submit.Update(r.Context(), u, sub.ID, e)
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			h.fail(w, r, "submission", err)
			return
		}
		if saved == nil {
			saved = sub
		}
		d := h.previewData(r, saved)
		if err != nil {
			d.Error = invalidText(err)
			h.renderStatus(w, r, http.StatusUnprocessableEntity, "submitpreview.html", d)
			return
		}
		d.Notice = "Saved. Nothing is sent until you press Send."
		h.renderStatus(w, r, http.StatusOK, "submitpreview.html", d)
		return
	}
	id, err := h.cfg.Submit.Send(r.Context(), u, sub.ID, e)
	if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrConflict) {
		if cur, cerr := h.cfg.Submit.Submission(r.Context(), sub.ID, u.ID); cerr == nil {
			sub = cur
		}
		d := h.previewData(r, sub)
		d.Error = invalidText(err)
		if errors.Is(err, store.ErrConflict) {
			d.Error = "This series was sent already."
		}
		h.renderStatus(w, r, http.StatusUnprocessableEntity, "submitpreview.html", d)
		return
	}
	if err != nil {
		h.fail(w, r, "submission", err)
		return
	}
	http.Redirect(w, r, fmt.Sprintf("/series/%d/?sent=1", id), http.StatusSeeOther)
}
