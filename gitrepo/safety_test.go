package gitrepo

import (
	"errors"
	"strings"
	"testing"
)

func newFile(name, mode, body string) string {
	return "diff --git a/" + name + " b/" + name + "\nnew file mode " + mode + "\nindex 0000000..1111111\n--- /dev/null\n+++ b/" + name + "\n@@ -0,0 +1 @@\n+" + body + "\n"
}

func quotedNewFile(q string) string {
	return "diff --git \"a/" + q + "\" \"b/" + q + "\"\nnew file mode 100644\nindex 0000000..1111111\n--- /dev/null\n+++ \"b/" + q + "\"\n@@ -0,0 +1 @@\n+x\n"
}

// TestCheckPatchesRefuses feeds one malicious patch per rule and wants
// each refused, naming the patch and the path.
func TestCheckPatchesRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		diffs  []string
		base   map[string]bool
		patch  int
		path   string
		reason string
	}{
		{"dotdot", []string{newFile("../../etc/passwd", "100644", "x")}, nil, 1, "../../etc/passwd", "'..'"},
		{"absolute", []string{"--- /dev/null\n+++ /etc/passwd\n@@ -0,0 +1 @@\n+x\n"}, nil, 1, "/etc/passwd", "absolute"},
		{"git hooks", []string{newFile("ok.c", "100644", "x"), newFile(".git/hooks/pre-commit", "100755", "#!/bin/sh")}, nil, 2, ".git/hooks/pre-commit", ".git"},
		{"nested .GIT", []string{newFile("sub/.GIT./config", "100644", "x")}, nil, 1, "sub/.GIT./config", ".git"},
		{"newline", []string{quotedNewFile(`x\ny`)}, nil, 1, "x\ny", "control"},
		{"escape", []string{quotedNewFile(`x\033[2Jy`)}, nil, 1, "x\x1b[2Jy", "control"},
		{"symlink then file, one patch", []string{newFile("evil", "120000", "/etc") + newFile("evil/passwd", "100644", "x")}, nil, 1, "evil/passwd", "symbolic link"},
		{"symlink then file, two patches", []string{newFile("evil", "120000", "/etc"), newFile("evil/sub/passwd", "100644", "x")}, nil, 2, "evil/sub/passwd", `"evil"`},
		{"traditional diff through a symlink", []string{"--- a/docs/link/x\n+++ b/docs/link/x\n@@ -1 +1 @@\n-a\n+b\n"}, map[string]bool{"docs/link": true}, 1, "b/docs/link/x", `"docs/link"`},
		{"traditional diff into .git", []string{"--- /dev/null\n+++ b/.git/config\n@@ -0,0 +1 @@\n+b\n"}, nil, 1, "b/.git/config", ".git"},
		{"base tree symlink", []string{newFile("docs/link/x", "100644", "x")}, map[string]bool{"docs/link": true}, 1, "docs/link/x", `"docs/link"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := CheckPatches(c.diffs, c.base)
			var pe *PathError
			if !errors.As(err, &pe) {
				t.Fatalf("CheckPatches = %v, want a *PathError", err)
			}
			if pe.Patch != c.patch || pe.Path != c.path || !strings.Contains(pe.Error(), c.reason) {
				t.Fatalf("refused %q in patch %d (%v), want %q in patch %d saying %s", pe.Path, pe.Patch, err, c.path, c.patch, c.reason)
			}
		})
	}
}

// TestCheckPatchesFlags: harmless paths pass; those that change git's or
// CI's behaviour, and names with direction-changing characters, are
// flagged.
func TestCheckPatchesFlags(t *testing.T) {
	diffs := []string{
		newFile("src/a.c", "100644", "x") + newFile(".gitmodules", "100644", "x") + newFile("sub/.gitattributes", "100644", "x"),
		newFile(".patchwell.yml", "100644", "x") + newFile(".github/workflows/ci.yml", "100644", "x") + newFile(".gitlab-ci.yml", "100644", "x"),
		quotedNewFile(`gpj.\342\200\256exe`) + newFile("link", "120000", "src"),
	}
	flags, err := CheckPatches(diffs, map[string]bool{"elsewhere": true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".gitmodules": "submodules", "sub/.gitattributes": "attributes", ".patchwell.yml": "check definition",
		".github/workflows/ci.yml": "CI definition", ".gitlab-ci.yml": "CI definition",
		"gpj.\u202eexe": "U+202E", "link": "symbolic link",
	}
	got := map[string]string{}
	for _, f := range flags {
		got[f.Path] = f.Reason
	}
	for p, w := range want {
		if !strings.Contains(got[p], w) {
			t.Errorf("flag for %q = %q, want it to say %q", p, got[p], w)
		}
	}
	if r, ok := got["src/a.c"]; ok {
		t.Errorf("src/a.c flagged: %s", r)
	}
}
