package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"patchwell/store"
)

// TestSiteFrame: every page starts with the site header: the lists the
// reader may see, a search box for the page's list (all lists elsewhere),
// and Sign in, or the signed-in user with Sign out.
func TestSiteFrame(t *testing.T) {
	f := fixture()
	f.lists = append(f.lists, store.List{Name: "secret", Visibility: store.VisibilityPrivate, Created: t0})
	var drafts []store.ReviewDraft
	var resolved []store.Resolution
	rr := reviewReader{commentReader{pageReader{f}}, &drafts, &resolved}
	srv := httptest.NewServer(New(rr, Config{Domain: "lists.example.org", Accounts: fakeAccounts{}}, testLogger(t)))
	defer srv.Close()
	get := func(path, session string) string {
		t.Helper()
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		req.Header.Set("Accept", "text/html")
		if session != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: session})
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	for _, c := range []struct {
		path, session string
		want, not     []string
	}{
		{"/", "", []string{`<a class="site-name" href="/">lists.example.org</a>`, `<a href="/dev/">dev</a>`,
			`action="/all/"`, `<a href="/signin">Sign in</a>`}, []string{"secret", "Sign out"}},
		{"/dev/", "", []string{`<a href="/dev/" aria-current="page">dev</a>`, `action="/dev/"`,
			`placeholder="Search dev"`, `href="/signin?next=%2Fdev%2F"`}, nil},
		{"/dev/?q=fix", "", []string{`action="/dev/"`, `value="fix"`}, nil},
		{"/series/2/", "", []string{`action="/dev/"`, `href="/signin?next=%2Fseries%2F2%2F"`}, nil},
		{"/series/2/?view=split", "", []string{`<body class="wide">` + "\n" + `<header class="site"`}, nil},
		{"/series/2/", "sess", []string{`<a href="/account">Rita</a>`, `action="/signout"`,
			`name="csrf" value="` + csrfFor("sess") + `"`}, []string{">Sign in<"}},
		{"/nosuch/", "", []string{`<header class="site"`, `<a href="/signin">Sign in</a>`}, []string{"next="}},
	} {
		body := get(c.path, c.session)
		if n := strings.Count(body, `<header class="site"`); n != 1 {
			t.Errorf("%s: %d site headers, want 1", c.path, n)
		}
		for _, w := range c.want {
			if !strings.Contains(body, w) {
				t.Errorf("%s (session %q) lacks %s", c.path, c.session, w)
			}
		}
		for _, n := range c.not {
			if strings.Contains(body, n) {
				t.Errorf("%s (session %q) shows %s", c.path, c.session, n)
			}
		}
	}
}
