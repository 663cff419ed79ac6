package patchmail

import (
	"encoding/base64"
	"patchwell/core"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const samplePatch = `From 1234567890123456789012345678901234567890 Mon Sep 17 00:00:00 2001
From: A U Thor <author@example.com>
Date: Tue, 2 Jan 2024 03:04:05 +0000
Subject: [PATCH v2 1/2] foo: make bar work
Message-ID: <1@example.com>

The bar did not work.

Signed-off-by: A U Thor <author@example.com>
---
 foo.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/foo.c b/foo.c
index 1111111..2222222 100644
--- a/foo.c
+++ b/foo.c
@@ -1,3 +1,3 @@
 int a;
-int b;
+int bar;
 int c;

base-commit: 0123456789abcdef0123456789abcdef01234567
change-id: 20240102-bar-1a2b3c
-- 
2.43.0
`

func TestParsePatch(t *testing.T) {
	m := mustParse(t, []byte(samplePatch))
	want := &Mail{
		Subject:       Subject{Title: "foo: make bar work", Patch: true, Version: 2, Index: 1, Total: 2},
		Kind:          KindPatch,
		Author:        core.Person{Name: "A U Thor", Email: "author@example.com"},
		AuthorDate:    time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		CommitSubject: "foo: make bar work",
		CommitMessage: "The bar did not work.\n\nSigned-off-by: A U Thor <author@example.com>\n",
		Files:         []core.File{{Path: "foo.c", Added: 1, Deleted: 1}},
		Trailers:      []core.Trailer{{Key: "Signed-off-by", Value: "A U Thor <author@example.com>"}},
		BaseCommit:    "0123456789abcdef0123456789abcdef01234567",
		ChangeID:      "20240102-bar-1a2b3c",
	}
	opts := cmp.Options{
		cmp.FilterPath(func(p cmp.Path) bool {
			s := p.String()
			return s == "Body" || s == "Diff" || s == "PatchID"
		}, cmp.Ignore()),
		cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) }),
	}
	if diff := cmp.Diff(want, m, opts); diff != "" {
		t.Errorf("Parse() mismatch (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(m.Diff, "diff --git a/foo.c") || strings.Contains(m.Diff, "2.43.0") {
		t.Errorf("Diff = %q", m.Diff)
	}
	if len(m.PatchID) != 40 {
		t.Errorf("PatchID = %q", m.PatchID)
	}
}

// mimeMail builds a multipart/mixed mail from raw part texts.
func mimeMail(subject string, parts ...string) []byte {
	var b strings.Builder
	b.WriteString("From: A <a@example.com>\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\n")
	b.WriteString("Content-Type: multipart/mixed; boundary=\"XX\"\r\n\r\n")
	for _, p := range parts {
		b.WriteString("--XX\r\n" + p + "\r\n")
	}
	b.WriteString("--XX--\r\n")
	return []byte(b.String())
}

const diffText = "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1,2 @@\n a\n+b\n"

func TestParseMIME(t *testing.T) {
	b64 := base64.StdEncoding.EncodeToString([]byte(diffText))
	flowed := "Content-Type: text/plain; format=flowed; delsp=yes\r\n\r\nThis is a long \r\nline.\r\n\r\nReviewed-by: R <r@example.com>\r\n"
	tests := []struct {
		name     string
		raw      []byte
		kind     Kind
		files    []core.File
		body     string
		trailers []core.Trailer
	}{
		{"x-patch attachment base64", mimeMail("[PATCH] x",
			"Content-Type: text/plain\r\n\r\nPlease apply.\r\n",
			"Content-Type: text/x-patch; name=\"x.patch\"\r\nContent-Disposition: attachment; filename=\"x.patch\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"+b64),
			KindPatch, []core.File{{Path: "x", Added: 1}}, "Please apply.\n", nil},
		{"text attachment that is a diff, quoted-printable", mimeMail("[PATCH] x",
			"Content-Type: text/plain\r\n\r\nHi\r\n",
			"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"fix.txt\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"+
				strings.ReplaceAll(strings.ReplaceAll(diffText, "\n", "\r\n"), "+b", "+=62")),
			KindPatch, []core.File{{Path: "x", Added: 1}}, "Hi\n", nil},
		{"text attachment that is not a diff", mimeMail("[PATCH] x",
			"Content-Type: text/plain\r\n\r\nHi\r\n",
			"Content-Type: text/plain\r\nContent-Disposition: attachment; filename=\"log.txt\"\r\n\r\nsome log\r\n"),
			KindNone, nil, "Hi\n", nil},
		{"html alternative ignored", mimeMail("hello",
			"Content-Type: multipart/alternative; boundary=YY\r\n\r\n--YY\r\nContent-Type: text/plain\r\n\r\nplain\r\n--YY\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--YY--"),
			KindNone, nil, "plain", nil},
		{"format flowed delsp", mimeMail("Re: [PATCH] x", flowed),
			KindNone, nil, "This is a longline.\n\nReviewed-by: R <r@example.com>\n",
			[]core.Trailer{{Key: "Reviewed-by", Value: "R <r@example.com>"}}},
		{"latin-1 body", []byte("From: a@example.com\nSubject: hi\nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\nK=E5gedal\n"),
			KindNone, nil, "Kågedal\n", nil},
		{"reply with diff is not a patch", []byte("From: a@example.com\nSubject: Re: [PATCH] x\n\nTry this:\n\n" + diffText),
			KindNone, []core.File{{Path: "x", Added: 1}}, "Try this:\n\n" + diffText, nil},
		{"cover letter", []byte("From: a@example.com\nSubject: [PATCH v3 0/4] series\n\nThis series.\n\nbase-commit: 0123456789abcdef0123456789abcdef01234567\n"),
			KindCover, nil, "This series.\n\nbase-commit: 0123456789abcdef0123456789abcdef01234567\n", nil},
		{"untagged format-patch mail is a patch", []byte("From: a@example.com\nSubject: fix x\n\nmsg\n---\n" + diffText),
			KindPatch, []core.File{{Path: "x", Added: 1}}, "msg\n---\n" + diffText, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := mustParse(t, tc.raw)
			if m.Kind != tc.kind {
				t.Errorf("Kind = %v, want %v", m.Kind, tc.kind)
			}
			if diff := cmp.Diff(tc.files, m.Files); diff != "" {
				t.Errorf("Files mismatch (-want +got):\n%s", diff)
			}
			if m.Body != tc.body {
				t.Errorf("Body = %q, want %q", m.Body, tc.body)
			}
			if diff := cmp.Diff(tc.trailers, m.Trailers); diff != "" {
				t.Errorf("Trailers mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	t.Run("deep nesting", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("From: a@example.com\nSubject: deep\nContent-Type: multipart/mixed; boundary=b0\n\n")
		const depth = 5000
		for i := 1; i <= depth; i++ {
			b.WriteString("--b" + strconv.Itoa(i-1) + "\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i) + "\n\n")
		}
		start := time.Now()
		m := mustParse(t, []byte(b.String()))
		if !m.TooDeep {
			t.Errorf("TooDeep = false for %d levels", depth)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("Parse took %v", d)
		}
	})
	t.Run("empty", func(t *testing.T) {
		if _, err := Parse([]byte(" \n")); err != ErrEmpty {
			t.Errorf("Parse(blank) = %v, want ErrEmpty", err)
		}
	})
	t.Run("garbage header", func(t *testing.T) {
		m := mustParse(t, []byte("\x00\xff garbage without colon\n\nbody\n"))
		if m.Kind != KindNone {
			t.Errorf("Kind = %v", m.Kind)
		}
	})
}
