package web

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

// repoReader is a series whose list has a repository.
type repoReader struct{ textsReader }

func (repoReader) ListRepo(ctx context.Context, list string) (*store.ListRepo, error) {
	return &store.ListRepo{List: list, Repo: "/srv/git/dev.git", Branch: "main"}, nil
}

const contextDiff1 = `diff --git a/f.c b/f.c
index 1111111..2222222 100644
--- a/f.c
+++ b/f.c
@@ -3,3 +3,4 @@
 l3
 l4
+new
 l5
@@ -40,3 +41,3 @@
 l40
-l41
+L41
 l42
`

const contextDiff2 = `diff --git a/f.c b/f.c
index 2222222..3333333 100644
--- a/f.c
+++ b/f.c
@@ -10,1 +10,1 @@
-l10
+L10
diff --git a/g.c b/g.c
new file mode 100644
index 0000000..4444444
--- /dev/null
+++ b/g.c
@@ -0,0 +1 @@
+g
diff --git a/h.c b/h.c
index 5555555..6666666 100644
--- a/h.c
+++ b/h.c
@@ -1,2 +1,2 @@
-l1
+L1
 l2
`

// TestContextLines: hunks get links to the lines around them, read at
// the series' base commit; the lines come as a page, or as table rows
// for review.js, numbered on both sides and highlighted. A file an earlier patch
// changed, an added file, a series without a base commit get no links
// and no lines.
func TestContextLines(t *testing.T) {
	base := strings.Repeat("0123456789", 4)
	var asked []string
	var file []byte
	for i := 1; i <= 60; i++ {
		file = fmt.Appendf(file, "l%d\n", i)
	}
	s := store.Series{ID: 7, List: "dev", Subject: "context", Version: 1, Status: store.StatusProposed, Total: 2, Received: 2,
		Complete: true, MessageID: "c7@example.org", BaseCommit: base}
	patches := []store.Patch{
		{Index: 1, MessageID: "p71@example.org", CommitSubject: "one", Files: []core.File{{Path: "f.c"}}},
		{Index: 2, MessageID: "p72@example.org", CommitSubject: "two", Files: []core.File{{Path: "f.c"}, {Path: "g.c"}, {Path: "h.c"}}},
	}
	f := &fakeReader{lists: []store.List{{Name: "dev"}}, details: map[int64]fakeSeries{7: {s: s, patches: patches}}}
	noBase := s
	noBase.ID, noBase.BaseCommit = 8, ""
	f.details[8] = fakeSeries{s: noBase, patches: patches}
	cfg := Config{Domain: "lists.example.org", BaseFile: func(ctx context.Context, list, commit, path string) ([]byte, error) {
		asked = append(asked, list+" "+commit+" "+path)
		if path != "f.c" && path != "h.c" {
			return nil, store.ErrNotFound
		}
		return file, nil
	}}
	h := New(repoReader{textsReader{f, map[int]string{1: contextDiff1, 2: contextDiff2}}}, cfg, testLogger(t))
	srv := httptest.NewServer(h)
	defer srv.Close()

	_, page := getPage(t, srv.URL+"/series/7/")
	link := func(patch, file, from, to, d int) string {
		return fmt.Sprintf(`href="/series/7/context?patch=%d&amp;file=%d&amp;from=%d&amp;to=%d&amp;d=%d"`, patch, file, from, to, d)
	}
	for _, want := range []string{
		link(1, 0, 1, 2, 0) + ` data-min="1" data-dir="up">⋯ show lines 1–2</a>`,
		link(1, 0, 20, 39, 1) + ` data-min="6" data-dir="up">`,
		`<tr class="hunk more"><td class="no"></td><td class="no"></td><td class="chroma"><a class="expand" ` + link(1, 0, 43, 62, 1) + ` data-dir="down">`,
		link(2, 2, 3, 22, 0) + ` data-dir="down"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("series page lacks %s", want)
		}
	}
	for _, not := range []string{"patch=2&amp;file=0", "patch=2&amp;file=1"} {
		if strings.Contains(page, not) {
			t.Errorf("series page links %s (a file an earlier patch changed, an added file)", not)
		}
	}
	if _, page := getPage(t, srv.URL+"/series/7/?view=split"); !strings.Contains(page, `<tr class="hunk"><td class="no"></td><td class="chroma" colspan="3"><a class="expand" href="/series/7/context?patch=1&amp;file=0&amp;from=1&amp;to=2&amp;d=0&amp;view=split"`) {
		t.Error("the side-by-side page lacks the link of the first hunk")
	}
	if _, page := getPage(t, srv.URL+"/series/8/"); strings.Contains(page, `class="expand"`) {
		t.Error("a series without a base commit has context links")
	}

	code, rows := getPage(t, srv.URL+"/series/7/context?patch=1&file=0&from=20&to=39&d=1&frag=1")
	if code != 200 || strings.Count(rows, "<tr") != 20 || strings.Contains(rows, "<html") ||
		!strings.HasPrefix(rows, `<tr class="ctx" id="p1-f0-n21"><td class="no" id="p1-f0-o20"><a href="#p1-f0-o20">20</a></td><td class="no"><a href="#p1-f0-n21">21</a></td><td class="chroma"> <span class="n">l20</span></td></tr>`) {
		t.Errorf("rows 20-39 = %d\n%.600s", code, rows)
	}
	if want := "dev " + base + " f.c"; len(asked) != 1 || asked[0] != want {
		t.Errorf("BaseFile asked %q, want %q", asked, want)
	}
	if _, rows := getPage(t, srv.URL+"/series/7/context?patch=1&file=0&from=43&to=62&d=1&frag=1"); strings.Count(rows, "<tr") != 18 || !strings.Contains(rows, `> <span class="n">l60</span></td>`) {
		t.Errorf("the lines below the last hunk: %d rows\n%s", strings.Count(rows, "<tr"), rows)
	}
	if _, rows := getPage(t, srv.URL+"/series/7/context?patch=1&file=0&from=1&to=2&d=0&frag=1&view=split"); strings.Count(rows, `<tr class="ctx">`) != 2 {
		t.Errorf("side-by-side rows:\n%s", rows)
	}
	if code, page := getPage(t, srv.URL+"/series/7/context?patch=1&file=0&from=20&to=39&d=1"); code != 200 ||
		!strings.Contains(page, "<code>f.c</code>, lines 20–39") || !strings.Contains(page, `<a href="/series/7/#p1-f0">Back to the diff</a>`) {
		t.Errorf("the page of lines 20-39 = %d\n%s", code, page)
	}
	for _, tc := range []struct {
		name, query string
		code        int
	}{
		{"file an earlier patch changed", "/series/7/context?patch=2&file=0&from=1&to=2&d=0", 404},
		{"added file", "/series/7/context?patch=2&file=1&from=1&to=2&d=0", 404},
		{"no such file", "/series/7/context?patch=1&file=5&from=1&to=2&d=0", 404},
		{"no such patch", "/series/7/context?patch=9&file=0&from=1&to=2&d=0", 404},
		{"no base commit", "/series/8/context?patch=1&file=0&from=1&to=2&d=0", 404},
		{"unknown series", "/series/99/context?patch=1&file=0&from=1&to=2&d=0", 404},
		{"from after to", "/series/7/context?patch=1&file=0&from=5&to=2&d=0", 400},
		{"line zero", "/series/7/context?patch=1&file=0&from=0&to=2&d=0", 400},
		{"not a number", "/series/7/context?patch=1&file=0&from=x&to=2&d=0", 400},
		{"no delta", "/series/7/context?patch=1&file=0&from=1&to=2", 400},
	} {
		if code, body := getPage(t, srv.URL+tc.query); code != tc.code {
			t.Errorf("%s: GET %s = %d, want %d\n%s", tc.name, tc.query, code, tc.code, body)
		}
	}
	// Lines past the end of the file are left out.
	if _, rows := getPage(t, srv.URL+"/series/7/context?patch=2&file=2&from=1&to=100000&d=0&frag=1"); strings.Count(rows, "<tr") != 60 {
		t.Errorf("a long request: %d rows, want the file's 60", strings.Count(rows, "<tr"))
	}
}
