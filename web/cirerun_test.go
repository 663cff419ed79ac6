package web

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"patchwell/store"
)

// rerunFunc is a CIRerunner of a function.
type rerunFunc func(ctx context.Context, seriesID int64) error

func (f rerunFunc) Rerun(ctx context.Context, seriesID int64) error { return f(ctx, seriesID) }

// fakeRerun records the series it was asked to re-run and answers err.
type fakeRerun struct {
	mu  sync.Mutex
	ids []int64
	err error
}

func (f *fakeRerun) Rerun(ctx context.Context, id int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ids = append(f.ids, id)
	return f.err
}

// TestCIRerun: maintainers of the list re-run a series' CI by the API
// (202) and the series page's button (CSRF, 303); others are refused
// (401, 403, 404 for a list they may not read), the scheduler's refusals
// are 404 (never ran) and 409 (queued or running); without CI, 404.
func TestCIRerun(t *testing.T) {
	rr := &fakeRerun{}
	e := newAuthEnv(t, Config{CIRerun: rr})
	ctx := context.Background()
	sec, pub := id(e.series["sec"]), id(e.series["pub"])
	api := "/api/v1/series/" + sec + "/ci/rerun"
	for _, tc := range []struct {
		name, path, token string
		err               error
		code              int
	}{
		{"anonymous", "/api/v1/series/" + pub + "/ci/rerun", "", nil, http.StatusUnauthorized},
		{"not a maintainer", "/api/v1/series/" + pub + "/ci/rerun", "user", nil, http.StatusForbidden},
		{"private list", api, "user", nil, http.StatusNotFound},
		{"maintainer", api, "maint", nil, http.StatusAccepted},
		{"never ran", api, "maint", store.ErrNotFound, http.StatusNotFound},
		{"already queued", api, "maint", store.ErrConflict, http.StatusConflict},
		{"unknown series", "/api/v1/series/999999/ci/rerun", "maint", nil, http.StatusNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr.err = tc.err
			res := e.do(req{Method: "POST", Path: tc.path, Token: e.tokens[tc.token]})
			if res.code != tc.code {
				t.Errorf("POST %s as %q = %d %s, want %d", tc.path, tc.token, res.code, res.body, tc.code)
			}
		})
	}
	rr.err = nil
	if len(rr.ids) != 3 || rr.ids[0] != e.series["sec"] {
		t.Errorf("re-run asked for %v, want the maintainer's three requests on sec", rr.ids)
	}

	// The button: only once CI has finished with the series, for
	// maintainers; the form needs the CSRF token.
	cookie := e.signin("maint@example.org").Value
	page := func(c string) string { return string(e.do(req{Path: "/series/" + sec + "/", Cookie: c}).body) }
	if strings.Contains(page(cookie), "Re-run checks") {
		t.Error("button without any CI check")
	}
	for _, c := range []store.Check{{Context: "patchwell/check", State: store.CheckFail}, {Context: "patchwell/apply", PatchIndex: 1, State: store.CheckSuccess, Description: "applied as 0123456789ab"}} {
		c.SeriesID = e.series["sec"]
		if _, err := e.st.SetCheck(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	body := page(cookie)
	if !strings.Contains(body, `<form method="post" action="/series/`+sec+`/ci/rerun" class="ci-rerun">`) {
		t.Errorf("no re-run button for the maintainer:\n%s", body)
	}
	if !strings.Contains(body, `(CI sandbox commit <code>0123456789ab</code>, not on the branch)`) || strings.Contains(body, "applied as 0123456789ab") {
		t.Error("the apply check's commit is not labelled as the CI sandbox's")
	}
	if strings.Contains(page(e.signin("user@example.org").Value), "Re-run checks") {
		t.Error("button for a reader who is not a maintainer")
	}
	if res := e.do(req{Method: "POST", Path: "/series/" + sec + "/ci/rerun", Cookie: cookie, Body: "csrf=bad"}); res.code != http.StatusForbidden {
		t.Errorf("form without the CSRF token: %d", res.code)
	}
	res := e.do(req{Method: "POST", Path: "/series/" + sec + "/ci/rerun", Cookie: cookie, Body: "csrf=" + e.csrf(cookie)})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/series/"+sec+"/#checks" {
		t.Errorf("form: %d %s", res.code, res.header.Get("Location"))
	}
	if _, err := e.st.SetCheck(ctx, &store.Check{SeriesID: e.series["sec"], Context: "patchwell/check", State: store.CheckPending}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page(cookie), "Re-run checks") {
		t.Error("button while CI runs")
	}

	// Without CI: 404.
	e2 := newAuthEnv(t, Config{})
	if res := e2.do(req{Method: "POST", Path: "/api/v1/series/" + id(e2.series["sec"]) + "/ci/rerun", Token: e2.tokens["maint"]}); res.code != http.StatusNotFound {
		t.Errorf("without CI: %d", res.code)
	}
}

// TestRevisionPicker: the series page of a revision links every
// revision, marks its own, and its form sends the reader to the
// range-diff of the two chosen.
func TestRevisionPicker(t *testing.T) {
	e, ids := dashEnv(t)
	v1, v2 := id(ids["p-pub@example.org"]), id(ids["p2-pub@example.org"])
	body := string(e.do(req{Path: "/series/" + v2 + "/"}).body)
	for _, want := range []string{
		`<nav class="revisions" aria-label="revisions">`,
		`<a class="rev" href="/series/` + v1 + `/">v1</a> <strong aria-current="page" class="rev current">v2</strong>`,
		`<form class="range-diff" method="get" action="/series/` + v2 + `/compare">`,
		`<select name="from" aria-label="from revision"><option value="` + v1 + `" selected>v1</option><option value="` + v2 + `">v2</option></select>`,
		`<select name="to" aria-label="to revision"><option value="` + v1 + `">v1</option><option value="` + v2 + `" selected>v2</option></select>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("series page lacks %s", want)
		}
	}
	if strings.Contains(string(e.do(req{Path: "/series/" + id(ids["o-pub@example.org"]) + "/"}).body), `class="revisions"`) {
		t.Error("a picker on a series without other revisions")
	}
	res := e.do(req{Path: "/series/" + v2 + "/compare?from=" + v1 + "&to=" + v2})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/series/"+v1+"/diff/"+v2+"/" {
		t.Errorf("compare: %d %s", res.code, res.header.Get("Location"))
	}
	if res := e.do(req{Path: res.header.Get("Location")}); res.code != 200 {
		t.Errorf("the range-diff it leads to: %d", res.code)
	}
	for _, bad := range []string{"?from=" + v1 + "&to=" + v1, "?from=x&to=" + v2, ""} {
		if res := e.do(req{Path: "/series/" + v2 + "/compare" + bad}); res.code != http.StatusBadRequest {
			t.Errorf("compare%s = %d, want 400", bad, res.code)
		}
	}
}
