package outbound

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/store"
)

// Store is what the worker needs of the store.
type Store interface {
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]store.DeliveryBatch, error)
	MarkSent(ctx context.Context, ids []int64, at time.Time) error
	MarkRetry(ctx context.Context, ds []store.DeliveryError) error
	MarkFailed(ctx context.Context, ds []store.DeliveryError) error
}

// Config configures a Worker. Zero durations and counts take the defaults
// given beside them.
type Config struct {
	Smarthost string // host:port
	// Username and Password, when set, authenticate with AUTH PLAIN; the
	// client refuses to send them over a connection without TLS unless
	// the smarthost is on a loopback address.
	Username, Password string
	StartTLS           bool
	// TLS is the STARTTLS client configuration; nil verifies the
	// smarthost's certificate against its host name. Tests set
	// InsecureSkipVerify for a self-signed sink; nothing else should.
	TLS *tls.Config
	// HelloName is the EHLO name (default: Domain).
	HelloName string

	Domain string // the lists' mail domain: NAME@Domain
	WebURL string // the site's base URL, for List-Archive and the rest
	Secret []byte // key of the unsubscribe tokens (LoadSecret)

	Batch       int           // deliveries taken at once (1000; a batch reads its message once)
	Poll        time.Duration // how often Run looks for due mail without a Kick (30s)
	MinBackoff  time.Duration // first retry delay (1 minute), doubled per attempt
	MaxBackoff  time.Duration // longest retry delay (6 hours)
	GiveUp      time.Duration // age of a message after which its retries fail (5 days)
	CommitEvery int           // acknowledged deliveries per commit (1; see the package doc)
	Timeout     time.Duration // dial and per-command timeout (1 minute)

	Now func() time.Time // the clock (time.Now)
}

// Worker delivers due deliveries to the smarthost.
type Worker struct {
	st   Store
	cfg  Config
	log  *slog.Logger
	kick chan struct{}

	mu sync.Mutex // serialises Drain
	c  *smtp.Client

	passes atomic.Int64 // Drain calls Run made (for tests)
}

// New returns a worker; Run starts it.
func New(st Store, cfg Config, log *slog.Logger) (*Worker, error) {
	if _, _, err := net.SplitHostPort(cfg.Smarthost); err != nil {
		return nil, fmt.Errorf("smarthost %q: %w", cfg.Smarthost, err)
	}
	if cfg.Domain == "" {
		return nil, errors.New("outbound: no mail domain")
	}
	if len(cfg.Secret) < 16 {
		return nil, errors.New("outbound: unsubscribe secret shorter than 16 bytes")
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.Poll, 30*time.Second)
	def(&cfg.MinBackoff, time.Minute)
	def(&cfg.MaxBackoff, 6*time.Hour)
	def(&cfg.GiveUp, 5*24*time.Hour)
	def(&cfg.Timeout, time.Minute)
	if cfg.Batch <= 0 {
		cfg.Batch = 1000
	}
	if cfg.CommitEvery <= 0 {
		cfg.CommitEvery = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.HelloName == "" {
		cfg.HelloName = cfg.Domain
	}
	return &Worker{st: st, cfg: cfg, log: log, kick: make(chan struct{}, 1)}, nil
}

// recheck is how soon Run looks again after a kick that found nothing.
const recheck = 250 * time.Millisecond

// Kick wakes Run up: mail was queued.
func (w *Worker) Kick() {
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

// Run delivers due mail until ctx ends, then closes the connection.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		kicked := false
		select {
		case <-ctx.Done():
			w.closeConn()
			return nil
		case <-w.kick:
			kicked = true
		case <-t.C:
		}
		n, err := w.Drain(ctx)
		if err != nil && ctx.Err() == nil {
			w.log.Error("outbound delivery failed", "err", err)
		}
		w.passes.Add(1)
		if kicked && n == 0 && err == nil {
			// Kicked from inside the transaction that queues the mail
			// (Queue.Distribute), before it committed: look again soon.
			t.Reset(recheck)
			continue
		}
		t.Reset(w.cfg.Poll)
	}
}

// Drain delivers everything due now, then says goodbye to the smarthost;
// it returns how many deliveries it handed over. An error is the store's:
// the smarthost's are recorded with the deliveries.
func (w *Worker) Drain(ctx context.Context) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer w.closeConn()
	sent := 0
	for ctx.Err() == nil {
		batches, err := w.st.DueDeliveries(ctx, w.cfg.Now(), w.cfg.Batch)
		if err != nil {
			return sent, err
		}
		if len(batches) == 0 {
			return sent, nil
		}
		for _, b := range batches {
			n, err := w.deliver(ctx, b)
			sent += n
			if err != nil {
				return sent, err
			}
		}
	}
	return sent, ctx.Err()
}

// deliver sends one message to its due recipients, one transaction each.
func (w *Worker) deliver(ctx context.Context, b store.DeliveryBatch) (int, error) {
	m := b.Message
	log := w.log.With("list", m.List, "msgid", m.MessageID)
	var acked []int64
	flush := func() error {
		if len(acked) == 0 {
			return nil
		}
		err := w.st.MarkSent(ctx, acked, w.cfg.Now())
		acked = acked[:0]
		return err
	}
	sent := 0
	for i, d := range b.Deliveries {
		if ctx.Err() != nil {
			break
		}
		err := w.send(m, d.Rcpt)
		if err == nil {
			sent++
			log.Debug("delivered", "rcpt", d.Rcpt)
			acked = append(acked, d.ID)
			if len(acked) >= w.cfg.CommitEvery {
				if err := flush(); err != nil {
					return sent, err
				}
			}
			continue
		}
		if err := flush(); err != nil {
			return sent, err
		}
		var de *dialError
		if errors.As(err, &de) {
			// The smarthost is unreachable or refuses us (whatever its
			// reply code): every remaining delivery of the batch waits,
			// without a connection attempt each.
			log.Warn("smarthost unavailable", "err", err)
			if err := w.retry(ctx, m, b.Deliveries[i:], err); err != nil {
				return sent, err
			}
			break
		}
		var se *smtp.SMTPError
		var me *senderError
		if errors.As(err, &se) && se.Code >= 500 && !errors.As(err, &me) {
			log.Info("delivery failed", "rcpt", d.Rcpt, "err", err)
			if err := w.st.MarkFailed(ctx, []store.DeliveryError{{ID: d.ID, Err: err.Error()}}); err != nil {
				return sent, err
			}
			continue
		}
		log.Info("delivery deferred", "rcpt", d.Rcpt, "err", err)
		if err := w.retry(ctx, m, b.Deliveries[i:i+1], err); err != nil {
			return sent, err
		}
	}
	return sent, flush()
}

// retry schedules the next attempt of ds after a temporary failure, or
// fails those whose message has waited longer than GiveUp.
func (w *Worker) retry(ctx context.Context, m store.OutboxMessage, ds []store.Delivery, cause error) error {
	now := w.cfg.Now()
	var again, fail []store.DeliveryError
	for _, d := range ds {
		if now.Sub(m.Created) >= w.cfg.GiveUp {
			fail = append(fail, store.DeliveryError{ID: d.ID, Err: fmt.Sprintf("gave up after %s: %v", w.cfg.GiveUp, cause)})
			continue
		}
		again = append(again, store.DeliveryError{ID: d.ID, Err: cause.Error(), Next: now.Add(w.backoff(d.Attempts + 1))})
	}
	if err := w.st.MarkRetry(ctx, again); err != nil {
		return err
	}
	return w.st.MarkFailed(ctx, fail)
}

// backoff is the delay before attempt n+1 after n failed attempts.
func (w *Worker) backoff(n int) time.Duration {
	d := w.cfg.MinBackoff
	for i := 1; i < n && d < w.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, w.cfg.MaxBackoff)
}

// send runs one SMTP transaction: the recipient's list headers, then the
// stored bytes unchanged. A failure that leaves the connection unusable
// closes it (w.c becomes nil).
func (w *Worker) send(m store.OutboxMessage, rcpt string) error {
	if w.c == nil {
		if err := w.dial(); err != nil {
			return &dialError{err}
		}
	}
	err := w.transaction(m, rcpt)
	if err == nil {
		return nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) && se.Code != 421 {
		// Refused; the connection is fine. Abort the transaction.
		if rerr := w.c.Reset(); rerr != nil {
			w.closeConn()
		}
		return err
	}
	w.closeConn()
	return err
}

func (w *Worker) transaction(m store.OutboxMessage, rcpt string) error {
	hdr := ListHeaders(m.List, w.cfg.Domain, w.cfg.WebURL, m.MessageID, rcpt, w.cfg.Secret)
	from := VERP(m.List, w.cfg.Domain, rcpt)
	if err := w.c.Mail(from, &smtp.MailOptions{Size: int64(len(hdr) + len(m.Raw))}); err != nil {
		return &senderError{fmt.Errorf("mail from: %w", err)}
	}
	if err := w.c.Rcpt(rcpt, nil); err != nil {
		return fmt.Errorf("rcpt to: %w", err)
	}
	wc, err := w.c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := wc.Write(hdr); err != nil {
		wc.Close()
		return fmt.Errorf("data: %w", err)
	}
	if _, err := wc.Write(m.Raw); err != nil {
		wc.Close()
		return fmt.Errorf("data: %w", err)
	}
	if err := wc.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

func (w *Worker) dial() error {
	c, err := w.connect()
	if err != nil {
		return err
	}
	w.c = c
	return nil
}

// SendNow sends a message the site writes (a sign-up confirmation) to
// one address straight through the smarthost, on a connection of its
// own: not queued, so a failure is the caller's to show (the person
// signing up asks again).
func (w *Worker) SendNow(ctx context.Context, to, subject, body string) error {
	from := "patchwell@" + w.cfg.Domain
	raw, _ := archive.Compose(archive.Outgoing{From: from, To: []string{to}, Subject: subject, Domain: w.cfg.Domain,
		Extra: []core.Header{{Name: "Auto-Submitted", Value: "auto-generated"}}, Body: body})
	c, err := w.connect()
	if err != nil {
		return err
	}
	defer c.Close()
	if d, ok := ctx.Deadline(); ok {
		c.SubmissionTimeout = time.Until(d)
	}
	if err := c.SendMail(from, []string{to}, bytes.NewReader(raw)); err != nil {
		return err
	}
	return c.Quit()
}

// connect dials the smarthost, greets it, starts TLS and authenticates
// as configured.
func (w *Worker) connect() (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp", w.cfg.Smarthost, w.cfg.Timeout)
	if err != nil {
		return nil, fmt.Errorf("dial smarthost: %w", err)
	}
	host, _, _ := net.SplitHostPort(w.cfg.Smarthost)
	var c *smtp.Client
	if w.cfg.StartTLS {
		tc := w.cfg.TLS.Clone()
		if tc == nil {
			tc = &tls.Config{}
		}
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		c, err = smtp.NewClientStartTLS(conn, tc)
		if err != nil {
			return nil, fmt.Errorf("starttls: %w", err)
		}
	} else {
		c = smtp.NewClient(conn)
	}
	c.CommandTimeout = w.cfg.Timeout
	c.SubmissionTimeout = 2 * w.cfg.Timeout
	if err := c.Hello(w.cfg.HelloName); err != nil {
		c.Close()
		return nil, fmt.Errorf("ehlo: %w", err)
	}
	if w.cfg.Username != "" {
		if _, isTLS := c.TLSConnectionState(); !isTLS && !loopback(host) {
			c.Close()
			return nil, errors.New("smarthost: refusing AUTH without TLS (set --smarthost-starttls)")
		}
		if err := c.Auth(sasl.NewPlainClient("", w.cfg.Username, w.cfg.Password)); err != nil {
			c.Close()
			return nil, fmt.Errorf("auth: %w", err)
		}
	}
	return c, nil
}

// senderError is a refused MAIL FROM. Even a 5xx is retried: it says
// more about the smarthost's configuration (530 authentication
// required, a sender it does not relay for) than about the recipient.
type senderError struct{ err error }

func (e *senderError) Error() string { return e.err.Error() }
func (e *senderError) Unwrap() error { return e.err }

// dialError is a failure to connect, greet or authenticate.
type dialError struct{ err error }

func (e *dialError) Error() string { return e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (w *Worker) closeConn() {
	if w.c == nil {
		return
	}
	if err := w.c.Quit(); err != nil {
		w.c.Close()
	}
	w.c = nil
}

// LoadSecret reads the unsubscribe key at path, creating a random one
// (readable by the owner only) when there is none.
func LoadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 16 {
			return nil, fmt.Errorf("secret %s: shorter than 16 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("secret: %w", err)
	}
	b = make([]byte, 32)
	rand.Read(b)
	tmp, err := os.CreateTemp(filepath.Dir(path), ".secret-*")
	if err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return LoadSecret(path) // another process won the race
		}
		return nil, fmt.Errorf("secret: %w", err)
	}
	return b, nil
}
