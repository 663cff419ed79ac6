package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/review"
	"patchwell/store"
)

// TestApplyButton: the series page shows "Apply to BRANCH" only to
// those who may apply, on a list with a repository, for a series not yet
// applied; the form needs its CSRF field; a refusal is shown in full
// (the conflict, escaped) with its status; once applied the page lists
// the commits and the button is gone.
func TestApplyButton(t *testing.T) {
	ctx := context.Background()
	var calls []string
	var next error
	var e *authEnv
	e = newAuthEnv(t, Config{Apply: func(ctx context.Context, id int64, by string) (string, error) {
		calls = append(calls, fmt.Sprintf("%d %s", id, by))
		if next != nil {
			err := next
			next = nil
			return "", err
		}
		// What the real applier records (cmd wires gitrepo.Applier).
		if err := e.st.RecordApplied(ctx, store.Applied{SeriesID: id, Commits: []string{"c0ffee0123456789c0ffee0123456789c0ffee01"},
			Branch: "main", AppliedAt: time.Date(2024, 1, 2, 3, 4, 0, 0, time.UTC), By: by}); err != nil {
			return "", err
		}
		return "Applied to main, thanks!", nil
	}})
	for _, l := range []string{"sec", "pub"} {
		if err := e.st.SetListRepo(ctx, store.ListRepo{List: l, Repo: "/srv/git/" + l + ".git", Branch: "main"}); err != nil {
			t.Fatal(err)
		}
	}
	id := e.series["sec"]
	page := fmt.Sprintf("/series/%d/", id)
	form := fmt.Sprintf("/series/%d/apply", id)
	button := `<button>Apply to main</button>`

	// No button for readers without the role, nor anonymous ones, nor
	// on a list without a repository.
	u := e.signin("user@example.org")
	pub := fmt.Sprintf("/series/%d/", e.series["pub"])
	for _, c := range []struct {
		name, cookie, path string
	}{{"anonymous", "", pub}, {"no role", u.Value, pub}} {
		res := e.do(req{Path: c.path, Cookie: c.cookie})
		if res.code != 200 || strings.Contains(string(res.body), button) || !strings.Contains(string(res.body), "applied to <code>main</code>") {
			t.Errorf("%s: %d, button shown or branch not said:\n%s", c.name, res.code, res.body)
		}
	}
	a := e.signin("admin@example.org")
	if res := e.do(req{Path: fmt.Sprintf("/series/%d/", e.series["hid"]), Cookie: a.Value}); strings.Contains(string(res.body), button) || strings.Contains(string(res.body), `id="apply"`) {
		t.Error("apply section on a list without a repository")
	}
	if res := e.do(req{Path: pub, Cookie: a.Value}); !strings.Contains(string(res.body), button) {
		t.Error("a site admin sees no button on a list with a repository")
	}

	c := e.signin("maint@example.org")
	body := string(e.do(req{Path: page, Cookie: c.Value}).body)
	if !strings.Contains(body, button) || !regexp.MustCompile(`action="/series/\d+/apply"[^>]*><input type="hidden" name="csrf" value="[0-9a-f]{64}"`).MatchString(body) {
		t.Fatalf("the maintainer sees no apply form with its CSRF field:\n%s", body)
	}
	if res := e.do(req{Method: "POST", Path: form, Cookie: c.Value}); res.code != http.StatusForbidden || len(calls) != 0 {
		t.Fatalf("without the CSRF field: %d, calls %v", res.code, calls)
	}
	csrf := "csrf=" + e.csrf(c.Value)

	// A conflict: the whole message, escaped, on a page of its own.
	conflict := "nothing was pushed: patch 1 (fix sec) does not apply:\nerror: patch failed: a.txt:1\n" +
		"<<<<<<< ours\n<script>alert(1)</script>\n=======\nnew\n>>>>>>> theirs\n"
	next = &testRefusal{kind: store.ErrConflict, msg: conflict}
	res := e.do(req{Method: "POST", Path: form, Cookie: c.Value, Body: csrf, Header: map[string]string{"Accept": "text/html"}})
	got := string(res.body)
	if res.code != http.StatusConflict || !strings.Contains(got, "patch 1 (fix sec) does not apply") ||
		!strings.Contains(got, "&lt;&lt;&lt;&lt;&lt;&lt;&lt; ours\n&lt;script&gt;") || strings.Contains(got, "<script>") ||
		!strings.Contains(got, `<a href="`+page+`">Back to the series</a>`) {
		t.Fatalf("conflict page: %d\n%s", res.code, got)
	}
	// A refused path, to a client that does not prefer HTML: plain text.
	next = &testRefusal{kind: store.ErrInvalid, msg: `nothing was pushed: patch 1: refused path "../x": it leaves the worktree`}
	res = e.do(req{Method: "POST", Path: form, Cookie: c.Value, Body: csrf})
	if res.code != http.StatusUnprocessableEntity || !strings.HasPrefix(res.header.Get("Content-Type"), "text/plain") || !strings.Contains(string(res.body), `refused path "../x"`) {
		t.Fatalf("refused path: %d %s %s", res.code, res.header.Get("Content-Type"), res.body)
	}
	if s, _ := e.st.Series(ctx, id); s.Status == store.StatusApplied {
		t.Fatal("status changed by a refused apply")
	}

	// Applied: back to the series, which lists the commit; no button.
	res = e.do(req{Method: "POST", Path: form, Cookie: c.Value, Body: csrf})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != page+"#apply" {
		t.Fatalf("apply: %d %q", res.code, res.header.Get("Location"))
	}
	if want := fmt.Sprintf("%d maint@example.org", id); len(calls) != 3 || calls[2] != want {
		t.Fatalf("calls %v, want the third %q", calls, want)
	}
	body = string(e.do(req{Path: page, Cookie: c.Value}).body)
	if strings.Contains(body, button) || !strings.Contains(body, "Applied to <code>main</code> by maint@example.org, 2024-01-02 03:04 UTC") ||
		!strings.Contains(body, "<li><code>c0ffee0123456789c0ffee0123456789c0ffee01</code> fix sec</li>") {
		t.Fatalf("page after apply:\n%s", body)
	}
	// A reader without a role may not post the form (the private list
	// does not exist for them).
	if res := e.do(req{Method: "POST", Path: form, Cookie: u.Value, Body: "csrf=" + e.csrf(u.Value)}); res.code != http.StatusNotFound || len(calls) != 3 {
		t.Errorf("a reader's apply: %d, calls %v", res.code, calls)
	}
}

// flagMail is a patch that touches .gitmodules (twice named: old and
// new side), a file whose name holds U+202E, and an ordinary file.
func flagMail(list string) []byte {
	return []byte("From: Ann Dev <ann@example.org>\nTo: " + list + "@lists.example.org\n" +
		"Subject: [PATCH] add a submodule\nMessage-ID: <flags@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n" +
		"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
		"Add it.\n\nSigned-off-by: Ann Dev <ann@example.org>\n---\n" +
		"diff --git a/.gitmodules b/.gitmodules\nindex 1111111..2222222 100644\n--- a/.gitmodules\n+++ b/.gitmodules\n@@ -1 +1 @@\n-old\n+new\n" +
		"diff --git a/evil\u202etxt.sh b/evil\u202etxt.sh\nnew file mode 100644\nindex 0000000..3333333\n--- /dev/null\n+++ b/evil\u202etxt.sh\n@@ -0,0 +1 @@\n+x\n" +
		"diff --git a/a.txt b/a.txt\nindex 1111111..2222222 100644\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n" +
		"-- \n2.40.0\n")
}

// fakeFlags stands for gitrepo.CheckPatches (tested there and, wired,
// in cmd/patchwell): it flags each old and new name that is .gitmodules
// or holds U+202E, and refuses "..".
func fakeFlags(diffs []string) ([]PathFlag, error) {
	var out []PathFlag
	for i, d := range diffs {
		for _, line := range strings.Split(d, "\n") {
			name, ok := strings.CutPrefix(line, "diff --git a/")
			if !ok {
				continue
			}
			old, nw, _ := strings.Cut(name, " b/")
			for _, p := range []string{old, nw} {
				switch {
				case strings.Contains(p, ".."):
					return []PathFlag{{Patch: i + 1, Path: p, Reason: "it leaves the worktree", Refused: true}}, nil
				case p == ".gitmodules":
					out = append(out, PathFlag{Patch: i + 1, Path: p, Reason: "changes submodules (.gitmodules)"})
				case strings.ContainsRune(p, '\u202e'):
					out = append(out, PathFlag{Patch: i + 1, Path: p, Reason: "its name contains U+202E"})
				}
			}
		}
	}
	return out, nil
}

// TestSeriesFlags: the paths PathFlags marks are a visible warning on
// the series page, for every reader, each once, with hidden characters
// shown; a refused path says so; a series without any has no warning.
func TestSeriesFlags(t *testing.T) {
	e := newAuthEnv(t, Config{PathFlags: fakeFlags})
	ctx := context.Background()
	in := review.NewIngester(e.st, review.Config{Log: slog.New(slog.DiscardHandler)})
	if err := in.Post(ctx, review.Post{Lists: []string{"pub"}, Raw: flagMail("pub")}); err != nil {
		t.Fatal(err)
	}
	evil := []byte(strings.ReplaceAll(strings.ReplaceAll(string(patchMail("pub", "evil@example.org", "escape")),
		"a/a.txt b/a.txt", "a/../x b/../x"), "Ann Dev", "Eve"))
	if err := in.Post(ctx, review.Post{Lists: []string{"pub"}, Raw: evil}); err != nil {
		t.Fatal(err)
	}
	in.Close()
	ids := map[string]int64{}
	for _, id := range []string{"flags@example.org", "evil@example.org"} {
		m, err := e.st.Message(ctx, "pub", id)
		if err != nil || m.SeriesID == 0 {
			t.Fatalf("%s: %+v %v", id, m, err)
		}
		ids[id] = m.SeriesID
	}
	body := string(e.do(req{Path: fmt.Sprintf("/series/%d/", ids["flags@example.org"])}).body)
	warn := regexp.MustCompile(`(?s)<section id="flags" class="warning">.*?</section>`).FindString(body)
	if warn == "" {
		t.Fatalf("no warning section:\n%s", body)
	}
	if n := strings.Count(warn, "touches <code>.gitmodules</code>: changes submodules (.gitmodules)"); n != 1 {
		t.Errorf(".gitmodules flagged %d times, want once:\n%s", n, warn)
	}
	if !strings.Contains(warn, "touches <code>evil&lt;U&#43;202E&gt;txt.sh</code>") || strings.ContainsRune(warn, '\u202e') {
		t.Errorf("the U+202E name is not shown as such:\n%s", warn)
	}
	if strings.Contains(warn, "a.txt") {
		t.Errorf("an ordinary file is flagged:\n%s", warn)
	}
	body = string(e.do(req{Path: fmt.Sprintf("/series/%d/", ids["evil@example.org"])}).body)
	if !strings.Contains(body, "<strong>refused</strong>: patch 1, <code>../x</code>: it leaves the worktree; apply and CI refuse this series") {
		t.Errorf("refused path not shown:\n%s", body)
	}
	if body := string(e.do(req{Path: fmt.Sprintf("/series/%d/", e.series["pub"])}).body); strings.Contains(body, `id="flags"`) {
		t.Error("a warning on a series that touches nothing flagged")
	}

	// The API gives the same flags, each once, the path as in the patch.
	for _, c := range []struct {
		id   int64
		want []apiFlag
	}{
		{ids["flags@example.org"], []apiFlag{
			{Patch: 1, Path: ".gitmodules", Reason: "changes submodules (.gitmodules)"},
			{Patch: 1, Path: "evil\u202etxt.sh", Reason: "its name contains U+202E"},
		}},
		{ids["evil@example.org"], []apiFlag{{Patch: 1, Path: "../x", Reason: "it leaves the worktree", Refused: true}}},
		{e.series["pub"], []apiFlag{}},
	} {
		res := e.do(req{Path: fmt.Sprintf("/api/v1/series/%d", c.id)})
		var got struct {
			Flags      []apiFlag
			FlagsError *string `json:"flags_error"`
		}
		if err := json.Unmarshal(res.body, &got); err != nil || res.code != http.StatusOK {
			t.Fatalf("GET series %d: %d %v\n%s", c.id, res.code, err, res.body)
		}
		if diff := cmp.Diff(c.want, got.Flags); diff != "" || got.FlagsError != nil || !strings.Contains(string(res.body), `"flags":[`) {
			t.Errorf("series %d: flags (-want +got):\n%s\n%s", c.id, diff, res.body)
		}
	}
}

// apiFlag is a flag of GET /api/v1/series/{id}.
type apiFlag struct {
	Patch   int    `json:"patch"`
	Path    string `json:"path"`
	Reason  string `json:"reason"`
	Refused bool   `json:"refused"`
}

// TestSeriesFlagsError: diffs that cannot be checked say so on the page
// and in the API (flags_error), with no flags.
func TestSeriesFlagsError(t *testing.T) {
	e := newAuthEnv(t, Config{PathFlags: func([]string) ([]PathFlag, error) { return nil, errors.New("patch 1: cannot parse its diff") }})
	id := e.series["pub"]
	if body := string(e.do(req{Path: fmt.Sprintf("/series/%d/", id)}).body); !strings.Contains(body, "The diffs could not be checked: patch 1: cannot parse its diff") {
		t.Errorf("page:\n%s", body)
	}
	res := e.do(req{Path: fmt.Sprintf("/api/v1/series/%d", id)})
	if !strings.Contains(string(res.body), `"flags":[],"flags_error":"patch 1: cannot parse its diff"`) {
		t.Errorf("API: %s", res.body)
	}
}

// testRefusal is a refusal as gitrepo.Refusal makes them: worded for the
// user, of a kind the status follows.
type testRefusal struct {
	kind error
	msg  string
}

func (r *testRefusal) Error() string { return r.msg }
func (r *testRefusal) Unwrap() error { return r.kind }
