package web

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

// commentReader adds review comments to pageReader: on patch 1 of series 2
// (evilDiff: new.go, old line 1 removed, new line 1 added).
type commentReader struct{ pageReader }

func (c commentReader) SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	if id != 2 {
		return nil, nil
	}
	rev := store.Person{Name: "Rita <Reviewer>", Email: "rita@example.org"}
	at := time.Date(2024, 8, 2, 9, 30, 0, 0, time.UTC)
	return []store.LineComment{
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "new", Line: 1, Author: rev, Date: at, List: "dev",
			Body: "Context <b>comment</b>", MessageID: "r1@example.org", CarriedFrom: 1, CarriedPatch: "p1@example.org"},
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "old", Line: 1, Author: rev, Date: at, List: "dev",
			Body: "On the removed line", MessageID: "r1@example.org", Resolved: true, ResolvedBy: "ann@example.org", ResolvedAt: at},
		{PatchMessageID: "p21@example.org", Author: rev, Date: at, List: "dev", Body: "General <script>alert(3)</script>", MessageID: "r2/x@example.org"},
		{PatchMessageID: "p21@example.org", File: "new.go", Side: "new", Line: 99, Author: rev, Date: at, List: "dev",
			Body: "Off the diff", MessageID: "r1@example.org", Quote: []string{"+gone"}},
		{PatchMessageID: "c2@example.org", Author: rev, Date: at, List: "dev", Body: "On the cover", MessageID: "r3@example.org"},
	}, nil
}

func TestSeriesPageComments(t *testing.T) {
	base := newServer(t, commentReader{pageReader{fixture()}}, 0)
	code, body := getPage(t, base+"/series/2/")
	if code != 200 {
		t.Fatalf("GET /series/2/ = %d", code)
	}
	// Each line comment is in the row right after its diff line.
	for _, tc := range []struct{ row, comment string }{
		{`id="p1-f0-n1"`, "Context &lt;b&gt;comment&lt;/b&gt;"},
		{`id="p1-f0-o1"`, "On the removed line"},
	} {
		i := strings.Index(body, tc.row)
		if i < 0 {
			t.Fatalf("no row %s", tc.row)
		}
		rest := body[i:]
		end := strings.Index(rest, "</tr>")
		next := rest[end+len("</tr>"):]
		if !strings.HasPrefix(strings.TrimSpace(next), `<tr class="comments">`) || !strings.Contains(next[:strings.Index(next, "</tr>")], tc.comment) {
			t.Errorf("row %s is not followed by its comment %q:\n%s", tc.row, tc.comment, next[:min(len(next), 600)])
		}
	}
	for _, want := range []string{
		"carried from v1", "resolved by ann@example.org on 2024-08-02", "Rita &lt;Reviewer&gt;",
		`href="/dev/r1@example.org/"`, `href="/dev/r2%2Fx@example.org/"`,
		"General &lt;script&gt;alert(3)&lt;/script&gt;", "<code>new.go:99</code>", "&gt; &#43;gone", "On the cover",
		"5 review comments, 4 unresolved",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("series page lacks %q", want)
		}
	}
	if strings.Contains(body, "<script>alert(3)") {
		t.Error("comment body not escaped")
	}
	// The general and off-diff comments are in patch 1's discussion, the
	// cover's before the patches.
	p1 := strings.Index(body, `id="patch-1"`)
	if n := strings.Count(body, "<h4>Discussion</h4>"); n != 2 || strings.Index(body, "On the cover") > p1 ||
		strings.Index(body, "Off the diff") < p1 || strings.Index(body, "General") < p1 {
		t.Errorf("%d discussions; want the cover's before the patches and patch 1's in it", n)
	}
	if regexp.MustCompile(`<tr class="comments">.*<code>new.go:1`).MatchString(body) {
		t.Error("a comment at its line repeats where it is")
	}
	// A page without comments shows none.
	if _, body := getPage(t, base+"/series/1/"); strings.Contains(body, `class="comment`) {
		t.Error("series 1 shows comments")
	}
}

func TestAPIComments(t *testing.T) {
	base := newServer(t, commentReader{pageReader{fixture()}}, 0)
	r := get(t, base+"/api/v1/series/2/comments")
	if r.code != 200 {
		t.Fatalf("GET comments = %d %s", r.code, r.body)
	}
	var out struct {
		Comments []commentJSON `json:"comments"`
	}
	if err := json.Unmarshal(r.body, &out); err != nil {
		t.Fatal(err)
	}
	if len(out.Comments) != 5 {
		t.Fatalf("%d comments, want 5", len(out.Comments))
	}
	c := out.Comments[0]
	if c.CarriedFrom != 1 || c.Key.PatchMessageID != "p1@example.org" || c.URL != "/dev/r1@example.org/" || c.Resolved || c.ResolvedAt != nil {
		t.Errorf("first comment = %+v", c)
	}
	if c := out.Comments[1]; !c.Resolved || c.ResolvedAt == nil || c.Key.Side != "old" || c.Key.Line != 1 {
		t.Errorf("second comment = %+v", c)
	}
	if r := get(t, base+"/api/v1/series/1/comments"); r.code != 200 || !strings.Contains(string(r.body), `"comments":[]`) {
		t.Errorf("series without comments: %d %s", r.code, r.body)
	}
	for path, code := range map[string]int{"/api/v1/series/99/comments": 404, "/api/v1/series/x/comments": 400, "/api/v1/series/-1/comments": 400} {
		if r := get(t, base+path); r.code != code {
			t.Errorf("GET %s = %d, want %d", path, r.code, code)
		}
	}
}
