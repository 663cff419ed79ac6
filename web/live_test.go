package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
	"patchwell/web"
)

// live is a server over a real SQLite store with the review layer, and an
// ingester to add mail while it runs.
type live struct {
	t    *testing.T
	base string
	in   *review.Ingester
	h    *web.Handler
}

func newLive(t *testing.T) *live {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { in.Close() })
	h := web.New(review.NewService(st), web.Config{Domain: "lists.example.org"}, nil).(*web.Handler)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if n := h.Panics(); n != 0 {
			t.Errorf("Panics() = %d", n)
		}
	})
	return &live{t: t, base: srv.URL, in: in, h: h}
}

func (l *live) deliver(raw string) {
	l.t.Helper()
	if err := l.in.Post(context.Background(), review.Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
		l.t.Fatalf("Deliver = %v", err)
	}
}

type liveResponse struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request without the transport's transparent gzip, so that
// what the server sent is what the test sees.
func (l *live) do(method, path string, header ...string) liveResponse {
	l.t.Helper()
	req, err := http.NewRequest(method, l.base+path, nil)
	if err != nil {
		l.t.Fatal(err)
	}
	req.Header.Set("Accept-Encoding", "identity")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := (&http.Client{
		Transport:     &http.Transport{DisableCompression: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}).Do(req)
	if err != nil {
		l.t.Fatalf("%s %s = %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		l.t.Fatal(err)
	}
	return liveResponse{res.StatusCode, res.Header, b}
}

const (
	ann = "Ann Author <ann@example.org>"
	bob = "Bob <bob@example.org>"
)

func mail(from, id, subject, inReplyTo, body string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: dev@lists.example.org\r\n", from)
	fmt.Fprintf(&b, "Subject: %s\r\nDate: Tue, 2 Jan 2024 03:04:05 +0000\r\nMessage-ID: <%s>\r\n", subject, id)
	if inReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\r\nReferences: <%s>\r\n", inReplyTo, inReplyTo)
	}
	fmt.Fprintf(&b, "\r\n%s", body)
	return b.String()
}

const patchBody = `Make the frobnicator faster.

Signed-off-by: Ann Author <ann@example.org>
---
 frob.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/frob.c b/frob.c
index 1111111..2222222 100644
--- a/frob.c
+++ b/frob.c
@@ -1,3 +1,3 @@
 int frob(void)
 {
-	return 1;
+	return 2;
 }
-- 
2.43.0
`

func gunzip(t *testing.T, b []byte) string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("gzip: %v", err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("gunzip: %v", err)
	}
	return string(out)
}

// TestThreadMboxCacheSeesNewMessages: the cached t.mbox.gz changes, with
// its ETag, as soon as a reply joins the thread; an unchanged thread
// answers If-None-Match with 304.
func TestThreadMboxCacheSeesNewMessages(t *testing.T) {
	l := newLive(t)
	l.deliver(mail(ann, "p1@example.org", "[PATCH] frob: faster", "", patchBody))
	path := "/dev/p1@example.org/t.mbox.gz"

	r1 := l.do("GET", path)
	if r1.code != http.StatusOK || r1.header.Get("Content-Type") != "application/gzip" || r1.header.Get("Content-Encoding") != "" {
		t.Fatalf("GET = %d %v", r1.code, r1.header)
	}
	etag := r1.header.Get("ETag")
	if etag == "" || strings.Count(gunzip(t, r1.body), "From mboxrd@z") != 1 {
		t.Fatalf("first mbox: etag %q, %q", etag, gunzip(t, r1.body))
	}
	if r := l.do("GET", path); !bytes.Equal(r.body, r1.body) || r.header.Get("ETag") != etag {
		t.Fatalf("second GET differs")
	}
	if r := l.do("GET", path, "If-None-Match", etag); r.code != http.StatusNotModified || len(r.body) != 0 {
		t.Fatalf("If-None-Match = %d %q, want 304", r.code, r.body)
	}

	l.deliver(mail(bob, "r1@example.org", "Re: [PATCH] frob: faster", "p1@example.org", "Looks good.\n\nReviewed-by: Bob <bob@example.org>\n"))
	r2 := l.do("GET", path, "If-None-Match", etag)
	if r2.code != http.StatusOK {
		t.Fatalf("after a reply, If-None-Match with the old ETag = %d, want 200", r2.code)
	}
	if r2.header.Get("ETag") == etag {
		t.Errorf("ETag did not change after a reply: %s", etag)
	}
	got := gunzip(t, r2.body)
	if strings.Count(got, "From mboxrd@z") != 2 || !strings.Contains(got, "Reviewed-by: Bob") {
		t.Errorf("mbox after a reply lacks it:\n%s", got)
	}
	// The reply's own URL gives the same thread.
	if r := l.do("GET", "/dev/r1@example.org/t.mbox.gz"); gunzip(t, r.body) != got {
		t.Errorf("thread via the reply differs")
	}
	if r := l.do("GET", "/dev/nope@example.org/t.mbox.gz"); r.code != http.StatusNotFound {
		t.Errorf("unknown message: %d, want 404", r.code)
	}
	if r := l.do("GET", "/other/p1@example.org/t.mbox.gz"); r.code != http.StatusNotFound {
		t.Errorf("unknown list: %d, want 404", r.code)
	}
}

// TestPageCacheSeesNewMessages: the cached thread page shows a new reply at
// once; repeated anonymous views are served with an ETag, gzipped when
// asked; requests with credentials are rendered for themselves.
func TestPageCacheSeesNewMessages(t *testing.T) {
	l := newLive(t)
	l.deliver(mail(ann, "p1@example.org", "[PATCH] frob: faster", "", patchBody))
	path := "/dev/p1@example.org/t/"
	r1 := l.do("GET", path)
	// The patch's diff is a coloured table, as on the series page.
	if r1.code != http.StatusOK || !strings.Contains(string(r1.body), "Make the frobnicator faster.") ||
		!strings.Contains(string(r1.body), `<table class="diff">`) || !strings.Contains(string(r1.body), `<tr class="add" id="m1-f0-n3">`) {
		t.Fatalf("GET %s = %d\n%s", path, r1.code, r1.body)
	}
	etag := r1.header.Get("ETag")
	if etag == "" {
		t.Fatal("no ETag on a cached page")
	}
	if r := l.do("GET", path, "If-None-Match", etag); r.code != http.StatusNotModified {
		t.Fatalf("If-None-Match = %d, want 304", r.code)
	}
	gz := l.do("GET", path, "Accept-Encoding", "gzip")
	if gz.header.Get("Content-Encoding") != "gzip" || gunzip(t, gz.body) != string(r1.body) {
		t.Fatalf("gzip page: %v", gz.header)
	}
	if !strings.Contains(gz.header.Get("Vary"), "Accept-Encoding") {
		t.Errorf("Vary = %q", gz.header.Get("Vary"))
	}
	if r := l.do("GET", path, "Accept-Encoding", "gzip;q=0"); r.header.Get("Content-Encoding") != "" {
		t.Errorf("gzip;q=0 got %q", r.header.Get("Content-Encoding"))
	}
	// With a cookie, no cache: no ETag from it, same content.
	if r := l.do("GET", path, "Cookie", "session=x"); r.code != http.StatusOK || r.header.Get("ETag") != "" ||
		!bytes.Equal(r.body, r1.body) {
		t.Errorf("GET with a cookie: %d etag %q", r.code, r.header.Get("ETag"))
	}

	l.deliver(mail(bob, "r1@example.org", "Re: [PATCH] frob: faster", "p1@example.org", "A reply with a marker: zanzibar\n"))
	r2 := l.do("GET", path, "If-None-Match", etag)
	if r2.code != http.StatusOK || !strings.Contains(string(r2.body), "zanzibar") {
		t.Fatalf("page after a reply = %d, lacks it:\n%s", r2.code, r2.body)
	}
	if r2.header.Get("ETag") == etag {
		t.Errorf("ETag did not change")
	}
	// Pages of unknown messages are 404, and not kept.
	for range 2 {
		if r := l.do("GET", "/dev/nope@example.org/t/"); r.code != http.StatusNotFound {
			t.Fatalf("unknown message page = %d", r.code)
		}
	}
	// The message page and the HEAD b4 sends.
	if r := l.do("GET", "/dev/r1@example.org/"); r.code != http.StatusOK || !strings.Contains(string(r.body), "zanzibar") {
		t.Errorf("message page = %d", r.code)
	}
	r := l.do("HEAD", "/dev/r1@example.org")
	if r.code != http.StatusFound || r.header.Get("Location") != l.base+"/dev/r1@example.org/" || r.header.Get("Content-Length") != "0" {
		t.Errorf("HEAD = %d %v", r.code, r.header)
	}
}

// sendSeries delivers a cover letter, two patches and a review reply.
func sendSeries(l *live) {
	l.deliver(mail(ann, "c1@example.org", "[PATCH 0/2] frob: speed", "", "Two patches.\n"))
	for i := 1; i <= 2; i++ {
		l.deliver(mail(ann, fmt.Sprintf("p%d@example.org", i), fmt.Sprintf("[PATCH %d/2] frob: step %d", i, i), "c1@example.org", patchBody))
	}
	l.deliver(mail(bob, "r1@example.org", "Re: [PATCH 1/2] frob: step 1", "p1@example.org",
		"> -\treturn 1;\n\nWhy?\n\nReviewed-by: Bob <bob@example.org>\n"))
}

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("json: %v: %s", err, b)
	}
	return m
}

func TestAPIThread(t *testing.T) {
	l := newLive(t)
	sendSeries(l)
	r := l.do("GET", "/api/v1/lists/dev/threads/p2@example.org")
	if r.code != http.StatusOK {
		t.Fatalf("GET thread = %d %s", r.code, r.body)
	}
	got := decode(t, r.body)
	th := got["thread"].(map[string]any)
	if th["root_message_id"] != "c1@example.org" || th["messages"] != 4.0 || th["list"] != "dev" ||
		th["subject"] != "[PATCH 0/2] frob: speed" || th["url"] != "/dev/c1@example.org/t/" {
		t.Errorf("thread = %v", th)
	}
	msgs := got["messages"].([]any)
	type row struct {
		id, parent string
		depth      float64
		kind       any
	}
	var rows []row
	for _, m := range msgs {
		m := m.(map[string]any)
		p, _ := m["parent"].(string)
		rows = append(rows, row{m["message_id"].(string), p, m["depth"].(float64), m["kind"]})
	}
	want := []row{
		{"c1@example.org", "", 0, "cover"},
		{"p1@example.org", "c1@example.org", 1, "patch"},
		{"p2@example.org", "c1@example.org", 1, "patch"},
		{"r1@example.org", "p1@example.org", 2, "reply"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("messages:\n got %v\nwant %v", rows, want)
	}
	m := msgs[3].(map[string]any)
	if m["raw_url"] != "/dev/r1@example.org/raw" || m["url"] != "/dev/r1@example.org/" ||
		m["from"].(map[string]any)["email"] != "bob@example.org" || m["date"] != "2024-01-02T03:04:05Z" ||
		m["subject"] != "Re: [PATCH 1/2] frob: step 1" || m["thread_url"] != "/api/v1/lists/dev/threads/r1@example.org" {
		t.Errorf("message = %v", m)
	}
	if tr := m["trailers"].([]any); len(tr) != 1 || tr[0].(map[string]any)["key"] != "Reviewed-by" {
		t.Errorf("trailers = %v", tr)
	}
	if msgs[0].(map[string]any)["parent"] != nil || msgs[0].(map[string]any)["in_reply_to"] != nil {
		t.Errorf("root has a parent: %v", msgs[0])
	}
	// The raw link works.
	if rr := l.do("GET", m["raw_url"].(string)); rr.code != http.StatusOK || !strings.Contains(string(rr.body), "Why?") {
		t.Errorf("raw_url = %d", rr.code)
	}
	// Paging over the messages; angle brackets and escapes in the id.
	r = l.do("GET", "/api/v1/lists/dev/threads/%3Cc1%40example.org%3E?limit=2&offset=1")
	page := decode(t, r.body)["messages"].([]any)
	if r.code != http.StatusOK || len(page) != 2 || page[0].(map[string]any)["message_id"] != "p1@example.org" {
		t.Errorf("paged thread = %d %s", r.code, r.body)
	}

	// With bodies.
	r = l.do("GET", "/api/v1/lists/dev/threads/c1@example.org?bodies=1")
	withBodies := decode(t, r.body)["messages"].([]any)
	if b, _ := withBodies[3].(map[string]any)["body"].(string); !strings.Contains(b, "Why?") {
		t.Errorf("bodies=1: reply body = %q", b)
	}
	if b, _ := withBodies[1].(map[string]any)["body"].(string); !strings.Contains(b, "+\treturn 2;") {
		t.Errorf("bodies=1: patch body = %q", b)
	}
	if _, ok := msgs[0].(map[string]any)["body"]; ok {
		t.Errorf("body without bodies=1")
	}

	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/v1/lists/dev/threads/c1@example.org?bodies=maybe", 400, "bodies must be 1 or 0 (true or false)"},
		{"/api/v1/lists/dev/threads/nope@example.org?bodies=1", 404, "message not found"},
		{"/api/v1/lists/dev/threads/nope@example.org", 404, "message not found"},
		{"/api/v1/lists/nolist/threads/c1@example.org", 404, "list not found"},
		{"/api/v1/lists/dev/threads/c1@example.org?limit=x", 400, "limit must be a non-negative integer"},
		{"/api/v1/lists/dev/threads/c1@example.org?offset=-1", 400, "offset must be a non-negative integer"},
		{"/api/v1/lists/dev/threads/c1@example.org?limit=%zz", 400, "query string too long or malformed"},
		{"/api/v1/lists/dev/threads/", 400, "bad message-id"},
		{"/api/v1/lists/dev/threads/%3C%3E", 400, "bad message-id"},
		{"/api/v1/lists/dev/threads/" + strings.Repeat("x", 1000), 400, "bad message-id"},
	} {
		r := l.do("GET", tc.path)
		if r.code != tc.code || decode(t, r.body)["error"] != tc.msg {
			t.Errorf("GET %s = %d %s, want %d %q", tc.path, r.code, r.body, tc.code, tc.msg)
		}
	}
}

func TestAPIMessage(t *testing.T) {
	l := newLive(t)
	sendSeries(l)
	// A Message-ID with a slash, escaped as %2F.
	l.deliver(mail(ann, "a/b+c@example.org", "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=", "", "Hello\n"))

	r := l.do("GET", "/api/v1/lists/dev/messages/p1@example.org")
	if r.code != http.StatusOK {
		t.Fatalf("GET message = %d %s", r.code, r.body)
	}
	m := decode(t, r.body)
	if m["message_id"] != "p1@example.org" || m["kind"] != "patch" || m["in_reply_to"] != "c1@example.org" ||
		m["series_id"] == nil || m["list"] != "dev" {
		t.Errorf("message = %v", m)
	}
	body := m["body"].(string)
	if !strings.Contains(body, "Make the frobnicator faster.") || !strings.Contains(body, "+\treturn 2;") {
		t.Errorf("body = %q", body)
	}
	var names []string
	for _, h := range m["headers"].([]any) {
		names = append(names, h.(map[string]any)["name"].(string))
	}
	if got := strings.Join(names, ","); got != "From,To,Subject,Date,Message-ID,In-Reply-To,References" {
		t.Errorf("header names = %s", got)
	}

	r = l.do("GET", "/api/v1/lists/dev/messages/a%2Fb%2Bc%40example.org")
	m = decode(t, r.body)
	if r.code != http.StatusOK || m["message_id"] != "a/b+c@example.org" || m["subject"] != "Grüße" ||
		m["raw_url"] != "/dev/a%2Fb+c@example.org/raw" {
		t.Errorf("escaped id: %d %v", r.code, m)
	}
	for _, h := range m["headers"].([]any) {
		if h := h.(map[string]any); h["name"] == "Subject" && h["value"] != "Grüße" {
			t.Errorf("Subject header = %q, want decoded", h["value"])
		}
	}

	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/api/v1/lists/dev/messages/nope@example.org", 404, "message not found"},
		{"/api/v1/lists/nolist/messages/p1@example.org", 404, "list not found"},
		{"/api/v1/lists/dev/messages/", 400, "bad message-id"},
		{"/api/v1/lists/dev/messages/a%0Db", 400, "bad message-id"},
	} {
		r := l.do("GET", tc.path)
		if r.code != tc.code || decode(t, r.body)["error"] != tc.msg {
			t.Errorf("GET %s = %d %s, want %d %q", tc.path, r.code, r.body, tc.code, tc.msg)
		}
	}
}

func TestAPISeriesDetail(t *testing.T) {
	l := newLive(t)
	sendSeries(l)
	th := decode(t, l.do("GET", "/api/v1/lists/dev/threads/c1@example.org").body)
	sid := th["messages"].([]any)[0].(map[string]any)["series_id"].(float64)
	r := l.do("GET", fmt.Sprintf("/api/v1/series/%d", int(sid)))
	if r.code != http.StatusOK {
		t.Fatalf("GET series = %d %s", r.code, r.body)
	}
	s := decode(t, r.body)
	if c, ok := s["checks"].([]any); !ok || len(c) != 0 {
		t.Errorf("checks = %#v, want []", s["checks"])
	}
	if d := s["diffstat"].(map[string]any); d["files"] != 2.0 || d["added"] != 2.0 || d["deleted"] != 2.0 {
		t.Errorf("series diffstat = %v", d)
	}
	ps := s["patches"].([]any)
	if len(ps) != 2 {
		t.Fatalf("patches = %v", ps)
	}
	p := ps[0].(map[string]any)
	if d := p["diffstat"].(map[string]any); d["files"] != 1.0 || d["added"] != 1.0 || d["deleted"] != 1.0 {
		t.Errorf("patch diffstat = %v", d)
	}
	if tr := p["trailers"].([]any); len(tr) != 2 {
		t.Errorf("patch 1 trailers (own + Reviewed-by from the reply) = %v", tr)
	}
	if s["thread_url"] != "/api/v1/lists/dev/threads/c1@example.org" || s["web_url"] != fmt.Sprintf("/series/%d/", int(sid)) {
		t.Errorf("links: %v %v", s["thread_url"], s["web_url"])
	}
	for path, want := range map[string]int{"/api/v1/series/9999": 404, "/api/v1/series/0": 400, "/api/v1/series/x": 400} {
		if r := l.do("GET", path); r.code != want {
			t.Errorf("GET %s = %d, want %d", path, r.code, want)
		}
	}
}

// TestCachesUnderConcurrentIngest reads the thread's mbox and page from
// many goroutines while replies arrive; once the last reply is stored,
// both show every message.
func TestCachesUnderConcurrentIngest(t *testing.T) {
	l := newLive(t)
	l.deliver(mail(ann, "p1@example.org", "[PATCH] frob: faster", "", patchBody))
	const replies = 20
	done := make(chan struct{})
	errs := make(chan string, 100)
	for g := range 8 {
		go func() {
			path := "/dev/p1@example.org/t.mbox.gz"
			if g%2 == 1 {
				path = "/dev/p1@example.org/t/"
			}
			for {
				select {
				case <-done:
					errs <- ""
					return
				default:
				}
				req, _ := http.NewRequest("GET", l.base+path, nil)
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err.Error()
					return
				}
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					errs <- fmt.Sprintf("GET %s = %d", path, res.StatusCode)
					return
				}
			}
		}()
	}
	for i := range replies {
		l.deliver(mail(bob, fmt.Sprintf("r%d@example.org", i), "Re: [PATCH] frob: faster", "p1@example.org",
			fmt.Sprintf("reply number %d-end\n", i)))
	}
	close(done)
	for range 8 {
		if e := <-errs; e != "" {
			t.Error(e)
		}
	}
	mbox := gunzip(t, l.do("GET", "/dev/p1@example.org/t.mbox.gz").body)
	page := string(l.do("GET", "/dev/p1@example.org/t/").body)
	for i := range replies {
		marker := fmt.Sprintf("reply number %d-end", i)
		if !strings.Contains(mbox, marker) || !strings.Contains(page, marker) {
			t.Fatalf("reply %d missing after ingest: mbox %v, page %v", i, strings.Contains(mbox, marker), strings.Contains(page, marker))
		}
	}
}

// TestAPIMessageRoutes: both message routes check the list name, the
// Message-ID and the list's readability the same way (messageRoute).
func TestAPIMessageRoutes(t *testing.T) {
	l := newLive(t)
	sendSeries(l)
	for _, route := range []string{"threads", "messages"} {
		for _, tc := range []struct {
			list, id string
			code     int
			msg      string
		}{
			{"dev", "", 400, "bad message-id"},
			{"dev", "%3C%3E", 400, "bad message-id"},
			{"dev", "a%0Ab@example.org", 400, "bad message-id"},
			{"dev", strings.Repeat("x", 1000), 400, "bad message-id"},
			{strings.Repeat("l", 256), "c1@example.org", 400, "bad list name"},
			{"nolist", "c1@example.org", 404, "list not found"},
			{"dev", "nope@example.org", 404, "message not found"},
			{"dev", "%3Cc1%40example.org%3E", 200, ""},
		} {
			path := "/api/v1/lists/" + tc.list + "/" + route + "/" + tc.id
			r := l.do("GET", path)
			if r.code != tc.code || (tc.code != 200 && decode(t, r.body)["error"] != tc.msg) {
				t.Errorf("GET %s = %d %s, want %d %q", path, r.code, r.body, tc.code, tc.msg)
			}
		}
	}
}
