package patchmail

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// corpusDir returns the shared test corpus (../shared/corpus next to the
// repository root). It skips the test when the corpus is absent, and
// fails instead when CI=true.
func corpusDir(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatalf("Getwd() = %v", err)
	}
	root := wd
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s", wd)
		}
		root = parent
	}
	dir := filepath.Join(root, "..", "shared", "corpus")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing at %s: %v", dir, err)
		}
		t.Skipf("corpus missing at %s: %v", dir, err)
	}
	return dir
}

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
