package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"patchwell/access"
	"patchwell/store"
)

// The list page's series tab is a dashboard, as patchwork's list is:
// each series with its checks (S/W/F), reviews (A/R/T), open comments
// and last activity, superseded revisions hidden unless asked for,
// filters for series that need review and those the reader replied to,
// sortable by column (links in the headers: no script needed). "My
// reviews" (/account/reviews) is the same table over every list the
// reader may read, for the series they replied to.
// The Changes column counts the reviewers whose standing verdict is a
// request for changes (review.Service.VerdictsOf), and the "changes
// requested" filter keeps the series that have one.

// Review filters (?review=).
const (
	reviewNeeds   = "needs"   // no Reviewed-by or Acked-by yet
	reviewMine    = "mine"    // the signed-in reader replied on the thread
	reviewChanges = "changes" // a reviewer asked for changes
)

// reviewFilters are the review filter's choices, in the form's order;
// mine is shown to signed-in readers only.
var reviewFilters = []statusChoice{{"", "any", false}, {reviewNeeds, "needs review", false}, {reviewChanges, "changes requested", false}, {reviewMine, "has my review", false}}

// dashQuery is the dashboard's own request parameters.
type dashQuery struct {
	Sort       string // "" or one of store.Sorts
	Review     string // "" or a reviewFilters value
	Superseded bool   // show superseded revisions
	Page       int    // 1-based, for the sorts but by date
	before     int64
	after      int64
}

// dashColumn is a sortable column header.
type dashColumn struct {
	Sort, Label, Title, URL string
	Legend                  string // what the counts are, in order
	Current                 bool
}

// dashView is what the template needs besides the rows.
type dashView struct {
	Sort          string
	Columns       map[string]dashColumn // by sort
	Review        string
	Superseded    bool
	SupersededURL string // the toggle
	Prev, Next    string
	// Verdicts shows the "changes requested" column.
	Verdicts bool
}

// dashTable is the template "dashTable"'s data.
type dashTable struct {
	Dash     dashView
	Series   []store.SeriesRow
	AllLists bool   // rows of several lists: a List column, no filter links
	Empty    string // what an empty table says
	// Work is the rows' delegates and archived flags (delegate.go);
	// Select adds the checkboxes of the bulk form (id "bulk").
	Work   map[int64]store.SeriesWork
	Select bool
}

// dashParams reads sort, review, superseded and paging into f and the
// dashQuery.
func (h *Handler) dashParams(r *http.Request, q url.Values, f *store.SeriesFilter) (dashQuery, error) {
	var dq dashQuery
	dq.Sort = q.Get("sort")
	if dq.Sort == store.SortDate {
		dq.Sort = ""
	}
	if dq.Sort != "" && !slices.Contains(store.Sorts, dq.Sort) {
		return dq, errPage(fmt.Sprintf("unknown sort %q: want one of %s", dq.Sort, strings.Join(store.Sorts, ", ")))
	}
	f.Sort = dq.Sort
	switch s := q.Get("superseded"); s {
	case "", "0":
	case "1":
		dq.Superseded = true
	default:
		return dq, errPage(fmt.Sprintf("bad superseded=%q: want 1 (show superseded revisions) or 0", s))
	}
	f.Current = !dq.Superseded && f.Status != store.StatusSuperseded
	dq.Review = q.Get("review")
	switch dq.Review {
	case "":
	case reviewNeeds:
		f.NeedsReview = true
	case reviewChanges:
		f.ChangesRequested = true
	case reviewMine:
		u := h.currentUser(r)
		if u == nil {
			return dq, errPage("review=mine: sign in to see the series you replied to")
		}
		f.RepliedBy = []string{u.Email}
	default:
		return dq, errPage(fmt.Sprintf("unknown review filter %q: want %s, %s or %s", dq.Review, reviewNeeds, reviewChanges, reviewMine))
	}
	if dq.Sort == "" {
		before, err := keyParam(q, "before", 63)
		if err != nil {
			return dq, err
		}
		after, err := keyParam(q, "after", 63)
		if err != nil {
			return dq, err
		}
		dq.before, dq.after = int64(before), int64(after)
		f.Before, f.After = dq.before, dq.after
		return dq, nil
	}
	p, err := keyParam(q, "page", 20)
	if err != nil {
		return dq, err
	}
	dq.Page = max(int(p), 1)
	f.Offset = (dq.Page - 1) * listPageSize
	return dq, nil
}

// page trims list (fetched with one row more than a page) to a page and
// makes the links: sort headers, the superseded toggle, newer and older
// pages, each keeping the filters in keep.
func (dq dashQuery) page(keep url.Values, list []store.SeriesRow) (dashView, []store.SeriesRow) {
	v := dashView{Sort: dq.Sort, Review: dq.Review, Superseded: dq.Superseded, Columns: map[string]dashColumn{}, Verdicts: true}
	if v.Sort == "" {
		v.Sort = store.SortDate
	}
	keep = cloneValues(keep)
	if dq.Review != "" {
		keep.Set("review", dq.Review)
	}
	toggle := cloneValues(keep)
	if dq.Superseded {
		keep.Set("superseded", "1")
	} else {
		toggle.Set("superseded", "1")
	}
	if dq.Sort != "" {
		toggle.Set("sort", dq.Sort)
	}
	v.SupersededURL = "?" + toggle.Encode()
	for _, c := range []dashColumn{
		{Sort: store.SortChecks, Label: "Checks", Legend: "S W F", Title: "checks: success / warning / fail; sort by failing checks"},
		{Sort: store.SortReviews, Label: "Reviews", Legend: "A R T", Title: "Acked-by / Reviewed-by / Tested-by; sort by reviews"},
		{Sort: store.SortActivity, Label: "Activity", Title: "the newest message of the thread; sort by it"},
		{Sort: store.SortDate, Label: "Date", Title: "when the series was sent; sort by it (newest first)"},
	} {
		u := cloneValues(keep)
		if c.Sort != store.SortDate {
			u.Set("sort", c.Sort)
		}
		c.URL, c.Current = "?"+u.Encode(), c.Sort == v.Sort
		if c.URL == "?" {
			c.URL = "?sort=date"
		}
		v.Columns[c.Sort] = c
	}
	for i := range list {
		list[i].Subject = visible(list[i].Subject)
		list[i].Submitter.Name = visible(list[i].Submitter.Name)
	}
	if dq.Sort == "" {
		newer, older := dq.before > 0, dq.after > 0
		if len(list) > listPageSize {
			if dq.before == 0 && dq.after > 0 {
				newer, list = true, list[1:]
			} else {
				older, list = true, list[:listPageSize]
			}
		}
		if len(list) > 0 {
			v.Prev, v.Next = pageLinks(keep, newer, older, strconv.FormatInt(list[0].ID, 10), strconv.FormatInt(list[len(list)-1].ID, 10))
		}
		return v, list
	}
	keep.Set("sort", dq.Sort)
	if dq.Page > 1 {
		u := cloneValues(keep)
		if dq.Page > 2 {
			u.Set("page", strconv.Itoa(dq.Page-1))
		}
		v.Prev = "?" + u.Encode()
	}
	if len(list) > listPageSize {
		list = list[:listPageSize]
		u := cloneValues(keep)
		u.Set("page", strconv.Itoa(dq.Page+1))
		v.Next = "?" + u.Encode()
	}
	return v, list
}

// reviewChoices is the review filter's select, "has my review" only for
// a signed-in reader.
func (dq dashQuery) reviewChoices(signedIn bool) []statusChoice {
	var out []statusChoice
	for _, c := range reviewFilters {
		if c.Value == reviewMine && !signedIn {
			continue
		}
		c.Selected = c.Value == dq.Review
		out = append(out, c)
	}
	return out
}

func (h *Handler) dashRoutes() {
	h.mux.HandleFunc("GET /account/reviews", h.myReviews)
}

// myReviewsPage is /account/reviews.
type myReviewsPage struct {
	User  *store.User
	Lists int // how many lists were looked at
	Table dashTable
}

// myReviews serves GET /account/reviews: the series of every list the
// signed-in reader may read whose thread has a reply from them (a
// comment, a trailer), newest activity first, with the dashboard's
// columns and sorts.
func (h *Handler) myReviews(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	q, err := query(r)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if q.Get("sort") == "" {
		q.Set("sort", store.SortActivity)
	}
	q.Del("review")
	f := store.SeriesFilter{Limit: listPageSize + 1, RepliedBy: []string{u.Email}}
	dq, err := h.dashParams(r, q, &f)
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	ls, err := h.r.Lists(r.Context())
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	subj := access.Subject{User: u, Admin: u.Admin}
	for i := range ls {
		if subj.Role, err = h.acc.Role(r.Context(), u.ID, ls[i].Name); err != nil {
			h.fail(w, r, "account", err)
			return
		}
		if access.Allowed(subj, &ls[i], access.Read) {
			f.Lists = append(f.Lists, ls[i].Name)
		}
	}
	d := myReviewsPage{User: u, Lists: len(f.Lists)}
	var rows []store.SeriesRow
	if len(f.Lists) > 0 {
		if rows, err = h.r.Dashboard(r.Context(), "", f); err != nil {
			h.fail(w, r, "account", err)
			return
		}
	}
	d.Table.Dash, d.Table.Series = dq.page(url.Values{}, rows)
	d.Table.AllLists, d.Table.Empty = true, "No series yet: reply to a series (a comment, a Reviewed-by) and it shows here."
	h.render(w, r, "reviews.html", d)
}
