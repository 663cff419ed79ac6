package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Webhook delivery states.
const (
	WebhookPending   = "pending"
	WebhookDelivered = "delivered"
	WebhookFailed    = "failed"
)

// Webhook is a subscription of an outside system to events: every event
// whose type is in Events (all when empty) on List (every list when "")
// is POSTed to URL, signed with Secret.
type Webhook struct {
	ID      int64
	URL     string
	Secret  []byte
	Events  []string
	List    string
	Created time.Time
}

// WebhookEvent is one event to deliver. Key makes it unique: an event
// emitted again with the same key is not queued again.
type WebhookEvent struct {
	Key     string
	Type    string
	List    string
	Payload []byte // JSON
}

// WebhookDelivery is one event on its way to one subscription, with what
// sending it needs.
type WebhookDelivery struct {
	ID          int64
	WebhookID   int64
	GUID        string // the X-Patchwell-Delivery header: the same on every attempt
	State       string
	Attempts    int
	NextAttempt time.Time
	LastStatus  int
	LastError   string
	DeliveredAt time.Time
	URL         string
	Secret      []byte
	EventType   string
	Payload     []byte
}

// Bounds on what a subscription and a delivery's error keep.
const (
	maxWebhookURL   = 2000
	maxWebhookError = 1000
)

// AddWebhook stores a subscription; ErrNotFound for a list that does not
// exist, ErrInvalid for a URL that is not http(s), an empty secret or a
// bad event name.
func (s *DB) AddWebhook(ctx context.Context, w Webhook) (*Webhook, error) {
	if w.List != "" {
		if _, err := s.ListInfo(ctx, w.List); err != nil {
			return nil, err
		}
	}
	u, err := url.Parse(w.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || len(w.URL) > maxWebhookURL {
		return nil, fmt.Errorf("%w: webhook URL %q: want an http or https URL", ErrInvalid, w.URL)
	}
	if len(w.Secret) == 0 || len(w.Secret) > 1024 {
		return nil, fmt.Errorf("%w: webhook secret: want 1 to 1024 bytes", ErrInvalid)
	}
	for _, e := range w.Events {
		if e == "" || strings.ContainsAny(e, ", \t\r\n") || len(e) > 64 {
			return nil, fmt.Errorf("%w: webhook event %q", ErrInvalid, e)
		}
	}
	now := time.Now()
	id, err := s.insertID(ctx, `INSERT INTO webhooks(url, secret, events, list, created) VALUES(?,?,?,?,?) RETURNING id`,
		w.URL, w.Secret, strings.Join(w.Events, ","), w.List, now.Unix())
	if err != nil {
		return nil, fmt.Errorf("add webhook: %w", err)
	}
	w.ID = id
	w.Created = time.Unix(now.Unix(), 0).UTC()
	return &w, nil
}

// Webhooks returns the subscriptions, oldest first.
func (s *DB) Webhooks(ctx context.Context) ([]Webhook, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, url, secret, events, list, created FROM webhooks ORDER BY id`)
	return collect(rows, err, "webhooks", func(sc scanner) (*Webhook, error) {
		var w Webhook
		var events string
		var created int64
		if err := sc.Scan(&w.ID, &w.URL, &w.Secret, &events, &w.List, &created); err != nil {
			return nil, err
		}
		if events != "" {
			w.Events = strings.Split(events, ",")
		}
		w.Created = time.Unix(created, 0).UTC()
		return &w, nil
	})
}

// DeleteWebhook removes a subscription and its deliveries; ErrNotFound
// for an unknown id.
func (s *DB) DeleteWebhook(ctx context.Context, id int64) error {
	res, err := s.write(ctx, `DELETE FROM webhooks WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete webhook: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("webhook %d: %w", id, ErrNotFound)
	}
	return nil
}

// QueueWebhookEvent stores an event and, in the same transaction, a
// pending delivery, due now, to every subscription that wants it. It
// returns how many deliveries it queued: 0 when no subscription wants it
// or the event's key was queued before (the event is then not stored).
func (s *DB) QueueWebhookEvent(ctx context.Context, e WebhookEvent) (int, error) {
	if e.Key == "" || e.Type == "" || len(e.Key) > 500 {
		return 0, fmt.Errorf("%w: webhook event needs a key and a type", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var hooks []int64
	// FOR SHARE on PostgreSQL: a concurrent DeleteWebhook has happened
	// (the row is skipped) or waits for this commit (and its cascade takes
	// the new deliveries), never fails their foreign key.
	rows, err := tx.QueryContext(ctx, `SELECT id FROM webhooks
		WHERE (list = '' OR list = ?) AND (events = '' OR ','||events||',' LIKE '%,'||?||',%')`+s.rowLock("FOR SHARE"), e.List, e.Type)
	if err != nil {
		return 0, fmt.Errorf("queue webhook event: %w", err)
	}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("queue webhook event: %w", err)
		}
		hooks = append(hooks, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("queue webhook event: %w", err)
	}
	if len(hooks) == 0 {
		return 0, nil
	}
	now := time.Now().Unix()
	var eventID int64
	err = tx.QueryRowContext(ctx, `INSERT INTO webhook_events(key, type, list, payload, created) VALUES(?,?,?,?,?)
		ON CONFLICT(key) DO NOTHING RETURNING id`, e.Key, e.Type, e.List, string(e.Payload), now).Scan(&eventID)
	if err == sql.ErrNoRows {
		return 0, nil // queued before
	}
	if err != nil {
		return 0, fmt.Errorf("queue webhook event: %w", err)
	}
	for _, h := range hooks {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries(event_id, webhook_id, guid, next_attempt) VALUES(?,?,?,?)`,
			eventID, h, newGUID(), now); err != nil {
			return 0, fmt.Errorf("queue webhook delivery: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	return len(hooks), nil
}

// newGUID is a random delivery id in the 8-4-4-4-12 hex form of a UUID
// (version 4).
func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

const webhookDeliveryCols = `d.id, d.webhook_id, d.guid, d.state, d.attempts, d.next_attempt, d.last_status, d.last_error, d.delivered_at,
	w.url, w.secret, e.type, e.payload`

func scanWebhookDelivery(sc scanner) (*WebhookDelivery, error) {
	var d WebhookDelivery
	var next, delivered int64
	var payload string
	if err := sc.Scan(&d.ID, &d.WebhookID, &d.GUID, &d.State, &d.Attempts, &next, &d.LastStatus, &d.LastError, &delivered,
		&d.URL, &d.Secret, &d.EventType, &payload); err != nil {
		return nil, err
	}
	d.NextAttempt = time.Unix(next, 0).UTC()
	if delivered != 0 {
		d.DeliveredAt = time.Unix(delivered, 0).UTC()
	}
	d.Payload = []byte(payload)
	return &d, nil
}

// DueWebhookDeliveries returns pending deliveries due at now, oldest
// first, at most limit.
// On PostgreSQL they are claimed for this node (claimDue).
func (s *DB) DueWebhookDeliveries(ctx context.Context, now time.Time, limit int) ([]WebhookDelivery, error) {
	where, args, err := s.due(ctx, "webhook_deliveries", "next_attempt, id", now, limit)
	if err != nil || where == "" {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookDeliveryCols+` FROM (SELECT * FROM webhook_deliveries WHERE `+where+`) d
		JOIN webhooks w ON w.id = d.webhook_id JOIN webhook_events e ON e.id = d.event_id ORDER BY d.next_attempt, d.id`, args...)
	return collect(rows, err, "webhook deliveries", scanWebhookDelivery)
}

// NextWebhookAttempt is when the next pending delivery is due; zero when
// none is pending.
func (s *DB) NextWebhookAttempt(ctx context.Context) (time.Time, error) {
	var next sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT min(next_attempt) FROM webhook_deliveries WHERE state = 'pending'`).Scan(&next); err != nil {
		return time.Time{}, fmt.Errorf("next webhook attempt: %w", err)
	}
	if !next.Valid {
		return time.Time{}, nil
	}
	return time.Unix(next.Int64, 0).UTC(), nil
}

// WebhookDeliveries returns a subscription's deliveries, oldest first
// (all of them when webhookID is 0).
func (s *DB) WebhookDeliveries(ctx context.Context, webhookID int64) ([]WebhookDelivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+webhookDeliveryCols+` FROM webhook_deliveries d
		JOIN webhooks w ON w.id = d.webhook_id JOIN webhook_events e ON e.id = d.event_id
		WHERE ? = 0 OR d.webhook_id = ? ORDER BY d.id`, webhookID, webhookID)
	return collect(rows, err, "webhook deliveries", scanWebhookDelivery)
}

// WebhookDeliveryCounts counts each subscription's deliveries by state:
// webhook id, then state (WebhookPending, WebhookDelivered,
// WebhookFailed), to how many.
func (s *DB) WebhookDeliveryCounts(ctx context.Context) (map[int64]map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT webhook_id, state, count(*) FROM webhook_deliveries GROUP BY webhook_id, state`)
	if err != nil {
		return nil, fmt.Errorf("webhook delivery counts: %w", err)
	}
	defer rows.Close()
	out := map[int64]map[string]int{}
	for rows.Next() {
		var id int64
		var state string
		var n int
		if err := rows.Scan(&id, &state, &n); err != nil {
			return nil, fmt.Errorf("webhook delivery counts: %w", err)
		}
		if out[id] == nil {
			out[id] = map[string]int{}
		}
		out[id][state] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("webhook delivery counts: %w", err)
	}
	return out, nil
}

// MarkWebhookAttempt records one attempt of a delivery: with state
// WebhookDelivered it is done; with WebhookPending it is tried again at
// next; with WebhookFailed it is given up. status is the HTTP status
// received (0 for none), errText why it failed.
func (s *DB) MarkWebhookAttempt(ctx context.Context, id int64, state string, status int, errText string, at, next time.Time) error {
	if state != WebhookPending && state != WebhookDelivered && state != WebhookFailed {
		return fmt.Errorf("%w: webhook delivery state %q", ErrInvalid, state)
	}
	if len(errText) > maxWebhookError {
		errText = errText[:maxWebhookError]
	}
	var delivered int64
	if state == WebhookDelivered {
		delivered = at.Unix()
	}
	_, err := s.write(ctx, `UPDATE webhook_deliveries SET state = ?, attempts = attempts + 1, last_status = ?, last_error = ?,
		next_attempt = ?, delivered_at = ? WHERE id = ? AND state = 'pending'`, state, status, errText, next.Unix(), delivered, id)
	if err != nil {
		return fmt.Errorf("mark webhook delivery: %w", err)
	}
	return nil
}
