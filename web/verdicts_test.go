package web

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/core"
	"patchwell/store"
)

// TestPendingReview walks the pending review without JavaScript: "Add to
// review" keeps comments server-side (shown in place after the reload,
// editable and deletable), drafts.js's JSON save, Submit with
// Reviewed-by sends them (one mail: a single patch without a cover
// letter), and the page and the API then show the verdict and the open
// issue, which the reviewer resolves.
func TestPendingReview(t *testing.T) {
	e := newAuthEnv(t, Config{})
	id := e.series["pub"]
	page := fmt.Sprintf("/series/%d/", id)
	c := e.signin("user@example.org")
	csrf := e.csrf(c.Value)
	post := func(path string, v url.Values, hdr map[string]string) response {
		t.Helper()
		v.Set("csrf", csrf)
		return e.do(req{Method: "POST", Path: path, Cookie: c.Value, Body: v.Encode(), Header: hdr})
	}
	body := string(e.do(req{Path: page, Cookie: c.Value}).body)
	for _, want := range []string{`id="your-review"`, `value="draft" class="add-draft">Add to review</button>`, `name="i:c:new:1:a.txt"`, `>Request changes</button>`, `<script src="/static/drafts.js" defer></script>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %s", want)
		}
	}
	if anon := string(e.do(req{Path: page}).body); strings.Contains(anon, `id="your-review"`) || strings.Contains(anon, "Add to review") {
		t.Error("an anonymous reader sees the review form")
	}

	review := fmt.Sprintf("/series/%d/review", id)
	res := post(review, url.Values{"patch": {"p-pub@example.org"}, "op": {"draft"}, "c:new:1:a.txt": {"Capitalise"}, "i:c:new:1:a.txt": {"1"}}, nil)
	if res.code != http.StatusSeeOther || !regexp.MustCompile(`^/series/\d+/#draft-\d+$`).MatchString(res.header.Get("Location")) {
		t.Fatalf("Add to review: %d %q %s", res.code, res.header.Get("Location"), res.body)
	}
	first := strings.TrimPrefix(res.header.Get("Location"), page+"#draft-")
	res = post(review, url.Values{"patch": {"p-pub@example.org"}, "op": {"draft"}, "c:old:1:a.txt": {"Why remove it?"}}, map[string]string{"Accept": "application/json"})
	var js struct {
		Drafts []struct {
			ID   int64  `json:"id"`
			Body string `json:"body"`
			Side string `json:"side"`
		} `json:"drafts"`
	}
	if res.code != 200 || json.Unmarshal(res.body, &js) != nil || len(js.Drafts) != 1 || js.Drafts[0].Side != "old" {
		t.Fatalf("Add to review (drafts.js): %d %s", res.code, res.body)
	}
	second := fmt.Sprint(js.Drafts[0].ID)
	body = string(e.do(req{Path: page, Cookie: c.Value}).body)
	for _, want := range []string{`<span class="pending-count">2</span>`, `id="draft-` + first + `"`, `>Capitalise</textarea>`, `>Why remove it?</textarea>`, `class="state issue">issue</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("page after reload lacks %s", want)
		}
	}
	// Nobody else sees them.
	m := e.signin("maint@example.org")
	if other := string(e.do(req{Path: page, Cookie: m.Value}).body); strings.Contains(other, "Capitalise") {
		t.Error("another reviewer sees the pending comments")
	}
	if res := post(fmt.Sprintf("/series/%d/draft", id), url.Values{"op": {"save"}, "id": {first}, "body": {"Capitalise it."}, "issue": {"1"}}, nil); res.code != http.StatusSeeOther {
		t.Fatalf("save: %d %s", res.code, res.body)
	}
	if res := post(fmt.Sprintf("/series/%d/draft", id), url.Values{"op": {"delete"}, "id": {second}}, nil); res.code != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", res.code, res.body)
	}
	body = string(e.do(req{Path: page, Cookie: c.Value}).body)
	if !strings.Contains(body, `>Capitalise it.</textarea>`) || strings.Contains(body, "Why remove it?") || !strings.Contains(body, `<span class="pending-count">1</span>`) {
		t.Errorf("after editing one and deleting the other:\n%s", body)
	}

	submit := fmt.Sprintf("/series/%d/submit", id)
	if res := post(submit, url.Values{"verdict": {"Changes-requested"}}, nil); res.code != http.StatusBadRequest || !strings.Contains(string(res.body), "summary") {
		t.Errorf("Request changes without a summary: %d %s", res.code, res.body)
	}
	res = post(submit, url.Values{"verdict": {"Reviewed-by"}, "summary": {"Fine otherwise."}}, nil)
	if res.code != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), "sent=1#review-done") {
		t.Fatalf("submit: %d %q %s", res.code, res.header.Get("Location"), res.body)
	}
	body = string(e.do(req{Path: page, Cookie: c.Value}).body)
	for _, want := range []string{`id="reviews"`, `<a class="verdict approved"`, `>Reviewed-by</a>`, `Open issues: <span class="count">1</span>`, `No pending comments.`} {
		if !strings.Contains(body, want) {
			t.Errorf("page after submitting lacks %s", want)
		}
	}
	var api struct {
		Reviews []struct {
			Kind, State string
			Reviewer    struct{ Email string }
		} `json:"reviews"`
		Issues []struct {
			Body, State string
			Key         keyJSON `json:"key"`
		} `json:"issues"`
	}
	res = e.do(req{Path: fmt.Sprintf("/api/v1/series/%d", id), Token: e.tokens["user"]})
	if err := json.Unmarshal(res.body, &api); err != nil || len(api.Reviews) != 1 || api.Reviews[0].Kind != "Reviewed-by" || api.Reviews[0].State != "approved" ||
		api.Reviews[0].Reviewer.Email != "user@example.org" || len(api.Issues) != 1 || api.Issues[0].Body != "Capitalise it." || api.Issues[0].State != "open" {
		t.Fatalf("API: %v %s", err, res.body)
	}
	// The reviewer resolves their issue from the list.
	k := api.Issues[0].Key
	rv := url.Values{"r": {k.ReplyMessageID}, "p": {k.PatchMessageID}, "f": {k.File}, "s": {k.Side}, "l": {fmt.Sprint(k.Line)}}.Encode()
	if res := post(fmt.Sprintf("/series/%d/comments/resolve", id), url.Values{"resolve": {rv}}, nil); res.code != http.StatusSeeOther {
		t.Fatalf("resolve: %d %s", res.code, res.body)
	}
	if body := string(e.do(req{Path: page, Cookie: c.Value}).body); !strings.Contains(body, `Open issues: <span class="count">0</span>`) {
		t.Error("the resolved issue is still open")
	}
	// The trailer is collected for the patch (the mbox adds it to the
	// commit message; the fixture's CRLF mail is not one git send-email
	// would store: cmd/patchwell's browser test checks the mbox).
	_, ps, err := e.h.r.Series(context.Background(), id)
	if err != nil || len(ps) != 1 || !slices.ContainsFunc(ps[0].Trailers, func(tr core.Trailer) bool {
		return tr.Key == "Reviewed-by" && tr.Value == "User <user@example.org>"
	}) {
		t.Errorf("patch trailers: %+v, %v", ps, err)
	}
}

// TestReviewersOf: verdicts group by reviewer; one given on an earlier
// revision says so, one given to some patches names them.
func TestReviewersOf(t *testing.T) {
	s := &store.Series{ID: 3, List: "dev", Version: 3}
	rita := core.Person{Name: "Rita", Email: "rita@example.org"}
	got := reviewersOf(s, []store.Verdict{
		{Reviewer: rita, Kind: store.VerdictReviewed, OnSeries: 2, Version: 2, Patches: []int{}, MessageID: "r@x"},
		{Reviewer: core.Person{Email: "tom@example.org"}, Kind: store.VerdictChangesRequested, OnSeries: 3, Version: 3, Patches: []int{1, 3}, MessageID: "t@x"},
		{Reviewer: rita, Kind: store.VerdictTested, OnSeries: 3, Version: 3, Patches: []int{2}, MessageID: "r2@x"},
	})
	want := []reviewerView{
		{Name: "Rita", Email: "rita@example.org", Badges: []verdictBadge{
			{Label: "Reviewed-by", Class: "approved", On: 2, URL: "/dev/r@x/"},
			{Label: "Tested-by", Class: "approved", Patches: "patch 2", URL: "/dev/r2@x/"}}},
		{Name: "tom@example.org", Email: "tom@example.org", Badges: []verdictBadge{
			{Label: "Changes requested", Class: "changes", Patches: "patches 1, 3", URL: "/dev/t@x/"}}},
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("reviewersOf() (-want +got):\n%s", d)
	}
}
