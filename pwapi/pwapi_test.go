package pwapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/review"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// seriesMails is a series of n patches (with a cover letter when cover)
// by from, as git format-patch --thread writes them.
func seriesMails(list, tag, title, from string, n int, cover bool) [][]byte {
	var out [][]byte
	root := ""
	if cover {
		root = tag + "-0@example.org"
		out = append(out, []byte(fmt.Sprintf("From: %s\r\nTo: %s@lists.example.org\r\nSubject: [PATCH 0/%d] %s\r\n"+
			"Message-ID: <%s>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nA cover letter.\r\n", from, list, n, title, root)))
	}
	for i := 1; i <= n; i++ {
		id := fmt.Sprintf("%s-%d@example.org", tag, i)
		irt := ""
		if root != "" {
			irt = "In-Reply-To: <" + root + ">\r\nReferences: <" + root + ">\r\n"
		} else if i > 1 {
			root = tag + "-1@example.org"
			irt = "In-Reply-To: <" + root + ">\r\nReferences: <" + root + ">\r\n"
		}
		subj := fmt.Sprintf("[PATCH %d/%d] %s part %d", i, n, title, i)
		if n == 1 {
			subj = "[PATCH] " + title
		}
		out = append(out, []byte(fmt.Sprintf("From: %s\r\nTo: %s@lists.example.org\r\nSubject: %s\r\nMessage-ID: <%s>\r\n%s"+
			"Date: Mon, 1 Jan 2024 00:0%d:00 +0000\r\n\r\nChange %s %d.\r\n\r\nSigned-off-by: %s\r\n---\r\n"+
			"diff --git a/f%d.txt b/f%d.txt\r\n--- a/f%d.txt\r\n+++ b/f%d.txt\r\n@@ -1 +1 @@\r\n-old\r\n+new %s\r\n",
			from, list, subj, id, irt, i, title, i, from, i, i, i, i, tag)))
	}
	return out
}

// notes records the events the API tells.
type notes struct {
	mu     sync.Mutex
	events []string
}

func (n *notes) StatusChanged(ctx context.Context, s *store.Series, c *store.StatusChange) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, fmt.Sprintf("status %d %s->%s", s.ID, c.From, c.To))
	return nil
}

func (n *notes) CheckCreated(ctx context.Context, s *store.Series, c *store.Check) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, fmt.Sprintf("check %d/%d %s %s", s.ID, c.PatchIndex, c.Context, c.State))
	return nil
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.events)
}

type env struct {
	notes  *notes
	t      *testing.T
	st     *store.DB
	srv    *httptest.Server
	tokens map[string]string // by user: admin, maint, reader
	users  map[string]int64
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	// PATCHWELL_STORE_BACKEND=postgres runs these on PostgreSQL.
	var st *store.DB
	var err error
	if os.Getenv("PATCHWELL_STORE_BACKEND") == "postgres" {
		st, err = store.OpenPostgres(ctx, pgtest.URL(t))
	} else {
		st, err = store.Open(ctx, t.TempDir())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
	for _, l := range []struct{ name, vis string }{{"pub", store.VisibilityPublic}, {"sec", store.VisibilityPrivate}} {
		if _, err := st.CreateList(ctx, store.List{Name: l.name, Visibility: l.vis}); err != nil {
			t.Fatal(err)
		}
	}
	post := func(list string, mails [][]byte) {
		for _, m := range mails {
			if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: m}); err != nil {
				t.Fatal(err)
			}
		}
	}
	post("pub", seriesMails("pub", "a", "Speed up the parser", "Ann Dev <ann@example.org>", 3, true))
	post("pub", seriesMails("pub", "b", "Fix the docs", "Bob Writer <bob@example.org>", 2, false))
	post("sec", seriesMails("sec", "s", "Close the hole", "Ann Dev <ann@example.org>", 1, false))
	in.Close()
	acc := review.NewAccounts(st, review.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	e := &env{t: t, st: st, tokens: map[string]string{}, users: map[string]int64{}, notes: &notes{}}
	for _, u := range []struct {
		name  string
		admin bool
		role  string
	}{{"admin", true, ""}, {"maint", false, store.RoleMaintainer}, {"reader", false, ""}} {
		nu, err := acc.AddUser(ctx, u.name+"@example.org", strings.ToUpper(u.name[:1])+u.name[1:]+" User", "correct horse battery", u.admin)
		if err != nil {
			t.Fatal(err)
		}
		e.users[u.name] = nu.ID
		if u.role != "" {
			for _, l := range []string{"pub", "sec"} {
				if err := st.SetRole(ctx, nu.ID, l, u.role); err != nil {
					t.Fatal(err)
				}
			}
		}
		if e.tokens[u.name], _, err = acc.NewToken(ctx, nu.ID, "test"); err != nil {
			t.Fatal(err)
		}
	}
	svc := review.NewService(st)
	h := New(Config{Lists: st, Patches: st, Series: st, Checks: st, Events: st, Mbox: svc, Revisions: svc, Tokens: acc, Users: st, Bundles: st, Notify: e.notes,
		Domain: "lists.example.org", BaseURL: "http://pw.example", Log: slog.New(slog.NewTextHandler(t.Output(), nil))})
	mux := http.NewServeMux()
	for _, p := range Patterns() {
		mux.Handle(p, h)
	}
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	return e
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

// do sends a request as who ("" anonymous, else a user's token, or
// "bad" for an unknown token).
func (e *env) do(method, path, who, ctype, body string) response {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	switch who {
	case "":
	case "bad":
		req.Header.Set("Authorization", "Token nope")
	default:
		req.Header.Set("Authorization", "Token "+e.tokens[who])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}
}

func (e *env) get(path, who string) response { return e.do("GET", path, who, "", "") }

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
	return v
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestPatchShapes(t *testing.T) {
	e := newEnv(t)
	r := e.get("/api/1.2/patches/?project=pub", "")
	if r.code != 200 || r.header.Get("Content-Type") != "application/json" {
		t.Fatalf("list = %d %s", r.code, r.body)
	}
	items := decode[[]map[string]any](t, r)
	if len(items) != 5 {
		t.Fatalf("patches of pub = %d, want 5", len(items))
	}
	want := []string{"archived", "check", "checks", "comments", "commit_ref", "date", "delegate", "hash", "id", "list_archive_url",
		"mbox", "msgid", "name", "project", "pull_url", "related", "series", "state", "submitter", "tags", "url", "web_url"}
	if d := cmp.Diff(want, keys(items[0])); d != "" {
		t.Errorf("list item fields (-want +got):\n%s", d)
	}
	first := items[0]
	if first["id"].(float64) != 1 || first["name"] != "[PATCH 1/3] Speed up the parser part 1" || first["state"] != "new" ||
		first["msgid"] != "<a-1@example.org>" || first["date"] != "2024-01-01T00:01:00" || first["check"] != "pending" ||
		first["url"] != "http://pw.example/api/1.2/patches/1/" || first["mbox"] != "http://pw.example/api/1.2/patches/1/mbox/" ||
		first["archived"] != false || first["delegate"] != nil || first["commit_ref"] != nil {
		t.Errorf("first patch = %v", first)
	}
	proj := first["project"].(map[string]any)
	if proj["link_name"] != "pub" || proj["list_email"] != "pub@lists.example.org" || proj["list_id"] != "pub.lists.example.org" ||
		len(proj["maintainers"].([]any)) != 1 {
		t.Errorf("project = %v", proj)
	}
	sub := first["submitter"].(map[string]any)
	if sub["name"] != "Ann Dev" || sub["email"] != "ann@example.org" {
		t.Errorf("submitter = %v", sub)
	}
	series := first["series"].([]any)[0].(map[string]any)
	if series["name"] != "Speed up the parser" || series["version"].(float64) != 1 || series["mbox"] != "http://pw.example/api/1.2/series/1/mbox/" {
		t.Errorf("series = %v", series)
	}

	// The detail adds headers, content and diff.
	d := decode[map[string]any](t, e.get("/api/1.1/patches/2/", ""))
	if d["url"] != "http://pw.example/api/1.1/patches/2/" {
		t.Errorf("detail url follows the version asked: %v", d["url"])
	}
	if c, _ := d["content"].(string); !strings.Contains(c, "Change Speed up the parser 2.") || strings.Contains(c, "diff --git") {
		t.Errorf("content = %q", c)
	}
	if df, _ := d["diff"].(string); !strings.HasPrefix(df, "diff --git a/f2.txt b/f2.txt\n") {
		t.Errorf("diff = %q", df)
	}
	if h, _ := d["headers"].(map[string]any); h["Message-ID"] != "<a-2@example.org>" {
		t.Errorf("headers = %v", h)
	}

	// The mbox is the mail as sent, ready for git am.
	r = e.get("/api/patches/2/mbox/", "")
	if r.code != 200 || !strings.Contains(r.header.Get("Content-Disposition"), "filename=2.patch") ||
		!strings.HasPrefix(string(r.body), "From ann@example.org ") || !strings.Contains(string(r.body), "Subject: [PATCH 2/3]") {
		t.Errorf("mbox = %d %v %.200s", r.code, r.header, r.body)
	}

	// A series and its cover letter.
	s := decode[map[string]any](t, e.get("/api/1.2/series/1/", ""))
	if s["name"] != "Speed up the parser" || s["total"].(float64) != 3 || s["received_total"].(float64) != 3 ||
		s["received_all"] != true || len(s["patches"].([]any)) != 3 {
		t.Errorf("series = %v", s)
	}
	cover, _ := s["cover_letter"].(map[string]any)
	if cover == nil || cover["msgid"] != "<a-0@example.org>" || cover["url"] != "http://pw.example/api/1.2/covers/1/" {
		t.Errorf("cover_letter = %v", s["cover_letter"])
	}
	c := decode[map[string]any](t, e.get("/api/1.2/covers/1/", ""))
	if cont, _ := c["content"].(string); !strings.Contains(cont, "A cover letter.") {
		t.Errorf("cover = %v", c)
	}
	if s2 := decode[map[string]any](t, e.get("/api/1.2/series/2/", "")); s2["cover_letter"] != nil {
		t.Errorf("series without a cover: cover_letter = %v", s2["cover_letter"])
	}
	r = e.get("/api/1.2/series/1/mbox/", "")
	if r.code != 200 || strings.Count(string(r.body), "\nSubject: [PATCH ") != 3 {
		t.Errorf("series mbox = %d %s", r.code, r.body)
	}

	// The API root lists the resources.
	root := decode[map[string]any](t, e.get("/api/1.2/", ""))
	if root["patches"] != "http://pw.example/api/1.2/patches/" || root["series"] != "http://pw.example/api/1.2/series/" {
		t.Errorf("root = %v", root)
	}
}

func TestPaging(t *testing.T) {
	e := newEnv(t)
	ids := func(r response) []int {
		var out []int
		for _, it := range decode[[]struct{ ID int }](t, r) {
			out = append(out, it.ID)
		}
		return out
	}
	base := "http://pw.example/api/1.2/patches/"
	for _, c := range []struct {
		page string
		ids  []int
		link string
	}{
		{"", []int{1, 2}, `<` + base + `?page=2&per_page=2&project=pub>; rel="next"`},
		{"2", []int{3, 4}, `<` + base + `?page=3&per_page=2&project=pub>; rel="next", <` + base + `?per_page=2&project=pub>; rel="prev"`},
		{"3", []int{5}, `<` + base + `?page=2&per_page=2&project=pub>; rel="prev"`},
	} {
		q := "/api/1.2/patches/?project=pub&per_page=2"
		if c.page != "" {
			q += "&page=" + c.page
		}
		r := e.get(q, "")
		if got := ids(r); r.code != 200 || !slices.Equal(got, c.ids) {
			t.Errorf("page %q: %d %v, want %v", c.page, r.code, got, c.ids)
		}
		if got := r.header.Get("Link"); got != c.link {
			t.Errorf("page %q Link:\n got %s\nwant %s", c.page, got, c.link)
		}
	}
	for _, q := range []string{"page=4", "page=0", "page=x"} {
		r := e.get("/api/1.2/patches/?project=pub&per_page=2&"+q, "")
		if r.code != 404 || string(r.body) != `{"detail":"Invalid page."}`+"\n" {
			t.Errorf("%s: %d %s", q, r.code, r.body)
		}
	}
	// per_page is capped at 250, as patchwork caps it; order=-id reverses.
	if got := ids(e.get("/api/1.2/patches/?project=pub&per_page=1000&order=-id", "")); !slices.Equal(got, []int{5, 4, 3, 2, 1}) {
		t.Errorf("order=-id: %v", got)
	}
}

func TestFilters(t *testing.T) {
	e := newEnv(t)
	ids := func(q string) []int {
		t.Helper()
		r := e.get("/api/1.2/patches/?"+q, "")
		if r.code != 200 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
		var out []int
		for _, it := range decode[[]struct{ ID int }](t, r) {
			out = append(out, it.ID)
		}
		return out
	}
	if r := e.do("PATCH", "/api/1.2/patches/4/", "maint", "application/x-www-form-urlencoded",
		"state=under-review&delegate="+fmt.Sprint(e.users["maint"])+"&archived=true"); r.code != 200 {
		t.Fatalf("PATCH: %d %s", r.code, r.body)
	}
	for _, c := range []struct {
		q    string
		want []int
	}{
		{"project=pub", []int{1, 2, 3, 4, 5}},
		{"project=1", []int{1, 2, 3, 4, 5}}, // by id, as patchwork accepts
		{"", []int{1, 2, 3, 4, 5}},          // anonymous: every list it may read
		{"project=pub&state=new", []int{1, 2, 3, 5}},
		{"project=pub&state=under-review&state=new", []int{1, 2, 3, 4, 5}},
		{"project=pub&state=accepted", nil},
		{"project=pub&submitter=bob@example.org", []int{4, 5}},
		{"project=pub&submitter=BOB@example.org", []int{4, 5}},
		{"project=pub&archived=false", []int{1, 2, 3, 5}},
		{"project=pub&archived=true", []int{4}},
		{"project=pub&delegate=" + fmt.Sprint(e.users["maint"]), []int{4}},
		{"project=pub&delegate=maint@example.org", []int{4}},
		{"project=pub&delegate=nobody@example.org", nil},
		{"project=pub&q=docs", []int{4, 5}},
		{"project=pub&q=PART+2", []int{2, 5}},
		{"project=pub&msgid=%3Ca-3@example.org%3E", []int{3}},
		{"project=pub&msgid=a-3@example.org", []int{3}},
		{"project=pub&series=2", []int{4, 5}},
	} {
		if got := ids(c.q); !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.q, got, c.want)
		}
	}
	// hash is git patch-id --stable.
	var p struct{ Hash string }
	p = decode[struct{ Hash string }](t, e.get("/api/1.2/patches/2/", ""))
	if got := ids("project=pub&hash=" + p.Hash); p.Hash == "" || !slices.Equal(got, []int{2}) {
		t.Errorf("hash %q: %v", p.Hash, got)
	}
	for _, q := range []string{"project=nope", "project=sec", "project=99"} {
		if r := e.get("/api/1.2/patches/?"+q, ""); r.code != 404 || string(r.body) != `{"detail":"Not found."}`+"\n" {
			t.Errorf("%s: %d %s", q, r.code, r.body)
		}
	}
}

func TestAuthAndErrors(t *testing.T) {
	e := newEnv(t)
	form := "application/x-www-form-urlencoded"
	for _, c := range []struct {
		name, method, path, who, ctype, body string
		code                                 int
		detail                               string
	}{
		{"anonymous update", "PATCH", "/api/1.2/patches/1/", "", form, "state=accepted", 401, "Authentication credentials were not provided."},
		{"bad token", "GET", "/api/1.2/patches/", "bad", "", "", 401, "Invalid token."},
		{"reader update", "PATCH", "/api/1.2/patches/1/", "reader", form, "state=accepted", 403, "You do not have permission to perform this action."},
		{"bad state", "PATCH", "/api/1.2/patches/1/", "maint", form, "state=merged", 400, `Invalid state "merged": one of new, under-review, accepted, rejected, rfc, not-applicable, changes-requested, awaiting-upstream, superseded, deferred.`},
		{"bad archived", "PATCH", "/api/1.2/patches/1/", "maint", "application/json", `{"archived": "maybe"}`, 400, `Invalid archived "maybe": true or false.`},
		{"delegate not a maintainer", "PATCH", "/api/1.2/patches/1/", "maint", form, "delegate=reader@example.org", 400, "User 'reader@example.org' is not a maintainer for project 'pub'"},
		{"unknown delegate", "PATCH", "/api/1.2/patches/1/", "maint", form, "delegate=999", 400, `Invalid delegate "999": no such user.`},
		{"bad JSON", "PATCH", "/api/1.2/patches/1/", "maint", "application/json", `{"state":`, 400, "JSON parse error - unexpected end of JSON input"},
		{"unknown patch", "GET", "/api/1.2/patches/999/", "", "", "", 404, "Not found."},
		{"bad id", "GET", "/api/1.2/patches/x/", "", "", "", 404, "Not found."},
		{"unknown resource", "GET", "/api/1.2/nothing/", "", "", "", 404, "Not found."},
		{"private patch, anonymous", "GET", "/api/1.2/patches/6/", "", "", "", 404, "Not found."},
		{"private patch, no role", "GET", "/api/1.2/patches/6/", "reader", "", "", 404, "Not found."},
		{"private patch update, no role", "PATCH", "/api/1.2/patches/6/", "reader", form, "state=accepted", 404, "Not found."},
		{"private series", "GET", "/api/1.2/series/3/", "", "", "", 404, "Not found."},
		{"private series mbox", "GET", "/api/1.2/series/3/mbox/", "reader", "", "", 404, "Not found."},
		{"private patch mbox", "GET", "/api/1.2/patches/6/mbox/", "", "", "", 404, "Not found."},
		{"private checks", "GET", "/api/1.2/patches/6/checks/", "", "", "", 404, "Not found."},
		{"private project", "GET", "/api/1.2/projects/sec/", "reader", "", "", 404, "Not found."},
		{"check anonymous", "POST", "/api/1.2/patches/1/checks/", "", form, "state=success&context=ci", 401, "Authentication credentials were not provided."},
		{"check reader", "POST", "/api/1.2/patches/1/checks/", "reader", form, "state=success&context=ci", 403, "You do not have permission to perform this action."},
		{"check bad state", "POST", "/api/1.2/patches/1/checks/", "maint", form, "state=passed&context=ci", 400, `Invalid state "passed": one of pending, success, warning, fail.`},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(c.method, c.path, c.who, c.ctype, c.body)
			got := decode[map[string]string](t, r)
			if r.code != c.code || got["detail"] != c.detail {
				t.Errorf("%s %s = %d %s, want %d %q", c.method, c.path, r.code, r.body, c.code, c.detail)
			}
		})
	}
	// Who may read a private list sees it.
	for _, who := range []string{"maint", "admin"} {
		if r := e.get("/api/1.2/patches/6/", who); r.code != 200 {
			t.Errorf("%s: private patch = %d", who, r.code)
		}
		if ps := decode[[]struct{ ID int }](t, e.get("/api/1.2/patches/?project=sec", who)); len(ps) != 1 || ps[0].ID != 6 {
			t.Errorf("%s: sec patches = %v", who, ps)
		}
	}
	if ps := decode[[]struct{ ID int }](t, e.get("/api/1.2/patches/?per_page=100", "reader")); len(ps) != 5 {
		t.Errorf("reader's patches over all lists = %v, want pub's 5", ps)
	}
	if ps := decode[[]map[string]any](t, e.get("/api/1.2/projects/", "")); len(ps) != 1 || ps[0]["name"] != "pub" {
		t.Errorf("anonymous projects = %v", ps)
	}
}

func TestUpdateAndSeriesFollow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	type patch struct {
		State     string
		Archived  bool
		CommitRef *string `json:"commit_ref"`
		Delegate  *struct{ Email, Username string }
	}
	// Form-encoded, as git-pw sends it.
	r := e.do("PATCH", "/api/1.2/patches/1/", "maint", "application/x-www-form-urlencoded",
		"state=accepted&delegate=maint%40example.org&archived=True&commit_ref=abc123")
	p := decode[patch](t, r)
	if r.code != 200 || p.State != "accepted" || !p.Archived || p.CommitRef == nil || *p.CommitRef != "abc123" ||
		p.Delegate == nil || p.Delegate.Username != "maint@example.org" {
		t.Fatalf("PATCH form = %d %s", r.code, r.body)
	}
	// JSON, as other clients send it; a null delegate clears it.
	r = e.do("PATCH", "/api/1.2/patches/1/", "admin", "application/json", `{"delegate": null, "archived": false}`)
	if p = decode[patch](t, r); r.code != 200 || p.Delegate != nil || p.Archived || p.State != "accepted" {
		t.Fatalf("PATCH JSON = %d %s", r.code, r.body)
	}
	status := func(id int64) string {
		se, err := e.st.Series(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return se.Status
	}
	// Two of three accepted: the series is unchanged.
	e.do("PATCH", "/api/1.2/patches/2/", "maint", "application/json", `{"state": "accepted", "commit_ref": "def456"}`)
	if s := status(1); s != store.StatusProposed {
		t.Errorf("two of three accepted: series %s", s)
	}
	// All accepted, each with a commit: the series is applied, by maint.
	e.do("PATCH", "/api/1.2/patches/3/", "maint", "application/json", `{"state": "accepted", "commit_ref": "789abc"}`)
	if s := status(1); s != store.StatusApplied {
		t.Errorf("all accepted with commits: series %s, want applied", s)
	}
	if got := e.notes.all(); !slices.Equal(got, []string{"status 1 proposed->applied"}) {
		t.Errorf("events = %q", got)
	}
	h, err := e.st.StatusHistory(ctx, 1)
	if err != nil || len(h) != 1 || h[0].To != store.StatusApplied || h[0].User == nil || h[0].User.Email != "maint@example.org" {
		t.Errorf("history = %+v %v", h, err)
	}
	// All accepted without commits: approved.
	e.do("PATCH", "/api/1.2/patches/4/", "maint", "application/json", `{"state": "accepted"}`)
	e.do("PATCH", "/api/1.2/patches/5/", "maint", "application/json", `{"state": "accepted"}`)
	if s := status(2); s != store.StatusApproved {
		t.Errorf("all accepted without commits: series %s, want approved", s)
	}
	// The series' status set again: its patches follow it.
	states := func(series string) []string {
		var out []string
		for _, p := range decode[[]patch](t, e.get("/api/1.2/patches/?series="+series, "")) {
			out = append(out, p.State)
		}
		return out
	}
	if _, err := e.st.SetSeriesStatus(ctx, 2, store.StatusNeedsRevision, e.users["maint"], "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := states("2"); !slices.Equal(got, []string{"changes-requested", "changes-requested"}) {
		t.Errorf("after needs_revision: %v", got)
	}
	if _, err := e.st.SetSeriesStatus(ctx, 2, store.StatusApplied, e.users["maint"], "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := states("2"); !slices.Equal(got, []string{"accepted", "accepted"}) {
		t.Errorf("after applied: %v", got)
	}
	if _, err := e.st.SetSeriesStatus(ctx, 2, store.StatusRejected, e.users["maint"], "", time.Now()); err != nil {
		t.Fatal(err)
	}
	if got := states("2"); !slices.Equal(got, []string{"rejected", "rejected"}) {
		t.Errorf("after rejected: %v", got)
	}
}

func TestChecks(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// Form-encoded, then JSON (snowpatch); the same context replaces.
	r := e.do("POST", "/api/1.2/patches/2/checks/", "maint", "application/x-www-form-urlencoded",
		"state=pending&context=snowpatch&target_url=https%3A%2F%2Fci.example%2F1&description=queued")
	if r.code != 201 {
		t.Fatalf("POST form = %d %s", r.code, r.body)
	}
	r = e.do("POST", "/api/1.2/patches/2/checks/", "maint", "application/json",
		`{"state": "warning", "target_url": "https://ci.example/2", "context": "snowpatch", "description": "sparse: 2 warnings"}`)
	c := decode[map[string]any](t, r)
	want := []string{"context", "date", "description", "id", "state", "target_url", "url", "user"}
	if d := cmp.Diff(want, keys(c)); r.code != 201 || d != "" {
		t.Fatalf("POST JSON = %d %s (fields -want +got %s)", r.code, r.body, d)
	}
	if c["state"] != "warning" || c["target_url"] != "https://ci.example/2" || c["user"].(map[string]any)["email"] != "maint@example.org" {
		t.Errorf("check = %v", c)
	}
	// It is patchwell's check of patch 2 of series 1.
	cs, err := e.st.Checks(ctx, 1)
	if err != nil || len(cs) != 1 || cs[0].PatchIndex != 2 || cs[0].Context != "snowpatch" || cs[0].State != "warning" ||
		cs[0].URL != "https://ci.example/2" || cs[0].Description != "sparse: 2 warnings" {
		t.Fatalf("store checks = %+v %v", cs, err)
	}
	if got := e.notes.all(); !slices.Equal(got, []string{"check 1/2 snowpatch pending", "check 1/2 snowpatch warning"}) {
		t.Errorf("events = %q", got)
	}
	// A series-wide check applies to every patch.
	if _, err := e.st.SetCheck(ctx, &store.Check{SeriesID: 1, Context: "build", State: store.CheckSuccess}); err != nil {
		t.Fatal(err)
	}
	list := decode[[]map[string]any](t, e.get("/api/1.2/patches/2/checks/", ""))
	if len(list) != 2 {
		t.Errorf("checks of patch 2 = %v", list)
	}
	if l1 := decode[[]map[string]any](t, e.get("/api/1.2/patches/1/checks/", "")); len(l1) != 1 || l1[0]["context"] != "build" {
		t.Errorf("checks of patch 1 = %v", l1)
	}
	for id, want := range map[string]string{"1": "success", "2": "warning", "4": "pending"} {
		if p := decode[map[string]any](t, e.get("/api/1.2/patches/"+id+"/", "")); p["check"] != want {
			t.Errorf("patch %s check = %v, want %s", id, p["check"], want)
		}
	}
	one := decode[map[string]any](t, e.get(fmt.Sprintf("/api/1.2/patches/2/checks/%d/", cs[0].ID), ""))
	if one["context"] != "snowpatch" {
		t.Errorf("one check = %v", one)
	}
}

func TestUsersAndComments(t *testing.T) {
	e := newEnv(t)
	us := decode[[]map[string]any](t, e.get("/api/1.2/users/?q=maint", ""))
	if len(us) != 1 || us[0]["username"] != "maint@example.org" || us[0]["first_name"] != "Maint" || us[0]["id"].(float64) != float64(e.users["maint"]) {
		t.Errorf("users?q=maint = %v", us)
	}
	// Only maintainers of readable lists, and the caller: not every account.
	names := func(who, path string) []string {
		var out []string
		for _, u := range decode[[]map[string]any](t, e.get(path, who)) {
			out = append(out, u["email"].(string))
		}
		return out
	}
	for _, c := range []struct {
		who, path string
		want      []string
	}{
		{"", "/api/1.2/users/", []string{"maint@example.org"}},
		{"reader", "/api/1.2/users/", []string{"maint@example.org", "reader@example.org"}},
		{"", "/api/1.2/people/", []string{"maint@example.org"}},
		{"", "/api/1.2/users/?q=reader", nil},
	} {
		if got := names(c.who, c.path); !slices.Equal(got, c.want) {
			t.Errorf("%q %s = %v, want %v", c.who, c.path, got, c.want)
		}
	}
	if r := e.get(fmt.Sprintf("/api/1.2/users/%d/", e.users["reader"]), ""); r.code != 404 {
		t.Errorf("another account's user detail, anonymous: %d", r.code)
	}
	if r := e.get(fmt.Sprintf("/api/1.2/users/%d/", e.users["reader"]), "reader"); r.code != 200 {
		t.Errorf("own user detail: %d", r.code)
	}
	// A reply to a patch is its comment.
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	defer in.Close()
	reply := "From: Rev Iewer <rev@example.org>\r\nTo: pub@lists.example.org\r\nSubject: Re: [PATCH 2/3] Speed up the parser part 2\r\n" +
		"Message-ID: <r1@example.org>\r\nIn-Reply-To: <a-2@example.org>\r\nReferences: <a-0@example.org> <a-2@example.org>\r\n" +
		"Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\nLooks good.\r\n\r\nReviewed-by: Rev Iewer <rev@example.org>\r\n"
	if err := in.Post(context.Background(), review.Post{Lists: []string{"pub"}, Raw: []byte(reply)}); err != nil {
		t.Fatal(err)
	}
	cs := decode[[]map[string]any](t, e.get("/api/1.2/patches/2/comments/", ""))
	if len(cs) != 1 || cs[0]["msgid"] != "<r1@example.org>" || !strings.Contains(cs[0]["content"].(string), "Looks good.") {
		t.Errorf("comments of patch 2 = %v", cs)
	}
	if cs := decode[[]map[string]any](t, e.get("/api/1.2/patches/1/comments/", "")); len(cs) != 0 {
		t.Errorf("comments of patch 1 = %v", cs)
	}
	// The cover's are the replies to it, not its patches nor their replies.
	if cs := decode[[]map[string]any](t, e.get("/api/1.2/covers/1/comments/", "")); len(cs) != 0 {
		t.Errorf("comments of the cover = %v", cs)
	}
	reply = strings.NewReplacer("r1@", "r2@", "In-Reply-To: <a-2@", "In-Reply-To: <a-0@", "Looks good.", "Nice series.").Replace(reply)
	if err := in.Post(context.Background(), review.Post{Lists: []string{"pub"}, Raw: []byte(reply)}); err != nil {
		t.Fatal(err)
	}
	if cs := decode[[]map[string]any](t, e.get("/api/1.2/covers/1/comments/", "")); len(cs) != 1 || cs[0]["msgid"] != "<r2@example.org>" {
		t.Errorf("comments of the cover = %v", cs)
	}
}
