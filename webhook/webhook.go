// Package webhook tells outside systems (CI such as Jenkins, Buildbot,
// GitHub Actions, builds.sr.ht) what happens to series: it signs JSON
// events with each subscription's secret (HMAC-SHA256, as GitHub does)
// and POSTs them from a durable queue kept in the store, retrying with
// backoff until the receiver answers 2xx.
//
// Delivery is at least once: every attempt of one delivery carries the
// same X-Patchwell-Delivery id, which receivers use to drop repeats. An
// event is queued once per key (see Event), so emitting it again (a
// retried ingest, a restart) queues nothing new.
//
// It owns the event payloads and the HTTP side; it decides nothing about
// series. It imports store only, for the shared types; the store keeps
// the subscriptions (patchwell webhook add) and the queue.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"patchwell/store"
)

// Event types.
const (
	SeriesCreated       = "series.created"
	SeriesUpdated       = "series.updated"
	SeriesStatusChanged = "series.status_changed"
	CheckCreated        = "check.created"
)

// Types lists every event type, for validating subscriptions.
var Types = []string{SeriesCreated, SeriesUpdated, SeriesStatusChanged, CheckCreated}

// Headers of a delivery.
const (
	HeaderSignature = "X-Patchwell-Signature" // sha256=HEX of the body
	HeaderEvent     = "X-Patchwell-Event"     // the event type
	HeaderDelivery  = "X-Patchwell-Delivery"  // the same on every attempt
)

// Sign returns the hex HMAC-SHA256 of body with secret; the signature
// header carries it as "sha256=" + Sign(secret, body).
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify reports whether header (the X-Patchwell-Signature value) is the
// signature of body with secret, in constant time: what a receiver does.
func Verify(secret, body []byte, header string) bool {
	want := "sha256=" + Sign(secret, body)
	return hmac.Equal([]byte(header), []byte(want))
}

// ParseEvents parses the event types a subscription wants,
// comma-separated, each one of Types; none (s empty) means every event.
func ParseEvents(s string) ([]string, error) {
	var evs []string
	for e := range strings.SplitSeq(s, ",") {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		if !slices.Contains(Types, e) {
			return nil, fmt.Errorf("unknown event %q (%s)", e, strings.Join(Types, ", "))
		}
		evs = append(evs, e)
	}
	return evs, nil
}

// ReadSecret reads the shared secret that signs a subscription's
// deliveries: the first line of file, 16 to 1024 bytes long.
func ReadSecret(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	secret, _, _ := strings.Cut(string(b), "\n")
	secret = strings.TrimSuffix(secret, "\r")
	if len(secret) < 16 || len(secret) > 1024 {
		return nil, fmt.Errorf("%s: the secret's first line is %d bytes; use 16 to 1024 (openssl rand -hex 32)", file, len(secret))
	}
	return []byte(secret), nil
}

// Queue is the durable queue: store.DB implements it.
type Queue interface {
	QueueWebhookEvent(ctx context.Context, e store.WebhookEvent) (int, error)
	DueWebhookDeliveries(ctx context.Context, now time.Time, limit int) ([]store.WebhookDelivery, error)
	NextWebhookAttempt(ctx context.Context) (time.Time, error)
	MarkWebhookAttempt(ctx context.Context, id int64, state string, status int, errText string, at, next time.Time) error
}

// Dispatcher queues events and delivers them. Emit and the helpers
// (SeriesCreated ...) may be called from any goroutine; Run delivers, in
// one goroutine per data directory.
type Dispatcher struct {
	q      Queue
	log    *slog.Logger
	client *http.Client
	wake   chan struct{}

	// baseURL, when set (http://host:port), gives payloads the web and
	// API links of the series.
	baseURL string
	// MaxAttempts is how many times a delivery is tried before it is
	// given up (default 10: about 17 hours of backoff).
	MaxAttempts int
	// Backoff is the wait after the n-th failed attempt (n from 1); the
	// default doubles from 30 s up to 4 h.
	Backoff func(n int) time.Duration
	// now is the clock (tests move it).
	now func() time.Time

	mu sync.Mutex // serialises DeliverDue
}

// New returns a Dispatcher over q; baseURL (the web UI's address, may be
// "") gives payloads the web and API links of the series. A nil log
// discards logs.
func New(q Queue, log *slog.Logger, baseURL string) *Dispatcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Dispatcher{q: q, log: log, baseURL: strings.TrimRight(baseURL, "/"), wake: make(chan struct{}, 1), MaxAttempts: 10, Backoff: defaultBackoff, now: time.Now,
		client: &http.Client{
			Timeout: 15 * time.Second,
			// A redirect is an answer, not a place to send the event to.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}}
}

func defaultBackoff(n int) time.Duration {
	d := 30 * time.Second
	for i := 1; i < n && d < 4*time.Hour; i++ {
		d *= 2
	}
	return min(d, 4*time.Hour)
}

// Event is one thing that happened. Key identifies it: an event with a
// key queued before is not queued again (Emit returns nil).
type Event struct {
	Key  string
	Type string
	List string
	// Data is the event's payload besides "event", "id" and "created".
	Data map[string]any
}

// Emit stores the event with a delivery to each subscription that wants
// it, durably, and wakes Run.
func (d *Dispatcher) Emit(ctx context.Context, e Event) error {
	body := map[string]any{"event": e.Type, "id": e.Key, "list": e.List, "created": d.now().UTC().Format(time.RFC3339)}
	for k, v := range e.Data {
		body[k] = v
	}
	b, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("webhook event %s: %w", e.Type, err)
	}
	n, err := d.q.QueueWebhookEvent(ctx, store.WebhookEvent{Key: e.Key, Type: e.Type, List: e.List, Payload: b})
	if err != nil {
		return fmt.Errorf("webhook event %s: %w", e.Type, err)
	}
	if n > 0 {
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	return nil
}

// Run delivers due events until ctx ends, waking on Emit and when the
// next retry is due.
func (d *Dispatcher) Run(ctx context.Context) error {
	for {
		if _, err := d.DeliverDue(ctx); err != nil && ctx.Err() == nil {
			d.log.Error("webhook deliveries", "err", err)
		}
		wait := time.Minute
		if next, err := d.q.NextWebhookAttempt(ctx); err == nil && !next.IsZero() {
			wait = min(wait, max(next.Sub(d.now()), time.Second))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-d.wake:
		case <-t.C:
		}
		t.Stop()
	}
}

// parallel bounds how many subscriptions are sent to at once. Each
// subscription's deliveries go one after the other, in queue order, so
// a receiver sees its events in order and a slow or dead one delays only
// its own.
const parallel = 8

// DeliverDue makes one attempt of every due delivery and returns how
// many succeeded.
func (d *Dispatcher) DeliverDue(ctx context.Context) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	total := 0
	for {
		due, err := d.q.DueWebhookDeliveries(ctx, d.now(), 100)
		if err != nil {
			return total, err
		}
		if len(due) == 0 {
			return total, nil
		}
		var order []int64
		groups := map[int64][]*store.WebhookDelivery{}
		for i := range due {
			id := due[i].WebhookID
			if groups[id] == nil {
				order = append(order, id)
			}
			groups[id] = append(groups[id], &due[i])
		}
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
			sem  = make(chan struct{}, parallel)
		)
		for _, id := range order {
			wg.Add(1)
			sem <- struct{}{}
			go func(ds []*store.WebhookDelivery) {
				defer func() { <-sem; wg.Done() }()
				for _, dl := range ds {
					if err := ctx.Err(); err != nil {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						return
					}
					done, err := d.deliver(ctx, dl)
					mu.Lock()
					if done {
						total++
					}
					if err != nil {
						errs = append(errs, err)
					}
					mu.Unlock()
					if err != nil {
						return
					}
				}
			}(groups[id])
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return total, err
		}
	}
}

// maxAnswer bounds what is read (and kept in the error) of a receiver's
// answer.
const maxAnswer = 4 << 10

// deliver makes one attempt and records it; true when delivered. The
// error is the store's: a failed attempt is recorded, not returned.
func (d *Dispatcher) deliver(ctx context.Context, dl *store.WebhookDelivery) (bool, error) {
	status, errText := d.post(ctx, dl)
	now := d.now()
	log := d.log.With("webhook", dl.WebhookID, "delivery", dl.GUID, "event", dl.EventType)
	switch {
	case errText == "":
		log.Info("webhook delivered", "status", status)
		return true, d.q.MarkWebhookAttempt(ctx, dl.ID, store.WebhookDelivered, status, "", now, now)
	case status == http.StatusGone || dl.Attempts+1 >= d.MaxAttempts:
		log.Warn("webhook given up", "status", status, "attempts", dl.Attempts+1, "err", errText)
		return false, d.q.MarkWebhookAttempt(ctx, dl.ID, store.WebhookFailed, status, errText, now, now)
	default:
		next := now.Add(d.Backoff(dl.Attempts + 1))
		log.Warn("webhook retry", "status", status, "attempts", dl.Attempts+1, "next", next, "err", errText)
		return false, d.q.MarkWebhookAttempt(ctx, dl.ID, store.WebhookPending, status, errText, now, next)
	}
}

// post sends the delivery; errText is "" on a 2xx answer.
func (d *Dispatcher) post(ctx context.Context, dl *store.WebhookDelivery) (status int, errText string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dl.URL, bytes.NewReader(dl.Payload))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "patchwell-webhook")
	req.Header.Set(HeaderEvent, dl.EventType)
	req.Header.Set(HeaderDelivery, dl.GUID)
	req.Header.Set(HeaderSignature, "sha256="+Sign(dl.Secret, dl.Payload))
	res, err := d.client.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) && ue.Unwrap() != nil {
			return 0, ue.Unwrap().Error()
		}
		return 0, err.Error()
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(res.Body, maxAnswer))
	if res.StatusCode/100 == 2 {
		return res.StatusCode, ""
	}
	msg := "HTTP " + strconv.Itoa(res.StatusCode)
	if len(b) > 0 {
		msg += ": " + string(bytes.ToValidUTF8(b, []byte("?")))
	}
	return res.StatusCode, msg
}
