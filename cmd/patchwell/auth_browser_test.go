package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSignInAndStatusInBrowser drives headless Chromium (through the
// DevTools protocol, with chromedp) as a maintainer would: open a series
// of a private list (404 while signed out), sign in on the form, change the
// status with a comment, and see it in the history. A screenshot of the
// series page is kept (in $PATCHWELL_ARTIFACTS when set).
func TestSignInAndStatusInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data, "--visibility", "private")
	if _, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", corpusPath(t, "patchwork/series/revision-basic.mbox")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mae Maintainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	tok, _, _ := cli(t, nil, "user", "token", "maint@example.org", "test", "--data", data)
	srv := startServer(t, data)
	var list struct{ Series []apiSeries }
	srv.getJSONAuth("/api/v1/lists/dev/series", strings.TrimSpace(tok), &list)
	if len(list.Series) == 0 {
		t.Fatal("no series")
	}
	id := list.Series[0].ID
	base := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", base, id)

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath("chromium"), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1600),
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
	// follow runs an action that leads to another page and waits for it
	// to load (the page it leaves may have what the next one is
	// recognised by).
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
	step("open the series signed out", chromedp.Navigate(page))
	anon := text("body")
	step("open the sign-in form", chromedp.Navigate(base+"/signin?next="+fmt.Sprintf("/series/%d/", id)))
	step("type the address", chromedp.SendKeys(chromedp.CSS(`input[name="email"]`), "maint@example.org"))
	step("type the password", chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), "correct horse battery"))
	follow("sign in", chromedp.Click(chromedp.CSS(`form[action="/signin"] button`)))
	step("see the status form", chromedp.WaitVisible(chromedp.CSS(`form.status-form`)))
	step("choose approved", chromedp.SetValue(chromedp.CSS(`select[name="status"]`), "approved"))
	step("type a comment", chromedp.SendKeys(chromedp.CSS(`input[name="comment"]`), "ship it <b>now</b>"))
	follow("change the status", chromedp.Click(chromedp.CSS(`form.status-form button`)))
	step("see the history", chromedp.WaitVisible(chromedp.CSS(`ol.history li`)))
	history := text("ol.history")
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !strings.Contains(anon, "series not found") {
		t.Errorf("signed out, the private series page says %q, want a 404", anon)
	}
	if !strings.Contains(history, "Mae Maintainer:") || !strings.Contains(history, "→ approved") || !strings.Contains(history, "ship it <b>now</b>") {
		t.Errorf("history after the change: %q", history)
	}
	var s struct {
		Status  string
		History []struct{ To, Comment string }
	}
	srv.getJSONAuth(fmt.Sprintf("/api/v1/series/%d", id), strings.TrimSpace(tok), &s)
	if s.Status != "approved" || len(s.History) != 1 || s.History[0].Comment != "ship it <b>now</b>" {
		t.Errorf("series after the browser changed it: %+v", s)
	}
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	os.MkdirAll(dir, 0o755)
	out := filepath.Join(dir, "series-status.png")
	if err := os.WriteFile(out, png, 0o644); err != nil || !bytes.HasPrefix(png, []byte("\x89PNG")) {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
}
