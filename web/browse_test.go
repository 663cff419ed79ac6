package web

import (
	"context"
	"encoding/xml"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"patchwell/core"
	"patchwell/review"
	"patchwell/store"
)

// The tests of this file run the pages over the real store and review
// service, fed through the ingester with mail as git send-email writes it.

const xssSubject = "<script>alert(1)</script> fix \u202eevil"

type mailSpec struct {
	id, from, to, cc, subject, irt string
	refs                           []string
	date                           time.Time
	body                           string
}

func (m mailSpec) bytes() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\nTo: %s\n", m.from, m.to)
	if m.cc != "" {
		fmt.Fprintf(&b, "Cc: %s\n", m.cc)
	}
	fmt.Fprintf(&b, "Subject: %s\nDate: %s\nMessage-ID: <%s>\n", m.subject, m.date.Format(time.RFC1123Z), m.id)
	if m.irt != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\n", m.irt)
	}
	if len(m.refs) > 0 {
		fmt.Fprintf(&b, "References: <%s>\n", strings.Join(m.refs, "> <"))
	}
	b.WriteString("MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n" + m.body)
	return []byte(b.String())
}

// patchBody is a format-patch body adding file.
func patchBody(msg, file string) string {
	return msg + "\n\nSigned-off-by: Ann <ann@example.org>\n---\n " + file + " | 1 +\n 1 file changed, 1 insertion(+)\n\n" +
		"diff --git a/" + file + " b/" + file + "\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/" + file +
		"\n@@ -0,0 +1 @@\n+int x;\n-- \n2.39.5\n"
}

type archiveFixture struct {
	base string
	st   store.Store
	// long is the root of a 61-message thread; deep one reply deep in it.
	long, deep string
}

var t1 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

// newArchive builds an archive: list dev with 53 single-patch series
// (every third by Bob, one with a hostile subject), a 2-patch series with a
// cover letter, and a 61-message thread; list quiet with one old message;
// list idle with none.
func newArchive(t *testing.T) *archiveFixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, n := range []string{"dev", "quiet", "idle"} {
		if _, err := st.CreateList(ctx, store.List{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	defer in.Close()
	deliver := func(list string, m mailSpec) {
		t.Helper()
		if m.to == "" {
			m.to = list + "@lists.example.org"
		}
		if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: m.bytes()}); err != nil {
			t.Fatalf("deliver %s: %v", m.id, err)
		}
	}
	deliver("quiet", mailSpec{id: "old@x", from: "Old <old@example.org>", subject: "an old question", date: t1, body: "hello\n"})
	for i := 1; i <= 53; i++ {
		from, subject := "Ann <ann@example.org>", fmt.Sprintf("[PATCH] net: fix leak %d", i)
		if i%3 == 0 {
			from, subject = "Bob <bob@example.org>", fmt.Sprintf("[PATCH] mm: tidy %d", i)
		}
		if i == 50 {
			subject = "[PATCH] " + xssSubject
		}
		deliver("dev", mailSpec{id: fmt.Sprintf("s%d@x", i), from: from, subject: subject, date: t1.Add(time.Duration(i) * time.Minute),
			body: patchBody(strings.TrimPrefix(subject, "[PATCH] "), fmt.Sprintf("f%d.c", i))})
	}
	cover := mailSpec{id: "cover@x", from: "Ann <ann@example.org>", subject: "[PATCH 0/2] two things", date: t1.Add(2 * time.Hour), body: "Two things.\n"}
	deliver("dev", cover)
	for i := 1; i <= 2; i++ {
		deliver("dev", mailSpec{id: fmt.Sprintf("p%d@x", i), from: "Ann <ann@example.org>", subject: fmt.Sprintf("[PATCH %d/2] thing %d", i, i),
			irt: "cover@x", refs: []string{"cover@x"}, date: t1.Add(2*time.Hour + time.Duration(i)*time.Second), body: patchBody(fmt.Sprintf("thing %d", i), fmt.Sprintf("t%d.c", i))})
	}
	// The long thread: a root, 20 direct replies, each with two answers
	// (the second answering the first); arrival order interleaves them.
	f := &archiveFixture{st: st, long: "root@x", deep: "r20b@x"}
	deliver("dev", mailSpec{id: "root@x", from: "Ann <ann@example.org>", cc: "Cy <cy@example.org>", subject: "a long discussion",
		date: t1.Add(3 * time.Hour), body: "Let us talk.\n"})
	n := 0
	for i := 1; i <= 20; i++ {
		n++
		deliver("dev", mailSpec{id: fmt.Sprintf("r%d@x", i), from: fmt.Sprintf("Person %d <p%d@example.org>", i, i), subject: "Re: a long discussion",
			irt: "root@x", refs: []string{"root@x"}, date: t1.Add(3*time.Hour + time.Duration(n)*time.Minute),
			body: "> Let us talk.\n\nReply " + fmt.Sprint(i) + ".\n"})
	}
	for i := 1; i <= 20; i++ {
		n++
		deliver("dev", mailSpec{id: fmt.Sprintf("r%da@x", i), from: "Cy <cy@example.org>", subject: "Re: a long discussion",
			irt: fmt.Sprintf("r%d@x", i), refs: []string{"root@x", fmt.Sprintf("r%d@x", i)}, date: t1.Add(3*time.Hour + time.Duration(n)*time.Minute),
			body: fmt.Sprintf("> Reply %d.\n\nAnswer to %d.\n", i, i)})
		n++
		deliver("dev", mailSpec{id: fmt.Sprintf("r%db@x", i), from: "Dee <dee@example.org>", subject: "Re: a long discussion",
			irt: fmt.Sprintf("r%da@x", i), refs: []string{"root@x", fmt.Sprintf("r%d@x", i), fmt.Sprintf("r%da@x", i)},
			date: t1.Add(3*time.Hour + time.Duration(n)*time.Minute), body: fmt.Sprintf("Deeper %d.\n", i)})
	}
	// A private list, whose message is the newest of all: anonymous
	// readers see nothing of it.
	if _, err := st.CreateList(ctx, store.List{Name: "secret", Visibility: store.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	deliver("secret", mailSpec{id: "hush@x", from: "Spy <spy@example.org>", subject: "secret plans", date: t1.Add(9 * time.Hour), body: "psst\n"})
	h := New(review.NewService(st), Config{Domain: "lists.example.org", SMTPAddr: "mail.example.org:2525"}, testLogger(t))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if n := h.(*Handler).Panics(); n != 0 {
			t.Errorf("Panics() = %d", n)
		}
	})
	f.base = srv.URL
	return f
}

// browse GETs a page as a browser would (Accept: text/html).
func browse(t *testing.T, url string) (int, http.Header, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, string(b)
}

type pageCase struct {
	name, path string
	code       int
	want, not  []string
}

func runPageCases(t *testing.T, base string, cases []pageCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, hd, body := browse(t, base+tc.path)
			if code != tc.code {
				t.Fatalf("GET %s = %d, want %d\n%s", tc.path, code, tc.code, body)
			}
			// Unknown lists are refused, in JSON, by the access check
			// every /{list}/ path passes first.
			if ct := hd.Get("Content-Type"); !strings.Contains(tc.name, "unknown list") &&
				(!strings.HasPrefix(ct, "text/html") || hd.Get("Content-Security-Policy") == "") {
				t.Errorf("GET %s: Content-Type %q, CSP %q", tc.path, ct, hd.Get("Content-Security-Policy"))
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
			if t.Failed() {
				t.Logf("body:\n%s", body)
			}
		})
	}
}

// seriesHrefs lists the /series/N/ links of a page, in order.
func seriesHrefs(body string) []string {
	return regexp.MustCompile(`href="/series/\d+/"`).FindAllString(body, -1)
}

func TestHomeByActivity(t *testing.T) {
	f := newArchive(t)
	code, _, body := browse(t, f.base+"/")
	if code != 200 {
		t.Fatalf("GET / = %d", code)
	}
	dev, quiet, idle := strings.Index(body, `href="/dev/"`), strings.Index(body, `href="/quiet/"`), strings.Index(body, `href="/idle/"`)
	if dev < 0 || quiet < 0 || idle < 0 || !(dev < quiet && quiet < idle) {
		t.Fatalf("lists not in activity order (dev %d, quiet %d, idle %d):\n%s", dev, quiet, idle, body)
	}
	l, _ := f.st.List(context.Background(), "dev")
	for _, want := range []string{
		fmt.Sprintf(`<td class="num">%d</td>`, l.Messages), // 53 + 3 + 61
		`<a href="/dev/?status=open">54</a>`,
		"no messages yet",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("home lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "secret") {
		t.Error("the home page shows a private list")
	}
	if l.Messages != 117 {
		t.Errorf("dev has %d messages, want 117", l.Messages)
	}
}

func TestListPageSeries(t *testing.T) {
	f := newArchive(t)
	runPageCases(t, f.base, []pageCase{
		{"first page", "/dev/", 200, []string{
			"dev@lists.example.org", "git send-email --to=dev@lists.example.org --smtp-server=mail.example.org --smtp-server-port=2525",
			`href="/dev/series.atom"`, `href="/dev/new.atom"`, "midmask = http://127.0.0.1:", "searchmask = http://127.0.0.1:", "send-endpoint-web = http://127.0.0.1:",
			"?x=m&amp;t=1&amp;q=%s", `aria-current="page">Series`, "two things", "&lt;script&gt;alert(1)&lt;/script&gt;",
			"&lt;U&#43;202E&gt;", `rel="next"`, `href="?submitter=bob%40example.org"`,
		}, []string{"<script>", "\u202e", `rel="prev"`, "subscribe"}},
		{"filter by submitter", "/dev/?submitter=BOB@example.org", 200, []string{"mm: tidy 51", "mm: tidy 3<", `value="BOB@example.org"`, ">clear</a>"},
			[]string{"net: fix leak", `rel="next"`}},
		{"filter by title", "/dev/?title=LEAK+5", 200, []string{"net: fix leak 5<", "net: fix leak 53", "net: fix leak 52"},
			[]string{"leak 4<", "mm: tidy", "two things"}},
		{"title with HTML", "/dev/?title=%3Cscript%3E", 200, []string{"&lt;script&gt;alert(1)", `value="&lt;script&gt;"`}, []string{"<script>", "net: fix"}},
		{"filter by status", "/dev/?status=applied", 200, []string{"No series match these filters."}, nil},
		{"open", "/dev/?status=open", 200, []string{"two things", `<option value="open" selected>`}, nil},
		{"no match", "/dev/?title=nothing-like-this", 200, []string{"No series match these filters."}, nil},
		{"unknown status", "/dev/?status=bogus", 400, []string{"unknown status &#34;bogus&#34;", "needs_revision"}, nil},
		{"hostile status", "/dev/?status=%3Cscript%3E", 400, []string{"&lt;script&gt;"}, []string{"<script>"}},
		{"bad before", "/dev/?before=x", 400, []string{"bad before=&#34;x&#34;: want a positive number"}, nil},
		{"zero before", "/dev/?before=0", 400, nil, nil},
		{"negative after", "/dev/?after=-3", 400, nil, nil},
		{"huge before", "/dev/?before=99999999999999999999999", 400, nil, nil},
		{"bad tab", "/dev/?tab=wiki", 400, []string{"unknown tab"}, nil},
		{"control characters in a filter", "/dev/?title=a%00b", 400, []string{"bad title"}, nil},
		{"unknown list", "/nope/", 404, []string{"list not found"}, nil},
	})

	// Paging: 50 + 4 series (53 single patches and one cover), newest
	// first, every series once, and back again.
	_, _, p1 := browse(t, f.base+"/dev/")
	next := regexp.MustCompile(`href="(\?before=\d+)" rel="next"`).FindStringSubmatch(p1)
	if next == nil {
		t.Fatal("no next link on page 1")
	}
	_, _, p2 := browse(t, f.base+"/dev/"+strings.ReplaceAll(next[1], "&amp;", "&"))
	l1, l2 := seriesHrefs(p1), seriesHrefs(p2)
	if len(l1) != 50 || len(l2) != 4 {
		t.Fatalf("pages of %d and %d series, want 50 and 4", len(l1), len(l2))
	}
	all := append(slices.Clone(l1), l2...)
	slices.Sort(all)
	if len(slices.Compact(all)) != 54 {
		t.Error("a series shows on both pages")
	}
	if strings.Contains(p2, `rel="next"`) {
		t.Error("last page has a next link")
	}
	prev := regexp.MustCompile(`href="(\?after=\d+)" rel="prev"`).FindStringSubmatch(p2)
	if prev == nil {
		t.Fatal("no prev link on page 2")
	}
	_, _, back := browse(t, f.base+"/dev/"+prev[1])
	if !slices.Equal(seriesHrefs(back), l1) || strings.Contains(back, `rel="prev"`) {
		t.Errorf("prev page differs from page 1")
	}
	// Filters survive paging.
	_, _, fp := browse(t, f.base+"/dev/?title=:")
	if m := regexp.MustCompile(`href="\?([^"]*)" rel="next"`).FindStringSubmatch(fp); m == nil || !strings.Contains(m[1], "title=%3A") {
		t.Errorf("next link of a filtered page: %v", m)
	}
}

func TestListPageThreads(t *testing.T) {
	f := newArchive(t)
	runPageCases(t, f.base, []pageCase{
		{"threads tab", "/dev/?tab=threads", 200, []string{
			`aria-current="page">Threads`, `href="/dev/root@x/t/">a long discussion</a>`, "<td>Ann</td>", "<td>60</td>",
			`href="/dev/root@x/t.mbox.gz"`, `rel="next"`, "&lt;script&gt;",
		}, []string{"<script>"}},
		{"bad key", "/dev/?tab=threads&before=4294967296", 400, nil, nil},
		{"unknown list", "/nope/?tab=threads", 404, nil, nil},
	})
	_, _, p1 := browse(t, f.base+"/dev/?tab=threads")
	next := regexp.MustCompile(`href="\?(before=\d+&amp;tab=threads)" rel="next"`).FindStringSubmatch(p1)
	if next == nil {
		t.Fatalf("no next link:\n%s", p1)
	}
	_, _, p2 := browse(t, f.base+"/dev/?"+strings.ReplaceAll(next[1], "&amp;", "&"))
	threads := regexp.MustCompile(`/t.mbox.gz"`)
	// 53 single patches, the cover's thread and the long thread.
	if n1, n2 := len(threads.FindAllString(p1, -1)), len(threads.FindAllString(p2, -1)); n1 != 50 || n2 != 5 {
		t.Errorf("thread pages of %d and %d, want 50 and 5", n1, n2)
	}
}

// articles returns the message anchors of a thread page, in order, with
// their depth classes.
func articles(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`<article id="(m\d+)" class="msg (d\d+)`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1]+" "+m[2])
	}
	return out
}

func TestThreadPages(t *testing.T) {
	f := newArchive(t)
	ctx := context.Background()
	uid := func(id string) string {
		m, err := f.st.Message(ctx, "dev", id)
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("m%d", m.UID)
	}
	runPageCases(t, f.base, []pageCase{
		{"nested, first page", "/dev/root@x/t/", 200, []string{
			"61 messages", "Page 1 of 2", `href="/dev/root@x/t/?page=2"`, `<article id="` + uid("root@x") + `" class="msg d0 focus">`,
			"To: dev@lists.example.org", "Cc: cy@example.org", `href="/dev/r1@x/raw"`, `href="/dev/r1@x/" title="permalink"`,
			"1 quoted line<", `href="/dev/root@x/T/">flat</a>`, `href="/dev/root@x/t.mbox.gz"`, "<h3>a long discussion</h3>",
		}, []string{"<h3>Re: a long discussion</h3>"}},
		{"page 2", "/dev/root@x/t/?page=2", 200, []string{"Page 2 of 2", `rel="prev"`}, []string{" focus"}},
		{"a deep message's thread opens on its page", "/dev/r20b@x/t/", 200,
			[]string{`<article id="` + uid("r20b@x") + `" class="msg d3 focus">`, "Page 2 of 2"}, nil},
		{"flat", "/dev/root@x/T/", 200, []string{"<strong>flat</strong>", "in reply to <a href=\"#" + uid("root@x") + "\">Ann</a>"}, []string{"class=\"msg d1"}},
		{"flat, page 2 answers page 1", "/dev/root@x/T/?page=2", 200, []string{`in reply to <a href="/dev/root@x/T/?page=1#`}, nil},
		{"page 0", "/dev/root@x/t/?page=0", 400, []string{"bad page"}, nil},
		{"page -1", "/dev/root@x/t/?page=-1", 400, nil, nil},
		{"page x", "/dev/root@x/T/?page=x", 400, nil, nil},
		{"empty page", "/dev/root@x/t/?page=", 400, nil, nil},
		{"page past the end", "/dev/root@x/t/?page=3", 400, []string{"the thread has 2 page(s)"}, nil},
		{"unknown message", "/dev/nope@x/t/", 404, []string{"message not found"}, nil},
		{"unknown list", "/nope/root@x/t/", 404, nil, nil},
		{"message page", "/dev/r1a@x/", 200, []string{`href="/dev/r1a@x/t/#` + uid("r1a@x") + `"`, "whole thread", "Answer to 1.",
			`in reply to <a href="/dev/r1@x/">Person 1</a>`, `<details class="headers" open>`}, []string{"Deeper"}},
		{"hostile subject on the thread page", "/dev/s50@x/t/", 200, []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;U&#43;202E&gt;"},
			[]string{"<script>", "\u202e"}},
	})

	// The nested page is depth first: each reply is followed by its answers.
	_, _, p1 := browse(t, f.base+"/dev/root@x/t/")
	_, _, p2 := browse(t, f.base+"/dev/root@x/t/?page=2")
	got := append(articles(p1), articles(p2)...)
	want := []string{uid("root@x") + " d0"}
	for i := 1; i <= 20; i++ {
		want = append(want, uid(fmt.Sprintf("r%d@x", i))+" d1", uid(fmt.Sprintf("r%da@x", i))+" d2", uid(fmt.Sprintf("r%db@x", i))+" d3")
	}
	if !slices.Equal(got, want) {
		t.Errorf("nested order:\n got %v\nwant %v", got, want)
	}
	if n := len(articles(p1)); n != 50 {
		t.Errorf("page 1 has %d messages, want 50", n)
	}
}

func TestTreeOrderCycle(t *testing.T) {
	msgs := []store.Message{
		{MessageID: "a", InReplyTo: "b"},
		{MessageID: "b", InReplyTo: "a"},
		{MessageID: "c"},
		{MessageID: "d", References: []string{"c", "gone"}},
		{MessageID: "e", InReplyTo: "e"},
	}
	order, depth := treeOrder(msgs)
	if !slices.Equal(order, []int{2, 3, 4, 0, 1}) || !slices.Equal(depth, []int{0, 1, 0, 1, 0}) {
		t.Fatalf("order %v depth %v", order, depth)
	}
}

type atomDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string   `xml:"title"`
	ID      string   `xml:"id"`
	Updated string   `xml:"updated"`
	Links   []struct {
		Href string `xml:"href,attr"`
		Rel  string `xml:"rel,attr"`
	} `xml:"link"`
	Entries []struct {
		Title   string `xml:"title"`
		ID      string `xml:"id"`
		Updated string `xml:"updated"`
		Link    struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Author struct {
			Name  string `xml:"name"`
			Email string `xml:"email"`
		} `xml:"author"`
	} `xml:"entry"`
}

func getAtom(t *testing.T, url string) (int, atomDoc, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var d atomDoc
	if res.StatusCode == 200 {
		if ct := res.Header.Get("Content-Type"); ct != "application/atom+xml; charset=utf-8" {
			t.Errorf("Content-Type %q", ct)
		}
		if err := xml.Unmarshal(b, &d); err != nil {
			t.Fatalf("%s does not parse: %v\n%s", url, err, b)
		}
	}
	return res.StatusCode, d, string(b)
}

func TestNewAtom(t *testing.T) {
	f := newArchive(t)
	code, d, raw := getAtom(t, f.base+"/dev/new.atom")
	if code != 200 || len(d.Entries) != 25 {
		t.Fatalf("GET /dev/new.atom = %d with %d entries", code, len(d.Entries))
	}
	e := d.Entries[0] // the newest message
	if e.Title != "Re: a long discussion" || e.Author.Name != "Dee" || e.Author.Email != "dee@example.org" ||
		e.Link.Href != f.base+"/dev/r20b@x/" || !regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(e.ID) {
		t.Errorf("newest entry = %+v", e)
	}
	if _, err := time.Parse(time.RFC3339, e.Updated); err != nil || d.Updated == "" {
		t.Errorf("updated %q / feed %q: %v", e.Updated, d.Updated, err)
	}
	if d.ID != f.base+"/dev/" || len(d.Links) != 2 || d.Links[1].Rel != "self" || d.Links[1].Href != f.base+"/dev/new.atom" {
		t.Errorf("feed id %q links %+v", d.ID, d.Links)
	}
	ids := map[string]bool{}
	for _, e := range d.Entries {
		ids[e.ID] = true
	}
	if len(ids) != 25 {
		t.Errorf("%d distinct ids of 25", len(ids))
	}
	// The whole archive's feed has the quiet list too, and the hostile
	// subject travels escaped and comes back as sent (its bidi control
	// shown).
	code, all, _ := getAtom(t, f.base+"/all/new.atom")
	if code != 200 || len(all.Entries) != 25 || all.Entries[0].Link.Href != f.base+"/dev/r20b@x/" {
		t.Fatalf("GET /all/new.atom = %d, %+v", code, all.Entries)
	}
	code, q, _ := getAtom(t, f.base+"/quiet/new.atom")
	if code != 200 || len(q.Entries) != 1 || q.Entries[0].Link.Href != f.base+"/quiet/old@x/" {
		t.Errorf("quiet feed: %d %+v", code, q.Entries)
	}
	if code, idle, _ := getAtom(t, f.base+"/idle/new.atom"); code != 200 || len(idle.Entries) != 0 {
		t.Errorf("idle feed: %d %+v", code, idle.Entries)
	}
	if code, _, _ := getAtom(t, f.base+"/nope/new.atom"); code != 404 {
		t.Errorf("unknown list feed: %d", code)
	}
	code, _, page := browse(t, f.base+"/all/")
	if code != 200 || !strings.Contains(page, `<a href="/dev/r20b@x/">Re: a long discussion</a>`) || !strings.Contains(page, `<td><a href="/dev/">dev</a></td>`) ||
		strings.Contains(page, "secret") || strings.Contains(page, "<script>") {
		t.Errorf("GET /all/ = %d\n%s", code, page)
	}
	if code, _, body := getAtom(t, f.base+"/secret/new.atom"); code != 404 {
		t.Errorf("private list feed: %d %s", code, body)
	}
	for _, path := range []string{"/secret/", "/secret/?tab=threads", "/secret/hush@x/t/", "/secret/hush@x/T/", "/secret/hush@x/", "/all/hush@x/t/"} {
		if code, _, body := browse(t, f.base+path); code != 404 || strings.Contains(body, "secret plans") {
			t.Errorf("GET %s (private) = %d %s", path, code, body)
		}
	}
	if strings.Contains(raw, "<script>") {
		t.Error("raw <script> in the feed")
	}
}

func TestAtomEscapes(t *testing.T) {
	f := fixture()
	hostile := store.Message{List: "dev", UID: 1, MessageID: "a&b<c>@x", Subject: xssSubject + " \x01 ]]> &amp;",
		From: core.Person{Name: `"Eve" <script>`, Email: "eve@example.org"}, Date: t0, Arrived: t0}
	base := newServer(t, feedReader{f, []store.Message{hostile}}, 0)
	code, d, raw := getAtom(t, base+"/dev/new.atom")
	if code != 200 || len(d.Entries) != 1 {
		t.Fatalf("GET = %d %+v\n%s", code, d, raw)
	}
	e := d.Entries[0]
	if e.Title != "<script>alert(1)</script> fix <U+202E>evil <U+0001> ]]> &amp;" || e.Author.Name != `"Eve" <script>` {
		t.Errorf("entry came back as %q by %q", e.Title, e.Author.Name)
	}
	if e.Link.Href != base+"/dev/a&b%3Cc%3E@x/" {
		t.Errorf("link %q", e.Link.Href)
	}
	if strings.Contains(raw, "<script>") || strings.Contains(raw, "\x01") {
		t.Errorf("unescaped text in the feed:\n%s", raw)
	}
}

// feedReader adds RecentMessages to the fake Reader.
type feedReader struct {
	*fakeReader
	msgs []store.Message
}

func (f feedReader) RecentMessages(ctx context.Context, list string, limit int) ([]store.Message, error) {
	if _, err := f.List(ctx, list); err != nil && list != "" {
		return nil, err
	}
	return f.msgs, nil
}

// The fake Reader browses without filtering or paging (the store's own
// tests cover those).

func (f *fakeReader) ListsByActivity(ctx context.Context) ([]store.List, error) {
	return f.Lists(ctx)
}

func (f *fakeReader) FilterSeries(ctx context.Context, list string, sf store.SeriesFilter) ([]store.Series, error) {
	if err := f.record(call{Method: "FilterSeries", List: list, Status: sf.Status}); err != nil {
		return nil, err
	}
	return slices.Clone(f.series), nil
}

func (f *fakeReader) ThreadSummaries(ctx context.Context, list string, before, after uint32, limit int) ([]store.ThreadSummary, error) {
	if err := f.record(call{Method: "ThreadSummaries", List: list}); err != nil {
		return nil, err
	}
	var out []store.ThreadSummary
	for _, th := range f.threads {
		out = append(out, store.ThreadSummary{Thread: th})
	}
	return out, nil
}

func TestBaseSubject(t *testing.T) {
	for in, want := range map[string]string{
		"Re: x":              "x",
		"RE: re:  Aw: x":     "x",
		" x ":                "x",
		"Fwd: x":             "Fwd: x",
		"Re:":                "",
		"[PATCH] re: thing":  "[PATCH] re: thing",
		"Réponse: accentués": "Réponse: accentués",
	} {
		if got := baseSubject(in); got != want {
			t.Errorf("baseSubject(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSplitBody(t *testing.T) {
	got := splitBody("> q1\n>> q2\nplain \u202e\n\n>q3\nend\n\n\n")
	want := []block{{true, "> q1\n>> q2\n", 2}, {false, "plain <U+202E>\n\n", 2}, {true, ">q3\n", 1}, {false, "end\n", 1}}
	if !slices.Equal(got, want) {
		t.Errorf("splitBody = %+v", got)
	}
	if got := splitBody(""); !slices.Equal(got, []block{{false, "\n", 1}}) {
		t.Errorf("splitBody(\"\") = %+v", got)
	}
}

func BenchmarkSplitBody(b *testing.B) {
	body := strings.Repeat("+\tline of a long diff, with some text in it\n", 5000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		splitBody(body)
	}
}
