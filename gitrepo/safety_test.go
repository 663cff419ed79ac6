package gitrepo

import (
	"errors"
	"os"
	"path/filepath"
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
		{"hg's hgrc", []string{newFile(".hg/hgrc", "100644", "[hooks]")}, nil, 1, ".hg/hgrc", ".hg"},
		{"nested .Hg", []string{newFile("sub/.Hg/store/x", "100644", "x")}, nil, 1, "sub/.Hg/store/x", ".hg"},
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
		newFile(".hgsub", "100644", "x") + newFile(".hgsubstate", "100644", "x") + newFile(".hgtags", "100644", "x"),
	}
	flags, err := CheckPatches(diffs, map[string]bool{"elsewhere": true})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		".gitmodules": "submodules", "sub/.gitattributes": "attributes", ".patchwell.yml": "check definition",
		".github/workflows/ci.yml": "CI definition", ".gitlab-ci.yml": "CI definition",
		"gpj.\u202eexe": "U+202E", "link": "symbolic link",
		".hgsub": "subrepositories", ".hgsubstate": "subrepositories", ".hgtags": "tags",
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

// TestCheckPatchesSymlinkTargets sends real `git format-patch` series
// that make or change symbolic links (the fixture's base tree holds
// a.txt and etc-link -> /etc) and wants each flag to name the link and
// its target, and to say when the target leaves the tree: absolute, or
// climbing out with "..", resolved from the link's directory.
func TestCheckPatchesSymlinkTargets(t *testing.T) {
	f := newFixture(t)
	link := func(target, name string) func() string {
		return func() string {
			p := filepath.Join(f.work, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.Remove(p)
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			return "link " + name
		}
	}
	for _, c := range []struct {
		name    string
		commit  func() string
		path    string
		want    []string // substrings of the flag's reason
		outside bool     // the reason says the target leaves the tree
	}{
		{"absolute", link("/etc/passwd", "evil"), "evil", []string{`adds a symbolic link to "/etc/passwd"`, "absolute"}, true},
		{"climbs out", link("../../../x", "sub/dir/up"), "sub/dir/up", []string{`adds a symbolic link to "../../../x"`, "climbs out of the tree"}, true},
		{"climbs out and back", link("../../work/a.txt", "sub/back"), "sub/back", []string{`"../../work/a.txt"`, "climbs out of the tree"}, true},
		{"into .git", link("../.git/hooks/pre-commit", "sub/hook"), "sub/hook", []string{`"../.git/hooks/pre-commit"`, ".git"}, true},
		{"inside", link("../a.txt", "sub/ok"), "sub/ok", []string{`adds a symbolic link to "../a.txt"`, "within the tree"}, false},
		{"retarget outside", link("/etc/shadow", "etc-link"), "etc-link", []string{`changes the symbolic link's target to "/etc/shadow"`, "absolute"}, true},
		{"retarget inside", link("a.txt", "etc-link"), "etc-link", []string{`changes the symbolic link's target to "a.txt"`, "within the tree"}, false},
		{"file into link", link("/etc/passwd", "a.txt"), "a.txt", []string{`symbolic link to "/etc/passwd"`, "absolute"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, _ := f.send(t, c.commit)
			_, patches, err := f.ap.Service.Series(f.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			diffs, err := SeriesDiffs(f.ctx, f.st, "dev", patches)
			if err != nil {
				t.Fatal(err)
			}
			flags, err := CheckPatches(diffs, map[string]bool{"etc-link": true})
			if err != nil {
				t.Fatalf("CheckPatches = %v", err)
			}
			var got []string
			for _, fl := range flags {
				if fl.Path == c.path && strings.Contains(fl.Reason, "symbolic link") {
					got = append(got, fl.Reason)
				}
			}
			if len(got) != 1 {
				t.Fatalf("flags for %s: %q, want one about the link (all: %+v)\n%s", c.path, got, flags, diffs[0])
			}
			for _, w := range c.want {
				if !strings.Contains(got[0], w) {
					t.Errorf("flag %q does not say %q", got[0], w)
				}
			}
			if out := strings.Contains(got[0], "outside") || strings.Contains(got[0], "climbs out") || strings.Contains(got[0], ".git"); out != c.outside {
				t.Errorf("flag %q: says it leaves the tree: %v, want %v", got[0], out, c.outside)
			}
		})
	}
}

// TestLinkFlagForms: the forms of a link change format-patch does not
// make by default, and targets that must show escaped.
func TestLinkFlagForms(t *testing.T) {
	for _, c := range []struct {
		name, diff, want string
	}{
		{"mode change", "diff --git a/x b/x\nold mode 100644\nnew mode 120000\nindex 1111111..2222222\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-text\n+../../up\n\\ No newline at end of file\n",
			`turns a file into a symbolic link to "../../up": it climbs out of the tree`},
		{"mode change alone", "diff --git a/x b/x\nold mode 100644\nnew mode 120000\n",
			"turns a file into a symbolic link (its target is not in the patch)"},
		{"renamed and retargeted", "diff --git a/l b/d/l\nsimilarity index 50%\nrename from l\nrename to d/l\nindex 1111111..2222222 120000\n--- a/l\n+++ b/d/l\n@@ -1 +1 @@\n-a.txt\n\\ No newline at end of file\n+../a.txt\n\\ No newline at end of file\n",
			`changes the symbolic link's target to "../a.txt" (within the tree)`},
		{"renamed", "diff --git a/l b/m\nsimilarity index 100%\nrename from l\nrename to m\n", ""},
		{"control characters", newFile("l", "120000", "/x\x1b[2J\u202etxt"), `adds a symbolic link to "/x\x1b[2J\u202etxt\n": an absolute path, outside the tree`},
		{"deleted", "diff --git a/l b/l\ndeleted file mode 120000\nindex 1111111..0000000\n--- a/l\n+++ /dev/null\n@@ -1 +0,0 @@\n-/etc\n\\ No newline at end of file\n", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			flags, err := CheckPatches([]string{c.diff}, nil)
			if err != nil {
				t.Fatalf("CheckPatches = %v", err)
			}
			var got string
			for _, f := range flags {
				got += f.Reason
			}
			if got != c.want {
				t.Errorf("flags %q, want %q", got, c.want)
			}
		})
	}
}
