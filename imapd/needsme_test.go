package imapd_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"patchwell/imapd"
	"patchwell/review"
	"patchwell/store"
)

// needsMePy signs in (argv: host port user password), then prints one
// JSON object: the mailboxes LIST gives, STATUS, SELECT, UID SEARCH ALL,
// SEARCH SUBJECT, a UID FETCH of the headers, and what STORE and COPY
// answer.
const needsMePy = `
import imaplib, json, sys
host, port, user, password = sys.argv[1:5]
c = imaplib.IMAP4(host, int(port))
out = {}
if user == "anonymous":
    c.login("anonymous", "x")
else:
    c.login(user, password)
typ, data = c.list()
out["list"] = [d.decode() for d in data]
if user != "anonymous":
    typ, data = c.status('"Needs me"', "(MESSAGES UIDNEXT UIDVALIDITY)")
    out["status"] = data[0].decode()
    typ, data = c.select('"Needs me"', readonly=True)
    out["select"] = [typ, data[0].decode()]
    out["uidvalidity"] = c.untagged_responses.get("UIDVALIDITY", [b""])[0].decode()
    typ, data = c.uid("SEARCH", "ALL")
    out["uids"] = data[0].decode().split()
    typ, data = c.search(None, "SUBJECT", "blink")
    out["search_subject"] = data[0].decode().split()
    typ, data = c.search(None, "TO", "nobody-here")
    out["search_to"] = data[0].decode().split()
    out["fetch"] = []
    if out["uids"]:
        typ, data = c.uid("FETCH", ",".join(out["uids"]), "(UID BODY.PEEK[HEADER.FIELDS (SUBJECT MESSAGE-ID)])")
        for d in data:
            if isinstance(d, tuple):
                out["fetch"].append([d[0].decode(), d[1].decode()])
    typ, data = c.copy("1", "INBOX") if out["uids"] else ("NO", [b""])
    out["copy"] = typ
c.logout()
json.dump(out, sys.stdout)
`

// needsMeFixture is an IMAP server with "Needs me" on: lists dev and
// the private sec, mia@example.org (no role on sec).
func needsMeFixture(t *testing.T) (*fixture, *store.User) {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, dir: t.TempDir()}
	st, err := store.Open(ctx, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	for _, l := range []store.List{{Name: "dev"}, {Name: "sec", Visibility: store.VisibilityPrivate}} {
		if _, err := st.CreateList(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	f.in = review.NewIngester(st, review.Config{Log: log})
	t.Cleanup(func() { f.in.Close() })
	f.acc = review.NewAccounts(st, review.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	if f.srv, err = imapd.New(st, f.acc, imapd.Config{Domain: testDomain, NeedsMe: review.NewService(st)}, log); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	u, err := f.acc.AddUser(ctx, "mia@example.org", "Mia", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	return f, u
}

// askMail is a one-patch series (cover letter and patch) Cc mia.
func askMail(list, stem, title string) [][]byte {
	head := func(id, subject, parent string) string {
		h := fmt.Sprintf("From: Ann <ann@example.org>\r\nTo: %s@%s\r\nCc: Mia <mia@example.org>\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: Mon, 5 Aug 2024 10:00:00 +0000\r\n",
			list, testDomain, subject, id)
		if parent != "" {
			h += "In-Reply-To: <" + parent + ">\r\nReferences: <" + parent + ">\r\n"
		}
		return h + "\r\n"
	}
	cover := stem + "-0@example.org"
	return [][]byte{
		[]byte(head(cover, "[PATCH 0/1] "+title, "") + "A series.\r\n"),
		[]byte(head(stem+"-1@example.org", "[PATCH 1/1] "+title, cover) + title + "\r\n\r\nSigned-off-by: Ann <ann@example.org>\r\n---\r\n" +
			"diff --git a/a.txt b/a.txt\r\nindex 1111111..2222222 100644\r\n--- a/a.txt\r\n+++ b/a.txt\r\n@@ -1 +1 @@\r\n-old\r\n+" + stem + "\r\n-- \r\n2.45.0\r\n"),
	}
}

type needsMeOut struct {
	List          []string   `json:"list"`
	Status        string     `json:"status"`
	Select        []string   `json:"select"`
	UIDValidity   string     `json:"uidvalidity"`
	UIDs          []string   `json:"uids"`
	SearchSubject []string   `json:"search_subject"`
	SearchTo      []string   `json:"search_to"`
	Fetch         [][]string `json:"fetch"`
	Copy          string     `json:"copy"`
}

func runNeedsMePy(t *testing.T, f *fixture, user string) needsMeOut {
	t.Helper()
	py := need(t, "python3")
	script := filepath.Join(t.TempDir(), "needsme.py")
	if err := os.WriteFile(script, []byte(needsMePy), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, f.host(), f.port(), user, "correct horse battery")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var out needsMeOut
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("python output %q: %v", b, err)
	}
	return out
}

// TestNeedsMeMailbox: Python's imaplib sees "Needs me" only when signed
// in; it holds the cover letter of the series that asks Mia (not the
// private list's, which she may not read), under the message's row id
// as UID; SEARCH and FETCH work; it is read-only; a review takes the
// series out.
func TestNeedsMeMailbox(t *testing.T) {
	ctx := context.Background()
	f, mia := needsMeFixture(t)
	for _, m := range askMail("dev", "led", "led: blink") {
		f.deliver("dev", m)
	}
	for _, m := range askMail("sec", "cve", "cve: fix") {
		f.deliver("sec", m)
	}
	cover, err := f.st.Message(ctx, "dev", "led-0@example.org")
	if err != nil {
		t.Fatal(err)
	}
	uid := fmt.Sprint(cover.ID)

	if out := runNeedsMePy(t, f, "anonymous"); strings.Contains(strings.Join(out.List, "\n"), "Needs me") {
		t.Errorf("anonymous LIST shows Needs me: %q", out.List)
	}
	out := runNeedsMePy(t, f, "mia@example.org")
	if !strings.Contains(strings.Join(out.List, "\n"), `"/" "Needs me"`) {
		t.Errorf("LIST = %q, want Needs me", out.List)
	}
	if want := `"Needs me" (MESSAGES 1 UIDNEXT ` + fmt.Sprint(cover.ID+1) + ` UIDVALIDITY 1)`; out.Status != want {
		t.Errorf("STATUS = %q, want %q", out.Status, want)
	}
	if len(out.Select) != 2 || out.Select[0] != "OK" || out.Select[1] != "1" || out.UIDValidity != "1" {
		t.Errorf("SELECT = %q, UIDVALIDITY %q", out.Select, out.UIDValidity)
	}
	if len(out.UIDs) != 1 || out.UIDs[0] != uid {
		t.Errorf("UID SEARCH ALL = %q, want [%s] (the cover letter's row id)", out.UIDs, uid)
	}
	if len(out.SearchSubject) != 1 || out.SearchSubject[0] != "1" || len(out.SearchTo) != 0 {
		t.Errorf("SEARCH SUBJECT blink = %q, TO nobody-here = %q", out.SearchSubject, out.SearchTo)
	}
	if len(out.Fetch) != 1 || !strings.Contains(out.Fetch[0][0], "UID "+uid) ||
		!strings.Contains(out.Fetch[0][1], "Subject: [PATCH 0/1] led: blink") || !strings.Contains(out.Fetch[0][1], "<led-0@example.org>") {
		t.Errorf("FETCH = %q", out.Fetch)
	}
	if out.Copy != "NO" {
		t.Errorf("COPY = %q, want NO (read-only)", out.Copy)
	}

	// A role on sec shows its series too; Mia's review of led takes it out.
	if err := f.st.SetRole(ctx, mia.ID, "sec", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	f.deliver("dev", []byte("From: Mia <mia@example.org>\r\nTo: dev@"+testDomain+"\r\nSubject: Re: [PATCH 1/1] led: blink\r\n"+
		"Message-ID: <mia-r1@example.org>\r\nIn-Reply-To: <led-1@example.org>\r\nReferences: <led-0@example.org> <led-1@example.org>\r\n"+
		"Date: Mon, 5 Aug 2024 11:00:00 +0000\r\n\r\nReviewed-by: Mia <mia@example.org>\r\n"))
	sec, err := f.st.Message(ctx, "sec", "cve-0@example.org")
	if err != nil {
		t.Fatal(err)
	}
	out = runNeedsMePy(t, f, "mia@example.org")
	if len(out.UIDs) != 1 || out.UIDs[0] != fmt.Sprint(sec.ID) {
		t.Errorf("after the review and the role: UIDs = %q, want [%d]", out.UIDs, sec.ID)
	}
}

// TestNeedsMeMbsync: mbsync pulls "Needs me" into a Maildir under the
// messages' row ids, and a second sync adds the new series without
// fetching the first again.
func TestNeedsMeMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	ctx := context.Background()
	f, _ := needsMeFixture(t)
	for _, m := range askMail("dev", "led", "led: blink") {
		f.deliver("dev", m)
	}
	dir := t.TempDir()
	mail := filepath.Join(dir, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := fmt.Sprintf(mbsyncrc, f.host(), f.port(), mail, mail, `"Needs me"`)
	rc = strings.Replace(rc, "User anonymous\nPass x\n", "User mia@example.org\nPass \"correct horse battery\"\n", 1)
	rcPath := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rcPath, []byte(rc), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() {
		t.Helper()
		cmd := exec.Command(mbsync, "-c", rcPath, "archive")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
	}
	idOf := func(list, msgid string) uint32 {
		m, err := f.st.Message(ctx, list, msgid)
		if err != nil {
			t.Fatal(err)
		}
		return uint32(m.ID)
	}
	// The sync state pairs far UIDs (row ids here) with the Maildir's own.
	farUIDs := func() string {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(mail, "Needs me", ".mbsyncstate"))
		if err != nil {
			t.Fatal(err)
		}
		var far []string
		for _, line := range strings.Split(string(b), "\n") {
			if fs := strings.Fields(line); len(fs) >= 2 && !strings.Contains(fs[0], "Validity") && !strings.Contains(line, "UID") {
				if _, err := fmt.Sscan(fs[0], new(uint32)); err == nil {
					far = append(far, fs[0])
				}
			}
		}
		return strings.Join(far, " ")
	}
	subjects := func(files map[uint32]maildirFile) string {
		var out []string
		for _, mf := range files {
			b, _ := os.ReadFile(mf.path)
			for _, line := range strings.Split(string(b), "\n") {
				if strings.HasPrefix(line, "Subject: ") {
					out = append(out, strings.TrimSpace(line))
				}
			}
		}
		slices.Sort(out)
		return strings.Join(out, "; ")
	}
	run()
	first := readMaildir(t, filepath.Join(mail, "Needs me"))
	led := idOf("dev", "led-0@example.org")
	if got := subjects(first); got != "Subject: [PATCH 0/1] led: blink" {
		t.Errorf("first sync: %s", got)
	}
	if got, want := farUIDs(), fmt.Sprint(led); got != want {
		t.Errorf("first sync: far UIDs %q, want %q (the cover letter's row id)", got, want)
	}
	for _, m := range askMail("dev", "fan", "fan: spin") {
		f.deliver("dev", m)
	}
	run()
	second := readMaildir(t, filepath.Join(mail, "Needs me"))
	fan := idOf("dev", "fan-0@example.org")
	if got := subjects(second); got != "Subject: [PATCH 0/1] fan: spin; Subject: [PATCH 0/1] led: blink" {
		t.Errorf("second sync: %s", got)
	}
	if got, want := farUIDs(), fmt.Sprintf("%d %d", led, fan); got != want {
		t.Errorf("second sync: far UIDs %q, want %q", got, want)
	}
	for uid, a := range first {
		if b := second[uid]; b.inode != a.inode || !a.mtime.Equal(b.mtime) {
			t.Errorf("second sync fetched %s again", a.path)
		}
	}
}
