package web

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

// pageReader adds the page texts to the fake Reader; its diff and bodies
// carry hostile HTML and a Trojan Source bidi override.
type pageReader struct{ *fakeReader }

const evilDiff = "diff --git a/new.go b/new.go\n--- a/old.go\n+++ b/new.go\n@@ -1,2 +1,1 @@\n-<script>alert(1)</script>\n+if access != \"user\u202e \u2066// admin\u2069 \u2066\" {\n ok\n"

func (p pageReader) SeriesTexts(ctx context.Context, id int64) (string, map[int]string, map[int]string, error) {
	if _, _, err := p.Series(ctx, id); err != nil {
		return "", nil, nil, err
	}
	return "Cover <b>text</b>\n> quoted line\n> another\nend", map[int]string{1: evilDiff},
		map[int]string{1: "Why it <script>matters</script>: the write must be\ndone twice."}, nil
}

func (p pageReader) ThreadBodies(ctx context.Context, list, id string) ([]store.Message, []string, error) {
	if id != "c2@example.org" {
		return nil, nil, store.ErrNotFound
	}
	return []store.Message{
		{UID: 1, MessageID: "c2@example.org", Subject: "[PATCH v2 0/2] fix <it>", From: core.Person{Name: "Ann"}},
		{UID: 2, MessageID: "r1@example.org", InReplyTo: "c2@example.org", Subject: "Re: fix", From: core.Person{Name: "Cy"}},
	}, []string{"cover body", "> quoted\nReviewed-by: Cy <cy@example.org>\n<img src=x onerror=alert(2)>"}, nil
}

func getPage(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 && strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") &&
		!strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
		t.Errorf("%s: no CSP", url)
	}
	return res.StatusCode, string(b)
}

func TestPages(t *testing.T) {
	f := fixture()
	f.raw[[2]string{"dev", "c2@example.org"}] = []byte("x")
	base := newServer(t, pageReader{f}, 0)
	for _, tc := range []struct {
		name, path string
		code       int
		want, not  []string
	}{
		// Superseded revisions are hidden unless asked for.
		{"list page", "/dev/", 200,
			[]string{"dev@lists.example.org", `href="/series/2/"`, "[PATCH v2 0/2] fix it", "--smtp-server=mail.example.org", "?superseded=1"},
			[]string{`href="/series/1/"`}},
		{"list page with superseded", "/dev/?superseded=1", 200, []string{`href="/series/1/"`, "status=superseded"}, nil},
		// The fake Reader does not filter; the store's filter has its own tests.
		{"list page, status filter", "/dev/?status=superseded", 200, []string{`href="/series/1/"`}, nil},
		{"list page, bad status", "/dev/?status=bogus", 400, nil, nil},
		{"unknown list page", "/nope/", 404, nil, nil},
		{"series page", "/series/2/", 200,
			[]string{"Reviewed-by: Cy &lt;cy@example.org&gt;", `href="/series/1/"`, "old.go → new.go", "/api/v1/series/2/mbox | git am",
				"b4 shazam c2@example.org", "Cover &lt;b&gt;text&lt;/b&gt;", "2 quoted lines",
				`<span class="nx">script</span>`, "&lt;U+202E&gt;", "&lt;U+2066&gt;", `class="add"`, `class="del"`,
				`<tr class="del" id="p1-f0-o1">`, `<tr class="add" id="p1-f0-n1">`, `href="#p1-f0-n1"`,
				`<div class="commit-message"><pre>Why it &lt;script&gt;matters&lt;/script&gt;: the write must be` + "\ndone twice.\n</pre></div>"},
			[]string{"<script>", "\u202e", "\u2066"}},
		{"unknown series page", "/series/99/", 404, nil, nil},
		{"thread page", "/dev/c2@example.org/t/", 200,
			[]string{"fix &lt;it&gt;", "1 quoted line<", "&lt;img src=x", `href="/dev/r1@example.org/raw"`},
			[]string{"<img", "<it>"}},
		{"unknown thread", "/dev/nope@example.org/t/", 404, nil, nil},
		{"message page", "/dev/c2@example.org/", 200,
			[]string{"fix &lt;it&gt;", "cover body", "whole thread", `href="/dev/c2@example.org/t/#m1"`}, []string{"Re: fix", "<img"}},
		{"stylesheet", "/static/style.css", 200, []string{"table.diff"}, nil},
		{"script", "/static/review.js", 200, []string{`addEventListener("keydown"`}, nil},
		{"atom feed", "/dev/series.atom", 200, []string{`<feed xmlns="http://www.w3.org/2005/Atom">`, "/series/2/", "<name>Ann</name>"}, nil},
		{"atom feed of unknown list", "/nope/series.atom", 404, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := getPage(t, base+tc.path)
			if code != tc.code {
				t.Fatalf("GET %s = %d, want %d\n%s", tc.path, code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: missing %q", tc.path, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(body, n) {
					t.Errorf("GET %s: contains %q", tc.path, n)
				}
			}
		})
	}
}
