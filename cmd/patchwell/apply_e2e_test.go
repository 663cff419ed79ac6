package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/net/dns/dnsmessage"
)

// startDNS serves the TXT records txt (by lower-case name) over UDP on
// loopback, for serve --resolver: every other name does not exist, a
// name with records has no other types. It returns the address.
func startDNS(t *testing.T, txt map[string][]string) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			var p dnsmessage.Parser
			h, err := p.Start(buf[:n])
			if err != nil {
				continue
			}
			q, err := p.Question()
			if err != nil {
				continue
			}
			vals, ok := txt[strings.ToLower(strings.TrimSuffix(q.Name.String(), "."))]
			rh := dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true, RecursionDesired: h.RecursionDesired, RecursionAvailable: true}
			if !ok {
				rh.RCode = dnsmessage.RCodeNameError
			}
			b := dnsmessage.NewBuilder(nil, rh)
			b.StartQuestions()
			b.Question(q)
			b.StartAnswers()
			if q.Type == dnsmessage.TypeTXT {
				for _, v := range vals {
					b.TXTResource(dnsmessage.ResourceHeader{Name: q.Name, Type: dnsmessage.TypeTXT, Class: dnsmessage.ClassINET, TTL: 60},
						dnsmessage.TXTResource{TXT: []string{v}})
				}
			}
			if out, err := b.Finish(); err == nil {
				pc.WriteTo(out, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// TestApplyByMailCommand: a series sent with git send-email to a running
// server (real DKIM, SPF and DMARC checks against a DNS server the test
// runs) is applied when its maintainer replies with X-Patchwell-Apply:
// yes in mail DKIM-signed by their domain: pushed to the bare
// repository with them as committer, status applied, the "Applied to
// main, thanks" reply archived in the thread, and the maintainer
// answered through the smarthost. The same reply without the signature
// (passing SPF, so DMARC passes, but not through DKIM) and a second
// signed one change nothing and are answered with why.
func TestApplyByMailCommand(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dns := startDNS(t, map[string][]string{
		"example.org":                {"v=spf1 ip4:127.0.0.0/8 -all"},
		"_dmarc.example.org":         {"v=DMARC1; p=none"},
		"sel._domainkey.example.org": {"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)},
	})
	sk := startSink(t)
	data := t.TempDir()
	srv := startServer(t, data, "--mail-auth=true", "--resolver", dns, "--smarthost", sk.addr, "--ci=false")
	repo := makeRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	gitT(t, repo, "init", "-q", "--bare", "-b", "main", origin)
	gitT(t, repo, "push", "-q", origin, "HEAD~3:refs/heads/main")
	base := gitT(t, origin, "rev-parse", "main")
	if _, errs, code := cli(t, nil, "list", "update", "dev", "--data", data, "--repo", origin, "--branch", "main"); code != 0 {
		t.Fatalf("list update: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mai Ntainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	s := sendSeries(t, srv, repo, "v1", "Apply me by mail")
	parent := s.CoverMessageID
	if parent == "" {
		parent = s.MessageID
	}

	n := 0
	reply := func(signed bool) string {
		n++
		msg := fmt.Sprintf("From: Mai Ntainer <maint@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: [PATCH 0/3] Apply me by mail\r\n"+
			"Date: %s\r\nMessage-ID: <apply-%d@example.org>\r\nIn-Reply-To: <%s>\r\nReferences: <%s>\r\nX-Patchwell-Apply: yes\r\n\r\n"+
			"Thanks, applying.\r\n", time.Now().Format(time.RFC1123Z), n, parent, parent)
		if !signed {
			return msg
		}
		var b bytes.Buffer
		if err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "example.org", Selector: "sel", Signer: key,
			HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}); err != nil {
			t.Fatalf("dkim.Sign() = %v", err)
		}
		return b.String()
	}
	answer := func(i int) string {
		t.Helper()
		return string(sk.waitFor(t, "maint@example.org", i)[i-1].data)
	}

	// Unsigned: SPF passes (127.0.0.1 is allowed), so DMARC does, but not
	// through DKIM: not obeyed.
	sendRaw(t, srv.smtp, "maint@example.org", []string{"dev@patchwell.localhost"}, reply(false))
	if a := answer(1); !strings.Contains(a, "Not done") || !strings.Contains(a, "not signed (DKIM) by example.org") {
		t.Fatalf("answer to the unsigned command:\n%s", a)
	}
	if head := gitT(t, origin, "rev-parse", "main"); head != base {
		t.Fatalf("an unsigned command moved main to %s", head)
	}

	// Signed by example.org: applied, as the API would.
	sendRaw(t, srv.smtp, "maint@example.org", []string{"dev@patchwell.localhost"}, reply(true))
	a := answer(2)
	if !strings.Contains(a, fmt.Sprintf("Done: series %d is applied", s.ID)) || strings.Count(a, "commit: ") != 3 {
		t.Fatalf("answer to the signed command:\n%s\nserver log:\n%s", a, srv.logText())
	}
	head := gitT(t, origin, "rev-parse", "main")
	if !strings.Contains(a, head) {
		t.Errorf("the answer does not name the new head %s:\n%s", head, a)
	}
	if got := gitT(t, origin, "log", "--format=%an <%ae>|%cn <%ce>", base+"..main"); strings.Count(got, "Ada Lovelace <ada@example.org>|Mai Ntainer <maint@example.org>") != 3 {
		t.Errorf("authorship and committer of the applied commits:\n%s", got)
	}
	var after apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &after)
	if after.Status != "applied" {
		t.Errorf("status after the command: %q", after.Status)
	}
	thread := string(httpGet(t, "http://"+srv.http+"/api/v1/lists/dev/threads/"+parent))
	m := regexp.MustCompile(`"(applied\.[0-9]+\.[0-9]+@[^"]+)"`).FindStringSubmatch(thread)
	if m == nil {
		t.Fatalf("no applied reply in the thread: %s", thread)
	}
	if raw := string(httpGet(t, "http://"+srv.http+"/dev/"+m[1]+"/raw")); !strings.Contains(raw, "Applied to main, thanks!") || !strings.Contains(raw, "From: maint@example.org") {
		t.Errorf("applied reply:\n%s", raw)
	}
	// The verdict is on the command's message page.
	if page := string(httpGet(t, "http://"+srv.http+"/dev/apply-2@example.org/")); !strings.Contains(page, "X-Patchwell-Apply: yes") {
		t.Errorf("the command is not shown with its message")
	}

	// Again: refused, nothing pushed.
	sendRaw(t, srv.smtp, "maint@example.org", []string{"dev@patchwell.localhost"}, reply(true))
	if a := answer(3); !strings.Contains(a, "Not done") || !strings.Contains(a, "applied already") {
		t.Fatalf("answer to the second command:\n%s", a)
	}
	if again := gitT(t, origin, "rev-parse", "main"); again != head {
		t.Errorf("main moved from %s to %s", head, again)
	}
	srv.stop()
}

// TestApplyButtonWhileServing: the series page's Apply button against a
// running server and a real bare repository. A maintainer sees it, a
// reader does not; when the branch moved under the series the press
// shows the conflict (patch named, markers) and pushes nothing; once the
// branch is back the press applies it and the page lists the commits
// the repository has. A series touching .gitmodules carries the warning.
func TestApplyButtonWhileServing(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false")
	base := "http://" + srv.http
	repo := makeRepo(t)
	origin := filepath.Join(t.TempDir(), "origin.git")
	gitT(t, repo, "init", "-q", "--bare", "-b", "main", origin)
	gitT(t, repo, "push", "-q", origin, "HEAD~3:refs/heads/main")
	cli(t, nil, "list", "update", "dev", "--data", data, "--repo", origin, "--branch", "main")
	for _, u := range []string{"maint@example.org", "reader@example.org"} {
		if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", u, "--data", data); code != 0 {
			t.Fatalf("user add: %s", errs)
		}
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	s := sendSeries(t, srv, repo, "v1", "Apply me with the button")
	page := fmt.Sprintf("%s/series/%d/", base, s.ID)
	signin := func(email string) *http.Client {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Jar: jar}
		resp, err := c.PostForm(base+"/signin", url.Values{"email": {email}, "password": {"correct horse battery"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return c
	}
	const button = "<button>Apply to main</button>"
	if _, body := fetch(t, signin("reader@example.org"), page); strings.Contains(body, button) {
		t.Error("a reader without a role sees the Apply button")
	}
	maint := signin("maint@example.org")
	_, body := fetch(t, maint, page)
	csrf := regexp.MustCompile(`action="/series/\d+/apply"[^>]*><input type="hidden" name="csrf" value="([0-9a-f]+)"`).FindStringSubmatch(body)
	if !strings.Contains(body, button) || csrf == nil {
		t.Fatalf("the maintainer sees no Apply form:\n%s", body)
	}
	press := func() (int, string) {
		req, _ := http.NewRequest("POST", fmt.Sprintf("%s/series/%d/apply", base, s.ID), strings.NewReader(url.Values{"csrf": {csrf[1]}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept", "text/html")
		resp, err := maint.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// The branch moved: README changed the other way.
	other := t.TempDir()
	gitT(t, other, "clone", "-q", origin, "c")
	os.WriteFile(filepath.Join(other, "c", "README"), []byte("hello\nplanet\n"), 0o644)
	gitT(t, filepath.Join(other, "c"), "commit", "-q", "-am", "readme: planet")
	gitT(t, filepath.Join(other, "c"), "push", "-q", "origin", "main")
	moved := gitT(t, origin, "rev-parse", "main")
	code, body := press()
	if code != http.StatusConflict || !strings.Contains(body, "patch 2 (readme: world) does not apply") || !strings.Contains(body, "&lt;&lt;&lt;&lt;&lt;&lt;&lt;") {
		t.Fatalf("press on a moved branch: %d\n%s", code, body)
	}
	if head := gitT(t, origin, "rev-parse", "main"); head != moved {
		t.Fatalf("a conflict pushed: main at %s, was %s", head, moved)
	}

	// Back to the series' base: applied, and the page says with what.
	gitT(t, repo, "push", "-q", "--force", origin, "HEAD~3:refs/heads/main")
	code, body = press()
	if code != 200 || !strings.Contains(body, "Applied to <code>main</code> by maint@example.org") || strings.Contains(body, button) {
		t.Fatalf("press: %d\n%s", code, body)
	}
	for _, id := range strings.Fields(gitT(t, origin, "log", "--format=%H", "HEAD~3..main")) {
		if !strings.Contains(body, "<code>"+id+"</code>") {
			t.Errorf("commit %s is not listed on the page", id)
		}
	}

	// A series touching .gitmodules: a warning for every reader.
	os.WriteFile(filepath.Join(repo, ".gitmodules"), []byte("[submodule \"x\"]\n\tpath = x\n\turl = ../x\n"), 0o644)
	run(t, repo, "git", "add", ".gitmodules")
	run(t, repo, "git", "commit", "-q", "-m", "add a submodule file\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	out := filepath.Join(repo, "sub")
	run(t, repo, "git", "format-patch", "-q", "-o", out, "HEAD~1")
	sendEmail(t, repo, srv.smtp, out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 2 || list.Series[0].ID == s.ID {
		t.Fatalf("series after the second send: %+v", list.Series)
	}
	_, body = fetch(t, http.DefaultClient, fmt.Sprintf("%s/series/%d/", base, list.Series[0].ID))
	if !strings.Contains(body, `<section id="flags" class="warning">`) || strings.Count(body, "patch 1 touches <code>.gitmodules</code>: changes submodules (.gitmodules)") != 1 {
		t.Errorf("no .gitmodules warning on the series page:\n%s", body)
	}
	srv.stop()
}

// TestSymlinkFlag: a real git format-patch of a commit adding the
// symbolic link evil -> /etc/passwd (and latest -> README, within the
// tree), sent with git send-email, is flagged on the series page and in
// GET /api/v1/series/{id}, naming the link and its target.
func TestSymlinkFlag(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	srv := startServer(t, t.TempDir(), "--ci=false")
	repo := makeRepo(t)
	os.Symlink("/etc/passwd", filepath.Join(repo, "evil"))
	os.Symlink("README", filepath.Join(repo, "latest"))
	run(t, repo, "git", "add", "evil", "latest")
	run(t, repo, "git", "commit", "-q", "-m", "add links\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	out := filepath.Join(repo, "links")
	run(t, repo, "git", "format-patch", "-q", "-o", out, "HEAD~1")
	sendEmail(t, repo, srv.smtp, out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Fatalf("series: %+v", list.Series)
	}
	id := list.Series[0].ID

	const evil = `adds a symbolic link to "/etc/passwd": an absolute path, outside the tree`
	const latest = `adds a symbolic link to "README" (within the tree)`
	_, body := fetch(t, http.DefaultClient, fmt.Sprintf("http://%s/series/%d/", srv.http, id))
	warn := regexp.MustCompile(`(?s)<section id="flags" class="warning">.*?</section>`).FindString(body)
	esc := strings.NewReplacer(`"`, "&#34;")
	for _, want := range []string{
		"patch 1 touches <code>evil</code>: " + esc.Replace(evil) + "</li>",
		"patch 1 touches <code>latest</code>: " + esc.Replace(latest) + "</li>",
	} {
		if strings.Count(warn, want) != 1 {
			t.Errorf("the warning does not say %q once:\n%s", want, warn)
		}
	}

	var s struct {
		Flags []struct {
			Patch   int
			Path    string
			Reason  string
			Refused bool
		}
	}
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", id), &s)
	got := map[string]string{}
	for _, f := range s.Flags {
		if f.Patch != 1 || f.Refused {
			t.Errorf("flag %+v", f)
		}
		got[f.Path] = f.Reason
	}
	if got["evil"] != evil || got["latest"] != latest || len(got) != 2 {
		t.Errorf("API flags %+v, want evil: %s, latest: %s", s.Flags, evil, latest)
	}
	srv.stop()
}
