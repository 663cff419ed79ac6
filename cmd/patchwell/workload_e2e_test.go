package main

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestStatusNotificationE2E: a series sent with git send-email; its
// list's maintainer signs in, delegates the series to themself and
// changes its status on the series page (plain form posts, with CSRF);
// the submitter's notice arrives at the smarthost once, saying who
// changed it, from what to what, the comment and the link.
func TestStatusNotificationE2E(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	sk := startSink(t)
	data := t.TempDir()
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "--data", data, "--name", "Mia Maintainer", "mia@example.org"); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	if _, errs, code := cli(t, nil, "user", "role", "mia@example.org", "dev", "maintainer", "--data", data); code != 0 {
		t.Fatalf("user role: %s", errs)
	}
	srv := startServer(t, data, "--smarthost", sk.addr)
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	base := "http://" + srv.http
	page := fmt.Sprintf("%s/series/%d/", base, s.ID)

	jar, _ := cookiejar.New(nil)
	mia := &http.Client{Jar: jar}
	resp, err := mia.PostForm(base+"/signin", url.Values{"email": {"mia@example.org"}, "password": {"correct horse battery"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	_, body := fetch(t, mia, page)
	csrf := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	self := regexp.MustCompile(`<option value="(\d+)">Mia Maintainer &lt;mia@example.org&gt;</option>`).FindStringSubmatch(body)
	if csrf == nil || self == nil || !strings.Contains(body, `class="delegate-form"`) {
		t.Fatalf("the maintainer's series page lacks the delegate form:\n%s", body)
	}
	resp, body = post(t, mia, fmt.Sprintf("%s/series/%d/delegate", base, s.ID), url.Values{"csrf": {csrf[1]}, "delegate": {self[1]}})
	if resp.StatusCode != 200 || !strings.Contains(body, `Delegated to <strong class="delegate">Mia Maintainer &lt;mia@example.org&gt;</strong>`) {
		t.Fatalf("delegate: %d\n%s", resp.StatusCode, body)
	}
	// Without the token nothing happens.
	if resp, _ := post(t, mia, fmt.Sprintf("%s/series/%d/status", base, s.ID), url.Values{"status": {"needs_revision"}}); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("status without csrf: %d", resp.StatusCode)
	}
	resp, _ = post(t, mia, fmt.Sprintf("%s/series/%d/status", base, s.ID),
		url.Values{"csrf": {csrf[1]}, "status": {"needs_revision"}, "comment": {"Please keep a.c's name."}})
	if resp.StatusCode != 200 {
		t.Fatalf("status form: %d", resp.StatusCode)
	}
	got := sk.waitFor(t, "ada@example.org", 1)
	m := got[0]
	for _, want := range []string{"Subject: Re: Add a and rename it", "Auto-Submitted: auto-generated",
		"Mia Maintainer <mia@example.org> changed the status of your series", "from proposed to needs revision",
		"  Please keep a.c's name.", fmt.Sprintf("/series/%d/", s.ID), "In-Reply-To: <" + s.CoverMessageID + ">"} {
		if !bytes.Contains(m.data, []byte(want)) {
			t.Errorf("notice lacks %q:\n%s", want, m.data)
		}
	}
	if !strings.HasPrefix(m.from, "dev+bounces-") {
		t.Errorf("envelope sender %q", m.from)
	}
	// Once: nothing more comes for that change.
	time.Sleep(5 * time.Second)
	if n := len(sk.waitFor(t, "ada@example.org", 1)); n != 1 {
		t.Fatalf("%d notices for one change", n)
	}

	// The list posts its notices to the thread: the next change reaches
	// Ada as a list post (archived, with the list's headers), once.
	if out, errs, code := cli(t, nil, "list", "notify", "dev", "thread", "--data", data); code != 0 || !strings.Contains(out, "posted to the series' thread") {
		t.Fatalf("list notify: %s %s", out, errs)
	}
	resp, _ = post(t, mia, fmt.Sprintf("%s/series/%d/status", base, s.ID), url.Values{"csrf": {csrf[1]}, "status": {"approved"}})
	if resp.StatusCode != 200 {
		t.Fatalf("status form: %d", resp.StatusCode)
	}
	m = sk.waitFor(t, "ada@example.org", 2)[1]
	for _, want := range []string{"List-Id: <dev.patchwell.localhost>", "Archived-At:", "To: dev@patchwell.localhost",
		"changed the status of the series", "from needs revision to approved"} {
		if !bytes.Contains(m.data, []byte(want)) {
			t.Errorf("thread notice lacks %q:\n%s", want, m.data)
		}
	}
	id := regexp.MustCompile(`(?m)^Message-I[dD]: <([^>]+)>`).FindSubmatch(m.data)
	if id == nil {
		t.Fatalf("no Message-ID:\n%s", m.data)
	}
	if raw := httpGet(t, base+"/dev/"+string(id[1])+"/raw"); !bytes.Contains(raw, []byte("In-Reply-To: <"+s.CoverMessageID+">")) {
		t.Errorf("the thread notice is not archived in the thread:\n%s", raw)
	}
	time.Sleep(4 * time.Second)
	if n := len(sk.waitFor(t, "ada@example.org", 2)); n != 2 {
		t.Fatalf("%d notices for two changes", n)
	}
}
