package web

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestBundlePages: a bundle made from a series page, its page and mbox,
// who sees and changes it, the user's bundles page, and the forms'
// refusals (CSRF, another list's patches, a taken name).
func TestBundlePages(t *testing.T) {
	e := newAuthEnv(t, Config{})
	e.h.cfg.Bundles = e.st
	pub, sec := fmt.Sprint(e.series["pub"]), fmt.Sprint(e.series["sec"])
	maint := e.tokens["maint"]
	maintUser, err := e.acc.TokenUser(context.Background(), maint)
	if err != nil {
		t.Fatal(err)
	}

	// From the series page: the form is there for a signed-in reader.
	if res := e.do(req{Path: "/series/" + pub + "/", Token: maint}); res.code != 200 ||
		!strings.Contains(string(res.body), `action="/series/`+pub+`/bundle"`) {
		t.Fatalf("series page lacks the bundle form: %d", res.code)
	}
	if res := e.do(req{Path: "/series/" + pub + "/"}); strings.Contains(string(res.body), "/bundle\"") {
		t.Fatalf("anonymous series page has the bundle form")
	}
	res := e.do(req{Method: "POST", Path: "/series/" + pub + "/bundle", Token: maint, Body: "name=" + url.QueryEscape("<b>review</b>")})
	if res.code != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/bundle/") {
		t.Fatalf("new bundle from the series: %d %s", res.code, res.body)
	}
	page := res.header.Get("Location")
	bs, err := e.st.UserBundles(context.Background(), maintUser.ID)
	if err != nil || len(bs) != 1 || bs[0].Patches != 1 || bs[0].Public {
		t.Fatalf("bundles after the form: %+v %v", bs, err)
	}
	b := bs[0]
	bid := fmt.Sprint(b.ID)

	res = e.do(req{Path: page, Token: maint})
	body := string(res.body)
	for _, want := range []string{"&lt;b&gt;review&lt;/b&gt;", "fix pub", `href="/series/` + pub + `/#patch-1"`, `action="/bundle/` + bid + `/remove"`,
		`href="/bundle/` + bid + `/mbox"`, "private: only you see it"} {
		if !strings.Contains(body, want) {
			t.Errorf("bundle page lacks %q", want)
		}
	}
	if strings.Contains(body, "<b>review") {
		t.Errorf("bundle name not escaped")
	}
	// Private: nobody else sees it, not even the list's owner.
	for _, who := range []string{"", "user", "owner", "admin"} {
		for _, p := range []string{page, page + "mbox"} {
			if res := e.do(req{Path: p, Token: e.tokens[who]}); res.code != http.StatusNotFound {
				t.Errorf("private bundle %s as %q: %d", p, who, res.code)
			}
		}
	}
	res = e.do(req{Path: page + "mbox", Token: maint})
	if res.code != 200 || !strings.Contains(string(res.body), "Message-ID: <p-pub@example.org>") || !strings.HasPrefix(string(res.body), "From ") {
		t.Fatalf("mbox: %d %s", res.code, res.body)
	}

	// Refusals of the forms.
	for _, c := range []struct {
		name string
		q    req
		code int
		text string
	}{
		{"a series of another list", req{Method: "POST", Path: "/series/" + sec + "/bundle", Token: maint, Body: "bundle=" + bid}, 400, "holds patches of pub"},
		{"someone else's bundle", req{Method: "POST", Path: "/series/" + pub + "/bundle", Token: e.tokens["user"], Body: "bundle=" + bid}, 404, "bundle not found"},
		{"no bundle, no name", req{Method: "POST", Path: "/series/" + pub + "/bundle", Token: maint, Body: "name=+"}, 400, "name a new one"},
		{"a patch not of the series", req{Method: "POST", Path: "/series/" + pub + "/bundle", Token: maint, Body: "bundle=" + bid + "&patch=999"}, 400, "no such patch"},
		{"anonymous", req{Method: "POST", Path: "/series/" + pub + "/bundle", Body: "name=x"}, 403, "sign in first"},
		{"name taken", req{Method: "POST", Path: "/account/bundles", Token: maint, Body: "list=pub&name=" + url.QueryEscape(b.Name)}, 409, "of that name"},
		{"no name", req{Method: "POST", Path: "/account/bundles", Token: maint, Body: "list=pub&name="}, 400, "needs a name"},
		{"a list the user may not read", req{Method: "POST", Path: "/account/bundles", Token: e.tokens["user"], Body: "list=sec&name=x"}, 404, "list not found"},
		{"rename by another, private", req{Method: "POST", Path: "/bundle/" + bid + "/rename", Token: e.tokens["user"], Body: "name=x"}, 404, "bundle not found"},
		{"rename empty", req{Method: "POST", Path: "/bundle/" + bid + "/rename", Token: maint, Body: "name="}, 400, "needs a name"},
		{"remove a bad id", req{Method: "POST", Path: "/bundle/" + bid + "/remove", Token: maint, Body: "patch=x"}, 400, "bad patch id"},
		{"bad bundle id", req{Path: "/bundle/x/"}, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(c.q)
			if res.code != c.code || !strings.Contains(string(res.body), c.text) {
				t.Fatalf("%d %s, want %d %q", res.code, res.body, c.code, c.text)
			}
		})
	}

	// Public: readers of the list see it, without the owner's forms;
	// others may not change it.
	if res := e.do(req{Method: "POST", Path: "/bundle/" + bid + "/public", Token: maint, Body: "public=1&from=account"}); res.code != http.StatusSeeOther ||
		res.header.Get("Location") != "/account/bundles" {
		t.Fatalf("make public: %d %v", res.code, res.header)
	}
	res = e.do(req{Path: page})
	if res.code != 200 || strings.Contains(string(res.body), "/remove") || !strings.Contains(string(res.body), "fix pub") {
		t.Fatalf("public bundle, anonymous: %d", res.code)
	}
	for _, act := range []string{"rename", "public", "remove", "delete"} {
		if res := e.do(req{Method: "POST", Path: "/bundle/" + bid + "/" + act, Token: e.tokens["user"], Body: "name=x&public=0&patch=1"}); res.code != http.StatusForbidden {
			t.Errorf("%s by another user: %d %s", act, res.code, res.body)
		}
	}

	// Signed in with a session cookie, the forms need the CSRF token.
	c := e.signin("maint@example.org")
	if res := e.do(req{Method: "POST", Path: "/bundle/" + bid + "/rename", Cookie: c.Value, Body: "name=sneaky"}); res.code != http.StatusForbidden {
		t.Fatalf("rename without the CSRF token: %d", res.code)
	}
	res = e.do(req{Path: "/account/bundles", Cookie: c.Value})
	if res.code != 200 || !strings.Contains(string(res.body), `name="csrf" value="`+e.csrf(c.Value)+`"`) ||
		!strings.Contains(string(res.body), `href="/bundle/`+bid+`/"`) || !strings.Contains(string(res.body), "readers of pub") {
		t.Fatalf("bundles page: %d %s", res.code, res.body)
	}
	if res := e.do(req{Method: "POST", Path: "/bundle/" + bid + "/rename", Cookie: c.Value, Body: "name=todo&csrf=" + e.csrf(c.Value)}); res.code != http.StatusSeeOther {
		t.Fatalf("rename with the token: %d %s", res.code, res.body)
	}
	if res := e.do(req{Method: "POST", Path: "/account/bundles", Cookie: c.Value, Body: "list=sec&name=secret&csrf=" + e.csrf(c.Value)}); res.code != http.StatusSeeOther {
		t.Fatalf("create on the list one maintains: %d %s", res.code, res.body)
	}
	// Add the same patch again and one patch of a list: nothing doubles.
	if res := e.do(req{Method: "POST", Path: "/series/" + pub + "/bundle", Token: maint, Body: "bundle=" + bid}); res.code != http.StatusSeeOther {
		t.Fatalf("add again: %d %s", res.code, res.body)
	}
	bs, _ = e.st.UserBundles(context.Background(), maintUser.ID)
	if len(bs) != 2 || bs[0].Name != "todo" || bs[0].Patches != 1 || bs[1].Name != "secret" || bs[1].List != "sec" {
		t.Fatalf("bundles: %+v", bs)
	}
	if res := e.do(req{Method: "POST", Path: "/bundle/" + bid + "/delete", Token: maint}); res.code != http.StatusSeeOther {
		t.Fatalf("delete: %d", res.code)
	}
	if res := e.do(req{Path: page, Token: maint}); res.code != http.StatusNotFound {
		t.Fatalf("deleted bundle: %d", res.code)
	}
	// Without bundles configured, the routes are not there.
	e.h.cfg.Bundles = nil
	if res := e.do(req{Path: "/account/bundles", Token: maint}); res.code != http.StatusNotFound {
		t.Fatalf("no bundles: %d", res.code)
	}
}
