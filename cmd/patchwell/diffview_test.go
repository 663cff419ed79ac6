package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestSeriesDiffView sends two revisions of a branch with git send-email,
// v2 changing one line of the first patch, and checks what a reviewer
// sees: the series page highlighted with line numbers and a "compare
// with v1" link, the revision diff (page and API) showing the changed
// line, in the server and in headless Chromium; screenshots of both pages
// are kept in $PATCHWELL_ARTIFACTS when set.
func TestSeriesDiffView(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	out := t.TempDir()
	v1dir := filepath.Join(out, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", v1dir, "HEAD~3")
	fillCover(t, v1dir, "Add a and rename it")
	sendEmail(t, repo, srv.smtp, v1dir)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Fatalf("series after v1: %+v", list.Series)
	}
	v1 := list.Series[0]

	// v2: the same three commits, but a() returns 2.
	run(t, repo, "git", "checkout", "-q", "-b", "v2", "HEAD~3")
	if err := os.WriteFile(filepath.Join(repo, "a.c"), []byte("int a(void)\n{\n\treturn 2;\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-q", "-m", "add a\n\nThe a function.\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	run(t, repo, "git", "cherry-pick", "main~1", "main")
	v2dir := filepath.Join(out, "v2")
	run(t, repo, "git", "format-patch", "-q", "-v2", "--cover-letter", "-o", v2dir, "HEAD~3")
	fillCover(t, v2dir, "Add a and rename it")
	sendEmail(t, repo, srv.smtp, "--in-reply-to=<"+v1.CoverMessageID+">", v2dir)
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 2 || list.Series[0].Previous == nil || *list.Series[0].Previous != v1.ID {
		t.Fatalf("series after v2: %+v", list.Series)
	}
	v2 := list.Series[0]

	var d struct {
		Method  string
		Patches []struct {
			Status   string
			PairedBy *string `json:"paired_by"`
			Diff     string
		}
	}
	if code := srv.getJSON(fmt.Sprintf("/api/v1/series/%d/diff/%d", v2.ID, v1.ID), &d); code != 200 {
		t.Fatalf("diff API = %d", code)
	}
	var got []string
	for _, p := range d.Patches {
		got = append(got, p.Status)
	}
	if d.Method != "diff-of-diffs" || strings.Join(got, " ") != "changed unchanged unchanged" {
		t.Fatalf("diff API: method %q, statuses %v", d.Method, got)
	}
	if !strings.Contains(d.Patches[0].Diff, "\n-+\treturn 1;\n++\treturn 2;\n") {
		t.Errorf("interdiff of patch 1 lacks the changed line:\n%s", d.Patches[0].Diff)
	}

	page := func(path string) string {
		t.Helper()
		res, err := http.Get("http://" + srv.http + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 {
			t.Fatalf("GET %s = %d %s", path, res.StatusCode, b)
		}
		return string(b)
	}
	diffPath := fmt.Sprintf("/series/%d/diff/%d/", v2.ID, v1.ID)
	seriesPath := fmt.Sprintf("/series/%d/", v2.ID)
	if s := page(seriesPath); !strings.Contains(s, `href="`+diffPath+`">v1</a>`) {
		t.Errorf("series page has no compare link to %s", diffPath)
	}
	for path, code := range map[string]int{
		fmt.Sprintf("/series/%d/diff/99999/", v1.ID):       404,
		fmt.Sprintf("/series/%d/diff/%d/", v1.ID, v1.ID):   400,
		fmt.Sprintf("/api/v1/series/99999/diff/%d", v1.ID): 404,
		fmt.Sprintf("/api/v1/series/%d/diff/abc", v1.ID):   400,
	} {
		res, err := http.Get("http://" + srv.http + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != code {
			t.Errorf("GET %s = %d, want %d", path, res.StatusCode, code)
		}
	}

	needTool(t, "chromium", "--version")
	dom := string(chromium(t, "--dump-dom", "http://"+srv.http+seriesPath))
	// C code of the patches is coloured (chroma's keyword class), numbered
	// on both sides, and each row has its anchor.
	for _, want := range []string{`<span class="kt">int</span>`, `<span class="k">return</span>`, `id="p1-f0-n3"`, `href="#p1-f0-n3"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered series page lacks %q", want)
		}
	}
	dom = string(chromium(t, "--dump-dom", "http://"+srv.http+diffPath))
	// The text without its markup: a changed word is marked (<ins>2</ins>).
	text := regexp.MustCompile(`<[^>]*>`).ReplaceAllString(dom, "")
	for _, want := range []string{"v1 → v2", "1 changed", "2 unchanged", "paired by subject", "return 2;"} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered revision diff lacks %q", want)
		}
	}
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	for name, path := range map[string]string{"series-page-highlighted.png": seriesPath, "series-diff.png": diffPath} {
		png := filepath.Join(dir, name)
		chromium(t, "--window-size=1280,1400", "--screenshot="+png, "http://"+srv.http+path)
		b, err := os.ReadFile(png)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10000 {
			t.Fatalf("screenshot %s: %d bytes, %v", png, len(b), err)
		}
	}
}
