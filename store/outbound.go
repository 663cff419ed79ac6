package store

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Delivery states.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Delivery is one outbox message on its way to one recipient.
type Delivery struct {
	ID          int64
	OutboxID    int64
	Rcpt        string
	State       string
	Attempts    int
	NextAttempt time.Time
	LastError   string
	SentAt      time.Time // zero until sent
}

// DeliveryBatch is a message and some of its due deliveries.
type DeliveryBatch struct {
	Message    OutboxMessage
	Deliveries []Delivery
}

// DeliveryError is a failed attempt of a delivery: the error and, for a
// retry, when to try again.
type DeliveryError struct {
	ID   int64
	Err  string
	Next time.Time
}

// maxDeliveryError bounds the stored error text (a smarthost's reply).
const maxDeliveryError = 1000

// QueueDeliveries implements Tx.
func (t *writeTx) QueueDeliveries(ctx context.Context, outboxID int64, rcpts []string) error {
	for _, r := range rcpts {
		r = strings.TrimSpace(r)
		if r == "" || len(r) > 320 || strings.ContainsAny(r, "<>\r\n\x00 ") || !strings.Contains(r, "@") {
			return fmt.Errorf("queue delivery to %q: %w", r, ErrInvalid)
		}
		if err := t.later(ctx, `INSERT INTO deliveries (outbox_id, rcpt) VALUES (?, ?) ON CONFLICT DO NOTHING`, outboxID, r); err != nil {
			return fmt.Errorf("queue delivery: %w", err)
		}
	}
	return nil
}

// DueDeliveries implements Store.
func (s *DB) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]DeliveryBatch, error) {
	if limit <= 0 {
		limit = 100
	}
	where, args, err := s.due(ctx, "deliveries", "outbox_id, id", now, limit)
	if err != nil || where == "" {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, outbox_id, rcpt, state, attempts, next_attempt, last_error
		FROM deliveries WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	var out []DeliveryBatch
	for rows.Next() {
		var d Delivery
		var next int64
		if err := rows.Scan(&d.ID, &d.OutboxID, &d.Rcpt, &d.State, &d.Attempts, &next, &d.LastError); err != nil {
			rows.Close()
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		d.NextAttempt = time.Unix(next, 0).UTC()
		if len(out) == 0 || out[len(out)-1].Message.ID != d.OutboxID {
			out = append(out, DeliveryBatch{Message: OutboxMessage{ID: d.OutboxID}})
		}
		b := &out[len(out)-1]
		b.Deliveries = append(b.Deliveries, d)
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	for i := range out {
		m := &out[i].Message
		var created int64
		err := s.r.QueryRowContext(ctx, `SELECT o.list_id, l.name, o.message_id, o.raw, o.state, o.created, o.attempts, o.last_error
			FROM outbox o JOIN lists l ON l.id = o.list_id WHERE o.id = ?`, m.ID).
			Scan(&m.ListID, &m.List, &m.MessageID, &m.Raw, &m.State, &created, &m.Attempts, &m.LastError)
		if err != nil {
			return nil, fmt.Errorf("due deliveries: outbox %d: %w", m.ID, err)
		}
		m.Created = time.Unix(created, 0).UTC()
	}
	return out, nil
}

// deliveryUpdate runs fn in one write transaction on the writer
// connection, then marks the outbox messages of the touched deliveries
// sent once none of their deliveries is pending.
func (s *DB) deliveryUpdate(ctx context.Context, ids []int64, fn func(t *writeTx) error) error {
	if len(ids) == 0 {
		return nil
	}
	return s.Update(ctx, func(tx Tx) error {
		t := tx.(*writeTx)
		if err := fn(t); err != nil {
			return err
		}
		var boxes []int64
		for _, id := range ids {
			var box int64
			if err := t.queryRow(ctx, `SELECT outbox_id FROM deliveries WHERE id = ?`, id).Scan(&box); err != nil {
				return fmt.Errorf("delivery %d: %w", id, err)
			}
			boxes = append(boxes, box)
		}
		slices.Sort(boxes)
		for _, box := range slices.Compact(boxes) {
			// On PostgreSQL the outbox row's lock, taken in id order,
			// orders two nodes finishing deliveries of one message: the
			// second sees the first's and marks the message sent.
			if t.pg {
				if _, err := t.exec(ctx, `SELECT id FROM outbox WHERE id = ? FOR UPDATE`, box); err != nil {
					return fmt.Errorf("lock outbox: %w", err)
				}
			}
			if _, err := t.exec(ctx, `UPDATE outbox SET state = 'sent' WHERE id = ?1 AND state != 'sent'
				AND NOT EXISTS (SELECT 1 FROM deliveries WHERE outbox_id = ?1 AND state = 'pending')`, box); err != nil {
				return fmt.Errorf("update outbox: %w", err)
			}
		}
		return nil
	})
}

func clip(s string) string {
	if len(s) > maxDeliveryError {
		return s[:maxDeliveryError]
	}
	return s
}

// MarkSent implements Store.
func (s *DB) MarkSent(ctx context.Context, ids []int64, at time.Time) error {
	return s.deliveryUpdate(ctx, ids, func(t *writeTx) error {
		for _, id := range ids {
			if _, err := t.exec(ctx, `UPDATE deliveries SET state = 'sent', attempts = attempts + 1, sent_at = ?, last_error = '' WHERE id = ?`, at.Unix(), id); err != nil {
				return fmt.Errorf("mark sent: %w", err)
			}
		}
		return nil
	})
}

// MarkRetry implements Store.
func (s *DB) MarkRetry(ctx context.Context, ds []DeliveryError) error {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return s.deliveryUpdate(ctx, ids, func(t *writeTx) error {
		for _, d := range ds {
			if _, err := t.exec(ctx, `UPDATE deliveries SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ? AND state = 'pending'`,
				d.Next.Unix(), clip(d.Err), d.ID); err != nil {
				return fmt.Errorf("mark retry: %w", err)
			}
		}
		return nil
	})
}

// MarkFailed implements Store.
func (s *DB) MarkFailed(ctx context.Context, ds []DeliveryError) error {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.ID
	}
	return s.deliveryUpdate(ctx, ids, func(t *writeTx) error {
		for _, d := range ds {
			if _, err := t.exec(ctx, `UPDATE deliveries SET state = 'failed', attempts = attempts + 1, next_attempt = 0, sent_at = 0, last_error = ? WHERE id = ? AND state = 'pending'`,
				clip(d.Err), d.ID); err != nil {
				return fmt.Errorf("mark failed: %w", err)
			}
		}
		return nil
	})
}

// Deliveries implements Store.
func (s *DB) Deliveries(ctx context.Context, outboxID int64) ([]Delivery, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, outbox_id, rcpt, state, attempts, next_attempt, last_error, sent_at
		FROM deliveries WHERE outbox_id = ? ORDER BY id`, outboxID)
	if err != nil {
		return nil, fmt.Errorf("deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var next, sent int64
		if err := rows.Scan(&d.ID, &d.OutboxID, &d.Rcpt, &d.State, &d.Attempts, &next, &d.LastError, &sent); err != nil {
			return nil, fmt.Errorf("deliveries: %w", err)
		}
		d.NextAttempt = timeOrZero(next)
		d.SentAt = timeOrZero(sent)
		out = append(out, d)
	}
	return out, rows.Err()
}

// due returns the condition (with its ORDER BY and LIMIT) selecting the
// pending rows of a delivery queue due at now, at most limit, in order:
// on PostgreSQL the rows claimDue claimed ("" when none).
func (s *DB) due(ctx context.Context, table, order string, now time.Time, limit int) (string, []any, error) {
	if !s.pg {
		return `state = 'pending' AND next_attempt <= ? ORDER BY ` + order + ` LIMIT ?`, []any{now.Unix(), limit}, nil
	}
	ids, err := s.claimDue(ctx, table, order, now, limit)
	if err != nil || len(ids) == 0 {
		return "", nil, err
	}
	return `id IN (` + placeholders(len(ids)) + `) ORDER BY ` + order, ids, nil
}

// claimLease is how long a node's claim on a due delivery lasts on
// PostgreSQL: another node takes it again after that if the claimer
// neither sent it nor scheduled a retry (it died).
const claimLease = 5 * time.Minute

// claimDue claims, on PostgreSQL, up to limit pending rows of table (a
// delivery queue with state and next_attempt) due at now, in order, by
// moving their next attempt claimLease on: several nodes' workers poll
// one queue, and each due delivery goes to one of them. On SQLite one
// worker runs per data directory (serve holds its lock) and reads the due
// rows without claiming: a restart resends at once what was in flight.
func (s *DB) claimDue(ctx context.Context, table, order string, now time.Time, limit int) ([]any, error) {
	var ids []any
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		// SKIP LOCKED: rows another node is claiming are passed over.
		rows, err := tx.QueryContext(ctx, `UPDATE `+table+` SET next_attempt = ? WHERE id IN (SELECT id FROM `+table+`
			WHERE state = 'pending' AND next_attempt <= ? ORDER BY `+order+` LIMIT ? FOR UPDATE SKIP LOCKED) RETURNING id`,
			now.Add(claimLease).Unix(), now.Unix(), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("claim %s: %w", table, err)
	}
	return ids, nil
}
