// Package testcorpus locates the shared mail corpus (../shared/corpus next
// to the repository, or $PATCHWELL_CORPUS, for a git worktree kept
// elsewhere) for tests: absent, a test skips with the reason; under
// CI=true, where .ci/run provides it, the test fails instead.
package testcorpus

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Find returns the corpus directory, or an error when it is absent. Fuzz
// seeding uses it, where inline seeds suffice without the corpus.
func Find() (string, error) {
	dir := os.Getenv("PATCHWELL_CORPUS")
	if dir == "" {
		_, file, _, _ := runtime.Caller(0)
		dir = filepath.Join(filepath.Dir(file), "..", "..", "..", "shared", "corpus")
	}
	if _, err := os.Stat(filepath.Join(dir, "SOURCES.md")); err != nil {
		return dir, err
	}
	return dir, nil
}

// Dir returns the corpus directory, skipping (or, under CI, failing) t
// when it is absent.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := Find()
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing at %s under CI: %v", dir, err)
		}
		t.Skipf("corpus not available at %s: %v", dir, err)
	}
	return dir
}

// Path returns the corpus file rel, skipping or failing as Dir does.
func Path(t testing.TB, rel string) string {
	t.Helper()
	p := filepath.Join(Dir(t), rel)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("corpus file %s missing: %v", rel, err)
	}
	return p
}
