package outbound

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// post is a message as the list archived it, with a DKIM-Signature that
// the list headers must not disturb.
const post = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1; h=from:subject;\r\n" +
	"\tbh=abc; b=def\r\n" +
	"From: Alice Example <alice@example.org>\r\n" +
	"To: dev@lists.test\r\n" +
	"Subject: [PATCH] fix the frobnicator\r\n" +
	"Message-ID: <p1@example.org>\r\n" +
	"\r\n" +
	"The body.\r\n" +
	".leading dot stays\r\n"

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// queue opens a store in dir and queues post to rcpts, created at
// created.
func queue(t testing.TB, dir string, created time.Time, rcpts []string) (*store.DB, int64) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	l, err := st.List(ctx, "dev")
	if err != nil {
		l, err = st.CreateList(ctx, store.List{Name: "dev"})
		if err != nil {
			t.Fatalf("CreateList() = %v", err)
		}
	}
	var box int64
	err = st.Update(ctx, func(tx store.Tx) error {
		var err error
		box, err = tx.AddOutbox(ctx, store.OutboxMessage{ListID: l.ID, MessageID: "p1@example.org", Raw: []byte(post), Created: created})
		if err != nil {
			return err
		}
		return tx.QueueDeliveries(ctx, box, rcpts)
	})
	if err != nil {
		t.Fatalf("queue: %v", err)
	}
	return st, box
}

func newWorker(t testing.TB, st Store, s *sink, c *clock, tune func(*Config)) *Worker {
	t.Helper()
	cfg := Config{Smarthost: s.addr, Domain: "lists.test", WebURL: "https://review.test/", Secret: testSecret}
	if c != nil {
		cfg.Now = c.Now
	}
	if tune != nil {
		tune(&cfg)
	}
	w, err := New(st, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	return w
}

func states(t *testing.T, st *store.DB, box int64) map[string]string {
	t.Helper()
	ds, err := st.Deliveries(context.Background(), box)
	if err != nil {
		t.Fatalf("Deliveries() = %v", err)
	}
	m := map[string]string{}
	for _, d := range ds {
		m[d.Rcpt] = fmt.Sprintf("%s/%d", d.State, d.Attempts)
	}
	return m
}

// TestDeliverHeaders: three recipients get one copy each, from their own
// VERP address, with their list headers in front of the stored bytes.
func TestDeliverHeaders(t *testing.T) {
	s := newSink(t, nil)
	rcpts := []string{"bob@example.net", "carol+lists@example.com", "d=ave@sub.example.io"}
	st, box := queue(t, t.TempDir(), time.Now(), rcpts)
	defer st.Close()
	w := newWorker(t, st, s, nil, nil)
	n, err := w.Drain(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Drain() = %d, %v; want 3", n, err)
	}
	got := s.messages()
	if len(got) != 3 {
		t.Fatalf("sink got %d messages, want 3", len(got))
	}
	for i, m := range got {
		rcpt := rcpts[i]
		if m.Rcpt != rcpt {
			t.Errorf("message %d to %q, want %q", i, m.Rcpt, rcpt)
		}
		local, _, _ := strings.Cut(m.From, "@")
		if list, r, ok := ParseVERP(local); !ok || list != "dev" || r != rcpt || !strings.HasSuffix(m.From, "@lists.test") {
			t.Errorf("envelope sender %q decodes to %q %q %v", m.From, list, r, ok)
		}
		if !bytes.HasSuffix(m.Data, []byte(post)) {
			t.Errorf("copy to %s does not end with the stored bytes:\n%s", rcpt, m.Data)
		}
		msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
		if err != nil {
			t.Fatalf("copy to %s: %v", rcpt, err)
		}
		h := msg.Header
		want := map[string]string{
			"List-Id":               "<dev.lists.test>",
			"List-Post":             "<mailto:dev@lists.test>",
			"List-Help":             "<mailto:dev+help@lists.test>",
			"List-Subscribe":        "<mailto:dev+subscribe@lists.test>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
			"List-Archive":          "<https://review.test/dev/>",
			"Archived-At":           "<https://review.test/dev/p1@example.org/>",
			"Precedence":            "list",
			"X-Loop":                "dev@lists.test",
			"From":                  "Alice Example <alice@example.org>",
			"Dkim-Signature":        "v=1; a=rsa-sha256; d=example.org; s=s1; h=from:subject; bh=abc; b=def",
		}
		gotH := map[string]string{}
		for k := range want {
			gotH[k] = h.Get(k)
		}
		if diff := cmp.Diff(want, gotH); diff != "" {
			t.Errorf("headers of copy to %s (-want +got):\n%s", rcpt, diff)
		}
		unsub := h.Get("List-Unsubscribe")
		const prefix = "<https://review.test/dev/unsubscribe?t="
		web, mailto, _ := strings.Cut(unsub, ", ")
		if !strings.HasPrefix(web, prefix) || mailto != "<mailto:dev+unsubscribe@lists.test>" {
			t.Fatalf("List-Unsubscribe = %q", unsub)
		}
		tok := strings.TrimSuffix(strings.TrimPrefix(web, prefix), ">")
		if email, ok := CheckUnsubscribeToken(testSecret, "dev", tok); !ok || email != rcpt {
			t.Errorf("unsubscribe token of %s checks as %q, %v", rcpt, email, ok)
		}
	}
	want := map[string]string{}
	for _, r := range rcpts {
		want[r] = "sent/1"
	}
	if diff := cmp.Diff(want, states(t, st, box)); diff != "" {
		t.Errorf("delivery states (-want +got):\n%s", diff)
	}
	// Nothing is due any more: a second pass sends nothing.
	if n, err := w.Drain(context.Background()); n != 0 || err != nil {
		t.Errorf("second Drain() = %d, %v", n, err)
	}
}

// TestRetryAndFail: a 4xx is retried after the backoff and then
// delivered once; a 5xx fails at once; an unreachable smarthost defers
// everything; a message older than GiveUp fails.
func TestRetryAndFail(t *testing.T) {
	refusedOnce := false
	var mu sync.Mutex
	s := newSink(t, func(s *sink) {
		s.rcptHook = func(rcpt string) error {
			if rcpt == "gone@example.net" {
				return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
			}
			return nil
		}
		s.dataHook = func(_ int, m sunk) error {
			mu.Lock()
			defer mu.Unlock()
			if m.Rcpt == "busy@example.net" && !refusedOnce {
				refusedOnce = true
				return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try later"}
			}
			return nil
		}
	})
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	st, box := queue(t, t.TempDir(), c.Now(), []string{"busy@example.net", "gone@example.net", "ok@example.net"})
	defer st.Close()
	w := newWorker(t, st, s, c, nil)
	ctx := context.Background()
	if n, err := w.Drain(ctx); n != 1 || err != nil {
		t.Fatalf("Drain() = %d, %v; want 1", n, err)
	}
	want := map[string]string{"busy@example.net": "pending/1", "gone@example.net": "failed/1", "ok@example.net": "sent/1"}
	if diff := cmp.Diff(want, states(t, st, box)); diff != "" {
		t.Errorf("after the first pass (-want +got):\n%s", diff)
	}
	c.Add(59 * time.Second)
	if n, err := w.Drain(ctx); n != 0 || err != nil {
		t.Fatalf("Drain() before the backoff = %d, %v; want 0", n, err)
	}
	c.Add(time.Second)
	if n, err := w.Drain(ctx); n != 1 || err != nil {
		t.Fatalf("Drain() after the backoff = %d, %v; want 1", n, err)
	}
	want["busy@example.net"] = "sent/2"
	if diff := cmp.Diff(want, states(t, st, box)); diff != "" {
		t.Errorf("after the retry (-want +got):\n%s", diff)
	}
	count := map[string]int{}
	for _, m := range s.messages() {
		count[m.Rcpt]++
	}
	if diff := cmp.Diff(map[string]int{"busy@example.net": 1, "ok@example.net": 1}, count); diff != "" {
		t.Errorf("acknowledged copies (-want +got):\n%s", diff)
	}

	// The smarthost goes away: the next message waits, then fails once
	// it is older than GiveUp.
	s.srv.Close()
	st2, box3 := queue(t, t.TempDir(), c.Now(), []string{"x@example.net", "y@example.net"})
	defer st2.Close()
	w2 := newWorker(t, st2, s, c, func(cfg *Config) { cfg.GiveUp = 3 * time.Minute })
	if n, err := w2.Drain(ctx); n != 0 || err != nil {
		t.Fatalf("Drain() without a smarthost = %d, %v", n, err)
	}
	want2 := map[string]string{"x@example.net": "pending/1", "y@example.net": "pending/1"}
	if diff := cmp.Diff(want2, states(t, st2, box3)); diff != "" {
		t.Errorf("without a smarthost (-want +got):\n%s", diff)
	}
	c.Add(time.Minute)
	w2.Drain(ctx)
	c.Add(2 * time.Minute)
	w2.Drain(ctx)
	want2 = map[string]string{"x@example.net": "failed/3", "y@example.net": "failed/3"}
	if diff := cmp.Diff(want2, states(t, st2, box3)); diff != "" {
		t.Errorf("after GiveUp (-want +got):\n%s", diff)
	}
}

// TestBackoff: 1 minute, doubling, capped at 6 hours.
func TestBackoff(t *testing.T) {
	w := &Worker{cfg: Config{MinBackoff: time.Minute, MaxBackoff: 6 * time.Hour}}
	var got []time.Duration
	for n := 1; n <= 11; n++ {
		got = append(got, w.backoff(n))
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute,
		64 * time.Minute, 128 * time.Minute, 256 * time.Minute, 6 * time.Hour, 6 * time.Hour}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("backoff (-want +got):\n%s", diff)
	}
}

// TestStartTLSAuth: a smarthost that wants STARTTLS then AUTH PLAIN gets
// both, on one connection for all recipients; a wrong password defers.
func TestStartTLSAuth(t *testing.T) {
	s := newSink(t, func(s *sink) { s.user, s.password = "patchwell", "s3cret" })
	rcpts := []string{"a@example.net", "b@example.net", "c@example.net"}
	st, box := queue(t, t.TempDir(), time.Now(), rcpts)
	defer st.Close()

	// Without STARTTLS the client will not send the password... to a
	// non-loopback host; here the sink refuses MAIL before TLS.
	plain := newWorker(t, st, s, nil, nil)
	if n, err := plain.Drain(context.Background()); n != 0 || err != nil {
		t.Fatalf("Drain() without TLS = %d, %v", n, err)
	}
	bad := newWorker(t, st, s, nil, func(c *Config) {
		c.StartTLS, c.TLS, c.Username, c.Password = true, &tls.Config{InsecureSkipVerify: true}, "patchwell", "wrong"
	})
	bad.cfg.Now = func() time.Time { return time.Now().Add(time.Hour) }
	if n, err := bad.Drain(context.Background()); n != 0 || err != nil {
		t.Fatalf("Drain() with a wrong password = %d, %v", n, err)
	}
	good := newWorker(t, st, s, nil, func(c *Config) {
		c.StartTLS, c.TLS, c.Username, c.Password = true, &tls.Config{InsecureSkipVerify: true}, "patchwell", "s3cret"
		c.Now = func() time.Time { return time.Now().Add(24 * time.Hour) }
	})
	if n, err := good.Drain(context.Background()); n != 3 || err != nil {
		t.Fatalf("Drain() with STARTTLS and AUTH = %d, %v", n, err)
	}
	if len(s.messages()) != 3 || s.logins != 1 {
		t.Errorf("sink got %d messages over %d logins, want 3 over 1", len(s.messages()), s.logins)
	}
	for r, state := range states(t, st, box) {
		if !strings.HasPrefix(state, "sent/") {
			t.Errorf("%s: %s", r, state)
		}
	}
}

// TestRunKick: after a first pass that found nothing, Run delivers what
// is queued when kicked, without waiting for its hour-long poll, and returns when its context ends.
func TestRunKick(t *testing.T) {
	s := newSink(t, nil)
	st, box := queue(t, t.TempDir(), time.Now(), nil)
	defer st.Close()
	w := newWorker(t, st, s, nil, func(c *Config) { c.Poll = time.Hour })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	deadline := time.Now().Add(30 * time.Second)
	for w.passes.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // the first pass finds nothing due
	}
	err := st.Update(ctx, func(tx store.Tx) error {
		return tx.QueueDeliveries(ctx, box, []string{"late@example.net"})
	})
	if err != nil {
		t.Fatalf("QueueDeliveries() = %v", err)
	}
	w.Kick()
	for len(s.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
	if got := s.messages(); len(got) != 1 || got[0].Rcpt != "late@example.net" {
		t.Errorf("sink got %+v, want one copy to late@example.net", got)
	}
}

// TestSendNow: a site message (the sign-up confirmation) goes straight
// through the smarthost, written by archive.Compose; an unreachable
// smarthost is an error for the caller.
func TestSendNow(t *testing.T) {
	s := newSink(t, nil)
	w := newWorker(t, nil, s, nil, nil)
	if err := w.SendNow(context.Background(), "new@example.org", "Confirm your account on héllo", "open\nhttp://x/confirm/pwc_1\n"); err != nil {
		t.Fatal(err)
	}
	ms := s.messages()
	if len(ms) != 1 {
		t.Fatalf("%d messages at the smarthost", len(ms))
	}
	m := ms[0]
	if m.From != "patchwell@lists.test" || m.Rcpt != "new@example.org" || !bytes.Contains(m.Data, []byte("http://x/confirm/pwc_1\r\n")) ||
		!bytes.Contains(m.Data, []byte("Subject: =?utf-8?q?")) || !bytes.Contains(m.Data, []byte("Auto-Submitted: auto-generated\r\n")) {
		t.Fatalf("mail from %s:\n%s", m.From, m.Data)
	}
	down := newWorker(t, nil, s, nil, func(c *Config) { c.Smarthost = "127.0.0.1:1" })
	if err := down.SendNow(context.Background(), "a@b.example", "s", "b"); err == nil {
		t.Error("no error from an unreachable smarthost")
	}
}
