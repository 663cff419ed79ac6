package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
)

type apiComment struct {
	PatchMessageID string `json:"patch_message_id"`
	File, Side     string
	Line           int
	Author         struct{ Name, Email string }
	Body           string
	MessageID      string `json:"message_id"`
	Resolved       bool
	ResolvedBy     string `json:"resolved_by"`
	Key            map[string]any
}

// TestReviewOnTheWeb: a series sent with git send-email; a mutt-style reply
// by mail shows at the line it quotes; a signed-in user reviews a patch on
// the series page (no JavaScript: a plain form POST), which archives one
// ordinary reply in the thread that quotes the hunk and reads back as a
// comment at the same line; the comment is resolved from the page; a
// script posts a review with a bearer token.
func TestReviewOnTheWeb(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	// Accounts before the first serve: list create makes the store (only
	// it and serve may).
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Rita Reviewer", "rita@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	token, errs, code := cli(t, nil, "user", "token", "--data", data, "rita@example.org", "ci")
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	token = strings.TrimSpace(token)
	srv := startServer(t, data, "--domain", "patchwell.localhost")
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	p1, p2 := s.Patches[0], s.Patches[1]
	base := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", base, s.ID)

	// A reviewer answers patch 1 from mutt.
	reply := fmt.Sprintf("From: Max Mutt <max@example.net>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: %s\r\nMessage-ID: <mutt-1@example.net>\r\nIn-Reply-To: <%s>\r\nReferences: <%s> <%s>\r\n\r\nOn Mon, Ada Lovelace wrote:\r\n> diff --git a/a.c b/a.c\r\n> +int a(void)\r\n> +{\r\n> +\treturn 1;\r\n\r\nShould this not return 0?\r\n\r\n> +}\r\n",
		p1.Subject, p1.MessageID, s.CoverMessageID, p1.MessageID)
	sendRaw(t, srv.smtp, "max@example.net", []string{"dev@patchwell.localhost"}, reply)
	comments := func(client *http.Client) []apiComment {
		t.Helper()
		var c struct{ Comments []apiComment }
		resp, err := client.Get(fmt.Sprintf("%s/api/v1/series/%d/comments", base, s.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&c); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET comments = %d, %v", resp.StatusCode, err)
		}
		return c.Comments
	}
	cs := comments(http.DefaultClient)
	if len(cs) != 1 || cs[0].File != "a.c" || cs[0].Side != "new" || cs[0].Line != 3 || cs[0].Body != "Should this not return 0?" || cs[0].Author.Email != "max@example.net" {
		t.Fatalf("comments after the mutt reply = %+v", cs)
	}
	_, body := fetch(t, http.DefaultClient, page)
	if !regexp.MustCompile(`(?s)id="p1-f0-n3".*?</tr>\s*<tr class="comments">.*?Should this not return 0\?`).MatchString(body) {
		t.Errorf("the mutt comment is not under a.c line 3 on the page")
	}
	if strings.Contains(body, `class="review-form"`) || strings.Contains(body, "<textarea") {
		t.Error("anonymous readers get review forms")
	}

	// Rita signs in and reviews patch 2 on the page.
	jar, _ := cookiejar.New(nil)
	rita := &http.Client{Jar: jar}
	resp, err := rita.PostForm(base+"/signin", url.Values{"email": {"rita@example.org"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body = fetch(t, rita, page)
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if csrf == nil {
		t.Fatal("signed in, the series page has no form with a csrf token")
	}
	for _, f := range []string{`name="c:new:2:README"`, `name="c:new:1:README"`, `form="review-p2"`, `id="review-p2"`} {
		if !strings.Contains(body, f) {
			t.Errorf("series page lacks %s", f)
		}
	}
	form := url.Values{"csrf": {csrf[1]}, "patch": {p2.MessageID}, "summary": {"One nit.\n\nReviewed-by: Rita Reviewer <rita@example.org>"},
		"c:new:2:README": {"Capitalise World."}, "c:new:1:README": {""}}
	resp, body = post(t, rita, fmt.Sprintf("%s/series/%d/review", base, s.ID), form)
	if resp.StatusCode != 200 || !strings.Contains(body, "Your review was archived as") || !strings.Contains(body, "queued to the list's subscribers") {
		t.Fatalf("POST review = %d:\n%s", resp.StatusCode, body)
	}
	cs = comments(http.DefaultClient)
	var web *apiComment
	for i := range cs {
		if cs[i].Author.Email == "rita@example.org" && cs[i].File == "README" {
			web = &cs[i]
		}
	}
	if web == nil || web.Side != "new" || web.Line != 2 || web.Body != "Capitalise World." || web.PatchMessageID != p2.MessageID {
		t.Fatalf("the web review does not read back at README line 2: %+v", cs)
	}
	// The reply is an ordinary mail in the thread, quoting the hunk.
	resp, raw := fetch(t, http.DefaultClient, base+"/dev/"+url.PathEscape(web.MessageID)+"/raw")
	for _, want := range []string{"From: \"Rita Reviewer\" <rita@example.org>", "In-Reply-To: <" + p2.MessageID + ">", "Subject: Re: " + p2.Subject,
		"One nit.", "Ada Lovelace wrote:\n> diff --git a/README b/README\n", "\n>  hello\n> +world\n\nCapitalise World.\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("archived review lacks %q:\n%s", want, raw)
		}
	}
	if !regexp.MustCompile(`Message-ID: <[^>]+@patchwell\.localhost>`).MatchString(raw) {
		t.Error("review Message-ID is not under the server's domain")
	}
	var full apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &full)
	if tr := full.Patches[1].Trailers; len(tr) != 2 || tr[1].Key != "Reviewed-by" || tr[1].FromMessageID != web.MessageID {
		t.Errorf("patch 2 trailers = %+v, want the web review's Reviewed-by", tr)
	}

	// Rita, a maintainer of the list, resolves Max's comment from the page.
	if _, errs, code := cli(t, nil, "user", "role", "--data", data, "rita@example.org", "dev", "maintainer"); code != 0 {
		t.Fatalf("user role: %s", errs)
	}
	_, body = fetch(t, rita, page)
	key := regexp.MustCompile(`name="resolve" value="([^"]+)"`).FindStringSubmatch(body)
	if key == nil {
		t.Fatal("no resolve button")
	}
	resp, body = post(t, rita, fmt.Sprintf("%s/series/%d/comments/resolve", base, s.ID), url.Values{"csrf": {csrf[1]}, "resolve": {htmlUnescape(key[1])}})
	if resp.StatusCode != 200 || !strings.Contains(body, "resolved by rita@example.org") {
		t.Fatalf("POST resolve = %d", resp.StatusCode)
	}
	// Without the csrf token nothing happens.
	if resp, _ := post(t, rita, fmt.Sprintf("%s/series/%d/review", base, s.ID), url.Values{"patch": {p2.MessageID}, "summary": {"x"}}); resp.StatusCode != 403 {
		t.Errorf("POST review without csrf = %d, want 403", resp.StatusCode)
	}
	// Anonymous: no.
	if resp, _ := post(t, http.DefaultClient, fmt.Sprintf("%s/series/%d/review", base, s.ID), url.Values{"patch": {p2.MessageID}, "summary": {"x"}}); resp.StatusCode != 403 {
		t.Errorf("anonymous POST review = %d, want 403", resp.StatusCode)
	}

	// A script reviews with its token.
	req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/series/%d/comments", base, s.ID), strings.NewReader(
		`{"comments": [{"patch_message_id": "`+p1.MessageID+`", "file": "a.c", "side": "new", "line": 1, "body": "Name it better."}]}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 || !strings.Contains(string(b), `"delivery":"queued`) {
		t.Fatalf("POST /api/v1/series/%d/comments = %d %s", s.ID, resp.StatusCode, b)
	}
	cs = comments(http.DefaultClient)
	found, resolved := false, 0
	for _, c := range cs {
		if c.Body == "Name it better." && c.File == "a.c" && c.Line == 1 && c.Author.Email == "rita@example.org" {
			found = true
		}
		if c.Resolved {
			resolved++
			if c.Body != "Should this not return 0?" || c.ResolvedBy != "rita@example.org" {
				t.Errorf("resolved %+v", c)
			}
		}
	}
	if !found || resolved != 1 {
		t.Errorf("comments = %+v; want the API review and Max's comment resolved", cs)
	}
}

func fetch(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d: %s", u, resp.StatusCode, b)
	}
	return resp, string(b)
}

func post(t *testing.T, c *http.Client, u string, form url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

var htmlUnescape = strings.NewReplacer("&amp;", "&", "&#43;", "+", "&#34;", `"`, "&lt;", "<", "&gt;", ">").Replace
