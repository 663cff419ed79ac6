package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestWebhookCLI: add, ls and rm a subscription; bad secrets, URLs,
// events and lists are refused with a message.
func TestWebhookCLI(t *testing.T) {
	data := t.TempDir()
	if _, errOut, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errOut)
	}
	secret := filepath.Join(t.TempDir(), "secret")
	short := filepath.Join(t.TempDir(), "short")
	if err := os.WriteFile(secret, []byte("0123456789abcdef0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(short, []byte("abc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli(t, nil, "webhook", "add", "https://ci.example.org/hook", "--secret-file", secret, "--events", "check.created,series.created", "--list", "dev", "--data", data)
	if code != 0 || out != "webhook 1: https://ci.example.org/hook\n" {
		t.Fatalf("webhook add: %q %q %d", out, errOut, code)
	}
	for _, c := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"add", "https://x/", "--data", data}, 2, "needs --secret-file"},
		{[]string{"add", "https://x/", "--secret-file", short, "--data", data}, 1, "use 16 to 1024"},
		{[]string{"add", "file:///etc/passwd", "--secret-file", secret, "--data", data}, 1, "want an http or https URL"},
		{[]string{"add", "https://x/", "--secret-file", secret, "--events", "series.deleted", "--data", data}, 2, `unknown event "series.deleted"`},
		{[]string{"add", "https://x/", "--secret-file", secret, "--list", "nosuch", "--data", data}, 1, "not found"},
		{[]string{"rm", "x", "--data", data}, 2, "webhook rm ID"},
		{[]string{"rm", "9", "--data", data}, 1, "not found"},
		{[]string{"frob", "--data", data}, 2, "unknown webhook command"},
	} {
		if _, errOut, code := cli(t, nil, append([]string{"webhook"}, c.args...)...); code != c.code || !strings.Contains(errOut, c.err) {
			t.Errorf("webhook %v: exit %d %q, want %d %q", c.args, code, errOut, c.code, c.err)
		}
	}
	out, _, _ = cli(t, nil, "webhook", "ls", "--data", data)
	if !strings.Contains(out, "https://ci.example.org/hook") || !strings.Contains(out, "check.created,series.created") || strings.Contains(out, "0123456789abcdef") {
		t.Errorf("webhook ls (the secret must not show):\n%s", out)
	}
	if out, errOut, code := cli(t, nil, "webhook", "rm", "1", "--data", data); code != 0 || !strings.Contains(out, "removed webhook 1") {
		t.Errorf("webhook rm: %q %q %d", out, errOut, code)
	}
	if out, _, _ := cli(t, nil, "webhook", "ls", "--data", data); out != "" {
		t.Errorf("webhook ls after rm: %q", out)
	}
}
