package web

import (
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"
)

func TestPrefersHTML(t *testing.T) {
	tests := []struct {
		accept string
		want   bool
	}{
		{"", false},
		{"*/*", false},
		{"text/*", false},
		{"text/html", true},
		{"TEXT/HTML", true},
		{"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true}, // Firefox, Chromium
		{"application/xhtml+xml", true},
		{"application/json", false},
		{"application/json, text/html;q=0.5", false},
		{"text/html;q=0.5, application/json", false},
		{"text/html;q=0", false},
		{"text/html;q=bogus", false},
		{"text/plain, text/html", true}, // a tie goes to the page
		{"text/plain;q=1, text/html;q=0.9", false},
		{"application/json;q=0.1, text/html", true},
	}
	for _, tt := range tests {
		if got := prefersHTML(tt.accept); got != tt.want {
			t.Errorf("prefersHTML(%q) = %v, want %v", tt.accept, got, tt.want)
		}
	}
}

// TestErrorFormats walks the error matrix: /api/ routes answer JSON to
// everyone; every other route (pages, downloads, the b4 search, feeds)
// answers a browser with an HTML page and anyone else with plain text.
func TestErrorFormats(t *testing.T) {
	e := newAuthEnv(t, Config{})
	const browser = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
	accepts := map[string]string{"browser": browser, "curl": "*/*", "none": "", "json": "application/json"}
	tests := []struct {
		name, method, path string
		code               int
		msg                string
	}{
		{"api unknown list", "GET", "/api/v1/lists/nosuch", 404, "list not found"},
		{"api bad series id", "GET", "/api/v1/series/abc", 400, "series id must be a positive integer"},
		{"api unknown route", "GET", "/api/v9/x", 404, "not found"},
		{"api series mbox", "GET", "/api/v1/series/999999/mbox", 404, "series not found"},
		{"api private list", "GET", "/api/v1/lists/sec/threads/p-sec@example.org", 404, "list not found"},
		{"list page", "GET", "/nosuch/", 404, "list not found"},
		{"private list page", "GET", "/sec/", 404, "list not found"},
		{"search page", "GET", "/nosuch/?q=fix", 404, "list not found"},
		{"search page bad offset", "GET", "/pub/?q=fix&o=-1", 400, "o must be an offset from 0 to 10000"},
		{"message page", "GET", "/pub/nosuch@example.org/", 404, "message not found"},
		{"message redirect", "GET", "/pub/nosuch@example.org", 404, "message not found"},
		{"thread page", "GET", "/pub/nosuch@example.org/T/", 404, "message not found"},
		{"raw", "GET", "/pub/nosuch@example.org/raw", 404, "message not found"},
		{"raw bad id", "GET", "/pub/%3C%3E/raw", 400, "bad message-id"},
		{"thread mbox", "GET", "/pub/nosuch@example.org/t.mbox.gz", 404, "message not found"},
		{"all raw", "GET", "/all/nosuch@example.org/raw", 404, "message not found"},
		{"series atom", "GET", "/nosuch/series.atom", 404, "list not found"},
		{"new atom", "GET", "/nosuch/new.atom", 404, "list not found"},
		{"series page", "GET", "/series/999999/", 404, "series not found"},
		{"series page bad id", "GET", "/series/abc/", 400, "series id must be a positive integer"},
		{"series diff page", "GET", "/series/999999/diff/1/", 404, "series not found"},
		{"b4 search no match", "POST", "/pub/?x=m&t=1&q=s:nosuchsubjectzzz", 404, "match not found"},
		{"b4 search no query", "POST", "/pub/?x=m&t=1", 400, "bad query: want q= with at most 4096 bytes"},
		{"b4 search unknown list", "POST", "/nosuch/?x=m&t=1&q=fix", 404, "list not found"},
	}
	for _, tt := range tests {
		for who, accept := range accepts {
			t.Run(tt.name+"/"+who, func(t *testing.T) {
				res := e.do(req{Method: tt.method, Path: tt.path, Header: map[string]string{"Accept": accept}})
				if res.code != tt.code {
					t.Fatalf("%s %s = %d %s, want %d", tt.method, tt.path, res.code, res.body, tt.code)
				}
				ct := res.header.Get("Content-Type")
				switch {
				case strings.HasPrefix(tt.path, "/api/"):
					var got map[string]string
					if err := json.Unmarshal(res.body, &got); err != nil || ct != "application/json; charset=utf-8" {
						t.Fatalf("%s %s: %s %q, want a JSON error (%v)", tt.method, tt.path, ct, res.body, err)
					}
					if got["error"] != tt.msg {
						t.Errorf("error = %q, want %q", got["error"], tt.msg)
					}
				case who == "browser":
					if ct != "text/html; charset=utf-8" || !strings.Contains(string(res.body), "<!DOCTYPE html>") {
						t.Fatalf("%s %s: %s %q, want an HTML page", tt.method, tt.path, ct, res.body)
					}
					if !strings.Contains(string(res.body), `<p class="error">`+html.EscapeString(tt.msg)+`</p>`) {
						t.Errorf("page %q does not say %q", res.body, tt.msg)
					}
				default:
					if ct != "text/plain; charset=utf-8" || string(res.body) != tt.msg+"\n" {
						t.Errorf("%s %s: %s %q, want text/plain %q", tt.method, tt.path, ct, res.body, tt.msg)
					}
				}
				if !strings.HasPrefix(tt.path, "/api/") && !strings.Contains(strings.Join(res.header.Values("Vary"), ","), "Accept") {
					t.Errorf("Vary = %q, want Accept", res.header.Values("Vary"))
				}
				if res.header.Get("Content-Encoding") != "" || res.header.Get("Content-Disposition") != "" {
					t.Errorf("error reply has download headers: %v", res.header)
				}
			})
		}
	}
	// A private list's error page is the unknown list's, for browsers too.
	for _, accept := range accepts {
		a := e.do(req{Path: "/sec/p-sec@example.org/raw", Header: map[string]string{"Accept": accept}})
		b := e.do(req{Path: "/nosuchlist/p-sec@example.org/raw", Header: map[string]string{"Accept": accept}})
		if a.code != http.StatusNotFound || a.code != b.code || string(a.body) != string(b.body) {
			t.Errorf("Accept %q: private %d %q, unknown %d %q", accept, a.code, a.body, b.code, b.body)
		}
	}
}
