package pwapi

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/review"
)

// eventsOf gets a page of events and checks it is a JSON list.
func (e *env) eventsOf(path, who string) []map[string]any {
	e.t.Helper()
	r := e.get(path, who)
	if r.code != 200 {
		e.t.Fatalf("GET %s = %d %s", path, r.code, r.body)
	}
	return decode[[]map[string]any](e.t, r)
}

// TestEvents: after a state change, a delegation, a check posted and
// two replies, each of patchwork's event categories is there with its
// payload, actor and project; the filters, paging, versions and private
// lists.
func TestEvents(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if r := e.do("PATCH", "/api/1.2/patches/2/", "maint", "application/x-www-form-urlencoded",
		"state=accepted&delegate=maint%40example.org"); r.code != 200 {
		t.Fatalf("PATCH = %d %s", r.code, r.body)
	}
	if r := e.do("POST", "/api/1.2/patches/2/checks/", "maint", "application/json",
		`{"state": "success", "target_url": "https://ci.example/1", "context": "snowpatch", "description": "ok"}`); r.code != 201 {
		t.Fatalf("POST check = %d %s", r.code, r.body)
	}
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	for _, m := range []string{
		"From: Rev <rev@example.org>\r\nTo: pub@lists.example.org\r\nSubject: Re: [PATCH 1/3] Speed up the parser part 1\r\n" +
			"Message-ID: <rev-1@example.org>\r\nIn-Reply-To: <a-1@example.org>\r\nReferences: <a-0@example.org> <a-1@example.org>\r\n" +
			"Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\nLooks good.\r\n",
		"From: Rev <rev@example.org>\r\nTo: pub@lists.example.org\r\nSubject: Re: [PATCH 0/3] Speed up the parser\r\n" +
			"Message-ID: <rev-0@example.org>\r\nIn-Reply-To: <a-0@example.org>\r\nReferences: <a-0@example.org>\r\n" +
			"Date: Tue, 2 Jan 2024 00:00:00 +0000\r\n\r\nNice series.\r\n",
	} {
		if err := in.Post(ctx, review.Post{Lists: []string{"pub"}, Raw: []byte(m)}); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()

	// Each category, with patchwork's payload (API 1.3 has them all).
	for _, c := range []struct {
		category string
		n        int
		payload  []string
	}{
		{"cover-created", 1, []string{"cover"}},
		{"patch-created", 5, []string{"patch"}},
		{"patch-completed", 5, []string{"patch", "series"}},
		{"patch-state-changed", 1, []string{"current_state", "patch", "previous_state"}},
		{"patch-delegated", 1, []string{"current_delegate", "patch", "previous_delegate"}},
		{"check-created", 1, []string{"check", "patch"}},
		{"series-created", 2, []string{"series"}},
		{"series-completed", 2, []string{"series"}},
		{"cover-comment-created", 1, []string{"comment", "cover"}},
		{"patch-comment-created", 1, []string{"comment", "patch"}},
		{"patch-relation-changed", 0, nil},
	} {
		evs := e.eventsOf("/api/1.3/events/?project=pub&category="+c.category, "")
		if len(evs) != c.n {
			t.Errorf("%s: %d events, want %d: %v", c.category, len(evs), c.n, evs)
			continue
		}
		for _, ev := range evs {
			if d := cmp.Diff([]string{"actor", "category", "date", "id", "payload", "project"}, keys(ev)); d != "" {
				t.Errorf("%s: fields (-want +got):\n%s", c.category, d)
			}
			if d := cmp.Diff(c.payload, keys(ev["payload"].(map[string]any))); d != "" || ev["category"] != c.category ||
				ev["project"].(map[string]any)["link_name"] != "pub" {
				t.Errorf("%s: %v (payload -want +got:\n%s)", c.category, ev, d)
			}
		}
	}
	ev := e.eventsOf("/api/1.2/events/?category=patch-state-changed", "")[0]
	p := ev["payload"].(map[string]any)
	if ev["actor"].(map[string]any)["email"] != "maint@example.org" || p["previous_state"] != "new" || p["current_state"] != "accepted" ||
		p["patch"].(map[string]any)["id"] != 2.0 || p["patch"].(map[string]any)["msgid"] != "<a-2@example.org>" {
		t.Errorf("patch-state-changed = %v", ev)
	}
	p = e.eventsOf("/api/1.2/events/?category=patch-delegated", "")[0]["payload"].(map[string]any)
	if p["previous_delegate"] != nil || p["current_delegate"].(map[string]any)["email"] != "maint@example.org" {
		t.Errorf("patch-delegated payload = %v", p)
	}
	ev = e.eventsOf("/api/1.2/events/?category=check-created", "")[0]
	check := ev["payload"].(map[string]any)["check"].(map[string]any)
	if check["context"] != "snowpatch" || check["state"] != "success" || check["target_url"] != "https://ci.example/1" ||
		ev["actor"].(map[string]any)["email"] != "maint@example.org" {
		t.Errorf("check-created = %v", ev)
	}
	// A comment's link answers the comment.
	c := e.eventsOf("/api/1.3/events/?category=patch-comment-created", "")[0]["payload"].(map[string]any)["comment"].(map[string]any)
	if c["msgid"] != "<rev-1@example.org>" {
		t.Errorf("comment = %v", c)
	}
	r := e.get(strings.TrimPrefix(c["url"].(string), "http://pw.example"), "")
	if one := decode[map[string]any](t, r); r.code != 200 || one["msgid"] != "<rev-1@example.org>" {
		t.Errorf("GET %s = %d %s", c["url"], r.code, r.body)
	}

	// Versions: no actor before 1.2, no comment events before 1.3.
	if ev := e.eventsOf("/api/1.1/events/?project=pub", ""); len(ev) == 0 || ev[0]["actor"] != nil || slices.Contains(keys(ev[0]), "actor") {
		t.Errorf("1.1 event = %v", ev)
	}
	if ev := e.eventsOf("/api/1.2/events/?project=pub&category=patch-comment-created", ""); len(ev) != 0 {
		t.Errorf("1.2 comment events = %v", ev)
	}
	all := e.eventsOf("/api/events/?project=pub&per_page=100", "")
	if len(all) != 20 {
		t.Errorf("%d events in pub, want 20", len(all))
	}
	// Filters.
	for _, c := range []struct {
		query string
		n     int
	}{
		{"patch=2", 5},          // created, completed, state, delegated, check
		{"series=2", 2 + 2 + 2}, // patches created, completed; series created, completed
		{"cover=1", 2},
		{"actor=maint%40example.org", 3},
		{"since=2030-01-01T00:00:00", 0},
		{"before=2000-01-01", 0},
		{"since=2000-01-01T00:00:00Z&before=2100-01-01T00:00:00%2B02:00", 20},
		{"category=patch-created,cover-created", 6},
		{"category=patch-created&category=cover-created", 6},
	} {
		if got := e.eventsOf("/api/events/?project=pub&per_page=100&"+c.query, ""); len(got) != c.n {
			t.Errorf("%s: %d events, want %d", c.query, len(got), c.n)
		}
	}
	for _, q := range []string{"category=bogus", "since=yesterday", "before=2024-13-01", "patch=x"} {
		if r := e.get("/api/events/?"+q, ""); r.code != 400 || !strings.Contains(string(r.body), `"detail"`) {
			t.Errorf("%s = %d %s, want 400 with detail", q, r.code, r.body)
		}
	}
	// Paging: the pages are the whole list, with Link headers.
	var paged []map[string]any
	for page := 1; ; page++ {
		r := e.get("/api/events/?project=pub&per_page=7&page="+itoa(int64(page)), "")
		if r.code == 404 {
			break
		}
		evs := decode[[]map[string]any](t, r)
		paged = append(paged, evs...)
		if next := strings.Contains(r.header.Get("Link"), `rel="next"`); next != (len(paged) < 20) {
			t.Errorf("page %d: Link %q", page, r.header.Get("Link"))
		}
	}
	if d := cmp.Diff(all, paged); d != "" {
		t.Errorf("pages (-all +paged):\n%s", d)
	}

	// The private list's events: none without a role.
	if r := e.get("/api/events/?project=sec", ""); r.code != 404 {
		t.Errorf("sec anonymous = %d", r.code)
	}
	if r := e.get("/api/events/?project=sec", "reader"); r.code != 404 {
		t.Errorf("sec reader = %d", r.code)
	}
	for _, who := range []string{"", "reader"} {
		for _, ev := range e.eventsOf("/api/events/?per_page=100", who) {
			if ev["project"].(map[string]any)["link_name"] != "pub" {
				t.Errorf("%q sees %v", who, ev)
			}
		}
	}
	if n := len(e.eventsOf("/api/events/?project=sec", "maint")); n != 4 {
		t.Errorf("sec maintainer: %d events, want 4", n)
	}
}

// TestSinceBefore: patches, covers and series by date (API 1.1).
func TestSinceBefore(t *testing.T) {
	e := newEnv(t)
	names := func(path string) []string {
		t.Helper()
		var out []string
		for _, x := range e.eventsOf(path, "") {
			out = append(out, x["name"].(string))
		}
		return out
	}
	// Patch i of a series is dated 00:0i.
	if got := names("/api/1.2/patches/?project=pub&since=2024-01-01T00:02:00&order=id"); !cmp.Equal(got, []string{
		"[PATCH 2/3] Speed up the parser part 2", "[PATCH 3/3] Speed up the parser part 3", "[PATCH 2/2] Fix the docs part 2"}) {
		t.Errorf("since = %q", got)
	}
	if got := names("/api/1.2/patches/?project=pub&before=2024-01-01T00:02:00Z&order=id"); len(got) != 2 {
		t.Errorf("before = %q", got)
	}
	if got := names("/api/1.2/patches/?since=2024-01-01T00:02:00&before=2024-01-01T00:03:00"); len(got) != 2 {
		t.Errorf("since and before = %q", got)
	}
	if got := names("/api/1.2/series/?since=2024-01-01T00:00:30"); !cmp.Equal(got, []string{"Fix the docs part 1"}) {
		t.Errorf("series since = %q", got)
	}
	if got := names("/api/1.2/covers/?before=2024-01-01T00:00:30"); len(got) != 1 {
		t.Errorf("covers before = %q", got)
	}
	if got := names("/api/1.2/covers/?since=2024-01-01T00:00:30"); len(got) != 0 {
		t.Errorf("covers since = %q", got)
	}
	for _, path := range []string{"/api/1.2/patches/?since=monday", "/api/1.2/series/?before=x", "/api/1.2/covers/?since=2024-02-30"} {
		if r := e.get(path, ""); r.code != 400 || !strings.Contains(string(r.body), "ISO 8601") {
			t.Errorf("%s = %d %s", path, r.code, r.body)
		}
	}
}

// TestRelated: a second revision's patches are related to the first's
// at the same index (the patch detail's related, both ways), and each
// is a patch-relation-changed event.
func TestRelated(t *testing.T) {
	e := newEnv(t)
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	for _, m := range seriesMails("pub", "b2", "Fix the docs", "Bob Writer <bob@example.org>", 2, false) {
		m = []byte(strings.Replace(string(m), "[PATCH ", "[PATCH v2 ", 1))
		if err := in.Post(context.Background(), review.Post{Lists: []string{"pub"}, Raw: m}); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	v2 := e.eventsOf("/api/1.2/patches/?project=pub&q=v2&order=id", "")
	if len(v2) != 2 {
		t.Fatalf("v2 patches = %v", v2)
	}
	related := func(id any) []any {
		t.Helper()
		p := decode[map[string]any](t, e.get(fmt.Sprintf("/api/1.2/patches/%v/", id), ""))
		return p["related"].([]any)
	}
	// v1 of "Fix the docs" is patches 4 and 5.
	if r := related(v2[0]["id"]); len(r) != 1 || r[0].(map[string]any)["id"] != 4.0 {
		t.Errorf("related of v2 patch 1 = %v", r)
	}
	if r := related(5); len(r) != 1 || r[0].(map[string]any)["id"] != v2[1]["id"] {
		t.Errorf("related of v1 patch 2 = %v", r)
	}
	if r := related(1); len(r) != 0 {
		t.Errorf("related of a patch with one version = %v", r)
	}
	evs := e.eventsOf("/api/1.2/events/?category=patch-relation-changed", "")
	if len(evs) != 2 {
		t.Fatalf("patch-relation-changed = %v", evs)
	}
	p := evs[0]["payload"].(map[string]any)
	if d := cmp.Diff([]string{"current_relation", "patch", "previous_relation"}, keys(p)); d != "" ||
		p["patch"].(map[string]any)["id"] != v2[1]["id"] || p["current_relation"] != nil {
		t.Errorf("patch-relation-changed payload = %v (%s)", p, d)
	}
}
