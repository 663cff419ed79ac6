package pwapi

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/store"
)

// Events reads patchwork's events (store.Event): the creation events
// derived from the archive, the changes recorded with them.
type Events interface {
	Events(ctx context.Context, f store.EventFilter) ([]store.Event, error)
}

// eventJSON is one event as patchwork's /events/ gives it: the
// category's objects are in payload.
type eventJSON struct {
	ID       int64          `json:"id"`
	Category string         `json:"category"`
	Project  *project       `json:"project"`
	Date     string         `json:"date"`
	Actor    *user          `json:"actor"`
	Payload  map[string]any `json:"payload"`
}

// eventJSONv11 is an event before API 1.2, without actor.
type eventJSONv11 struct {
	ID       int64          `json:"id"`
	Category string         `json:"category"`
	Project  *project       `json:"project"`
	Date     string         `json:"date"`
	Payload  map[string]any `json:"payload"`
}

// commentRef is a comment as an event embeds it (API 1.3).
type commentRef struct {
	ID             int64  `json:"id"`
	URL            string `json:"url"`
	WebURL         string `json:"web_url"`
	MsgID          string `json:"msgid"`
	ListArchiveURL string `json:"list_archive_url"`
	Date           string `json:"date"`
	Name           string `json:"name"`
}

// parseDate reads a since or before filter as patchwork takes it: an
// ISO 8601 date and time (a zone, or UTC without one), or a date.
func parseDate(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04",
		"2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("Enter a valid date/time: %q is not ISO 8601 (2024-01-31T12:00:00).", s)
}

// dateFilters reads since and before; a bad one is an error to answer
// with 400.
func dateFilters(q *req) (since, before time.Time, err error) {
	qs := q.URL.Query()
	if s := qs.Get("since"); s != "" {
		if since, err = parseDate(s); err != nil {
			return since, before, fmt.Errorf("since: %w", err)
		}
	}
	if s := qs.Get("before"); s != "" {
		if before, err = parseDate(s); err != nil {
			return since, before, fmt.Errorf("before: %w", err)
		}
	}
	return since, before, nil
}

// badFilter is a filter's error, answered with 400 (the others are the
// server's).
type badFilter struct{ error }

// eventFilter reads /events/'s filters: category (repeatable, or
// comma-separated), series, patch, cover, actor (1.2: an id or a user's
// address), since and before. The comment events are API 1.3's.
func (h *Handler) eventFilter(q *req, lists []string, p paging) (store.EventFilter, error) {
	qs := q.URL.Query()
	f := store.EventFilter{Lists: lists, Limit: p.perPage + 1, Offset: p.offset()}
	var err error
	if f.Since, f.Before, err = dateFilters(q); err != nil {
		return f, badFilter{err}
	}
	for _, v := range qs["category"] {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			if !store.ValidEventCategory(c) {
				return f, badFilter{fmt.Errorf("category: Select a valid choice. %q is not one of the available choices (%s).", c,
					strings.Join(store.EventCategories, ", "))}
			}
			f.Categories = append(f.Categories, c)
		}
	}
	if !q.atLeast(1, 3) {
		if len(f.Categories) == 0 {
			f.Categories = slices.Clone(store.EventCategories)
		}
		f.Categories = slices.DeleteFunc(f.Categories, func(c string) bool {
			return c == store.EventCoverCommentCreated || c == store.EventPatchCommentCreated
		})
		if len(f.Categories) == 0 {
			f.Categories = []string{"none"} // only comment events asked for: none before 1.3
		}
	}
	for _, n := range []struct {
		name string
		to   *int64
	}{{"series", &f.SeriesID}, {"patch", &f.PatchID}, {"cover", &f.CoverID}} {
		if s := qs.Get(n.name); s != "" {
			id, err := strconv.ParseInt(s, 10, 64)
			if err != nil || id <= 0 {
				return f, badFilter{fmt.Errorf("%s: Select a valid choice. %q is not an id.", n.name, s)}
			}
			*n.to = id
		}
	}
	if s := qs.Get("actor"); s != "" && q.atLeast(1, 2) {
		f.Actor = -1 // an unknown user acted in no event
		us, err := h.cfg.Users.Users(q.Context())
		if err != nil {
			return f, err
		}
		id, _ := strconv.ParseInt(s, 10, 64)
		for _, u := range us {
			if u.ID == id || strings.EqualFold(u.Email, s) {
				f.Actor = u.ID
			}
		}
	}
	return f, nil
}

func (h *Handler) events(w http.ResponseWriter, q *req) {
	p, lists, ok := h.pagedProjects(w, q)
	if !ok {
		return
	}
	f, err := h.eventFilter(q, lists, p)
	if h.filterFailed(w, q, err) {
		return
	}
	if f.Actor == -1 {
		page(w, q, p, []any{})
		return
	}
	evs, err := h.cfg.Events.Events(q.Context(), f)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	out, err := h.eventsJSON(q, evs)
	if err != nil {
		h.internal(w, q.Request, err)
		return
	}
	page(w, q, p, out)
}

// eventsJSON shapes events, reading what they embed once for the page.
func (h *Handler) eventsJSON(q *req, evs []store.Event) ([]any, error) {
	v := h.view(q)
	var ids []int64
	for _, e := range evs {
		if e.PatchID != 0 && !slices.Contains(ids, e.PatchID) {
			ids = append(ids, e.PatchID)
		}
	}
	patches := map[int64]*store.TrackedPatch{}
	if len(ids) > 0 {
		var lists []string
		for _, e := range evs {
			if !slices.Contains(lists, e.List) {
				lists = append(lists, e.List)
			}
		}
		ps, err := h.cfg.Patches.TrackedPatches(q.Context(), store.PatchFilter{Lists: lists, IDs: ids, Limit: len(ids)})
		if err != nil {
			return nil, err
		}
		for i := range ps {
			patches[ps[i].ID] = &ps[i]
		}
	}
	series := map[int64]*store.Series{}
	checks := map[int64][]store.Check{}
	out := make([]any, 0, len(evs))
	for _, e := range evs {
		proj, err := v.projectNamed(e.List)
		if err != nil {
			return nil, err
		}
		payload := map[string]any{}
		if p := patches[e.PatchID]; p != nil {
			self := fmt.Sprintf("%s/patches/%d/", q.base, p.ID)
			payload["patch"] = submissionRef{ID: p.ID, URL: self, WebURL: v.archiveURL(p.List, p.MessageID), MsgID: msgid(p.MessageID),
				ListArchiveURL: v.archiveURL(p.List, p.MessageID), Date: date(p.Date), Name: p.Subject, Mbox: self + "mbox/"}
		} else if e.PatchID != 0 {
			continue // gone since
		}
		var se *store.Series
		if e.SeriesID != 0 {
			if se = series[e.SeriesID]; se == nil {
				if se, err = h.cfg.Series.Series(q.Context(), e.SeriesID); err != nil {
					return nil, err
				}
				series[e.SeriesID] = se
			}
		}
		switch e.Category {
		case store.EventCoverCreated:
			payload["cover"] = h.coverRef(v, se)
		case store.EventPatchCompleted:
			payload["series"] = v.seriesRef(se.ID, se.Subject, se.Version, se.Date)
		case store.EventSeriesCreated, store.EventSeriesCompleted:
			payload["series"] = v.seriesRef(se.ID, se.Subject, se.Version, se.Date)
		case store.EventPatchRelationChanged:
			// patchwork gives null for both relations, always.
			payload["previous_relation"], payload["current_relation"] = nil, nil
		case store.EventPatchStateChanged:
			payload["previous_state"], payload["current_state"] = e.Previous, e.Current
		case store.EventPatchDelegated:
			for _, d := range []struct{ key, id string }{{"previous_delegate", e.Previous}, {"current_delegate", e.Current}} {
				id, _ := strconv.ParseInt(d.id, 10, 64)
				u, err := v.userByID(id)
				if err != nil {
					return nil, err
				}
				payload[d.key] = u
			}
		case store.EventCheckCreated:
			cs, ok := checks[e.SeriesID]
			if !ok {
				if cs, err = h.cfg.Checks.Checks(q.Context(), e.SeriesID); err != nil {
					return nil, err
				}
				checks[e.SeriesID] = cs
			}
			i := slices.IndexFunc(cs, func(c store.Check) bool { return c.ID == e.CheckID })
			if i < 0 {
				continue // gone since
			}
			c := v.check(fmt.Sprintf("%s/patches/%d/", q.base, e.PatchID), &cs[i])
			payload["check"] = struct {
				ID        int64   `json:"id"`
				URL       string  `json:"url"`
				Date      string  `json:"date"`
				State     string  `json:"state"`
				TargetURL *string `json:"target_url"`
				Context   string  `json:"context"`
			}{c.ID, c.URL, c.Date, c.State, c.TargetURL, c.Context}
		case store.EventCoverCommentCreated, store.EventPatchCommentCreated:
			parent := fmt.Sprintf("%s/patches/%d/", q.base, e.PatchID)
			if e.Category == store.EventCoverCommentCreated {
				payload["cover"] = h.coverRef(v, se)
				parent = fmt.Sprintf("%s/covers/%d/", q.base, se.ID)
			}
			payload["comment"] = commentRef{ID: e.CommentID, URL: fmt.Sprintf("%scomments/%d/", parent, e.CommentID),
				WebURL: v.archiveURL(e.List, e.CommentMsgID), MsgID: msgid(e.CommentMsgID),
				ListArchiveURL: v.archiveURL(e.List, e.CommentMsgID), Date: date(e.CommentDate), Name: e.CommentSubject}
		}
		if !q.atLeast(1, 2) {
			out = append(out, eventJSONv11{ID: e.ID, Category: e.Category, Project: proj, Date: date(e.Date), Payload: payload})
			continue
		}
		actor, err := v.userByID(e.Actor)
		if err != nil {
			return nil, err
		}
		out = append(out, eventJSON{ID: e.ID, Category: e.Category, Project: proj, Date: date(e.Date), Actor: actor, Payload: payload})
	}
	return out, nil
}
