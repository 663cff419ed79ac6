package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"patchwell/access"
	"patchwell/internal/connlimit"
	"patchwell/store"
)

// Accounts is the account side web needs: sign-in, sessions, API tokens,
// roles and maintainer status changes. It is declared here and
// implemented by the review layer (review.Accounts); web writes nothing
// itself. Secrets are the values handed to clients (cookie, token, link).
type Accounts interface {
	Passwords
	Sessions
	APITokens
	RoleReader
	StatusChanger
}

// Passwords signs people in and up.
type Passwords interface {
	// Authenticate returns store.ErrBadCredentials for any wrong address
	// or password, store.ErrDisabled (one of them) for the right password
	// of a disabled account. It may take a while (review slows sign-ins
	// to an account after many wrong passwords).
	Authenticate(ctx context.Context, email, password string) (*store.User, error)
	// SignUp creates an unconfirmed account and returns the secret of its
	// confirmation link ("" when the address already has an account).
	SignUp(ctx context.Context, email, name, password string) (string, error)
	// Confirm consumes a confirmation secret; store.ErrNotFound when it is
	// unknown, used or expired.
	Confirm(ctx context.Context, token string) (*store.User, error)
	// ChangePassword sets a signed-in user's password given the current
	// one (store.ErrBadCredentials when wrong, store.ErrInvalid for a
	// new one out of bounds) and ends the account's sessions but session.
	ChangePassword(ctx context.Context, userID int64, session, current, password string) error
}

// Sessions are the cookies of signed-in browsers.
type Sessions interface {
	NewSession(ctx context.Context, userID int64) (string, time.Time, error)
	// SessionUser returns store.ErrNotFound for an unknown or expired
	// session, or one of a disabled account.
	SessionUser(ctx context.Context, token string) (*store.User, error)
	EndSession(ctx context.Context, token string) error
}

// APITokens are the bearer tokens of scripts.
type APITokens interface {
	NewToken(ctx context.Context, userID int64, name string) (string, *store.APIToken, error)
	// TokenUser returns store.ErrNotFound for an unknown token, or one
	// of a disabled account.
	TokenUser(ctx context.Context, token string) (*store.User, error)
	Tokens(ctx context.Context, userID int64) ([]store.APIToken, error)
	RevokeToken(ctx context.Context, userID, tokenID int64) error
}

// RoleReader tells users' roles on lists.
type RoleReader interface {
	// Role is the user's role on a list ("" for none).
	Role(ctx context.Context, userID int64, list string) (string, error)
	// Roles maps list names to the user's roles.
	Roles(ctx context.Context, userID int64) (map[string]string, error)
}

// StatusChanger sets series' statuses and tells their history.
type StatusChanger interface {
	// SetStatus changes a series' status and records who did it:
	// store.ErrInvalid for a status that may not be set, store.ErrConflict
	// for the current one, store.ErrNotFound for an unknown series.
	SetStatus(ctx context.Context, seriesID, userID int64, status, comment string) (*store.StatusChange, error)
	StatusHistory(ctx context.Context, seriesID int64) ([]store.StatusChange, error)
}

// sessionCookie is the session cookie's name.
const sessionCookie = "patchwell_session"

// identity is who a request comes from, resolved once in serve.
type identity struct {
	user    *store.User
	session string // the session secret, for the CSRF token; "" with a bearer token
	bearer  bool
	roles   map[string]string // list -> role, filled as asked
}

type identityKey struct{}

func isUnsafe(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	return true
}

// serve authenticates the request and refuses forged ones before routing:
// cross-origin unsafe requests (http.CrossOriginProtection, from the
// browser's Sec-Fetch-Site and Origin headers), and cookie-authenticated
// unsafe requests without the session's CSRF token. A bad bearer token is
// a 401; a stale session cookie makes the request anonymous.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) {
	unsafe := isUnsafe(r.Method)
	if unsafe {
		if err := h.cop.Check(r); err != nil {
			h.httpError(w, r, http.StatusForbidden, "cross-origin request refused")
			return
		}
	}
	if h.acc != nil {
		id, ok := h.identify(w, r)
		if !ok {
			return
		}
		if id != nil {
			if unsafe && !id.bearer && !h.validCSRF(w, r, id.session) {
				h.httpError(w, r, http.StatusForbidden, "missing or wrong csrf token: reload the page and try again")
				return
			}
			r = r.WithContext(context.WithValue(r.Context(), identityKey{}, id))
		}
	}
	h.mux.ServeHTTP(w, r)
}

// identify resolves the bearer token or session cookie; false when it
// answered (401 for a bad token).
func (h *Handler) identify(w http.ResponseWriter, r *http.Request) (*identity, bool) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		tok = strings.TrimSpace(tok)
		if !strings.EqualFold(scheme, "Bearer") || tok == "" || len(tok) > 200 {
			unauthorized(w, "bad Authorization header: want Bearer TOKEN")
			return nil, false
		}
		u, err := h.acc.TokenUser(r.Context(), tok)
		if errors.Is(err, store.ErrNotFound) {
			unauthorized(w, "invalid token")
			return nil, false
		}
		if err != nil {
			h.fail(w, r, "token", err)
			return nil, false
		}
		return &identity{user: u, bearer: true}, true
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || len(c.Value) > 200 {
		return nil, true
	}
	u, err := h.acc.SessionUser(r.Context(), c.Value)
	if errors.Is(err, store.ErrNotFound) {
		return nil, true
	}
	if err != nil {
		h.fail(w, r, "session", err)
		return nil, false
	}
	return &identity{user: u, session: c.Value}, true
}

func unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="patchwell"`)
	writeError(w, http.StatusUnauthorized, msg)
}

func identityOf(r *http.Request) *identity {
	id, _ := r.Context().Value(identityKey{}).(*identity)
	return id
}

// currentUser returns the signed-in user (session cookie or bearer
// token), nil when the request is anonymous.
func (h *Handler) currentUser(r *http.Request) *store.User {
	if id := identityOf(r); id != nil {
		return id.user
	}
	return nil
}

// csrfToken returns the value forms put in their hidden input named
// "csrf": derived from the session secret, so it needs no storage; "" for
// anonymous requests (whose forms CrossOriginProtection guards).
func (h *Handler) csrfToken(r *http.Request) string {
	id := identityOf(r)
	if id == nil || id.session == "" {
		return ""
	}
	return csrfFor(id.session)
}

func csrfFor(session string) string {
	sum := sha256.Sum256([]byte("patchwell csrf\x00" + session))
	return hex.EncodeToString(sum[:])
}

// validCSRF checks the csrf form field (or the X-CSRF-Token header, for
// scripts on our pages) against the session's, in constant time.
func (h *Handler) validCSRF(w http.ResponseWriter, r *http.Request, session string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		r.Body = http.MaxBytesReader(w, r.Body, 10<<20)
		got = r.PostFormValue("csrf")
	}
	want := csrfFor(session)
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// subject is who the request is, as access sees it for list l.
func (h *Handler) subject(r *http.Request, l *store.List) (access.Subject, error) {
	id := identityOf(r)
	if id == nil || id.user == nil {
		return access.Subject{}, nil
	}
	s := access.Subject{User: id.user, Admin: id.user.Admin}
	if l == nil || h.acc == nil {
		return s, nil
	}
	if id.roles == nil {
		id.roles = map[string]string{}
	}
	role, ok := id.roles[l.Name]
	if !ok {
		var err error
		if role, err = h.acc.Role(r.Context(), id.user.ID, l.Name); err != nil {
			return s, err
		}
		id.roles[l.Name] = role
	}
	s.Role = role
	return s, nil
}

// authorize decides, with access.Allowed, whether the request may do act
// on list l. When not, it answers: 404 when the list is not readable (as
// if it did not exist), a redirect to /signin for anonymous HTML GETs, 401
// for anonymous API requests, 403 otherwise; and returns false.
func (h *Handler) authorize(w http.ResponseWriter, r *http.Request, l *store.List, act access.Action) (*store.User, bool) {
	return h.authorizeAs(w, r, l, act, "list")
}

// authorizeAs is authorize with the name of the thing whose 404 an
// unreadable list gets ("series", "message"), so that the answer is the
// same as for one that does not exist.
func (h *Handler) authorizeAs(w http.ResponseWriter, r *http.Request, l *store.List, act access.Action, what string) (*store.User, bool) {
	subj, err := h.subject(r, l)
	if err != nil {
		h.fail(w, r, what, err)
		return nil, false
	}
	if access.Allowed(subj, l, act) {
		return subj.User, true
	}
	if !access.Allowed(subj, l, access.Read) {
		h.httpError(w, r, http.StatusNotFound, what+" not found")
		return nil, false
	}
	u := subj.User
	api := strings.HasPrefix(r.URL.Path, "/api/")
	switch {
	case u == nil && api:
		unauthorized(w, "sign in: send Authorization: Bearer TOKEN (create one on /account)")
	case u == nil && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	case u != nil && act == access.Comment && !u.Confirmed:
		h.httpError(w, r, http.StatusForbidden, "confirm your e-mail address first")
	case u == nil:
		h.httpError(w, r, http.StatusForbidden, "sign in first")
	default:
		h.httpError(w, r, http.StatusForbidden, "you may not "+act.String()+" on list "+l.Name)
	}
	return nil, false
}

// listInfo looks a list up, without its counts (cheap).
func (h *Handler) listInfo(ctx context.Context, name string) (*store.List, error) {
	l, err := h.r.ListInfo(ctx, name)
	if err == nil && l == nil {
		err = store.ErrNotFound
	}
	return l, err
}

// readable answers 404 (as "what not found") and returns false unless
// the list exists and the request may read it.
func (h *Handler) readable(w http.ResponseWriter, r *http.Request, list, what string) (*store.List, bool) {
	l, err := h.listInfo(r.Context(), list)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			h.httpError(w, r, http.StatusNotFound, what+" not found")
		} else {
			h.fail(w, r, what, err)
		}
		return nil, false
	}
	if _, ok := h.authorizeAs(w, r, l, access.Read, what); !ok {
		return nil, false
	}
	return l, true
}

// seriesFor is how every /series/{id} route starts: it reads the path
// value param (400 unless a positive integer), loads the series (404 when
// unknown; its row only, see SeriesReader.SeriesInfo) and decides
// act on its list with the one authorization function (404 when the list
// may not be read, as for an unknown series). When it returns false it has
// answered.
func (h *Handler) seriesFor(w http.ResponseWriter, r *http.Request, param string, act access.Action) (*store.Series, *store.List, *store.User, bool) {
	s, _, l, u, ok := h.loadSeries(w, r, param, act, false)
	return s, l, u, ok
}

// seriesWithPatches is seriesFor for the routes that show the patches too
// (the series page and its API): one Reader.Series call loads everything.
func (h *Handler) seriesWithPatches(w http.ResponseWriter, r *http.Request, act access.Action) (*store.Series, []store.Patch, *store.List, bool) {
	s, ps, l, _, ok := h.loadSeries(w, r, "id", act, true)
	return s, ps, l, ok
}

func (h *Handler) loadSeries(w http.ResponseWriter, r *http.Request, param string, act access.Action, patches bool) (*store.Series, []store.Patch, *store.List, *store.User, bool) {
	id, err := strconv.ParseInt(r.PathValue(param), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, errBadID.Error())
		return nil, nil, nil, nil, false
	}
	var s *store.Series
	var ps []store.Patch
	if patches {
		s, ps, err = h.r.Series(r.Context(), id)
	} else {
		s, err = h.r.SeriesInfo(r.Context(), id)
	}
	if err == nil && s == nil {
		err = store.ErrNotFound
	}
	if err == nil {
		var l *store.List
		if l, err = h.listInfo(r.Context(), s.List); err == nil {
			u, ok := h.authorizeAs(w, r, l, act, "series")
			return s, ps, l, u, ok
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, "series not found")
	} else {
		h.fail(w, r, "series", err)
	}
	return nil, nil, nil, nil, false
}

// canRead reports, without answering, whether the request may read a
// list; false for an unknown list.
func (h *Handler) canRead(r *http.Request, list string) (bool, error) {
	l, err := h.listInfo(r.Context(), list)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	subj, err := h.subject(r, l)
	return err == nil && access.Allowed(subj, l, access.Read), err
}

// listed filters lists down to those the request's indexes show
// (access.Listed).
func (h *Handler) listed(r *http.Request, ls []store.List) ([]store.List, error) {
	id := identityOf(r)
	var roles map[string]string
	var subj access.Subject
	if id != nil && id.user != nil {
		subj = access.Subject{User: id.user, Admin: id.user.Admin}
		var err error
		if roles, err = h.acc.Roles(r.Context(), id.user.ID); err != nil {
			return nil, err
		}
	}
	out := ls[:0:0]
	for i := range ls {
		subj.Role = roles[ls[i].Name]
		if access.Listed(subj, &ls[i]) {
			out = append(out, ls[i])
		}
	}
	return out, nil
}

// limiter is a token bucket per key (client address, e-mail address) for
// sign-in and sign-up attempts: burst attempts, then one per refill.
//
// Sign-in takes from two: (client address, account) in Handler.limit,
// 10 attempts then one per 6 s, and the client address in
// Handler.signins, 30 then one per 2 s over every account, so that one
// address cannot try account after account. Each refuses (429) once
// empty, the right password too. No bucket is keyed on the account
// alone: wrong passwords from one address then would lock its owner out
// from everywhere. Wrong passwords to one account from many addresses
// slow every sign-in to it instead, up to a bound (review.Accounts'
// Authenticate, which IMAP logins share). The client address is an IPv4
// address or an IPv6 /64 (connlimit.Network).
type limiter struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	burst   float64
	refill  time.Duration
	now     func() time.Time
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(burst int, refill time.Duration) *limiter {
	return &limiter{buckets: map[string]*bucket{}, burst: float64(burst), refill: refill, now: time.Now}
}

// allow takes a token from every key's bucket; false (taking none) when
// one is empty.
func (l *limiter) allow(keys ...string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.buckets) > 100000 {
		for k, b := range l.buckets {
			if now.Sub(b.last) > time.Duration(l.burst)*l.refill {
				delete(l.buckets, k)
			}
		}
	}
	bs := make([]*bucket, len(keys))
	for i, k := range keys {
		b := l.buckets[k]
		if b == nil {
			b = &bucket{tokens: l.burst, last: now}
			l.buckets[k] = b
		}
		b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.refill))
		b.last = now
		if b.tokens < 1 {
			return false
		}
		bs[i] = b
	}
	for _, b := range bs {
		b.tokens--
	}
	return true
}

// allowSignin takes a sign-in attempt to the account email from the
// request's address out of both buckets (see limiter); false when one is
// empty.
func (h *Handler) allowSignin(r *http.Request, email string) bool {
	client := connlimit.Network(clientIP(r))
	return h.signins.allow("ip:"+client) && h.limit.allow("signin:"+client+"\x00"+strings.ToLower(email))
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// authRoutes registers the account pages and the status change routes.
func (h *Handler) authRoutes() {
	h.mux.HandleFunc("GET /signin", h.signinPage)
	h.mux.HandleFunc("POST /signin", h.signin)
	h.mux.HandleFunc("POST /signout", h.signout)
	h.mux.HandleFunc("GET /signup", h.signupPage)
	h.mux.HandleFunc("POST /signup", h.signup)
	h.mux.HandleFunc("GET /confirm/{token}", h.confirm)
	h.mux.HandleFunc("GET /account", h.account)
	h.mux.HandleFunc("POST /account/password", h.changePassword)
	h.mux.HandleFunc("POST /account/tokens", h.createToken)
	h.mux.HandleFunc("POST /account/tokens/{id}/revoke", h.revokeToken)
	h.mux.HandleFunc("POST /series/{id}/status", h.setStatusForm)
	h.mux.HandleFunc("POST /api/v1/series/{id}/status", h.setStatusAPI)
}

// authPage is the data of signin.html, signup.html and account.html.
type authPage struct {
	User     *store.User
	CSRF     string
	Next     string
	Email    string
	Name     string
	Error    string
	Notice   string
	Signup   bool
	Done     bool
	Mailed   bool // the confirmation went by mail
	Roles    map[string]string
	Tokens   []store.APIToken
	NewToken string
	// StatusMail: mail me when a series of mine changes status (not
	// offered without StatusMailShown).
	StatusMail, StatusMailShown bool
}

func (h *Handler) renderStatus(w http.ResponseWriter, r *http.Request, code int, name string, data any) {
	w.Header().Set("Cache-Control", "no-store")
	if code != http.StatusOK {
		// render writes 200 itself; set the code first.
		rw := &codeWriter{ResponseWriter: w, code: code}
		h.render(rw, r, name, data)
		return
	}
	h.render(w, r, name, data)
}

// codeWriter makes the first implicit WriteHeader use code.
type codeWriter struct {
	http.ResponseWriter
	code    int
	written bool
}

func (c *codeWriter) WriteHeader(code int) {
	if !c.written {
		c.written = true
		if code == http.StatusOK {
			code = c.code
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codeWriter) Write(b []byte) (int, error) {
	if !c.written {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

func (h *Handler) noAccounts(w http.ResponseWriter, r *http.Request) bool {
	if h.acc == nil {
		h.httpError(w, r, http.StatusNotFound, "accounts are not enabled on this server")
		return true
	}
	return false
}

// localNext returns a safe place to go after signing in: a local path,
// never another site ("//host", "/\host").
func localNext(next string) string {
	if next == "" || next[0] != '/' || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") ||
		strings.ContainsAny(next, "\r\n") || len(next) > 2000 {
		return "/"
	}
	return next
}

func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	h.renderStatus(w, r, http.StatusOK, "signin.html", authPage{User: h.currentUser(r), CSRF: h.csrfToken(r),
		Next: localNext(r.URL.Query().Get("next")), Signup: h.cfg.Signup})
}

func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	d := authPage{CSRF: h.csrfToken(r), Next: localNext(r.PostFormValue("next")), Email: email, Signup: h.cfg.Signup}
	if !h.allowSignin(r, email) {
		w.Header().Set("Retry-After", "60")
		d.Error = "Too many attempts. Wait a minute and try again."
		h.renderStatus(w, r, http.StatusTooManyRequests, "signin.html", d)
		return
	}
	u, err := h.acc.Authenticate(r.Context(), email, r.PostFormValue("password"))
	if errors.Is(err, store.ErrDisabled) {
		// Only the right password learns it.
		d.Error = "This account is disabled. Ask the operator of the site."
		h.renderStatus(w, r, http.StatusForbidden, "signin.html", d)
		return
	}
	if errors.Is(err, store.ErrBadCredentials) {
		d.Error = "Wrong email or password."
		h.renderStatus(w, r, http.StatusUnauthorized, "signin.html", d)
		return
	}
	if err != nil {
		h.fail(w, r, "user", err)
		return
	}
	// A new secret on every sign-in (no session fixation); the old
	// session, if any, ends.
	if id := identityOf(r); id != nil && id.session != "" {
		_ = h.acc.EndSession(r.Context(), id.session)
	}
	tok, exp, err := h.acc.NewSession(r.Context(), u.ID)
	if err != nil {
		h.fail(w, r, "session", err)
		return
	}
	h.setSessionCookie(w, r, tok, exp)
	http.Redirect(w, r, d.Next, http.StatusSeeOther)
}

// setSessionCookie sets (or, with an empty value, clears) the session
// cookie: HttpOnly, SameSite=Lax, Secure over TLS or when the operator
// says the site is behind https.
func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, value string, exp time.Time) {
	c := &http.Cookie{Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil || h.cfg.SecureCookies}
	if value == "" {
		c.MaxAge = -1
	} else {
		c.Expires = exp
	}
	http.SetCookie(w, c)
}

func (h *Handler) signout(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	if id := identityOf(r); id != nil && id.session != "" {
		if err := h.acc.EndSession(r.Context(), id.session); err != nil {
			h.fail(w, r, "session", err)
			return
		}
	}
	h.setSessionCookie(w, r, "", time.Time{})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	if !h.cfg.Signup {
		h.httpError(w, r, http.StatusNotFound, "sign-up is not enabled on this server")
		return
	}
	h.renderStatus(w, r, http.StatusOK, "signup.html", authPage{User: h.currentUser(r), CSRF: h.csrfToken(r)})
}

// signup creates an unconfirmed account and mails the confirmation link
// (Config.SendMail); without mail the link goes to the server log for
// the operator, and the page says so.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	if !h.cfg.Signup {
		h.httpError(w, r, http.StatusNotFound, "sign-up is not enabled on this server")
		return
	}
	email := strings.TrimSpace(r.PostFormValue("email"))
	name := strings.TrimSpace(r.PostFormValue("name"))
	d := authPage{CSRF: h.csrfToken(r), Email: email, Name: name}
	if !h.limit.allow("ip:" + clientIP(r)) {
		w.Header().Set("Retry-After", "60")
		d.Error = "Too many attempts. Wait a minute and try again."
		h.renderStatus(w, r, http.StatusTooManyRequests, "signup.html", d)
		return
	}
	a, err := mail.ParseAddress(email)
	switch {
	case err != nil || a.Address != email || a.Name != "" || len(email) > 254:
		d.Error = "That is not an e-mail address (write it as name@example.org)."
	case len(name) > 200:
		d.Error = "The name is too long (at most 200 bytes)."
	case r.PostFormValue("password") != r.PostFormValue("password2"):
		d.Error = "The two passwords differ."
	}
	if d.Error != "" {
		h.renderStatus(w, r, http.StatusBadRequest, "signup.html", d)
		return
	}
	tok, err := h.acc.SignUp(r.Context(), email, name, r.PostFormValue("password"))
	if errors.Is(err, store.ErrInvalid) {
		d.Error = invalidText(err)
		h.renderStatus(w, r, http.StatusBadRequest, "signup.html", d)
		return
	}
	if err != nil {
		h.fail(w, r, "user", err)
		return
	}
	d.Mailed = h.cfg.SendMail != nil
	if tok != "" {
		link := h.absURL(r, "/confirm/"+tok)
		if h.cfg.SendMail == nil {
			h.log.Info("sign-up: no mail is sent (no smarthost), give this confirmation link to the user",
				"email", email, "link", link)
		} else if err := h.cfg.SendMail(r.Context(), email, "Confirm your account on "+r.Host,
			fmt.Sprintf("Someone, probably you, made an account for %s on %s.\n\nTo confirm it, open:\n\n  %s\n\nIf it was not you, ignore this message: the account stays unconfirmed.\n",
				email, r.Host, link)); err != nil {
			h.log.Error("sign-up: confirmation mail not sent", "email", email, "err", err)
			d.Error = "The confirmation mail could not be sent; try again later."
			h.renderStatus(w, r, http.StatusServiceUnavailable, "signup.html", d)
			return
		}
	}
	d.Done = true
	h.renderStatus(w, r, http.StatusOK, "signup.html", d)
}

func (h *Handler) confirm(w http.ResponseWriter, r *http.Request) {
	if h.noAccounts(w, r) {
		return
	}
	tok := r.PathValue("token")
	if len(tok) > 200 {
		h.httpError(w, r, http.StatusNotFound, "confirmation not found or expired")
		return
	}
	u, err := h.acc.Confirm(r.Context(), tok)
	if errors.Is(err, store.ErrNotFound) {
		h.httpError(w, r, http.StatusNotFound, "confirmation not found or expired")
		return
	}
	if err != nil {
		h.fail(w, r, "confirmation", err)
		return
	}
	h.renderStatus(w, r, http.StatusOK, "signin.html", authPage{User: h.currentUser(r), CSRF: h.csrfToken(r), Next: "/",
		Email: u.Email, Notice: "Your address " + u.Email + " is confirmed. Sign in."})
}

// accountPage gathers what account.html shows.
func (h *Handler) accountPage(r *http.Request, u *store.User) (authPage, error) {
	d := authPage{User: u, CSRF: h.csrfToken(r)}
	var err error
	if d.Roles, err = h.acc.Roles(r.Context(), u.ID); err != nil {
		return d, err
	}
	if d.Tokens, err = h.acc.Tokens(r.Context(), u.ID); err != nil {
		return d, err
	}
	d.StatusMailShown, d.StatusMail, err = h.statusMail(r.Context(), u)
	return d, err
}

// signedIn returns the user or answers (redirect to /signin for GETs,
// 403 otherwise) and returns nil.
func (h *Handler) signedIn(w http.ResponseWriter, r *http.Request) *store.User {
	if h.noAccounts(w, r) {
		return nil
	}
	u := h.currentUser(r)
	if u == nil {
		if r.Method == http.MethodGet {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
		} else {
			h.httpError(w, r, http.StatusForbidden, "sign in first")
		}
	}
	return u
}

func (h *Handler) account(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	d, err := h.accountPage(r, u)
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	h.renderStatus(w, r, http.StatusOK, "account.html", d)
}

// changePassword serves the account page's password form: the current
// password and the new one twice. It counts as a sign-in attempt (the
// same limits), so a stolen session cannot guess the password faster.
// Every other session of the account ends; this one stays. A bearer
// token may not change the password.
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	id := identityOf(r)
	if id.session == "" {
		h.httpError(w, r, http.StatusForbidden, "change the password on /account, signed in (not with a token)")
		return
	}
	code, msg := http.StatusOK, ""
	switch {
	case !h.allowSignin(r, u.Email):
		w.Header().Set("Retry-After", "60")
		code, msg = http.StatusTooManyRequests, "Too many attempts. Wait a minute and try again."
	case r.PostFormValue("password") != r.PostFormValue("password2"):
		code, msg = http.StatusBadRequest, "The two new passwords differ."
	default:
		err := h.acc.ChangePassword(r.Context(), u.ID, id.session, r.PostFormValue("current"), r.PostFormValue("password"))
		switch {
		case errors.Is(err, store.ErrBadCredentials):
			code, msg = http.StatusUnauthorized, "The current password is wrong."
		case errors.Is(err, store.ErrInvalid):
			code, msg = http.StatusBadRequest, invalidText(err)
		case err != nil:
			h.fail(w, r, "password", err)
			return
		}
	}
	d, err := h.accountPage(r, u)
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	d.Error = msg
	if msg == "" {
		h.log.Info("password changed, other sessions ended", "user", u.Email)
		d.Notice = "Your password is changed. Your other sessions are signed out."
	}
	h.renderStatus(w, r, code, "account.html", d)
}

func (h *Handler) createToken(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	tok, _, err := h.acc.NewToken(r.Context(), u.ID, r.PostFormValue("name"))
	code := http.StatusOK
	var msg string
	if errors.Is(err, store.ErrInvalid) {
		code, msg = http.StatusBadRequest, "Give the token a name (at most 100 bytes)."
	} else if err != nil {
		h.fail(w, r, "token", err)
		return
	}
	d, err := h.accountPage(r, u)
	if err != nil {
		h.fail(w, r, "account", err)
		return
	}
	d.NewToken, d.Error = tok, msg
	h.renderStatus(w, r, code, "account.html", d)
}

func (h *Handler) revokeToken(w http.ResponseWriter, r *http.Request) {
	u := h.signedIn(w, r)
	if u == nil {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		h.httpError(w, r, http.StatusBadRequest, "bad token id")
		return
	}
	if err := h.acc.RevokeToken(r.Context(), u.ID, id); err != nil {
		h.fail(w, r, "token", err)
		return
	}
	http.Redirect(w, r, "/account", http.StatusSeeOther)
}

// statusChangeJSON is one entry of "history" in the series API.
type statusChangeJSON struct {
	From    string      `json:"from"`
	To      string      `json:"to"`
	User    *personJSON `json:"user"`
	At      time.Time   `json:"at"`
	Comment string      `json:"comment"`
}

func toStatusChange(c *store.StatusChange) statusChangeJSON {
	out := statusChangeJSON{From: c.From, To: c.To, At: c.At, Comment: c.Comment}
	if c.User != nil {
		p := personJSON(*c.User)
		out.User = &p
	}
	return out
}

// history returns a series' status changes ([] without accounts).
func (h *Handler) history(ctx context.Context, id int64) ([]store.StatusChange, error) {
	if h.acc == nil {
		return nil, nil
	}
	return h.acc.StatusHistory(ctx, id)
}

// statusBlock is what the series page shows of the status: its history
// for every reader, the form for maintainers.
type statusBlock struct {
	SeriesID int64
	Current  string
	History  []store.StatusChange
	CanSet   bool
	Choices  []string
	CSRF     string
	// SignIn links to the sign-in form for anonymous readers (when
	// accounts are on); User is who is signed in.
	SignIn string
	User   *store.User
}

// seriesStatus builds the series page's status block.
func (h *Handler) seriesStatus(r *http.Request, s *store.Series, l *store.List) (statusBlock, error) {
	b := statusBlock{SeriesID: s.ID, Current: s.Status, CSRF: h.csrfToken(r), User: h.currentUser(r)}
	if b.User == nil && h.acc != nil {
		b.SignIn = "/signin?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	var err error
	if b.History, err = h.history(r.Context(), s.ID); err != nil {
		return b, err
	}
	subj, err := h.subject(r, l)
	if err != nil {
		return b, err
	}
	b.CanSet = h.acc != nil && access.Allowed(subj, l, access.SetStatus)
	for _, st := range store.SettableStatuses {
		if st != s.Status {
			b.Choices = append(b.Choices, st)
		}
	}
	return b, nil
}

// changeStatus is the common part of both status routes: find the series,
// check the right, write. It answers errors itself; nil when it did.
func (h *Handler) changeStatus(w http.ResponseWriter, r *http.Request, status, comment string) *store.StatusChange {
	if h.noAccounts(w, r) {
		return nil
	}
	s, _, u, ok := h.seriesFor(w, r, "id", access.SetStatus)
	if !ok {
		return nil
	}
	c, err := h.acc.SetStatus(r.Context(), s.ID, u.ID, status, comment)
	switch {
	case errors.Is(err, store.ErrInvalid):
		h.httpError(w, r, http.StatusBadRequest, "bad status "+strconv.Quote(status)+": one of "+strings.Join(store.SettableStatuses, ", "))
		return nil
	case errors.Is(err, store.ErrConflict):
		h.httpError(w, r, http.StatusConflict, "the series is already "+status)
		return nil
	case err != nil:
		h.fail(w, r, "series", err)
		return nil
	}
	h.notifyStatus(r.Context(), s, c)
	return c
}

// setStatusForm serves POST /series/{id}/status (the series page's form).
func (h *Handler) setStatusForm(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if h.changeStatus(w, r, r.PostFormValue("status"), r.PostFormValue("comment")) != nil {
		http.Redirect(w, r, "/series/"+r.PathValue("id")+"/#status", http.StatusSeeOther)
	}
}

// setStatusAPI serves POST /api/v1/series/{id}/status with a JSON body
// {"status": "...", "comment": "..."} and a bearer token; it answers the
// recorded change.
func (h *Handler) setStatusAPI(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Status  string `json:"status"`
		Comment string `json:"comment"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || dec.Decode(&struct{}{}) != io.EOF {
		if h.currentUser(r) == nil && h.acc != nil {
			unauthorized(w, "sign in: send Authorization: Bearer TOKEN (create one on /account)")
			return
		}
		h.httpError(w, r, http.StatusBadRequest, `bad request body: want {"status": "...", "comment": "..."}`)
		return
	}
	if c := h.changeStatus(w, r, req.Status, req.Comment); c != nil {
		writeJSON(w, http.StatusOK, toStatusChange(c))
	}
}
