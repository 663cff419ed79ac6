package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// authEnv is a server over a real store with three lists (public pub,
// unlisted hid, private sec), each holding one patch, and accounts:
// admin (site admin), owner and maint of sec, user (confirmed, no role),
// fresh (unconfirmed).
type authEnv struct {
	t      testing.TB
	base   string
	h      *Handler
	st     *store.DB
	dir    string
	acc    *review.Accounts
	series map[string]int64 // list -> its series id
	tokens map[string]string
	logs   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const authPassword = "correct horse battery"

func patchMail(list, id, subject string) []byte {
	return []byte("From: Ann Dev <ann@example.org>\r\n" +
		"To: " + list + "@lists.example.org\r\n" +
		"Subject: [PATCH] " + subject + "\r\n" +
		"Message-ID: <" + id + ">\r\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\r\n" +
		"\r\n" +
		"Fix the thing.\r\n\r\nSigned-off-by: Ann Dev <ann@example.org>\r\n---\r\n" +
		" a.txt | 2 +-\r\n 1 file changed, 1 insertion(+), 1 deletion(-)\r\n\r\n" +
		"diff --git a/a.txt b/a.txt\r\nindex 1111111..2222222 100644\r\n--- a/a.txt\r\n+++ b/a.txt\r\n" +
		"@@ -1 +1 @@\r\n-old\r\n+new\r\n-- \r\n2.40.0\r\n")
}

func newAuthEnv(t testing.TB, cfg Config) *authEnv {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	e := &authEnv{t: t, st: st, dir: dir, series: map[string]int64{}, tokens: map[string]string{}, logs: &syncBuffer{}}
	for _, l := range []struct{ name, vis string }{{"pub", store.VisibilityPublic}, {"hid", store.VisibilityUnlisted}, {"sec", store.VisibilityPrivate}} {
		if _, err := st.CreateList(ctx, store.List{Name: l.name, Visibility: l.vis}); err != nil {
			t.Fatal(err)
		}
		if err := in.Post(ctx, review.Post{Lists: []string{l.name}, Raw: patchMail(l.name, "p-"+l.name+"@example.org", "fix "+l.name)}); err != nil {
			t.Fatal(err)
		}
		ss, err := st.SeriesList(ctx, l.name, "", store.Page{})
		if err != nil || len(ss) != 1 {
			t.Fatalf("series of %s: %v %v", l.name, ss, err)
		}
		e.series[l.name] = ss[0].ID
	}
	in.Close()
	e.acc = review.NewAccounts(st, review.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	for _, u := range []struct {
		email string
		admin bool
		role  string
	}{{"admin", true, ""}, {"owner", false, store.RoleOwner}, {"maint", false, store.RoleMaintainer}, {"user", false, ""}} {
		nu, err := e.acc.AddUser(ctx, u.email+"@example.org", strings.ToUpper(u.email[:1])+u.email[1:], authPassword, u.admin)
		if err != nil {
			t.Fatal(err)
		}
		if u.role != "" {
			if err := st.SetRole(ctx, nu.ID, "sec", u.role); err != nil {
				t.Fatal(err)
			}
		}
		if e.tokens[u.email], _, err = e.acc.NewToken(ctx, nu.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.acc.SignUp(ctx, "fresh@example.org", "Fresh", authPassword); err != nil {
		t.Fatal(err)
	}
	cfg.Domain, cfg.Accounts = "lists.example.org", e.acc
	log := slog.New(slog.NewTextHandler(io.MultiWriter(t.Output(), e.logs), &slog.HandlerOptions{Level: slog.LevelDebug}))
	rin := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)}) // web reviews
	t.Cleanup(func() { rin.Close() })
	svc := review.New(st, review.ServiceConfig{Ingester: rin, Domain: cfg.Domain})
	e.h = New(svc, cfg, log).(*Handler)
	srv := httptest.NewServer(e.h)
	e.base = srv.URL
	t.Cleanup(func() {
		srv.Close()
		if n := e.h.Panics(); n != 0 {
			t.Errorf("Panics() = %d", n)
		}
	})
	return e
}

// req is one request of a test: Token is a bearer token, Cookie a
// session; From, when set, is the client's address (another loopback
// address than 127.0.0.1).
type req struct {
	Method, Path string
	Body         string
	Type         string
	Token        string
	Cookie       string
	Header       map[string]string
	From         string
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func (e *authEnv) do(q req) response {
	e.t.Helper()
	if q.Method == "" {
		q.Method = http.MethodGet
	}
	r, err := http.NewRequest(q.Method, e.base+q.Path, strings.NewReader(q.Body))
	if err != nil {
		e.t.Fatal(err)
	}
	if q.Type != "" {
		r.Header.Set("Content-Type", q.Type)
	} else if q.Body != "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if q.Token != "" {
		r.Header.Set("Authorization", "Bearer "+q.Token)
	}
	if q.Cookie != "" {
		r.AddCookie(&http.Cookie{Name: sessionCookie, Value: q.Cookie})
	}
	for k, v := range q.Header {
		r.Header.Set(k, v)
	}
	client := noRedirect
	if q.From != "" {
		client = clientFrom(q.From)
	}
	res, err := client.Do(r)
	if err != nil {
		e.t.Fatalf("%s %s: %v", q.Method, q.Path, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// clientFrom is noRedirect with connections from the address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext},
		CheckRedirect: noRedirect.CheckRedirect}
}

// signin signs in through the form and returns the session cookie.
func (e *authEnv) signin(email string) *http.Cookie {
	e.t.Helper()
	res := e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {email}, "password": {authPassword}, "next": {"/account"}}.Encode()})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/account" {
		e.t.Fatalf("sign in as %s: %d %s", email, res.code, res.body)
	}
	for _, c := range (&http.Response{Header: res.header}).Cookies() {
		if c.Name == sessionCookie {
			return c
		}
	}
	e.t.Fatalf("sign in as %s set no session cookie", email)
	return nil
}

var csrfField = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf reads the csrf token a signed-in page puts in its forms.
func (e *authEnv) csrf(cookie string) string {
	e.t.Helper()
	res := e.do(req{Path: "/account", Cookie: cookie})
	m := csrfField.FindSubmatch(res.body)
	if res.code != 200 || m == nil {
		e.t.Fatalf("no csrf token on /account: %d %s", res.code, res.body)
	}
	return string(m[1])
}

func TestSignInOut(t *testing.T) {
	e := newAuthEnv(t, Config{})
	if res := e.do(req{Path: "/signin?next=/series/1/"}); res.code != 200 || !strings.Contains(string(res.body), `name="next" value="/series/1/"`) {
		t.Fatalf("GET /signin: %d %s", res.code, res.body)
	}
	// Wrong password and unknown address get the same generic answer.
	for _, form := range []url.Values{
		{"email": {"user@example.org"}, "password": {"wrong password"}},
		{"email": {"nobody@example.org"}, "password": {authPassword}},
	} {
		res := e.do(req{Method: "POST", Path: "/signin", Body: form.Encode()})
		if res.code != http.StatusUnauthorized || !strings.Contains(string(res.body), "Wrong email or password.") {
			t.Fatalf("bad sign-in %v: %d %s", form, res.code, res.body)
		}
		if len(res.header.Values("Set-Cookie")) != 0 {
			t.Fatalf("bad sign-in set a cookie: %v", res.header)
		}
	}
	c := e.signin("USER@example.org")
	if !c.HttpOnly || c.SameSite != http.SameSiteLaxMode || c.Secure || c.Path != "/" || len(c.Value) < 40 {
		t.Fatalf("session cookie flags: %+v", c)
	}
	// Only the hash is stored: the secret is nowhere in the database files.
	for _, f := range []string{store.DBFile, store.DBFile + "-wal"} {
		b, _ := os.ReadFile(filepath.Join(e.dir, f))
		if bytes.Contains(b, []byte(c.Value)) || bytes.Contains(b, []byte(e.tokens["user"])) {
			t.Fatalf("a session or token secret is stored in %s", f)
		}
	}
	if u := e.do(req{Path: "/account", Cookie: c.Value}); u.code != 200 || !strings.Contains(string(u.body), "user@example.org") {
		t.Fatalf("account page: %d %s", u.code, u.body)
	}
	// An open redirect is not possible through next.
	for _, next := range []string{"//evil.example/", "https://evil.example/", "/\\evil.example"} {
		res := e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {"user@example.org"}, "password": {authPassword}, "next": {next}}.Encode()})
		if loc := res.header.Get("Location"); res.code != http.StatusSeeOther || loc != "/" {
			t.Errorf("next=%q redirected to %q (%d)", next, loc, res.code)
		}
	}
	tok := e.csrf(c.Value)
	res := e.do(req{Method: "POST", Path: "/signout", Cookie: c.Value, Body: "csrf=" + tok})
	if res.code != http.StatusSeeOther || !strings.Contains(res.header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("sign out: %d %v", res.code, res.header)
	}
	if res := e.do(req{Path: "/account", Cookie: c.Value}); res.code != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/signin?next=") {
		t.Fatalf("the session outlived sign-out: %d %v", res.code, res.header)
	}
}

func TestSecureCookieFlag(t *testing.T) {
	e := newAuthEnv(t, Config{SecureCookies: true})
	if c := e.signin("user@example.org"); !c.Secure || !c.HttpOnly {
		t.Fatalf("--secure-cookies: cookie %+v", c)
	}
}

func TestSignInRateLimit(t *testing.T) {
	e := newAuthEnv(t, Config{})
	codes := map[int]int{}
	for range 15 {
		res := e.do(req{Method: "POST", Path: "/signin", Body: "email=user%40example.org&password=nope"})
		codes[res.code]++
	}
	if codes[http.StatusTooManyRequests] == 0 || codes[http.StatusUnauthorized] == 0 {
		t.Fatalf("15 bad sign-ins: %v, want some 401 then 429", codes)
	}
	// The right password is refused too while limited (no guessing through).
	res := e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {"user@example.org"}, "password": {authPassword}}.Encode()})
	if res.code != http.StatusTooManyRequests || res.header.Get("Retry-After") == "" {
		t.Fatalf("sign-in while limited: %d", res.code)
	}
}

// TestSignInLockout: wrong passwords from one address block that
// address for the account, never the account's owner elsewhere.
func TestSignInLockout(t *testing.T) {
	e := newAuthEnv(t, Config{})
	const attacker, owner = "127.0.0.2", "127.0.0.3"
	codes := map[int]int{}
	for i := range 50 {
		email := "user@example.org"
		if i%2 == 1 {
			email = "USER@Example.org" // the same account
		}
		res := e.do(req{Method: "POST", Path: "/signin", From: attacker, Body: url.Values{"email": {email}, "password": {"guess"}}.Encode()})
		codes[res.code]++
	}
	if codes[http.StatusUnauthorized] == 0 || codes[http.StatusTooManyRequests] == 0 ||
		codes[http.StatusUnauthorized]+codes[http.StatusTooManyRequests] != 50 {
		t.Fatalf("50 wrong passwords from one address: %v, want some 401 then 429", codes)
	}
	good := url.Values{"email": {"user@example.org"}, "password": {authPassword}}.Encode()
	if res := e.do(req{Method: "POST", Path: "/signin", From: owner, Body: good}); res.code != http.StatusSeeOther {
		t.Fatalf("the owner, from another address, after the attack: %d %s; want signed in (303)", res.code, res.body)
	}
	if res := e.do(req{Method: "POST", Path: "/signin", From: attacker, Body: good}); res.code != http.StatusTooManyRequests {
		t.Fatalf("the attacker's address with the right password: %d; want still blocked (429)", res.code)
	}
	// One address may not try account after account either.
	codes = map[int]int{}
	for i := range 60 {
		res := e.do(req{Method: "POST", Path: "/signin", From: "127.0.0.4",
			Body: url.Values{"email": {fmt.Sprintf("u%d@example.org", i)}, "password": {"guess"}}.Encode()})
		codes[res.code]++
	}
	if codes[http.StatusTooManyRequests] == 0 {
		t.Fatalf("60 accounts tried from one address: %v, want the address blocked at last", codes)
	}
}

// TestChangePasswordPage: /account changes the password with the
// current one (CSRF-protected like every form); the browser that did it
// stays signed in, every other session of the account ends.
func TestChangePasswordPage(t *testing.T) {
	e := newAuthEnv(t, Config{})
	mine, other := e.signin("user@example.org"), e.signin("user@example.org")
	stranger := e.signin("maint@example.org")
	csrf := e.csrf(mine.Value)
	if res := e.do(req{Path: "/account", Cookie: mine.Value}); !strings.Contains(string(res.body), `action="/account/password"`) {
		t.Fatalf("no password form on /account: %s", res.body)
	}
	form := func(current, pw, pw2 string) string {
		return url.Values{"csrf": {csrf}, "current": {current}, "password": {pw}, "password2": {pw2}}.Encode()
	}
	const newPassword = "a brand new one"
	for _, tc := range []struct {
		name   string
		q      req
		code   int
		answer string
	}{
		{"no csrf token", req{Body: url.Values{"current": {authPassword}, "password": {newPassword}, "password2": {newPassword}}.Encode(), Cookie: mine.Value}, http.StatusForbidden, "csrf"},
		{"anonymous", req{Body: form(authPassword, newPassword, newPassword)}, http.StatusForbidden, "sign in first"},
		{"bearer token", req{Body: form(authPassword, newPassword, newPassword), Token: e.tokens["user"]}, http.StatusForbidden, "signed in"},
		{"wrong current password", req{Body: form("not it at all", newPassword, newPassword), Cookie: mine.Value}, http.StatusUnauthorized, "The current password is wrong."},
		{"new passwords differ", req{Body: form(authPassword, newPassword, newPassword+"x"), Cookie: mine.Value}, http.StatusBadRequest, "The two new passwords differ."},
		{"too short", req{Body: form(authPassword, "short", "short"), Cookie: mine.Value}, http.StatusBadRequest, "password must be"},
	} {
		tc.q.Method, tc.q.Path = "POST", "/account/password"
		if res := e.do(tc.q); res.code != tc.code || !strings.Contains(string(res.body), tc.answer) {
			t.Errorf("%s: %d %s; want %d and %q", tc.name, res.code, res.body, tc.code, tc.answer)
		}
	}
	if res := e.do(req{Path: "/account", Cookie: other.Value}); res.code != http.StatusOK {
		t.Fatalf("a refused change signed the other session out: %d", res.code)
	}
	res := e.do(req{Method: "POST", Path: "/account/password", Body: form(authPassword, newPassword, newPassword), Cookie: mine.Value})
	if res.code != http.StatusOK || !strings.Contains(string(res.body), "Your password is changed") {
		t.Fatalf("change: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: "/account", Cookie: mine.Value}); res.code != http.StatusOK {
		t.Fatalf("the session that changed the password: %d, want still signed in", res.code)
	}
	if res := e.do(req{Path: "/account", Cookie: other.Value}); res.code != http.StatusSeeOther {
		t.Fatalf("another session of the account: %d, want signed out (redirect to /signin)", res.code)
	}
	if res := e.do(req{Path: "/account", Cookie: stranger.Value}); res.code != http.StatusOK {
		t.Fatalf("another account's session: %d, want untouched", res.code)
	}
	if res := e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {"user@example.org"}, "password": {newPassword}}.Encode()}); res.code != http.StatusSeeOther {
		t.Fatalf("sign-in with the new password: %d", res.code)
	}
}

// TestDisabledAccountWeb: disabling an account (patchwell user disable)
// signs its browsers out and stops its API tokens and roles at their
// next use; its right password says the account is disabled; enabling
// it brings the token and the role back.
func TestDisabledAccountWeb(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ctx := context.Background()
	c := e.signin("maint@example.org")
	u, err := e.st.UserByEmail(ctx, "maint@example.org")
	if err != nil {
		t.Fatal(err)
	}
	private := "/api/v1/lists/sec/series"
	if res := e.do(req{Path: private, Token: e.tokens["maint"]}); res.code != http.StatusOK {
		t.Fatalf("before: %d", res.code)
	}
	if err := e.st.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if res := e.do(req{Path: "/account", Cookie: c.Value}); res.code != http.StatusSeeOther {
		t.Errorf("the session of a disabled account: %d, want signed out", res.code)
	}
	if res := e.do(req{Path: private, Token: e.tokens["maint"]}); res.code != http.StatusUnauthorized {
		t.Errorf("the token of a disabled account: %d, want 401", res.code)
	}
	res := e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {"maint@example.org"}, "password": {authPassword}}.Encode()})
	if res.code != http.StatusForbidden || !strings.Contains(string(res.body), "This account is disabled") || len(res.header.Values("Set-Cookie")) != 0 {
		t.Errorf("sign-in to a disabled account: %d %s", res.code, res.body)
	}
	res = e.do(req{Method: "POST", Path: "/signin", Body: url.Values{"email": {"maint@example.org"}, "password": {"a wrong one"}}.Encode()})
	if res.code != http.StatusUnauthorized || strings.Contains(string(res.body), "disabled") {
		t.Errorf("sign-in to a disabled account, wrong password: %d %s; want the usual answer", res.code, res.body)
	}
	if err := e.st.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	if res := e.do(req{Path: private, Token: e.tokens["maint"]}); res.code != http.StatusOK {
		t.Errorf("the token (and role) after enabling: %d, want 200", res.code)
	}
	if res := e.do(req{Path: "/account", Cookie: c.Value}); res.code != http.StatusSeeOther {
		t.Errorf("a session ended by disabling, after enabling: %d, want still ended", res.code)
	}
}

func TestSignUpAndConfirm(t *testing.T) {
	e := newAuthEnv(t, Config{})
	if res := e.do(req{Path: "/signup"}); res.code != http.StatusNotFound {
		t.Fatalf("sign-up without --signup: %d", res.code)
	}
	e = newAuthEnv(t, Config{Signup: true})
	if res := e.do(req{Path: "/signup"}); res.code != 200 || !strings.Contains(string(res.body), `name="password2"`) {
		t.Fatalf("GET /signup: %d %s", res.code, res.body)
	}
	for _, bad := range []url.Values{
		{"email": {"not an address"}, "password": {authPassword}, "password2": {authPassword}},
		{"email": {"Bob <bob@example.org>"}, "password": {authPassword}, "password2": {authPassword}},
		{"email": {"bob@example.org"}, "password": {authPassword}, "password2": {"other"}},
		{"email": {"bob@example.org"}, "password": {"short"}, "password2": {"short"}},
	} {
		if res := e.do(req{Method: "POST", Path: "/signup", Body: bad.Encode()}); res.code != http.StatusBadRequest {
			t.Errorf("sign-up %v: %d %s", bad, res.code, res.body)
		}
	}
	form := url.Values{"email": {"bob@example.org"}, "name": {"Bob"}, "password": {authPassword}, "password2": {authPassword}}
	res := e.do(req{Method: "POST", Path: "/signup", Body: form.Encode()})
	if res.code != 200 || !strings.Contains(string(res.body), "confirmation link was written to its log") {
		t.Fatalf("sign-up: %d %s", res.code, res.body)
	}
	link := regexp.MustCompile(`link=http://[^/]+(/confirm/pwc_[A-Za-z0-9_-]+)`).FindStringSubmatch(e.logs.String())
	if link == nil {
		t.Fatalf("no confirmation link in the log:\n%s", e.logs.String())
	}
	// Signed in but unconfirmed: reads, may not comment.
	c := e.signin("bob@example.org")
	if res := e.do(req{Path: "/account", Cookie: c.Value}); !strings.Contains(string(res.body), "not confirmed yet") {
		t.Fatalf("account page of an unconfirmed user: %s", res.body)
	}
	if res := e.do(req{Path: link[1]}); res.code != 200 || !strings.Contains(string(res.body), "is confirmed") {
		t.Fatalf("confirm: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: link[1]}); res.code != http.StatusNotFound {
		t.Fatalf("confirm twice: %d", res.code)
	}
	if res := e.do(req{Path: "/confirm/pwc_forged"}); res.code != http.StatusNotFound {
		t.Fatalf("forged confirmation: %d", res.code)
	}
	if u, _ := e.st.UserByEmail(context.Background(), "bob@example.org"); !u.Confirmed {
		t.Fatal("not confirmed")
	}
	// An address with an account gets the same page and no new link.
	before := strings.Count(e.logs.String(), "/confirm/")
	if res := e.do(req{Method: "POST", Path: "/signup", Body: form.Encode()}); res.code != 200 {
		t.Fatalf("second sign-up: %d", res.code)
	}
	if strings.Count(e.logs.String(), "/confirm/") != before {
		t.Fatal("a second sign-up for the same address made a link")
	}
}

func TestCSRF(t *testing.T) {
	e := newAuthEnv(t, Config{})
	c := e.signin("maint@example.org")
	tok := e.csrf(c.Value)
	path := fmt.Sprintf("/series/%d/status", e.series["sec"])
	for name, q := range map[string]req{
		"cross-site fetch": {Body: "status=approved&csrf=" + tok, Header: map[string]string{"Sec-Fetch-Site": "cross-site"}},
		"foreign origin":   {Body: "status=approved&csrf=" + tok, Header: map[string]string{"Origin": "https://evil.example"}},
		"no token":         {Body: "status=approved"},
		"wrong token":      {Body: "status=approved&csrf=" + strings.Repeat("0", 64)},
		"other session":    {Body: "status=approved&csrf=" + csrfFor("pws_someone-else")},
	} {
		q.Method, q.Path, q.Cookie = "POST", path, c.Value
		if res := e.do(q); res.code != http.StatusForbidden {
			t.Errorf("%s: %d %s, want 403", name, res.code, res.body)
		}
	}
	if s, _ := e.st.Series(context.Background(), e.series["sec"]); s.Status != store.StatusProposed {
		t.Fatalf("a refused request changed the status to %s", s.Status)
	}
	// Cross-origin is refused even for anonymous forms (sign-in CSRF).
	if res := e.do(req{Method: "POST", Path: "/signin", Body: "email=x&password=y", Header: map[string]string{"Sec-Fetch-Site": "cross-site"}}); res.code != http.StatusForbidden {
		t.Fatalf("cross-site sign-in: %d", res.code)
	}
	// Same origin with the token works; the header form works for scripts.
	res := e.do(req{Method: "POST", Path: path, Cookie: c.Value, Body: "status=approved&csrf=" + tok, Header: map[string]string{"Sec-Fetch-Site": "same-origin"}})
	if res.code != http.StatusSeeOther {
		t.Fatalf("same-origin form: %d %s", res.code, res.body)
	}
	res = e.do(req{Method: "POST", Path: "/api/v1" + path, Cookie: c.Value, Type: "application/json", Body: `{"status":"proposed"}`,
		Header: map[string]string{"X-CSRF-Token": tok}})
	if res.code != http.StatusOK {
		t.Fatalf("cookie + X-CSRF-Token: %d %s", res.code, res.body)
	}
	// A bearer token needs no CSRF token.
	res = e.do(req{Method: "POST", Path: "/api/v1" + path, Token: e.tokens["maint"], Type: "application/json", Body: `{"status":"approved"}`})
	if res.code != http.StatusOK {
		t.Fatalf("bearer: %d %s", res.code, res.body)
	}
}

func TestAPITokens(t *testing.T) {
	e := newAuthEnv(t, Config{})
	for name, hdr := range map[string]string{"unknown token": "Bearer pwt_nope", "basic auth": "Basic dXNlcjpwYXNz", "empty bearer": "Bearer "} {
		res := e.do(req{Path: "/api/v1/lists", Header: map[string]string{"Authorization": hdr}})
		if res.code != http.StatusUnauthorized || res.header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: %d", name, res.code)
		}
	}
	// Create a token on the account page, use it, revoke it.
	c := e.signin("user@example.org")
	tok := e.csrf(c.Value)
	res := e.do(req{Method: "POST", Path: "/account/tokens", Cookie: c.Value, Body: "name=laptop&csrf=" + tok})
	m := regexp.MustCompile(`<pre id="new-token">(pwt_[A-Za-z0-9_-]+)</pre>`).FindSubmatch(res.body)
	if res.code != 200 || m == nil {
		t.Fatalf("create token: %d %s", res.code, res.body)
	}
	secret := string(m[1])
	if res := e.do(req{Path: "/account", Cookie: c.Value}); strings.Contains(string(res.body), secret) || !strings.Contains(string(res.body), "laptop") {
		t.Fatal("the token secret is shown again, or the token is not listed")
	}
	if res := e.do(req{Path: "/api/v1/lists/pub", Token: secret}); res.code != 200 {
		t.Fatalf("with the new token: %d", res.code)
	}
	if res := e.do(req{Method: "POST", Path: "/account/tokens", Cookie: c.Value, Body: "name=&csrf=" + tok}); res.code != http.StatusBadRequest {
		t.Fatalf("unnamed token: %d", res.code)
	}
	ts, _ := e.acc.Tokens(context.Background(), e.h.currentUserByToken(t, secret).ID)
	var id int64
	for _, x := range ts {
		if x.Name == "laptop" {
			id = x.ID
		}
	}
	if res := e.do(req{Method: "POST", Path: fmt.Sprintf("/account/tokens/%d/revoke", id), Cookie: c.Value, Body: "csrf=" + tok}); res.code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: "/api/v1/lists/pub", Token: secret}); res.code != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", res.code)
	}
}

// currentUserByToken resolves a token the way the handler does.
func (h *Handler) currentUserByToken(t *testing.T, tok string) *store.User {
	u, err := h.acc.TokenUser(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestStatusChangeMatrix: who may change a status through the API, and
// every error answer.
func TestStatusChangeMatrix(t *testing.T) {
	e := newAuthEnv(t, Config{})
	post := func(list, token, body string) response {
		return e.do(req{Method: "POST", Path: fmt.Sprintf("/api/v1/series/%d/status", e.series[list]), Token: token,
			Type: "application/json", Body: body})
	}
	approve := `{"status":"approved","comment":"ok"}`
	for _, tc := range []struct {
		list, who string
		want      int
	}{
		{"pub", "", http.StatusUnauthorized},
		{"hid", "", http.StatusUnauthorized},
		{"sec", "", http.StatusNotFound},
		{"pub", "user", http.StatusForbidden},
		{"sec", "user", http.StatusNotFound},
		{"pub", "maint", http.StatusForbidden}, // a role on sec only
		{"sec", "maint", http.StatusOK},
		{"sec", "owner", http.StatusConflict}, // already approved by maint
		{"pub", "admin", http.StatusOK},
		{"hid", "admin", http.StatusOK},
	} {
		res := post(tc.list, e.tokens[tc.who], approve)
		if res.code != tc.want {
			t.Errorf("%s on %s: %d %s, want %d", tc.who, tc.list, res.code, res.body, tc.want)
		}
	}
	for body, want := range map[string]int{
		`{"status":"superseded"}`: http.StatusBadRequest,
		`{"status":"merged"}`:     http.StatusBadRequest,
		`{"status":1}`:            http.StatusBadRequest,
		`{"status":"rejected"} x`: http.StatusBadRequest,
		`{"stat":"rejected"}`:     http.StatusBadRequest,
		``:                        http.StatusBadRequest,
	} {
		if res := post("sec", e.tokens["owner"], body); res.code != want {
			t.Errorf("body %q: %d %s, want %d", body, res.code, res.body, want)
		}
	}
	if res := e.do(req{Method: "POST", Path: "/api/v1/series/999/status", Token: e.tokens["admin"], Type: "application/json", Body: approve}); res.code != http.StatusNotFound {
		t.Errorf("unknown series: %d", res.code)
	}
	if res := e.do(req{Method: "POST", Path: "/api/v1/series/x/status", Token: e.tokens["admin"], Type: "application/json", Body: approve}); res.code != http.StatusBadRequest {
		t.Errorf("bad id: %d", res.code)
	}
	res := post("sec", e.tokens["owner"], `{"status":"applied","comment":"pushed as abc123"}`)
	var c map[string]any
	json.Unmarshal(res.body, &c)
	if res.code != 200 || c["from"] != "approved" || c["to"] != "applied" || c["comment"] != "pushed as abc123" {
		t.Fatalf("owner applies: %d %s", res.code, res.body)
	}
	// The history is in the series API for readers.
	res = e.do(req{Path: fmt.Sprintf("/api/v1/series/%d", e.series["sec"]), Token: e.tokens["maint"]})
	var s struct {
		Status  string
		History []struct {
			From, To, Comment string
			User              *struct{ Name, Email string }
		}
	}
	if err := json.Unmarshal(res.body, &s); err != nil || s.Status != "applied" || len(s.History) != 2 {
		t.Fatalf("series API: %s", res.body)
	}
	if h := s.History[0]; h.From != "proposed" || h.To != "approved" || h.Comment != "ok" || h.User == nil || h.User.Email != "maint@example.org" {
		t.Fatalf("history[0] = %+v", h)
	}
	if h := s.History[1]; h.User.Email != "owner@example.org" || h.To != "applied" {
		t.Fatalf("history[1] = %+v", h)
	}
}

// TestSeriesPageStatus: the form shows for maintainers only, the history
// for every reader, and the form works.
func TestSeriesPageStatus(t *testing.T) {
	e := newAuthEnv(t, Config{})
	page := fmt.Sprintf("/series/%d/", e.series["pub"])
	if res := e.do(req{Path: page}); res.code != 200 || strings.Contains(string(res.body), "status-form") ||
		!strings.Contains(string(res.body), `<a href="/signin?next=%2Fseries%2F`) {
		t.Fatalf("anonymous series page: %d, form shown: %v", res.code, strings.Contains(string(res.body), "status-form"))
	}
	cu := e.signin("user@example.org")
	if res := e.do(req{Path: page, Cookie: cu.Value}); strings.Contains(string(res.body), "status-form") {
		t.Fatal("a user without role sees the status form")
	}
	c := e.signin("admin@example.org")
	res := e.do(req{Path: page, Cookie: c.Value})
	m := csrfField.FindSubmatch(res.body)
	if !strings.Contains(string(res.body), `class="status-form"`) || m == nil || strings.Contains(string(res.body), `<option value="proposed">`) {
		t.Fatalf("admin's series page lacks the form (or offers the current status): %s", res.body)
	}
	form := url.Values{"status": {"needs_revision"}, "comment": {"<script>alert(1)</script> please rebase"}, "csrf": {string(m[1])}}
	res = e.do(req{Method: "POST", Path: fmt.Sprintf("/series/%d/status", e.series["pub"]), Cookie: c.Value, Body: form.Encode()})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != page+"#status" {
		t.Fatalf("form post: %d %s", res.code, res.body)
	}
	res = e.do(req{Method: "POST", Path: fmt.Sprintf("/series/%d/status", e.series["pub"]), Cookie: c.Value, Body: form.Encode()})
	if res.code != http.StatusConflict {
		t.Fatalf("same status again: %d", res.code)
	}
	res = e.do(req{Path: page})
	body := string(res.body)
	if !strings.Contains(body, "Admin: proposed → <span class=\"status\">needs_revision</span>") ||
		!strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; please rebase") || strings.Contains(body, "<script>") {
		t.Fatalf("history on the page:\n%s", body)
	}
	// Anonymous POST to the form: 403 (no session to act for).
	if res := e.do(req{Method: "POST", Path: fmt.Sprintf("/series/%d/status", e.series["pub"]), Body: "status=approved"}); res.code != http.StatusForbidden {
		t.Fatalf("anonymous form post: %d", res.code)
	}
}

// TestListIndexes: the home page and the API list index show public
// lists to all, unlisted and private ones to members and admins.
func TestListIndexes(t *testing.T) {
	e := newAuthEnv(t, Config{})
	names := func(token string) string {
		res := e.do(req{Path: "/api/v1/lists", Token: token})
		var v struct{ Lists []struct{ Name string } }
		json.Unmarshal(res.body, &v)
		var out []string
		for _, l := range v.Lists {
			out = append(out, l.Name)
		}
		return strings.Join(out, " ")
	}
	for who, want := range map[string]string{"": "pub", "user": "pub", "maint": "pub sec", "admin": "hid pub sec"} {
		if got := names(e.tokens[who]); got != want {
			t.Errorf("API lists for %q: %q, want %q", who, got, want)
		}
	}
	home := string(e.do(req{Path: "/"}).body)
	if !strings.Contains(home, "pub@lists.example.org") || strings.Contains(home, "sec@") || strings.Contains(home, "hid@") {
		t.Errorf("anonymous home page shows the wrong lists:\n%s", home)
	}
	home = string(e.do(req{Path: "/", Token: e.tokens["owner"]}).body)
	if !strings.Contains(home, "sec@lists.example.org") {
		t.Errorf("owner's home page lacks the private list")
	}
	// Unlisted is readable by URL, private is not.
	if res := e.do(req{Path: "/hid/"}); res.code != 200 {
		t.Errorf("unlisted list page: %d", res.code)
	}
}

// TestAllPicksReadableCopy: /all/ serves a message cross-posted to a
// private list and a public one from the list the reader may see.
func TestAllPicksReadableCopy(t *testing.T) {
	e := newAuthEnv(t, Config{})
	ctx := context.Background()
	if _, err := e.st.CreateList(ctx, store.List{Name: "a-sec", Visibility: store.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	if err := in.Post(ctx, review.Post{Lists: []string{"a-sec", "pub"}, Raw: patchMail("pub", "x@example.org", "cross-posted")}); err != nil {
		t.Fatal(err)
	}
	in.Close()
	res := e.do(req{Path: "/all/x@example.org/"})
	if res.code != 200 || !strings.Contains(string(res.body), "cross-posted") {
		t.Fatalf("anonymous /all/ of a cross-posted message: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: "/all/p-sec@example.org/raw"}); res.code != http.StatusNotFound {
		t.Fatalf("anonymous /all/ of a private-only message: %d", res.code)
	}
	if res := e.do(req{Path: "/all/p-sec@example.org/raw", Token: e.tokens["admin"]}); res.code != 200 {
		t.Fatalf("admin /all/ of a private message: %d", res.code)
	}
}

// walkCase is one request of the route walk; member is the code a member
// of the private list gets (anonymous always gets 404).
type walkCase struct {
	method, path, body string
	member             int
}

// TestPrivateListRouteWalk walks every registered route with the private
// list: anonymous (and signed in without a role) gets 404 everywhere, a
// member gets the page. A new route without a case here fails the test.
func TestPrivateListRouteWalk(t *testing.T) {
	e, f := newListsEnv(t) // mlist_test.go: the mailing list routes on
	f.st = nil             // moderation calls only record: each walks alike
	var released, applied []int64
	e.h.cfg.CIRelease = func(ctx context.Context, id int64) error { released = append(released, id); return nil }
	var rerun []int64
	e.h.cfg.CIRerun = rerunFunc(func(ctx context.Context, id int64) error { rerun = append(rerun, id); return nil })
	e.h.cfg.Apply = func(ctx context.Context, id int64, by string) (string, error) {
		applied = append(applied, id)
		return "Applied to main, thanks!", nil
	}
	e.h.cfg.Submit = &fakeSubmitter{list: "sec"}
	e.h.cfg.Workload = e.st
	fid := strings.Repeat("ab", 16)
	id := fmt.Sprint(e.series["sec"])
	held := fmt.Sprint(e.hold("sec", "held"))
	msg := "p-sec@example.org"
	esc := url.PathEscape(msg)
	chk, err := e.st.SetCheck(context.Background(), &store.Check{SeriesID: e.series["sec"], Context: "ci", State: "fail", Log: "boom"})
	if err != nil {
		t.Fatalf("SetCheck() = %v", err)
	}
	chkID := fmt.Sprint(chk.ID)
	// Bundles of the private list, the member's: public (whoever reads
	// the list sees it) and one to delete.
	e.h.cfg.Bundles = e.st
	secPatches, err := e.st.TrackedPatches(context.Background(), store.PatchFilter{Lists: []string{"sec"}, Limit: 10})
	if err != nil || len(secPatches) == 0 {
		t.Fatalf("patches of sec: %v", err)
	}
	maintUser, err := e.acc.TokenUser(context.Background(), e.tokens["maint"])
	if err != nil {
		t.Fatal(err)
	}
	mkBundle := func(name string) string {
		b, err := e.st.CreateBundle(context.Background(), store.Bundle{OwnerID: maintUser.ID, List: "sec", Name: name, Public: true},
			[]int64{secPatches[0].ID})
		if err != nil {
			t.Fatalf("CreateBundle() = %v", err)
		}
		return fmt.Sprint(b.ID)
	}
	bid, bdel, pid := mkBundle("walk"), mkBundle("to delete"), fmt.Sprint(secPatches[0].ID)
	lists := []walkCase{}
	cases := map[string][]walkCase{
		"GET /api/v1/lists/{name}":                     {{"GET", "/api/v1/lists/sec", "", 200}},
		"GET /api/v1/lists/{name}/series":              {{"GET", "/api/v1/lists/sec/series", "", 200}},
		"GET /api/v1/lists/{name}/threads":             {{"GET", "/api/v1/lists/sec/threads", "", 200}},
		"GET /api/v1/series/{id}":                      {{"GET", "/api/v1/series/" + id, "", 200}},
		"GET /api/v1/lists/{name}/threads/{msgid...}":  {{"GET", "/api/v1/lists/sec/threads/" + esc, "", 200}},
		"GET /api/v1/lists/{name}/messages/{msgid...}": {{"GET", "/api/v1/lists/sec/messages/" + esc, "", 200}},
		"GET /api/v1/series/{id}/mbox":                 {{"GET", "/api/v1/series/" + id + "/mbox", "", 200}},
		"GET /series/{id}/{$}":                         {{"GET", "/series/" + id + "/", "", 200}},
		"GET /series/{id}/diff/{other}/{$}":            {{"GET", "/series/" + id + "/diff/" + id + "/", "", 400}},
		"GET /api/v1/series/{id}/diff/{other}":         {{"GET", "/api/v1/series/" + id + "/diff/" + id, "", 400}},
		"POST /{list}/{$}":                             {{"POST", "/sec/?x=m&t=1&q=s:fix", "", 200}},
		"GET /{list}/{rest...}": {
			{"GET", "/sec/", "", 200},
			{"GET", "/sec/?q=s:fix", "", 200},
			{"GET", "/sec/?q=s:fix&x=t", "", 200},
			{"GET", "/sec/?q=s:fix&x=A", "", 200},
			{"GET", "/sec/series.atom", "", 200},
			{"GET", "/sec/_/text/help/", "", 200},
			{"GET", "/sec/" + esc, "", 302},
			{"GET", "/sec/" + esc + "/", "", 200},
			{"GET", "/sec/" + esc + "/raw", "", 200},
			{"GET", "/sec/" + esc + "/t.mbox.gz", "", 200},
			{"GET", "/sec/" + esc + "/T/", "", 200},
			{"GET", "/sec/" + esc + "/t/", "", 200},
			{"GET", "/all/" + esc + "/raw", "", 200},
			{"GET", "/all/" + esc + "/t.mbox.gz", "", 200},
			{"GET", "/all/" + esc + "/", "", 200},
			// The mailing list's pages (mlist.go). A confirmation page
			// reads the same for every list name (the token authorizes):
			// only a malformed token is walked here.
			{"GET", "/sec/confirm?t=bad!", "", 404},
			{"GET", "/sec/unsubscribe?t=00", "", 403},
			{"GET", "/sec/held", "", 200},
			{"GET", "/sec/held/" + held + "/raw", "", 200},
			{"GET", "/sec/submit", "", 200},
		},
		"POST /{list}/submit":                  {{"POST", "/sec/submit", "repo=https%3A%2F%2Fexample.org%2Fr.git&branch=topic", 303}},
		"GET /submit/{id}/{$}":                 {{"GET", "/submit/" + fid + "/", "", 200}},
		"POST /submit/{id}/{$}":                {{"POST", "/submit/" + fid + "/", "action=save&version=1", 200}},
		"POST /{list}/subscribe":               {{"POST", "/sec/subscribe", "email=a%40example.org", 200}},
		"POST /{list}/confirm":                 {{"POST", "/sec/confirm", "t=00", 404}},
		"POST /{list}/unsubscribe":             {{"POST", "/sec/unsubscribe?t=00", "List-Unsubscribe=One-Click", 403}},
		"GET /api/v1/lists/{name}/subscribers": {{"GET", "/api/v1/lists/sec/subscribers", "", 200}},
		"GET /api/v1/lists/{name}/held":        {{"GET", "/api/v1/lists/sec/held", "", 200}},
		"POST /{list}/held/{id}/reject":        {{"POST", "/sec/held/" + held + "/reject", "", 303}},
		"POST /api/v1/held/{id}/approve":       {{"POST", "/api/v1/held/" + held + "/approve", "", 200}},
		"POST /{list}/held/{id}/approve":       {{"POST", "/sec/held/" + held + "/approve", "", 303}},
		"POST /api/v1/held/{id}/reject":        {{"POST", "/api/v1/held/" + held + "/reject", "", 200}},
		"POST /series/{id}/status":             {{"POST", "/series/" + id + "/status", "status=approved", 303}},
		"POST /api/v1/series/{id}/status":      {{"POST", "/api/v1/series/" + id + "/status", `{"status":"rejected"}`, 200}},
		"GET /api/v1/series/{id}/comments":     {{"GET", "/api/v1/series/" + id + "/comments", "", 200}},
		"GET /api/v1/series/{id}/checks":       {{"GET", "/api/v1/series/" + id + "/checks", "", 200}},
		"POST /api/v1/series/{id}/checks":      {{"POST", "/api/v1/series/" + id + "/checks", `{"context":"other-ci","state":"success"}`, 201}},
		"POST /api/v1/series/{id}/ci/release":  {{"POST", "/api/v1/series/" + id + "/ci/release", "", 200}},
		"POST /series/{id}/ci/release":         {{"POST", "/series/" + id + "/ci/release", "", 303}},
		"POST /api/v1/series/{id}/ci/rerun":    {{"POST", "/api/v1/series/" + id + "/ci/rerun", "", 202}},
		"POST /series/{id}/ci/rerun":           {{"POST", "/series/" + id + "/ci/rerun", "", 303}},
		"GET /series/{id}/compare":             {{"GET", "/series/" + id + "/compare?from=1&to=2", "", 303}},
		"POST /api/v1/series/{id}/apply":       {{"POST", "/api/v1/series/" + id + "/apply", "", 200}},
		"POST /series/{id}/apply":              {{"POST", "/series/" + id + "/apply", "", 303}},
		"GET /api/v1/checks/{id}/log":          {{"GET", "/api/v1/checks/" + chkID + "/log", "", 200}},
		"POST /api/v1/series/{id}/comments":    {{"POST", "/api/v1/series/" + id + "/comments", `{"summary":"Looks good."}`, 201}},
		"POST /series/{id}/review":             {{"POST", "/series/" + id + "/review", "summary=Looks+good.", 303}},
		"POST /series/{id}/draft":              {{"POST", "/series/" + id + "/draft", "op=delete&id=1", 303}},
		"POST /series/{id}/submit":             {{"POST", "/series/" + id + "/submit", "verdict=discard", 303}},
		// No such comment: a member learns that, others only that there is no series.
		"POST /api/v1/series/{id}/comments/resolve": {{"POST", "/api/v1/series/" + id + "/comments/resolve",
			`{"key":{"reply_message_id":"r@x","patch_message_id":"p@x","file":"f","side":"new","line":1},"resolved":true}`, 404}},
		"POST /series/{id}/comments/resolve": {{"POST", "/series/" + id + "/comments/resolve", "resolve=" + url.QueryEscape("r=r@x&p=p@x&f=f&s=new&l=1"), 404}},
		"GET /series/{id}/context":           {{"GET", "/series/" + id + "/context?patch=1&file=0&from=1&to=2&d=0", "", 404}},
		"POST /series/{id}/viewed":           {{"POST", "/series/" + id + "/viewed", "patch=x&path=a", 400}},
		"GET /bundle/{id}/{$}":               {{"GET", "/bundle/" + bid + "/", "", 200}},
		"GET /bundle/{id}/mbox":              {{"GET", "/bundle/" + bid + "/mbox", "", 200}},
		"POST /series/{id}/bundle":           {{"POST", "/series/" + id + "/bundle", "bundle=" + bid, 303}},
		"POST /bundle/{id}/rename":           {{"POST", "/bundle/" + bid + "/rename", "name=walked", 303}},
		"POST /bundle/{id}/remove":           {{"POST", "/bundle/" + bid + "/remove", "patch=" + pid, 303}},
		"POST /bundle/{id}/public":           {{"POST", "/bundle/" + bid + "/public", "public=1", 303}},
		"POST /bundle/{id}/delete":           {{"POST", "/bundle/" + bdel + "/delete", "", 303}},
		"POST /series/{id}/delegate":         {{"POST", "/series/" + id + "/delegate", "delegate=", 303}},
		"POST /{list}/bulk":                  {{"POST", "/sec/bulk", "series=" + id + "&do=archive", 200}},
	}
	// Routes that show no list's data (the indexes are checked by
	// TestListIndexes).
	noList := map[string]bool{
		"GET /{$}": true, "GET /healthz": true, "GET /readyz": true, "GET /livez": true, "GET /api/{rest...}": true, "GET /api/v1/lists": true, "GET /static/style.css": true, "GET /static/drafts.js": true, "GET /static/review.js": true, "GET /": true,
		"GET /signin": true, "POST /signin": true, "POST /signout": true, "GET /signup": true, "POST /signup": true,
		"GET /confirm/{token}": true, "GET /account": true, "POST /account/password": true, "POST /account/tokens": true, "POST /account/tokens/{id}/revoke": true,
		"POST /account/notifications": true,
		// The lists the reader may read, by access.Allowed: TestMyReviews.
		"GET /account/reviews": true,
		// The user's own bundles; a new one only on a list they read:
		// TestBundlePages.
		"GET /account/bundles": true, "POST /account/bundles": true,
	}
	for _, p := range e.h.mux.patterns {
		if noList[p] {
			continue
		}
		cs, ok := cases[p]
		if !ok {
			t.Errorf("route %q has no case in the private-list walk: add one", p)
			continue
		}
		lists = append(lists, cs...)
	}
	seriesID := regexp.MustCompile(`/series/` + id + `(/|$)`)
	for _, c := range lists {
		for _, who := range []string{"", "user"} {
			res := e.do(req{Method: c.method, Path: c.path, Body: c.body, Token: e.tokens[who]})
			if res.code != http.StatusNotFound {
				t.Errorf("%s %s as %q: %d %s, want 404", c.method, c.path, who, res.code, res.body)
			}
			// The answer is the same as for an unknown list, series or
			// message: nothing tells that the private one exists.
			unknown := seriesID.ReplaceAllString(strings.ReplaceAll(c.path, "sec", "nosuchlist"), "/series/999999$1")
			other := e.do(req{Method: c.method, Path: unknown, Body: c.body, Token: e.tokens[who]})
			if other.code != res.code || string(other.body) != string(res.body) {
				t.Errorf("%s %s: private %d %q, unknown (%s) %d %q", c.method, c.path, res.code, res.body, unknown, other.code, other.body)
			}
		}
		res := e.do(req{Method: c.method, Path: c.path, Body: c.body, Token: e.tokens["maint"]})
		if res.code != c.member {
			t.Errorf("%s %s as member: %d %s, want %d", c.method, c.path, res.code, res.body, c.member)
		}
		if strings.HasSuffix(c.path, ".gz") || strings.Contains(c.path, "x=m") {
			if zr, err := gzip.NewReader(bytes.NewReader(res.body)); err != nil {
				t.Errorf("%s: not gzip", c.path)
			} else if b, _ := io.ReadAll(zr); !bytes.Contains(b, []byte("Message-ID: <"+msg+">")) {
				t.Errorf("%s: the member's mbox lacks the message", c.path)
			}
		}
	}
	if len(lists) < 20 {
		t.Fatalf("walked only %d requests", len(lists))
	}
	// Only the member's two requests reached the go-ahead and apply.
	if len(released) != 2 || released[0] != e.series["sec"] {
		t.Errorf("CI released for %v, want the member's two requests", released)
	}
	if len(rerun) != 2 || rerun[0] != e.series["sec"] {
		t.Errorf("CI re-run for %v, want the member's two requests", rerun)
	}
	if len(applied) != 2 || applied[0] != e.series["sec"] {
		t.Errorf("applied %v, want the member's two requests", applied)
	}
}

// TestAllSearchScope: a search across /all/ covers the lists /all/ shows
// the reader: never a private list they are not a member of, nor an
// unlisted one; a member of the private list finds its mail too.
func TestAllSearchScope(t *testing.T) {
	e := newAuthEnv(t, Config{})
	for _, c := range []struct {
		who       string
		want, not []string
	}{
		{"", []string{"p-pub@"}, []string{"p-sec@", "p-hid@"}},
		{"user", []string{"p-pub@"}, []string{"p-sec@", "p-hid@"}},
		{"maint", []string{"p-pub@", "p-sec@"}, []string{"p-hid@"}},
	} {
		page := e.do(req{Path: "/all/?q=s:fix", Token: e.tokens[c.who]})
		post := e.do(req{Method: "POST", Path: "/all/?x=m&t=1&q=s:fix", Token: e.tokens[c.who]})
		if page.code != 200 || post.code != 200 {
			t.Fatalf("as %q: page %d, POST %d %s", c.who, page.code, post.code, post.body)
		}
		zr, err := gzip.NewReader(bytes.NewReader(post.body))
		if err != nil {
			t.Fatalf("as %q: POST answer not gzip: %v", c.who, err)
		}
		mbox, _ := io.ReadAll(zr)
		threads := e.do(req{Path: "/all/?q=s:fix&x=t", Token: e.tokens[c.who]})
		feed := e.do(req{Path: "/all/?q=s:fix&x=A", Token: e.tokens[c.who]})
		if threads.code != 200 || feed.code != 200 {
			t.Fatalf("as %q: x=t %d, x=A %d", c.who, threads.code, feed.code)
		}
		for _, id := range c.want {
			if !bytes.Contains(page.body, []byte(id)) || !bytes.Contains(mbox, []byte("Message-ID: <"+id)) ||
				!bytes.Contains(threads.body, []byte(id)) || !bytes.Contains(feed.body, []byte(id)) {
				t.Errorf("as %q: %s missing from the search page, its x=t or x=A view, or the mbox", c.who, id)
			}
		}
		for _, id := range c.not {
			if bytes.Contains(page.body, []byte(id)) || bytes.Contains(mbox, []byte(id)) ||
				bytes.Contains(threads.body, []byte(id)) || bytes.Contains(feed.body, []byte(id)) {
				t.Errorf("as %q: %s leaked into an /all/ search", c.who, id)
			}
		}
	}
}

// TestRevisionDiffHidesPrivateSide: comparing a public series with a
// private one answers as if the private one did not exist, for both
// orders, on the page and in the API.
func TestRevisionDiffHidesPrivateSide(t *testing.T) {
	e := newAuthEnv(t, Config{})
	pub, sec := fmt.Sprint(e.series["pub"]), fmt.Sprint(e.series["sec"])
	for _, path := range []string{
		"/api/v1/series/" + pub + "/diff/" + sec, "/api/v1/series/" + sec + "/diff/" + pub,
		"/series/" + pub + "/diff/" + sec + "/", "/series/" + sec + "/diff/" + pub + "/",
	} {
		got := e.do(req{Path: path})
		unknown := e.do(req{Path: strings.ReplaceAll(path, "/"+sec, "/999999")})
		if got.code != http.StatusNotFound || got.code != unknown.code || string(got.body) != string(unknown.body) {
			t.Errorf("%s: %d %s; unknown series: %d %s", path, got.code, got.body, unknown.code, unknown.body)
		}
	}
}

// TestSignUpByMail: with SendMail the confirmation link goes to the
// address (and not to the log); a failed send says so and sends again on
// the next try.
func TestSignUpByMail(t *testing.T) {
	type mailed struct{ to, subject, body string }
	var sent []mailed
	fail := true
	e := newAuthEnv(t, Config{Signup: true, SendMail: func(ctx context.Context, to, subject, body string) error {
		if fail {
			fail = false
			return errors.New("smarthost down")
		}
		sent = append(sent, mailed{to, subject, body})
		return nil
	}})
	form := url.Values{"email": {"cat@example.org"}, "name": {"Cat"}, "password": {authPassword}, "password2": {authPassword}}
	if res := e.do(req{Method: "POST", Path: "/signup", Body: form.Encode()}); res.code != http.StatusServiceUnavailable || !strings.Contains(string(res.body), "could not be sent") {
		t.Fatalf("sign-up with the mail failing: %d %s", res.code, res.body)
	}
	// The account was made; the same person asking again (same
	// password) gets a new link, this time mailed.
	res := e.do(req{Method: "POST", Path: "/signup", Body: form.Encode()})
	if res.code != 200 || len(sent) != 1 || sent[0].to != "cat@example.org" {
		t.Fatalf("sign-up again after the failure: %d, sent %+v", res.code, sent)
	}
	sent = nil
	form.Set("email", "dan@example.org")
	res = e.do(req{Method: "POST", Path: "/signup", Body: form.Encode()})
	if res.code != 200 || !strings.Contains(string(res.body), "mailed to that address") {
		t.Fatalf("sign-up: %d %s", res.code, res.body)
	}
	if len(sent) != 1 || sent[0].to != "dan@example.org" {
		t.Fatalf("sent: %+v", sent)
	}
	link := regexp.MustCompile(`http://[^/\s]+(/confirm/pwc_[A-Za-z0-9_-]+)`).FindStringSubmatch(sent[0].body)
	if link == nil {
		t.Fatalf("no link in the mail:\n%s", sent[0].body)
	}
	if strings.Contains(e.logs.String(), "/confirm/pwc_") {
		t.Error("the link was logged although it was mailed")
	}
	if res := e.do(req{Path: link[1]}); res.code != 200 || !strings.Contains(string(res.body), "is confirmed") {
		t.Fatalf("confirm: %d %s", res.code, res.body)
	}
}
