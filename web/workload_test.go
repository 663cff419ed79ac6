package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// newWorkEnv is newAuthEnv with the workload on, and more series on the
// private list sec: it returns their ids, oldest first.
func newWorkEnv(t *testing.T) (*authEnv, []int64) {
	t.Helper()
	e := newAuthEnv(t, Config{})
	e.h.cfg.Workload = e.st
	ctx := context.Background()
	in := review.NewIngester(e.st, review.Config{})
	for i := 2; i <= 3; i++ {
		// Another diff: not a new revision of the first.
		raw := bytes.Replace(patchMail("sec", fmt.Sprintf("p%d-sec@example.org", i), fmt.Sprintf("change %d of sec", i)),
			[]byte("+new"), []byte(fmt.Sprintf("+new %d", i)), 1)
		if err := in.Post(ctx, review.Post{Lists: []string{"sec"}, Raw: raw}); err != nil {
			t.Fatal(err)
		}
	}
	in.Close()
	ss, err := e.st.SeriesList(ctx, "sec", "", store.Page{})
	if err != nil || len(ss) != 3 || slices.ContainsFunc(ss, func(s store.Series) bool { return s.Status != store.StatusProposed }) {
		t.Fatalf("series of sec: %v %v", ss, err)
	}
	var ids []int64
	for _, s := range ss {
		ids = append(ids, s.ID)
	}
	slices.Sort(ids)
	return e, ids
}

func (e *authEnv) userID(email string) int64 {
	e.t.Helper()
	u, err := e.st.UserByEmail(context.Background(), email)
	if err != nil {
		e.t.Fatal(err)
	}
	return u.ID
}

func TestDelegateForm(t *testing.T) {
	e, _ := newWorkEnv(t)
	sec := e.series["sec"]
	page := fmt.Sprintf("/series/%d/", sec)
	post := fmt.Sprintf("/series/%d/delegate", sec)
	owner, user := e.userID("owner@example.org"), e.userID("user@example.org")
	cm := e.signin("maint@example.org")
	res := e.do(req{Path: page, Cookie: cm.Value})
	body := string(res.body)
	if res.code != 200 || !strings.Contains(body, `class="delegate-form"`) ||
		!strings.Contains(body, fmt.Sprintf(`<option value="%d">Owner &lt;owner@example.org&gt;</option>`, owner)) ||
		strings.Contains(body, "user@example.org</option>") {
		t.Fatalf("maintainer's series page: %d, delegate form with the list's maintainers only:\n%s", res.code, body)
	}
	csrf := e.csrf(cm.Value)
	form := func(v url.Values) string { return v.Encode() }
	for _, tc := range []struct {
		name   string
		cookie string
		path   string
		body   string
		want   int
		says   string
	}{
		{"no csrf token", cm.Value, post, form(url.Values{"delegate": {strconv.FormatInt(owner, 10)}}), http.StatusForbidden, "csrf"},
		{"anonymous, private list", "", post, form(url.Values{"delegate": {strconv.FormatInt(owner, 10)}}), http.StatusNotFound, ""},
		{"anonymous, public list", "", fmt.Sprintf("/series/%d/delegate", e.series["pub"]), "", http.StatusForbidden, ""},
		{"not a maintainer of the delegate's list", cm.Value, post, form(url.Values{"csrf": {csrf}, "delegate": {strconv.FormatInt(user, 10)}}), http.StatusBadRequest, "user@example.org is not a maintainer of the list"},
		{"bad delegate", cm.Value, post, form(url.Values{"csrf": {csrf}, "delegate": {"owner"}}), http.StatusBadRequest, "bad delegate"},
		{"patch of another series", cm.Value, post, form(url.Values{"csrf": {csrf}, "delegate": {strconv.FormatInt(owner, 10)}, "patch": {"99999"}}), http.StatusNotFound, "no such patch"},
		{"maintainer of another list", cm.Value, fmt.Sprintf("/series/%d/delegate", e.series["pub"]), form(url.Values{"csrf": {csrf}}), http.StatusForbidden, ""},
		{"unknown series", cm.Value, "/series/99999/delegate", form(url.Values{"csrf": {csrf}}), http.StatusNotFound, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := e.do(req{Method: "POST", Path: tc.path, Cookie: tc.cookie, Body: tc.body})
			if res.code != tc.want || !strings.Contains(string(res.body), tc.says) {
				t.Fatalf("%d %s, want %d saying %q", res.code, res.body, tc.want, tc.says)
			}
		})
	}
	// A user without a role on the private list: it does not exist.
	cu := e.signin("user@example.org")
	if res := e.do(req{Method: "POST", Path: post, Cookie: cu.Value, Body: form(url.Values{"csrf": {e.csrf(cu.Value)}})}); res.code != http.StatusNotFound {
		t.Fatalf("no role on the private list: %d, want 404", res.code)
	}
	res = e.do(req{Method: "POST", Path: post, Cookie: cm.Value, Body: form(url.Values{"csrf": {csrf}, "delegate": {strconv.FormatInt(owner, 10)}})})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != page+"#delegate" {
		t.Fatalf("delegate: %d %s", res.code, res.body)
	}
	ws, _ := e.st.SeriesWork(context.Background(), []int64{sec})
	if ws[sec].DelegateID != owner {
		t.Fatalf("stored delegate = %d, want %d", ws[sec].DelegateID, owner)
	}
	// Shown on the series page (to every reader) and in the list's rows.
	res = e.do(req{Path: page, Token: e.tokens["admin"]})
	if !strings.Contains(string(res.body), `Delegated to <strong class="delegate">Owner &lt;owner@example.org&gt;</strong>`) {
		t.Fatalf("series page without the delegate:\n%s", res.body)
	}
	res = e.do(req{Path: "/sec/", Cookie: cm.Value})
	if !strings.Contains(string(res.body), `<span class="delegate" title="delegated to owner@example.org">→ Owner</span>`) {
		t.Fatalf("list page row without the delegate:\n%s", res.body)
	}
	// Cleared.
	res = e.do(req{Method: "POST", Path: post, Cookie: cm.Value, Body: form(url.Values{"csrf": {csrf}, "delegate": {""}})})
	if res.code != http.StatusSeeOther {
		t.Fatalf("clear: %d %s", res.code, res.body)
	}
	if res := e.do(req{Path: page, Cookie: cm.Value}); !strings.Contains(string(res.body), "Delegated to nobody") {
		t.Fatalf("cleared delegate still shown:\n%s", res.body)
	}
}

func TestBulkActions(t *testing.T) {
	e, ids := newWorkEnv(t)
	owner := e.userID("owner@example.org")
	cm := e.signin("maint@example.org")
	csrf := e.csrf(cm.Value)
	// The form and the checkboxes for maintainers only.
	res := e.do(req{Path: "/sec/", Cookie: cm.Value})
	body := string(res.body)
	if !strings.Contains(body, `<form id="bulk" class="bulk" method="post" action="/sec/bulk">`) ||
		!strings.Contains(body, fmt.Sprintf(`<input type="checkbox" name="series" value="%d" form="bulk"`, ids[0])) {
		t.Fatalf("maintainer's list page lacks the bulk form:\n%s", body)
	}
	cu := e.signin("user@example.org")
	if res := e.do(req{Path: "/pub/", Cookie: cu.Value}); strings.Contains(string(res.body), `id="bulk"`) || strings.Contains(string(res.body), `name="series"`) {
		t.Fatal("a user without a role sees the bulk form")
	}
	bulk := func(cookie string, v url.Values) response {
		t.Helper()
		return e.do(req{Method: "POST", Path: "/sec/bulk", Cookie: cookie, Body: v.Encode()})
	}
	sel := []string{strconv.FormatInt(ids[0], 10), strconv.FormatInt(ids[1], 10), strconv.FormatInt(e.series["pub"], 10), "99999"}
	for _, tc := range []struct {
		name   string
		cookie string
		form   url.Values
		want   int
		says   string
	}{
		{"no csrf token", cm.Value, url.Values{"series": sel, "do": {"archive"}}, http.StatusForbidden, "csrf"},
		{"nothing ticked", cm.Value, url.Values{"csrf": {csrf}, "do": {"archive"}}, http.StatusBadRequest, "no series selected"},
		{"bad action", cm.Value, url.Values{"csrf": {csrf}, "series": sel, "do": {"merge"}}, http.StatusBadRequest, "bad action"},
		{"bad status", cm.Value, url.Values{"csrf": {csrf}, "series": sel, "do": {"status"}, "status": {"superseded"}}, http.StatusBadRequest, "bad status"},
		{"bad series", cm.Value, url.Values{"csrf": {csrf}, "series": {"x"}, "do": {"archive"}}, http.StatusBadRequest, "bad series"},
	} {
		if tc.form == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			res := bulk(tc.cookie, tc.form)
			if res.code != tc.want || !strings.Contains(string(res.body), tc.says) {
				t.Fatalf("%d %s, want %d saying %q", res.code, res.body, tc.want, tc.says)
			}
		})
	}
	// Without a role: the private list does not exist; on a public one,
	// refused.
	if res := bulk(cu.Value, url.Values{"csrf": {e.csrf(cu.Value)}, "series": sel, "do": {"archive"}}); res.code != http.StatusNotFound {
		t.Fatalf("no role, private list: %d", res.code)
	}
	if res := e.do(req{Method: "POST", Path: "/pub/bulk", Cookie: cm.Value, Body: url.Values{"csrf": {csrf}, "series": sel, "do": {"archive"}}.Encode()}); res.code != http.StatusForbidden {
		t.Fatalf("maintainer of another list: %d", res.code)
	}
	// Status: two changed, another list's series and an unknown one refused.
	res = bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel, "do": {"status"}, "status": {"approved"}, "comment": {"batch"}})
	body = string(res.body)
	if res.code != 200 || !strings.Contains(body, "2 series changed, 2 refused.") || !strings.Contains(body, "not a series of sec") ||
		!strings.Contains(body, "series 99999: no such series") {
		t.Fatalf("bulk status: %d\n%s", res.code, body)
	}
	for _, id := range ids[:2] {
		if h, _ := e.st.StatusHistory(context.Background(), id); len(h) != 1 || h[0].To != "approved" || h[0].Comment != "batch" {
			t.Fatalf("series %d history: %+v", id, h)
		}
	}
	if s, _ := e.st.Series(context.Background(), e.series["pub"]); s.Status != store.StatusProposed {
		t.Fatalf("the other list's series changed: %s", s.Status)
	}
	// Again: refused, already so.
	res = bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel[:2], "do": {"status"}, "status": {"approved"}})
	if !strings.Contains(string(res.body), "0 series changed, 2 refused.") || !strings.Contains(string(res.body), "already approved") {
		t.Fatalf("bulk status again:\n%s", res.body)
	}
	// Delegate, then a delegate who is no maintainer.
	res = bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel[:2], "do": {"delegate"}, "delegate": {strconv.FormatInt(owner, 10)}})
	if !strings.Contains(string(res.body), "2 series changed.") || !strings.Contains(string(res.body), "Delegated to Owner &lt;owner@example.org&gt;") {
		t.Fatalf("bulk delegate:\n%s", res.body)
	}
	res = bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel[:2], "do": {"delegate"}, "delegate": {strconv.FormatInt(e.userID("user@example.org"), 10)}})
	if !strings.Contains(string(res.body), "0 series changed, 2 refused.") || !strings.Contains(string(res.body), "is not a maintainer of the list") {
		t.Fatalf("bulk delegate to a non-maintainer:\n%s", res.body)
	}
	// Archive: hidden from the list page, shown with archived=1.
	res = bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel[:2], "do": {"archive"}})
	if !strings.Contains(string(res.body), "2 series changed.") {
		t.Fatalf("bulk archive:\n%s", res.body)
	}
	shown := func(q string) int {
		res := e.do(req{Path: "/sec/" + q, Cookie: cm.Value})
		return strings.Count(string(res.body), `name="series" value=`)
	}
	if n := shown(""); n != 1 {
		t.Fatalf("list page shows %d series, want the one not archived", n)
	}
	if n := shown("?archived=1"); n != 3 {
		t.Fatalf("list page with archived=1 shows %d series, want 3", n)
	}
	if res := e.do(req{Path: "/sec/?archived=yes", Cookie: cm.Value}); res.code != http.StatusBadRequest {
		t.Fatalf("archived=yes: %d", res.code)
	}
	bulk(cm.Value, url.Values{"csrf": {csrf}, "series": sel[:2], "do": {"unarchive"}})
	if n := shown(""); n != 3 {
		t.Fatalf("unarchived: list page shows %d series", n)
	}
}

func TestStatusMailSetting(t *testing.T) {
	e, _ := newWorkEnv(t)
	c := e.signin("user@example.org")
	res := e.do(req{Path: "/account", Cookie: c.Value})
	if !strings.Contains(string(res.body), `<input type="checkbox" name="status_mail" value="1" checked>`) {
		t.Fatalf("account page: status mail not offered, on:\n%s", res.body)
	}
	csrf := e.csrf(c.Value)
	if res := e.do(req{Method: "POST", Path: "/account/notifications", Cookie: c.Value, Body: "status_mail=1"}); res.code != http.StatusForbidden {
		t.Fatalf("without csrf: %d", res.code)
	}
	if res := e.do(req{Method: "POST", Path: "/account/notifications", Cookie: c.Value, Body: "csrf=" + csrf + "&status_mail=yes"}); res.code != http.StatusBadRequest {
		t.Fatalf("status_mail=yes: %d", res.code)
	}
	res = e.do(req{Method: "POST", Path: "/account/notifications", Cookie: c.Value, Body: "csrf=" + csrf})
	if res.code != http.StatusSeeOther {
		t.Fatalf("opt out: %d %s", res.code, res.body)
	}
	if on, _ := e.st.StatusMail(context.Background(), e.userID("user@example.org")); on {
		t.Fatal("still on after opting out")
	}
	if res := e.do(req{Path: "/account", Cookie: c.Value}); !strings.Contains(string(res.body), `<input type="checkbox" name="status_mail" value="1">`) {
		t.Fatalf("account page after opting out:\n%s", res.body)
	}
}
