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
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestHiddenBareCR covers the bare CRs go-smtp's dot reader swallows: a CR
// right after a line-leading dot is dropped by it (".\rX" reads as "X"),
// and ".\r\r\n" makes it miss the real end of DATA on the next line. Both
// messages must be read to their real end and rejected with 550 5.6.2.
func TestHiddenBareCR(t *testing.T) {
	for _, tc := range []struct {
		name, body string
	}{
		{"dot CR letter", "Subject: s\r\n\r\nline\r\n.\rhidden\r\n"},
		{"dot CR CRLF", "Subject: s\r\n\r\nline\r\n.\r\r\n"},
		{"dot CR at start", ".\rSubject: s\r\n\r\nx\r\n"},
		{"CR before terminator", "Subject: s\r\n\r\nx\r\r\n"},
		{"NUL", "Subject: s\r\n\r\nx\x00y\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newFake()
			_, addr := startServer(t, Config{Domain: "localhost"}, be)
			cv := dial(t, addr)
			cv.c.SetDeadline(time.Now().Add(5 * time.Second))
			cv.cmd("EHLO test", "250")
			cv.cmd("MAIL FROM:<a@example.org>", "250")
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send(tc.body + ".\r\n")
			cv.expect("550 5.6.2")
			cv.cmd("NOOP", "250")
			if got := be.deliveries(); len(got) != 0 {
				t.Fatalf("delivered %q", got[0].Raw)
			}
		})
	}
}

// TestSmugglingSecondMessageNotRun sends a whole smuggled transaction
// after each fake terminator, then a real one: only the real one after
// the rejection may be delivered, and with its own envelope.
func TestSmugglingSecondMessageNotRun(t *testing.T) {
	for _, fake := range []string{"\n.\n", "\r.\n", "\r\n.\n", "\n.\r\n", "\r\n.\r\r\n"} {
		t.Run(fmt.Sprintf("%q", fake), func(t *testing.T) {
			be := newFake()
			_, addr := startServer(t, Config{Domain: "localhost"}, be)
			cv := dial(t, addr)
			cv.c.SetDeadline(time.Now().Add(5 * time.Second))
			cv.cmd("EHLO test", "250")
			cv.cmd("MAIL FROM:<a@example.org>", "250")
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send("Subject: one\r\n\r\nfirst" + fake +
				"MAIL FROM:<evil@example.org>\r\nRCPT TO:<other@localhost>\r\nDATA\r\n" +
				"Subject: smuggled\r\n\r\nevil\r\n.\r\n")
			cv.expect("550 5.6.2")
			cv.cmd("MAIL FROM:<good@example.org>", "250")
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send("Subject: two\r\n\r\nsecond\r\n.\r\n")
			cv.expect("250")
			got := be.deliveries()
			want := []Delivery{{Lists: []string{"dev"}, MailFrom: "good@example.org", Helo: "test", Raw: []byte("Subject: two\n\nsecond\n")}}
			if diff := cmp.Diff(want, got, cmp.FilterPath(func(p cmp.Path) bool {
				n := p.Last().String()
				return n == ".Remote" || n == ".Received"
			}, cmp.Ignore())); diff != "" {
				t.Fatalf("deliveries (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNoChunkingAdvertised(t *testing.T) {
	_, addr := startServer(t, Config{Domain: "localhost"}, newFake())
	cl, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Hello("test"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ext  string
		want bool
	}{
		{"8BITMIME", true}, {"SMTPUTF8", true}, {"PIPELINING", true}, {"SIZE", true},
		{"CHUNKING", false}, {"AUTH", false}, {"STARTTLS", false},
	} {
		if got, _ := cl.Extension(tc.ext); got != tc.want {
			t.Errorf("Extension(%s) = %v, want %v", tc.ext, got, tc.want)
		}
	}
	if size, ok := cl.MaxMessageSize(); !ok || size != defaultMaxMessageBytes {
		t.Errorf("MaxMessageSize() = %d, %v", size, ok)
	}
}

// TestManyRecipients sends 5,000 RCPTs: the first MaxRecipients are taken,
// the rest get 452 4.5.3; unknown lists stop costing backend look-ups once
// the transaction has tried too many.
func TestManyRecipients(t *testing.T) {
	be := newFake()
	be.lists = map[string]bool{}
	for i := range 60 {
		be.lists[fmt.Sprintf("l%d", i)] = true
	}
	cb := &countingBackend{fakeBackend: be}
	_, addr := startServer(t, Config{Domain: "localhost"}, cb)
	cl, err := gosmtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	var accepted, limited int
	for i := range 5000 {
		err := cl.Rcpt(fmt.Sprintf("l%d@localhost", i%60), nil)
		var se *gosmtp.SMTPError
		switch {
		case err == nil:
			accepted++
		case errors.As(err, &se) && se.Code == 452 && se.EnhancedCode == (gosmtp.EnhancedCode{4, 5, 3}):
			limited++
		default:
			t.Fatalf("Rcpt #%d = %v", i, err)
		}
	}
	if accepted != defaultMaxRecipients || limited != 5000-defaultMaxRecipients {
		t.Fatalf("accepted %d, limited %d", accepted, limited)
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: many\n\nhi\n")
	if err := w.Close(); err != nil {
		t.Fatalf("Data close = %v", err)
	}
	got := be.deliveries()
	if len(got) != 1 || len(got[0].Lists) != defaultMaxRecipients {
		t.Fatalf("deliveries = %d", len(got))
	}

	// Unknown lists: after a bound, no more look-ups.
	cb.lookups.Store(0)
	if err := cl.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	for i := range 5000 {
		if err := cl.Rcpt(fmt.Sprintf("nope%d@localhost", i), nil); err == nil {
			t.Fatalf("unknown list %d accepted", i)
		}
	}
	if n := cb.lookups.Load(); n > 5*defaultMaxRecipients {
		t.Fatalf("%d backend look-ups for one transaction", n)
	}
}

// countingBackend counts ListExists calls.
type countingBackend struct {
	*fakeBackend
	lookups atomic.Int64
}

func (c *countingBackend) ListExists(ctx context.Context, name string) (bool, error) {
	c.lookups.Add(1)
	return c.fakeBackend.ListExists(ctx, name)
}

func TestTotalConnectionCap(t *testing.T) {
	_, addr := startServer(t, Config{Domain: "localhost", MaxConns: 3}, newFake())
	var open []*conv
	for range 3 {
		open = append(open, dial(t, addr))
	}
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if !strings.HasPrefix(line, "421 4.7.0") {
			t.Fatalf("over the cap: %q, want 421 4.7.0", line)
		}
	}
	for _, cv := range open {
		cv.cmd("NOOP", "250")
	}
}

func TestCommandTimeoutReply(t *testing.T) {
	_, addr := startServer(t, Config{Domain: "localhost", CommandTimeout: 200 * time.Millisecond}, newFake())
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	start := time.Now()
	cv.expect("421")
	if _, err := cv.r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after 421: %v, want EOF", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// TestSessionTimeout: a client that keeps sending NOOPs is still cut off.
func TestSessionTimeout(t *testing.T) {
	_, addr := startServer(t, Config{Domain: "localhost", SessionTimeout: 500 * time.Millisecond}, newFake())
	cv := dial(t, addr)
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := io.WriteString(cv.c, "NOOP\r\n"); err != nil {
			return
		}
		line, err := cv.r.ReadString('\n')
		if err != nil || strings.HasPrefix(line, "421") {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("session still open after SessionTimeout")
}

func TestLMTPGoSMTPClientUnixSocket(t *testing.T) {
	be := newFake()
	be.lists["third"] = true
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
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	cl := gosmtp.NewClientLMTP(nc)
	defer cl.Close()
	if err := cl.Hello("test"); err != nil {
		t.Fatal(err)
	}
	if err := cl.Mail("a@example.org", nil); err != nil {
		t.Fatal(err)
	}
	rcpts := []string{"dev@localhost", "other@localhost", "Dev@LOCALHOST", "third@localhost"}
	for _, r := range rcpts {
		if err := cl.Rcpt(r, nil); err != nil {
			t.Fatalf("Rcpt(%s) = %v", r, err)
		}
	}
	w, err := cl.Data()
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, "Subject: lmtp\r\n\r\nbody\r\n")
	resp, err := w.CloseWithLMTPResponse()
	var lerr gosmtp.LMTPDataError
	if !errors.As(err, &lerr) {
		t.Fatalf("CloseWithLMTPResponse() = %v, want an LMTPDataError", err)
	}
	if e := lerr["other@localhost"]; e == nil || e.Code != 451 || len(lerr) != 1 {
		t.Fatalf("per-recipient errors = %v", lerr)
	}
	for _, r := range []string{"dev@localhost", "Dev@LOCALHOST", "third@localhost"} {
		if resp[r] == nil {
			t.Errorf("no 250 for %s", r)
		}
	}
	var lists [][]string
	for _, d := range be.deliveries() {
		lists = append(lists, d.Lists)
	}
	if diff := cmp.Diff([][]string{{"dev"}, {"third"}}, lists); diff != "" {
		t.Fatalf("Deliver calls (-want +got):\n%s", diff)
	}
}

// TestShutdownClosesIdle: Shutdown must not wait for (or leave behind)
// connections that are idle between transactions.
func TestShutdownClosesIdle(t *testing.T) {
	s, addr := startServer(t, Config{Domain: "localhost"}, newFake())
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v with only idle connections", d)
	}
	cv.c.SetDeadline(time.Now().Add(2 * time.Second))
	for {
		line, err := cv.r.ReadString('\n')
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatal("idle connection left open after Shutdown")
			}
			return
		}
		if !strings.HasPrefix(line, "421") {
			t.Fatalf("after Shutdown: %q", line)
		}
	}
}

// TestShutdownInFlightManyTimes repeats the in-flight case: the 250 must
// reach the client every time, not just when the scheduler is kind.
func TestShutdownInFlightManyTimes(t *testing.T) {
	for i := range 20 {
		be := newFake()
		started := make(chan struct{})
		be.inData = started
		be.delay = 20 * time.Millisecond
		s, addr := startServer(t, Config{Domain: "localhost"}, be)
		cv := dial(t, addr)
		cv.cmd("EHLO test", "250")
		cv.cmd("MAIL FROM:<a@example.org>", "250")
		cv.cmd("RCPT TO:<dev@localhost>", "250")
		cv.cmd("DATA", "354")
		cv.send(msg + ".\r\n")
		<-started
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.Shutdown(ctx); err != nil {
			t.Fatalf("round %d: Shutdown() = %v", i, err)
		}
		cancel()
		cv.expect("250")
		// A new transaction is refused after shutdown began.
	}
}

// TestShutdownBoundedByContext: a Deliver that never ends does not keep
// Shutdown past its context, and its client does not get a 250.
func TestShutdownBoundedByContext(t *testing.T) {
	be := newFake()
	started := make(chan struct{})
	be.inData = started
	be.delay = 3 * time.Second
	s, addr := startServer(t, Config{Domain: "localhost"}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send(msg + ".\r\n")
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown() = %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Shutdown took %v", d)
	}
	cv.c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := cv.r.ReadString('\n'); err == nil && strings.HasPrefix(line, "250") {
		t.Fatalf("got %q after the connection was closed", line)
	}
}

func TestMailRefusedDuringShutdown(t *testing.T) {
	be := newFake()
	started := make(chan struct{})
	be.inData = started
	be.delay = 500 * time.Millisecond
	s, addr := startServer(t, Config{Domain: "localhost"}, be)
	busy := dial(t, addr)
	idle := dial(t, addr)
	idle.cmd("EHLO test", "250")
	busy.cmd("EHLO test", "250")
	busy.cmd("MAIL FROM:<a@example.org>", "250")
	busy.cmd("RCPT TO:<dev@localhost>", "250")
	busy.cmd("DATA", "354")
	busy.send(msg + ".\r\n")
	<-started
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	idle.cmd("MAIL FROM:<a@example.org>", "421 4.3.2")
	busy.expect("250")
	if err := <-done; err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
}

// recordHandler keeps log records for inspection. Handlers made by
// WithAttrs share the records and the lock that guards them.
type recordHandler struct {
	mu    *sync.Mutex
	attrs []slog.Attr
	recs  *[]string
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", r.Level, r.Message)
	for _, a := range h.attrs {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
	}
	r.Attrs(func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value)
		return true
	})
	h.mu.Lock()
	*h.recs = append(*h.recs, b.String())
	h.mu.Unlock()
	return nil
}
func (h *recordHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return &recordHandler{mu: h.mu, attrs: append(append([]slog.Attr(nil), h.attrs...), as...), recs: h.recs}
}
func (h *recordHandler) WithGroup(string) slog.Handler { return h }

func TestLogging(t *testing.T) {
	var recs []string
	h := &recordHandler{mu: new(sync.Mutex), recs: &recs}
	be := newFake()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Domain: "localhost"}, be, slog.New(h))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	addr := l.Addr().String()
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<nope@localhost>", "550")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send("Message-ID: <secret-id@x>\r\nSubject: s\r\n\r\nTOPSECRETBODY\r\n.\r\n")
	cv.expect("250")
	cv.cmd("QUIT", "221")

	h.mu.Lock()
	all := strings.Join(recs, "\n")
	h.mu.Unlock()
	if strings.Contains(all, "TOPSECRETBODY") {
		t.Errorf("body in the log:\n%s", all)
	}
	var sawAccepted, sawRejected bool
	for _, r := range recs {
		if strings.Contains(r, "lists=[dev]") && strings.HasPrefix(r, "INFO") {
			sawAccepted = true
			for _, k := range []string{"cid=", "remote=127.0.0.1", "proto=smtp", "size=", "msgid=<secret-id@x>"} {
				if !strings.Contains(r, k) {
					t.Errorf("accepted record %q lacks %s", r, k)
				}
			}
		}
		if strings.HasPrefix(r, "WARN") && strings.Contains(r, "nope@localhost") {
			sawRejected = true
		}
	}
	if !sawAccepted || !sawRejected {
		t.Errorf("accepted %v, rejected %v in:\n%s", sawAccepted, sawRejected, all)
	}
}

// TestCRFilter checks the connection filter on its own, across read
// boundaries: bare CRs become NUL, CRLF stays, byte counts stay.
func TestCRFilter(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\r\nb", "a\r\nb"},
		{"a\rb", "a\x00b"},
		{"\r\r\n", "\x00\r\n"},
		{".\r.\r\n", ".\x00.\r\n"},
		{"end\r", "end\x00"},
		{"\n\n", "\n\n"},
		{"a\r\n.\nb", "a\r\n.\x00b"},
		{"a\r\n..\n.\n", "a\r\n..\n.\n"},
		{"a\r\n.\r\n", "a\r\n.\r\n"},
		{"a\n.\n", "a\n.\n"},
	} {
		for _, chunk := range []int{1, 2, 3, 4096} {
			t.Run(fmt.Sprintf("%q/%d", tc.in, chunk), func(t *testing.T) {
				a, b := net.Pipe()
				go func() {
					in := []byte(tc.in)
					for len(in) > 0 {
						n := min(chunk, len(in))
						b.Write(in[:n])
						in = in[n:]
					}
					b.Close()
				}()
				c := &limitConn{Conn: a, idle: time.Minute, end: time.Now().Add(time.Minute), release: func() {}}
				got, err := io.ReadAll(c)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, []byte(tc.want)) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			})
		}
	}
}

// The documented defaults of Config.
const (
	defaultMaxMessageBytes = 32 << 20
	defaultMaxRecipients   = 50
)

func TestReply(t *testing.T) {
	type code struct {
		Code int
		Enh  gosmtp.EnhancedCode
	}
	for _, tc := range []struct {
		name string
		err  error
		want code
	}{
		{"no such list", errNoSuchList, code{550, gosmtp.EnhancedCode{5, 1, 1}}},
		{"store not found", fmt.Errorf("deliver: %w", store.ErrNotFound), code{550, gosmtp.EnhancedCode{5, 1, 1}}},
		{"store bad name", store.ErrBadName, code{550, gosmtp.EnhancedCode{5, 1, 1}}},
		{"too large", errTooLarge, code{552, gosmtp.EnhancedCode{5, 3, 4}}},
		{"store too large", fmt.Errorf("insert: %w", store.ErrTooLarge), code{552, gosmtp.EnhancedCode{5, 3, 4}}},
		{"too many rcpts", errTooManyRcpts, code{452, gosmtp.EnhancedCode{4, 5, 3}}},
		{"bare LF", errBareLF, code{550, gosmtp.EnhancedCode{5, 6, 2}}},
		{"shutting down", errShuttingDown, code{421, gosmtp.EnhancedCode{4, 3, 2}}},
		{"line too long", gosmtp.ErrTooLongLine, code{500, gosmtp.EnhancedCode{5, 5, 6}}},
		{"data too slow", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, code{421, gosmtp.EnhancedCode{4, 4, 2}}},
		{"storage failure", errors.New("disk I/O error"), code{451, gosmtp.EnhancedCode{4, 3, 0}}},
		{"read-only store", store.ErrReadOnly, code{451, gosmtp.EnhancedCode{4, 3, 0}}},
		{"deadline", context.DeadlineExceeded, code{451, gosmtp.EnhancedCode{4, 3, 0}}},
		{"cancelled", fmt.Errorf("commit: %w", context.Canceled), code{451, gosmtp.EnhancedCode{4, 3, 0}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := reply(tc.err)
			if diff := cmp.Diff(tc.want, code{r.Code, r.EnhancedCode}); diff != "" {
				t.Errorf("reply(%v) (-want +got):\n%s", tc.err, diff)
			}
			if r.Code == 451 && r.Message != "Requested action aborted: local error in processing" {
				t.Errorf("451 text %q leaks details", r.Message)
			}
			if strings.Contains(r.Message, tc.err.Error()) && r.Code/100 == 4 {
				t.Errorf("reply text %q contains the error", r.Message)
			}
		})
	}
}

// TestDeliverErrors drives the backend's answers through a real session:
// permanent store errors are 5xx, everything else is 451, and a 250 only
// ever follows a nil from Deliver.
func TestDeliverErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"ok", nil, "250"},
		{"list vanished", store.ErrNotFound, "550 5.1.1"},
		{"too large for store", store.ErrTooLarge, "552 5.3.4"},
		{"disk full", errors.New("disk full"), "451 4.3.0"},
		{"timeout", context.DeadlineExceeded, "451 4.3.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := newFake()
			if tc.err != nil {
				be.fail["dev"] = tc.err
			}
			_, addr := startServer(t, Config{Domain: "localhost"}, be)
			cv := dial(t, addr)
			cv.cmd("EHLO test", "250")
			cv.cmd("MAIL FROM:<a@example.org>", "250")
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send(msg + ".\r\n")
			r := cv.expect(tc.want)
			if tc.err != nil && strings.Contains(r, tc.err.Error()) {
				t.Errorf("reply %q shows the error", r)
			}
			if n := len(be.deliveries()); (n == 1) != (tc.err == nil) {
				t.Errorf("%d deliveries recorded", n)
			}
		})
	}
}

// TestNetSMTPHappyPath sends through net/smtp to two lists and checks the
// exact bytes handed over: CRLF to LF, dot-unstuffing, 8-bit body kept.
func TestNetSMTPHappyPath(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "lists.example.org"}, be)
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.example"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("8BITMIME"); !ok {
		t.Fatal("8BITMIME not advertised")
	}
	if err := c.Mail("sender@example.org"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"dev@lists.example.org", "other@LISTS.example.org"} {
		if err := c.Rcpt(r); err != nil {
			t.Fatalf("Rcpt(%s) = %v", r, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	body := "From: Zoë <z@example.org>\r\nSubject: patch\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nnaïve\n"
	io.WriteString(w, body)
	if err := w.Close(); err != nil {
		t.Fatalf("Data close = %v", err)
	}
	c.Quit()
	got := be.deliveries()
	if len(got) != 1 {
		t.Fatalf("%d deliveries", len(got))
	}
	want := "From: Zoë <z@example.org>\nSubject: patch\n\n.starts with a dot\n..two dots\n.\nnaïve\n"
	if diff := cmp.Diff(want, string(got[0].Raw)); diff != "" {
		t.Errorf("Raw (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dev", "other"}, got[0].Lists); diff != "" {
		t.Errorf("Lists (-want +got):\n%s", diff)
	}
	if !strings.HasPrefix(got[0].Remote, "127.0.0.1:") || got[0].MailFrom != "sender@example.org" || time.Since(got[0].Received) > time.Minute {
		t.Errorf("envelope = %q %q %v", got[0].Remote, got[0].MailFrom, got[0].Received)
	}
}

// TestSizeBoundary: exactly MaxMessageBytes passes, one byte more is 552
// (counted as sent, with CRLF), both by SIZE= and by the data itself.
func TestSizeBoundary(t *testing.T) {
	const max = 1000
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", MaxMessageBytes: max}, be)
	body := func(n int) string { // n bytes including the final CRLF
		return "Subject: s\r\n\r\n" + strings.Repeat("y", n-len("Subject: s\r\n\r\n")-2) + "\r\n"
	}
	for _, tc := range []struct {
		name       string
		size, data int
		mail, end  string
	}{
		{"exact", max, max, "250", "250"},
		{"one over by data", 0, max + 1, "250", "552 5.3.4"},
		{"one over by SIZE", max + 1, max, "552 5.3.4", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cv := dial(t, addr)
			cv.cmd("EHLO test", "250")
			m := "MAIL FROM:<a@example.org>"
			if tc.size > 0 {
				m += fmt.Sprintf(" SIZE=%d", tc.size)
			}
			cv.cmd(m, tc.mail)
			if tc.end == "" {
				return
			}
			cv.cmd("RCPT TO:<dev@localhost>", "250")
			cv.cmd("DATA", "354")
			cv.send(body(tc.data) + ".\r\n")
			cv.expect(tc.end)
			cv.cmd("NOOP", "250")
		})
	}
	if n := len(be.deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
}

// sentAsData reports whether raw (as delivered, LF line ends) appears in
// wire as one complete DATA body, each line ending in CRLF or a bare LF
// (taken as a line end, see fromCRLF), dot-stuffed or not where go-smtp
// and fromCRLF allow either, and followed by the <CR><LF>.<CR><LF> end.
// It is the fuzz oracle that catches a dot reader which hides bytes.
func sentAsData(wire, raw []byte) bool {
	var lines [][]byte
	if len(raw) > 0 {
		if raw[len(raw)-1] != '\n' {
			return false
		}
		lines = bytes.Split(raw[:len(raw)-1], []byte("\n"))
	}
	// sent is the length of line l as it starts wire[p:] (stuffed or
	// not, either line end), 0 when it does not.
	sent := func(p int, l []byte) int {
		for _, end := range []string{"\r\n", "\n"} {
			switch {
			case bytes.HasPrefix(wire[p:], append(append([]byte("."), l...), end...)):
				return len(l) + 1 + len(end)
			case (len(l) == 0 || l[0] != '.') && bytes.HasPrefix(wire[p:], append(append([]byte(nil), l...), end...)):
				return len(l) + len(end)
			}
		}
		return 0
	}
	for start := 0; start <= len(wire); start++ {
		// The body starts after a command line, which go-smtp (through
		// net/textproto) ends at any LF.
		if start > 0 && wire[start-1] != '\n' {
			continue
		}
		p, ok := start, true
		for _, l := range lines {
			n := sent(p, l)
			if n == 0 {
				ok = false
				break
			}
			p += n
		}
		if ok && bytes.HasPrefix(wire[p:], []byte(".\r\n")) {
			return true
		}
	}
	return false
}

func TestSentAsData(t *testing.T) {
	for _, tc := range []struct {
		wire, raw string
		want      bool
	}{
		{"DATA\r\na\r\n.b\r\n..c\r\n.\r\n", "a\nb\n.c\n", true},
		{"DATA\r\na\r\n\r\n.\r\n", "a\n\n", true},
		{"DATA\r\n.\r\n", "", true},
		{"DATA\r\nline\r\n.\rhidden\r\n.\r\n", "line\nhidden\n", false},
		{"DATA\r\nx\r\r\n.\r\n", "x\n", false},
		{"DATA\r\n.a\r\n.\r\n", ".a\n", false},
		// A bare LF ends a line; a leading dot after it is stuffing too.
		{"DATA\n\n\r\n.\r\n", "\n\n", true},
		{"DATA\r\na\nb\r\n.\r\n", "a\nb\n", true},
		{"DATA\r\na\n..b\n.\r\n", "a\n.b\n", true},
		{"DATA\r\na\n.b\n.\r\n", "a\n.b\n", false},
	} {
		if got := sentAsData([]byte(tc.wire), []byte(tc.raw)); got != tc.want {
			t.Errorf("sentAsData(%q, %q) = %v", tc.wire, tc.raw, got)
		}
	}
}

// sendNoQuit sends one message with net/smtp and returns the error of the
// DATA reply; it does not QUIT, since the server may be closing.
func sendNoQuit(addr, from, to, body string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := io.WriteString(w, body); err != nil {
		return err
	}
	return w.Close()
}

// TestUnixSocketNotPerIP: unix-socket clients (the local MTA) share no
// per-IP bucket; only the total cap applies to them.
func TestUnixSocketNotPerIP(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Domain: "localhost", LMTP: true, MaxConnsPerIP: 1, MaxConns: 3}, newFake(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	for i := range 4 {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		line, _ := bufio.NewReader(c).ReadString('\n')
		want := "220 "
		if i == 3 {
			want = "421 4.7.0"
		}
		if !strings.HasPrefix(line, want) {
			t.Fatalf("connection %d: %q, want %s", i, line, want)
		}
	}
}

func TestServeReturnsAfterShutdown(t *testing.T) {
	s, err := New(Config{Domain: "localhost"}, newFake(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve(l) }()
	dial(t, l.Addr().String()) // serving
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Serve() = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(l2); err != nil {
		t.Fatalf("Serve() after Shutdown = %v", err)
	}
	if _, err := net.DialTimeout("tcp", l2.Addr().String(), time.Second); err == nil {
		t.Fatal("listener given after Shutdown still accepts")
	}
}

func TestMessageID(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{"Subject: s\nMessage-ID: <a@b>\n\nbody\n", "<a@b>"},
		{"message-id:\n <folded@x>\n\n", "<folded@x>"},
		{"Subject: s\n\nMessage-ID: <in-body@x>\n", ""},
		{"", ""},
		{"Message-Id: <" + strings.Repeat("x", 1000) + ">\n\n", "<" + strings.Repeat("x", 255)},
	} {
		if got := messageID([]byte(tc.raw)); got != tc.want {
			t.Errorf("messageID(%.40q) = %.40q, want %.40q", tc.raw, got, tc.want)
		}
	}
}

// TestLongLine: a DATA line over MaxLineLength is refused for good (5xx),
// not with a 451 that would make the sender retry for days.
func TestLongLine(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", MaxLineLength: 1000}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("DATA", "354")
	go io.WriteString(cv.c, "Subject: s\r\n\r\n"+strings.Repeat("z", 5000)+"\r\n.\r\n")
	cv.expect("500 5.5.6")
	if n := len(be.deliveries()); n != 0 {
		t.Fatalf("%d deliveries", n)
	}
}

// TestCommandAddresses: NAME+command@DOMAIN is accepted when NAME is a
// list and handed to the backend whole; a refusal the backend words as
// an SMTP error reaches the client as it is.
func TestCommandAddresses(t *testing.T) {
	be := newFake()
	be.fail = map[string]error{"dev+owner": &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "Not for you"}}
	_, addr := startServer(t, Config{Domain: "localhost"}, be)
	cv := dial(t, addr)
	cv.c.SetDeadline(time.Now().Add(5 * time.Second))
	cv.cmd("EHLO client.example", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<Dev+Subscribe@localhost>", "250")
	cv.cmd("RCPT TO:<nosuch+subscribe@localhost>", "550 5.1.1")
	cv.cmd("RCPT TO:<+subscribe@localhost>", "550 5.1.1")
	cv.cmd("DATA", "354")
	cv.send("Subject: subscribe\r\n\r\n.\r\n")
	cv.expect("250")
	got := be.deliveries()
	if len(got) != 1 || len(got[0].Lists) != 1 || got[0].Lists[0] != "dev+subscribe" || got[0].Helo != "client.example" {
		t.Fatalf("deliveries = %+v", got)
	}
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<dev+owner@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
	cv.expect("550 5.7.1 Not for you")
}

// TestShutdownLetsTransactionsFinish: a client whose MAIL got 250 before
// shutdown began finishes its transaction (RCPT, DATA, 250); a client
// connecting while it does is greeted 421 (retry), not refused or
// dropped; Shutdown returns once the transaction is over.
func TestShutdownLetsTransactionsFinish(t *testing.T) {
	be := newFake()
	s, addr := startServer(t, Config{Domain: "localhost"}, be)
	busy := dial(t, addr)
	busy.cmd("EHLO test", "250")
	busy.cmd("MAIL FROM:<a@example.org>", "250")
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("a new connection during shutdown: %v (want a 421 greeting)", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if line, err := bufio.NewReader(c).ReadString('\n'); err != nil || !strings.HasPrefix(line, "421 4.3.2") {
		t.Errorf("greeting during shutdown: %q %v, want 421 4.3.2", line, err)
	}
	c.Close()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) with a transaction open", err)
	default:
	}
	busy.cmd("RCPT TO:<dev@localhost>", "250")
	busy.cmd("DATA", "354")
	busy.send(msg + ".\r\n")
	busy.expect("250")
	if err := <-done; err != nil {
		t.Fatalf("Shutdown() = %v", err)
	}
	if got := be.deliveries(); len(got) != 1 {
		t.Errorf("delivered %d messages, want 1", len(got))
	}
}
