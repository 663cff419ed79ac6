package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHgEmailAccepted: Mercurial's hg email (patchbomb, through Python's
// smtplib) sends its messages with bare LF line ends, which the server
// used to refuse outright (550 5.6.2). A 3-patch series with an
// introduction now arrives complete, and a commit message line that
// starts with a dot (doubled by smtplib after its bare LF) is stored as
// written. The list's repository is a Mercurial one (found to be by
// list update): patchwell apply pushes the series there, three
// changesets with their author, date and message, on the base the
// mails name (# Parent). A second series, pushed straight to that
// repository, is marked applied by the changegroup hook.
func TestHgEmailAccepted(t *testing.T) {
	needTool(t, "hg", "--version")
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
	hg("add", "calc.py")
	hg("commit", "-m", "calc: add")
	for i, msg := range []string{"calc: subtract", "calc: multiply\n\n.dotted line, doubled by smtplib on the way", "calc: divide"} {
		write(fmt.Sprintf("\ndef op%d(a, b):\n    return a - b\n", i))
		hg("commit", "-m", msg)
	}
	// The project's repository, at the base the series is made on.
	up := filepath.Join(dir, "upstream")
	hg("clone", "-q", "-r", "0", repo, up)
	if out, errs, code := cli(t, nil, "list", "update", "dev", "--repo", up, "--data", data); code != 0 || !strings.Contains(out, "hg repository "+up+", branch default") {
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
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &s)
	if len(s.Patches) != 3 || s.CoverMessageID == "" {
		t.Fatalf("series = %+v", s)
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
	for _, c := range strings.Split(strings.TrimSuffix(want, "--\n"), "--\n") {
		if !strings.Contains(got, strings.TrimSpace(c)+"\n\nLink: ") {
			t.Errorf("the project's repository lacks\n%s\n(with a Link:) in\n%s", c, got)
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
		if list.Series[i].ID != s.ID {
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
