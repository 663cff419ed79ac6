package imapd_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/imapd"
	"patchwell/store"
)

// rawConn speaks IMAP by hand, for what no well-behaved client sends.
type rawConn struct {
	t testing.TB
	c net.Conn
	r *bufio.Reader
}

func dialRaw(t testing.TB, addr string) (*rawConn, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, r: bufio.NewReader(c)}
	return rc, rc.line()
}

// line reads one response line (within 5 s); "" at EOF.
func (rc *rawConn) line() string {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	s, err := rc.r.ReadString('\n')
	if err != nil && err != io.EOF {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			rc.t.Fatalf("no answer within 5 s (read %q)", s)
		}
	}
	return s
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatalf("write %q: %v", trunc([]byte(s)), err)
	}
}

// cmd sends "tag line" and returns the untagged lines and the tagged
// status line.
func (rc *rawConn) cmd(tag, line string) ([]string, string) {
	rc.t.Helper()
	rc.send(tag + " " + line + "\r\n")
	return rc.until(tag)
}

func (rc *rawConn) until(tag string) ([]string, string) {
	rc.t.Helper()
	var untagged []string
	for {
		l := rc.line()
		if l == "" {
			rc.t.Fatalf("connection closed waiting for %s (after %q)", tag, untagged)
		}
		if strings.HasPrefix(l, tag+" ") {
			return untagged, strings.TrimRight(l, "\r\n")
		}
		untagged = append(untagged, strings.TrimRight(l, "\r\n"))
	}
}

func (rc *rawConn) expect(tag, line, status string) []string {
	rc.t.Helper()
	u, st := rc.cmd(tag, line)
	if !strings.HasPrefix(st, tag+" "+status) {
		rc.t.Errorf("%s %s = %q, want %s", tag, trunc([]byte(line)), st, status)
	}
	return u
}

func TestBadInput(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	for _, raw := range testMessages(t)[:3] {
		f.deliver("dev", raw)
	}
	rc, greet := dialRaw(t, f.addr)
	if !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting %q", greet)
	}
	// Before login, go-imap answers an unknown command BAD and hangs up
	// (against cross-protocol attacks); after, BAD and carries on.
	rc.expect("a1", "FROBNICATE now", "BAD")
	if l := rc.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("after an unknown command before login: %q, want * BYE", l)
	}
	if l := rc.line(); l != "" {
		t.Errorf("connection still open after BYE: %q", l)
	}
	rc, _ = dialRaw(t, f.addr)
	rc.expect("a2", "LOGIN anonymous x", "OK")
	rc.expect("a2b", "FROBNICATE now", "BAD")
	rc.expect("a2c", "FETCH", "BAD")
	rc.expect("a3", "SELECT dev", "OK")
	for i, c := range []string{"FETCH 1:x FLAGS", "FETCH 0 FLAGS", "UID FETCH 1:x FLAGS", "FETCH 1,,2 FLAGS", "UID SEARCH UID 0:x"} {
		tag := fmt.Sprintf("a4%c", 'a'+i)
		_, st := rc.cmd(tag, c)
		checkMalformed(t, c, tag, st)
	}
	rc.expect("a6", "FETCH 4:9 FLAGS", "BAD") // past the last message
	if u := rc.expect("a8", "FETCH 1:* FLAGS", "OK"); len(u) != 3 {
		t.Errorf("FETCH 1:* after the bad ones = %q", u)
	}
	rc.expect("a9", `STORE 1 +FLAGS (\Seen)`, "OK")
	if u := rc.expect("a10", "FETCH 1 FLAGS", "OK"); len(u) != 1 || !strings.Contains(u[0], `\Seen`) {
		t.Errorf("FLAGS after STORE = %q", u)
	}

	// A 100 MB literal announced: refused before the client sends it.
	rc.send("b1 APPEND dev {104857600}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "b1 NO [TOOBIG]") {
		t.Errorf("APPEND of 100 MB = %q, want NO [TOOBIG] before the literal", l)
	}
	rc.expect("b2", "NOOP", "OK")
	// A small APPEND is read and refused: the archive is read-only.
	msg := "Subject: hi\r\n\r\nhello\r\n"
	rc.send(fmt.Sprintf("b3 APPEND dev {%d}\r\n", len(msg)))
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND: %q, want a continuation", l)
	}
	rc.send(msg + "\r\n")
	if _, st := rc.until("b3"); !strings.HasPrefix(st, "b3 NO [CANNOT]") {
		t.Errorf("APPEND = %q, want NO [CANNOT]", st)
	}
	for i, c := range []string{"EXPUNGE", "UID EXPUNGE 1", "COPY 1 INBOX", "MOVE 1 INBOX", "UID MOVE 1 INBOX",
		"CREATE newbox", "DELETE dev", "RENAME dev devnew"} {
		rc.expect(fmt.Sprintf("c%d", i), c, "NO")
	}
	if u := rc.expect("d1", "FETCH 1:* FLAGS", "OK"); len(u) != 3 {
		t.Errorf("FETCH 1:* at the end = %q", u)
	}
	// A non-synchronizing literal of 100 MB: the server may not wait
	// for it; it answers, or drops the connection, at once.
	rc.send("d2 APPEND dev {104857600+}\r\n")
	if l := rc.line(); l != "" && !strings.Contains(l, "NO") && !strings.Contains(l, "BAD") && !strings.Contains(l, "BYE") {
		t.Errorf("non-synchronizing 100 MB literal: %q", l)
	}

	// A 100 KB command line is refused (BAD or BYE and a close).
	rc2, _ := dialRaw(t, f.addr)
	rc2.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	go io.WriteString(rc2.c, "e1 LOGIN anonymous "+strings.Repeat("x", 100<<10)+"\r\n")
	if l := rc2.line(); l != "" && !strings.Contains(l, "BYE") {
		checkMalformed(t, "a 100 KB command line", "e1", strings.TrimRight(l, "\r\n"))
	}
	// The server still answers.
	rc3, greet := dialRaw(t, f.addr)
	if !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting after bad input %q", greet)
	}
	rc3.expect("f1", "LOGIN anonymous x", "OK")
	rc3.expect("f2", "EXAMINE dev", "OK")
}

// checkMalformed checks that a malformed command was refused BAD (go-imap
// answers some NO [SERVERBUG]; the guard answers them first).
func checkMalformed(t *testing.T, what, tag, status string) {
	t.Helper()
	if !strings.HasPrefix(status, tag+" BAD") {
		t.Errorf("%s: %q, want BAD", what, status)
	}
}

// clientMistakes are commands go-imap took for server faults, with what
// the BAD answering them says (TestClientMistakes, TestStartTLSMistakes),
// in the selected mailbox "dev".
var clientMistakes = []struct{ cmd, reason string }{
	{"UID FETCH 1:4294967296 FLAGS", "sequence set"},
	{"FETCH 1:x FLAGS", "sequence set"},
	{"FETCH 0 FLAGS", "sequence set"},
	{"FETCH 1,,2 FLAGS", "sequence set"},
	{"UID STORE 01 +FLAGS (\\Seen)", "sequence set"},
	{"UID SEARCH UID 0:x", "sequence set"},
	{"SEARCH 99999999999", "search key"},
	{"SEARCH FOOBAR", "search key"},
	{"SEARCH OR SUBJECT x FROBNICATE", "search key"},
	{"SEARCH SINCE 99-Foo-2020", "date"},
	{"SEARCH " + strings.Repeat("(", 2000) + "ALL" + strings.Repeat(")", 2000), "nested"},
	{"FETCH 1 " + strings.Repeat("(", 2000), "nested"},
	{`STATUS "&Jjo" (MESSAGES)`, "mailbox name"},
	{"SELECT &Jjo-&Jjo-", "mailbox name"},
	{"FETCH 1 (FLAGS " + strings.Repeat("x", 200<<10) + ")", "too long"},
	{`APPEND dev "31-Foo-2024 25:00:00 +0000" {5}`, "date-time"},
}

// TestClientMistakes: what a client gets wrong is answered BAD with the
// reason, not NO [SERVERBUG], and the session goes on.
func TestClientMistakes(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	for _, raw := range testMessages(t)[:3] {
		f.deliver("dev", raw)
	}
	rc, _ := dialRaw(t, f.addr)
	rc.expect("a", "LOGIN anonymous x", "OK")
	rc.expect("b", "SELECT dev", "OK")
	for i, tc := range clientMistakes {
		tag := fmt.Sprintf("c%d", i)
		rc.send(tag + " " + tc.cmd + "\r\n")
		_, st := rc.until(tag)
		if !strings.HasPrefix(st, tag+" BAD") || !strings.Contains(strings.ToLower(st), tc.reason) {
			t.Errorf("%s: %q, want BAD saying %q", trunc([]byte(tc.cmd)), st, tc.reason)
		}
		rc.expect(tag+"n", "NOOP", "OK")
	}

	// A literal over go-imap's 4 KiB outside APPEND: go-imap refused it
	// but went on reading, and client and server waited on each other.
	rc.send("d1 LOGIN {5000}\r\n")
	if _, st := rc.until("d1"); !strings.HasPrefix(st, "d1 BAD") || !strings.Contains(st, "Literal") {
		t.Errorf("a 5,000-byte literal: %q, want BAD before the literal", st)
	}
	rc.expect("d2", "NOOP", "OK")
	// The same, non-synchronizing: the client sends it unasked; it is
	// dropped with the rest of the command.
	rc.send("d3 SEARCH TEXT {5000+}\r\n" + strings.Repeat("y", 5000) + " ALL\r\n")
	if _, st := rc.until("d3"); !strings.HasPrefix(st, "d3 BAD") {
		t.Errorf("a non-synchronizing 5,000-byte literal: %q, want BAD", st)
	}
	rc.expect("d4", "NOOP", "OK")
	// A literal of the right size goes through.
	rc.send("d5 SEARCH CHARSET UTF-8 TEXT {4}\r\n")
	if l := rc.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("a 4-byte literal: %q, want a continuation", l)
	}
	rc.send("frob\r\n")
	if _, st := rc.until("d5"); !strings.HasPrefix(st, "d5 OK") {
		t.Errorf("SEARCH with a literal: %q", st)
	}
	// A literal go-imap refuses before asking for it: what follows is
	// a command again.
	rc.send("d6 SELECT dev {3}\r\n")
	if _, st := rc.until("d6"); !strings.HasPrefix(st, "d6 BAD") {
		t.Errorf("SELECT with a stray literal: %q, want BAD", st)
	}
	rc.expect("d7", "UID FETCH 1:4294967296 FLAGS", "BAD")
	rc.expect("d8", "FETCH 1 FLAGS", "OK")

	// Before login too, and for AUTHENTICATE's initial response.
	rc2, _ := dialRaw(t, f.addr)
	rc2.expect("e1", "AUTHENTICATE PLAIN !!!notbase64", "BAD")
	rc2.send("e2 AUTHENTICATE PLAIN\r\n")
	if l := rc2.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("AUTHENTICATE PLAIN: %q, want a continuation", l)
	}
	rc2.send(strings.Repeat("A", 8000) + "\r\n")
	if _, st := rc2.until("e2"); !strings.HasPrefix(st, "e2 BAD") {
		t.Errorf("an 8,000-byte SASL response: %q, want BAD", st)
	}
	rc2.expect("e3", "LOGIN anonymous x", "OK")

	// A 100 MB non-synchronizing literal is not read: BAD, and BYE.
	rc3, _ := dialRaw(t, f.addr)
	rc3.expect("f1", "LOGIN anonymous x", "OK")
	rc3.send("f2 APPEND dev {104857600+}\r\n")
	if l := rc3.line(); !strings.HasPrefix(l, "f2 BAD") {
		t.Errorf("a 100 MB non-synchronizing literal: %q, want BAD", l)
	}
	if l := rc3.line(); !strings.HasPrefix(l, "* BYE") {
		t.Errorf("after it: %q, want * BYE", l)
	}
}

// TestManySessions opens 2,000 sessions and drops them (some after half
// a command, some after a SELECT whose answer they never read); the
// server still answers and its goroutines go back to where they were.
func TestManySessions(t *testing.T) {
	f := newFixture(t, imapd.Config{MaxConnsPerIP: 10000}, "dev")
	for _, raw := range testMessages(t)[:4] {
		f.deliver("dev", raw)
	}
	// One session first, so that the mailbox index is loaded.
	rc, _ := dialRaw(t, f.addr)
	rc.expect("a", "LOGIN anonymous x", "OK")
	rc.expect("b", "SELECT dev", "OK")
	before := runtime.NumGoroutine()

	var wg sync.WaitGroup
	work := make(chan int)
	var mu sync.Mutex
	var failed []string
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				c, err := net.DialTimeout("tcp", f.addr, 5*time.Second)
				if err != nil {
					mu.Lock()
					failed = append(failed, err.Error())
					mu.Unlock()
					continue
				}
				switch i % 4 {
				case 0: // connect and go
				case 1:
					io.WriteString(c, "a LOGIN anon")
				case 2:
					io.WriteString(c, "a LOGIN anonymous x\r\nb SELECT dev\r\nc FETCH 1:* (BODY[])\r\n")
				case 3:
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					bufio.NewReader(c).ReadString('\n')
					io.WriteString(c, "a APPEND dev {50}\r\nSubject")
				}
				c.Close()
			}
		}()
	}
	for i := range 2000 {
		work <- i
	}
	close(work)
	wg.Wait()
	if len(failed) > 0 {
		t.Errorf("%d of 2,000 connections failed, first: %s", len(failed), failed[0])
	}
	rc.expect("c", "NOOP", "OK")
	if u := rc.expect("d", "FETCH 1:* (FLAGS)", "OK"); len(u) != 4 {
		t.Errorf("FETCH after the storm = %q", u)
	}
	rc2, greet := dialRaw(t, f.addr)
	if !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting after the storm: %q", greet)
	}
	rc2.expect("a", "LOGIN anonymous x", "OK")
	// The dropped sessions end: their goroutines go (the server notices
	// each close at its next read).
	var now int
	for range 100 {
		if now = runtime.NumGoroutine(); now <= before+10 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if now > before+10 {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Errorf("goroutines: %d before, %d after the sessions were dropped\n%s", before, now, trunc(buf[:n]))
	}
}

func TestConnsPerIP(t *testing.T) {
	f := newFixture(t, imapd.Config{MaxConnsPerIP: 3}, "dev")
	var held []*rawConn
	for range 3 {
		rc, greet := dialRaw(t, f.addr)
		if !strings.HasPrefix(greet, "* OK") {
			t.Fatalf("greeting %q", greet)
		}
		held = append(held, rc)
	}
	_, greet := dialRaw(t, f.addr)
	if !strings.HasPrefix(greet, "* BYE") {
		t.Fatalf("4th connection from one address: %q, want * BYE", greet)
	}
	held[0].expect("a", "LOGOUT", "OK")
	held[0].c.Close()
	// Its slot is free once the server has closed it.
	for i := 0; ; i++ {
		rc, greet := dialRaw(t, f.addr)
		if strings.HasPrefix(greet, "* OK") {
			rc.expect("a", "LOGIN anonymous x", "OK")
			break
		}
		rc.c.Close()
		if i == 50 {
			t.Fatalf("slot not freed after LOGOUT: %q", greet)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestConnsPerNet: the addresses of one client network (an IPv4 /24)
// share MaxConnsPerNet slots, each within MaxConnsPerIP, while another
// network still connects. Every 127/8 address is loopback on Linux: the
// clients dial from 127.0.1.x and 127.0.2.1.
func TestConnsPerNet(t *testing.T) {
	f := newFixture(t, imapd.Config{MaxConnsPerIP: 2, MaxConnsPerNet: 3}, "dev")
	dial := func(from string) string {
		t.Helper()
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
		c, err := d.Dial("tcp", f.addr)
		if err != nil {
			t.Fatalf("dial from %s: %v", from, err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		greet, _ := bufio.NewReader(c).ReadString('\n')
		return greet
	}
	for _, tc := range []struct{ from, want string }{
		{"127.0.1.1", "* OK"},
		{"127.0.1.1", "* OK"},
		{"127.0.1.1", "* BYE"}, // the address's cap
		{"127.0.1.2", "* OK"},
		{"127.0.1.3", "* BYE"}, // the network's cap
		{"127.0.2.1", "* OK"},  // another network
	} {
		if greet := dial(tc.from); !strings.HasPrefix(greet, tc.want) {
			t.Errorf("connection from %s: %q, want %s", tc.from, greet, tc.want)
		}
	}
}

// failingStore fails to list the lists, as a broken database would.
type failingStore struct{ imapd.Store }

func (failingStore) Lists(context.Context) ([]store.List, error) {
	return nil, errors.New("database on fire")
}

// records is a slog handler that keeps what it is given.
type records struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *records) Enabled(context.Context, slog.Level) bool { return true }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// errors returns the text of the error records.
func (r *records) errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level < slog.LevelError {
			continue
		}
		s := rec.Message
		rec.Attrs(func(a slog.Attr) bool {
			s += " " + a.String()
			return true
		})
		out = append(out, s)
	}
	return out
}

// TestServerFaultLogged: a fault of the server (the store failing) is
// answered NO [SERVERBUG] and logged as an error, with the connection;
// client mistakes are not logged as errors.
func TestServerFaultLogged(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	var recs records
	srv, err := imapd.New(failingStore{f.st}, nil, imapd.Config{}, slog.New(&recs))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })

	rc, _ := dialRaw(t, ln.Addr().String())
	rc.expect("a", "LOGIN anonymous x", "OK")
	rc.expect("b", "UID FETCH 1:4294967296 FLAGS", "BAD")
	rc.expect("c", `LIST "" "*"`, "NO [SERVERBUG]")
	rc.expect("d", "NOOP", "OK")
	errs := recs.errors()
	if len(errs) != 1 || !strings.Contains(errs[0], "database on fire") || !strings.Contains(errs[0], "remote=127.0.0.1") {
		t.Errorf("error records: %q, want one for the LIST, with the error and the client's address", errs)
	}
}
