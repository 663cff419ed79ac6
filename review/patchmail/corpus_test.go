package patchmail

import (
	"bytes"
	"os"
	"os/exec"
	"patchwell/internal/testcorpus"
	"testing"
)

// corpusDir is the shared mail corpus (see internal/testcorpus).
func corpusDir(t testing.TB) string { return testcorpus.Dir(t) }

// needGit skips (or fails under CI=true) when git is not installed.
func needGit(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("git")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git not found: %v", err)
		}
		t.Skipf("git not found: %v", err)
	}
	return p
}

func mustRead(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile() = %v", err)
	}
	return b
}

func mustParse(t testing.TB, raw []byte) *Mail {
	t.Helper()
	m, err := Parse(raw)
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	return m
}

// splitMbox splits an mbox on lines starting with "From " (mboxo; good
// enough for the test corpora).
func splitMbox(b []byte) [][]byte {
	var msgs [][]byte
	start := -1
	pos := 0
	for pos < len(b) {
		end := bytes.IndexByte(b[pos:], '\n')
		next := len(b)
		if end >= 0 {
			next = pos + end + 1
		}
		if bytes.HasPrefix(b[pos:], []byte("From ")) {
			if start >= 0 {
				msgs = append(msgs, b[start:pos])
			}
			start = pos
		}
		pos = next
	}
	if start >= 0 {
		msgs = append(msgs, b[start:])
	}
	return msgs
}
