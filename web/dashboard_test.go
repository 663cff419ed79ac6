package web

import (
	"context"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// Dashboard is the fake archive's: its series without counts, the
// superseded ones left out when asked.
func (f *fakeReader) Dashboard(ctx context.Context, list string, sf store.SeriesFilter) ([]store.SeriesRow, error) {
	if err := f.record(call{Method: "Dashboard", List: list, Status: sf.Status}); err != nil {
		return nil, err
	}
	var out []store.SeriesRow
	for _, s := range f.series {
		if sf.Current && s.Status == store.StatusSuperseded {
			continue
		}
		out = append(out, store.SeriesRow{Series: s})
	}
	return out, nil
}

// dashEnv is authEnv with, on list pub, a v2 of the series (v1
// superseded) that user@ reviewed (Reviewed-by) and commented on, a
// second series nobody reviewed with a failing check, and on the
// private list sec a reply of maint@.
func dashEnv(t *testing.T) (*authEnv, map[string]int64) {
	t.Helper()
	e := newAuthEnv(t, Config{})
	ctx := context.Background()
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	defer in.Close()
	post := func(list string, raw string) {
		t.Helper()
		if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: []byte(strings.ReplaceAll(raw, "\n", "\r\n"))}); err != nil {
			t.Fatal(err)
		}
	}
	v2 := strings.Replace(string(patchMail("pub", "p2-pub@example.org", "fix pub")), "[PATCH]", "[PATCH v2]", 1)
	v2 = strings.Replace(v2, "Mon, 1 Jan 2024 00:00:00", "Tue, 2 Jan 2024 00:00:00", 1)
	post("pub", strings.ReplaceAll(v2, "\r\n", "\n"))
	post("pub", "From: User <user@example.org>\nTo: pub@lists.example.org\nSubject: Re: [PATCH v2] fix pub\nMessage-ID: <rv@example.org>\n"+
		"In-Reply-To: <p2-pub@example.org>\nReferences: <p2-pub@example.org>\nDate: Wed, 3 Jan 2024 00:00:00 +0000\n\n"+
		"> --- a/a.txt\n> +++ b/a.txt\n> @@ -1 +1 @@\n> -old\n> +new\n\nWhy new?\n\nReviewed-by: User <user@example.org>\n")
	post("pub", strings.ReplaceAll(strings.NewReplacer("Fix the thing", "Other thing", "fix pub", "other pub", "a.txt", "b.txt").
		Replace(string(patchMail("pub", "o-pub@example.org", "fix pub"))), "\r\n", "\n"))
	post("sec", "From: Maint <maint@example.org>\nTo: sec@lists.example.org\nSubject: Re: [PATCH] fix sec\nMessage-ID: <ms@example.org>\n"+
		"In-Reply-To: <p-sec@example.org>\nReferences: <p-sec@example.org>\nDate: Wed, 3 Jan 2024 00:00:00 +0000\n\nAcked-by: Maint <maint@example.org>\n")
	ids := map[string]int64{}
	for _, mid := range []string{"p-pub@example.org", "p2-pub@example.org", "o-pub@example.org", "p-sec@example.org"} {
		m, err := e.st.Message(ctx, strings.TrimSuffix(strings.SplitN(mid, "-", 2)[1], "@example.org"), mid)
		if err != nil || m.SeriesID == 0 {
			t.Fatalf("series of %s: %+v %v", mid, m, err)
		}
		ids[mid] = m.SeriesID
	}
	if _, err := e.st.SetCheck(ctx, &store.Check{SeriesID: ids["o-pub@example.org"], Context: "build", State: store.CheckFail}); err != nil {
		t.Fatal(err)
	}
	for _, st := range []string{store.CheckSuccess, store.CheckWarning} {
		if _, err := e.st.SetCheck(ctx, &store.Check{SeriesID: ids["p2-pub@example.org"], Context: "c-" + st, State: st}); err != nil {
			t.Fatal(err)
		}
	}
	return e, ids
}

var dashRowRE = regexp.MustCompile(`(?s)<tr[^>]*><td><a href="/series/(\d+)/">.*?</tr>`)

// rows returns the dashboard rows of a page, by series id.
func dashRows(body []byte) map[string]string {
	out := map[string]string{}
	for _, m := range dashRowRE.FindAllSubmatch(body, -1) {
		out[string(m[1])] = string(m[0])
	}
	return out
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func TestListDashboard(t *testing.T) {
	e, ids := dashEnv(t)
	v1, v2, other := id(ids["p-pub@example.org"]), id(ids["p2-pub@example.org"]), id(ids["o-pub@example.org"])
	res := e.do(req{Path: "/pub/"})
	if res.code != 200 {
		t.Fatalf("GET /pub/ = %d %s", res.code, res.body)
	}
	rows := dashRows(res.body)
	if _, ok := rows[v1]; ok || len(rows) != 2 {
		t.Fatalf("rows = %v; want v2 and the other series, v1 (superseded) hidden", rows)
	}
	for _, want := range []string{
		`<span class="n-s check-success">1</span> <span class="n-w check-warning">1</span> <span class="n-f">0</span>`,
		`<span class="n-a">0</span> <span class="n-r reviewed">1</span> <span class="n-t">0</span>`,
		`<span class="n-open">1</span>`,
		`<time datetime="2024-01-03T00:00:00Z">2024-01-03 00:00</time>`,
	} {
		if !strings.Contains(rows[v2], want) {
			t.Errorf("v2 row lacks %s:\n%s", want, rows[v2])
		}
	}
	if !strings.Contains(rows[other], `<span class="n-f check-fail">1</span>`) || !strings.Contains(rows[other], `title="0 Acked-by, 0 Reviewed-by, 0 Tested-by"`) {
		t.Errorf("other row: %s", rows[other])
	}
	for _, want := range []string{
		`<a href="?sort=checks" title=`, `<a href="?sort=reviews" title=`, `<a href="?sort=activity" title=`,
		`<th scope="col" aria-sort="descending"><a href="?sort=date"`, `href="?superseded=1">show superseded revisions</a>`,
		`<option value="needs">needs review</option>`,
	} {
		if !strings.Contains(string(res.body), want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if strings.Contains(string(res.body), `value="mine"`) || strings.Contains(string(res.body), `/account/reviews`) {
		t.Error("anonymous page offers 'has my review' or 'My reviews'")
	}

	for _, tc := range []struct {
		name, path, cookie string
		want               []string
		first              string
	}{
		{"superseded", "/pub/?superseded=1", "", []string{v1, v2, other}, other},
		{"needs review", "/pub/?review=needs", "", []string{other}, other},
		{"checks", "/pub/?sort=checks", "", []string{v2, other}, other},
		{"reviews", "/pub/?sort=reviews", "", []string{v2, other}, v2},
		{"activity", "/pub/?sort=activity", "", []string{v2, other}, v2},
		{"mine", "/pub/?review=mine", "user@example.org", []string{v2}, v2},
		{"mine, maint", "/pub/?review=mine", "maint@example.org", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := req{Path: tc.path}
			if tc.cookie != "" {
				q.Cookie = e.signin(tc.cookie).Value
			}
			res := e.do(q)
			if res.code != 200 {
				t.Fatalf("GET %s = %d %s", tc.path, res.code, res.body)
			}
			rows := dashRows(res.body)
			if len(rows) != len(tc.want) {
				t.Errorf("rows %v, want %v", rows, tc.want)
			}
			for _, w := range tc.want {
				if _, ok := rows[w]; !ok {
					t.Errorf("no row of series %s", w)
				}
			}
			if m := dashRowRE.FindSubmatch(res.body); tc.first != "" && (m == nil || string(m[1]) != tc.first) {
				t.Errorf("first row %q, want series %s", m, tc.first)
			}
		})
	}
	for _, bad := range []string{"/pub/?sort=size", "/pub/?review=mine", "/pub/?review=x", "/pub/?superseded=yes", "/pub/?sort=checks&page=0"} {
		if res := e.do(req{Path: bad}); res.code != http.StatusBadRequest {
			t.Errorf("GET %s = %d, want 400", bad, res.code)
		}
	}
}

func TestMyReviews(t *testing.T) {
	e, ids := dashEnv(t)
	if res := e.do(req{Path: "/account/reviews"}); res.code != http.StatusSeeOther || !strings.HasPrefix(res.header.Get("Location"), "/signin?next=") {
		t.Errorf("anonymous: %d %s", res.code, res.header.Get("Location"))
	}
	for _, tc := range []struct {
		who  string
		want []int64
	}{
		{"user@example.org", []int64{ids["p2-pub@example.org"]}},
		// maint may read sec, user may not (and maint replied there).
		{"maint@example.org", []int64{ids["p-sec@example.org"]}},
		{"admin@example.org", nil},
	} {
		c := e.signin(tc.who).Value
		res := e.do(req{Path: "/account/reviews", Cookie: c})
		if res.code != 200 {
			t.Fatalf("%s: %d %s", tc.who, res.code, res.body)
		}
		rows := dashRows(res.body)
		if len(rows) != len(tc.want) {
			t.Errorf("%s: rows %v, want %v", tc.who, rows, tc.want)
		}
		for _, w := range tc.want {
			if _, ok := rows[id(w)]; !ok {
				t.Errorf("%s: no row of series %d", tc.who, w)
			}
		}
		body := string(res.body)
		if !strings.Contains(body, `<a href="/account/reviews">My reviews</a>`) {
			t.Errorf("%s: the header does not link My reviews", tc.who)
		}
		if !strings.Contains(body, `<th scope="col" aria-sort="descending"><a href="?sort=activity"`) {
			t.Errorf("%s: not sorted by activity", tc.who)
		}
		if len(tc.want) == 0 && !strings.Contains(body, "No series yet") {
			t.Errorf("%s: empty page says nothing", tc.who)
		}
	}
	// The other user's page never shows sec's series.
	res := e.do(req{Path: "/account/reviews?superseded=1", Cookie: e.signin("user@example.org").Value})
	if strings.Contains(string(res.body), "fix sec") {
		t.Error("user sees a series of the private list")
	}
}
