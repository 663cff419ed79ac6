package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"patchwell/store"
)

// diffReader adds revision diffs to the page fixture: series 1 and 2 are
// v1 and v2 of one series, series 3 stands alone.
type diffReader struct{ pageReader }

func (d diffReader) Revisions(ctx context.Context, id int64) ([]store.Series, error) {
	s, _, err := d.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	if id == 1 || id == 2 {
		v1, _, _ := d.Series(ctx, 1)
		v2, _, _ := d.Series(ctx, 2)
		return []store.Series{*v1, *v2}, nil
	}
	return []store.Series{*s}, nil
}

// hostileInterdiff changes a patch's diff; its lines carry markup and a
// bidi override.
const hostileInterdiff = "@@ -1,6 +1,6 @@ Subject: fix\n Subject: rename <b>it</b>\n \n---\n diff --git a/x.go b/x.go\n" +
	"@@ -3,2 +3,2 @@\n--</td><script>alert(1)</script>\n+-if a \u202e{\n +x := 1\n"

func (d diffReader) SeriesDiff(ctx context.Context, id, other int64) (*store.SeriesDiff, error) {
	chain, err := d.Revisions(ctx, id)
	if err != nil {
		return nil, err
	}
	if _, _, err := d.Series(ctx, other); err != nil {
		return nil, err
	}
	if id == other || len(chain) == 1 || (other != 1 && other != 2) {
		return nil, fmt.Errorf("%w: series %d and %d are not revisions of one series", store.ErrInvalid, id, other)
	}
	_, p1, _ := d.Series(ctx, 1)
	_, p2, _ := d.Series(ctx, 2)
	return &store.SeriesDiff{Old: chain[0], New: chain[1], Method: "diff-of-diffs", Patches: []store.PatchDiff{
		{Status: store.PatchChanged, PairedBy: "subject", Old: &p1[0], New: &p2[0], Diff: hostileInterdiff},
		{Status: store.PatchAdded, New: &p2[1]},
		{Status: store.PatchDropped, Old: &store.Patch{Index: 2, CommitSubject: "gone <i>"}},
		{Status: store.PatchUnchanged, PairedBy: "patch-id", Old: &p1[0], New: &p2[0]},
	}}, nil
}

var diffTableRE = regexp.MustCompile(`(?s)<table class="diff">.*?</table>`)

func TestSeriesDiffPages(t *testing.T) {
	f := fixture()
	f.details[3] = fakeSeries{s: store.Series{ID: 3, List: "dev", Subject: "other", Version: 1}}
	base := newServer(t, diffReader{pageReader{f}}, 0)
	plain := newServer(t, pageReader{fixture()}, 0)
	for _, tc := range []struct {
		name, url string
		code      int
		want, not []string
	}{
		{"diff page", base + "/series/2/diff/1/", 200,
			[]string{"v1 → v2", `href="/series/1/"`, `href="/series/2/"`, `href="/series/2/#patch-1"`, `id="d1"`, `href="#d3"`,
				"paired by subject", "new in v2", "dropped in v2", "gone &lt;i&gt;", "unchanged from v1",
				"1 unchanged · 1 changed · 1 added · 1 dropped",
				// the inner diff's lines coloured by chroma's diff lexer
				`<span class="gd">`, `<span class="gi">`,
				"&lt;/td&gt;&lt;script&gt;", "&lt;U+202E&gt;", `id="d1-f0-o4"`, `id="d1-f0-n4"`},
			[]string{"<script>", "\u202e", "<b>", "<i>"}},
		{"either order", base + "/series/1/diff/2/", 200, []string{"v1 → v2"}, nil},
		{"series page links to the diff", base + "/series/2/", 200, []string{"Compare with", `href="/series/2/diff/1/"`}, nil},
		{"older series page links too", base + "/series/1/", 200, []string{`href="/series/1/diff/2/">v2</a>`}, nil},
		{"lone series has no compare links", base + "/series/3/", 200, nil, []string{"Compare with"}},
		{"unknown other", base + "/series/2/diff/99/", 404, nil, nil},
		{"unknown id", base + "/series/99/diff/1/", 404, nil, nil},
		{"not revisions of one series", base + "/series/2/diff/3/", 400, []string{"not revisions of one series"}, nil},
		{"itself", base + "/series/2/diff/2/", 400, nil, nil},
		{"bad id", base + "/series/x/diff/1/", 400, nil, nil},
		{"bad other", base + "/series/2/diff/-1/", 400, nil, nil},
		{"zero", base + "/series/2/diff/0/", 400, nil, nil},
		{"api", base + "/api/v1/series/2/diff/1", 200,
			[]string{`"method":"diff-of-diffs"`, `"status":"changed"`, `"paired_by":"subject"`, `"status":"added"`, `"paired_by":null`, `"range_diff":null`},
			nil},
		{"api unknown", base + "/api/v1/series/2/diff/99", 404, []string{`"error":"series not found"`}, nil},
		{"api not revisions", base + "/api/v1/series/3/diff/1", 400, []string{"not revisions"}, nil},
		{"api bad id", base + "/api/v1/series/a/diff/1", 400, nil, nil},
		{"reader without revision diffs", plain + "/series/2/diff/1/", 404, nil, nil},
		{"reader without revision diffs: no links", plain + "/series/2/", 200, nil, []string{"Compare with"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := getPage(t, tc.url)
			if code != tc.code {
				t.Fatalf("GET %s = %d, want %d\n%s", tc.url, code, tc.code, body)
			}
			for _, w := range tc.want {
				if !strings.Contains(body, w) {
					t.Errorf("GET %s: missing %q", tc.url, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(body, n) {
					t.Errorf("GET %s: contains %q", tc.url, n)
				}
			}
			if code == 200 && strings.Contains(tc.url, "/diff/") && !strings.Contains(tc.url, "/api/") {
				for _, table := range diffTableRE.FindAllString(body, -1) {
					checkInert(t, table)
				}
			}
		})
	}

	var api seriesDiffJSON
	res, err := http.Get(base + "/api/v1/series/1/diff/2")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := json.NewDecoder(res.Body).Decode(&api); err != nil {
		t.Fatal(err)
	}
	if api.Old.ID != 1 || api.New.ID != 2 || len(api.Patches) != 4 || api.Patches[0].Diff != hostileInterdiff ||
		api.Patches[1].Old != nil || api.Patches[1].New == nil || api.Patches[1].New.Index != 2 {
		t.Errorf("api = %+v", api)
	}
}

// diffCommentReader has revision diffs and comments.
type diffCommentReader struct{ diffReader }

func (d diffCommentReader) SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	return commentReader{d.pageReader}.SeriesComments(ctx, id)
}

// TestSeriesLoadedOnce: the routes that only check access to a series
// load its row (SeriesInfo), never the patches with their thread a second
// time; the series API, which shows the patches, loads them once.
func TestSeriesLoadedOnce(t *testing.T) {
	count := func(calls []call, method string) int {
		n := 0
		for _, c := range calls {
			if c.Method == method {
				n++
			}
		}
		return n
	}
	// What SeriesDiff loads itself (the fake reads both revisions).
	probe := fixture()
	if _, err := (diffReader{pageReader{probe}}).SeriesDiff(context.Background(), 1, 2); err != nil {
		t.Fatal(err)
	}
	ownDiff := count(probe.Calls(), "Series")
	tests := []struct {
		path               string
		series, seriesInfo int
	}{
		{"/api/v1/series/2/comments", 0, 1},
		{"/series/1/diff/2/", ownDiff, 2},
		{"/api/v1/series/1/diff/2", ownDiff, 2},
		{"/api/v1/series/2", 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := fixture()
			base := newServer(t, diffCommentReader{diffReader{pageReader{f}}}, 0)
			if res := get(t, base+tt.path); res.code != http.StatusOK {
				t.Fatalf("GET %s = %d %s", tt.path, res.code, res.body)
			}
			calls := f.Calls()
			if got := count(calls, "Series"); got != tt.series {
				t.Errorf("Series called %d times, want %d: %v", got, tt.series, calls)
			}
			if got := count(calls, "SeriesInfo"); got != tt.seriesInfo {
				t.Errorf("SeriesInfo called %d times, want %d", got, tt.seriesInfo)
			}
		})
	}
}
