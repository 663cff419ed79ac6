package gitrepo

import (
	"context"
	"strings"
	"testing"
)

// TestMailinfo: git mailinfo as patatt runs it, in the C locale of every
// git call here: the body decoded (quoted-printable, UTF-8) into message
// and patch, and Author, Email and Subject (tags stripped) in the info.
func TestMailinfo(t *testing.T) {
	needGit(t)
	raw := "From: =?UTF-8?q?Zo=C3=AB?= <zoe@example.org>\nSubject: [PATCH v2 1/3] caf=?utf-8?q?=C3=A9?=\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
		"Zo=C3=AB wrote this.\n---\ndiff --git a/x b/x\n"
	msg, patch, info, err := Mailinfo(context.Background(), []byte(raw))
	if err != nil {
		t.Fatalf("Mailinfo() = %v", err)
	}
	if string(msg) != "Zoë wrote this.\n" || !strings.HasPrefix(string(patch), "---\ndiff --git a/x b/x\n") {
		t.Errorf("Mailinfo() message %q, patch %q", msg, patch)
	}
	for _, want := range []string{"Author: Zoë\n", "Email: zoe@example.org\n", "Subject: café\n"} {
		if !strings.Contains(string(info), want) {
			t.Errorf("info %q lacks %q", info, want)
		}
	}
}
