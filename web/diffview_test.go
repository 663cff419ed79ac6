package web

import (
	"fmt"
	"strings"
	"testing"
)

// numbered renders a file's lines as "class old new id" for comparison.
func numbered(f diffFile) []string {
	var out []string
	for _, l := range f.Lines {
		out = append(out, fmt.Sprintf("%s %d %d %s %s", l.Class, l.Old, l.New, l.ID, l.OldID))
	}
	return out
}

func checkLines(t *testing.T, f diffFile, want []string) {
	t.Helper()
	got := numbered(f)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("file %q lines:\n%s\nwant:\n%s", f.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSplitDiffHunks(t *testing.T) {
	diff := "diff --git a/x.go b/x.go\nindex 111..222 100644\n--- a/x.go\n+++ b/x.go\n" +
		"@@ -10,3 +20,4 @@ func f()\n ctx\n-old\n+new\n+more\n ctx2\n" +
		// A deleted line that looks like a file header, and an empty
		// context line whose space a mailer trimmed.
		"@@ -50,3 +61,2 @@\n--- not a header\n\n ctx3\n"
	files := splitDiff("p3", diff)
	if len(files) != 1 {
		t.Fatalf("files = %d, want 1", len(files))
	}
	f := files[0]
	if f.Name != "x.go" || f.OldPath != "x.go" || f.NewPath != "x.go" || f.Status != "" || f.Binary {
		t.Errorf("file = %q old %q new %q status %q", f.Name, f.OldPath, f.NewPath, f.Status)
	}
	checkLines(t, f, []string{
		"file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ",
		"hunk 0 0  ",
		"ctx 10 20 p3-f0-n20 p3-f0-o10",
		"del 11 0 p3-f0-o11 ",
		"add 0 21 p3-f0-n21 ",
		"add 0 22 p3-f0-n22 ",
		"ctx 12 23 p3-f0-n23 p3-f0-o12",
		"hunk 0 0  ",
		"del 50 0 p3-f0-o50 ",
		"ctx 51 61 p3-f0-n61 p3-f0-o51",
		"ctx 52 62 p3-f0-n62 p3-f0-o52",
	})
}

func TestSplitDiffFileKinds(t *testing.T) {
	diff := "diff --git a/new.txt b/new.txt\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1,2 @@\n+one\n+two\n" +
		"diff --git a/gone.c b/gone.c\ndeleted file mode 100644\nindex 1234567..0000000\n--- a/gone.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-int x;\n" +
		"diff --git a/old name.py b/new name.py\nsimilarity index 90%\nrename from old name.py\nrename to new name.py\nindex 1..2 100644\n--- a/old name.py\n+++ b/new name.py\n@@ -1,2 +1,2 @@\n-a = 1\n+a = 2\n b = 3\n\\ No newline at end of file\n" +
		"diff --git a/img.png b/img.png\nindex 1..2 100644\nBinary files a/img.png and b/img.png differ\n" +
		"diff --git \"a/t\\303\\244st.go\" \"b/t\\303\\244st.go\"\n--- \"a/t\\303\\244st.go\"\n+++ \"b/t\\303\\244st.go\"\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+y\n\\ No newline at end of file\n" +
		"diff --git a/mode.sh b/mode.sh\nold mode 100644\nnew mode 100755\n"
	files := splitDiff("p1", diff)
	type want struct{ name, old, new, status string }
	wants := []want{
		{"new.txt", "", "new.txt", "added"},
		{"gone.c", "gone.c", "", "deleted"},
		{"old name.py → new name.py", "old name.py", "new name.py", "renamed"},
		{"img.png", "img.png", "img.png", ""},
		{"täst.go", "täst.go", "täst.go", ""},
		{"mode.sh", "mode.sh", "mode.sh", ""},
	}
	if len(files) != len(wants) {
		t.Fatalf("files = %d, want %d: %+v", len(files), len(wants), files)
	}
	for i, w := range wants {
		f := files[i]
		if got := (want{f.Name, f.OldPath, f.NewPath, f.Status}); got != w {
			t.Errorf("file %d = %+v, want %+v", i, got, w)
		}
		if f.Binary != (i == 3) {
			t.Errorf("file %d binary = %v", i, f.Binary)
		}
	}
	checkLines(t, files[0], []string{"file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "hunk 0 0  ",
		"add 0 1 p1-f0-n1 ", "add 0 2 p1-f0-n2 "})
	checkLines(t, files[1], []string{"file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "hunk 0 0  ",
		"del 1 0 p1-f1-o1 "})
	checkLines(t, files[2], []string{"file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "file 0 0  ", "hunk 0 0  ",
		"del 1 0 p1-f2-o1 ", "add 0 1 p1-f2-n1 ", "ctx 2 2 p1-f2-n2 p1-f2-o2", "nonl 0 0  "})
	checkLines(t, files[4], []string{"file 0 0  ", "file 0 0  ", "file 0 0  ", "hunk 0 0  ",
		"del 1 0 p1-f4-o1 ", "nonl 0 0  ", "add 0 1 p1-f4-n1 ", "nonl 0 0  "})
}

// TestSplitDiffPlainAndTrailing: a diff without "diff --git" lines (diff -u)
// splits at "---", and text after the last hunk is not numbered.
func TestSplitDiffPlainAndTrailing(t *testing.T) {
	diff := "--- a/one\t2024-01-01 00:00:00\n+++ b/one\t2024-01-01 00:00:00\n@@ -1 +1 @@\n-a\n+b\n" +
		"--- a/two\n+++ b/two\n@@ -3,0 +4 @@\n+c\n-- \n2.43.0\n"
	files := splitDiff("p2", diff)
	if len(files) != 2 || files[0].Name != "one" || files[1].Name != "two" {
		t.Fatalf("files = %+v", files)
	}
	checkLines(t, files[1], []string{"file 0 0  ", "file 0 0  ", "hunk 0 0  ", "add 0 4 p2-f1-n4 ", " 0 0  ", " 0 0  "})
}

// TestSplitDiffHostile: malformed and hostile input renders without panic,
// numbers stay bounded and hidden characters are shown.
func TestSplitDiffHostile(t *testing.T) {
	for _, d := range []string{
		"", "\n\n", "@@", "@@ -", "@@ -1,99999999999999999999 +1 @@\n-x\n", "@@ -2147483647,1073741824 +1,1 @@\n-x\n+y\n",
		"diff --git \"a/unterminated\n--- \"a/\\\n+++ b\n", "+++ /dev/null\n--- /dev/null\n", "rename from \nrename to \n",
		"diff --git a/x b/x\n@@ -1,2 +1,2 @@\n-a\ndiff --git a/y b/y\n@@ -1 +1 @@\n+\u202eevil\n",
	} {
		files := splitDiff("p1", d)
		for _, f := range files {
			for _, l := range f.Lines {
				if strings.ContainsRune(l.Text, '\u202e') {
					t.Errorf("%q: bidi control shown raw", d)
				}
			}
		}
	}
	files := splitDiff("p1", "diff --git a/x b/x\n@@ -1,2 +1,2 @@\n-a\ndiff --git a/y b/y\n@@ -1 +1 @@\n+b\n")
	if len(files) != 2 || files[1].Name != "y" || files[1].Lines[2].ID != "p1-f1-n1" {
		t.Errorf("short hunk: files = %+v", files)
	}
}
