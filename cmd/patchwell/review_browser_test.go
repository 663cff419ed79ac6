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

// TestReviewInBrowser drives headless Chromium through a web review the
// way a person does it, without any JavaScript of ours: sign in, open the
// series, open "+" on a diff line, write a comment and a summary, send.
// The archived reply must quote the right hunk and read back as a comment
// at that line. A screenshot of the page with the comment is kept (in
// $PATCHWELL_ARTIFACTS when set).
func TestReviewInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	// Accounts before the first serve: list create makes the store (only
	// it and serve may).
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Rita Reviewer", "rita@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	srv := startServer(t, data, "--domain", "patchwell.localhost")
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	base := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", base, s.ID)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1600))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	row := `tr[id="p2-f0-n2"]` // README, new line 2: "+world"
	err := chromedp.Do(ctx,
		// Sign in, sent on to the series page: wait for its comment
		// buttons (shown to signed-in users), not just any page, which
		// the form's own navigation would still be replacing.
		chromedp.Navigate(base+"/signin?next="+url.QueryEscape(strings.TrimPrefix(page, base))),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "rita@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`form[action^="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` details.cl > summary`)),
		chromedp.Click(chromedp.CSS(row+` details.cl > summary`)),
		chromedp.SendKeys(chromedp.CSS(row+` textarea`), "Capitalise World."),
		chromedp.SendKeys(chromedp.CSS(`#review-p2-summary`), "From the browser."),
		chromedp.Click(chromedp.CSS(`#review-p2 button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#review-done`)),
		chromedp.ScrollIntoView(chromedp.CSS(`tr.comments`)),
	)
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	notice, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#review-done a`)))
	if err != nil {
		t.Fatalf("browser: %v", err)
	}
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	msgid := strings.TrimSpace(notice)
	if !strings.HasSuffix(msgid, "@patchwell.localhost") {
		t.Fatalf("notice names %q", notice)
	}
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.WriteFile(filepath.Join(dir, "series-review.png"), png, 0o644); err != nil || len(png) < 10000 {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}

	_, raw := fetch(t, http.DefaultClient, base+"/dev/"+url.PathEscape(msgid)+"/raw")
	for _, want := range []string{"From the browser.", "> diff --git a/README b/README\n", "> @@ -1 +1,2 @@\n>  hello\n> +world\n\nCapitalise World.\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("the archived reply lacks %q:\n%s", want, raw)
		}
	}
	var c struct{ Comments []apiComment }
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d/comments", s.ID), &c)
	found := false
	for _, cm := range c.Comments {
		if cm.MessageID == msgid && cm.File == "README" && cm.Side == "new" && cm.Line == 2 && cm.Body == "Capitalise World." {
			found = true
		}
	}
	if !found {
		t.Errorf("the browser review does not read back at README line 2: %+v", c.Comments)
	}
}
