package mailauth

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitMailinfo is git mailinfo for the tests (gitrepo.Mailinfo in the
// server; mailauth imports no other patchwell package).
func gitMailinfo(ctx context.Context, raw []byte) (msg, patch, info []byte, err error) {
	dir, err := os.MkdirTemp("", "mailinfo")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(dir)
	cmd := exec.CommandContext(ctx, "git", "mailinfo", "--encoding=utf-8", "--no-scissors", filepath.Join(dir, "m"), filepath.Join(dir, "p"))
	cmd.Stdin = bytes.NewReader(raw)
	if info, err = cmd.Output(); err != nil {
		return nil, nil, nil, err
	}
	msg, _ = os.ReadFile(filepath.Join(dir, "m"))
	patch, _ = os.ReadFile(filepath.Join(dir, "p"))
	return msg, patch, info, nil
}

func readVector(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "patatt", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// verifyRaw parses raw and checks its one signature with key.
func verifyRaw(t *testing.T, raw []byte, key PatattKey) (DevSig, error) {
	t.Helper()
	m, err := ParsePatatt(raw)
	if err != nil {
		t.Fatalf("ParsePatatt() = %v", err)
	}
	if len(m.Sigs) != 1 {
		t.Fatalf("ParsePatatt() found %d signatures, want 1", len(m.Sigs))
	}
	return m.Sigs[0], VerifyPatatt(context.Background(), gitMailinfo, m, m.Sigs[0], key)
}

// TestPatattVectors: messages patatt 0.6.3 signed (ed25519 with a key
// from `patatt genkey`, openpgp with a gpg ed25519 key; the .pub files
// are what b4 --web-auth-new sends) verify with their keys, and any
// change to what is signed (body, From, Subject, Message-ID), or another
// key, fails; headers outside h= (To) may change.
func TestPatattVectors(t *testing.T) {
	needGit(t)
	for _, alg := range []string{AlgEd25519, AlgOpenPGP} {
		t.Run(alg, func(t *testing.T) {
			raw := readVector(t, alg+".eml")
			key := PatattKey{Algorithm: alg, Public: string(readVector(t, alg+".pub"))}
			s, err := verifyRaw(t, raw, key)
			if err != nil {
				t.Fatalf("VerifyPatatt() = %v", err)
			}
			if s.Identity != "ada@example.org" || s.Selector != "vec" || s.Algorithm != alg {
				t.Errorf("signature = %+v", s)
			}
			// What the signature does not cover may change.
			if _, err := verifyRaw(t, bytes.Replace(raw, []byte("To: dev@"), []byte("To: other@"), 1), key); err != nil {
				t.Errorf("To changed: VerifyPatatt() = %v, want nil", err)
			}
			// CRLF line endings (as a message arrives over SMTP) verify.
			if _, err := verifyRaw(t, bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n")), key); err != nil {
				t.Errorf("CRLF: VerifyPatatt() = %v, want nil", err)
			}
			for name, edit := range map[string][2]string{
				"body":       {"+world", "+World"},
				"from":       {"From: Ada Lovelace <ada@", "From: Ada Lovelace <eve@"},
				"from name":  {"From: Ada Lovelace", "From: Ada Byron"},
				"subject":    {"say  hello", "say  bye"},
				"message-id": {"20240101.abc@", "20240101.abd@"},
			} {
				_, err := verifyRaw(t, bytes.Replace(raw, []byte(edit[0]), []byte(edit[1]), 1), key)
				if !errors.Is(err, ErrBadSignature) {
					t.Errorf("%s changed: VerifyPatatt() = %v, want ErrBadSignature", name, err)
				}
			}
		})
	}
	other := map[string]PatattKey{
		AlgEd25519: {Algorithm: AlgEd25519, Public: "2hDZDIWQZd/eZLMp/HWbEqx2urnvk9WWNstKLROZR08="},
		AlgOpenPGP: {Algorithm: AlgEd25519, Public: string(readVector(t, "ed25519.pub"))},
	}
	for alg, key := range other {
		if _, err := verifyRaw(t, readVector(t, alg+".eml"), key); err == nil {
			t.Errorf("%s vector verified with another key %.20s", alg, key.Public)
		}
	}
}

// TestPatattKeyID: an ed25519 key is named by itself, an OpenPGP key by
// its fingerprint (what X-Developer-Key's fpr= says); garbage is refused.
func TestPatattKeyID(t *testing.T) {
	id, err := PatattKey{Algorithm: AlgOpenPGP, Public: string(readVector(t, "openpgp.pub"))}.ID()
	if err != nil || id != "BB5433203ED95A0D418F2AE89E13081B222D00F6" {
		t.Errorf("openpgp ID() = %q, %v", id, err)
	}
	pub := strings.TrimSpace(string(readVector(t, "ed25519.pub")))
	if id, err := (PatattKey{Algorithm: AlgEd25519, Public: pub + "\n"}).ID(); err != nil || id != pub {
		t.Errorf("ed25519 ID() = %q, %v", id, err)
	}
	for _, k := range []PatattKey{{AlgEd25519, "AAAA"}, {AlgOpenPGP, "not a key"}, {"openssh", "ssh-ed25519 AAAA"}} {
		if _, err := k.ID(); err == nil {
			t.Errorf("ID(%+v) = nil error", k)
		}
	}
}

// TestParsePatattUnsigned: a message without the header has no
// signatures; a broken signature header is an error, not a pass.
func TestParsePatattUnsigned(t *testing.T) {
	m, err := ParsePatatt([]byte("From: a@example.org\nSubject: x\n\nbody\n"))
	if err != nil || len(m.Sigs) != 0 || m.From != "a@example.org" {
		t.Errorf("ParsePatatt(unsigned) = %+v, %v", m, err)
	}
	for _, h := range []string{"v=2; a=ed25519-sha256; b=AAAA", "v=1; a=rsa; b=AAAA", "v=1; a=ed25519-sha256; h=from:subject"} {
		if _, err := ParsePatatt([]byte("From: a@example.org\nX-Developer-Signature: " + h + "\n\nbody\n")); err == nil {
			t.Errorf("ParsePatatt(%q) = nil error", h)
		}
	}
}

func needGit(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
}

// needPatatt returns patatt's command (the Debian package patatt); the
// test skips without it, and fails under CI=true.
func needPatatt(t *testing.T) string {
	t.Helper()
	needGit(t)
	if p, err := exec.LookPath("patatt"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("patatt is required under CI (apt-get install patatt)")
	}
	t.Skip("patatt not installed")
	return ""
}

// TestPatattLive signs mail with the real patatt (a fresh ed25519 key
// from `patatt genkey`) and verifies it: folded and encoded headers,
// non-ASCII names and bodies, quoted-printable, CRLF, a repeated header,
// trailing blank lines, in-body From.
func TestPatattLive(t *testing.T) {
	bin := needPatatt(t)
	home := t.TempDir()
	env := append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "GIT_CONFIG_NOSYSTEM=1")
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Zoë Test\n\temail = zoe@example.org\n[patatt]\n\tsigningkey = ed25519:live\n\tselector = live\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "genkey", "-n", "live")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("patatt genkey: %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(home, "data", "patatt", "public", "live.pub"))
	if err != nil {
		t.Fatal(err)
	}
	key := PatattKey{Algorithm: AlgEd25519, Public: string(pub)}
	cases := map[string]string{
		"plain":                    "From: Zoe <zoe@example.org>\nSubject: [PATCH] a\nMessage-ID: <1@x>\n\nbody\n",
		"folded and encoded":       "From: =?UTF-8?q?Zo=C3=AB_Test?= <zoe@example.org>\nSubject: [PATCH v3 07/12] a very long subject\n\tthat folds\nMessage-ID:\n <2@x>\n\nbody\n",
		"utf-8 body qp":            "From: Zoe <zoe@example.org>\nSubject: =?utf-8?b?w6nDqA==?=\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\nMessage-ID: <3@x>\n\nZo=C3=AB says hi =\nwrapped\n-- \nsig\n",
		"crlf and trailing blanks": "From: Zoe <zoe@example.org>\r\nSubject: x\r\nMessage-ID: <4@x>\r\n\r\nline  \r\n\r\n\r\n\r\n",
		"repeated subject":         "Subject: old\nFrom: Zoe <zoe@example.org>\nSubject: new\nMessage-ID: <5@x>\n\nbody\n",
		"in-body from":             "From: Zoe <zoe@example.org>\nSubject: [PATCH] b\nMessage-ID: <6@x>\n\nFrom: Ann Other <ann@example.org>\n\nReal body\n---\ndiff --git a/x b/x\n",
		"no message-id":            "From: Zoe <zoe@example.org>\nSubject: x\n\nbody\n",
		"nbsp and vt":              "From: Zoe <zoe@example.org>\nSubject: caf\u00e9\u00a0\nMessage-ID: <7@x>\u000b\nContent-Type: text/plain; charset=utf-8\n\nnbsp\u00a0\n",
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := exec.Command(bin, "sign")
			cmd.Env, cmd.Stdin = env, strings.NewReader(msg)
			signed, err := cmd.Output()
			if err != nil {
				t.Fatalf("patatt sign: %v", err)
			}
			s, err := verifyRaw(t, signed, key)
			if err != nil {
				t.Fatalf("VerifyPatatt() = %v\n%s", err, signed)
			}
			if s.Identity != "zoe@example.org" || s.Selector != "live" {
				t.Errorf("signature = %+v", s)
			}
			if _, err := verifyRaw(t, bytes.Replace(signed, []byte("\n\n"), []byte("\n\nX"), 1), key); err == nil && !strings.Contains(name, "crlf") {
				t.Errorf("body changed, still verifies")
			}
		})
	}
}
