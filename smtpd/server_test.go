package smtpd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
)

// fakeBackend records deliveries and injects errors and delays.
type fakeBackend struct {
	mu     sync.Mutex
	lists  map[string]bool
	got    []Delivery
	fail   map[string]error // list -> error to return
	delay  time.Duration
	inData chan struct{} // closed when a Deliver starts, if set
}

func (f *fakeBackend) ListExists(ctx context.Context, name string) (bool, error) {
	if name == "broken" {
		return false, errors.New("database is gone")
	}
	return f.lists[name], nil
}

func (f *fakeBackend) Deliver(ctx context.Context, d Delivery) error {
	f.mu.Lock()
	if f.inData != nil {
		close(f.inData)
		f.inData = nil
	}
	delay := f.delay
	f.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range d.Lists {
		if err := f.fail[l]; err != nil {
			return err
		}
	}
	f.got = append(f.got, d)
	return nil
}

func (f *fakeBackend) deliveries() []Delivery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Delivery(nil), f.got...)
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startServer(t *testing.T, cfg Config, be Backend) (*Server, string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(cfg, be, testLogger(t))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	go s.Serve(l)
	t.Cleanup(func() { s.Close() })
	return s, l.Addr().String()
}

func newFake() *fakeBackend {
	return &fakeBackend{lists: map[string]bool{"dev": true, "other": true}, fail: map[string]error{}}
}

const msg = "From: a@example.org\r\nSubject: hi\r\nMessage-ID: <1@example.org>\r\n\r\nbody\r\n..leading dot\r\n"

// conv is a line-oriented client for exact protocol checks.
type conv struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *conv {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	cv := &conv{t: t, c: c, r: bufio.NewReader(c)}
	cv.expect("220")
	return cv
}

// reply reads one (possibly multi-line) reply and returns its last line.
func (cv *conv) reply() string {
	cv.t.Helper()
	for {
		line, err := cv.r.ReadString('\n')
		if err != nil {
			cv.t.Fatalf("read reply: %v (got %q)", err, line)
		}
		if len(line) < 4 || line[3] != '-' {
			return strings.TrimRight(line, "\r\n")
		}
	}
}

func (cv *conv) expect(code string) string {
	cv.t.Helper()
	r := cv.reply()
	if !strings.HasPrefix(r, code) {
		cv.t.Fatalf("got %q, want %s", r, code)
	}
	return r
}

func (cv *conv) send(s string) {
	cv.t.Helper()
	if _, err := io.WriteString(cv.c, s); err != nil {
		cv.t.Fatal(err)
	}
}

func (cv *conv) cmd(s, code string) string {
	cv.t.Helper()
	cv.send(s + "\r\n")
	return cv.expect(code)
}

func TestDeliveryAndReplies(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "lists.example.org", MaxMessageBytes: 1 << 20, MaxRecipients: 3}, be)
	for _, tc := range []struct {
		name string
		run  func(cv *conv)
	}{
		{"unknown list", func(cv *conv) { cv.cmd("RCPT TO:<nope@lists.example.org>", "550 5.1.1") }},
		{"other domain", func(cv *conv) { cv.cmd("RCPT TO:<dev@elsewhere.org>", "550 5.1.1") }},
		{"bad local part", func(cv *conv) { cv.cmd("RCPT TO:<../x@lists.example.org>", "550 5.1.1") }},
		{"lookup failure", func(cv *conv) { cv.cmd("RCPT TO:<broken@lists.example.org>", "451 4.3.0") }},
		{"too many recipients", func(cv *conv) {
			for i := 0; i < 3; i++ {
				cv.cmd("RCPT TO:<dev@lists.example.org>", "250")
			}
			cv.cmd("RCPT TO:<dev@lists.example.org>", "452")
		}},
		{"size announced", func(cv *conv) {}},
		{"nested MAIL", func(cv *conv) {
			// go-smtp lets a second MAIL through with its recipients
			// kept; the session refuses it, and DATA still delivers to
			// no one without the recipients (found by FuzzSMTPSession).
			cv.cmd("RCPT TO:<dev@lists.example.org>", "250")
			cv.cmd("MAIL FROM:<>", "503 5.5.1")
			cv.cmd("RSET", "250")
			cv.cmd("DATA", "502 5.5.1")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cv := dial(t, addr)
			cv.cmd("EHLO test", "250")
			if tc.name == "size announced" {
				cv.cmd("MAIL FROM:<a@example.org> SIZE=99999999", "552 5.3.4")
				return
			}
			cv.cmd("MAIL FROM:<a@example.org>", "250")
			tc.run(cv)
		})
	}
	if n := len(be.deliveries()); n != 0 {
		t.Fatalf("%d deliveries from rejected transactions", n)
	}

	// A good transaction to two lists (one named twice, in another case).
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org> BODY=8BITMIME", "250")
	cv.cmd("RCPT TO:<dev@lists.example.org>", "250")
	cv.cmd("RCPT TO:<OTHER@Lists.Example.Org>", "250")
	cv.cmd("RCPT TO:<dev@lists.example.org>", "250")
	cv.cmd("DATA", "354")
	cv.send(strings.ReplaceAll(msg, "\r\n..leading", "\r\n..leading") + "Caf\xc3\xa9\r\n.\r\n")
	cv.expect("250")
	got := be.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries, want 1", len(got))
	}
	want := "From: a@example.org\nSubject: hi\nMessage-ID: <1@example.org>\n\nbody\n.leading dot\nCaf\xc3\xa9\n"
	if string(got[0].Raw) != want || strings.Join(got[0].Lists, ",") != "dev,other" || got[0].MailFrom != "a@example.org" {
		t.Fatalf("delivery = %+v (raw %q)", got[0], got[0].Raw)
	}
}

func TestSMTPUTF8AndNetSMTP(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost"}, be)
	cv := dial(t, addr)
	if r := cv.cmd("EHLO test", "250"); r == "" {
		t.Fatal("no EHLO reply")
	}
	cv.cmd("MAIL FROM:<jos\xc3\xa9@example.org> SMTPUTF8", "250")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send("From: Jos\xc3\xa9 <jos\xc3\xa9@example.org>\r\n\r\nol\xc3\xa9\r\n.\r\n")
	cv.expect("250")

	if err := smtp.SendMail(addr, nil, "b@example.org", []string{"dev@localhost"}, []byte(msg)); err != nil {
		t.Fatalf("net/smtp SendMail() = %v", err)
	}
	if n := len(be.deliveries()); n != 2 {
		t.Fatalf("%d deliveries, want 2", n)
	}
}

func TestStorageFailureIs451AndNothingRecorded(t *testing.T) {
	be := newFake()
	be.fail["dev"] = errors.New("disk full")
	_, addr := startServer(t, Config{Domain: "localhost"}, be)
	err := smtp.SendMail(addr, nil, "a@example.org", []string{"dev@localhost"}, []byte(msg))
	if err == nil || !strings.Contains(err.Error(), "451") {
		t.Fatalf("SendMail() = %v, want a 451", err)
	}
	if n := len(be.deliveries()); n != 0 {
		t.Fatalf("%d deliveries recorded", n)
	}
}

func TestTooLargeData(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", MaxMessageBytes: 1000}, be)
	big := msg + strings.Repeat("x", 2000) + "\r\n"
	err := smtp.SendMail(addr, nil, "a@example.org", []string{"dev@localhost"}, []byte(big))
	if err == nil || !strings.Contains(err.Error(), "552") {
		t.Fatalf("SendMail(big) = %v, want 552", err)
	}
	if n := len(be.deliveries()); n != 0 {
		t.Fatalf("%d deliveries recorded", n)
	}
}

// TestSmuggling sends both smuggling shapes: the fake end of DATA must
// not end it, the "smuggled" commands must not run, and the message is
// rejected for its bare line endings.
func TestSmuggling(t *testing.T) {
	for _, fake := range []string{"\n.\n", "\r.\n", "\n.\r\n", "\r.\r\n"} {
		t.Run(fmt.Sprintf("%q", fake), func(t *testing.T) {
			be := newFake()
			_, addr := startServer(t, Config{Domain: "localhost"}, be)
			cv := dial(t, addr)
			cv.cmd("EHLO test", "250")
			cv.cmd("MAIL FROM:<a@example.org>", "250")
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send("Subject: one\r\n\r\nfirst" + fake +
				"MAIL FROM:<evil@example.org>\r\nRCPT TO:<other@localhost>\r\nDATA\r\nSubject: smuggled\r\n\r\nevil\r\n.\r\n")
			cv.expect("550 5.6.2")
			cv.cmd("NOOP", "250")
			if got := be.deliveries(); len(got) != 0 {
				t.Fatalf("deliveries: %+v", got)
			}
		})
	}
}

func TestConnectionCaps(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", MaxConnsPerIP: 2}, be)
	a, b := dial(t, addr), dial(t, addr)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(c).ReadString('\n')
	if !strings.HasPrefix(line, "421") {
		t.Fatalf("third connection got %q, want 421", line)
	}
	a.cmd("QUIT", "221")
	a.c.Close()
	time.Sleep(100 * time.Millisecond)
	d := dial(t, addr) // a slot is free again
	d.cmd("NOOP", "250")
	b.cmd("NOOP", "250")
}

func TestIdleTimeout(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", CommandTimeout: 300 * time.Millisecond}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	time.Sleep(time.Second)
	cv.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(cv.c, "NOOP\r\n"); err == nil {
		if line, err := cv.r.ReadString('\n'); err == nil && strings.HasPrefix(line, "250") {
			t.Fatalf("idle connection still served: %q", line)
		}
	}
}

func TestLMTPPerRecipient(t *testing.T) {
	be := newFake()
	be.fail["other"] = errors.New("disk full")
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Domain: "localhost", LMTP: true}, be, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	cv := &conv{t: t, c: c, r: bufio.NewReader(c)}
	cv.expect("220")
	cv.cmd("LHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("RCPT TO:<other@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send(msg + ".\r\n")
	cv.expect("250")
	cv.expect("451")
	if got := be.deliveries(); len(got) != 1 || got[0].Lists[0] != "dev" {
		t.Fatalf("deliveries = %+v", got)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	be := newFake()
	be.delay = 500 * time.Millisecond
	started := make(chan struct{})
	be.inData = started
	s, addr := startServer(t, Config{Domain: "localhost"}, be)
	errc := make(chan error, 1)
	go func() { errc <- sendNoQuit(addr, "a@example.org", "dev@localhost", msg) }()
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("in-flight send: %v", err)
	}
	if n := len(be.deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func TestGoSMTPClientAndSwaks(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost"}, be)
	cl, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.SendMail("a@example.org", []string{"dev@localhost"}, strings.NewReader(msg)); err != nil {
		t.Fatalf("go-smtp client SendMail() = %v", err)
	}
	cl.Quit()
	if _, err := exec.LookPath("swaks"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("swaks is required under CI: %v", err)
		}
		t.Skipf("swaks not installed: %v", err)
	}
	host, port, _ := net.SplitHostPort(addr)
	out, err := exec.Command("swaks", "--server", host, "--port", port, "--to", "dev@localhost", "--from", "s@example.org",
		"--header", "Subject: from swaks", "--body", "hello from swaks").CombinedOutput()
	if err != nil {
		t.Fatalf("swaks: %v\n%s", err, out)
	}
	got := be.deliveries()
	if len(got) != 2 || !strings.Contains(string(got[1].Raw), "Subject: from swaks\n") || strings.Contains(string(got[1].Raw), "\r") {
		t.Fatalf("deliveries = %d, last %q", len(got), got[len(got)-1].Raw)
	}
}

func TestFromCRLF(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"a\r\nb\r\n", "a\nb\n", true},
		{"", "", true},
		{"no newline", "no newline", true},
		{"a\nb\r\n", "a\nb\n", true},
		{"a\n.b\n..c\n", "a\nb\n.c\n", true},
		{"a\r\n.b\r\n", "a\n.b\n", true},
		{"a\n.\nb", "", false},
		{"a\n.\r\nb", "", false},
		{"a\n.", "", false},
		{"a\x00b", "", false},
		{"a\rb\r\n", "", false},
		{"a\r\n\r", "", false},
	} {
		got, ok := fromCRLF([]byte(tc.in))
		if ok != tc.ok || (ok && string(got) != tc.want) {
			t.Errorf("fromCRLF(%q) = %q, %v", tc.in, got, ok)
		}
	}
}

// FuzzSMTPSession feeds arbitrary client bytes to a server: no panics, and
// nothing delivered ever holds a CR.
func FuzzSMTPSession(f *testing.F) {
	f.Add([]byte("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<dev@localhost>\r\nDATA\r\nSubject: s\r\n\r\nbody\r\n.\r\nQUIT\r\n"))
	f.Add([]byte("HELO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<dev@localhost>\r\nDATA\r\nx\n.\nMAIL FROM:<e@f>\r\n.\r\n"))
	f.Add([]byte("EHLO x\r\nBDAT 5 LAST\r\nhello"))
	be := newFake()
	s, err := New(Config{Domain: "localhost", CommandTimeout: 2 * time.Second}, be, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		f.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		before := len(be.deliveries())
		go func() {
			c.Write(in)
			// End a DATA left open, then leave; the server closes after QUIT.
			c.Write([]byte("\r\n.\r\nQUIT\r\n"))
		}()
		io.Copy(io.Discard, c) // until the server has closed: all replies are out
		wire := append(append([]byte(nil), in...), "\r\n.\r\nQUIT\r\n"...)
		for _, d := range be.deliveries()[before:] {
			// Every DATA message must be there, verbatim, in what the
			// client sent (BDAT chunks have no such form).
			if !bytes.Contains(bytes.ToUpper(wire), []byte("BDAT")) && !sentAsData(wire, d.Raw) {
				t.Fatalf("delivered %q, which the client never sent as one DATA", d.Raw)
			}
			if strings.ContainsAny(string(d.Raw), "\r\x00") {
				t.Fatalf("delivered raw with CR or NUL: %q", d.Raw)
			}
			seen := map[string]bool{}
			for _, l := range d.Lists {
				if !be.lists[l] || seen[l] {
					t.Fatalf("delivered to lists %q", d.Lists)
				}
				seen[l] = true
			}
			if len(d.Lists) == 0 || int64(len(d.Raw)) > 32<<20 {
				t.Fatalf("delivery with %d lists, %d bytes", len(d.Lists), len(d.Raw))
			}
		}
	})
}
