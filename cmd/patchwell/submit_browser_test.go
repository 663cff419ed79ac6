package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestSubmitFromBrowser is issue 18's "from the browser" half, end to
// end: headless Chromium signs in, opens "Submit patches" on the list,
// gives a branch of a local bare repository (allowed by the operator's
// --submit-allow-hosts file), looks at the preview, writes the cover
// letter and sends; then "Submit a new version" from the series page
// sends v2 of the rewritten branch. git am of v2's series mbox gives the
// branch's commits with their authors, and a subscriber receives every
// mail through the smarthost. Screenshots of the form and the preview at
// 1280 and 390 pixels go to $PATCHWELL_ARTIFACTS.
func TestSubmitFromBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	sk := startSink(t)
	data := t.TempDir()
	dir := t.TempDir()
	origin, pub, dev := filepath.Join(dir, "origin.git"), filepath.Join(dir, "pub.git"), filepath.Join(dir, "dev")
	run(t, dir, "git", "init", "-q", "--bare", "-b", "main", origin)
	run(t, dir, "git", "init", "-q", "--bare", "-b", "main", pub)
	run(t, dir, "git", "init", "-q", "-b", "main", dev)
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dev, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	bob := []string{"GIT_AUTHOR_NAME=Bob Babbage", "GIT_AUTHOR_EMAIL=bob@example.org"}
	git := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dev
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.org",
			"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.org", "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1")
		cmd.Env = append(cmd.Env, env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write("README", "calculator\n")
	git(nil, "add", "-A")
	git(nil, "commit", "-q", "-m", "base")
	git(nil, "push", "-q", origin, "main")
	git(nil, "checkout", "-q", "-b", "topic")
	write("add.c", "int add(int a, int b)\n{\n\treturn a + b;\n}\n")
	git(nil, "add", "-A")
	git(nil, "commit", "-q", "-m", "add: add two numbers", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	write("sub.c", "int sub(int a, int b)\n{\n\treturn a - b;\n}\n")
	git(bob, "add", "-A")
	git(bob, "commit", "-q", "-m", "sub: subtract", "-m", "Signed-off-by: Bob Babbage <bob@example.org>")
	write("README", "calculator: add and sub\n")
	git(nil, "commit", "-q", "-am", "README: say what it does", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	git(nil, "push", "-q", pub, "topic")

	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data, "--repo", origin, "--branch", "main"); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Ada Lovelace", "ada@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	run(t, data, binary, "sub", "add", "zed@example.org", "--list", "dev", "--data", data)
	srv := startServer(t, data, "--domain", "patchwell.localhost", "--smarthost", sk.addr, "--ci=false", "--submit-allow-hosts", "file")
	base := "http://" + srv.http

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 150*time.Second)
	defer cancel()
	step := func(what string, as ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, as...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	follow := func(what string, a chromedp.Action[chromedp.Void]) {
		t.Helper()
		if _, err := chromedp.RunResponse(ctx, a); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("browser: text of %s: %v", sel, err)
		}
		return s
	}
	// shots takes a full-page screenshot at 1280 and at 390 pixels.
	shots := func(name string) {
		t.Helper()
		for _, w := range []int64{1280, 390} {
			step("width "+fmt.Sprint(w), chromedp.EmulateViewport(w, 900))
			png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("screenshot: %v", err)
			}
			shot(t, fmt.Sprintf("%s-%d.png", name, w), png)
			// No sideways scrolling of the page itself (diffs scroll in
			// their box).
			wide, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth + 1`))
			if err != nil || wide {
				t.Errorf("%s at %d px: the page scrolls sideways (%v)", name, w, err)
			}
		}
		step("back to 1280", chromedp.EmulateViewport(1280, 1000))
	}

	follow("sign in form", chromedp.Navigate(base+"/signin?next=/dev/"))
	step("type the address", chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "ada@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"))
	follow("sign in", chromedp.Click(chromedp.CSS(`form[action="/signin"] button`)))
	follow("open Submit patches", chromedp.Click(chromedp.CSS(`p.submit-link a`)))
	// A server-side request to loopback is refused, on the form.
	step("fill the form with a loopback URL", chromedp.SendKeys(chromedp.CSS(`#repo`), "http://127.0.0.1:"+strings.Split(srv.http, ":")[1]+"/x.git"),
		chromedp.SendKeys(chromedp.CSS(`#branch`), "topic"))
	follow("preview the loopback URL", chromedp.Click(chromedp.CSS(`form.submit-form button[type=submit]`)))
	if e := text("#submit-error"); !strings.Contains(e, "127.0.0.1 is a loopback address") {
		t.Errorf("refusal on the form: %q", e)
	}
	if png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err != nil {
		t.Fatalf("screenshot: %v", err)
	} else {
		shot(t, "submit-refused-1280.png", png)
	}
	step("fill the form", chromedp.SetValue(chromedp.CSS(`#repo`), pub))
	shots("submit-form")
	follow("preview", chromedp.Click(chromedp.CSS(`form.submit-form button[type=submit]`)))
	step("see the cover letter editor", chromedp.WaitVisible(chromedp.CSS(`#cover`)))
	preview := text("body")
	for _, want := range []string{"3 patches to dev@patchwell.localhost", "[PATCH 1/3] add: add two numbers", "[PATCH 2/3] sub: subtract",
		"Bob Babbage", "Ada Lovelace via dev", "README | 2 +-"} {
		if !strings.Contains(preview, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('#patch-2 table.diff tr.add').length`)); err != nil || n != 4 {
		t.Errorf("patch 2's diff shows %d added lines (%v), want 4", n, err)
	}
	step("write the cover letter", chromedp.SendKeys(chromedp.CSS(`#subject`), "Calculator: add and subtract"),
		chromedp.SendKeys(chromedp.CSS(`#body`), "Two functions and a README that names them."))
	shots("submit-preview")
	start := time.Now()
	follow("send", chromedp.Click(chromedp.CSS(`button.send`)))
	step("see the series page", chromedp.WaitVisible(chromedp.CSS(`#sent-notice`)))
	sendTime := time.Since(start)
	t.Logf("Send to the series page shown: %v (v1)", sendTime)
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	var v1 int64
	if _, err := fmt.Sscanf(strings.TrimPrefix(loc, base), "/series/%d/", &v1); err != nil {
		t.Fatalf("sent to %s, not a series page", loc)
	}
	if h := text("h1"); h != "Calculator: add and subtract" {
		t.Errorf("series page title %q", h)
	}
	zed := sk.waitFor(t, "zed@example.org", 4)
	for _, m := range zed {
		for _, want := range []string{"From: Ada Lovelace via dev <dev@patchwell.localhost>", "Reply-To: Ada Lovelace <ada@example.org>", "List-Id: <dev.patchwell.localhost>"} {
			if !strings.Contains(string(m.data), want) {
				t.Errorf("subscriber's copy lacks %q:\n%s", want, m.data)
			}
		}
	}

	// v2: the second commit changes; the branch is force-pushed.
	git(nil, "checkout", "-q", "topic~1")
	write("sub.c", "int sub(int a, int b)\n{\n\treturn a - b; /* checked */\n}\n")
	git(bob, "commit", "-q", "-a", "--amend", "--no-edit", "--author=Bob Babbage <bob@example.org>")
	git(nil, "cherry-pick", "topic")
	git(nil, "branch", "-f", "topic", "HEAD")
	git(nil, "checkout", "-q", "topic")
	git(nil, "push", "-q", "-f", pub, "topic")
	follow("open Submit a new version", chromedp.Click(chromedp.CSS(`p.resubmit a`)))
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#branch`))); err != nil || v != "topic" {
		t.Errorf("new version form's branch %q (%v)", v, err)
	}
	follow("preview v2", chromedp.Click(chromedp.CSS(`form.submit-form button[type=submit]`)))
	step("see the v2 preview", chromedp.WaitVisible(chromedp.CSS(`#cover`)))
	if v, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#version`))); err != nil || v != "2" {
		t.Errorf("version offered %q (%v), want 2", v, err)
	}
	if s, err := chromedp.Run(ctx, chromedp.Value(chromedp.CSS(`#subject`))); err != nil || s != "Calculator: add and subtract" {
		t.Errorf("v2's subject %q (%v), want v1's", s, err)
	}
	if c, err := chromedp.Run(ctx, chromedp.TextContent(chromedp.CSS(`#cover details pre`))); err != nil || !strings.Contains(c, "Range-diff against v1") {
		t.Errorf("v2's cover letter lacks the range-diff")
	}
	step("write what changed", chromedp.SetValue(chromedp.CSS(`#body`), "v2: sub.c says it was checked."))
	shots("submit-preview-v2")
	start = time.Now()
	follow("send v2", chromedp.Click(chromedp.CSS(`button.send`)))
	step("see the v2 series page", chromedp.WaitVisible(chromedp.CSS(`#sent-notice`)))
	t.Logf("Send to the series page shown: %v (v2, with range-diff)", time.Since(start))
	loc, _ = chromedp.Run(ctx, chromedp.Location())
	var v2 int64
	fmt.Sscanf(strings.TrimPrefix(loc, base), "/series/%d/", &v2)
	var s2 apiSeries
	if srv.getJSON(fmt.Sprintf("/api/v1/series/%d", v2), &s2); s2.Version != 2 || s2.Total != 3 || s2.ID == v1 {
		t.Fatalf("v2: %+v", s2)
	}
	var s1 struct {
		SupersededBy int64 `json:"superseded_by"`
	}
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", v1), &s1)
	if s1.SupersededBy != v2 {
		t.Errorf("v1 superseded by %d, want %d", s1.SupersededBy, v2)
	}
	zed = sk.waitFor(t, "zed@example.org", 8)
	cover2 := ""
	for _, m := range zed[4:] {
		if strings.Contains(string(m.data), "[PATCH v2 0/3]") {
			cover2 = string(m.data)
		}
	}
	if !strings.Contains(cover2, "Range-diff against v1:") || !regexp.MustCompile(`(?m)^In-Reply-To: <`).MatchString(cover2) {
		t.Errorf("v2's cover letter to the subscriber:\n%s", cover2)
	}

	// git am of the list's series mbox reproduces the branch.
	clone := filepath.Join(t.TempDir(), "clone")
	run(t, filepath.Dir(clone), "git", "clone", "-q", origin, clone)
	mbox := filepath.Join(t.TempDir(), "v2.mbox")
	os.WriteFile(mbox, httpGet(t, fmt.Sprintf("%s/api/v1/series/%d/mbox", base, v2)), 0o644)
	run(t, clone, "git", "am", "-q", "--patch-format=mboxrd", mbox)
	got := strings.TrimSpace(run(t, clone, "git", "log", "--format=%an <%ae>|%s|%b", "origin/main..HEAD"))
	want := git(nil, "log", "--format=%an <%ae>|%s|%b", "main..topic")
	if got != want {
		t.Errorf("git am of the series mbox:\n%s\nthe branch:\n%s", got, want)
	}
	if a, b := strings.TrimSpace(run(t, clone, "git", "rev-parse", "HEAD^{tree}")), git(nil, "rev-parse", "topic^{tree}"); a != b {
		t.Errorf("tree after git am %s, the branch's %s", a, b)
	}
	if sendTime > 10*time.Second {
		t.Errorf("Send took %v to show the series page", sendTime)
	}
}
