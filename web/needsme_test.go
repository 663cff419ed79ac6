package web

import (
	"context"
	"encoding/xml"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// needsMeEnv is newAuthEnv's store and accounts served with "needs me"
// on, plus a series on pub asking user, and one on the private sec
// asking user and maint (only maint may read sec).
func needsMeEnv(t *testing.T) *authEnv {
	t.Helper()
	e := newAuthEnv(t, Config{})
	ctx := context.Background()
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	for _, m := range []struct{ list, id, subject, cc string }{
		{"pub", "ask-pub@example.org", "pub: ask user", "User <user@example.org>"},
		{"sec", "ask-sec@example.org", "sec: ask both", "user@example.org, Maint <maint@example.org>"},
	} {
		raw := strings.Replace(string(patchMail(m.list, m.id, m.subject)), "\r\nSubject:", "\r\nCc: "+m.cc+"\r\nSubject:", 1)
		if err := in.Post(ctx, review.Post{Lists: []string{m.list}, Raw: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	svc := review.NewService(e.st)
	h := New(svc, Config{Domain: "lists.example.org", Accounts: e.acc, NeedsMe: svc}, slog.New(slog.NewTextHandler(t.Output(), nil))).(*Handler)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if n := h.Panics(); n != 0 {
			t.Errorf("Panics() = %d", n)
		}
	})
	e.h, e.base = h, srv.URL
	return e
}

var feedURLRE = regexp.MustCompile(`<pre id="feed-url">([^<]+)</pre>`)

func TestNeedsMePage(t *testing.T) {
	e := needsMeEnv(t)
	// Anonymous: to sign-in, coming back.
	res := e.do(req{Path: "/account/needs-me"})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/signin?next=%2Faccount%2Fneeds-me" {
		t.Fatalf("anonymous: %d %s", res.code, res.header.Get("Location"))
	}
	user := e.signin("user@example.org").Value
	res = e.do(req{Path: "/account/needs-me", Cookie: user})
	body := string(res.body)
	if res.code != 200 || !strings.Contains(body, "Asked to review") || !strings.Contains(body, "pub: ask user") {
		t.Fatalf("user's page: %d %s", res.code, body)
	}
	if strings.Contains(body, "sec: ask both") {
		t.Errorf("user sees a series of the private list sec:\n%s", body)
	}
	if !strings.Contains(body, `<a href="/account/needs-me">Needs me</a>`) {
		t.Errorf("no Needs me link in the header:\n%s", body)
	}
	maint := e.signin("maint@example.org").Value
	res = e.do(req{Path: "/account/needs-me", Cookie: maint})
	if body := string(res.body); res.code != 200 || !strings.Contains(body, "sec: ask both") || strings.Contains(body, "pub: ask user") {
		t.Fatalf("maint's page: %d %s", res.code, body)
	}
	// Someone asked nothing: the page says so.
	owner := e.signin("owner@example.org").Value
	if res = e.do(req{Path: "/account/needs-me", Cookie: owner}); res.code != 200 || !strings.Contains(string(res.body), "Nothing needs you now.") {
		t.Errorf("owner's page: %d %s", res.code, res.body)
	}
}

func TestNeedsMeFeed(t *testing.T) {
	e := needsMeEnv(t)
	user := e.signin("user@example.org").Value
	// No CSRF token: refused.
	if res := e.do(req{Method: "POST", Path: "/account/needs-me/feed", Cookie: user, Body: "x=1"}); res.code != http.StatusForbidden {
		t.Fatalf("POST without csrf: %d %s", res.code, res.body)
	}
	// Anonymous: refused.
	if res := e.do(req{Method: "POST", Path: "/account/needs-me/feed", Body: "x=1"}); res.code != http.StatusForbidden {
		t.Fatalf("anonymous POST: %d %s", res.code, res.body)
	}
	csrf := e.csrf(user)
	make := func() string {
		t.Helper()
		res := e.do(req{Method: "POST", Path: "/account/needs-me/feed", Cookie: user, Body: url.Values{"csrf": {csrf}}.Encode()})
		m := feedURLRE.FindSubmatch(res.body)
		if res.code != 200 || m == nil {
			t.Fatalf("make a feed: %d %s", res.code, res.body)
		}
		u, err := url.Parse(string(m[1]))
		if err != nil {
			t.Fatal(err)
		}
		return u.RequestURI()
	}
	first := make()
	res := e.do(req{Path: first})
	var f struct {
		Title   string `xml:"title"`
		Entries []struct {
			Title   string `xml:"title"`
			Summary string `xml:"summary"`
			Link    struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"entry"`
	}
	if res.code != 200 || res.header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("GET feed: %d %s", res.code, res.body)
	}
	if err := xml.Unmarshal(res.body, &f); err != nil {
		t.Fatalf("feed: %v\n%s", err, res.body)
	}
	if len(f.Entries) != 1 || f.Entries[0].Title != "pub: ask user" || !strings.HasPrefix(f.Entries[0].Summary, "Asked to review") ||
		!strings.HasSuffix(f.Entries[0].Link.Href, fmt.Sprintf("/series/%d/", seriesNamed(t, e, "pub", "pub: ask user"))) {
		t.Errorf("feed entries = %+v", f.Entries)
	}
	// The page now says a feed exists, without showing it.
	if res := e.do(req{Path: "/account/needs-me", Cookie: user}); !strings.Contains(string(res.body), "You made a feed address earlier") ||
		strings.Contains(string(res.body), first) {
		t.Errorf("page after making a feed: %s", res.body)
	}
	// A bad token, an overlong one: 404.
	for _, p := range []string{"/feed/needs-me?token=pwf_nope", "/feed/needs-me?token=" + strings.Repeat("a", 200), "/feed/needs-me"} {
		if res := e.do(req{Path: p}); res.code != http.StatusNotFound {
			t.Errorf("GET %s: %d %s", p, res.code, res.body)
		}
	}
	// Regenerated: the old address is gone, the new one works.
	second := make()
	if second == first {
		t.Fatal("the same feed address twice")
	}
	if res := e.do(req{Path: first}); res.code != http.StatusNotFound {
		t.Errorf("old feed: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: second}); res.code != 200 || !strings.Contains(string(res.body), "pub: ask user") {
		t.Errorf("new feed: %d %s", res.code, res.body)
	}
}

// seriesNamed is the id of the series of list with this subject.
func seriesNamed(t *testing.T, e *authEnv, list, subject string) int64 {
	t.Helper()
	ss, err := e.st.SeriesList(context.Background(), list, "", store.Page{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		if s.Subject == subject {
			return s.ID
		}
	}
	t.Fatalf("no series %q on %s", subject, list)
	return 0
}
