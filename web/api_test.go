package web

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// JSON numbers decode to float64 in map[string]any.
var (
	devList = map[string]any{
		"name": "dev", "address": "dev@lists.example.org", "description": "Development",
		"created": "2024-01-02T03:04:05Z", "messages": 12.0, "series": 2.0, "open_series": 1.0, "visibility": "public",
	}
	emptyList = map[string]any{
		"name": "empty", "address": "empty@lists.example.org", "description": "",
		"created": "2024-01-02T03:04:05Z", "messages": 0.0, "series": 0.0, "open_series": 0.0, "visibility": "public",
	}
	ann     = map[string]any{"name": "Ann", "email": "ann@example.org"}
	bob     = map[string]any{"name": "Bob", "email": "bob@example.org"}
	series1 = map[string]any{
		"id": 1.0, "list": "dev", "subject": "[PATCH] fix it", "version": 1.0, "status": "superseded",
		"submitter": ann, "total": 1.0, "received": 1.0, "complete": true,
		"message_id": "p1@example.org", "cover_message_id": nil, "date": "2024-01-02T03:04:05Z",
		"previous": nil, "superseded_by": 2.0, "thread_id": 7.0, "rfc": false, "resend": false,
	}
	series2 = map[string]any{
		"id": 2.0, "list": "dev", "subject": "[PATCH v2 0/2] fix it", "version": 2.0, "status": "proposed",
		"submitter": ann, "total": 2.0, "received": 2.0, "complete": true,
		"message_id": "c2@example.org", "cover_message_id": "c2@example.org", "date": "2024-01-02T04:04:05Z",
		"previous": 1.0, "superseded_by": nil, "thread_id": 8.0, "rfc": false, "resend": false,
	}
)

func with(m map[string]any, k string, v any) map[string]any {
	out := make(map[string]any, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	out[k] = v
	return out
}

var zeroStat = stat(0, 0, 0)

func stat(files, added, deleted float64) map[string]any {
	return map[string]any{"files": files, "added": added, "deleted": deleted}
}

// seriesDetail is GET /api/v1/series/{id}: the series, its links, its
// patches, their diffstat and no checks (checks_test.go has them).
func seriesDetail(s map[string]any, diffstat map[string]any, patches []any) map[string]any {
	id := fmt.Sprint(s["id"])
	out := with(s, "patches", patches)
	out["diffstat"] = diffstat
	out["checks"] = []any{}
	out["check_state"] = nil
	out["web_url"] = "/series/" + id + "/"
	out["mbox_url"] = "/api/v1/series/" + id + "/mbox"
	out["thread_url"] = "/api/v1/lists/dev/threads/" + s["message_id"].(string)
	return out
}

func TestAPIShapes(t *testing.T) {
	tests := []struct {
		name string
		path string
		want map[string]any
	}{
		{"lists", "/api/v1/lists", map[string]any{"lists": []any{devList, emptyList}}},
		{"list", "/api/v1/lists/dev", devList},
		{"list without description", "/api/v1/lists/empty", emptyList},
		{"series list", "/api/v1/lists/dev/series", map[string]any{"series": []any{series2, series1}}},
		{"series list with status", "/api/v1/lists/empty/series?status=applied", map[string]any{"series": []any{series2, series1}}},
		{"series v1: null links, [] files and trailers", "/api/v1/series/1", seriesDetail(with(with(with(with(with(series1, "history", []any{}), "flags", []any{}), "reviews", []any{}), "issues", []any{}), "signatures", []any{}), zeroStat, []any{
			map[string]any{
				"index": 1.0, "subject": "[PATCH] fix it", "message_id": "p1@example.org", "author": ann,
				"date": "2024-01-02T03:04:05Z", "commit_subject": "fix it", "files": []any{}, "patch_id": "abc",
				"trailers": []any{}, "diffstat": zeroStat,
				"url": "/dev/p1@example.org/", "raw_url": "/dev/p1@example.org/raw",
			},
		})},
		{"series v2: rename, binary, trailers", "/api/v1/series/2", seriesDetail(with(with(with(with(with(series2, "history", []any{}), "flags", []any{}), "reviews", []any{}), "issues", []any{}), "signatures", []any{}), stat(2, 1, 2), []any{
			map[string]any{
				"index": 1.0, "subject": "[PATCH v2 1/2] rename", "message_id": "p21@example.org", "author": bob,
				"date": "2024-01-02T04:04:05Z", "commit_subject": "rename", "patch_id": "def",
				"files": []any{
					map[string]any{"path": "new.go", "old_path": "old.go", "added": 1.0, "deleted": 2.0, "binary": false},
					map[string]any{"path": "logo.png", "old_path": nil, "added": 0.0, "deleted": 0.0, "binary": true},
				},
				"trailers": []any{
					map[string]any{"key": "Reviewed-by", "value": "Cy <cy@example.org>", "from_message_id": "r1@example.org"},
				},
				"diffstat": stat(2, 1, 2),
				"url":      "/dev/p21@example.org/", "raw_url": "/dev/p21@example.org/raw",
			},
			map[string]any{
				"index": 2.0, "subject": "[PATCH v2 2/2] empty", "message_id": "p22@example.org", "author": bob,
				"date": "2024-01-02T04:04:05Z", "commit_subject": "empty", "files": []any{}, "patch_id": "ghi",
				"trailers": []any{}, "diffstat": zeroStat,
				"url": "/dev/p22@example.org/", "raw_url": "/dev/p22@example.org/raw",
			},
		})},
		{"threads", "/api/v1/lists/dev/threads", map[string]any{"threads": []any{
			map[string]any{
				"id": 8.0, "subject": "[PATCH v2 0/2] fix it", "root_message_id": "c2@example.org", "messages": 4.0,
				"first_date": "2024-01-02T04:04:05Z", "last_date": "2024-01-02T05:04:05Z",
			},
			map[string]any{
				"id": 7.0, "subject": "[PATCH] fix it", "root_message_id": "p1@example.org", "messages": 1.0,
				"first_date": "2024-01-02T03:04:05Z", "last_date": "2024-01-02T03:04:05Z",
			},
		}}},
	}
	base := newServer(t, fixture(), 0)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := get(t, base+tt.path)
			if res.code != http.StatusOK {
				t.Fatalf("GET %s = %d %s, want 200", tt.path, res.code, res.body)
			}
			if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
				t.Errorf("Content-Type = %q", ct)
			}
			got := decodeObject(t, res.body)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("GET %s mismatch (-want +got):\n%s", tt.path, diff)
			}
		})
	}
}

// TestAPIEmptyListsAreArrays checks that empty results are [] and not null.
func TestAPIEmptyListsAreArrays(t *testing.T) {
	f := &fakeReader{lists: []store.List{{Name: "dev"}}}
	base := newServer(t, f, 0)
	for path, key := range map[string]string{
		"/api/v1/lists/dev/series":  "series",
		"/api/v1/lists/dev/threads": "threads",
	} {
		res := get(t, base+path)
		got := decodeObject(t, res.body)
		if diff := cmp.Diff(map[string]any{key: []any{}}, got); diff != "" {
			t.Errorf("GET %s mismatch (-want +got):\n%s", path, diff)
		}
	}
	f.lists = nil
	got := decodeObject(t, get(t, base+"/api/v1/lists").body)
	if diff := cmp.Diff(map[string]any{"lists": []any{}}, got); diff != "" {
		t.Errorf("GET /api/v1/lists mismatch (-want +got):\n%s", diff)
	}
}

func TestAPIPaging(t *testing.T) {
	tests := []struct {
		query string
		want  store.Page
	}{
		{"", store.Page{Limit: 50}},
		{"?limit=0", store.Page{Limit: 50}},
		{"?limit=5", store.Page{Limit: 5}},
		{"?limit=1000", store.Page{Limit: 1000}},
		{"?limit=5000", store.Page{Limit: 1000}},
		{"?offset=20", store.Page{Limit: 50, Offset: 20}},
		{"?limit=10&offset=30", store.Page{Limit: 10, Offset: 30}},
		{"?limit=7&status=approved&offset=1", store.Page{Limit: 7, Offset: 1}},
	}
	for _, endpoint := range []string{"SeriesList", "Threads"} {
		for _, tt := range tests {
			t.Run(endpoint+tt.query, func(t *testing.T) {
				f := fixture()
				base := newServer(t, f, 0)
				path := map[string]string{"SeriesList": "series", "Threads": "threads"}[endpoint]
				res := get(t, base+"/api/v1/lists/dev/"+path+tt.query)
				if res.code != http.StatusOK {
					t.Fatalf("GET = %d %s, want 200", res.code, res.body)
				}
				var got []store.Page
				for _, c := range f.Calls() {
					if c.Method == endpoint {
						got = append(got, c.Page)
					}
				}
				if diff := cmp.Diff([]store.Page{tt.want}, got); diff != "" {
					t.Errorf("pages passed to %s (-want +got):\n%s", endpoint, diff)
				}
			})
		}
	}
}

func TestAPIStatusFilter(t *testing.T) {
	for _, status := range []string{"", store.StatusProposed, store.StatusNeedsRevision, store.StatusApproved,
		store.StatusRejected, store.StatusApplied, store.StatusSuperseded} {
		t.Run("status="+status, func(t *testing.T) {
			f := fixture()
			base := newServer(t, f, 0)
			res := get(t, base+"/api/v1/lists/dev/series?status="+status)
			if res.code != http.StatusOK {
				t.Fatalf("GET = %d %s, want 200", res.code, res.body)
			}
			var got []string
			for _, c := range f.Calls() {
				if c.Method == "SeriesList" {
					got = append(got, c.Status)
				}
			}
			if diff := cmp.Diff([]string{status}, got); diff != "" {
				t.Errorf("status passed to SeriesList (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAPIErrors(t *testing.T) {
	tests := []struct {
		name     string
		path     string
		failOn   string // inject errBoom into this Reader method
		code     int
		wantErr  string // substring of the error text
		noReader bool   // the Reader must not have been called
	}{
		{name: "unknown API route", path: "/api/v1/nosuch", code: 404, wantErr: "not found", noReader: true},
		{name: "unknown API version", path: "/api/v2/lists", code: 404, wantErr: "not found", noReader: true},
		{name: "limit not a number", path: "/api/v1/lists/dev/series?limit=ten", code: 400, wantErr: "limit", noReader: true},
		{name: "limit negative", path: "/api/v1/lists/dev/series?limit=-1", code: 400, wantErr: "limit", noReader: true},
		{name: "limit overflow", path: "/api/v1/lists/dev/series?limit=99999999999999999999999", code: 400, wantErr: "limit", noReader: true},
		{name: "offset not a number", path: "/api/v1/lists/dev/threads?offset=1e3", code: 400, wantErr: "offset", noReader: true},
		{name: "offset negative", path: "/api/v1/lists/dev/threads?offset=-5", code: 400, wantErr: "offset", noReader: true},
		{name: "bad query", path: "/api/v1/lists/dev/threads?limit=%zz", code: 400, wantErr: "query", noReader: true},
		{name: "long query", path: "/api/v1/lists/dev/threads?x=" + strings.Repeat("a", 2000), code: 400, wantErr: "query", noReader: true},
		{name: "unknown status", path: "/api/v1/lists/dev/series?status=merged", code: 400, wantErr: "status", noReader: true},
		{name: "series id not numeric", path: "/api/v1/series/abc", code: 400, wantErr: "id", noReader: true},
		{name: "series id negative", path: "/api/v1/series/-1", code: 400, wantErr: "id", noReader: true},
		{name: "series id zero", path: "/api/v1/series/0", code: 400, wantErr: "id", noReader: true},
		{name: "series id overflow", path: "/api/v1/series/99999999999999999999", code: 400, wantErr: "id", noReader: true},
		{name: "unknown series", path: "/api/v1/series/99", code: 404, wantErr: "series not found"},
		{name: "unknown list", path: "/api/v1/lists/nope", code: 404, wantErr: "list not found"},
		{name: "unknown list series", path: "/api/v1/lists/nope/series", code: 404, wantErr: "list not found"},
		{name: "unknown list threads", path: "/api/v1/lists/nope/threads", code: 404, wantErr: "list not found"},
		{name: "unknown api path", path: "/api/v1/patches", code: 404, wantErr: "not found"},
		// "/nope" is the page of a list named nope: the Reader says there is none.
		{name: "unknown top path", path: "/nope", code: 404, wantErr: "not found"},
		{name: "lists fails", path: "/api/v1/lists", failOn: "Lists", code: 500, wantErr: "internal error"},
		{name: "list fails", path: "/api/v1/lists/dev", failOn: "List", code: 500, wantErr: "internal error"},
		{name: "series list fails", path: "/api/v1/lists/dev/series", failOn: "SeriesList", code: 500, wantErr: "internal error"},
		{name: "series list list check fails", path: "/api/v1/lists/dev/series", failOn: "List", code: 500, wantErr: "internal error"},
		{name: "series fails", path: "/api/v1/series/1", failOn: "Series", code: 500, wantErr: "internal error"},
		{name: "threads fails", path: "/api/v1/lists/dev/threads", failOn: "Threads", code: 500, wantErr: "internal error"},
		{name: "raw fails", path: "/dev/x@y/raw", failOn: "Raw", code: 500, wantErr: "internal error"},
		{name: "home fails", path: "/", failOn: "Lists", code: 500, wantErr: "internal error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixture()
			if tt.failOn != "" {
				f.err, f.failOn = fmt.Errorf("query: %w", errBoom), tt.failOn
			}
			base := newServer(t, f, 0)
			res := get(t, base+tt.path)
			if res.code != tt.code {
				t.Errorf("GET %s = %d %s, want %d", tt.path, res.code, res.body, tt.code)
			}
			// Routes outside /api/ answer a client that is no browser in
			// plain text (TestErrorFormats has the whole matrix).
			msg := strings.TrimSuffix(string(res.body), "\n")
			if strings.HasPrefix(tt.path, "/api/") {
				if ct := res.header.Get("Content-Type"); ct != "application/json; charset=utf-8" {
					t.Errorf("Content-Type = %q", ct)
				}
				got := decodeObject(t, res.body)
				var ok bool
				msg, ok = got["error"].(string)
				if !ok || len(got) != 1 {
					t.Fatalf("body = %s, want {\"error\": string}", res.body)
				}
			} else if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=utf-8" {
				t.Errorf("Content-Type = %q, want text/plain", ct)
			}
			if !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error = %q, want it to contain %q", msg, tt.wantErr)
			}
			if strings.Contains(string(res.body), "secret") {
				t.Errorf("body %s leaks the internal error", res.body)
			}
			if n := len(f.Calls()); tt.noReader && n != 0 {
				t.Errorf("Reader called %d times (%v), want none", n, f.Calls())
			}
		})
	}
}
