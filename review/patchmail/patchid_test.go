package patchmail

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitRepo is a throw-away repository for building real patches.
type gitRepo struct {
	t   *testing.T
	git string
	dir string
}

func (r *gitRepo) run(args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.git, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(),
		"HOME="+r.dir, "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1", "GIT_TERMINAL_PROMPT=0",
		"GIT_AUTHOR_NAME=A U Thor", "GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=C O Mitter", "GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_AUTHOR_DATE=2024-01-02T03:04:05Z", "GIT_COMMITTER_DATE=2024-01-02T03:04:05Z")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %v = %v: %s", args, err, stderr.String())
	}
	return string(out)
}

func (r *gitRepo) write(name, content string) {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		r.t.Fatalf("MkdirAll() = %v", err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatalf("WriteFile() = %v", err)
	}
}

func (r *gitRepo) commit(msg string) {
	r.t.Helper()
	r.run("add", "-A")
	r.run("commit", "-q", "-m", msg)
}

func lines(prefix string, n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "%s line %d\n", prefix, i)
	}
	return b.String()
}

// TestPatchIDMatchesGit builds commits of every shape, exports them with
// git format-patch and checks Parse against git patch-id --stable.
func TestPatchIDMatchesGit(t *testing.T) {
	r := &gitRepo{t: t, git: needGit(t), dir: t.TempDir()}
	r.run("init", "-q", "-b", "main")
	r.write("a.txt", lines("a", 30))
	r.write("b.txt", lines("b", 10))
	r.write("dir/c.go", "package c\n\nfunc C() {}\n")
	r.commit("initial")

	steps := []struct {
		name string
		do   func()
	}{
		{"modify", func() {
			r.write("a.txt", strings.Replace(lines("a", 30), "a line 5\n", "a line five\n", 1)+"tail\n")
		}},
		{"add", func() { r.write("new.txt", "brand new\nfile\n") }},
		{"delete", func() { os.Remove(filepath.Join(r.dir, "b.txt")) }},
		{"rename", func() { r.run("mv", "dir/c.go", "dir/renamed.go") }},
		{"rename with change", func() {
			r.run("mv", "a.txt", "a2.txt")
			r.write("a2.txt", strings.Replace(lines("a", 30), "a line 20\n", "changed 20\n", 1)+"tail\n")
		}},
		{"binary add", func() { r.write("bin.dat", "\x00\x01\x02binary\x00\xff") }},
		{"binary modify", func() { r.write("bin.dat", "\x00\x01\x03binary2\x00\xfe") }},
		{"many files", func() {
			for i := range 12 {
				r.write(fmt.Sprintf("m/f%02d.txt", i), lines(fmt.Sprint("m", i), 3+i))
			}
		}},
		{"mode change", func() {
			if err := os.Chmod(filepath.Join(r.dir, "new.txt"), 0o755); err != nil {
				t.Fatalf("Chmod() = %v", err)
			}
		}},
		{"mode change and rename", func() {
			r.run("mv", "dir/renamed.go", "dir/again.go")
			if err := os.Chmod(filepath.Join(r.dir, "m/f00.txt"), 0o755); err != nil {
				t.Fatalf("Chmod() = %v", err)
			}
			r.write("m/f01.txt", "rewritten\n")
		}},
		{"no newline at end", func() { r.write("new.txt", "brand new\nfile without newline") }},
		{"whitespace only", func() { r.write("m/f02.txt", strings.ReplaceAll(lines("m2", 5), " ", "\t")) }},
		{"empty file", func() { r.write("empty.txt", "") }},
	}
	for _, s := range steps {
		s.do()
		r.commit(s.name + "\n\nBody of " + s.name + ".\n\nSigned-off-by: A U Thor <author@example.com>")
	}
	out := r.run("format-patch", "-M", "-o", "out", "--root", "HEAD")
	paths := strings.Fields(out)
	if len(paths) != len(steps)+1 {
		t.Fatalf("format-patch wrote %d files, want %d", len(paths), len(steps)+1)
	}
	for i, p := range paths {
		name := "initial"
		if i > 0 {
			name = steps[i-1].name
		}
		t.Run(name, func(t *testing.T) {
			raw := mustRead(t, filepath.Join(r.dir, p))
			cmd := exec.Command(r.git, "patch-id", "--stable")
			cmd.Stdin = bytes.NewReader(raw)
			gitOut, err := cmd.Output()
			if err != nil {
				t.Fatalf("git patch-id = %v", err)
			}
			f := strings.Fields(string(gitOut))
			if len(f) != 2 {
				t.Fatalf("git patch-id printed %q", gitOut)
			}
			m := mustParse(t, raw)
			if m.PatchID != f[0] {
				t.Errorf("PatchID = %q, git patch-id --stable = %q", m.PatchID, f[0])
			}
			if m.Kind != KindPatch {
				t.Errorf("Kind = %v, want patch", m.Kind)
			}
			if m.CommitSubject != name {
				t.Errorf("CommitSubject = %q, want %q", m.CommitSubject, name)
			}
			if len(m.Files) == 0 {
				t.Errorf("Files empty")
			}
			if i > 0 && (len(m.Trailers) != 1 || m.Trailers[0].Key != "Signed-off-by") {
				t.Errorf("Trailers = %v, want one Signed-off-by", m.Trailers)
			}
		})
	}
}

// TestPatchIDFileOrder checks that --stable ids do not depend on the order
// of files in the diff.
func TestPatchIDFileOrder(t *testing.T) {
	a := "diff --git a/x b/x\nindex 1..2 100644\n--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n"
	b := "diff --git a/y b/y\nindex 3..4 100644\n--- a/y\n+++ b/y\n@@ -1,2 +1,2 @@\n ctx\n-o\n+n\n"
	if PatchID(a+b) != PatchID(b+a) {
		t.Errorf("PatchID depends on file order: %s vs %s", PatchID(a+b), PatchID(b+a))
	}
	if PatchID(a) == PatchID(b) || PatchID(a) == "" {
		t.Errorf("PatchID(a) = %q, PatchID(b) = %q", PatchID(a), PatchID(b))
	}
	if got := PatchID("no diff here\n"); got != "" {
		t.Errorf("PatchID(no diff) = %q, want empty", got)
	}
	// White space changes do not change the id.
	if PatchID(a) != PatchID(strings.ReplaceAll(a, "+new", "+ n e w")) {
		t.Errorf("PatchID changed with white space")
	}
}
