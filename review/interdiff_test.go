package review

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

func TestPairPatches(t *testing.T) {
	p := func(i int, subject, id string, files ...string) store.Patch {
		pt := store.Patch{Index: i, CommitSubject: subject, PatchID: id}
		for _, f := range files {
			pt.Files = append(pt.Files, core.File{Path: f})
		}
		return pt
	}
	for _, tc := range []struct {
		name     string
		old, new []store.Patch
		want     string
	}{
		{"same", []store.Patch{p(1, "a", "x", "f"), p(2, "b", "y", "g")}, []store.Patch{p(1, "a", "x", "f"), p(2, "b", "y", "g")},
			"0-0 patch-id, 1-1 patch-id"},
		{"reordered by patch-id", []store.Patch{p(1, "a", "x", "f"), p(2, "b", "y", "g")}, []store.Patch{p(1, "b", "y", "g"), p(2, "a", "x", "f")},
			"1-0 patch-id, 0-1 patch-id"},
		{"changed code, same subject", []store.Patch{p(1, "a", "x", "f")}, []store.Patch{p(1, "A ", "z", "f")},
			"0-0 subject"},
		{"reworded subject, same index and file", []store.Patch{p(1, "a", "x", "f")}, []store.Patch{p(1, "a, better", "z", "f")},
			"0-0 index"},
		{"same index, other files: dropped and added", []store.Patch{p(1, "a", "x", "f"), p(2, "d", "w", "d")},
			[]store.Patch{p(1, "a", "x", "f"), p(2, "c", "v", "c")},
			"0-0 patch-id, 1- , -1 "},
		{"one dropped in the middle", []store.Patch{p(1, "a", "x", "f"), p(2, "b", "y", "g"), p(3, "c", "z", "h")},
			[]store.Patch{p(1, "a", "x", "f"), p(2, "c", "z", "h")},
			"0-0 patch-id, 1- , 2-1 patch-id"},
		{"one added first", []store.Patch{p(1, "a", "x", "f")}, []store.Patch{p(1, "new", "n", "n"), p(2, "a", "x", "f")},
			"-0 , 0-1 patch-id"},
		{"empty patch-ids do not pair", []store.Patch{p(1, "a", "", "f")}, []store.Patch{p(1, "b", "", "g")},
			"0- , -0 "},
		{"duplicates pair once", []store.Patch{p(1, "a", "x", "f")}, []store.Patch{p(1, "a", "x", "f"), p(2, "a", "x", "f")},
			"0-0 patch-id, -1 "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, pr := range pairPatches(tc.old, tc.new) {
				s := ""
				if pr.old >= 0 {
					s += fmt.Sprint(pr.old)
				}
				s += "-"
				if pr.new >= 0 {
					s += fmt.Sprint(pr.new)
				}
				got = append(got, s+" "+pr.by)
			}
			if strings.Join(got, ", ") != tc.want {
				t.Errorf("pairs = %q, want %q", strings.Join(got, ", "), tc.want)
			}
		})
	}
}

// needGit skips (or fails under CI=true) when git is not installed.
func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("git not found: %v", err)
		}
		t.Skipf("git not found: %v", err)
	}
}

// gitRun runs git in dir with a fixed identity and no user configuration.
func gitRun(t testing.TB, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+dir,
		"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.org", "GIT_COMMITTER_NAME=Ada Lovelace",
		"GIT_COMMITTER_EMAIL=ada@example.org", "GIT_AUTHOR_DATE=2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE=2024-01-01T00:00:00Z")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func writeFile(t testing.TB, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func numbered(prefix string, n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "%s line %d;\n", prefix, i)
	}
	return b.String()
}

// deliverDir ingests every patch file git format-patch wrote in dir,
// the cover letter's placeholders filled.
func deliverDir(t *testing.T, in *Ingester, dir string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.patch"))
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no patches in %s", dir)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(b), "*** SUBJECT HERE ***", "Add things", 1)
		s = strings.Replace(s, "*** BLURB HERE ***", "A series.", 1)
		if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: []byte(s)}); err != nil {
			t.Fatalf("Deliver(%s) = %v", f, err)
		}
	}
}

// TestSeriesDiffGit makes two revisions of a branch with git, sends both
// through git format-patch and ingestion, and checks the diff between
// them: patch 1 unchanged, patch 2's changed line shown, patch 3 only
// reworded, patch 4 dropped and another added.
func TestSeriesDiffGit(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	in, st := newTestIngester(t)
	repo := t.TempDir()
	gitRun(t, repo, "init", "-q", "-b", "main")
	writeFile(t, filepath.Join(repo, "a.c"), numbered("a", 20))
	gitRun(t, repo, "add", "-A")
	gitRun(t, repo, "commit", "-q", "-m", "base")
	gitRun(t, repo, "tag", "base")

	commit := func(msg string, files map[string]string) {
		for name, body := range files {
			writeFile(t, filepath.Join(repo, name), body)
		}
		gitRun(t, repo, "add", "-A")
		gitRun(t, repo, "commit", "-q", "-m", msg)
	}
	a5 := strings.Replace(numbered("a", 20), "a line 5;", "a line five;", 1)
	a15 := strings.Replace(a5, "a line 15;", "a line fifteen;", 1)
	sob := "\n\nSigned-off-by: Ada Lovelace <ada@example.org>"
	commit("a: spell out five"+sob, map[string]string{"a.c": a5})
	commit("b: add b"+sob, map[string]string{"b.c": "int b = 1;\nint old_b = 2;\n"})
	commit("a: spell out fifteen"+sob, map[string]string{"a.c": a15})
	commit("d: add d"+sob, map[string]string{"d.txt": "d\n"})
	out := t.TempDir() // outside the work tree, which git add -A takes whole
	v1 := filepath.Join(out, "v1")
	gitRun(t, repo, "format-patch", "-q", "--cover-letter", "--thread=shallow", "-o", v1, "base")
	deliverDir(t, in, v1)

	gitRun(t, repo, "checkout", "-q", "-b", "v2", "base")
	commit("a: spell out five"+sob, map[string]string{"a.c": a5})
	commit("b: add b"+sob, map[string]string{"b.c": "int b = 1;\nint new_b = 3;\n"})
	commit("a: spell out fifteen\n\nBecause words read better."+sob, map[string]string{"a.c": a15})
	commit("c: add c"+sob, map[string]string{"c.c": "int c;\n"})
	all, err := st.SeriesList(ctx, "dev", "", store.Page{})
	if err != nil || len(all) != 1 {
		t.Fatalf("series after v1: %v %+v", err, all)
	}
	first := all[0]
	v2 := filepath.Join(out, "v2")
	gitRun(t, repo, "format-patch", "-q", "-v2", "--cover-letter", "--thread=shallow",
		"--in-reply-to=<"+first.CoverMessageID+">", "-o", v2, "base")
	deliverDir(t, in, v2)

	all, err = st.SeriesList(ctx, "dev", "", store.Page{})
	if err != nil || len(all) != 2 {
		t.Fatalf("series after v2: %v %+v", err, all)
	}
	second := all[0]
	if second.Previous != first.ID {
		t.Fatalf("v2.Previous = %d, want %d", second.Previous, first.ID)
	}
	svc := NewService(st)

	chain, err := svc.Revisions(ctx, first.ID)
	if err != nil || len(chain) != 2 || chain[0].ID != first.ID || chain[1].ID != second.ID {
		t.Fatalf("Revisions = %v %+v", err, chain)
	}
	// Either argument order gives old -> new.
	for _, args := range [][2]int64{{second.ID, first.ID}, {first.ID, second.ID}} {
		d, err := svc.SeriesDiff(ctx, args[0], args[1])
		if err != nil {
			t.Fatalf("SeriesDiff(%v) = %v", args, err)
		}
		if d.Old.ID != first.ID || d.New.ID != second.ID || d.Method != "diff-of-diffs" {
			t.Fatalf("SeriesDiff(%v): old %d new %d method %q", args, d.Old.ID, d.New.ID, d.Method)
		}
		var got []string
		for _, p := range d.Patches {
			s := p.Status + " " + p.PairedBy
			if p.Old != nil {
				s += fmt.Sprint(" old=", p.Old.Index)
			}
			if p.New != nil {
				s += fmt.Sprint(" new=", p.New.Index)
			}
			got = append(got, s)
		}
		want := []string{
			"unchanged patch-id old=1 new=1",
			"changed subject old=2 new=2",
			"changed patch-id old=3 new=3",
			"dropped  old=4",
			"added  new=4",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			for _, p := range d.Patches {
				if p.Old != nil && p.New != nil {
					t.Logf("%s %s\n%s", p.Old.PatchID, p.New.PatchID, p.Diff)
				}
			}
			t.Fatalf("patches:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		if diff := d.Patches[1].Diff; !strings.Contains(diff, "\n-+int old_b = 2;\n++int new_b = 3;\n") || !strings.HasPrefix(diff, "@@ ") ||
			strings.Contains(diff, "index ") {
			t.Errorf("patch 2 interdiff lacks the changed line:\n%s", diff)
		}
		if diff := d.Patches[2].Diff; !strings.Contains(diff, "\n+Because words read better.\n") || strings.Contains(diff, "fifteen;") {
			t.Errorf("patch 3 interdiff should show only the message change:\n%s", diff)
		}
		for _, p := range d.Patches {
			if p.Diff != "" && (!strings.HasSuffix(p.Diff, "\n") || strings.HasSuffix(p.Diff, "\n\n")) {
				t.Errorf("diff does not end in one newline: %q", p.Diff)
			}
		}
		if d.Patches[0].Diff != "" {
			t.Errorf("unchanged patch has a diff: %q", d.Patches[0].Diff)
		}
	}

	// Without git the pairs are still there, the changed ones saying why
	// they have no diff.
	t.Setenv("PATH", t.TempDir())
	d, err := svc.SeriesDiff(ctx, first.ID, second.ID)
	if err != nil || len(d.Patches) != 5 || d.Patches[1].Status != store.PatchChanged || d.Patches[1].Diff != "" ||
		d.Patches[1].Note != "git is not installed on the server" || d.Patches[0].Status != store.PatchUnchanged {
		t.Errorf("without git: %v %+v", err, d)
	}

	// Errors: unknown series, a series with itself, unrelated series.
	if _, err := svc.SeriesDiff(ctx, first.ID, 9999); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown other: %v", err)
	}
	if _, err := svc.SeriesDiff(ctx, 9999, first.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if _, err := svc.SeriesDiff(ctx, first.ID, first.ID); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("itself: %v", err)
	}
	other := "From: Bob <bob@example.org>\nTo: dev@example.org\nSubject: [PATCH] unrelated\nMessage-ID: <unrelated@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nx\n---\n" +
		"diff --git a/z b/z\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/z\n@@ -0,0 +1 @@\n+z\n"
	if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(other)}); err != nil {
		t.Fatal(err)
	}
	all, _ = st.SeriesList(ctx, "dev", "", store.Page{})
	var unrelated int64
	for _, s := range all {
		if s.ID != first.ID && s.ID != second.ID {
			unrelated = s.ID
		}
	}
	if unrelated == 0 {
		t.Fatalf("unrelated series not made: %+v", all)
	}
	if _, err := svc.SeriesDiff(ctx, unrelated, first.ID); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("unrelated: %v", err)
	}
}

// fakeRangeDiffer stands for the repository hook: it answers for one
// list only.
type fakeRangeDiffer struct{ calls int }

func (f *fakeRangeDiffer) RangeDiff(ctx context.Context, older, newer *store.Series) (string, bool, error) {
	f.calls++
	return "", false, nil
}

// TestSeriesDiffRangeDifferHook: a RangeDiffer that has no repository for
// the list leaves the diff of diffs.
func TestSeriesDiffRangeDifferHook(t *testing.T) {
	needGit(t)
	ctx := context.Background()
	in, st := newTestIngester(t)
	for v, body := range []string{"+one\n", "+two\n"} {
		subj := "[PATCH] add x"
		extra := ""
		if v == 1 {
			subj = "[PATCH v2] add x"
			extra = "In-Reply-To: <x1@example.org>\nReferences: <x1@example.org>\n"
		}
		raw := fmt.Sprintf("From: Bob <bob@example.org>\nTo: dev@example.org\nSubject: %s\nMessage-ID: <x%d@example.org>\n%sDate: Mon, 1 Jan 2024 00:00:0%d +0000\n\nadd x\n---\n"+
			"diff --git a/x b/x\nnew file mode 100644\nindex 0000000..e69de29\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n%s", subj, v+1, extra, v, body)
		if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := st.SeriesList(ctx, "dev", "", store.Page{})
	if len(all) != 2 || all[0].Previous != all[1].ID {
		t.Fatalf("series = %+v", all)
	}
	rd := &fakeRangeDiffer{}
	svc := New(st, ServiceConfig{RangeDiffer: rd})
	d, err := svc.SeriesDiff(ctx, all[0].ID, all[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rd.calls != 1 || d.Method != "diff-of-diffs" || len(d.Patches) != 1 || !strings.Contains(d.Patches[0].Diff, "-+one\n++two\n") {
		t.Errorf("calls %d, method %q, patches %+v", rd.calls, d.Method, d.Patches)
	}
}

// BenchmarkSeriesDiff diffs two revisions of a 30-patch series in which
// every patch changed one line (the worst case: 30 git diff runs).
func BenchmarkSeriesDiff(b *testing.B) {
	needGit(b)
	ctx := context.Background()
	in, st := newTestIngester(b)
	send := func(v int) {
		tag, reply := "PATCH", ""
		if v > 1 {
			tag = fmt.Sprintf("PATCH v%d", v)
			reply = "In-Reply-To: <cover-1@example.org>\nReferences: <cover-1@example.org>\n"
		}
		cover := fmt.Sprintf("From: Ann <ann@example.org>\nTo: dev@example.org\nSubject: [%s 00/30] big series\nMessage-ID: <cover-%d@example.org>\n%sDate: Mon, 1 Jan 2024 00:0%d:00 +0000\n\nA big series.\n",
			tag, v, reply, v)
		if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(cover)}); err != nil {
			b.Fatal(err)
		}
		for i := 1; i <= 30; i++ {
			var d strings.Builder
			fmt.Fprintf(&d, "diff --git a/f%d.c b/f%d.c\nnew file mode 100644\n--- /dev/null\n+++ b/f%d.c\n@@ -0,0 +1,60 @@\n", i, i, i)
			for l := 1; l <= 60; l++ {
				if l == 30 {
					fmt.Fprintf(&d, "+int changed_in_v%d = %d;\n", v, l)
				} else {
					fmt.Fprintf(&d, "+int line_%d = %d;\n", l, l)
				}
			}
			raw := fmt.Sprintf("From: Ann <ann@example.org>\nTo: dev@example.org\nSubject: [%s %02d/30] sub: change %d\nMessage-ID: <p%d-%d@example.org>\nIn-Reply-To: <cover-%d@example.org>\nReferences: <cover-%d@example.org>\nDate: Mon, 1 Jan 2024 00:0%d:%02d +0000\n\nChange %d.\n\nSigned-off-by: Ann <ann@example.org>\n---\n%s",
				tag, i, i, v, i, v, v, v, i, i, d.String())
			if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
				b.Fatal(err)
			}
		}
	}
	send(1)
	send(2)
	all, err := st.SeriesList(ctx, "dev", "", store.Page{})
	if err != nil || len(all) != 2 || all[0].Previous != all[1].ID {
		b.Fatalf("series: %v %+v", err, all)
	}
	svc := NewService(st)
	for b.Loop() {
		d, err := svc.SeriesDiff(ctx, all[0].ID, all[1].ID)
		if err != nil {
			b.Fatal(err)
		}
		if len(d.Patches) != 30 || d.Patches[29].Status != store.PatchChanged || !strings.Contains(d.Patches[29].Diff, "++int changed_in_v2") {
			b.Fatalf("patches: %d, last %+v", len(d.Patches), d.Patches[len(d.Patches)-1])
		}
	}
}
