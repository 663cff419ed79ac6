package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// The mailing list on the web: the subscribe form of the list page, the
// confirmation and one-click unsubscribe pages, the moderation queue and
// its API. The list server (package lists) does the work through
// ListServer; the Reader's ListData reads what the pages show. Without a
// ListServer these routes answer 404.

// ListServer is what the web asks of the mailing list (lists.Server).
type ListServer interface {
	// RequestSubscription mails a confirmation to email;
	// store.ErrInvalid for something that is not an address.
	RequestSubscription(ctx context.Context, list, email string) error
	// Confirm carries out what a confirmation token stands for and says
	// what was done; store.ErrNotFound for an unknown or expired token.
	Confirm(ctx context.Context, token string) (string, error)
	// Unsubscribe removes a subscriber at once.
	Unsubscribe(ctx context.Context, list, email string) error
	// Approve and Reject decide a held message; by names the moderator.
	// store.ErrConflict when it is already decided.
	Approve(ctx context.Context, id int64, by string) error
	Reject(ctx context.Context, id int64, by string) error
}

// Bounds of the mailing list's request input.
const (
	maxEmailLen = 254 // RFC 5321 4.5.3.1.3, a path
	maxTokenLen = 200
	// maxUnsubTokenLen bounds a one-click unsubscribe token (outbound's:
	// the address and a MAC, base64url).
	maxUnsubTokenLen = 512
	maxFormBytes     = 64 << 10
)

// mlistRoutes registers the mailing list's routes. The GET pages under
// /{list}/ (confirm, unsubscribe, held, held/{id}/raw) are reached from
// raw's dispatch (mlistGET), because a pattern GET /{list}/confirm would
// conflict with GET /api/{rest...}.
func (h *Handler) mlistRoutes() {
	h.mux.HandleFunc("POST /{list}/subscribe", h.subscribe)
	h.mux.HandleFunc("POST /{list}/confirm", h.confirmSubscription)
	h.mux.HandleFunc("POST /{list}/unsubscribe", h.unsubscribe)
	h.mux.HandleFunc("POST /{list}/held/{id}/approve", h.moderateForm)
	h.mux.HandleFunc("POST /{list}/held/{id}/reject", h.moderateForm)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/subscribers", h.apiSubscribers)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/held", h.apiHeld)
	h.mux.HandleFunc("POST /api/v1/held/{id}/approve", h.apiModerate)
	h.mux.HandleFunc("POST /api/v1/held/{id}/reject", h.apiModerate)
	// RFC 8058: mail clients (or their providers' servers) post the
	// one-click unsubscribe from anywhere; the HMAC token in the URL is
	// the authorization, so the cross-origin check does not apply.
	h.cop.AddInsecureBypassPattern("POST /{list}/unsubscribe")
}

// mlistGET serves the mailing list's GET pages under /{list}/ and
// reports whether rest named one.
func (h *Handler) mlistGET(w http.ResponseWriter, r *http.Request, list, rest string) bool {
	switch {
	case rest == "confirm":
		h.confirmPage(w, r, list)
	case rest == "unsubscribe":
		h.unsubscribePage(w, r, list)
	case rest == "held":
		h.heldPage(w, r, list)
	case strings.HasPrefix(rest, "held/") && strings.HasSuffix(rest, "/raw") && len(rest) > len("held//raw"):
		h.heldRaw(w, r, list, rest[len("held/"):len(rest)-len("/raw")])
	default:
		return false
	}
	return true
}

// listsOff answers 404 and returns true when the mailing list features
// are off.
func (h *Handler) listsOff(w http.ResponseWriter, r *http.Request) bool {
	if h.cfg.Lists == nil {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return true
	}
	return false
}

// listAddrs are a list's mail addresses, as the list page shows them.
type listAddrs struct {
	Post, Subscribe, Unsubscribe, Help, Owner string
}

func (h *Handler) addrsOf(list string) listAddrs {
	at := func(detail string) string {
		if detail == "" {
			return list + "@" + h.cfg.Domain
		}
		return list + "+" + detail + "@" + h.cfg.Domain
	}
	return listAddrs{at(""), at("subscribe"), at("unsubscribe"), at("help"), at("owner")}
}

// listMail is the list page's mailing list block.
type listMail struct {
	Addrs listAddrs
	CSRF  string
	// Held links to the moderation page for moderators.
	Held string
}

// listMailFor builds the list page's mailing list block; nil when the
// mailing list is off (its addresses would not answer).
func (h *Handler) listMailFor(r *http.Request, l *store.List) (*listMail, error) {
	if h.cfg.Lists == nil {
		return nil, nil
	}
	m := &listMail{Addrs: h.addrsOf(l.Name), CSRF: h.csrfToken(r)}
	subj, err := h.subject(r, l)
	if err != nil {
		return nil, err
	}
	if access.Allowed(subj, l, access.Moderate) {
		m.Held = "/" + url.PathEscape(l.Name) + "/held"
	}
	return m, nil
}

// mlistPage is the data of subscribe.html, the page of every answer of
// the subscription routes.
type mlistPage struct {
	List  string
	Addrs listAddrs
	CSRF  string
	// Kind picks the page's text: "subscribe-sent", "subscribe-error",
	// "confirm", "confirmed", "unsubscribe", "unsubscribed".
	Kind    string
	Email   string
	Token   string
	Message string
	Error   string
	// Action is the form's target (with its query).
	Action string
}

func (h *Handler) mlPage(w http.ResponseWriter, r *http.Request, code int, d mlistPage) {
	d.Addrs = h.addrsOf(d.List)
	d.CSRF = h.csrfToken(r)
	h.renderStatus(w, r, code, "subscribe.html", d)
}

// subscribe serves POST /{list}/subscribe, the list page's form: the
// confirmation goes to the address. The answer is the same whether the
// address was subscribed or not.
func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	if h.listsOff(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	l, ok := h.readableList(w, r)
	if !ok {
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	d := mlistPage{List: l.Name, Email: email}
	a, err := mail.ParseAddress(email)
	if err != nil || a.Address != email || a.Name != "" || len(email) > maxEmailLen {
		d.Kind, d.Error = "subscribe-error", "That is not an e-mail address (write it as name@example.org)."
		h.mlPage(w, r, http.StatusBadRequest, d)
		return
	}
	if !h.limit.allow("sub-ip:"+clientIP(r), "sub:"+strings.ToLower(email)) {
		w.Header().Set("Retry-After", "60")
		d.Kind, d.Error = "subscribe-error", "Too many requests. Wait a minute and try again."
		h.mlPage(w, r, http.StatusTooManyRequests, d)
		return
	}
	err = h.cfg.Lists.RequestSubscription(r.Context(), l.Name, email)
	if errors.Is(err, store.ErrInvalid) {
		d.Kind, d.Error = "subscribe-error", invalidText(err)
		h.mlPage(w, r, http.StatusBadRequest, d)
		return
	}
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	d.Kind = "subscribe-sent"
	h.mlPage(w, r, http.StatusOK, d)
}

// readableList loads the {list} of the path and checks that the request
// may read it (404, as for an unknown list, otherwise).
func (h *Handler) readableList(w http.ResponseWriter, r *http.Request) (*store.List, bool) {
	name, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return nil, false
	}
	return h.listFor(w, r, name, access.Read)
}

// listFor loads a list and decides act on it (authorize's answers).
func (h *Handler) listFor(w http.ResponseWriter, r *http.Request, name string, act access.Action) (*store.List, bool) {
	l, err := h.listInfo(r.Context(), name)
	if err != nil {
		h.fail(w, r, "list", err)
		return nil, false
	}
	if _, ok := h.authorize(w, r, l, act); !ok {
		return nil, false
	}
	return l, true
}

// goodToken reports whether t looks like a token (the list server's are
// hex): bounded, letters and digits only.
func goodToken(t string) bool {
	if t == "" || len(t) > maxTokenLen {
		return false
	}
	for _, c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

const errConfirmation = "confirmation not found or expired: ask again on the list page or by mail"

// confirmPage serves GET /{list}/confirm?t=TOKEN: a button, not the
// change itself, because mail scanners follow links. The token is the
// authorization (a private list's subscriber may be signed out), so the
// page does not look the list up: it reads the same for every name.
func (h *Handler) confirmPage(w http.ResponseWriter, r *http.Request, list string) {
	if h.listsOff(w, r) {
		return
	}
	t := r.URL.Query().Get("t")
	if !goodToken(t) {
		h.httpError(w, r, http.StatusNotFound, errConfirmation)
		return
	}
	h.mlPage(w, r, http.StatusOK, mlistPage{List: list, Kind: "confirm", Token: t,
		Action: "/" + url.PathEscape(list) + "/confirm"})
}

// confirmSubscription serves POST /{list}/confirm (t and csrf in the
// form): it carries out the confirmation and shows what was done.
func (h *Handler) confirmSubscription(w http.ResponseWriter, r *http.Request) {
	if h.listsOff(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	name, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	t := r.PostFormValue("t")
	if !goodToken(t) {
		h.httpError(w, r, http.StatusNotFound, errConfirmation)
		return
	}
	msg, err := h.cfg.Lists.Confirm(r.Context(), t)
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, errConfirmation)
		return
	}
	if err != nil {
		h.fail(w, r, "confirmation", err)
		return
	}
	h.mlPage(w, r, http.StatusOK, mlistPage{List: name, Kind: "confirmed", Message: visible(msg)})
}

// goodUnsubToken reports whether t looks like a one-click unsubscribe
// token: bounded, base64url and dots.
func goodUnsubToken(t string) bool {
	if t == "" || len(t) > maxUnsubTokenLen {
		return false
	}
	for _, c := range t {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// unsubscribeLink checks the t of a one-click unsubscribe URL and returns
// the address it names. When it is wrong it answers: 404 as for an
// unknown list when the request may not read the list (nothing tells a
// private list exists), 403 otherwise.
func (h *Handler) unsubscribeLink(w http.ResponseWriter, r *http.Request) (list, email string, ok bool) {
	if h.listsOff(w, r) {
		return "", "", false
	}
	list, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return "", "", false
	}
	if t := r.URL.Query().Get("t"); h.cfg.UnsubscribeCheck != nil && goodUnsubToken(t) {
		if email, ok := h.cfg.UnsubscribeCheck(list, t); ok && email != "" && len(email) <= maxEmailLen {
			return list, email, true
		}
	}
	if readable, err := h.canRead(r, list); err != nil {
		h.fail(w, r, "list", err)
	} else if !readable {
		h.httpError(w, r, http.StatusNotFound, "list not found")
	} else {
		h.httpError(w, r, http.StatusForbidden, "this unsubscribe link is not valid: use the one in a recent message of the list, or write to "+h.addrsOf(list).Unsubscribe)
	}
	return "", "", false
}

// unsubscribePage serves GET /{list}/unsubscribe?t=TOKEN: a button that
// posts what a one-click client posts.
func (h *Handler) unsubscribePage(w http.ResponseWriter, r *http.Request, _ string) {
	list, email, ok := h.unsubscribeLink(w, r)
	if !ok {
		return
	}
	h.mlPage(w, r, http.StatusOK, mlistPage{List: list, Kind: "unsubscribe", Email: email,
		Action: "/" + url.PathEscape(list) + "/unsubscribe?t=" + url.QueryEscape(r.URL.Query().Get("t"))})
}

// unsubscribe serves POST /{list}/unsubscribe?t=TOKEN with the
// body List-Unsubscribe=One-Click (RFC 8058 3.2): the signed link
// authorizes it, no session or CSRF token is needed (a cookie-carrying
// request still needs its CSRF token, as every form does; the
// confirmation page's form sends it). Unsubscribing an address that is
// not subscribed succeeds too.
func (h *Handler) unsubscribe(w http.ResponseWriter, r *http.Request) {
	list, email, ok := h.unsubscribeLink(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
		h.httpError(w, r, http.StatusBadRequest, "want the body List-Unsubscribe=One-Click (RFC 8058)")
		return
	}
	err := h.cfg.Lists.Unsubscribe(r.Context(), list, email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		h.fail(w, r, "subscriber", err)
		return
	}
	h.mlPage(w, r, http.StatusOK, mlistPage{List: list, Kind: "unsubscribed", Email: email})
}

// moderator loads the {list} of the path for a moderator; 404 when the
// list server is off.
func (h *Handler) moderator(w http.ResponseWriter, r *http.Request, name string) (*store.List, *store.User, bool) {
	if h.listsOff(w, r) {
		return nil, nil, false
	}
	l, err := h.listInfo(r.Context(), name)
	if err != nil {
		h.fail(w, r, "list", err)
		return nil, nil, false
	}
	u, ok := h.authorize(w, r, l, access.Moderate)
	return l, u, ok
}

// heldPage is the data of held.html.
type heldPage struct {
	List string
	CSRF string
	Held []heldRow
}

type heldRow struct {
	store.Held
	Raw, Approve, Reject string
}

// heldPage serves GET /{list}/held: the moderation queue.
func (h *Handler) heldPage(w http.ResponseWriter, r *http.Request, name string) {
	l, _, ok := h.moderator(w, r, name)
	if !ok {
		return
	}
	held, err := h.r.HeldMessages(r.Context(), l.Name, store.HeldWaiting)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	d := heldPage{List: l.Name, CSRF: h.csrfToken(r)}
	base := "/" + url.PathEscape(l.Name) + "/held/"
	for _, m := range held {
		m.Subject, m.From, m.Reason = visible(m.Subject), visible(m.From), visible(m.Reason)
		id := strconv.FormatInt(m.ID, 10)
		d.Held = append(d.Held, heldRow{Held: m, Raw: base + id + "/raw", Approve: base + id + "/approve", Reject: base + id + "/reject"})
	}
	h.renderStatus(w, r, http.StatusOK, "held.html", d)
}

// heldOf loads held message idText of list l; 404 when it is unknown or
// held for another list.
func (h *Handler) heldOf(ctx context.Context, l *store.List, idText string) (*store.Held, error) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id <= 0 {
		return nil, store.ErrNotFound
	}
	m, err := h.r.HeldMessage(ctx, id)
	if err != nil {
		return nil, err
	}
	if m.List != l.Name {
		return nil, store.ErrNotFound
	}
	return m, nil
}

// heldRaw serves GET /{list}/held/{id}/raw: the held message as it
// arrived, as plain text, to moderators.
func (h *Handler) heldRaw(w http.ResponseWriter, r *http.Request, name, idText string) {
	l, _, ok := h.moderator(w, r, name)
	if !ok {
		return
	}
	m, err := h.heldOf(r.Context(), l, idText)
	if err != nil {
		h.fail(w, r, "held message", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "sandbox")
	hd.Set("Cache-Control", "no-store")
	hd.Set("Content-Length", strconv.Itoa(len(m.Raw)))
	_, _ = w.Write(m.Raw)
}

// decide approves or rejects a held message, by the path's last segment.
func (h *Handler) decide(ctx context.Context, r *http.Request, id int64, by string) error {
	if strings.HasSuffix(r.URL.Path, "/approve") {
		return h.cfg.Lists.Approve(ctx, id, by)
	}
	return h.cfg.Lists.Reject(ctx, id, by)
}

// moderateForm serves POST /{list}/held/{id}/approve and .../reject (the
// moderation page's buttons) and goes back to the page.
func (h *Handler) moderateForm(w http.ResponseWriter, r *http.Request) {
	name, err := listName(r, "list")
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	l, u, ok := h.moderator(w, r, name)
	if !ok {
		return
	}
	m, err := h.heldOf(r.Context(), l, r.PathValue("id"))
	if err == nil {
		err = h.decide(r.Context(), r, m.ID, u.Email)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		h.httpError(w, r, http.StatusConflict, "that message was already decided")
	case err != nil:
		h.fail(w, r, "held message", err)
	default:
		http.Redirect(w, r, "/"+url.PathEscape(l.Name)+"/held", http.StatusSeeOther)
	}
}

// subscriberJSON is one entry of GET /api/v1/lists/{name}/subscribers.
type subscriberJSON struct {
	Email   string    `json:"email"`
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Bounces int       `json:"bounces"`
}

// heldJSON is one held message in the API.
type heldJSON struct {
	ID        int64      `json:"id"`
	List      string     `json:"list"`
	MessageID string     `json:"message_id"`
	From      string     `json:"from"`
	Subject   string     `json:"subject"`
	Reason    string     `json:"reason"`
	Arrived   time.Time  `json:"arrived"`
	State     string     `json:"state"`
	DecidedBy *string    `json:"decided_by"`
	DecidedAt *time.Time `json:"decided_at"`
	RawURL    string     `json:"raw_url"`
}

func toHeldJSON(m *store.Held) heldJSON {
	out := heldJSON{ID: m.ID, List: m.List, MessageID: m.MessageID, From: m.From, Subject: m.Subject, Reason: m.Reason,
		Arrived: m.Arrived, State: m.State,
		RawURL: "/" + url.PathEscape(m.List) + "/held/" + strconv.FormatInt(m.ID, 10) + "/raw"}
	if m.DecidedBy != "" {
		out.DecidedBy = &m.DecidedBy
	}
	if !m.DecidedAt.IsZero() {
		out.DecidedAt = &m.DecidedAt
	}
	return out
}

// apiModerator is moderator for the API routes on {name}: JSON errors.
func (h *Handler) apiModerator(w http.ResponseWriter, r *http.Request) (*store.List, bool) {
	if h.cfg.Lists == nil {
		writeError(w, http.StatusNotFound, "not found")
		return nil, false
	}
	name, err := listName(r, "name")
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil, false
	}
	l, err := h.listInfo(r.Context(), name)
	if err != nil {
		h.fail(w, r, "list", err)
		return nil, false
	}
	_, ok := h.authorize(w, r, l, access.Moderate)
	return l, ok
}

// stateParam reads the state filter of the subscriber and held lists.
func stateParam(w http.ResponseWriter, r *http.Request, def string, valid ...string) (string, bool) {
	q := r.URL.Query()
	if !q.Has("state") {
		return def, true
	}
	s := q.Get("state")
	for _, v := range append(valid, "") {
		if s == v {
			return s, true
		}
	}
	writeError(w, http.StatusBadRequest, "unknown state "+strconv.Quote(s)+": want one of "+strings.Join(valid, ", ")+" or empty for all")
	return "", false
}

// apiSubscribers serves GET /api/v1/lists/{name}/subscribers?state=
// to the list's moderators.
func (h *Handler) apiSubscribers(w http.ResponseWriter, r *http.Request) {
	l, ok := h.apiModerator(w, r)
	if !ok {
		return
	}
	state, ok := stateParam(w, r, "", store.SubPending, store.SubActive, store.SubDisabled)
	if !ok {
		return
	}
	subs, err := h.r.Subscribers(r.Context(), l.Name, state)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	out := make([]subscriberJSON, 0, len(subs))
	for _, s := range subs {
		out = append(out, subscriberJSON{Email: s.Email, Name: s.Name, State: s.State, Created: s.Created, Bounces: s.Bounces})
	}
	writeJSON(w, http.StatusOK, struct {
		Subscribers []subscriberJSON `json:"subscribers"`
	}{out})
}

// apiHeld serves GET /api/v1/lists/{name}/held?state= (default: the
// messages waiting) to the list's moderators.
func (h *Handler) apiHeld(w http.ResponseWriter, r *http.Request) {
	l, ok := h.apiModerator(w, r)
	if !ok {
		return
	}
	state, ok := stateParam(w, r, store.HeldWaiting, store.HeldWaiting, store.HeldApproved, store.HeldRejected)
	if !ok {
		return
	}
	held, err := h.r.HeldMessages(r.Context(), l.Name, state)
	if err != nil {
		h.fail(w, r, "list", err)
		return
	}
	out := make([]heldJSON, 0, len(held))
	for i := range held {
		out = append(out, toHeldJSON(&held[i]))
	}
	writeJSON(w, http.StatusOK, struct {
		Held []heldJSON `json:"held"`
	}{out})
}

// apiModerate serves POST /api/v1/held/{id}/approve and .../reject with a
// bearer token; it answers the held message as decided. A held message
// of a list the caller may not read is "held message not found", as an
// unknown one.
func (h *Handler) apiModerate(w http.ResponseWriter, r *http.Request) {
	if h.cfg.Lists == nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "held message id must be a positive integer")
		return
	}
	m, err := h.r.HeldMessage(r.Context(), id)
	var l *store.List
	if err == nil {
		l, err = h.listInfo(r.Context(), m.List)
	}
	if err != nil {
		h.fail(w, r, "held message", err)
		return
	}
	u, ok := h.authorizeAs(w, r, l, access.Moderate, "held message")
	if !ok {
		return
	}
	err = h.decide(r.Context(), r, id, u.Email)
	if err == nil {
		m, err = h.r.HeldMessage(r.Context(), id)
	}
	switch {
	case errors.Is(err, store.ErrConflict):
		writeError(w, http.StatusConflict, "the held message was already decided")
	case err != nil:
		h.fail(w, r, "held message", err)
	default:
		writeJSON(w, http.StatusOK, toHeldJSON(m))
	}
}

// authNote is what a message page shows of the message's authentication
// and of a maintainer command it carried.
type authNote struct {
	// Verified: the message's authentication was checked on arrival.
	Verified bool
	SignedBy []string
	DMARC    string
	Command  string
	Result   string
}

// maxSignedBy bounds the domains a note names.
const maxSignedBy = 5

// messageAuth reads the note of a message; nil when there is none (or
// the data cannot be read: the page does without it).
func (h *Handler) messageAuth(ctx context.Context, list, messageID string) *authNote {
	s, err := h.r.MessageAuth(ctx, list, messageID)
	if err != nil || s == "" {
		return nil
	}
	// What package lists keeps (its authJSON and Auth).
	var rec struct {
		Auth *struct {
			DMARC    string
			SignedBy []string
		} `json:"auth"`
		Command string `json:"command"`
		Result  string `json:"result"`
	}
	if json.Unmarshal([]byte(s), &rec) != nil {
		return nil
	}
	n := &authNote{Command: visible(rec.Command), Result: visible(rec.Result)}
	if rec.Auth != nil {
		n.Verified = true
		n.DMARC = visible(rec.Auth.DMARC)
		for _, d := range rec.Auth.SignedBy {
			if len(n.SignedBy) == maxSignedBy {
				break
			}
			if d != "" && len(d) <= 253 {
				n.SignedBy = append(n.SignedBy, visible(d))
			}
		}
	}
	if !n.Verified && n.Command == "" {
		return nil
	}
	return n
}
