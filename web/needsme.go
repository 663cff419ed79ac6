package web

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"patchwell/store"
)

// "Needs me" (/account/needs-me): the series that wait for the signed-in
// user, grouped by why (store.NeedReasons: delegated to them, asked by
// To/Cc and not reviewed, a new revision since their review, feedback on
// their own series), on the lists they may read (the NeedsMe source
// decides with access.Allowed). The same items are an Atom feed at
// /feed/needs-me?token=TOKEN for feed readers that cannot sign in: the token
// is made (and remade, which ends the old one) with a form on the page
// and shown once; only its hash is kept.

// NeedsMe is "needs me" and its feed tokens (review.Service).
type NeedsMe interface {
	// NeedsMe returns the series that need u on the lists u may read.
	NeedsMe(ctx context.Context, u *store.User) ([]store.NeedItem, error)
	// NewFeedToken makes a user's feed token, ending the old one.
	NewFeedToken(ctx context.Context, userID int64) (string, error)
	// FeedUser is the owner of a feed token; store.ErrNotFound for an
	// unknown one or a disabled account.
	FeedUser(ctx context.Context, token string) (*store.User, error)
	// HasFeedToken says whether the user has a feed token.
	HasFeedToken(ctx context.Context, userID int64) (bool, error)
}

// needReasonLabels are the page's headings, by reason.
var needReasonLabels = map[string]string{
	store.NeedDelegated:   "Delegated to you",
	store.NeedAsked:       "Asked to review (To/Cc), not reviewed yet",
	store.NeedNewRevision: "New revision since your review",
	store.NeedFeedback:    "New feedback on your series",
}

// needSinceLabels say what the item's date is, by reason.
var needSinceLabels = map[string]string{
	store.NeedDelegated:   "sent",
	store.NeedAsked:       "asked",
	store.NeedNewRevision: "new revision",
	store.NeedFeedback:    "feedback",
}

// maxFeedToken bounds a feed token taken from a URL (they are 47 bytes).
const maxFeedToken = 100

// needGroup is one reason's rows.
type needGroup struct {
	Reason, Label, SinceLabel string
	Items                     []store.NeedItem
}

// needsMePage is needsme.html's data.
type needsMePage struct {
	User    *store.User
	CSRF    string
	Groups  []needGroup
	Total   int
	HasFeed bool
	FeedURL string // a new feed URL, shown once
	Now     time.Time
	Limit   int // store.NeedsMeLimit: a full group says it shows the newest
}

func (h *Handler) needsMeRoutes() {
	if h.cfg.NeedsMe == nil {
		return
	}
	h.mux.HandleFunc("GET /account/needs-me", h.needsMePage)
	h.mux.HandleFunc("POST /account/needs-me/feed", h.needsMeFeedToken)
	h.mux.HandleFunc("GET /feed/needs-me", h.needsMeAtom)
}

// needGroups groups items (in reason order already) by reason.
func needGroups(items []store.NeedItem) []needGroup {
	var out []needGroup
	for _, reason := range store.NeedReasons {
		g := needGroup{Reason: reason, Label: needReasonLabels[reason], SinceLabel: needSinceLabels[reason]}
		for _, it := range items {
			if it.Reason == reason {
				it.Subject = visible(it.Subject)
				it.Submitter.Name = visible(it.Submitter.Name)
				g.Items = append(g.Items, it)
			}
		}
		if len(g.Items) > 0 {
			out = append(out, g)
		}
	}
	return out
}

// needsMe serves GET /account/needs-me (anonymous: to sign-in).
func (h *Handler) needsMePage(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	h.renderNeedsMe(w, r, u, "")
}

func (h *Handler) renderNeedsMe(w http.ResponseWriter, r *http.Request, u *store.User, feedURL string) {
	items, err := h.cfg.NeedsMe.NeedsMe(r.Context(), u)
	if err != nil {
		h.fail(w, r, "needs me", err)
		return
	}
	d := needsMePage{User: u, CSRF: h.csrfToken(r), Groups: needGroups(items), Total: len(items), FeedURL: feedURL, Now: time.Now(), Limit: store.NeedsMeLimit}
	if d.HasFeed, err = h.cfg.NeedsMe.HasFeedToken(r.Context(), u.ID); err != nil {
		h.fail(w, r, "needs me", err)
		return
	}
	h.render(w, r, "needsme.html", d)
}

// needsMeFeedToken serves POST /account/needs-me/feed (CSRF checked
// in ServeHTTP): a new feed token, shown on the page this once; the
// old URL stops working.
func (h *Handler) needsMeFeedToken(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	if identityOf(r).bearer {
		h.httpError(w, r, http.StatusForbidden, "make a feed URL on /account/needs-me, signed in (not with an API token)")
		return
	}
	tok, err := h.cfg.NeedsMe.NewFeedToken(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "needs me", err)
		return
	}
	h.renderNeedsMe(w, r, u, h.absURL(r, "/feed/needs-me?token="+url.QueryEscape(tok)))
}

// needsMeAtom serves GET /feed/needs-me?token=TOKEN: the items of the
// token's owner as an Atom feed, newest first; 404 for a token unknown
// or replaced. The token is in the query, which the request log leaves
// out.
func (h *Handler) needsMeAtom(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	if tok == "" || len(tok) > maxFeedToken {
		writeText(w, http.StatusNotFound, "unknown feed token: make a new feed URL on /account/needs-me")
		return
	}
	u, err := h.cfg.NeedsMe.FeedUser(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		writeText(w, http.StatusNotFound, "unknown feed token: make a new feed URL on /account/needs-me")
		return
	}
	if err != nil {
		h.fail(w, r, "needs me", err)
		return
	}
	items, err := h.cfg.NeedsMe.NeedsMe(r.Context(), u)
	if err != nil {
		h.fail(w, r, "needs me", err)
		return
	}
	// Newest first, whatever the reason.
	byDate := append([]store.NeedItem(nil), items...)
	sortNeedsByDate(byDate)
	page := h.absURL(r, "/account/needs-me")
	f := atomFeed{Title: "Needs " + u.Email + " at " + h.siteName(), ID: page,
		Link:    []atomLink{{Href: page, Type: "text/html"}},
		Updated: atomTime(time.Unix(0, 0))}
	for i, it := range byDate {
		if i == feedSize {
			break
		}
		when := it.Since
		if i == 0 {
			f.Updated = atomTime(when)
		}
		link := h.absURL(r, fmt.Sprintf("/series/%d/", it.ID))
		title := visible(it.Subject)
		if it.Version > 1 {
			title += fmt.Sprintf(" (v%d)", it.Version)
		}
		f.Entries = append(f.Entries, atomEntry{Title: title,
			// One entry per series and reason: a series that needs the
			// reader again for another reason is new to the reader.
			ID:      fmt.Sprintf("%s#%s-%d", link, it.Reason, when.Unix()),
			Link:    atomLink{Href: link},
			Updated: atomTime(when),
			Author:  atomPerson{Name: visible(it.Submitter.Name), Email: it.Submitter.Email},
			Summary: fmt.Sprintf("%s (%s@%s): %s, v%d, %d/%d patches", needReasonLabels[it.Reason], it.List, h.cfg.Domain,
				it.Status, it.Version, it.Received, it.Total)})
	}
	h.writeAtom(w, &f)
}

// sortNeedsByDate orders items newest Since first.
func sortNeedsByDate(items []store.NeedItem) {
	slices.SortStableFunc(items, func(a, b store.NeedItem) int { return b.Since.Compare(a.Since) })
}

// siteName is the site as the header names it.
func (h *Handler) siteName() string {
	if s := strings.TrimSpace(h.cfg.Domain); s != "" {
		return s
	}
	return "patchwell"
}
