package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"patchwell/access"
	"patchwell/store"
)

// pageFuncs are the templates' helpers.
var pageFuncs = template.FuncMap{
	"sub": func(a, b int) int { return a - b },
	// esc escapes a Message-ID (or list name) as one path segment:
	// html/template only normalises URL paths, and "?", "#" or "/" in an id
	// would cut the link.
	"esc":        url.PathEscape,
	"signinHref": signinHref,
}

// listPageSize is how many series or threads a list page shows.
const listPageSize = 50

// Bounds of the list page's filters.
const (
	maxSubmitterLen = 320 // an e-mail address
	maxTitleLen     = 200
)

type listTab struct {
	Name, Label, URL string
	Current          bool
}

type statusChoice struct {
	Value, Label string
	Selected     bool
}

type listPage struct {
	List               listInfo
	Tab                string
	Tabs               []listTab
	Statuses           []statusChoice
	Status, Submitter  string
	Title              string
	Filtered           bool
	Table              dashTable      // the series (dashboard.go)
	Reviews            []statusChoice // the review filter's choices
	Threads            []store.ThreadSummary
	Prev, Next         string
	SMTPHost, SMTPPort string
	BaseURL            string    // http://HOST, for the .b4-config block
	Mail               *listMail // addresses, subscribe form (mlist.go)
	Submit             bool      // "Submit patches" from the browser (submit.go)
	// Archived shows the series whose patches are all archived.
	Archived bool
	Bulk     *bulkForm // maintainers' bulk actions (bulk.go)
}

// listInfo is what the list page shows of a list.
type listInfo struct {
	Name, Address, Description string
	Messages, Series, Open     int
}

// errPage is a bad request parameter of an HTML page: a 400 with its text.
type errPage string

func (e errPage) Error() string { return string(e) }

// listPage serves GET /{list}/: tabs for the series (filtered by status,
// submitter and title, paged by key) and the threads (paged by key), the
// list's address, how to send to it, its feeds and downloads.
func (h *Handler) listPage(w http.ResponseWriter, r *http.Request, name string) {
	l, err := h.r.List(r.Context(), name)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	if _, ok := h.authorize(w, r, l, access.Read); !ok {
		return
	}
	q, err := query(r)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	d := listPage{
		List:    listInfo{l.Name, l.Name + "@" + h.cfg.Domain, l.Description, l.Messages, l.Series, l.OpenSeries},
		BaseURL: h.absURL(r, ""),
		Submit:  h.cfg.Submit != nil,
	}
	d.SMTPHost, d.SMTPPort = smtpHostPort(h.cfg)
	if d.Mail, err = h.listMailFor(r, l); err != nil {
		h.fail(w, r, "list", err)
		return
	}
	d.Tab = q.Get("tab")
	if d.Tab == "" {
		d.Tab = "series"
	}
	switch d.Tab {
	case "series":
		if err = h.seriesTab(r, q, &d); err == nil {
			d.Bulk, err = h.bulkFor(r, l)
			d.Table.Select = d.Bulk != nil
		}
	case "threads":
		err = h.threadsTab(r.Context(), q, &d)
	default:
		err = errPage(fmt.Sprintf("unknown tab %q: want series or threads", d.Tab))
	}
	if err != nil {
		var bad errPage
		if errors.As(err, &bad) {
			h.httpError(w, r, http.StatusBadRequest, bad.Error())
			return
		}
		h.fail(w, r, "list", err)
		return
	}
	base := "/" + url.PathEscape(l.Name) + "/"
	for _, t := range []struct{ name, label string }{{"series", "Series"}, {"threads", "Threads"}} {
		u := base
		if t.name != "series" {
			u += "?tab=" + t.name
		}
		d.Tabs = append(d.Tabs, listTab{Name: t.name, Label: t.label, URL: u, Current: t.name == d.Tab})
	}
	h.render(w, r, "list.html", d)
}

// keyParam reads a paging key: absent is 0, anything but a positive
// number is an error.
func keyParam(q url.Values, name string, bits int) (uint64, error) {
	s := q.Get(name)
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(s, 10, bits)
	if err != nil || n == 0 {
		return 0, errPage(fmt.Sprintf("bad %s=%q: want a positive number", name, s))
	}
	return n, nil
}

// textParam reads a free-text filter: valid UTF-8 without control
// characters, at most max bytes.
func textParam(q url.Values, name string, max int) (string, error) {
	s := strings.TrimSpace(q.Get(name))
	if len(s) > max || !utf8.ValidString(s) || strings.IndexFunc(s, hidden) >= 0 {
		return "", errPage(fmt.Sprintf("bad %s: want at most %d bytes of text", name, max))
	}
	return s, nil
}

func (h *Handler) seriesTab(r *http.Request, q url.Values, d *listPage) error {
	f := store.SeriesFilter{Limit: listPageSize + 1}
	f.Status = q.Get("status")
	if f.Status != "" && f.Status != store.StatusOpen && !slices.Contains(statuses, f.Status) {
		return errPage(fmt.Sprintf("unknown status %q: want %s or one of %s", f.Status, store.StatusOpen, strings.Join(statuses, ", ")))
	}
	var err error
	if f.Submitter, err = textParam(q, "submitter", maxSubmitterLen); err != nil {
		return err
	}
	if f.Title, err = textParam(q, "title", maxTitleLen); err != nil {
		return err
	}
	dq, err := h.dashParams(r, q, &f)
	if err != nil {
		return err
	}
	switch s := q.Get("archived"); s {
	case "", "0":
	case "1":
		d.Archived = true
	default:
		return errPage(fmt.Sprintf("bad archived=%q: want 1 (show archived series) or 0", s))
	}
	f.HideArchived = !d.Archived && h.cfg.Workload != nil
	d.Status, d.Submitter, d.Title = f.Status, f.Submitter, f.Title
	d.Filtered = f.Status != "" || f.Submitter != "" || f.Title != "" || dq.Review != ""
	d.Statuses = append(d.Statuses, statusChoice{"", "any", f.Status == ""}, statusChoice{store.StatusOpen, "open", f.Status == store.StatusOpen})
	for _, s := range statuses {
		d.Statuses = append(d.Statuses, statusChoice{s, strings.ReplaceAll(s, "_", " "), f.Status == s})
	}
	list, err := h.r.Dashboard(r.Context(), d.List.Name, f)
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			return errPage(err.Error())
		}
		return err
	}
	keep := url.Values{}
	for k, v := range map[string]string{"status": f.Status, "submitter": f.Submitter, "title": f.Title} {
		if v != "" {
			keep.Set(k, v)
		}
	}
	if d.Archived {
		keep.Set("archived", "1")
	}
	d.Table.Dash, d.Table.Series = dq.page(keep, list)
	if d.Table.Work, err = h.seriesWork(r.Context(), d.Table.Series); err != nil {
		return err
	}
	d.Prev, d.Next = d.Table.Dash.Prev, d.Table.Dash.Next
	d.Table.Empty = "No series."
	if d.Filtered {
		d.Table.Empty = "No series match these filters."
	}
	d.Reviews = dq.reviewChoices(h.currentUser(r) != nil)
	return nil
}

func (h *Handler) threadsTab(ctx context.Context, q url.Values, d *listPage) error {
	before, err := keyParam(q, "before", 32)
	if err != nil {
		return err
	}
	after, err := keyParam(q, "after", 32)
	if err != nil {
		return err
	}
	list, err := h.r.ThreadSummaries(ctx, d.List.Name, uint32(before), uint32(after), listPageSize+1)
	if err != nil {
		return err
	}
	newer, older := before > 0, after > 0
	if len(list) > listPageSize {
		if before == 0 && after > 0 {
			newer, list = true, list[1:]
		} else {
			older, list = true, list[:listPageSize]
		}
	}
	for i := range list {
		list[i].Subject = visible(list[i].Subject)
		list[i].Starter.Name = visible(list[i].Starter.Name)
	}
	d.Threads = list
	keep := url.Values{"tab": {"threads"}}
	if len(list) > 0 {
		d.Prev, d.Next = pageLinks(keep, newer, older, strconv.FormatUint(uint64(list[0].LastUID), 10),
			strconv.FormatUint(uint64(list[len(list)-1].LastUID), 10))
	}
	return nil
}

// pageLinks makes the links to the newer (after=first) and older
// (before=last) pages, keeping the filters.
func pageLinks(keep url.Values, newer, older bool, first, last string) (prev, next string) {
	if newer {
		q := cloneValues(keep)
		q.Set("after", first)
		prev = "?" + q.Encode()
	}
	if older {
		q := cloneValues(keep)
		q.Set("before", last)
		next = "?" + q.Encode()
	}
	return prev, next
}

// cloneValues copies url.Values.
func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v)+1)
	for k, s := range v {
		out[k] = slices.Clone(s)
	}
	return out
}
