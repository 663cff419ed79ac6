package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// relayScript is the sendmail program git send-email hands its mail to
// (--smtp-server=/path): an MTA's part, which delivers the list's copy to
// patchwell over SMTP and the others (the maintainer's own) nowhere.
// argv: smtp-host smtp-port, then sendmail's arguments.
const relayScript = `import smtplib, sys
host, port = sys.argv[1], int(sys.argv[2])
args = sys.argv[3:]
rcpts, i = [], 0
while i < len(args):
    a = args[i]
    if a == "-f":
        i += 2
        continue
    if not a.startswith("-") and a.endswith("@patchwell.localhost"):
        rcpts.append(a)
    i += 1
msg = sys.stdin.buffer.read()
with smtplib.SMTP(host, port, local_hostname="localhost") as s:
    s.sendmail("ada@example.org", rcpts, msg)
`

// imapNeedsMe lists, as JSON, the subjects in a user's "Needs me".
const imapNeedsMe = `import imaplib, json, sys
host, port, user, password = sys.argv[1:5]
c = imaplib.IMAP4(host, int(port))
c.login(user, password)
typ, data = c.select('"Needs me"', readonly=True)
out = {"select": typ, "exists": int(data[0]), "subjects": []}
if out["exists"]:
    typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
    out["subjects"] = [d[1].decode().strip() for d in data if isinstance(d, tuple)]
c.logout()
json.dump(out, sys.stdout)
`

// TestNeedsMeSendEmail: git send-email sends a series To: a maintainer;
// their "Needs me" page and IMAP mailbox show it; once they reply with
// Reviewed-by, it leaves both.
func TestNeedsMeSendEmail(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "python3", "-c", "import imaplib, smtplib")
	data := t.TempDir()
	imapAddr := freePort(t)
	srv := startServer(t, data, "--imap", imapAddr)
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mai Ntainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)

	repo := makeRepo(t)
	dir := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", dir, "HEAD~3")
	fillCover(t, dir, "Please look at this")
	relay := filepath.Join(t.TempDir(), "relay")
	host, port, _ := net.SplitHostPort(srv.smtp)
	if err := os.WriteFile(relay, []byte("#!/bin/sh\nexec python3 "+relay+".py "+host+" "+port+" \"$@\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(relay+".py", []byte(relayScript), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(t, repo, "git", "send-email", "--confirm=never", "--no-validate", "--suppress-cc=all",
		"--from=Ada Lovelace <ada@example.org>", "--to=Mai Ntainer <maint@example.org>", "--to=dev@patchwell.localhost",
		"--smtp-server="+relay, dir)
	if strings.Contains(out, "error:") || strings.Contains(out, "unable to") {
		t.Fatalf("git send-email: %s", out)
	}
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete {
		t.Fatalf("series after git send-email: %+v", list.Series)
	}
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &s)

	base := "http://" + srv.http
	jar, _ := cookiejar.New(nil)
	maint := &http.Client{Jar: jar}
	if resp, err := maint.PostForm(base+"/signin", url.Values{"email": {"maint@example.org"}, "password": {"correct horse battery"}}); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	page := func() string {
		t.Helper()
		_, body := fetch(t, maint, base+"/account/needs-me") // 200 or it fails
		return body
	}
	script := filepath.Join(t.TempDir(), "needsme.py")
	if err := os.WriteFile(script, []byte(imapNeedsMe), 0o644); err != nil {
		t.Fatal(err)
	}
	imapBox := func() (n int, subjects string) {
		t.Helper()
		ih, ip, _ := net.SplitHostPort(imapAddr)
		b, err := exec.Command("python3", script, ih, ip, "maint@example.org", "correct horse battery").Output()
		if err != nil {
			t.Fatalf("imaplib: %v", err)
		}
		var r struct {
			Select   string
			Exists   int
			Subjects []string
		}
		if err := json.Unmarshal(b, &r); err != nil || r.Select != "OK" {
			t.Fatalf("imaplib: %s %v", b, err)
		}
		return r.Exists, strings.Join(r.Subjects, "\n")
	}

	body := page()
	if !strings.Contains(body, "Asked to review") || !strings.Contains(body, fmt.Sprintf(`<a href="/series/%d/">Please look at this</a>`, s.ID)) {
		t.Fatalf("needs me page before the review:\n%s", body)
	}
	if n, subj := imapBox(); n != 1 || !strings.Contains(subj, "Subject: [PATCH 0/3] Please look at this") {
		t.Fatalf("Needs me over IMAP before the review: %d %q", n, subj)
	}

	// The maintainer answers the cover letter with a Reviewed-by.
	reply := "From: Mai Ntainer <maint@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: [PATCH 0/3] Please look at this\r\n" +
		"Message-ID: <review-1@example.org>\r\nIn-Reply-To: <" + s.CoverMessageID + ">\r\nReferences: <" + s.CoverMessageID + ">\r\n" +
		"Date: Mon, 7 Dec 2026 06:00:00 +0000\r\n\r\nLooks good.\r\n\r\nReviewed-by: Mai Ntainer <maint@example.org>\r\n"
	cmd := exec.Command("python3", "-c", `import smtplib, sys
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), local_hostname="localhost") as s:
    s.sendmail("maint@example.org", ["dev@patchwell.localhost"], sys.stdin.buffer.read())`, host, port)
	cmd.Stdin = strings.NewReader(reply)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("send the review: %v %s", err, b)
	}
	if body := page(); strings.Contains(body, "Please look at this") || !strings.Contains(body, "Nothing needs you now.") {
		t.Errorf("needs me page after the review:\n%s", body)
	}
	if n, subj := imapBox(); n != 0 {
		t.Errorf("Needs me over IMAP after the review: %d %q", n, subj)
	}
}
