package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
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
		t.Fatalf("answer to the signed command:\n%s\nserver log:\n%s", a, srv.log.String())
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
