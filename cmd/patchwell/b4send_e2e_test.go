package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// b4Sender is a contributor's machine for b4 send: a private HOME with a
// git identity, a patatt ed25519 key made by the real `patatt genkey`,
// and b4.send-endpoint-web pointing at the server.
type b4Sender struct {
	t    *testing.T
	home string
	repo string
}

func newB4Sender(t *testing.T, endpoint, name, email string) *b4Sender {
	t.Helper()
	s := &b4Sender{t: t, home: t.TempDir()}
	cfg := fmt.Sprintf("[user]\n\tname = %s\n\temail = %s\n[b4]\n\tsend-endpoint-web = %s\n[patatt]\n\tsigningkey = ed25519:e2e\n\tselector = e2e\n", name, email, endpoint)
	if err := os.WriteFile(filepath.Join(s.home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.cmd("", "patatt", "genkey", "-n", "e2e")
	return s
}

func (s *b4Sender) env() []string {
	return append(os.Environ(), "HOME="+s.home, "GNUPGHOME="+filepath.Join(s.home, ".gnupg"), "XDG_CONFIG_HOME="+filepath.Join(s.home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(s.home, ".local"), "XDG_CACHE_HOME="+filepath.Join(s.home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1", "EDITOR="+filepath.Join(s.home, "cover.sh"))
}

// cmd runs name in dir (the repository for "") answering b4's "Press
// Enter" prompts, and returns its output and error.
func (s *b4Sender) try(dir, name string, args ...string) (string, error) {
	if dir == "" {
		dir = s.repo
	}
	if dir == "" {
		dir = s.home
	}
	c := exec.Command(name, args...)
	c.Dir, c.Env, c.Stdin = dir, s.env(), strings.NewReader("\n\n\n")
	out, err := c.CombinedOutput()
	return string(out), err
}

func (s *b4Sender) cmd(dir, name string, args ...string) string {
	s.t.Helper()
	out, err := s.try(dir, name, args...)
	if err != nil {
		s.t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
	return out
}

// prep makes the repository (a base and three commits), enrolls it with
// b4 prep and writes the cover letter.
func (s *b4Sender) prep(title string) {
	s.t.Helper()
	s.repo = filepath.Join(s.home, "repo")
	os.MkdirAll(s.repo, 0o755)
	s.cmd("", "git", "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(s.repo, "README"), []byte("hello\n"), 0o644)
	s.cmd("", "git", "add", ".")
	s.cmd("", "git", "commit", "-q", "-m", "base")
	for i, f := range []string{"a.c", "b.c", "c.c"} {
		os.WriteFile(filepath.Join(s.repo, f), []byte(fmt.Sprintf("int f%d(void) { return %d; }\n", i, i)), 0o644)
		s.cmd("", "git", "add", f)
		s.cmd("", "git", "commit", "-q", "-m", fmt.Sprintf("add %s\n\nThe function f%d.", f, i))
	}
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n\\n%%s\\n' '%s' 'Three small files, sent with b4 send through the web endpoint.' > \"$1\"\n", title)
	if err := os.WriteFile(filepath.Join(s.home, "cover.sh"), []byte(script), 0o755); err != nil {
		s.t.Fatal(err)
	}
	s.cmd("", "b4", "prep", "-e", "HEAD~3")
	s.cmd("", "b4", "prep", "--edit-cover")
}

var challengeRE = regexp.MustCompile(`b4 send --web-auth-verify ([0-9a-f]+)`)

// TestB4SendWebEndpoint: a contributor with a key from the real patatt
// registers it with `b4 send --web-auth-new`, proves it with the
// challenge the server mailed (read at the test smarthost) and `b4 send
// --web-auth-verify`, then sends a three-patch series prepared with b4
// prep with `b4 send`: the series is complete on the list, each message
// "signed by" the verified key on the series page and in the API, and a
// subscriber gets all four. A forged From (b4 signing as an identity the
// key was not verified for) and unsigned mail are refused with a clear
// message; b4 --reflect sends only to the sender. Signed mail that came
// by SMTP, by a key not verified for its sender, is "key unknown".
func TestB4SendWebEndpoint(t *testing.T) {
	needTool(t, "b4", "--version")
	needTool(t, "patatt", "--help")
	needTool(t, "git", "--version")
	sk := startSink(t)
	data := t.TempDir()
	srv := startServer(t, data, "--smarthost", sk.addr)
	run(t, data, binary, "sub", "add", "sub@example.org", "--list", "dev", "--data", data)
	endpoint := "http://" + srv.http + "/_b4_submit"

	ada := newB4Sender(t, endpoint, "Ada Lovelace", "ada@example.org")
	ada.prep("Add three files")

	// Before the key is verified, b4 send is refused.
	if out, err := ada.try("", "b4", "send", "--to", "dev@patchwell.localhost"); err == nil || !strings.Contains(out, "no verified key") {
		t.Fatalf("b4 send before auth: %v\n%s", err, out)
	}

	out := ada.cmd("", "b4", "send", "--web-auth-new")
	if !strings.Contains(out, "Challenge generated and sent to ada@example.org") {
		t.Fatalf("b4 send --web-auth-new:\n%s", out)
	}
	mail := sk.waitFor(t, "ada@example.org", 1)[0]
	m := challengeRE.FindSubmatch(mail.data)
	if m == nil {
		t.Fatalf("no challenge in the mail:\n%s", mail.data)
	}
	out = ada.cmd("", "b4", "send", "--web-auth-verify", string(m[1]))
	if !strings.Contains(out, "Challenge successfully verified for ada@example.org") {
		t.Fatalf("b4 send --web-auth-verify:\n%s", out)
	}
	// The challenge works once.
	if out, err := ada.try("", "b4", "send", "--web-auth-verify", string(m[1])); err == nil || !strings.Contains(out, "used or expired challenge") {
		t.Errorf("second --web-auth-verify: %v\n%s", err, out)
	}

	// The messages as b4 signs them, kept for the refusals below (b4
	// send -o writes them, sends nothing and does not reroll).
	dry := ada.cmd("", "b4", "send", "-o", filepath.Join(ada.home, "out"), "--to", "dev@patchwell.localhost")
	files, _ := filepath.Glob(filepath.Join(ada.home, "out", "*.eml"))
	if len(files) != 4 {
		t.Fatalf("b4 send -o wrote %v:\n%s", files, dry)
	}
	signed, _ := os.ReadFile(files[1])

	// Reflect: to the sender only, nothing archived.
	out = ada.cmd("", "b4", "send", "--reflect", "--to", "dev@patchwell.localhost")
	if !strings.Contains(out, "Reflected 4 messages") {
		t.Fatalf("b4 send --reflect:\n%s", out)
	}
	sk.waitFor(t, "ada@example.org", 5)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 0 {
		t.Fatalf("reflect posted to the list: %+v", list.Series)
	}

	start := time.Now()
	out = ada.cmd("", "b4", "send", "--to", "dev@patchwell.localhost")
	if !strings.Contains(out, "Sent 4 messages") {
		t.Fatalf("b4 send:\n%s", out)
	}
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete || list.Series[0].Total != 3 || list.Series[0].CoverMessageID == "" {
		t.Fatalf("series after b4 send: %+v", list.Series)
	}
	id := list.Series[0].ID
	page := string(httpGet(t, fmt.Sprintf("http://%s/series/%d/", srv.http, id)))
	t.Logf("b4 send to series page: %v", time.Since(start))
	if !strings.Contains(page, "4 of 4 messages signed by ed25519 key") || !strings.Contains(page, "of Ada Lovelace &lt;ada@example.org&gt;: valid") {
		t.Errorf("series page lacks the signature:\n%s", pageBlock(t, page, "devsig"))
	}
	if shot := os.Getenv("PATCHWELL_B4_SCREENSHOT"); shot != "" {
		// To look at the page: PATCHWELL_B4_SCREENSHOT=/tmp/x.png.
		out, err := exec.Command("chromium", "--headless", "--no-sandbox", "--screenshot="+shot, "--window-size=1280,900",
			fmt.Sprintf("http://%s/series/%d/", srv.http, id)).CombinedOutput()
		t.Logf("screenshot %s: %v %s", shot, err, out)
	}
	if n := strings.Count(page, `<span class="devsig valid">signed by ed25519 key`); n != 3 {
		t.Errorf("series page: %d patches shown signed, want 3", n)
	}
	var detail struct {
		Signatures []struct {
			MessageID, State, Identity, Selector, Algorithm, Key string
		}
	}
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", id), &detail)
	pub, _ := os.ReadFile(filepath.Join(ada.home, ".local", "patatt", "public", "e2e.pub"))
	if len(detail.Signatures) != 4 {
		t.Fatalf("API signatures: %+v", detail.Signatures)
	}
	for _, s := range detail.Signatures {
		if s.State != "valid" || s.Identity != "ada@example.org" || s.Selector != "e2e" || s.Algorithm != "ed25519" || s.Key != strings.TrimSpace(string(pub)) {
			t.Errorf("API signature %+v, want valid by %s", s, pub)
		}
	}
	// The subscriber gets the cover letter and the three patches, as signed.
	got := sk.waitFor(t, "sub@example.org", 4)
	for _, g := range got {
		if !bytes.Contains(g.data, []byte("X-Developer-Signature: v=1; a=ed25519-sha256")) {
			t.Errorf("subscriber's copy lost the signature:\n%s", g.data)
		}
	}

	// A forged From: b4 signs as eve with ada's key, which was verified
	// for ada only.
	eve := newB4Sender(t, endpoint, "Eve", "eve@example.org")
	os.Remove(filepath.Join(eve.home, ".local", "patatt", "private", "e2e.key"))
	key, _ := os.ReadFile(filepath.Join(ada.home, ".local", "patatt", "private", "e2e.key"))
	os.WriteFile(filepath.Join(eve.home, ".local", "patatt", "private", "e2e.key"), key, 0o600)
	eve.prep("Eve series")
	if out, err := eve.try("", "b4", "send", "--to", "dev@patchwell.localhost"); err == nil || !strings.Contains(out, "eve@example.org has no verified key here") {
		t.Errorf("b4 send as eve: %v\n%s", err, out)
	}
	// b4 refuses to send unsigned mail to a web endpoint itself; sent
	// anyway (ada's message with its signature headers cut), the server
	// refuses it, and a From changed after signing too.
	if out, err := ada.try("", "b4", "send", "--no-sign", "--to", "dev@patchwell.localhost"); err == nil {
		t.Errorf("b4 send --no-sign to a web endpoint succeeded:\n%s", out)
	}
	unsigned := regexp.MustCompile(`(?m)^X-Developer-(Signature|Key):.*\n( .*\n)*`).ReplaceAll(signed, nil)
	forged := bytes.Replace(signed, []byte("From: Ada Lovelace <ada@example.org>"), []byte("From: Ada Lovelace <eve@example.org>"), 1)
	for name, c := range map[string]struct {
		msg    []byte
		status int
		want   string
	}{
		"unsigned": {unsigned, 403, "is not signed"},
		"forged":   {forged, 403, "is not the identity that signed it"},
	} {
		status, msg := postB4(t, endpoint, map[string]any{"action": "receive", "messages": []string{string(c.msg)}})
		if status != c.status || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d %q", name, status, msg, c.status, c.want)
		}
	}
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Errorf("refused mail was posted: %+v", list.Series)
	}

	// Signed mail by SMTP is checked too: eve's series, signed by a key
	// verified for ada only, is "key unknown", never "valid".
	eveOut := filepath.Join(eve.home, "out")
	eve.cmd("", "b4", "send", "-o", eveOut, "--to", "dev@patchwell.localhost")
	eveFiles, _ := filepath.Glob(filepath.Join(eveOut, "*.eml"))
	for _, f := range eveFiles {
		b, _ := os.ReadFile(f)
		sendRaw(t, srv.smtp, "eve@example.org", []string{"dev@patchwell.localhost"}, string(b))
	}
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 2 || list.Series[0].ID == id {
		t.Fatalf("series after eve's SMTP mail: %+v", list.Series)
	}
	evePage := string(httpGet(t, fmt.Sprintf("http://%s/series/%d/", srv.http, list.Series[0].ID)))
	if !strings.Contains(evePage, "4 of 4 messages signed as eve@example.org (ed25519), key unknown: not verified") || strings.Contains(evePage, ": valid") {
		t.Errorf("eve's series page:\n%s", pageBlock(t, evePage, "devsig"))
	}
}

// postB4 posts a request to b4's endpoint and returns the status and
// the error message.
func postB4(t *testing.T, endpoint string, req any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(endpoint, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Result, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out.Message
}

// newB4SenderPGP is a contributor who signs with OpenPGP: a gpg key
// (ed25519, no passphrase) in a private GNUPGHOME, patatt.signingkey
// naming it.
func newB4SenderPGP(t *testing.T, endpoint, name, email string) (*b4Sender, string) {
	t.Helper()
	s := &b4Sender{t: t, home: t.TempDir()}
	if err := os.Mkdir(filepath.Join(s.home, ".gnupg"), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.try("", "gpgconf", "--kill", "gpg-agent") })
	s.cmd("", "gpg", "--batch", "--passphrase", "", "--quick-gen-key", name+" <"+email+">", "ed25519", "sign", "never")
	out := s.cmd("", "gpg", "--with-colons", "--list-keys", email)
	fpr := regexp.MustCompile(`(?m)^fpr:+([0-9A-F]{40}):`).FindStringSubmatch(out)
	if fpr == nil {
		t.Fatalf("no fingerprint in:\n%s", out)
	}
	cfg := fmt.Sprintf("[user]\n\tname = %s\n\temail = %s\n[b4]\n\tsend-endpoint-web = %s\n[patatt]\n\tsigningkey = openpgp:%s\n", name, email, endpoint, fpr[1])
	if err := os.WriteFile(filepath.Join(s.home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, fpr[1]
}

// TestB4SendWebEndpointOpenPGP: the same road with an OpenPGP key, as
// b4 and patatt use gpg: --web-auth-new sends the exported key, the
// challenge is signed by gpg, and the series page names the key by its
// fingerprint.
func TestB4SendWebEndpointOpenPGP(t *testing.T) {
	needTool(t, "b4", "--version")
	needTool(t, "patatt", "--help")
	needTool(t, "gpg", "--version")
	sk := startSink(t)
	data := t.TempDir()
	srv := startServer(t, data, "--smarthost", sk.addr)
	grace, fpr := newB4SenderPGP(t, "http://"+srv.http+"/_b4_submit", "Grace Hopper", "grace@example.org")
	grace.prep("Add three files with OpenPGP")
	if out := grace.cmd("", "b4", "send", "--web-auth-new"); !strings.Contains(out, "Challenge generated and sent to grace@example.org") {
		t.Fatalf("b4 send --web-auth-new:\n%s", out)
	}
	m := challengeRE.FindSubmatch(sk.waitFor(t, "grace@example.org", 1)[0].data)
	if m == nil {
		t.Fatal("no challenge in the mail")
	}
	if out := grace.cmd("", "b4", "send", "--web-auth-verify", string(m[1])); !strings.Contains(out, "Challenge successfully verified") {
		t.Fatalf("b4 send --web-auth-verify:\n%s", out)
	}
	if out := grace.cmd("", "b4", "send", "--to", "dev@patchwell.localhost"); !strings.Contains(out, "Sent 4 messages") {
		t.Fatalf("b4 send:\n%s", out)
	}
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete {
		t.Fatalf("series after b4 send: %+v", list.Series)
	}
	page := string(httpGet(t, fmt.Sprintf("http://%s/series/%d/", srv.http, list.Series[0].ID)))
	want := "4 of 4 messages signed by openpgp key " + fpr[24:] + " (selector default) of Grace Hopper &lt;grace@example.org&gt;: valid"
	if !strings.Contains(page, want) {
		t.Errorf("series page lacks %q:\n%s", want, pageBlock(t, page, "devsig"))
	}
}
