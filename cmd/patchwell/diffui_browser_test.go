package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestDiffReadingInBrowser drives headless Chromium through the series
// page's reading aids (review.js) on a real series sent with git
// send-email --base to a list with a repository: j/k move between files,
// n/p between comments, c opens the comment box of the current line and
// keys typed there stay there, ? shows the keys; collapse and expand all;
// a Viewed box survives a reload; an expand link puts the lines above a
// hunk in place, read from the repository at the base commit; the
// side-by-side view; and, with scripts disabled, the Viewed box sent by
// its Save button and an expand link leading to a page of the lines. An accessibility check of our own runs on both
// views: every form control has an accessible name, and text reads at
// 4.5:1 or more against its background. Screenshots of both views go to
// $PATCHWELL_ARTIFACTS when set.
func TestDiffReadingInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Rita Reviewer", "rita@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	tok, _, _ := cli(t, nil, "user", "token", "rita@example.org", "test", "--data", data)

	// The repository: a base with a long file, then three commits.
	repo := t.TempDir()
	run(t, repo, "git", "init", "-q", "-b", "main")
	var long strings.Builder
	for i := 1; i <= 80; i++ {
		fmt.Fprintf(&long, "int f%d(void) { return %d; }\n", i, i)
	}
	write := func(name, s string) {
		if err := os.WriteFile(filepath.Join(repo, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("long.c", long.String())
	write("README", "hello\n")
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-q", "-m", "base")
	base := strings.TrimSpace(run(t, repo, "git", "rev-parse", "HEAD"))
	write("long.c", strings.Replace(strings.Replace(long.String(), "return 40;", "return 41;", 1), "return 70;", "return -70;", 1))
	run(t, repo, "git", "commit", "-q", "-a", "-m", "long: fix f40 and f70\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	write("README", "hello\nworld\n")
	run(t, repo, "git", "commit", "-q", "-a", "-m", "readme: world\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	write("new.c", "int g(void)\n{\n\treturn 0;\n}\n")
	run(t, repo, "git", "add", ".")
	run(t, repo, "git", "commit", "-q", "-m", "add g\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	origin := filepath.Join(t.TempDir(), "origin.git")
	run(t, repo, "git", "init", "-q", "--bare", "-b", "main", origin)
	run(t, repo, "git", "push", "-q", origin, base+":refs/heads/main")
	if _, errs, code := cli(t, nil, "list", "update", "dev", "--data", data, "--repo", origin, "--branch", "main"); code != 0 {
		t.Fatalf("list update: %s", errs)
	}

	srv := startServer(t, data, "--domain", "patchwell.localhost", "--ci=false")
	out := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "--base="+base, "-o", out, "HEAD~3")
	fillCover(t, out, "Reading aids")
	sendEmail(t, repo, srv.smtp, out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete {
		t.Fatalf("series: %+v", list.Series)
	}
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &s)

	// Two comments to walk with n/p, sent as a review through the API.
	review, _ := json.Marshal(map[string]any{"summary": "Two remarks.", "in_reply_to": s.Patches[0].MessageID,
		"comments": []map[string]any{
			{"patch_message_id": s.Patches[0].MessageID, "file": "long.c", "side": "new", "line": 40, "body": "Why 41?"},
			{"patch_message_id": s.Patches[0].MessageID, "file": "long.c", "side": "new", "line": 70, "body": "Negative?"},
		}})
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://%s/api/v1/series/%d/comments", srv.http, s.ID), bytes.NewReader(review))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(tok))
	req.Header.Set("Content-Type", "application/json")
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusCreated {
		t.Fatalf("POST comments: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	basURL := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", basURL, s.ID)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath("chromium"), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 1000),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true))
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 120*time.Second)
	defer cancel()

	step := func(what string, as ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, as...); err != nil {
			t.Fatalf("browser: %s: %v", what, err)
		}
	}
	eval := func(js string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
		if err != nil {
			t.Fatalf("browser: evaluate %s: %v", js, err)
		}
		return v
	}
	key := func(k string) { t.Helper(); step("press "+k, chromedp.KeyEvent(k)) }
	// focused: the file of the focused element, or what is focused.
	focused := `(() => { const a = document.activeElement; const f = a && a.closest("details.file");
		return f ? f.id : a ? a.tagName + "." + a.className : "" })()`

	step("sign in", chromedp.Navigate(basURL+"/signin?next="+strings.TrimPrefix(page, basURL)),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), "rita@example.org"),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), "correct horse battery"),
		chromedp.Click(chromedp.CSS(`form[action^="/signin"] button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[data-act="collapse"]`)))
	a11y(t, ctx, "unified")

	// j/k: files in order; the third patch's file is p3-f0.
	key("j")
	if got := eval(focused); got != "p1-f0" {
		t.Errorf("after j: focus on %q, want p1-f0", got)
	}
	key("j")
	key("j")
	if got := eval(focused); got != "p3-f0" {
		t.Errorf("after j j j: focus on %q, want p3-f0", got)
	}
	key("k")
	if got := eval(focused); got != "p2-f0" {
		t.Errorf("after k: focus on %q, want p2-f0", got)
	}
	// c: the comment box of the current file's first line opens, and
	// keys typed into it are text, not commands.
	key("c")
	if got := eval(`document.activeElement.tagName + " " + document.activeElement.name + " " + document.activeElement.closest("details.cl").open`); got != "TEXTAREA c:new:1:README true" {
		t.Errorf("after c: focus on %q, want the open comment box of README line 1", got)
	}
	key("j")
	key("k")
	if got := eval(`document.activeElement.tagName + " " + document.activeElement.value`); got != "TEXTAREA jk" {
		t.Errorf("typing j k in the comment box: %q, want the text jk in it", got)
	}
	eval(`document.activeElement.value = ""; document.activeElement.blur(); ""`)
	// c on a line chosen by a click.
	step("click line 70", chromedp.Click(chromedp.CSS(`tr[id="p1-f0-n70"] td.chroma`)))
	key("c")
	if got := eval(`document.activeElement.name || ""`); got != "c:new:70:long.c" {
		t.Errorf("after a click on line 70 and c: focus on %q", got)
	}
	eval(`document.activeElement.blur(); ""`)
	// n/p: the two comments in order.
	key("n")
	c1 := eval(`document.activeElement.closest(".comment") ? document.activeElement.closest(".comment").textContent : ""`)
	key("n")
	c2 := eval(`document.activeElement.closest(".comment") ? document.activeElement.closest(".comment").textContent : ""`)
	key("p")
	c3 := eval(`document.activeElement.closest(".comment") ? document.activeElement.closest(".comment").textContent : ""`)
	if !strings.Contains(c1, "Why 41?") || !strings.Contains(c2, "Negative?") || c3 != c1 {
		t.Errorf("n, n, p: comments %q, %q, %q", c1, c2, c3)
	}
	// ?: the keys dialog, closed by Escape.
	key("?")
	if got := eval(`String(document.getElementById("keys").open)`); got != "true" {
		t.Errorf("after ?: dialog open = %s", got)
	}
	key(kb.Escape)
	if got := eval(`String(document.getElementById("keys").open)`); got != "false" {
		t.Errorf("after Escape: dialog open = %s", got)
	}

	// Collapse all, expand all.
	openFiles := `String(document.querySelectorAll("details.file[open]").length) + "/" + document.querySelectorAll("details.file").length`
	step("collapse all", chromedp.Click(chromedp.CSS(`button[data-act="collapse"]`)))
	if got := eval(openFiles); got != "0/3" {
		t.Errorf("after collapse all: %s files open, want 0/3", got)
	}
	step("expand all", chromedp.Click(chromedp.CSS(`button[data-act="expand"]`)))
	if got := eval(openFiles); got != "3/3" {
		t.Errorf("after expand all: %s files open, want 3/3", got)
	}

	// Context: the 20 lines above the second hunk of long.c (44-66 are
	// not in the diff), from the repository at the base commit.
	rows := `String(document.querySelectorAll("#p1-f0 tr.ctx").length)`
	before := eval(rows)
	linkText := eval(`[...document.querySelectorAll("#p1-f0 a.expand[data-dir=up]")].map(a => a.textContent).join("|")`)
	step("expand above the second hunk", chromedp.Click(chromedp.CSS(`#p1-f0 a.expand[data-dir="up"][data-min="44"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[id="p1-f0-n66"]`)))
	after := eval(rows)
	got := eval(`document.getElementById("p1-f0-n66").textContent + "|" + document.getElementById("p1-f0-n47").textContent + "|" + !!document.getElementById("p1-f0-n46")`)
	if !strings.Contains(got, "int f66(void) { return 66; }") || !strings.Contains(got, "int f47(void)") || !strings.HasSuffix(got, "|false") || before == after {
		t.Errorf("expanded lines: %q (context rows %s -> %s; links %q)", got, before, after, linkText)
	}

	// Viewed: ticked, the file folds; it stays so across a reload, and
	// clears.
	step("mark README viewed", chromedp.Click(chromedp.CSS(`#p2-f0 input.viewed-box`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("diff-status").textContent === "Marked as viewed."`))
	if got := eval(`String(document.getElementById("p2-f0").open) + " " + document.getElementById("viewed-n").textContent`); got != "false 1" {
		t.Errorf("after ticking viewed: open, count = %q, want false 1", got)
	}
	step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`button[data-act="collapse"]`)))
	if got := eval(`String(document.querySelector("#p2-f0 input.viewed-box").checked) + " " + document.getElementById("p2-f0").open + " " + document.getElementById("p1-f0").open`); got != "true false true" {
		t.Errorf("after a reload: README viewed, open; long.c open = %q, want true false true", got)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot(t, "series-unified.png", png)
	step("unmark README", chromedp.Click(chromedp.CSS(`#p2-f0 input.viewed-box`)),
		chromedp.Poll[chromedp.Void](`document.getElementById("diff-status").textContent === "Marked as not viewed."`))
	// The box is in the file's header (its summary), but a click on it
	// does not unfold the file.
	if got := eval(`String(document.getElementById("p2-f0").open)`); got != "false" {
		t.Errorf("a click on the Viewed box of a folded file unfolded it")
	}
	step("reload", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(`button[data-act="collapse"]`)))
	if got := eval(`String(document.querySelector("#p2-f0 input.viewed-box").checked)`); got != "false" {
		t.Errorf("after clearing and a reload: viewed = %s", got)
	}

	// Side by side: four columns, a changed line facing its new version,
	// the keys still work.
	step("side by side", chromedp.Navigate(page+"?view=split"), chromedp.WaitVisible(chromedp.CSS(`table.split`)))
	got = eval(`(() => { const r = document.querySelector("#p1-f0 tr.chg"); return r.cells.length + " " + r.cells[1].textContent + " => " + r.cells[3].textContent })()`)
	if !strings.HasPrefix(got, "4 ") || !strings.Contains(got, "-int f40(void) { return 40; } => ") || !strings.HasSuffix(got, "+int f40(void) { return 41; }") {
		t.Errorf("first changed row side by side: %q", got)
	}
	key("j")
	key("j")
	if got := eval(focused); got != "p2-f0" {
		t.Errorf("side by side, after j j: focus on %q, want p2-f0", got)
	}
	a11y(t, ctx, "side by side")
	png, err = chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shot(t, "series-split.png", png)

	// Without JavaScript: the Viewed box goes with its Save button, and
	// an expand link shows the lines on a page of their own.
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("browser: disable scripts: %v", err)
	}
	step("without scripts: the page", chromedp.Navigate(page), chromedp.WaitVisible(chromedp.CSS(`#p3-f0 button.viewed-save`)))
	step("without scripts: tick and save", chromedp.Click(chromedp.CSS(`#p3-f0 input.viewed-box`)),
		chromedp.Click(chromedp.CSS(`#p3-f0 button.viewed-save`)),
		chromedp.WaitReady(chromedp.CSS(`#p3-f0 input.viewed-box[checked]`)))
	if a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.CSS(`details#p3-f0`), "open")); err != nil || a.Exists {
		t.Errorf("without scripts: the file marked viewed is open (%v)", err)
	}
	step("without scripts: expand", chromedp.Click(chromedp.CSS(`#p1-f0 a.expand[data-dir="down"]`)),
		chromedp.WaitReady(chromedp.CSS(`h1 code`)))
	h1, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`h1`)))
	if err != nil || h1 != "long.c, lines 74–80" {
		t.Errorf("without scripts, the expand link leads to %q, %v", h1, err)
	}
	if rows, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`table.diff`))); err != nil || !strings.Contains(rows, "int f80(void) { return 80; }") {
		t.Errorf("without scripts, the lines below the last hunk: %q, %v", rows, err)
	}
}

// shot keeps a screenshot in $PATCHWELL_ARTIFACTS (a temporary directory
// when unset).
func shot(t *testing.T, name string, png []byte) {
	t.Helper()
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG")) || len(png) < 10000 {
		t.Fatalf("screenshot %s: %d bytes, not a PNG", name, len(png))
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// a11yCheck is the accessibility check, run in the page: every visible
// form control (input but hidden ones, textarea, select, button,
// summary) has an accessible name (aria-label, aria-labelledby, a label,
// its text, a title); no element has a positive tabindex (focus follows
// the page's order); every visible element with text of its own reads
// at 4.5:1 or more against the first opaque background behind it (WCAG
// 2's contrast ratio from getComputedStyle's colours; the colour's alpha
// and the opacity of the element and its ancestors are composited over
// that background; fully transparent text is not shown and not
// checked). It returns the failures.
const a11yCheck = `(() => {
  const bad = [];
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const where = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className && typeof e.className === "string" ? "." + e.className.trim().replace(/\s+/g, ".") : "");
  const name = e => {
    if (e.getAttribute("aria-label")) return e.getAttribute("aria-label");
    const by = e.getAttribute("aria-labelledby");
    if (by) return by.split(/\s+/).map(id => (document.getElementById(id) || {}).textContent || "").join(" ");
    if (e.labels && e.labels.length) return [...e.labels].map(l => l.textContent).join(" ");
    if (e.tagName === "BUTTON" || e.tagName === "SUMMARY") return e.textContent;
    return e.getAttribute("title") || "";
  };
  for (const e of document.querySelectorAll("input:not([type=hidden]), textarea, select, button, summary")) {
    if (!e.closest("details:not([open]) > :not(summary)") && !name(e).trim()) bad.push("no accessible name: " + where(e));
  }
  // Focus follows the page's order: no positive tabindex reorders it.
  for (const e of document.querySelectorAll("[tabindex]")) {
    if (e.tabIndex > 0) bad.push("positive tabindex: " + where(e));
  }
  const rgb = s => { const m = s.match(/[\d.]+/g).map(Number); return { r: m[0], g: m[1], b: m[2], a: m.length > 3 ? m[3] : 1 }; };
  const lum = c => { const f = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); }; return 0.2126 * f(c.r) + 0.7152 * f(c.g) + 0.0722 * f(c.b); };
  const background = e => {
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgb(getComputedStyle(n).backgroundColor);
      if (c.a > 0) return c;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const seen = new Set();
  for (const e of document.body.querySelectorAll("*")) {
    if (!shown(e) || ![...e.childNodes].some(n => n.nodeType === 3 && n.textContent.trim())) continue;
    const st = getComputedStyle(e);
    let op = 1;
    for (let n = e; n && n.nodeType === 1; n = n.parentElement) op *= Number(getComputedStyle(n).opacity);
    if (op === 0) continue;
    const bg = background(e), fg = rgb(st.color);
    fg.a *= op;
    const mix = { r: fg.r * fg.a + bg.r * (1 - fg.a), g: fg.g * fg.a + bg.g * (1 - fg.a), b: fg.b * fg.a + bg.b * (1 - fg.a) };
    const l1 = lum(mix), l2 = lum(bg), ratio = (Math.max(l1, l2) + 0.05) / (Math.min(l1, l2) + 0.05);
    const k = where(e) + " " + st.color + " on " + getComputedStyle(e).backgroundColor;
    if (ratio < 4.5 && !seen.has(k)) { seen.add(k); bad.push("contrast " + ratio.toFixed(2) + ": " + where(e) + " (" + st.color + " on rgb(" + [bg.r, bg.g, bg.b] + "))"); }
  }
  return bad;
})()`

// a11y runs a11yCheck on the page and fails the test for what it finds.
// It first checks the check: a button without a name, grey text on
// white and a positive tabindex, added to the page for a moment, must be
// found.
func a11y(t *testing.T, ctx context.Context, view string) {
	t.Helper()
	probe, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`(() => {
		const b = document.createElement("button"), p = document.createElement("p"), s = document.createElement("span");
		p.textContent = "faint"; p.style.color = "#aaa"; p.style.background = "#fff";
		s.tabIndex = 3;
		document.body.append(b, p, s);
		const bad = `+a11yCheck+`;
		b.remove(); p.remove(); s.remove();
		return bad;
	})()`))
	found := strings.Join(probe, "\n")
	if err != nil || !strings.Contains(found, "no accessible name: button\n") || !strings.Contains(found, "contrast 2.32: p (") || !strings.Contains(found, "positive tabindex: span") {
		t.Fatalf("the accessibility check misses a nameless button, faint text or a positive tabindex: %q, %v", probe, err)
	}
	bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](a11yCheck))
	if err != nil {
		t.Fatalf("browser: accessibility check: %v", err)
	}
	for _, b := range bad {
		t.Errorf("%s view: %s", view, b)
	}
}
