package patchmail

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchwell/core"
	"patchwell/internal/testhg"
)

// The change every hg test sends: a base commit and three changesets, the
// second of which also removes a file. sameChanges makes them in a git
// repository too.
const (
	calcBase = "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n"
	calc1    = "def add(a, b):\n    return a + b  # sum\n\n\ndef sub(a, b):\n    return a - b\n"
	calc2    = calc1 + "\n\ndef mul(a, b):\n    return a * b\n"
	oldText  = "one\ntwo\nthree\n"
	notes    = "# notes\n"
	desc1    = "calc: comment add.\n\nExplain the sum.\n\nSigned-off-by: Bob Coder <bob@example.org>"
)

// hgSeries commits the changes in a new hg repository as Bob Coder and
// returns it with the node ids of the base and the three changesets.
func hgSeries(t *testing.T) (*testhg.Repo, []string) {
	r := testhg.New(t, "Bob Coder <bob@example.org>")
	r.Write("calc.py", calcBase)
	r.Write("old.txt", oldText)
	nodes := []string{r.Commit("calc: start", "1700000000 0")}
	r.Write("calc.py", calc1)
	nodes = append(nodes, r.Commit(desc1, "1700000100 -3600"))
	r.Write("calc.py", calc2)
	if err := os.Remove(filepath.Join(r.Dir, "old.txt")); err != nil {
		t.Fatalf("Remove() = %v", err)
	}
	nodes = append(nodes, r.Commit("calc: mul", "1700000200 0"))
	r.Write("NOTES", notes)
	nodes = append(nodes, r.Commit("notes: add", "1700000300 18000"))
	return r, nodes
}

// gitPatchIDs makes the same three changes in a git repository and
// returns what `git patch-id --stable` says of their format-patch mails.
func gitPatchIDs(t *testing.T) []string {
	r := &gitRepo{t: t, git: needGit(t), dir: t.TempDir()}
	r.run("init", "-q", "-b", "main")
	r.write("calc.py", calcBase)
	r.write("old.txt", oldText)
	r.commit("calc: start")
	r.write("calc.py", calc1)
	r.commit(desc1)
	r.write("calc.py", calc2)
	if err := os.Remove(filepath.Join(r.dir, "old.txt")); err != nil {
		t.Fatalf("Remove() = %v", err)
	}
	r.commit("calc: mul")
	r.write("NOTES", notes)
	r.commit("notes: add")
	mbox := r.run("format-patch", "-q", "--stdout", "HEAD~3")
	var ids []string
	for line := range strings.Lines(r.runStdin(mbox, "patch-id", "--stable")) {
		ids = append(ids, strings.Fields(line)[0])
	}
	if len(ids) != 3 {
		t.Fatalf("git patch-id gave %d ids, want 3", len(ids))
	}
	return ids
}

// runStdin runs git with stdin and returns its output.
func (r *gitRepo) runStdin(stdin string, args ...string) string {
	r.t.Helper()
	cmd := exec.Command(r.git, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), "HOME="+r.dir, "LC_ALL=C", "GIT_CONFIG_NOSYSTEM=1")
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.Output()
	if err != nil {
		r.t.Fatalf("git %v = %v", args, err)
	}
	return string(out)
}

// TestHgEmail parses what Mercurial's `hg email` sends for a three-patch
// series with an introduction: plain diffs, then a V2 with git-style
// diffs (diff.git=True), and compares the patch-ids with those git gives
// the same changes.
func TestHgEmail(t *testing.T) {
	r, nodes := hgSeries(t)
	descFile := filepath.Join(t.TempDir(), "desc")
	if err := os.WriteFile(descFile, []byte("Three small things for calc.\n"), 0o644); err != nil {
		t.Fatalf("WriteFile() = %v", err)
	}
	send := []string{"-r", "1:3", "--intro", "--subject", "calc: improvements", "--desc", descFile,
		"--from", "Ann Sender <ann@example.org>"}
	v1 := r.Email(append(send, "--date", "2023-11-15 10:00 +0000")...)
	v2 := r.Email(append(send, "--config", "diff.git=True", "--flag", "V2", "--date", "2023-11-16 10:00 +0000")...)
	if !strings.Contains(string(v1[1]), "\ndiff -r ") || !strings.Contains(string(v2[1]), "\ndiff --git a/calc.py b/calc.py\n") {
		t.Fatalf("hg email did not write the diff styles asked for:\n%s\n%s", v1[1], v2[1])
	}

	// git patch-id --stable of the same changes exported by git.
	gitIDs := gitPatchIDs(t)
	gitCmd := &gitRepo{t: t, git: needGit(t), dir: t.TempDir()}
	for i, raw := range v1[1:] {
		// The hg mail itself, as git reads it: its ids depend on the
		// node ids and dates in the plain headers, so they differ.
		if got := strings.Fields(gitCmd.runStdin(string(raw), "patch-id", "--stable")); len(got) == 0 || got[0] == gitIDs[i] {
			t.Errorf("git patch-id of hg plain diff %d = %v; the test expects git to see a different id than %s", i+1, got, gitIDs[i])
		}
	}

	bob := core.Person{Name: "Bob Coder", Email: "bob@example.org"}
	type want struct {
		kind          Kind
		subject       Subject
		author        core.Person
		date          time.Time
		commitSubject string
		commitMessage string
		files         []core.File
		base, parent  string
		node          string
		trailers      []core.Trailer
	}
	calcFile := []core.File{{Path: "calc.py", Added: 1, Deleted: 1}}
	mulFiles := []core.File{{Path: "calc.py", Added: 4}, {Path: "old.txt", Deleted: 3}}
	notesFile := []core.File{{Path: "NOTES", Added: 1}}
	for _, tc := range []struct {
		name    string
		msgs    [][]byte
		version int
	}{
		{"plain v1", v1, 1},
		{"git-style V2", v2, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.msgs) != 4 {
				t.Fatalf("hg email wrote %d messages, want 4", len(tc.msgs))
			}
			wants := []want{
				{kind: KindCover, subject: Subject{Title: "calc: improvements", Patch: true, Version: tc.version, Total: 3},
					author: core.Person{Name: "Ann Sender", Email: "ann@example.org"}, commitSubject: "calc: improvements",
					commitMessage: "Three small things for calc.\n"},
				{kind: KindPatch, subject: Subject{Title: "calc: comment add", Patch: true, Version: tc.version, Index: 1, Total: 3},
					author: bob, date: time.Unix(1700000100, 0).In(time.FixedZone("", 3600)),
					commitSubject: "calc: comment add.", commitMessage: "Explain the sum.\n\nSigned-off-by: Bob Coder <bob@example.org>\n",
					files: calcFile, base: nodes[0], parent: nodes[0], node: nodes[1],
					trailers: []core.Trailer{{Key: "Signed-off-by", Value: "Bob Coder <bob@example.org>"}}},
				{kind: KindPatch, subject: Subject{Title: "calc: mul", Patch: true, Version: tc.version, Index: 2, Total: 3},
					author: bob, date: time.Unix(1700000200, 0).UTC(), commitSubject: "calc: mul",
					files: mulFiles, parent: nodes[1], node: nodes[2]},
				{kind: KindPatch, subject: Subject{Title: "notes: add", Patch: true, Version: tc.version, Index: 3, Total: 3},
					author: bob, date: time.Unix(1700000300, 0).In(time.FixedZone("", -18000)), commitSubject: "notes: add",
					files: notesFile, parent: nodes[2], node: nodes[3]},
			}
			for i, w := range wants {
				m := mustParse(t, tc.msgs[i])
				if m.Kind != w.kind {
					t.Errorf("%d: Kind = %v, want %v", i, m.Kind, w.kind)
				}
				if diff := cmp.Diff(w.subject, m.Subject, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%d: Subject (-want +got):\n%s", i, diff)
				}
				if m.Author != w.author {
					t.Errorf("%d: Author = %+v, want %+v", i, m.Author, w.author)
				}
				if !w.date.IsZero() {
					_, gotOff := m.AuthorDate.Zone()
					_, wantOff := w.date.Zone()
					if !m.AuthorDate.Equal(w.date) || gotOff != wantOff {
						t.Errorf("%d: AuthorDate = %v, want %v", i, m.AuthorDate, w.date)
					}
				}
				if m.CommitSubject != w.commitSubject || m.CommitMessage != w.commitMessage {
					t.Errorf("%d: commit = %q / %q, want %q / %q", i, m.CommitSubject, m.CommitMessage, w.commitSubject, w.commitMessage)
				}
				if diff := cmp.Diff(w.files, m.Files, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%d: Files (-want +got):\n%s", i, diff)
				}
				if m.BaseCommit != w.base || m.Parent != w.parent || m.Node != w.node {
					t.Errorf("%d: BaseCommit, Parent, Node = %q, %q, %q; want %q, %q, %q", i, m.BaseCommit, m.Parent, m.Node, w.base, w.parent, w.node)
				}
				if diff := cmp.Diff(w.trailers, m.Trailers, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("%d: Trailers (-want +got):\n%s", i, diff)
				}
				if i > 0 && m.PatchID != gitIDs[i-1] {
					t.Errorf("%d: PatchID = %q, want git's %q", i, m.PatchID, gitIDs[i-1])
				}
			}
		})
	}
}

// TestHgEmailForms covers the other ways hg email sends a changeset: a
// single patch with a flag, an attachment (--attach), and with --plain
// (no "# HG changeset patch" header: the sender is the author).
func TestHgEmailForms(t *testing.T) {
	r, nodes := hgSeries(t)
	from := []string{"--from", "Ann Sender <ann@example.org>"}
	ann := core.Person{Name: "Ann Sender", Email: "ann@example.org"}
	bob := core.Person{Name: "Bob Coder", Email: "bob@example.org"}
	for _, tc := range []struct {
		name    string
		args    []string
		subject Subject
		author  core.Person
		base    string
		commit  string
	}{
		{"single rfc", []string{"-r", "1", "--flag", "RFC"},
			Subject{Title: "calc: comment add", Patch: true, RFC: true, Version: 1}, bob, nodes[0], "calc: comment add."},
		{"attach", []string{"-r", "1", "--attach"},
			Subject{Title: "calc: comment add", Patch: true, Version: 1}, bob, nodes[0], "calc: comment add."},
		{"inline", []string{"-r", "1", "--inline", "--flag", "v3"},
			Subject{Title: "calc: comment add", Patch: true, Version: 3}, bob, nodes[0], "calc: comment add."},
		{"plain", []string{"-r", "1", "--plain"},
			Subject{Title: "calc: comment add", Patch: true, Version: 1}, ann, "", "calc: comment add"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msgs := r.Email(append(tc.args, from...)...)
			if len(msgs) != 1 {
				t.Fatalf("hg email wrote %d messages, want 1", len(msgs))
			}
			m := mustParse(t, msgs[0])
			if m.Kind != KindPatch {
				t.Errorf("Kind = %v, want patch", m.Kind)
			}
			if diff := cmp.Diff(tc.subject, m.Subject, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Subject (-want +got):\n%s", diff)
			}
			if m.Author != tc.author || m.BaseCommit != tc.base || m.CommitSubject != tc.commit {
				t.Errorf("Author, BaseCommit, CommitSubject = %+v, %q, %q; want %+v, %q, %q",
					m.Author, m.BaseCommit, m.CommitSubject, tc.author, tc.base, tc.commit)
			}
			if want := []core.File{{Path: "calc.py", Added: 1, Deleted: 1}}; !cmp.Equal(want, m.Files) {
				t.Errorf("Files = %+v, want %+v", m.Files, want)
			}
			if want := []core.Trailer{{Key: "Signed-off-by", Value: "Bob Coder <bob@example.org>"}}; !cmp.Equal(want, m.Trailers) {
				t.Errorf("Trailers = %+v, want %+v", m.Trailers, want)
			}
		})
	}
}

// TestHgDiffToGit checks the rewriting of plain hg diff headers, and that
// what is not one is left alone.
func TestHgDiffToGit(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"modified",
			"diff -r 29139b0729ad -r df77cbded5c7 calc.py\n--- a/calc.py\tTue Nov 14 22:13:20 2023 +0000\n+++ b/calc.py\tTue Nov 14 23:15:00 2023 +0100\n@@ -1,1 +1,1 @@\n-x\n+y\n",
			"diff --git a/calc.py b/calc.py\n--- a/calc.py\n+++ b/calc.py\n@@ -1,1 +1,1 @@\n-x\n+y\n"},
		{"added and removed, one -r, spaces in the name",
			"diff -r 29139b0729ad my file\n--- /dev/null\tThu Jan 01 00:00:00 1970 +0000\n+++ b/my file\tTue Nov 14 23:15:00 2023 +0100\n@@ -0,0 +1,1 @@\n+x\n" +
				"diff -r 29139b0729ad old\n--- a/old\tTue Nov 14 23:15:00 2023 +0100\n+++ /dev/null\tThu Jan 01 00:00:00 1970 +0000\n@@ -1,1 +0,0 @@\n-x\n",
			"diff --git a/my file b/my file\nnew file mode 100644\n--- /dev/null\n+++ b/my file\n@@ -0,0 +1,1 @@\n+x\n" +
				"diff --git a/old b/old\ndeleted file mode 100644\n--- a/old\n+++ /dev/null\n@@ -1,1 +0,0 @@\n-x\n"},
		{"hunk lines that look like headers stay",
			"diff -r 29139b0729ad -r df77cbded5c7 a\n--- a/a\tdate\n+++ b/a\tdate\n@@ -1,2 +1,2 @@\n--- a/x\tkept\n+++ b/x\tkept\n",
			"diff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -1,2 +1,2 @@\n--- a/x\tkept\n+++ b/x\tkept\n"},
		{"GNU diff -r is not hg", "diff -ruN a/x b/x\n--- a/x\t2024-01-01\n+++ b/x\t2024-01-01\n", "diff -ruN a/x b/x\n--- a/x\t2024-01-01\n+++ b/x\t2024-01-01\n"},
		{"GNU diff -r dirs", "diff -r old/x new/x\n--- old/x\tdate\n", "diff -r old/x new/x\n--- old/x\tdate\n"},
		{"three revisions", "diff -r 29139b0729ad -r df77cbded5c7 -r df77cbded5c7 x\n", "diff -r 29139b0729ad -r df77cbded5c7 -r df77cbded5c7 x\n"},
		{"git diff untouched", "diff --git a/x b/x\n--- a/x\n+++ b/x\n", "diff --git a/x b/x\n--- a/x\n+++ b/x\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hgDiffToGit(tc.in); got != tc.want {
				t.Errorf("hgDiffToGit() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// TestHgHeader covers the header fields hg export writes, and bad ones.
func TestHgHeader(t *testing.T) {
	in := hgMagic + "\n# User someone\n# Date 1484800475 18000\n#      Wed Jan 18 23:34:35 2017 -0500\n# Branch stable\n" +
		"# Node ID 2fb3ae89e4e1992e93826c0e3f04e4f965edb0ab\n# Parent  94af7d0c812fe7d3a5651191685ca43e1a331814\n" +
		"# Parent  0000000000000000000000000000000000000001\n# EXP-Topic x\nsummary\n"
	h, rest := parseHgHeader(in)
	if rest != "summary\n" {
		t.Errorf("rest = %q", rest)
	}
	if h.branch != "stable" || h.node != "2fb3ae89e4e1992e93826c0e3f04e4f965edb0ab" || h.base() != "94af7d0c812fe7d3a5651191685ca43e1a331814" || len(h.parents) != 2 {
		t.Errorf("header = %+v", h)
	}
	if want := time.Date(2017, 1, 18, 23, 34, 35, 0, time.FixedZone("", -5*3600)); !h.date.Equal(want) || h.date.Format("-0700") != "-0500" {
		t.Errorf("date = %v, want %v", h.date, want)
	}
	if p := hgUser(h.user); p != (core.Person{}) {
		t.Errorf("hgUser(%q) = %+v, want none (no e-mail)", h.user, p)
	}
	root, _ := parseHgHeader(hgMagic + "\n# Parent  0000000000000000000000000000000000000000\n")
	if root.base() != "" {
		t.Errorf("null parent gives base %q", root.base())
	}
	for _, bad := range []string{"", "1", "x 0", "1 x", "-5 0", "1 90000", "1 0 0"} {
		if d, ok := parseHgDate(bad); ok {
			t.Errorf("parseHgDate(%q) = %v, want failure", bad, d)
		}
	}
}

// TestHgCorpus reads the patchbomb mails (Mercurial 3.9) of patchwork's
// corpus: the changesets are Augie Fackler's, sent by Andrew Shadura.
func TestHgCorpus(t *testing.T) {
	msgs := splitMbox(mustRead(t, filepath.Join(corpusDir(t), "patchwork", "series", "mercurial-no-cover-letter.mbox")))
	if len(msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(msgs))
	}
	augie := core.Person{Name: "Augie Fackler", Email: "augie@google.com"}
	for i, want := range []struct {
		subject, node, parent, base string
		date                        time.Time
		files                       int
	}{
		{"contrib: fix check-commit to not reject commits from `hg sign` and `hg tag`",
			"2fb3ae89e4e1992e93826c0e3f04e4f965edb0ab", "94af7d0c812fe7d3a5651191685ca43e1a331814", "94af7d0c812fe7d3a5651191685ca43e1a331814",
			time.Date(2017, 1, 18, 23, 34, 35, 0, time.FixedZone("", -5*3600)), 2},
		{"tests: work around FreeBSD's unzip having slightly different output",
			"b3d2e8cce78c04dbf6f20f0846b6ea8b622983c4", "2fb3ae89e4e1992e93826c0e3f04e4f965edb0ab", "",
			time.Date(2017, 1, 18, 23, 43, 41, 0, time.FixedZone("", -5*3600)), 2},
	} {
		m := mustParse(t, msgs[i])
		if m.Kind != KindPatch || m.Author != augie || !m.AuthorDate.Equal(want.date) || m.Branch != "stable" {
			t.Errorf("%d: Kind, Author, AuthorDate, Branch = %v, %+v, %v, %q; want patch, %+v, %v, stable",
				i, m.Kind, m.Author, m.AuthorDate, m.Branch, augie, want.date)
		}
		if m.CommitSubject != want.subject || m.Node != want.node || m.Parent != want.parent || m.BaseCommit != want.base {
			t.Errorf("%d: CommitSubject, Node, Parent, BaseCommit = %q, %q, %q, %q; want %q, %q, %q, %q",
				i, m.CommitSubject, m.Node, m.Parent, m.BaseCommit, want.subject, want.node, want.parent, want.base)
		}
		if len(m.Files) != want.files || strings.HasPrefix(m.CommitMessage, "#") {
			t.Errorf("%d: %d files, CommitMessage %q", i, len(m.Files), m.CommitMessage)
		}
	}
}
