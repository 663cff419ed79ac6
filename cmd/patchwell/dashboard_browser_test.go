package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDashboardInBrowser loads, in headless Chromium (chromedp), the list
// page of a list whose v2 series has checks (S/W/F) and a Reviewed-by
// given in a reply, signed in as the reviewer: the row's columns show
// them, superseded v1 is hidden, the header links "My reviews", which
// lists the series; the series page has the revision picker and labels
// the apply check's commit as the CI sandbox's. Screenshots of the list
// page, "my reviews" and the series page's picker and checks are kept
// (in $PATCHWELL_ARTIFACTS when set).
func TestDashboardInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	if _, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", corpusPath(t, "patchwork/series/revision-basic.mbox")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mae Maintainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	tok, _, _ := cli(t, nil, "user", "token", "maint@example.org", "test", "--data", data)
	tok = strings.TrimSpace(tok)
	srv := startServer(t, data)
	base := "http://" + srv.http
	var list struct{ Series []apiSeries }
	srv.getJSONAuth("/api/v1/lists/dev/series", tok, &list)
	var v1, v2 apiSeries
	for _, s := range list.Series {
		if s.Version == 2 {
			v2 = s
		} else {
			v1 = s
		}
	}
	if v1.ID == 0 || v2.ID == 0 {
		t.Fatalf("want v1 and v2: %+v", list.Series)
	}
	for _, c := range []string{
		`{"context":"build","state":"success"}`, `{"context":"test","state":"success"}`,
		`{"context":"lint","state":"warning","description":"long lines"}`, `{"context":"sparse","state":"fail"}`,
		`{"context":"patchwell/apply","state":"success","description":"applied as 0123456789ab","patch_index":1}`,
	} {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/api/v1/series/%d/checks", base, v2.ID), strings.NewReader(c))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != http.StatusCreated {
			t.Fatalf("POST check %s: %v %v", c, res, err)
		}
		res.Body.Close()
	}
	patch1 := "1473632795-9971-2-git-send-email-stephenfinucane@gmail.com"
	sendRaw(t, srv.smtp, "maint@example.org", []string{"dev@patchwell.localhost"},
		"From: Mae Maintainer <maint@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: [PATCH v2 1/2] test: Add some lorem ipsum\r\n"+
			"Message-ID: <review-1@example.org>\r\nIn-Reply-To: <"+patch1+">\r\nReferences: <"+patch1+">\r\n"+
			"Date: Mon, 12 Sep 2016 00:00:00 +0000\r\n\r\nLooks good.\r\n\r\nReviewed-by: Mae Maintainer <maint@example.org>\r\n")

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	step := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, a); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	// follow runs an action that leads to another page and waits for
	// that page to load: the page it leaves has the same table, so
	// waiting for the table alone would read the old page as it goes.
	follow := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.RunResponse(ctx, a); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	text := func(sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(sel))
		if err != nil {
			t.Fatalf("browser: text of %s: %v", sel, err)
		}
		return s
	}
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	save := func(name string, png []byte, err error) {
		t.Helper()
		if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
			t.Fatalf("screenshot %s: %d bytes, %v", name, len(png), err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	step("open the sign-in form", chromedp.Navigate(base+"/signin?next=/dev/"))
	step("type the address", chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "maint@example.org"))
	step("type the password", chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct horse battery"))
	step("sign in", chromedp.Click(chromedp.CSS(`form[action="/signin"] button`)))
	step("see the dashboard", chromedp.WaitVisible(chromedp.CSS(`table.dashboard`)))
	row := fmt.Sprintf(`table.dashboard tr:has(a[href="/series/%d/"])`, v2.ID)
	checks, reviews := text(chromedp.CSS(row+" td.swf")), text(chromedp.CSS(row+" td.art"))
	if checks != "3 1 1" || reviews != "0 1 0" {
		t.Errorf("v2's row: checks %q (want S/W/F 3 1 1: build, test, the apply check; lint; sparse), reviews %q (want A/R/T 0 1 0)", checks, reviews)
	}
	if open := text(chromedp.CSS(row + " td.open")); open != "1" {
		t.Errorf("v2's open comments: %q, want 1 (the review, unresolved, as on the series page)", open)
	}
	table := text("table.dashboard")
	for _, h := range []string{"Checks", "Reviews", "Open", "Activity", "Date"} {
		if !strings.Contains(table, h) {
			t.Errorf("no %s column: %q", h, table)
		}
	}
	if strings.Contains(table, "v1") || strings.Count(table, "A sample series") != 1 {
		t.Errorf("superseded v1 shown by default: %q", table)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	save("dashboard-list.png", png, err)

	step("filter: has my review", chromedp.SetValue(chromedp.CSS(`select[name="review"]`), "mine"))
	follow("submit the filters", chromedp.Click(chromedp.CSS(`form.filters button`)))
	step("see the filtered page", chromedp.WaitVisible(chromedp.CSS(`table.dashboard`)))
	if s := text("table.dashboard tbody"); !strings.Contains(s, "A sample series") {
		t.Errorf("has my review: %q", s)
	}
	follow("sort by checks", chromedp.Click(chromedp.CSS(`th a[href*="sort=checks"]`)))
	step("see the sorted page", chromedp.WaitVisible(chromedp.CSS(`th[aria-sort="descending"] a[href*="sort=checks"]`)))

	follow("follow My reviews", chromedp.Click(chromedp.CSS(`header.site a[href="/account/reviews"]`)))
	step("see my reviews", chromedp.WaitVisible(chromedp.CSS(`table.dashboard`)))
	if s := text("table.dashboard tbody"); !strings.Contains(s, "A sample series") || !strings.Contains(s, "dev") {
		t.Errorf("my reviews: %q", s)
	}
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	save("dashboard-my-reviews.png", png, err)

	step("open v2", chromedp.Navigate(fmt.Sprintf("%s/series/%d/", base, v2.ID)))
	step("see the picker", chromedp.WaitVisible(chromedp.CSS(`nav.revisions`)))
	if s := text("nav.revisions"); !strings.Contains(s, "v1") || !strings.Contains(s, "v2") {
		t.Errorf("picker: %q", s)
	}
	if s := text("#patch-1 .patch-checks"); !strings.Contains(s, "CI sandbox commit 0123456789ab, not on the branch") {
		t.Errorf("patch 1's apply check: %q", s)
	}
	if s := text("#checks"); !strings.Contains(s, "Re-run checks") {
		t.Errorf("no re-run button for the maintainer: %q", s)
	}
	png, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`nav.revisions`)))
	save("series-picker.png", png, err)
	png, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`#checks`)))
	save("series-checks.png", png, err)
	png, err = chromedp.Run(ctx, chromedp.Screenshot(chromedp.CSS(`#patch-1 .patch-checks`)))
	save("series-patch-checks.png", png, err)
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	save("series-page.png", png, err)

	step("compare v1 with v2", chromedp.Click(chromedp.CSS(`form.range-diff button`)))
	want := fmt.Sprintf("/series/%d/diff/%d/", v1.ID, v2.ID)
	var loc string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if loc, err = chromedp.Run(ctx, chromedp.Location()); err != nil || strings.HasSuffix(loc, want) {
			break
		}
	}
	if err != nil || !strings.HasSuffix(loc, want) {
		t.Errorf("the picker's form led to %q (%v), want %s", loc, err, want)
	}
}
