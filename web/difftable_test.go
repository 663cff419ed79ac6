package web

import (
	"html"
	"html/template"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestEscapeHTML: the rows escape text as html/template does.
func TestEscapeHTML(t *testing.T) {
	tmpl := template.Must(template.New("").Parse(`{{.}}`))
	for _, s := range []string{"", "plain", `<script>alert("x" + 'y')</script> & co`, "a\x00b", "naïve ⇒ <U+202E>"} {
		var want, got strings.Builder
		if err := tmpl.Execute(&want, s); err != nil {
			t.Fatal(err)
		}
		escapeHTML(&got, s)
		if got.String() != want.String() {
			t.Errorf("escapeHTML(%q) = %q, html/template %q", s, got.String(), want.String())
		}
	}
}

var (
	rowRE  = regexp.MustCompile(`(?s)<tr class="([a-z]*)">(.*?)</tr>`)
	cellRE = regexp.MustCompile(`(?s)<td class="([a-z ]*)"(?: id="([^"]*)")?(?: colspan="\d")?>(.*?)</td>`)
	// actionsRE matches a comment box's buttons (Open an issue, Add to
	// review, Send now).
	actionsRE = regexp.MustCompile(`(?s)<div class="cl-actions">.*?</div>`)
)

// splitRows renders f side by side as lines "class: cell | cell ...",
// each cell as its classes, anchor, text and ✎ when it has a comment box.
func splitRows(t *testing.T, f diffFile) []string {
	t.Helper()
	f.Split = true
	tmpl, err := parseTemplates()
	if err != nil {
		t.Fatal(err)
	}
	var t2 *template.Template = tmpl
	out, err := diffRowsFunc(&t2)(f)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, m := range rowRE.FindAllStringSubmatch(string(out), -1) {
		var cells []string
		for _, c := range cellRE.FindAllStringSubmatch(m[2], -1) {
			body := actionsRE.ReplaceAllString(c[3], "") // the comment box's buttons
			text := html.UnescapeString(tagRE.ReplaceAllString(body, ""))
			text = strings.ReplaceAll(text, "✎", "")
			cell := strings.Join(strings.Fields(c[1]+" "+c[2]+" "+text), " ")
			if strings.Contains(c[3], "<textarea") {
				cell += " ✎"
			}
			cells = append(cells, cell)
		}
		rows = append(rows, m[1]+": "+strings.Join(cells, " | "))
	}
	return rows
}

// TestSplitRows: context lines fill both sides, the i-th deleted line of
// a change block faces the i-th added one, a side without a partner is
// empty, the anchors are those of the unified view, comment boxes sit
// where unified puts them (a context line's on its new side), and
// comments follow their line's row.
func TestSplitRows(t *testing.T) {
	diff := "diff --git a/f.c b/f.c\n--- a/f.c\n+++ b/f.c\n@@ -1,5 +1,5 @@\n" +
		" ctx\n-old one\n-old two\n+new one\n ctx2\n+added\n-gone\n\\ No newline at end of file\n"
	files := splitDiff("p1", diff)
	f := files[0]
	d := seriesPage{S: &store.Series{ID: 1}, Patches: []seriesPatch{{Files: files}}}
	d.Patches[0].Index = 1
	enableCommentForms(&d, func(string) bool { return false })
	f = d.Patches[0].Files[0]
	f.Lines[5].Comments = []viewComment{{URL: "/dev/r@x/"}} // "+new one"
	got := splitRows(t, f)
	want := []string{
		"file: no | chroma diff --git a/f.c b/f.c",
		"file: no | chroma --- a/f.c",
		"file: no | chroma +++ b/f.c",
		"hunk: no | chroma @@ -1,5 +1,5 @@",
		"ctx: no p1-f0-o1 1 | chroma ctx | no p1-f0-n1 1 | chroma ctx ✎",
		"chg: no del p1-f0-o2 2 | chroma del -old one ✎ | no add p1-f0-n2 2 | chroma add +new one ✎",
		"comments: ",
		"chg: no del p1-f0-o3 3 | chroma del -old two ✎ | no empty | chroma empty",
		"ctx: no p1-f0-o4 4 | chroma ctx2 | no p1-f0-n3 3 | chroma ctx2 ✎",
		// An added line before a deleted one is not a change block (git
		// writes deletions first): each has a row of its own.
		"chg: no empty | chroma empty | no add p1-f0-n4 4 | chroma add +added ✎",
		"chg: no del p1-f0-o5 5 | chroma del -gone ✎ | no empty | chroma empty",
		`nonl: no | chroma \ No newline at end of file`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("split rows (-want +got):\n%s", diff)
	}
}

// TestSeriesPageViews: the series page links each view from the other,
// and the side-by-side one keeps the line anchors.
func TestSeriesPageViews(t *testing.T) {
	base := newServer(t, pageReader{fixture()}, 0)
	for _, tc := range []struct {
		path      string
		want, not []string
	}{
		{"/series/2/", []string{`<table class="diff">`, `<tr class="add" id="p1-f0-n1">`, `aria-current="page">unified</strong>`, `href="?view=split#patches"`},
			[]string{`class="diff split"`, `class="wide"`}},
		{"/series/2/?view=split", []string{`<table class="diff split">`, `<td class="no add" id="p1-f0-n1"><a href="#p1-f0-n1">1</a>`,
			`<td class="no del" id="p1-f0-o1">`, `aria-current="page">side by side</strong>`, `href="?#patches"`, `<body class="wide">`},
			[]string{`<table class="diff">`}},
	} {
		code, body := getPage(t, base+tc.path)
		if code != 200 {
			t.Fatalf("GET %s = %d", tc.path, code)
		}
		for _, w := range tc.want {
			if !strings.Contains(body, w) {
				t.Errorf("GET %s lacks %q", tc.path, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(body, n) {
				t.Errorf("GET %s has %q", tc.path, n)
			}
		}
	}
}
