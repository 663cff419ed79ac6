package web

import (
	"bytes"
	"net/http"
	"net/url"
	"os"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestRaw(t *testing.T) {
	// Mail with invalid UTF-8, a NUL, CRLF and an HTML-looking body.
	nasty := []byte("From: a@b\r\nSubject: \xff\xfe bad\r\nMessage-ID: <x>\r\n\r\n\x00<script>alert(1)</script>\xc3\x28\r\n")
	tests := []struct {
		name   string
		path   string // after the server URL
		list   string
		msgID  string // passed to Raw
		stored []byte
	}{
		{"plain", "/dev/p1@example.org/raw", "dev", "p1@example.org", []byte("plain\n")},
		{"angle brackets", "/dev/%3Cp1@example.org%3E/raw", "dev", "p1@example.org", []byte("angle\n")},
		{"literal angle brackets", "/dev/<p1@example.org>/raw", "dev", "p1@example.org", []byte("angle\n")},
		{"slash unescaped", "/dev/a/b/c@example.org/raw", "dev", "a/b/c@example.org", []byte("slash\n")},
		{"slash escaped", "/dev/a%2Fb%2Fc@example.org/raw", "dev", "a/b/c@example.org", []byte("slash\n")},
		{"double slash escaped", "/dev/a%2F%2Fb@example.org/raw", "dev", "a//b@example.org", []byte("dslash\n")},
		{"dot segments escaped", "/dev/%2E%2E%2Fx@example.org/raw", "dev", "../x@example.org", []byte("dots\n")},
		{"plus and percent", "/dev/a+b%25c@example.org/raw", "dev", "a+b%c@example.org", []byte("plus\n")},
		{"escaped plus", "/dev/a%2Bb@example.org/raw", "dev", "a+b@example.org", []byte("plus\n")},
		{"id ending in raw", "/dev/x/raw/raw", "dev", "x/raw", []byte("rawraw\n")},
		{"invalid utf-8 and NUL byte-exact", "/dev/nasty@example.org/raw", "dev", "nasty@example.org", nasty},
		{"empty message", "/dev/empty@example.org/raw", "dev", "empty@example.org", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixture()
			f.raw[[2]string{tt.list, tt.msgID}] = tt.stored
			base := newServer(t, f, 0)
			res := get(t, base+tt.path)
			if res.code != http.StatusOK {
				t.Fatalf("GET %s = %d %s (calls %v), want 200", tt.path, res.code, res.body, f.Calls())
			}
			if !bytes.Equal(res.body, tt.stored) {
				t.Errorf("body = %q, want %q", res.body, tt.stored)
			}
			for k, want := range map[string]string{
				"Content-Type":            "text/plain; charset=utf-8",
				"X-Content-Type-Options":  "nosniff",
				"Content-Security-Policy": "default-src 'none'; sandbox",
			} {
				if got := res.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestRawErrors(t *testing.T) {
	tests := []struct {
		name string
		path string
		code int
	}{
		{"unknown message", "/dev/nope@example.org/raw", 404},
		{"unknown list", "/nolist/p1@example.org/raw", 404},
		// A bare message URL redirects (public-inbox style) to the
		// message's page.
		{"no raw suffix", "/dev/p1@example.org", 200},
		{"no raw suffix, unknown message", "/dev/nope@example.org", 404},
		{"other suffix", "/dev/p1@example.org/raw.txt", 404},
		{"empty id (cleaned and redirected to /dev/raw)", "/dev//raw", 404},
		{"empty id in brackets", "/dev/%3C%3E/raw", 400},
		{"id too long", "/dev/" + strings.Repeat("a", 1200) + "@x/raw", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := fixture()
			f.raw[[2]string{"dev", "p1@example.org"}] = []byte("x")
			base := newServer(t, f, 0)
			// Keep the path as written: no client-side cleaning.
			u, err := url.Parse(base)
			if err != nil {
				t.Fatalf("url.Parse(%q) = %v", base, err)
			}
			req := &http.Request{Method: http.MethodGet, URL: u, Header: http.Header{}, Host: u.Host}
			u.Opaque = "//" + u.Host + tt.path
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("GET %s = %v", tt.path, err)
			}
			res.Body.Close()
			if res.StatusCode != tt.code {
				t.Errorf("GET %s = %d, want %d", tt.path, res.StatusCode, tt.code)
			}
		})
	}
}

// TestRawCorpus serves real mail from the shared corpus, including NUL
// bytes and invalid UTF-8, and checks it comes back byte for byte.
func TestRawCorpus(t *testing.T) {
	dir := testcorpus.Dir(t)
	files := []string{
		"git/t5100/nul-plain",
		"patchwork/mail/0015-with-invalid-utf8-headers.mbox",
		"patchwork/mail/0025-git-add-binary-file.mbox",
		"public-inbox/iso-2202-jp.eml",
	}
	msgIDRe := regexp.MustCompile(`(?mi)^Message-ID:\s*<([^>\r\n]+)>`)
	f := fixture()
	want := map[string][]byte{}
	for i, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("ReadFile(%s) = %v", name, err)
			}
			t.Skipf("corpus file not available (%v)", err)
		}
		id := "corpus-" + string(rune('a'+i)) + "/no-id@example.org"
		if m := msgIDRe.FindSubmatch(b); m != nil {
			id = string(m[1])
		}
		f.raw[[2]string{"dev", id}] = b
		want[id] = b
	}
	base := newServer(t, f, 0)
	for id, b := range want {
		t.Run(id, func(t *testing.T) {
			res := get(t, base+"/dev/"+url.PathEscape("<"+id+">")+"/raw")
			if res.code != http.StatusOK {
				t.Fatalf("GET raw %q = %d %s", id, res.code, res.body)
			}
			if !bytes.Equal(res.body, b) {
				t.Errorf("raw %q differs: got %d bytes, want %d", id, len(res.body), len(b))
			}
		})
	}
}

// TestMessageRedirect: /{list}/{id} answers with an absolute Location to
// /{list}/{id}/, which is what b4 reads to find the thread.
func TestMessageRedirect(t *testing.T) {
	f := fixture()
	f.raw[[2]string{"dev", "p1@example.org"}] = []byte("x")
	base := newServer(t, f, 0)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Head(base + "/dev/p1%40example.org")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != base+"/dev/p1@example.org/" {
		t.Fatalf("HEAD = %d, Location %q", res.StatusCode, res.Header.Get("Location"))
	}
}
