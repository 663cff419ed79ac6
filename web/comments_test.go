package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// commentReader adds review comments to pageReader: on patch 1 of series 2
// (evilDiff: new.go, old line 1 removed, new line 1 added).
type commentReader struct{ pageReader }

func (c commentReader) ResolvableComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	return c.SeriesComments(ctx, id)
}

func (c commentReader) SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	if id != 2 {
		return nil, nil
	}
	rev := core.Person{Name: "Rita <Reviewer>", Email: "rita@example.org"}
	at := time.Date(2024, 8, 2, 9, 30, 0, 0, time.UTC)
	return []store.LineComment{
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "new", Line: 1, Author: rev, Date: at, List: "dev",
			Body: "Context <b>comment</b>", MessageID: "r1@example.org", CarriedFrom: 1, CarriedPatch: "p1@example.org", CarriedFile: "new.go", CarriedSide: "new", CarriedLine: 1},
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "old", Line: 1, Author: rev, Date: at, List: "dev",
			Body: "On the removed line", MessageID: "r1@example.org", Resolved: true, ResolvedBy: "ann@example.org", ResolvedAt: at},
		{PatchMessageID: "p21@example.org", Author: rev, Date: at, List: "dev", Body: "General <script>alert(3)</script>", MessageID: "r2/x@example.org"},
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "new", Line: 99, Author: rev, Date: at, List: "dev",
			Body: "Off the diff", MessageID: "r1@example.org", Quote: []string{"+gone"}},
		{PatchMessageID: "c2@example.org", Author: rev, Date: at, List: "dev", Body: "On the cover", MessageID: "r3@example.org"},
	}, nil
}

func TestSeriesPageComments(t *testing.T) {
	base := newServer(t, commentReader{pageReader{fixture()}}, 0)
	code, body := getPage(t, base+"/series/2/")
	if code != 200 {
		t.Fatalf("GET /series/2/ = %d", code)
	}
	// Each line comment is in the row right after its diff line.
	for _, tc := range []struct{ row, comment string }{
		{`id="p1-f0-n1"`, "Context &lt;b&gt;comment&lt;/b&gt;"},
		{`id="p1-f0-o1"`, "On the removed line"},
	} {
		i := strings.Index(body, tc.row)
		if i < 0 {
			t.Fatalf("no row %s", tc.row)
		}
		rest := body[i:]
		end := strings.Index(rest, "</tr>")
		next := rest[end+len("</tr>"):]
		if !strings.HasPrefix(strings.TrimSpace(next), `<tr class="comments">`) || !strings.Contains(next[:strings.Index(next, "</tr>")], tc.comment) {
			t.Errorf("row %s is not followed by its comment %q:\n%s", tc.row, tc.comment, next[:min(len(next), 600)])
		}
	}
	for _, want := range []string{
		"carried from v1", "resolved by ann@example.org on 2024-08-02", "Rita &lt;Reviewer&gt;",
		`href="/dev/r1@example.org/"`, `href="/dev/r2%2Fx@example.org/"`,
		"General &lt;script&gt;alert(3)&lt;/script&gt;", "<code>new.go:99</code>", "&gt; &#43;gone", "On the cover",
		"5 review comments, 4 unresolved",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("series page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert(3)") {
		t.Error("comment body not escaped")
	}
	// The general and off-diff comments are in patch 1's discussion, the
	// cover's before the patches.
	p1 := strings.Index(body, `id="patch-1"`)
	if n := strings.Count(body, "<h4>Discussion</h4>"); n != 2 || strings.Index(body, "On the cover") > p1 ||
		strings.Index(body, "Off the diff") < p1 || strings.Index(body, "General") < p1 {
		t.Errorf("%d discussions; want the cover's before the patches and patch 1's in it", n)
	}
	if regexp.MustCompile(`<tr class="comments">.*<code>new.go:1`).MatchString(body) {
		t.Error("a comment at its line repeats where it is")
	}
	// A page without comments shows none.
	if _, body := getPage(t, base+"/series/1/"); strings.Contains(body, `class="comment`) {
		t.Error("series 1 shows comments")
	}
}

func TestAPIComments(t *testing.T) {
	base := newServer(t, commentReader{pageReader{fixture()}}, 0)
	r := get(t, base+"/api/v1/series/2/comments")
	if r.code != 200 {
		t.Fatalf("GET comments = %d %s", r.code, r.body)
	}
	var out struct {
		Comments []commentJSON `json:"comments"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Comments) != 5 {
		t.Fatalf("%d comments, want 5", len(out.Comments))
	}
	c := out.Comments[0]
	if c.CarriedFrom == nil || *c.CarriedFrom != 1 || c.Key.PatchMessageID != "p1@example.org" || c.URL != "/dev/r1@example.org/" || c.Resolved || c.ResolvedAt != nil {
		t.Errorf("first comment = %+v", c)
	}
	if c := out.Comments[1]; !c.Resolved || c.ResolvedAt == nil || c.Key.Side != "old" || c.Key.Line != 1 {
		t.Errorf("second comment = %+v", c)
	}
	// As in the rest of the API, absent values are null and lists [],
	// never omitted: every comment has every field.
	var raw struct {
		Comments []map[string]any `json:"comments"`
	}
	if err := json.Unmarshal(r.body, &raw); err != nil {
		t.Fatal(err)
	}
	fields := []string{"patch_message_id", "file", "side", "line", "author", "date", "body", "message_id", "list", "url",
		"quote", "resolved", "resolved_by", "resolved_at", "carried_from", "key"}
	for i, c := range raw.Comments {
		for _, f := range fields {
			if _, ok := c[f]; !ok {
				t.Errorf("comment %d has no %q: %v", i, f, c)
			}
		}
		if len(c) != len(fields) {
			t.Errorf("comment %d has %d fields, want %d: %v", i, len(c), len(fields), c)
		}
	}
	general := raw.Comments[2] // on the whole patch, open, not carried
	for _, f := range []string{"file", "side", "line", "resolved_by", "resolved_at", "carried_from"} {
		if general[f] != nil {
			t.Errorf("general comment %s = %v, want null", f, general[f])
		}
	}
	if q, ok := general["quote"].([]any); !ok || len(q) != 0 {
		t.Errorf("general comment quote = %#v, want []", general["quote"])
	}
	if by := raw.Comments[1]["resolved_by"]; by != "ann@example.org" {
		t.Errorf("resolved comment resolved_by = %v", by)
	}
	if r := get(t, base+"/api/v1/series/1/comments"); r.code != 200 || !strings.Contains(string(r.body), `"comments":[]`) {
		t.Errorf("series without comments: %d %s", r.code, r.body)
	}
	for path, code := range map[string]int{"/api/v1/series/99/comments": 404, "/api/v1/series/x/comments": 400, "/api/v1/series/-1/comments": 400} {
		if r := get(t, base+path); r.code != code {
			t.Errorf("GET %s = %d, want %d", path, r.code, code)
		}
	}
}

// fakeAccounts signs in "sess" (a session cookie) and "tok" (a bearer
// token) as a confirmed user, "unconf" as an unconfirmed one.
type fakeAccounts struct{ Accounts }

var rita = &store.User{ID: 7, Email: "rita@example.org", Name: "Rita", Confirmed: true}

func (fakeAccounts) SessionUser(ctx context.Context, tok string) (*store.User, error) {
	switch tok {
	case "sess":
		return rita, nil
	case "unconf":
		return &store.User{ID: 8, Email: "u@example.org"}, nil
	case "other":
		return &store.User{ID: 9, Email: "other@example.org", Confirmed: true}, nil
	}
	return nil, store.ErrNotFound
}

func (a fakeAccounts) TokenUser(ctx context.Context, tok string) (*store.User, error) {
	if tok == "tok" {
		return rita, nil
	}
	return nil, store.ErrNotFound
}

func (fakeAccounts) Role(ctx context.Context, userID int64, list string) (string, error) {
	return "", nil
}
func (fakeAccounts) StatusHistory(ctx context.Context, id int64) ([]store.StatusChange, error) {
	return nil, nil
}

// reviewReader records what the handlers ask of a Reviewer.
type reviewReader struct {
	commentReader
	drafts   *[]store.ReviewDraft
	resolved *[]store.Resolution
}

func (r reviewReader) SubmitReview(ctx context.Context, d store.ReviewDraft) (string, string, error) {
	if d.Summary == "invalid" {
		return "", "", fmt.Errorf("empty review: %w", store.ErrInvalid)
	}
	*r.drafts = append(*r.drafts, d)
	return "new@lists.example.org", "dev", nil
}

func (r reviewReader) ResolveComment(ctx context.Context, id int64, k store.Resolution, who string, resolved bool) error {
	if k.ReplyMessageID != "r1@example.org" || who != rita.Email {
		return store.ErrNotFound
	}
	*r.resolved = append(*r.resolved, k)
	return nil
}

func TestReviewRoutes(t *testing.T) {
	var drafts []store.ReviewDraft
	var resolved []store.Resolution
	rr := reviewReader{commentReader{pageReader{fixture()}}, &drafts, &resolved}
	h := New(rr, Config{Domain: "lists.example.org", Accounts: fakeAccounts{}}, testLogger(t))
	srv := httptest.NewServer(h)
	defer srv.Close()
	csrf := csrfFor("sess")
	do := func(method, path, cookie, auth, ctype, body string) (int, string, http.Header) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if cookie != "" {
			req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
		}
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		res, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), res.Header
	}
	form := "application/x-www-form-urlencoded"

	// The page: forms for the signed-in, none for the anonymous.
	_, page, _ := do("GET", "/series/2/", "sess", "", "", "")
	for _, want := range []string{`<form id="review-p1" method="post" action="/series/2/review"`, `name="c:old:1:new.go"`, `name="c:new:1:new.go"`,
		`form="review-p1"`, `name="patch" value="p21@example.org"`, `value="` + csrf + `"`, `<form id="resolve-form"`, `<form id="review-cover" method="post" action="/series/2/review"`, `name="patch" value="c2@example.org"`, "Reply to the cover letter",
		`name="resolve" value="f=new.go&amp;l=1&amp;p=p1%40example.org&amp;r=r1%40example.org&amp;s=new"`, `name="unresolve"`, `&#34;Rita&#34; &lt;rita@example.org&gt;`} {
		if !strings.Contains(page, want) {
			t.Errorf("signed-in series page lacks %s", want)
		}
	}
	if _, page, _ := do("GET", "/series/2/", "", "", "", ""); strings.Contains(page, "<textarea") || strings.Contains(page, "resolve-form") {
		t.Error("anonymous page has review forms")
	}
	if _, page, _ := do("GET", "/series/2/", "unconf", "", "", ""); strings.Contains(page, "<textarea") {
		t.Error("unconfirmed user gets review forms")
	}
	if _, page, _ := do("GET", "/series/2/?reviewed=new%40lists.example.org", "", "", "", ""); !strings.Contains(page, `Your review was archived as <a href="/dev/new@lists.example.org/">new@lists.example.org</a> and queued to the list's subscribers.`) {
		t.Error("no notice after a review")
	}

	// POST /series/2/review.
	body := url.Values{"csrf": {csrf}, "patch": {"p21@example.org"}, "summary": {"Looks good."},
		"c:new:1:new.go": {"Why?"}, "c:old:1:new.go": {"  "}, "other": {"x"}}.Encode()
	code, resp, hdr := do("POST", "/series/2/review", "sess", "", form, body)
	if code != http.StatusSeeOther || hdr.Get("Location") != "/series/2/?reviewed=new%40lists.example.org#review-done" {
		t.Fatalf("POST review = %d %s %q", code, resp, hdr.Get("Location"))
	}
	want := store.ReviewDraft{SeriesID: 2, From: core.Person{Name: "Rita", Email: "rita@example.org"}, Summary: "Looks good.", InReplyTo: "p21@example.org",
		Comments: []store.DraftComment{{PatchMessageID: "p21@example.org", File: "new.go", Side: "new", Line: 1, Body: "Why?"}}}
	if len(drafts) != 1 || fmt.Sprint(drafts[0]) != fmt.Sprint(want) {
		t.Errorf("draft = %+v, want %+v", drafts, want)
	}
	// From the side-by-side page: back to it.
	// (Each file's viewed form has one too: viewed_test.go.)
	if _, page, _ := do("GET", "/series/2/?view=split", "sess", "", "", ""); strings.Count(page, `<input type="hidden" name="view" value="split">`)-strings.Count(page, `class="viewed-form"`) != 4 {
		t.Errorf("side-by-side page: %d hidden view inputs, want one per form (2 patches, the cover, resolve)", strings.Count(page, `name="view"`)-strings.Count(page, `class="viewed-form"`))
	}
	code, resp, hdr = do("POST", "/series/2/review", "sess", "", form, body+"&view=split")
	if code != http.StatusSeeOther || hdr.Get("Location") != "/series/2/?reviewed=new%40lists.example.org&view=split#review-done" {
		t.Errorf("POST review from the side-by-side view = %d %s %q", code, resp, hdr.Get("Location"))
	}
	drafts = drafts[:1]
	for _, tc := range []struct {
		name, path, cookie, body string
		code                     int
		msg                      string
	}{
		{"anonymous", "/series/2/review", "", url.Values{"patch": {"p"}, "summary": {"x"}}.Encode(), 403, "sign in first"},
		{"unconfirmed", "/series/2/review", "unconf", url.Values{"csrf": {csrfFor("unconf")}, "summary": {"x"}}.Encode(), 403, "confirm your e-mail address first"},
		{"no csrf", "/series/2/review", "sess", url.Values{"summary": {"x"}}.Encode(), 403, "csrf"},
		{"bad field", "/series/2/review", "sess", url.Values{"csrf": {csrf}, "c:left:1:x": {"x"}}.Encode(), 400, "bad comment field"},
		{"invalid review", "/series/2/review", "sess", url.Values{"csrf": {csrf}, "summary": {"invalid"}}.Encode(), 400, "empty review"},
		{"unknown series", "/series/99/review", "sess", url.Values{"csrf": {csrf}, "summary": {"x"}}.Encode(), 404, "series not found"},
		{"bad id", "/series/x/review", "sess", url.Values{"csrf": {csrf}}.Encode(), 400, "series id"},
		{"resolve bad key", "/series/2/comments/resolve", "sess", url.Values{"csrf": {csrf}, "resolve": {"l=x"}}.Encode(), 400, "bad comment key"},
		{"resolve unknown", "/series/2/comments/resolve", "sess", url.Values{"csrf": {csrf}, "resolve": {"r=zz&p=p&f=x&s=new&l=1"}}.Encode(), 404, "comment not found"},
		{"resolve anonymous", "/series/2/comments/resolve", "", url.Values{"resolve": {"r=r1%40example.org&p=p&f=x&s=new&l=1"}}.Encode(), 403, "sign in first"},
	} {
		code, resp, _ := do("POST", tc.path, tc.cookie, "", form, tc.body)
		if code != tc.code || !strings.Contains(resp, tc.msg) {
			t.Errorf("%s: POST %s = %d %s, want %d %q", tc.name, tc.path, code, resp, tc.code, tc.msg)
		}
	}
	if len(drafts) != 1 {
		t.Errorf("refused requests submitted %d drafts", len(drafts)-1)
	}

	// Resolve and unresolve from the page.
	code, _, hdr = do("POST", "/series/2/comments/resolve", "sess", "", form, url.Values{"csrf": {csrf}, "unresolve": {"f=new.go&l=1&p=p21%40example.org&r=r1%40example.org&s=old"}}.Encode())
	if code != http.StatusSeeOther || hdr.Get("Location") != "/series/2/" || len(resolved) != 1 ||
		resolved[0] != (store.Resolution{ReplyMessageID: "r1@example.org", PatchMessageID: "p21@example.org", File: "new.go", Side: "old", Line: 1}) {
		t.Errorf("POST resolve = %d, %+v", code, resolved)
	}

	// Someone else may review but not resolve Rita's comments.
	if _, page, _ := do("GET", "/series/2/", "other", "", "", ""); !strings.Contains(page, "<textarea") || strings.Contains(page, `name="resolve"`) {
		t.Error("another user's page: want review forms, no resolve buttons")
	}
	code, resp, _ = do("POST", "/series/2/comments/resolve", "other", "", form, url.Values{"csrf": {csrfFor("other")}, "resolve": {"f=new.go&l=1&p=p1%40example.org&r=r1%40example.org&s=new"}}.Encode())
	if code != 403 || !strings.Contains(resp, "may resolve it") || len(resolved) != 1 {
		t.Errorf("another user's resolve = %d %s", code, resp)
	}

	// The API, with a bearer token.
	code, resp, _ = do("POST", "/api/v1/series/2/comments", "", "Bearer tok", "application/json",
		`{"summary": "s", "comments": [{"patch_message_id": "p21@example.org", "file": "new.go", "side": "old", "line": 1, "body": "b"}]}`)
	if code != 201 || !strings.Contains(resp, `"message_id":"new@lists.example.org"`) || !strings.Contains(resp, `"url":"/dev/new@lists.example.org/"`) {
		t.Errorf("POST api comments = %d %s", code, resp)
	}
	if d := drafts[len(drafts)-1]; len(d.Comments) != 1 || d.Comments[0].Side != "old" || d.From.Email != rita.Email {
		t.Errorf("api draft = %+v", d)
	}
	code, resp, _ = do("POST", "/api/v1/series/2/comments/resolve", "", "Bearer tok", "application/json",
		`{"key": {"reply_message_id": "r1@example.org", "patch_message_id": "p1@example.org", "file": "new.go", "side": "new", "line": 1}, "resolved": true}`)
	if code != 200 || len(resolved) != 2 {
		t.Errorf("POST api resolve = %d %s", code, resp)
	}
	for _, tc := range []struct {
		path, auth, body string
		code             int
	}{
		{"/api/v1/series/2/comments", "", `{"summary": "x"}`, 401},
		{"/api/v1/series/2/comments", "Bearer bad", `{"summary": "x"}`, 401},
		{"/api/v1/series/2/comments", "Bearer tok", `{"summary": "x", "extra": 1}`, 400},
		{"/api/v1/series/2/comments", "Bearer tok", `{"summary": "invalid"}`, 400},
		{"/api/v1/series/99/comments", "Bearer tok", `{"summary": "x"}`, 404},
		{"/api/v1/series/2/comments/resolve", "Bearer tok", `{"key": {}}`, 400},
		{"/api/v1/series/2/comments/resolve", "Bearer tok", `{"key": {"reply_message_id": "zz"}, "resolved": false}`, 404},
		{"/api/v1/series/2/comments/resolve", "Bearer tok", `{"key": {"reply_message_id": "r1@example.org", "patch_message_id": "p1@example.org", "file": "new.go", "side": "new", "line": 2}, "resolved": true}`, 404},
	} {
		if code, resp, _ := do("POST", tc.path, "", tc.auth, "application/json", tc.body); code != tc.code {
			t.Errorf("POST %s %s = %d %s, want %d", tc.path, tc.body, code, resp, tc.code)
		}
	}
	if n := h.(*Handler).Panics(); n != 0 {
		t.Errorf("%d panics", n)
	}
}

// TestReviewDisabled: without accounts or without a Reviewer the write
// routes say so.
func TestReviewDisabled(t *testing.T) {
	base := newServer(t, commentReader{pageReader{fixture()}}, 0)
	res, err := http.PostForm(base+"/series/2/review", url.Values{"summary": {"x"}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 {
		t.Errorf("POST review without accounts = %d, want 404", res.StatusCode)
	}
}

func (fakeAccounts) Roles(context.Context, int64) (map[string]string, error) { return nil, nil }
