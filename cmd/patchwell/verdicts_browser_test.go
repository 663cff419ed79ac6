package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestPendingReviewInBrowser drives headless Chromium through a pending
// review as a GitHub reviewer would do one: sign in, "Add to review" on
// three diff lines of two patches (one marked as an issue to fix), reload
// (the pending comments are still there, kept by the server), then
// submit the review with a summary and Reviewed-by. The replies must be
// in the archive (the thread page), at a subscriber's and at the patch
// author's through the smarthost, and the series page shows the verdict
// and the open issue; the series mbox carries the trailer on every patch.
// Screenshots go to $PATCHWELL_ARTIFACTS when set.
func TestPendingReviewInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	needTool(t, "git", "send-email", "--help")
	sk := startSink(t)
	data := t.TempDir()
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Rita Reviewer", "rita@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	srv := startServer(t, data, "--domain", "patchwell.localhost", "--smarthost", sk.addr)
	run(t, data, binary, "sub", "add", "amy@example.org", "--list", "dev", "--data", data)
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	base := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", base, s.ID)
	shots := os.Getenv("PATCHWELL_ARTIFACTS")
	if shots == "" {
		shots = t.TempDir()
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1400))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil || len(png) < 10000 {
			t.Fatalf("screenshot %s: %d bytes, %v", name, len(png), err)
		}
	}
	// Three lines of two patches: a.c lines 1 and 3 (patch 1), README
	// line 2 (patch 2).
	comments := []struct{ row, text string }{
		{`tr[id="p1-f0-n1"]`, "Name it add_a."},
		{`tr[id="p1-f0-n3"]`, "Return 0 on success."},
		{`tr[id="p2-f0-n2"]`, "Capitalise World."},
	}
	err := chromedp.Do(ctx,
		chromedp.Navigate(base+"/signin?next="+url.QueryEscape(strings.TrimPrefix(page, base))),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "rita@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`form[action^="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#your-review`)),
	)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	for i, c := range comments {
		steps := []chromedp.Action[chromedp.Void]{
			chromedp.Click(chromedp.CSS(c.row + ` details.cl > summary`)),
			chromedp.SendKeys(chromedp.CSS(c.row+` textarea`), c.text),
		}
		if i == 2 {
			steps = append(steps, chromedp.Click(chromedp.CSS(c.row+` input[type=checkbox]`)))
		}
		// drafts.js saves it and shows it under the line without a reload.
		steps = append(steps, chromedp.Click(chromedp.CSS(c.row+` button.add-draft`)),
			chromedp.WaitVisible(chromedp.CSS(c.row+` + tr.drafts`)))
		if i == 2 {
			// The line's form open, before it is added: a screenshot.
			if err := chromedp.Do(ctx, steps[:len(steps)-2]...); err != nil {
				t.Fatalf("comment %d: %v", i+1, err)
			}
			shot("series-line-form.png")
			steps = steps[len(steps)-2:]
		}
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatalf("comment %d: %v", i+1, err)
		}
	}
	// A reload: the server kept them, editable in place.
	err = chromedp.Do(ctx, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`#your-review .pending-count`)),
		chromedp.WaitVisible(chromedp.CSS(comments[0].row+` + tr.drafts textarea`)),
		chromedp.WaitVisible(chromedp.CSS(comments[2].row+` + tr.drafts .state.issue`)),
		chromedp.ScrollIntoView(chromedp.CSS(comments[0].row)))
	if err != nil {
		t.Fatalf("after reload: %v", err)
	}
	n, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#your-review .pending-count`)))
	if err != nil || strings.TrimSpace(n) != "3" {
		t.Fatalf("pending count after reload = %q, %v", n, err)
	}
	for _, c := range comments {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).value`, c.row+` + tr.drafts textarea`)))
		if err != nil || v != c.text {
			t.Errorf("pending comment at %s after reload = %q, %v", c.row, v, err)
		}
	}
	shot("series-pending.png")

	err = chromedp.Do(ctx,
		chromedp.ScrollIntoView(chromedp.CSS(`#submit-summary`)),
		chromedp.SendKeys(chromedp.CSS(`#submit-summary`), "Looks good apart from the nits below."),
		chromedp.Click(chromedp.CSS(`#submit-review button[value="Reviewed-by"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review-done`)),
		chromedp.WaitVisible(chromedp.CSS(`#reviews a.verdict.approved`)),
		chromedp.ScrollIntoView(chromedp.CSS(`h1`)),
	)
	if err != nil {
		t.Fatalf("submit: %v", err)
	}
	reviews, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#reviews`)))
	if err != nil || !strings.Contains(reviews, "Rita Reviewer") || !strings.Contains(reviews, "Reviewed-by") {
		t.Errorf("reviews section: %q, %v", reviews, err)
	}
	issues, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#issues`)))
	if err != nil || !strings.Contains(issues, "Open issues: 1") || !strings.Contains(issues, "Capitalise World.") {
		t.Errorf("issues section: %q, %v", issues, err)
	}
	if n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("tr.drafts").length`)); n != 0 {
		t.Errorf("%d pending rows after submitting", n)
	}
	shot("series-verdicts.png")

	// The archive: the thread page holds the summary and the comments.
	err = chromedp.Do(ctx, chromedp.Navigate(base+"/dev/"+url.PathEscape(s.CoverMessageID)+"/t/"),
		chromedp.WaitVisible(chromedp.CSS(`body`)))
	if err != nil {
		t.Fatalf("thread page: %v", err)
	}
	thread, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`body`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Looks good apart from the nits below.", "Reviewed-by: Rita Reviewer <rita@example.org>", "Name it add_a.", "Return 0 on success.", "Capitalise World."} {
		if !strings.Contains(thread, want) {
			t.Errorf("thread page lacks %q", want)
		}
	}
	shot("thread-review.png")

	// The mail: three replies from Rita at the subscriber (after the
	// series' four) and at the author, Cc'd.
	check := func(who string, n int) {
		t.Helper()
		var mine []string
		for _, m := range sk.waitFor(t, who, n) {
			if d := strings.ReplaceAll(string(m.data), "\r\n", "\n"); strings.Contains(d, "rita@example.org>\nTo: dev@patchwell.localhost") || strings.Contains(d, "From: \"Rita Reviewer\" <rita@example.org>") {
				mine = append(mine, d)
			}
		}
		all := strings.Join(mine, "\n")
		if len(mine) != 3 || !strings.Contains(all, "Reviewed-by: Rita Reviewer <rita@example.org>") ||
			!strings.Contains(all, "> +\treturn 1;\n\nReturn 0 on success.") || !strings.Contains(all, "> +world\n\nCapitalise World.") {
			t.Errorf("%s got %d replies from Rita:\n%s", who, len(mine), all)
		}
	}
	check("amy@example.org", 7)
	check("ada@example.org", 3)

	// The trailer on every patch of the series mbox, and the API.
	_, mbox := fetch(t, http.DefaultClient, fmt.Sprintf("%s/api/v1/series/%d/mbox", base, s.ID))
	if c := strings.Count(mbox, "Reviewed-by: Rita Reviewer <rita@example.org>\n"); c != 3 {
		t.Errorf("series mbox has the trailer %d times, want 3:\n%s", c, mbox)
	}
	var api struct {
		Reviews []struct{ Kind, State string } `json:"reviews"`
		Issues  []struct{ Body, State string } `json:"issues"`
	}
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &api)
	if len(api.Reviews) != 1 || api.Reviews[0].Kind != "Reviewed-by" || len(api.Issues) != 1 || api.Issues[0].State != "open" {
		t.Errorf("API reviews %+v, issues %+v", api.Reviews, api.Issues)
	}

	// The verdict on the list page: Rita's Reviewed-by in the A/R/T
	// counts, no request for changes.
	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/dev/"), chromedp.WaitVisible(chromedp.CSS(`table.dashboard`))); err != nil {
		t.Fatalf("list page: %v", err)
	}
	row := fmt.Sprintf(`table.dashboard tr:has(a[href="/series/%d/"])`, s.ID)
	art, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row+" td.art")))
	if err != nil || art != "0 1 0" {
		t.Errorf("the list page's reviews of the series: %q, %v; want A/R/T 0 1 0", art, err)
	}
	changes, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(row+" td.changes")))
	if err != nil || changes != "–" {
		t.Errorf("the list page's changes requested: %q, %v; want none", changes, err)
	}
	shot("list-verdict.png")
}
