package web

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// searchServer runs the handler on the real service and store with a
// thread of two messages, a hostile message and 60 "bulk" messages in
// list dev, and one message in list other.
func searchServer(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("store.Open() = %v", err)
	}
	for _, l := range []string{"dev", "other"} {
		if _, err := st.CreateList(ctx, store.List{Name: l}); err != nil {
			t.Fatalf("CreateList() = %v", err)
		}
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() {
		in.Close()
		st.Close()
	})
	deliver := func(list, raw string) {
		t.Helper()
		if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: []byte(raw)}); err != nil {
			t.Fatalf("Deliver() = %v", err)
		}
	}
	deliver("dev", "Message-ID: <root@x>\nFrom: Ann <ann@example.org>\nDate: Mon, 01 Jan 2024 10:00:00 +0000\n"+
		"Subject: [PATCH] am: fix quoting\n\nThe quoting of names was wrong.\n")
	deliver("dev", "Message-ID: <reply@x>\nIn-Reply-To: <root@x>\nReferences: <root@x>\nFrom: Bob <bob@example.com>\n"+
		"Date: Tue, 02 Jan 2024 10:00:00 +0000\nSubject: Re: [PATCH] am: fix quoting\n\n> The quoting of names was wrong.\n\nAgreed.\n")
	deliver("dev", "Message-ID: <evil/1@x>\nFrom: <script>alert(1)</script> <mal@evil.test>\nDate: Wed, 03 Jan 2024 10:00:00 +0000\n"+
		"Subject: <script>alert(2)</script> \u202egnp.exe\n\n<img src=x onerror=alert(3)> evil \u202e text\n")
	for i := range 60 {
		deliver("dev", fmt.Sprintf("Message-ID: <bulk%d@x>\nFrom: Bulk <bulk@example.net>\nDate: Thu, 04 Jan 2024 10:%02d:00 +0000\n"+
			"Subject: bulk message %d\n\nfiller text %d\n", i, i, i, i))
	}
	deliver("other", "Message-ID: <o@x>\nFrom: Ann <ann@example.org>\nDate: Fri, 05 Jan 2024 10:00:00 +0000\nSubject: other list\n\nquoting elsewhere\n")
	return newServer(t, review.NewService(st), 0)
}

func TestSearchPage(t *testing.T) {
	base := searchServer(t)
	for _, tc := range []struct {
		name, path string
		code       int
		want       []string // in the body
		not        []string
	}{
		{"subject", "/dev/?q=" + url.QueryEscape(`s:"fix quoting"`), 200,
			[]string{`href="/dev/reply@x/"`, `href="/dev/root@x/"`, "Re: [PATCH] am: fix quoting", "Bob", "2024-01-02 10:00",
				"The quoting of names was wrong."}, []string{"bulk"}},
		{"newest first", "/dev/?q=quoting", 200, []string{"Bob"}, nil},
		{"from and date", "/dev/?q=" + url.QueryEscape(`f:ann@example.org AND d:20240101..20240101`), 200, []string{`href="/dev/root@x/"`}, []string{"reply@x"}},
		{"escaped", "/dev/?q=" + url.QueryEscape("s:script"), 200,
			[]string{"&lt;script&gt;alert(2)&lt;/script&gt;", "&lt;img src=x onerror=alert(3)&gt;", "&lt;U&#43;202E&gt;", `href="/dev/evil%2F1@x/"`},
			[]string{"<script>", "<img", "\u202e"}},
		{"the query is echoed escaped", "/dev/?q=" + url.QueryEscape(`"<script>x</script>"`), 200,
			[]string{`value="&#34;&lt;script&gt;x&lt;/script&gt;&#34;"`, "No message matches"}, []string{"<script>"}},
		{"no match", "/dev/?q=nothingatall", 200, []string{"No message matches"}, nil},
		{"empty query shows the form", "/dev/?q=", 200, []string{`name="q"`, "/dev/_/text/help/"}, []string{"No message"}},
		{"all lists", "/all/?q=quoting", 200, []string{`href="/other/o@x/"`, `href="/dev/root@x/"`, "(other)"}, nil},
		{"unknown prefix", "/dev/?q=zz:x", 400, []string{"unsupported prefix", "zz:"}, nil},
		{"unclosed quote", "/dev/?q=" + url.QueryEscape(`s:"x`), 400, []string{"unclosed quote"}, nil},
		{"nothing to search", "/dev/?q=" + url.QueryEscape(`s:"!!"`), 400, []string{"nothing to search for"}, []string{"invalid request"}},
		{"bad date", "/dev/?q=d:yesterday..", 400, []string{"bad date"}, nil},
		{"query too long", "/dev/?q=" + strings.Repeat("x", 5000), 400, []string{"too long"}, nil},
		{"bad offset", "/dev/?q=x&o=-1", 400, nil, nil},
		{"offset not a number", "/dev/?q=x&o=ten", 400, nil, nil},
		{"unknown list", "/nosuch/?q=x", 404, nil, nil},
		{"unknown list, empty query", "/nosuch/?q=", 404, nil, nil},
		{"help", "/dev/_/text/help/", 200, []string{"dfn:", "nq:", "patchid:", "d:20240101..20240131"}, nil},
		{"help for all", "/all/_/text/help/", 200, []string{"dfn:"}, nil},
		{"help, unknown list", "/nosuch/_/text/help/", 404, nil, nil},
		{"list page has a search box", "/dev/", 200, []string{`<form action="/dev/"`, `name="q"`}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := get(t, base+tc.path)
			if res.code != tc.code {
				t.Fatalf("GET %s = %d %s, want %d", tc.path, res.code, res.body, tc.code)
			}
			body := string(res.body)
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: body lacks %q:\n%s", tc.path, w, body)
				}
			}
			for _, w := range tc.not {
				if strings.Contains(body, w) {
					t.Errorf("GET %s: body has %q", tc.path, w)
				}
			}
			if tc.code == 200 && !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
				t.Errorf("Content-Type = %q", res.header.Get("Content-Type"))
			}
		})
	}
	res, err := http.Head(base + "/dev/_/text/help/")
	if err != nil || res.StatusCode != 200 {
		t.Errorf("HEAD help = %v, %v", res, err)
	}
}

func TestSearchPaging(t *testing.T) {
	base := searchServer(t)
	q := url.QueryEscape("s:bulk")
	res := get(t, base+"/dev/?q="+q)
	body := string(res.body)
	if n := strings.Count(body, `href="/dev/bulk`); res.code != 200 || n != searchPageSize {
		t.Fatalf("page 1: %d, %d hits", res.code, n)
	}
	if !strings.Contains(body, "bulk59@x") || !strings.Contains(body, `href="?o=50&amp;q=s%3Abulk" rel="next"`) || strings.Contains(body, `rel="prev"`) {
		t.Errorf("page 1 does not start with the newest or lacks the next link:\n%s", body)
	}
	res = get(t, base+"/dev/?q="+q+"&o=50")
	body = string(res.body)
	if n := strings.Count(body, `href="/dev/bulk`); res.code != 200 || n != 10 {
		t.Fatalf("page 2: %d, %d hits", res.code, n)
	}
	if !strings.Contains(body, "bulk0@x") || !strings.Contains(body, `href="?q=s%3Abulk" rel="prev"`) || strings.Contains(body, `rel="next"`) {
		t.Errorf("page 2 lacks the oldest or the prev link:\n%s", body)
	}
	res = get(t, base+"/dev/?q="+q+"&o=1000")
	if res.code != 200 || !strings.Contains(string(res.body), "No message matches past 1000") {
		t.Errorf("past the end: %d %s", res.code, res.body)
	}
}

func post(t *testing.T, u string) response {
	t.Helper()
	res, err := http.Post(u, "application/x-www-form-urlencoded", strings.NewReader("x=m"))
	if err != nil {
		t.Fatalf("POST %s = %v", u, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return response{res.StatusCode, res.Header, b}
}

// TestSearchPost is b4's search: whole threads as gzipped mboxrd.
func TestSearchPost(t *testing.T) {
	base := searchServer(t)
	for _, tc := range []struct {
		name, path string
		code       int
		msgs       int
	}{
		{"b4 query", "/dev/?x=m&t=1&q=" + url.QueryEscape(`(s:"fix quoting" AND f:"bob@example.com") AND d:20240101..`), 200, 2},
		{"body", "/dev/?x=m&q=" + url.QueryEscape(`b:agreed`), 200, 2},
		{"all lists", "/all/?x=m&q=" + url.QueryEscape(`f:ann@example.org`), 200, 3},
		{"nothing", "/dev/?x=m&q=nothingatall", 404, 0},
		{"bad query", "/dev/?x=m&q=" + url.QueryEscape(`(s:x`), 400, 0},
		{"unknown list", "/nosuch/?x=m&q=x", 404, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := post(t, base+tc.path)
			if res.code != tc.code {
				t.Fatalf("POST %s = %d %s, want %d", tc.path, res.code, res.body, tc.code)
			}
			if tc.code != 200 {
				return
			}
			if ct := res.header.Get("Content-Type"); ct != "application/gzip" {
				t.Errorf("Content-Type = %q", ct)
			}
			zr, err := gzip.NewReader(bytes.NewReader(res.body))
			if err != nil {
				t.Fatalf("gzip: %v", err)
			}
			mbox, err := io.ReadAll(zr)
			if err != nil {
				t.Fatalf("gunzip: %v", err)
			}
			if n := bytes.Count(mbox, []byte("From mboxrd@z Thu Jan  1 00:00:00 1970\n")); n != tc.msgs {
				t.Errorf("%d messages, want %d:\n%s", n, tc.msgs, mbox)
			}
		})
	}
}

// TestSearchViews: public-inbox's x=t (hits grouped by thread) and x=A
// (an Atom feed of the hits) on a list and on /all/.
func TestSearchViews(t *testing.T) {
	base := searchServer(t)
	q := url.QueryEscape("quoting")

	res := get(t, base+"/dev/?x=t&q="+q)
	body := string(res.body)
	if res.code != 200 || !strings.HasPrefix(res.header.Get("Content-Type"), "text/html") {
		t.Fatalf("x=t: %d %s", res.code, body)
	}
	// root and reply are one thread, named and linked by its oldest hit.
	if n := strings.Count(body, `<li><a href="/dev/root@x/t/">[PATCH] am: fix quoting</a> <small>2 matching</small>`); n != 1 {
		t.Errorf("x=t: %d thread entries for root@x, want 1:\n%s", n, body)
	}
	for _, want := range []string{`href="/dev/reply@x/"`, `href="/dev/root@x/"`, `<input type="hidden" name="x" value="t">`,
		`<a href="?q=quoting">messages</a> · threads`, `href="?q=quoting&amp;x=A"`} {
		if !strings.Contains(body, want) {
			t.Errorf("x=t page lacks %q", want)
		}
	}
	if all := string(get(t, base+"/all/?x=t&q="+q).body); strings.Count(all, "matching</small>") != 2 || !strings.Contains(all, "<small>(other)</small>") {
		t.Errorf("/all/ x=t: want the dev thread and the other list's message:\n%s", all)
	}
	// Paging keeps the view.
	if b := string(get(t, base+"/dev/?x=t&q=s:bulk").body); !strings.Contains(b, `href="?o=50&amp;q=s%3Abulk&amp;x=t" rel="next"`) ||
		strings.Count(b, "1 matching</small>") != searchPageSize {
		t.Errorf("x=t paging:\n%s", b)
	}

	type feed struct {
		Title   string `xml:"title"`
		ID      string `xml:"id"`
		Entries []struct {
			Title   string `xml:"title"`
			ID      string `xml:"id"`
			Summary string `xml:"summary"`
			Link    struct {
				Href string `xml:"href,attr"`
			} `xml:"link"`
		} `xml:"entry"`
	}
	atom := func(path string) feed {
		t.Helper()
		res := get(t, base+path)
		if res.code != 200 || res.header.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
			t.Fatalf("GET %s = %d %s %s", path, res.code, res.header.Get("Content-Type"), res.body)
		}
		if bytes.Contains(res.body, []byte("<script")) {
			t.Errorf("GET %s: markup not escaped: %s", path, res.body)
		}
		var f feed
		if err := xml.Unmarshal(res.body, &f); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, res.body)
		}
		return f
	}
	f := atom("/dev/?x=A&q=s:bulk")
	if len(f.Entries) != feedSize || f.Entries[0].Link.Href != base+"/dev/bulk59@x/" || f.Entries[0].ID != messageURN("bulk59@x") ||
		f.Entries[0].Title != "bulk message 59" || f.ID != base+"/dev/?q=s%3Abulk&x=A" {
		t.Errorf("x=A feed: %d entries, first %+v, id %q", len(f.Entries), f.Entries[0], f.ID)
	}
	if f := atom("/dev/?x=A&q=s:bulk&o=50"); len(f.Entries) != 10 || f.Entries[9].Link.Href != base+"/dev/bulk0@x/" {
		t.Errorf("x=A o=50: %d entries", len(f.Entries))
	}
	f = atom("/dev/?x=A&q=evil")
	if len(f.Entries) != 1 || strings.ContainsRune(f.Entries[0].Title+f.Entries[0].Summary, '\u202e') {
		t.Errorf("hostile hit: %+v (bidi controls must be shown visibly)", f.Entries)
	}
	if f := atom("/all/?x=A&q=" + url.QueryEscape("f:ann@example.org")); len(f.Entries) != 2 {
		t.Errorf("/all/ x=A: %d entries, want 2", len(f.Entries))
	}
	if f := atom("/dev/?x=A&q=nothingatall"); len(f.Entries) != 0 {
		t.Errorf("no hits: %d entries", len(f.Entries))
	}

	for _, tc := range []struct {
		path string
		code int
		msg  string
	}{
		{"/dev/?x=A&q=" + url.QueryEscape("(s:x"), 400, "bad query"},
		{"/dev/?x=A&q=x&o=-1", 400, "o must be an offset"},
		{"/dev/?x=zz&q=x", 400, "x must be t (threads), A (Atom) or m (mbox, POST)"},
		{"/dev/?x=m&q=x", 405, "x=m (mbox) searches are POST requests"},
		{"/nosuch/?x=A&q=x", 404, "list not found"},
		{"/nosuch/?x=t&q=x", 404, "list not found"},
	} {
		res := get(t, base+tc.path)
		if res.code != tc.code || !strings.Contains(string(res.body), tc.msg) {
			t.Errorf("GET %s = %d %q, want %d %q", tc.path, res.code, res.body, tc.code, tc.msg)
		}
	}
}
