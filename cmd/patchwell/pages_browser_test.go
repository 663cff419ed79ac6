package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestListAndThreadPagesInBrowser loads the list page and a long thread
// (61 messages, nested three deep, so two pages) in headless Chromium: the
// rendered DOM has the tabs, the nesting and the pager, and screenshots
// are taken (kept in $PATCHWELL_ARTIFACTS when set).
func TestListAndThreadPagesInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	needTool(t, "git", "send-email", "--help")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	sendSeries(t, srv, repo, "br", "Add a and rename it <b>bold?</b>")

	to := []string{"dev@patchwell.localhost"}
	mail := func(id, from, subject, parent string, refs []string, body string) string {
		m := fmt.Sprintf("From: %s\r\nTo: dev@patchwell.localhost\r\nSubject: %s\r\nMessage-ID: <%s>\r\n", from, subject, id)
		if parent != "" {
			m += fmt.Sprintf("In-Reply-To: <%s>\r\nReferences: <%s>\r\n", parent, strings.Join(refs, "> <"))
		}
		return m + "Date: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\n" + body
	}
	sendRaw(t, srv.smtp, "ann@example.org", to, mail("long@example.org", "Ann <ann@example.org>", "Where should the cache live?", "", nil,
		"I think the cache should live next to the database.\r\n\r\nThoughts?\r\n"))
	for i := 1; i <= 20; i++ {
		r := fmt.Sprintf("long-%d@example.org", i)
		sendRaw(t, srv.smtp, "bob@example.org", to, mail(r, fmt.Sprintf("Bob %d <bob@example.org>", i), "Re: Where should the cache live?",
			"long@example.org", []string{"long@example.org"}, "> I think the cache should live next to the database.\r\n\r\nWhy not in memory? Point "+fmt.Sprint(i)+".\r\n"))
		a := fmt.Sprintf("long-%da@example.org", i)
		sendRaw(t, srv.smtp, "cy@example.org", to, mail(a, "Cy <cy@example.org>", "Re: Where should the cache live?",
			r, []string{"long@example.org", r}, "> Why not in memory?\r\n\r\nBecause it must survive restarts.\r\n"))
		sendRaw(t, srv.smtp, "dee@example.org", to, mail(fmt.Sprintf("long-%db@example.org", i), "Dee <dee@example.org>", "Re: Where should the cache live?",
			a, []string{"long@example.org", r, a}, ">> Why not in memory?\r\n> Because it must survive restarts.\r\n\r\nAgreed.\r\n"))
	}

	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := func(name, url string) {
		t.Helper()
		png := filepath.Join(dir, name)
		chromium(t, "--window-size=1280,1400", "--screenshot="+png, url)
		b, err := os.ReadFile(png)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10000 {
			t.Fatalf("screenshot %s: %d bytes, %v", png, len(b), err)
		}
	}
	base := "http://" + srv.http
	for _, tc := range []struct {
		name, path string
		want       []string
		not        []string
	}{
		{"list-page.png", "/dev/", []string{`aria-current="page">Series`, "Add a and rename it &lt;b&gt;bold?&lt;/b&gt;", "git send-email --to=dev@patchwell.localhost"}, []string{"<b>bold?</b>"}},
		{"list-threads.png", "/dev/?tab=threads", []string{`aria-current="page">Threads`, "Where should the cache live?", "<td>60</td>"}, nil},
		{"long-thread.png", "/dev/long@example.org/t/", []string{"Page 1 of 2", `class="msg d3"`, "61 messages", "quoted line"}, nil},
		{"long-thread-flat.png", "/dev/long-20b@example.org/T/", []string{"Page 2 of 2", "in reply to", " focus"}, nil},
	} {
		dom := string(chromium(t, "--dump-dom", base+tc.path))
		for _, w := range tc.want {
			if !strings.Contains(dom, w) {
				t.Errorf("%s: rendered page lacks %q", tc.path, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(dom, n) {
				t.Errorf("%s: rendered page has %q", tc.path, n)
			}
		}
		shot(tc.name, base+tc.path)
	}
}
