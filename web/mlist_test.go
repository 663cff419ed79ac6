package web

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/lists"
	"patchwell/outbound"
	"patchwell/review"
	"patchwell/store"
)

// fakeLists is a ListServer that records its calls. With st set, Approve
// and Reject decide the held message in the store (as lists.Server does,
// without archiving or mail), so conflicts are real.
type fakeLists struct {
	mu    sync.Mutex
	calls []string
	st    store.Store
}

func (f *fakeLists) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
}

func (f *fakeLists) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

const goodConfirm = "0123456789abcdef0123456789abcdef"

func (f *fakeLists) RequestSubscription(ctx context.Context, list, email string) error {
	f.record("subscribe %s %s", list, email)
	return nil
}

func (f *fakeLists) Confirm(ctx context.Context, token string) (string, error) {
	f.record("confirm %s", token)
	if token != goodConfirm {
		return "", fmt.Errorf("confirmation: %w", store.ErrNotFound)
	}
	return "ann@example.org is now subscribed to <pub@lists.example.org>. Welcome!", nil
}

func (f *fakeLists) Unsubscribe(ctx context.Context, list, email string) error {
	f.record("unsubscribe %s %s", list, email)
	return nil
}

func (f *fakeLists) Approve(ctx context.Context, id int64, by string) error {
	f.record("approve %d %s", id, by)
	if f.st != nil {
		return f.st.DecideHeld(ctx, id, store.HeldApproved, by, time.Now())
	}
	return nil
}

func (f *fakeLists) Reject(ctx context.Context, id int64, by string) error {
	f.record("reject %d %s", id, by)
	if f.st != nil {
		return f.st.DecideHeld(ctx, id, store.HeldRejected, by, time.Now())
	}
	return nil
}

var _ ListServer = (*lists.Server)(nil)

// The one-click unsubscribe tokens of these tests are outbound's, under a
// test secret: what serve wires.
var unsubSecret = []byte("test unsubscribe secret")

func unsubCheck(list, token string) (string, bool) {
	return outbound.CheckUnsubscribeToken(unsubSecret, list, token)
}

// newListsEnv is newAuthEnv with the mailing list on: a recording list
// server, the test unsubscribe tokens.
func newListsEnv(t *testing.T) (*authEnv, *fakeLists) {
	t.Helper()
	f := &fakeLists{}
	e := newAuthEnv(t, Config{Lists: f, UnsubscribeCheck: unsubCheck})
	f.st = e.st
	return e, f
}

// hold keeps a message for moderation on list and returns its id.
func (e *authEnv) hold(list, subject string) int64 {
	e.t.Helper()
	raw := "From: Mallory <mallory@example.net>\r\nSubject: " + subject + "\r\nMessage-ID: <held-" + list + "@example.net>\r\n\r\nbody <b>bold</b>\r\n"
	id, err := e.st.Hold(context.Background(), &store.Held{List: list, Raw: []byte(raw), MessageID: "held-" + list + "@example.net",
		From: "mallory@example.net", Subject: subject, Reason: "the list is moderated", Arrived: time.Now()})
	if err != nil {
		e.t.Fatalf("Hold() = %v", err)
	}
	return id
}

var acceptHTML = map[string]string{"Accept": "text/html"}

func TestListPageMailingList(t *testing.T) {
	e, _ := newListsEnv(t)
	for _, c := range []struct {
		who       string
		want, not []string
	}{
		{"", []string{`action="/pub/subscribe"`, `href="mailto:pub+subscribe@lists.example.org"`, `href="mailto:pub+unsubscribe@lists.example.org"`,
			`href="mailto:pub+help@lists.example.org"`, `href="mailto:pub+owner@lists.example.org"`, `href="mailto:pub@lists.example.org"`}, []string{"/pub/held"}},
		{"admin", []string{`action="/pub/subscribe"`, `href="/pub/held"`}, nil},
		{"user", []string{`action="/pub/subscribe"`}, []string{"/pub/held"}},
	} {
		res := e.do(req{Path: "/pub/", Token: e.tokens[c.who]})
		if res.code != 200 {
			t.Fatalf("as %q: %d %s", c.who, res.code, res.body)
		}
		page := html.UnescapeString(string(res.body)) // "+" is &#43;
		for _, s := range c.want {
			if !strings.Contains(page, s) {
				t.Errorf("as %q: list page lacks %q", c.who, s)
			}
		}
		for _, s := range c.not {
			if strings.Contains(string(res.body), s) {
				t.Errorf("as %q: list page shows %q", c.who, s)
			}
		}
	}
	// Without a list server: neither the form nor the addresses.
	off := newAuthEnv(t, Config{})
	res := off.do(req{Path: "/pub/"})
	if page := html.UnescapeString(string(res.body)); res.code != 200 || strings.Contains(page, "/pub/subscribe") || strings.Contains(page, "pub+help@") {
		t.Errorf("lists off: %d, the page shows the mailing list", res.code)
	}
	if res := off.do(req{Method: "POST", Path: "/pub/subscribe", Body: "email=a%40example.org"}); res.code != 404 {
		t.Errorf("lists off: subscribe %d, want 404", res.code)
	}
}

func TestSubscribeForm(t *testing.T) {
	e, f := newListsEnv(t)
	cookie := e.signin("user@example.org").Value
	csrf := e.csrf(cookie)
	for _, c := range []struct {
		name   string
		q      req
		code   int
		want   string
		called string
	}{
		{"anonymous", req{Method: "POST", Path: "/pub/subscribe", Body: "email=ann%40example.org", Header: acceptHTML}, 200, "Check your mail", "subscribe pub ann@example.org"},
		{"signed in", req{Method: "POST", Path: "/pub/subscribe", Body: "email=bob%40example.org&csrf=" + csrf, Cookie: cookie, Header: acceptHTML}, 200, "Check your mail", "subscribe pub bob@example.org"},
		{"no csrf", req{Method: "POST", Path: "/pub/subscribe", Body: "email=bob%40example.org", Cookie: cookie}, 403, "csrf", ""},
		{"cross origin", req{Method: "POST", Path: "/pub/subscribe", Body: "email=bob%40example.org", Header: map[string]string{"Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin", ""},
		{"not an address", req{Method: "POST", Path: "/pub/subscribe", Body: "email=%3Cscript%3E", Header: acceptHTML}, 400, "&lt;script&gt;", ""},
		{"name and address", req{Method: "POST", Path: "/pub/subscribe", Body: "email=Ann+%3Cann%40example.org%3E"}, 400, "not an e-mail address", ""},
		{"private, anonymous", req{Method: "POST", Path: "/sec/subscribe", Body: "email=ann%40example.org"}, 404, "list not found", ""},
		{"private, no role", req{Method: "POST", Path: "/sec/subscribe", Body: "email=ann%40example.org", Token: e.tokens["user"]}, 404, "list not found", ""},
		{"private, member", req{Method: "POST", Path: "/sec/subscribe", Body: "email=maint%40example.org", Token: e.tokens["maint"]}, 200, "Check your mail", "subscribe sec maint@example.org"},
		{"unknown list", req{Method: "POST", Path: "/nosuch/subscribe", Body: "email=ann%40example.org"}, 404, "list not found", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.Calls())
			res := e.do(c.q)
			if res.code != c.code || !strings.Contains(string(res.body), c.want) {
				t.Fatalf("%d %s, want %d with %q", res.code, res.body, c.code, c.want)
			}
			calls := f.Calls()[before:]
			if c.called == "" && len(calls) != 0 || c.called != "" && (len(calls) != 1 || calls[0] != c.called) {
				t.Errorf("calls %q, want %q", calls, c.called)
			}
		})
	}
}

func TestConfirmPages(t *testing.T) {
	e, f := newListsEnv(t)
	cookie := e.signin("user@example.org").Value
	csrf := e.csrf(cookie)
	// A GET shows a button and changes nothing: mail scanners follow links.
	res := e.do(req{Path: "/pub/confirm?t=" + goodConfirm, Header: acceptHTML})
	if res.code != 200 || !strings.Contains(string(res.body), `name="t" value="`+goodConfirm+`"`) ||
		!strings.Contains(string(res.body), `action="/pub/confirm"`) || len(f.Calls()) != 0 {
		t.Fatalf("GET confirm: %d %s, calls %q", res.code, res.body, f.Calls())
	}
	for _, c := range []struct {
		name   string
		q      req
		code   int
		want   string
		called bool
	}{
		{"bad token form", req{Path: "/pub/confirm?t=../x", Header: acceptHTML}, 404, "confirmation not found", false},
		{"no token", req{Path: "/pub/confirm"}, 404, "confirmation not found", false},
		{"post", req{Method: "POST", Path: "/pub/confirm", Body: "t=" + goodConfirm, Header: acceptHTML}, 200, "now subscribed to &lt;pub@lists.example.org&gt;", true},
		{"post unknown", req{Method: "POST", Path: "/pub/confirm", Body: "t=ffff", Header: acceptHTML}, 404, "confirmation not found", true},
		{"post signed in", req{Method: "POST", Path: "/pub/confirm", Body: "t=" + goodConfirm + "&csrf=" + csrf, Cookie: cookie}, 200, "Welcome", true},
		{"post no csrf", req{Method: "POST", Path: "/pub/confirm", Body: "t=" + goodConfirm, Cookie: cookie}, 403, "csrf", false},
		// The token, not the reader, authorizes: a private list's
		// subscriber may be signed out.
		{"post private", req{Method: "POST", Path: "/sec/confirm", Body: "t=" + goodConfirm}, 200, "Welcome", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.Calls())
			res := e.do(c.q)
			if res.code != c.code || !strings.Contains(string(res.body), c.want) {
				t.Fatalf("%d %s, want %d with %q", res.code, res.body, c.code, c.want)
			}
			if got := len(f.Calls()) > before; got != c.called {
				t.Errorf("called %v, want %v", got, c.called)
			}
		})
	}
	// The page of a private list reads as that of an unknown one.
	sec := e.do(req{Path: "/sec/confirm?t=" + goodConfirm})
	none := e.do(req{Path: "/nosuchlist/confirm?t=" + goodConfirm})
	if sec.code != 200 || none.code != 200 || strings.ReplaceAll(string(none.body), "nosuchlist", "sec") != string(sec.body) {
		t.Errorf("private %d, unknown %d: pages differ", sec.code, none.code)
	}
}

func TestOneClickUnsubscribe(t *testing.T) {
	e, f := newListsEnv(t)
	cookie := e.signin("user@example.org").Value
	csrf := e.csrf(cookie)
	link := func(list, email string) string {
		return "/" + list + "/unsubscribe?t=" + outbound.UnsubscribeToken(unsubSecret, list, email)
	}
	// A token whose address is changed: its MAC no longer matches.
	forged := "/pub/unsubscribe?t=" + base64.RawURLEncoding.EncodeToString([]byte("bob@example.org")) +
		outbound.UnsubscribeToken(unsubSecret, "pub", "ann@example.org")[len(base64.RawURLEncoding.EncodeToString([]byte("ann@example.org"))):]
	oneClick := "List-Unsubscribe=One-Click"
	// What a mail provider's server sends: no cookie, no CSRF token,
	// perhaps another site's origin.
	mailer := map[string]string{"Origin": "https://mail.example.com", "Sec-Fetch-Site": "cross-site"}
	for _, c := range []struct {
		name   string
		q      req
		code   int
		want   string
		called string
	}{
		{"one-click", req{Method: "POST", Path: link("pub", "ann@example.org"), Body: oneClick}, 200, "no longer subscribed", "unsubscribe pub ann@example.org"},
		{"one-click cross-origin", req{Method: "POST", Path: link("pub", "ann@example.org"), Body: oneClick, Header: mailer}, 200, "no longer subscribed", "unsubscribe pub ann@example.org"},
		{"one-click private", req{Method: "POST", Path: link("sec", "ann@example.org"), Body: oneClick}, 200, "no longer subscribed", "unsubscribe sec ann@example.org"},
		{"page button", req{Method: "POST", Path: link("pub", "ann@example.org"), Body: oneClick + "&csrf=" + csrf, Cookie: cookie}, 200, "no longer subscribed", "unsubscribe pub ann@example.org"},
		{"cookie without csrf", req{Method: "POST", Path: link("pub", "ann@example.org"), Body: oneClick, Cookie: cookie}, 403, "csrf", ""},
		{"no body", req{Method: "POST", Path: link("pub", "ann@example.org")}, 400, "One-Click", ""},
		{"token of another address", req{Method: "POST", Path: forged, Body: oneClick, Header: acceptHTML}, 403, "not valid", ""},
		{"token with other characters", req{Method: "POST", Path: "/pub/unsubscribe?t=" + url.QueryEscape(outbound.UnsubscribeToken(unsubSecret, "pub", "ann@example.org")+"<"), Body: oneClick}, 403, "not valid", ""},
		{"token of another list", req{Method: "POST", Path: strings.Replace(link("hid", "ann@example.org"), "/hid/", "/pub/", 1), Body: oneClick}, 403, "not valid", ""},
		{"no token", req{Method: "POST", Path: "/pub/unsubscribe", Body: oneClick}, 403, "not valid", ""},
		{"bad token, private", req{Method: "POST", Path: "/sec/unsubscribe?t=00", Body: oneClick}, 404, "list not found", ""},
		{"bad token, private member", req{Method: "POST", Path: "/sec/unsubscribe?t=00", Body: oneClick, Token: e.tokens["maint"]}, 403, "not valid", ""},
		{"page", req{Path: link("pub", "ann@example.org"), Header: acceptHTML}, 200, `name="List-Unsubscribe" value="One-Click"`, ""},
		{"page bad token", req{Path: "/pub/unsubscribe?t=00"}, 403, "not valid", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.Calls())
			res := e.do(c.q)
			if res.code != c.code || !strings.Contains(string(res.body), c.want) {
				t.Fatalf("%d %s, want %d with %q", res.code, res.body, c.code, c.want)
			}
			calls := f.Calls()[before:]
			if c.called == "" && len(calls) != 0 || c.called != "" && (len(calls) != 1 || calls[0] != c.called) {
				t.Errorf("calls %q, want %q", calls, c.called)
			}
		})
	}
	// The page's form posts what a one-click client posts, to the link.
	page := e.do(req{Path: link("pub", "ann@example.org")})
	if want := `action="` + strings.ReplaceAll(link("pub", "ann@example.org"), "&", "&amp;") + `"`; !strings.Contains(string(page.body), want) {
		t.Errorf("page lacks %s: %s", want, page.body)
	}
	// Without UnsubscribeCheck every link is refused.
	e.h.cfg.UnsubscribeCheck = nil
	if res := e.do(req{Method: "POST", Path: link("pub", "ann@example.org"), Body: oneClick}); res.code != 403 {
		t.Errorf("without a checker: %d %s", res.code, res.body)
	}
}

func TestModerationPage(t *testing.T) {
	e, f := newListsEnv(t)
	sec := e.hold("sec", "<script>alert(1)</script> spam")
	pub := e.hold("pub", "pub spam")
	maint := e.signin("maint@example.org").Value
	csrf := e.csrf(maint)
	user := e.signin("user@example.org").Value
	res := e.do(req{Path: "/sec/held", Cookie: maint})
	body := string(res.body)
	if res.code != 200 || !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt; spam") || strings.Contains(body, "<script>") ||
		!strings.Contains(body, fmt.Sprintf(`href="/sec/held/%d/raw"`, sec)) || !strings.Contains(body, fmt.Sprintf(`action="/sec/held/%d/approve"`, sec)) ||
		!strings.Contains(body, `name="csrf" value="`+csrf+`"`) || !strings.Contains(body, "mallory@example.net") || strings.Contains(body, "pub spam") {
		t.Fatalf("moderation page: %d %s", res.code, body)
	}
	raw := e.do(req{Path: fmt.Sprintf("/sec/held/%d/raw", sec), Cookie: maint})
	if raw.code != 200 || raw.header.Get("Content-Type") != "text/plain; charset=utf-8" || !strings.Contains(string(raw.body), "body <b>bold</b>") {
		t.Errorf("raw: %d %q %s", raw.code, raw.header.Get("Content-Type"), raw.body)
	}
	for _, c := range []struct {
		name   string
		q      req
		code   int
		called string
	}{
		{"anonymous, private", req{Path: "/sec/held"}, 404, ""},
		{"no role, private", req{Path: "/sec/held", Cookie: user}, 404, ""},
		{"no role, public", req{Path: "/pub/held", Cookie: user}, 403, ""},
		{"anonymous, public", req{Path: "/pub/held"}, 303, ""},
		{"admin, public", req{Path: "/pub/held", Token: e.tokens["admin"]}, 200, ""},
		{"raw, no role", req{Path: fmt.Sprintf("/pub/held/%d/raw", pub), Cookie: user}, 403, ""},
		{"raw of another list", req{Path: fmt.Sprintf("/sec/held/%d/raw", pub), Cookie: maint}, 404, ""},
		{"raw, bad id", req{Path: "/sec/held/x/raw", Cookie: maint}, 404, ""},
		{"approve, no csrf", req{Method: "POST", Path: fmt.Sprintf("/sec/held/%d/approve", sec), Cookie: maint}, 403, ""},
		{"approve, no role", req{Method: "POST", Path: fmt.Sprintf("/sec/held/%d/approve", sec), Cookie: user, Body: "csrf=" + e.csrf(user)}, 404, ""},
		{"approve, other list", req{Method: "POST", Path: fmt.Sprintf("/sec/held/%d/approve", pub), Cookie: maint, Body: "csrf=" + csrf}, 404, ""},
		{"approve", req{Method: "POST", Path: fmt.Sprintf("/sec/held/%d/approve", sec), Cookie: maint, Body: "csrf=" + csrf}, 303, fmt.Sprintf("approve %d maint@example.org", sec)},
		{"reject decided", req{Method: "POST", Path: fmt.Sprintf("/sec/held/%d/reject", sec), Cookie: maint, Body: "csrf=" + csrf}, 409, fmt.Sprintf("reject %d maint@example.org", sec)},
		{"reject", req{Method: "POST", Path: fmt.Sprintf("/pub/held/%d/reject", pub), Token: e.tokens["admin"]}, 303, fmt.Sprintf("reject %d admin@example.org", pub)},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.Calls())
			res := e.do(c.q)
			if res.code != c.code {
				t.Fatalf("%d %s, want %d", res.code, res.body, c.code)
			}
			calls := f.Calls()[before:]
			if c.called == "" && len(calls) != 0 || c.called != "" && (len(calls) != 1 || calls[0] != c.called) {
				t.Errorf("calls %q, want %q", calls, c.called)
			}
		})
	}
	if res := e.do(req{Path: "/sec/held", Cookie: maint}); strings.Contains(string(res.body), "alert(1)") {
		t.Errorf("an approved message is still listed")
	}
}

func TestMailingListAPI(t *testing.T) {
	e, f := newListsEnv(t)
	ctx := context.Background()
	for _, s := range []struct{ email, state string }{{"ann@example.org", store.SubActive}, {"bob@example.org", store.SubPending}} {
		if err := e.st.Subscribe(ctx, "sec", s.email, "", s.state); err != nil {
			t.Fatal(err)
		}
	}
	id := e.hold("sec", "spam")
	var subs struct {
		Subscribers []map[string]any `json:"subscribers"`
	}
	res := e.do(req{Path: "/api/v1/lists/sec/subscribers?state=active", Token: e.tokens["maint"]})
	if res.code != 200 || json.Unmarshal(res.body, &subs) != nil || len(subs.Subscribers) != 1 ||
		subs.Subscribers[0]["email"] != "ann@example.org" || subs.Subscribers[0]["name"] != "" {
		t.Fatalf("subscribers: %d %s", res.code, res.body)
	}
	var held struct {
		Held []heldJSON `json:"held"`
	}
	res = e.do(req{Path: "/api/v1/lists/sec/held", Token: e.tokens["owner"]})
	if res.code != 200 || json.Unmarshal(res.body, &held) != nil || len(held.Held) != 1 || held.Held[0].ID != id ||
		held.Held[0].RawURL != fmt.Sprintf("/sec/held/%d/raw", id) || !strings.Contains(string(res.body), `"decided_by":null`) {
		t.Fatalf("held: %d %s", res.code, res.body)
	}
	for _, c := range []struct {
		name   string
		q      req
		code   int
		called string
	}{
		{"subscribers, anonymous private", req{Path: "/api/v1/lists/sec/subscribers"}, 404, ""},
		{"subscribers, no role private", req{Path: "/api/v1/lists/sec/subscribers", Token: e.tokens["user"]}, 404, ""},
		{"subscribers, anonymous public", req{Path: "/api/v1/lists/pub/subscribers"}, 401, ""},
		{"subscribers, no role public", req{Path: "/api/v1/lists/pub/subscribers", Token: e.tokens["user"]}, 403, ""},
		{"subscribers, bad state", req{Path: "/api/v1/lists/sec/subscribers?state=x", Token: e.tokens["maint"]}, 400, ""},
		{"held, no role", req{Path: "/api/v1/lists/sec/held", Token: e.tokens["user"]}, 404, ""},
		{"approve, anonymous", req{Method: "POST", Path: fmt.Sprintf("/api/v1/held/%d/approve", id)}, 404, ""},
		{"approve, no role", req{Method: "POST", Path: fmt.Sprintf("/api/v1/held/%d/approve", id), Token: e.tokens["user"]}, 404, ""},
		{"approve, unknown", req{Method: "POST", Path: "/api/v1/held/999/approve", Token: e.tokens["maint"]}, 404, ""},
		{"approve, bad id", req{Method: "POST", Path: "/api/v1/held/x/approve", Token: e.tokens["maint"]}, 400, ""},
		{"approve", req{Method: "POST", Path: fmt.Sprintf("/api/v1/held/%d/approve", id), Token: e.tokens["maint"]}, 200, fmt.Sprintf("approve %d maint@example.org", id)},
		{"reject decided", req{Method: "POST", Path: fmt.Sprintf("/api/v1/held/%d/reject", id), Token: e.tokens["maint"]}, 409, fmt.Sprintf("reject %d maint@example.org", id)},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := len(f.Calls())
			res := e.do(c.q)
			if res.code != c.code || res.header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("%d %q %s, want %d", res.code, res.header.Get("Content-Type"), res.body, c.code)
			}
			calls := f.Calls()[before:]
			if c.called == "" && len(calls) != 0 || c.called != "" && (len(calls) != 1 || calls[0] != c.called) {
				t.Errorf("calls %q, want %q", calls, c.called)
			}
		})
	}
	// The private message reads the same as an unknown one.
	a := e.do(req{Method: "POST", Path: fmt.Sprintf("/api/v1/held/%d/reject", id), Token: e.tokens["user"]})
	b := e.do(req{Method: "POST", Path: "/api/v1/held/999/reject", Token: e.tokens["user"]})
	if string(a.body) != string(b.body) {
		t.Errorf("private %s, unknown %s", a.body, b.body)
	}
	res = e.do(req{Path: "/api/v1/lists/sec/held?state=approved", Token: e.tokens["maint"]})
	if res.code != 200 || !strings.Contains(string(res.body), `"decided_by":"maint@example.org"`) {
		t.Errorf("approved: %d %s", res.code, res.body)
	}
}

func TestMessageAuthNote(t *testing.T) {
	e, _ := newListsEnv(t)
	ctx := context.Background()
	rec := `{"auth":{"DMARC":"pass","DKIMAligned":true,"FromDomain":"example.org","SignedBy":["example.org","<b>evil</b>"]},` +
		`"command":"X-Patchwell-Status: approved <script>","result":"Not done: ann@example.org has no account here"}`
	if err := e.st.SetMessageAuth(ctx, "pub", "p-pub@example.org", rec); err != nil {
		t.Fatal(err)
	}
	res := e.do(req{Path: "/pub/p-pub@example.org/"})
	body := string(res.body)
	for _, want := range []string{"signed by example.org, &lt;b&gt;evil&lt;/b&gt;", "DMARC pass",
		"X-Patchwell-Status: approved &lt;script&gt; — Not done: ann@example.org has no account here"} {
		if !strings.Contains(body, want) {
			t.Errorf("message page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "<b>evil") {
		t.Errorf("unescaped: %s", body)
	}
	if res := e.do(req{Path: "/hid/p-hid@example.org/"}); strings.Contains(string(res.body), "signed by") {
		t.Errorf("a message without results shows a note")
	}
}

// outboxRecorder is a lists.Outbox that keeps the mail the list writes.
type outboxRecorder struct {
	mu   sync.Mutex
	sent []string
}

func (o *outboxRecorder) Distribute(ctx context.Context, tx store.Tx, l *store.List, a *store.Added, raw []byte, rewrite bool, also []string) error {
	return nil
}

func (o *outboxRecorder) Send(ctx context.Context, list string, rcpts []string, raw []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.sent = append(o.sent, string(raw))
	return nil
}

func (o *outboxRecorder) all() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.sent...)
}

// TestSubscribeConfirmRealServer subscribes through the web with the real
// list server: the form, the confirmation mail's link, its page, its
// button.
func TestSubscribeConfirmRealServer(t *testing.T) {
	e := newAuthEnv(t, Config{})
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := review.NewIngester(e.st, review.Config{Log: log})
	t.Cleanup(func() { in.Close() })
	out := &outboxRecorder{}
	e.h.cfg.Lists = lists.New(e.st, in, nil, out, lists.Config{Domain: "lists.example.org", WebURL: e.base}, log)
	ctx := context.Background()

	res := e.do(req{Method: "POST", Path: "/pub/subscribe", Body: "email=Ann%40Example.org"})
	if res.code != 200 || !strings.Contains(string(res.body), "Check your mail") {
		t.Fatalf("subscribe: %d %s", res.code, res.body)
	}
	sent := out.all()
	if len(sent) != 1 {
		t.Fatalf("sent %d messages, want 1 confirmation", len(sent))
	}
	m := regexp.MustCompile(regexp.QuoteMeta(e.base) + `(/pub/confirm\?t=[0-9a-f]+)`).FindStringSubmatch(sent[0])
	if m == nil {
		t.Fatalf("no confirmation link in %s", sent[0])
	}
	if s, err := e.st.Subscriber(ctx, "pub", "ann@example.org"); err != nil || s.State != store.SubPending {
		t.Fatalf("before confirming: %+v %v", s, err)
	}
	page := e.do(req{Path: m[1]})
	tok := regexp.MustCompile(`name="t" value="([0-9a-f]+)"`).FindSubmatch(page.body)
	if page.code != 200 || tok == nil {
		t.Fatalf("confirm page: %d %s", page.code, page.body)
	}
	if s, _ := e.st.Subscriber(ctx, "pub", "ann@example.org"); s.State != store.SubPending {
		t.Fatalf("the GET changed the state to %s", s.State)
	}
	res = e.do(req{Method: "POST", Path: "/pub/confirm", Body: "t=" + string(tok[1])})
	if res.code != 200 || !strings.Contains(string(res.body), "ann@example.org is now subscribed to pub@lists.example.org") {
		t.Fatalf("confirm: %d %s", res.code, res.body)
	}
	if s, err := e.st.Subscriber(ctx, "pub", "ann@example.org"); err != nil || s.State != store.SubActive {
		t.Fatalf("after confirming: %+v %v", s, err)
	}
	// The token is used up.
	if res := e.do(req{Method: "POST", Path: "/pub/confirm", Body: "t=" + string(tok[1])}); res.code != 404 {
		t.Errorf("second confirm: %d %s", res.code, res.body)
	}
	// One click on the List-Unsubscribe link of a copy (outbound's token),
	// then subscribing afresh.
	e.h.cfg.UnsubscribeCheck = unsubCheck
	res = e.do(req{Method: "POST", Path: "/pub/unsubscribe?t=" + outbound.UnsubscribeToken(unsubSecret, "pub", "ann@example.org"),
		Body: "List-Unsubscribe=One-Click", Header: map[string]string{"Sec-Fetch-Site": "cross-site"}})
	if res.code != 200 || !strings.Contains(string(res.body), "ann@example.org is no longer subscribed") {
		t.Fatalf("one-click unsubscribe: %d %s", res.code, res.body)
	}
	if _, err := e.st.Subscriber(ctx, "pub", "ann@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after one-click unsubscribe: Subscriber() = %v", err)
	}
	if err := e.st.Subscribe(ctx, "pub", "ann@example.org", "", store.SubActive); err != nil {
		t.Fatal(err)
	}
	// Asking again answers the same page: nothing tells who is subscribed.
	again := e.do(req{Method: "POST", Path: "/pub/subscribe", Body: "email=ann%40example.org"})
	other := e.do(req{Method: "POST", Path: "/pub/subscribe", Body: "email=zed%40example.org"})
	if again.code != 200 || string(again.body) != strings.ReplaceAll(string(other.body), "zed@", "ann@") {
		t.Errorf("already subscribed: %d %s\nnew: %s", again.code, again.body, other.body)
	}
	// Asking again must not set an active subscriber back to pending
	// (anyone who knows an address could stop its mail).
	s, err := e.st.Subscriber(ctx, "pub", "ann@example.org")
	if err != nil {
		t.Fatalf("Subscriber() = %v", err)
	}
	if s.State != store.SubActive {
		t.Errorf("asking again left the subscriber %s (want active)", s.State)
	}
}
