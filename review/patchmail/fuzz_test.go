package patchmail

import (
	"os"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"testing"
	"unicode/utf8"
)

func FuzzSubject(f *testing.F) {
	for _, s := range []string{
		"[PATCH v3 2/7] net: x", "Re: [RFC PATCH net-next 0/5] y", "[PATCHv2]", "Re[2]: Fwd: [x][PATCH 1 of 2] z",
		"[", "[]", "Re:", "[PATCH 99999999999/1]", "[PATCH v-1]", "\xff\xfe[PATCH]",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sub := ParseSubject(s)
		if sub.Version < 1 || sub.Index < 0 || sub.Total < 0 || sub.Version > maxNumber || sub.Total > maxNumber {
			t.Errorf("ParseSubject(%q) = %+v: number out of range", s, sub)
		}
		if len(sub.Title) > len(s) {
			t.Errorf("ParseSubject(%q): Title longer than input", s)
		}
		if utf8.ValidString(s) && !utf8.ValidString(sub.Title) {
			t.Errorf("ParseSubject(%q): invalid UTF-8 title", s)
		}
	})
}

func FuzzPatchMail(f *testing.F) {
	f.Add([]byte(samplePatch))
	f.Add([]byte("From: a@example.com\nSubject: Re: x\n\n> quoted\nReviewed-by: R <r@example.com>\n"))
	f.Add(mimeMail("[PATCH] x", "Content-Type: text/x-patch\r\nContent-Transfer-Encoding: base64\r\n\r\nZGlmZiAtLWdpdA=="))
	f.Add([]byte("Subject: [GIT PULL] x\n\nare available in the Git repository at:\n\n  git://h/r.git tag\n"))
	f.Add([]byte("Subject: x\nContent-Type: text/plain; format=flowed; delsp=yes\n\na \nb\n-- \nsig\n"))
	f.Add([]byte("Subject: [PATCH 1 of 2 V2] x\n\n# HG changeset patch\n# User A <a@example.com>\n# Date 1700000100 -3600\n" +
		"# Parent  29139b0729ad8bfab00c78379f4475719cdf96ee\nx\n\ndiff -r 29139b0729ad -r df77cbded5c7 x.py\n" +
		"--- /dev/null\tThu Jan 01 00:00:00 1970 +0000\n+++ b/x.py\tTue Nov 14 23:15:00 2023 +0100\n@@ -0,0 +1,1 @@\n+y\n"))
	if dir, err := corpusSeedDir(); err == nil {
		for _, name := range []string{
			"patchwork/mail/0009-git-rename-with-diff.mbox", "patchwork/mail/0026-git-add-mixed-binary-text-files.mbox",
			"patchwork/mail/0023-git-pull-request-newline-in-url.mbox", "public-inbox/msg_iter-nested.eml",
			"git/t5100/quoted-cr.mbox", "patchwork/series/mercurial-no-cover-letter.mbox",
		} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := Parse(raw)
		if err != nil {
			return
		}
		if !utf8.ValidString(m.Body) || !utf8.ValidString(m.CommitMessage) {
			t.Errorf("invalid UTF-8 in Body or CommitMessage")
		}
		if m.Kind == KindPatch && len(m.Files) == 0 {
			t.Errorf("KindPatch without files")
		}
		if m.Kind == KindPull && m.Pull == nil {
			t.Errorf("KindPull without Pull")
		}
		if m.PatchID != "" && len(m.PatchID) != 40 {
			t.Errorf("PatchID = %q", m.PatchID)
		}
	})
}

// corpusSeedDir finds the shared corpus for fuzz seeds without failing
// when it is absent (the inline seeds suffice).
func corpusSeedDir() (string, error) { return testcorpus.Find() }

func BenchmarkParse(b *testing.B) {
	raw := []byte(samplePatch)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}
