package web

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"patchwell/store"
)

func TestHome(t *testing.T) {
	f := fixture()
	f.lists = append(f.lists, store.List{
		Name:        "evil",
		Description: `<script>alert("x")</script> & <b>bold</b>`,
		Messages:    3, Series: 1,
	})
	base := newServer(t, f, 0)
	res := get(t, base+"/")
	if res.code != http.StatusOK {
		t.Fatalf("GET / = %d %s", res.code, res.body)
	}
	for k, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Content-Security-Policy": "default-src 'self'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := res.header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	body := string(res.body)
	for _, want := range []string{
		"patchwell",
		"dev@lists.example.org",
		"Development",
		`<td class="num">12</td>`, // messages of dev
		`<a href="/dev/?status=open">1</a> <span class="of">of 2</span>`, // open series of dev
		"git send-email --to=dev@lists.example.org --smtp-server=mail.example.org --smtp-server-port=2525",
		"git send-email --to=evil@lists.example.org",
		"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q:\n%s", want, body)
		}
	}
	for _, bad := range []string{"<script>", "<b>bold"} {
		if strings.Contains(body, bad) {
			t.Errorf("home page contains unescaped %q", bad)
		}
	}
}

func TestHomeNoLists(t *testing.T) {
	base := newServer(t, &fakeReader{}, 0)
	res := get(t, base+"/")
	if res.code != http.StatusOK {
		t.Fatalf("GET / = %d %s", res.code, res.body)
	}
	body := string(res.body)
	for _, want := range []string{"No lists yet", "--to=LIST@lists.example.org --smtp-server=mail.example.org --smtp-server-port=2525"} {
		if !strings.Contains(body, want) {
			t.Errorf("home page lacks %q:\n%s", want, body)
		}
	}
}

func TestSMTPHostPort(t *testing.T) {
	tests := []struct {
		name       string
		cfg        Config
		host, port string
	}{
		{"host and port", Config{Domain: "d.org", SMTPAddr: "mx.d.org:587"}, "mx.d.org", "587"},
		{"empty host", Config{Domain: "d.org", SMTPAddr: ":2525"}, "d.org", "2525"},
		{"unspecified v4", Config{Domain: "d.org", SMTPAddr: "0.0.0.0:25"}, "d.org", "25"},
		{"unspecified v6", Config{Domain: "d.org", SMTPAddr: "[::]:26"}, "d.org", "26"},
		{"v6 host", Config{Domain: "d.org", SMTPAddr: "[2001:db8::1]:26"}, "2001:db8::1", "26"},
		{"no port", Config{Domain: "d.org", SMTPAddr: "mx.d.org"}, "mx.d.org", "25"},
		{"bad port", Config{Domain: "d.org", SMTPAddr: "mx.d.org:smtp"}, "mx.d.org", "25"},
		{"empty", Config{Domain: "d.org"}, "d.org", "25"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			host, port := smtpHostPort(tt.cfg)
			if host != tt.host || port != tt.port {
				t.Errorf("smtpHostPort(%+v) = %q, %q, want %q, %q", tt.cfg, host, port, tt.host, tt.port)
			}
		})
	}
}

func TestTemplatesParse(t *testing.T) {
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatalf("parseTemplates() = %v", err)
	}
	if tmpl.Lookup("home.html") == nil {
		t.Errorf("template home.html missing")
	}
}

// TestLogging checks the request log: one Debug line per request with the
// request id, and a Reader error logged once, with its detail, at Error.
func TestLogging(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := fixture()
	f.err, f.failOn = errBoom, "Threads"
	h := New(f, Config{Domain: "lists.example.org"}, log)

	for _, path := range []string{"/api/v1/lists/dev", "/api/v1/lists/dev/threads"} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("got %d log lines, want 2:\n%s", len(lines), buf.String())
	}
	for i, want := range [][]string{
		{"level=DEBUG", "msg=request", "req=1", "method=GET", "path=/api/v1/lists/dev", "status=200", "dur="},
		{"level=ERROR", `msg="request failed"`, "req=2", "path=/api/v1/lists/dev/threads", "status=500", "secret detail"},
	} {
		for _, w := range want {
			if !strings.Contains(lines[i], w) {
				t.Errorf("log line %d = %q, lacks %q", i, lines[i], w)
			}
		}
	}
	if n := h.(*Handler).Panics(); n != 0 {
		t.Errorf("Panics() = %d, want 0", n)
	}
}
