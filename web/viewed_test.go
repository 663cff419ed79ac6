package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestViewedRoutes: a signed-in reader's files have viewed boxes; the
// form marks a file (a redirect back to it without JavaScript, JSON for
// review.js), the page then shows it ticked and folded, and clearing
// unfolds it. Anonymous readers get no boxes and may not mark; a file
// the series does not have is a 404; a form without the session's CSRF
// token is refused.
func TestViewedRoutes(t *testing.T) {
	h := New(commentReader{pageReader{fixture()}}, Config{Domain: "lists.example.org", Accounts: fakeAccounts{}}, testLogger(t))
	srv := httptest.NewServer(h)
	defer srv.Close()
	csrf := csrfFor("sess")
	do := func(method, path, cookie, accept, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	box := `<input type="checkbox" class="viewed-box" form="viewed-p1-f0" name="viewed" value="1"`
	_, page, _ := do("GET", "/series/2/", "sess", "", "")
	for _, want := range []string{`<form id="viewed-p1-f0" method="post" action="/series/2/viewed" class="viewed-form">`,
		`name="path" value="new.go"`, `name="patch" value="1"`, `name="anchor" value="p1-f0"`, box + `>`,
		`<details open class="file" id="p1-f0">`, `<span id="viewed-n">0</span> of 1 file viewed`} {
		if !strings.Contains(page, want) {
			t.Errorf("signed-in series page lacks %s", want)
		}
	}
	if _, page, _ := do("GET", "/series/2/", "", "", ""); strings.Contains(page, "viewed-box") {
		t.Error("the anonymous page has viewed boxes")
	}

	mark := url.Values{"csrf": {csrf}, "patch": {"1"}, "path": {"new.go"}, "viewed": {"1"}, "anchor": {"p1-f0"}, "view": {"split"}}
	code, body, hdr := do("POST", "/series/2/viewed", "sess", "", mark.Encode())
	if code != http.StatusSeeOther || hdr.Get("Location") != "/series/2/?view=split#p1-f0" {
		t.Fatalf("POST viewed = %d %s %q", code, body, hdr.Get("Location"))
	}
	_, page, _ = do("GET", "/series/2/", "sess", "", "")
	for _, want := range []string{box + ` checked>`, `<details class="file viewed" id="p1-f0">`, `<span id="viewed-n">1</span> of 1`} {
		if !strings.Contains(page, want) {
			t.Errorf("after marking, the page lacks %s", want)
		}
	}
	mark.Del("viewed")
	if code, body, _ := do("POST", "/series/2/viewed", "sess", "application/json", mark.Encode()); code != 200 || !strings.Contains(body, `"viewed":false`) {
		t.Errorf("POST viewed as JSON = %d %s", code, body)
	}
	if _, page, _ = do("GET", "/series/2/", "sess", "", ""); !strings.Contains(page, box+`>`) || !strings.Contains(page, `<details open class="file" id="p1-f0">`) {
		t.Error("after clearing, the file is still marked")
	}

	for _, tc := range []struct {
		name, cookie, body string
		code               int
	}{
		{"anonymous", "", "patch=1&path=new.go&viewed=1", http.StatusForbidden},
		{"no csrf token", "sess", "patch=1&path=new.go&viewed=1", http.StatusForbidden},
		{"unknown file", "sess", "csrf=" + csrf + "&patch=1&path=nope.go&viewed=1", http.StatusNotFound},
		{"unknown patch", "sess", "csrf=" + csrf + "&patch=7&path=new.go&viewed=1", http.StatusNotFound},
		{"bad patch", "sess", "csrf=" + csrf + "&patch=x&path=new.go", http.StatusBadRequest},
		{"no path", "sess", "csrf=" + csrf + "&patch=1", http.StatusBadRequest},
	} {
		if code, body, _ := do("POST", "/series/2/viewed", tc.cookie, "", tc.body); code != tc.code {
			t.Errorf("%s: POST viewed = %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
}
