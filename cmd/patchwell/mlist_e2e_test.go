package main

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// sink is a real SMTP server standing in for the smarthost: it keeps
// every message it accepts, with its envelope.
type sink struct {
	mu   sync.Mutex
	got  []sunk
	addr string
}

type sunk struct {
	from string
	to   []string
	data []byte
}

type sinkSession struct {
	s    *sink
	from string
	to   []string
}

func (s *sink) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }

func (ss *sinkSession) AuthPlain(string, string) error { return nil }
func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.from = from
	return nil
}
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.got = append(ss.s.got, sunk{from: ss.from, to: ss.to, data: b})
	ss.s.mu.Unlock()
	return nil
}
func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

func startSink(t *testing.T) *sink {
	t.Helper()
	s := &sink{}
	srv := smtp.NewServer(s)
	srv.Domain = "sink.localhost"
	srv.AllowInsecureAuth = true
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

// waitFor returns the messages to rcpt once there are n of them.
func (s *sink) waitFor(t *testing.T, rcpt string, n int) []sunk {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var out []sunk
		s.mu.Lock()
		for _, m := range s.got {
			for _, to := range m.to {
				if strings.EqualFold(to, rcpt) {
					out = append(out, m)
				}
			}
		}
		s.mu.Unlock()
		if len(out) >= n {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s got %d messages, want %d", rcpt, len(out), n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func swaks(t *testing.T, server, from, to, subject string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(server)
	out, err := exec.Command("swaks", "--server", host, "--port", port, "--from", from, "--to", to,
		"--header", "Subject: "+subject, "--body", "please", "--helo", "client.example").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks to %s: %v\n%s", to, err, out)
	}
}

var confirmRE = regexp.MustCompile(`dev\+confirm-[0-9a-f]+@patchwell\.localhost`)

// TestMailingList: subscribe by mail with swaks and confirm; subscribers
// added by the operator; a series sent with git send-email reaches every
// subscriber once, through the smarthost, with the list headers and the
// message's own bytes; unsubscribe by mail.
func TestMailingList(t *testing.T) {
	needTool(t, "swaks", "--version")
	needTool(t, "git", "send-email", "--help")
	sk := startSink(t)
	data := t.TempDir()
	srv := startServer(t, data, "--smarthost", sk.addr)

	swaks(t, srv.smtp, "zed@example.org", "dev+subscribe@patchwell.localhost", "subscribe")
	conf := sk.waitFor(t, "zed@example.org", 1)[0]
	addr := confirmRE.FindString(string(conf.data))
	if addr == "" {
		t.Fatalf("no confirm address in:\n%s", conf.data)
	}
	swaks(t, srv.smtp, "zed@example.org", addr, "Re: confirm")
	welcome := sk.waitFor(t, "zed@example.org", 2)[1]
	if !bytes.Contains(welcome.data, []byte("now subscribed")) {
		t.Fatalf("welcome:\n%s", welcome.data)
	}
	for _, a := range []string{"amy@example.org", "bob@example.net"} {
		run(t, data, binary, "sub", "add", a, "--list", "dev", "--data", data)
	}
	if out := run(t, data, binary, "sub", "ls", "--list", "dev", "--data", data); strings.Count(out, "active") != 3 {
		t.Fatalf("subscribers:\n%s", out)
	}

	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "List delivery")
	for _, rcpt := range []string{"zed@example.org", "amy@example.org", "bob@example.net"} {
		want := 4
		if rcpt == "zed@example.org" {
			want = 6 // the confirmation and the welcome came first
		}
		got := sk.waitFor(t, rcpt, want)
		posts := got[len(got)-4:]
		for _, m := range posts {
			if len(m.to) != 1 {
				t.Errorf("one transaction for several recipients: %v", m.to)
			}
			if !strings.HasPrefix(m.from, "dev+bounces-") || !strings.HasSuffix(m.from, "@patchwell.localhost") {
				t.Errorf("envelope sender %q is not a VERP address", m.from)
			}
			for _, h := range []string{"List-Id: <dev.patchwell.localhost>", "List-Post: <mailto:dev@patchwell.localhost>",
				"List-Unsubscribe:", "List-Unsubscribe-Post: List-Unsubscribe=One-Click", "List-Archive:", "Archived-At:", "Precedence: list"} {
				if !bytes.Contains(m.data, []byte(h)) {
					t.Errorf("copy to %s lacks %q", rcpt, h)
				}
			}
			// The list's headers come first; the message follows as archived.
			id := regexp.MustCompile(`(?m)^Message-I[dD]: <([^>]+)>`).FindSubmatch(m.data)
			if id == nil {
				t.Fatalf("no Message-ID in copy:\n%s", m.data)
			}
			raw := httpGet(t, "http://"+srv.http+"/dev/"+string(id[1])+"/raw")
			copyLF := bytes.ReplaceAll(m.data, []byte("\r\n"), []byte("\n"))
			if !bytes.HasSuffix(copyLF, raw) {
				t.Errorf("copy of %s to %s does not end with the archived bytes", id[1], rcpt)
			}
		}
	}
	if s.Total != 3 {
		t.Errorf("series total %d", s.Total)
	}

	// RFC 8058 one-click unsubscribe with the link in amy's copy.
	amyCopy := sk.waitFor(t, "amy@example.org", 4)[0].data
	link := regexp.MustCompile(`List-Unsubscribe: <(http[^>]+)>`).FindSubmatch(amyCopy)
	if link == nil {
		t.Fatalf("no https link in List-Unsubscribe:\n%s", amyCopy)
	}
	resp, err := http.Post(string(link[1]), "application/x-www-form-urlencoded", strings.NewReader("List-Unsubscribe=One-Click"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("one-click unsubscribe: %d", resp.StatusCode)
	}
	if out := run(t, data, binary, "sub", "ls", "--list", "dev", "--data", data); strings.Contains(out, "amy@") {
		t.Errorf("amy still subscribed after one-click:\n%s", out)
	}

	swaks(t, srv.smtp, "zed@example.org", "dev+unsubscribe@patchwell.localhost", "unsubscribe")
	got := sk.waitFor(t, "zed@example.org", 7)
	addr = confirmRE.FindString(string(got[6].data))
	if addr == "" {
		t.Fatalf("no confirm address in:\n%s", got[6].data)
	}
	swaks(t, srv.smtp, "zed@example.org", addr, "Re: confirm")
	sk.waitFor(t, "zed@example.org", 8)
	if out := run(t, data, binary, "sub", "ls", "--list", "dev", "--data", data); strings.Contains(out, "zed@") {
		t.Errorf("still subscribed:\n%s", out)
	}
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return b
}
