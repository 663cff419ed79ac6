package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"patchwell/sandbox"
	"path/filepath"
	"strings"
	"testing"
)

// TestHgEmailAccepted: Mercurial's hg email (patchbomb, through Python's
// smtplib) sends its messages with bare LF line ends, which the server
// used to refuse outright (550 5.6.2). A 3-patch series with an
// introduction now arrives complete, and a commit message line that
// starts with a dot (doubled by smtplib after its bare LF) is stored as
// written; a v2 sent with --flag V2 supersedes it, and a Reviewed-by
// reply to it is collected. The list's repository is a Mercurial one (found to be by
// list update): patchwell apply pushes the series there, three
// changesets with their author, date and message, on the base the
// mails name (# Parent), after CI ran the branch's .patchwell.yml on an
// hg working copy of the series. A second series, pushed straight to
// that repository, is marked applied by the changegroup hook.
func TestHgEmailAccepted(t *testing.T) {
	needTool(t, "hg", "--version")
	if err := sandbox.Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CI sandbox is required under CI: %v", err)
		}
		t.Skipf("no usable sandbox: %v", err)
	}
	data := t.TempDir()
	srv := startServer(t, data)
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(srv.smtp)
	hgrc := filepath.Join(dir, "hgrc")
	if err := os.WriteFile(hgrc, []byte("[extensions]\npatchbomb =\n[email]\nmethod = smtp\nfrom = Ada Lovelace <ada@example.org>\n"+
		"[smtp]\nhost = "+host+"\nport = "+port+"\ntls = none\n[ui]\ninteractive = false\nusername = Ada Lovelace <ada@example.org>\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	repo := filepath.Join(dir, "repo")
	hg := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("hg", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "HGRCPATH="+hgrc, "HGPLAIN=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	hg("init")
	write := func(s string) {
		f, err := os.OpenFile(filepath.Join(repo, "calc.py"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, s)
		f.Close()
	}
	write("def add(a, b):\n    return a + b\n")
	// The branch's check: the series' code must compile and have op2.
	if err := os.WriteFile(filepath.Join(repo, ".patchwell.yml"), []byte("steps:\n  - name: compile\n    run: python3 -m py_compile calc.py\n  - name: ops\n    run: grep -q op2 calc.py\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hg("add", "calc.py", ".patchwell.yml")
	hg("commit", "-m", "calc: add")
	for i, msg := range []string{"calc: subtract", "calc: multiply\n\n.dotted line, doubled by smtplib on the way", "calc: divide"} {
		write(fmt.Sprintf("\ndef op%d(a, b):\n    return a - b\n", i))
		hg("commit", "-m", msg)
	}
	// The project's repository, at the base the series is made on.
	up := filepath.Join(dir, "upstream")
	hg("clone", "-q", "-r", "0", repo, up)
	if out, errs, code := cli(t, nil, "list", "update", "dev", "--repo", up, "--first-timer-gate=false", "--check", "false", "--data", data); code != 0 || !strings.Contains(out, "hg repository "+up+", branch default") {
		t.Fatalf("list update --repo (hg): %d %s %s", code, out, errs)
	}
	out := hg("email", "-r", "1:3", "--to", "dev@patchwell.localhost", "--intro", "--subject", "calc: three operations", "--desc", os.DevNull, "-y")
	if strings.Count(out, "sending [PATCH") != 4 {
		t.Fatalf("hg email: %s", out)
	}
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete || list.Series[0].Total != 3 {
		t.Fatalf("series after hg email: %+v", list.Series)
	}
	v1 := list.Series[0]

	// v2: the last change amended, sent again with --flag V2.
	write("# divides\n")
	hg("commit", "--amend", "-m", "calc: divide")
	out = hg("email", "-r", "1:3", "--flag", "V2", "--to", "dev@patchwell.localhost", "--intro", "--subject", "calc: three operations", "--desc", os.DevNull, "-y")
	if strings.Count(out, "sending [PATCH") != 4 || !strings.Contains(out, "[PATCH 0 of 3 V2]") {
		t.Fatalf("hg email --flag V2: %s", out)
	}
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", v1.ID), &v1)
	if v1.SupersededBy != nil {
		srv.getJSON(fmt.Sprintf("/api/v1/series/%d", *v1.SupersededBy), &s)
	}
	if len(s.Patches) != 3 || s.CoverMessageID == "" || s.Version != 2 || s.Previous == nil || *s.Previous != v1.ID ||
		v1.SupersededBy == nil || *v1.SupersededBy != s.ID {
		t.Fatalf("v2 = %+v, v1 = %+v", s, v1)
	}
	// A review of v2's first patch, collected as a trailer.
	sendRaw(t, srv.smtp, "rita@example.org", []string{"dev@patchwell.localhost"},
		"From: Rita Reviewer <rita@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: [PATCH 1 of 3 V2] calc: subtract\r\n"+
			"Message-ID: <hg-review@example.org>\r\nIn-Reply-To: <"+s.Patches[0].MessageID+">\r\nReferences: <"+s.Patches[0].MessageID+">\r\n"+
			"Date: Mon, 7 Dec 2026 00:00:00 +0000\r\n\r\nReviewed-by: Rita Reviewer <rita@example.org>\r\n")
	checks := waitChecks(t, srv, s.ID, "patchwell/check")
	if c := checks["patchwell/check"]; c.State != "success" || !strings.HasPrefix(c.Description, "passed: 2 steps in ") ||
		!strings.HasPrefix(checks["patchwell/apply"].Description, "applied on default at ") {
		t.Errorf("CI on the hg working copy: %+v", checks)
	}
	resp, err := http.Get("http://" + srv.http + "/dev/" + url.PathEscape(s.Patches[1].MessageID) + "/raw")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(raw), "\n.dotted line, doubled by smtplib on the way\n") || strings.Contains(string(raw), "..dotted") {
		t.Errorf("patch 2 as stored (%d):\n%s", resp.StatusCode, raw)
	}

	if out, errs, code := cli(t, nil, "apply", "--data", data, fmt.Sprint(s.ID), "--no-reply"); code != 0 {
		t.Fatalf("patchwell apply: %d %s %s", code, out, errs)
	}
	upHg := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("hg", append([]string{"-R", up}, args...)...)
		cmd.Env = append(os.Environ(), "HGRCPATH="+hgrc, "HGPLAIN=1")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("hg %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// Each changeset as the developer made it, a Link: added to its
	// message (so the ids differ): author, date, description; the
	// first on the base the mails named.
	got := upHg("log", "-r", "1:", "-T", "{author} {date|hgdate}\n{desc}\n--\n")
	want := hg("log", "-r", "1:3", "-T", "{author} {date|hgdate}\n{desc}\n--\n")
	for i, c := range strings.Split(strings.TrimSuffix(want, "--\n"), "--\n") {
		w := strings.TrimSpace(c) + "\n\nLink: "
		if i == 0 {
			w = strings.TrimSpace(c) + "\n\nReviewed-by: Rita Reviewer <rita@example.org>\nLink: "
		}
		if !strings.Contains(got, w) {
			t.Errorf("the project's repository lacks\n%s\nin\n%s", w, got)
		}
	}
	if n := strings.Count(got, "--\n"); n != 3 {
		t.Errorf("%d changesets applied, want 3:\n%s", n, got)
	}
	if p, base := upHg("log", "-r", "1", "-T", "{p1node}"), hg("log", "-r", "0", "-T", "{node}"); p != base {
		t.Errorf("applied on %s, want the base %s", p, base)
	}
	if !strings.Contains(got, "Link: ") {
		t.Errorf("no Link: trailer:\n%s", got)
	}

	// A contributor's next change, mailed, then pushed by a maintainer
	// straight to the repository: its changegroup hook finds it.
	if err := os.WriteFile(filepath.Join(up, ".hg", "hgrc"), []byte("[hooks]\nchangegroup.patchwell = "+binary+" hook hg-changegroup --data "+data+" --list dev\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	next := filepath.Join(dir, "next")
	hg("clone", "-q", up, next)
	repo = next
	write("\ndef mod(a, b):\n    return a % b\n")
	hg("commit", "-m", "calc: modulo")
	hg("email", "-r", "tip", "--to", "dev@patchwell.localhost", "-y")
	srv.getJSON("/api/v1/lists/dev/series", &list)
	var second *apiSeries
	for i := range list.Series {
		if list.Series[i].ID != s.ID && list.Series[i].ID != v1.ID {
			second = &list.Series[i]
		}
	}
	if second == nil || !second.Complete {
		t.Fatalf("the second series: %+v", list.Series)
	}
	if out := hg("push", up); !strings.Contains(out, "applied to default") {
		t.Errorf("hg push: the hook said:\n%s", out)
	}
	var after apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", second.ID), &after)
	if after.Status != "applied" {
		t.Errorf("the pushed series is %q, want applied", after.Status)
	}
}
