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
// written.
func TestHgEmailAccepted(t *testing.T) {
	needTool(t, "hg", "--version")
	srv := startServer(t, t.TempDir())
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
}
