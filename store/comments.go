package store

import (
	"context"
	"fmt"
	"patchwell/core"
	"time"
)

// Sides of a diff a review comment answers.
const (
	SideOld = "old" // a removed ("-") line, numbered in the old file
	SideNew = "new" // an added ("+") or context line, numbered in the new file
)

// LineComment is one review comment found in a reply to a patch: the
// reviewer's text after the diff line it answers (File, Side and Line), or a
// general remark (File "") when it follows no quoted diff line.
type LineComment struct {
	PatchMessageID string      `json:"patch_message_id"`
	File           string      `json:"file,omitempty"`
	Side           string      `json:"side,omitempty"`
	Line           int         `json:"line,omitempty"`
	Author         core.Person `json:"author"`
	Date           time.Time   `json:"date"`
	Body           string      `json:"body"`
	MessageID      string      `json:"message_id"`
	List           string      `json:"list"`
	// Quote is the diff lines the reviewer quoted just before the comment,
	// as the patch has them, for display.
	Quote []string `json:"quote,omitempty"`
	// Bot: a program wrote the reply (Auto-Submitted: a CI result, an
	// "Applied, thanks"), not a reviewer; not counted as review.
	Bot bool `json:"bot,omitempty"`

	Resolved   bool      `json:"resolved"`
	ResolvedBy string    `json:"resolved_by,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitempty"`

	// CarriedFrom is the version of the revision the comment was made on
	// when it is shown on a later revision whose patch is unchanged (same
	// patch-id); 0 for comments on this revision.
	CarriedFrom int `json:"carried_from,omitempty"`
	// CarriedPatch, CarriedFile, CarriedSide and CarriedLine are then
	// where the comment was made.
	CarriedPatch string `json:"carried_patch,omitempty"`
	CarriedFile  string `json:"carried_file,omitempty"`
	CarriedSide  string `json:"carried_side,omitempty"`
	CarriedLine  int    `json:"carried_line,omitempty"`
}

// Key returns what identifies the comment for its resolved mark: the
// reply, and the patch, file, side and line it was made on (for a carried
// comment, those of the older revision).
func (c *LineComment) Key() Resolution {
	if c.CarriedPatch != "" {
		return Resolution{ReplyMessageID: c.MessageID, PatchMessageID: c.CarriedPatch, File: c.CarriedFile, Side: c.CarriedSide, Line: c.CarriedLine}
	}
	return Resolution{ReplyMessageID: c.MessageID, PatchMessageID: c.PatchMessageID, File: c.File, Side: c.Side, Line: c.Line}
}

// Resolution marks one review comment resolved. The key is the reply's
// Message-ID, the patch's Message-ID, File, Side and Line.
type Resolution struct {
	ReplyMessageID string
	PatchMessageID string
	File           string
	Side           string
	Line           int
	By             string // e-mail address of who resolved it
	At             time.Time
}

// Outbox states.
const (
	OutboxQueued = "queued"
	OutboxSent   = "sent"
	OutboxFailed = "failed"
)

// OutboxMessage is mail patchwell wrote (a review from the web) waiting for
// outbound delivery.
type OutboxMessage struct {
	ID        int64
	ListID    int64
	List      string
	MessageID string
	Raw       []byte
	State     string
	Created   time.Time
	Attempts  int
	LastError string
}

// SetResolution implements Tx.
func (t *writeTx) SetResolution(ctx context.Context, r Resolution, resolved bool) error {
	if r.ReplyMessageID == "" || r.PatchMessageID == "" {
		return fmt.Errorf("resolution without message ids: %w", ErrInvalid)
	}
	var err error
	if resolved {
		err = t.later(ctx, `INSERT INTO comment_resolutions (reply_message_id, patch_message_id, file, side, line, resolved_by, resolved_at)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patch_message_id, reply_message_id, file, side, line) DO UPDATE SET resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at`,
			r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line, r.By, r.At.Unix())
	} else {
		err = t.later(ctx, `DELETE FROM comment_resolutions WHERE reply_message_id = ? AND patch_message_id = ? AND file = ? AND side = ? AND line = ?`,
			r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line)
	}
	if err != nil {
		return fmt.Errorf("set resolution: %w", err)
	}
	return nil
}

// AddOutbox implements Tx.
func (t *writeTx) AddOutbox(ctx context.Context, m OutboxMessage) (int64, error) {
	if m.State == "" {
		m.State = OutboxQueued
	}
	if m.Created.IsZero() {
		m.Created = time.Now()
	}
	var id int64
	err := t.queryRow(ctx, `INSERT INTO outbox (list_id, message_id, raw, state, created, attempts, last_error) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		m.ListID, m.MessageID, m.Raw, m.State, m.Created.Unix(), m.Attempts, m.LastError).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("add outbox: %w", err)
	}
	return id, nil
}

// Resolutions implements Store.
func (s *DB) Resolutions(ctx context.Context, patchMessageIDs []string) ([]Resolution, error) {
	var out []Resolution
	if patchMessageIDs == nil {
		rows, err := s.r.QueryContext(ctx, `SELECT reply_message_id, patch_message_id, file, side, line, resolved_by, resolved_at
			FROM comment_resolutions ORDER BY patch_message_id, reply_message_id, file, side, line`)
		if err != nil {
			return nil, fmt.Errorf("resolutions: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r Resolution
			var at int64
			if err := rows.Scan(&r.ReplyMessageID, &r.PatchMessageID, &r.File, &r.Side, &r.Line, &r.By, &at); err != nil {
				return nil, fmt.Errorf("resolutions: %w", err)
			}
			r.At = time.Unix(at, 0).UTC()
			out = append(out, r)
		}
		return out, rows.Err()
	}
	for len(patchMessageIDs) > 0 {
		n := min(len(patchMessageIDs), 500)
		batch := patchMessageIDs[:n]
		patchMessageIDs = patchMessageIDs[n:]
		args := make([]any, len(batch))
		for i, id := range batch {
			args[i] = id
		}
		rows, err := s.r.QueryContext(ctx, `SELECT reply_message_id, patch_message_id, file, side, line, resolved_by, resolved_at
			FROM comment_resolutions WHERE patch_message_id IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("resolutions: %w", err)
		}
		for rows.Next() {
			var r Resolution
			var at int64
			if err := rows.Scan(&r.ReplyMessageID, &r.PatchMessageID, &r.File, &r.Side, &r.Line, &r.By, &at); err != nil {
				rows.Close()
				return nil, fmt.Errorf("resolutions: %w", err)
			}
			r.At = time.Unix(at, 0).UTC()
			out = append(out, r)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("resolutions: %w", err)
		}
	}
	return out, nil
}

// Outbox implements Store.
func (s *DB) Outbox(ctx context.Context, state string) ([]OutboxMessage, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT o.id, o.list_id, l.name, o.message_id, o.raw, o.state, o.created, o.attempts, o.last_error
		FROM outbox o JOIN lists l ON l.id = o.list_id WHERE ?1 = '' OR o.state = ?1 ORDER BY o.id`, state)
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		var m OutboxMessage
		var created int64
		if err := rows.Scan(&m.ID, &m.ListID, &m.List, &m.MessageID, &m.Raw, &m.State, &created, &m.Attempts, &m.LastError); err != nil {
			return nil, fmt.Errorf("outbox: %w", err)
		}
		m.Created = time.Unix(created, 0).UTC()
		out = append(out, m)
	}
	return out, rows.Err()
}

// DraftComment is a comment a reviewer writes on the web on one diff line
// of a patch (Side SideOld for a removed line, numbered in the old file).
type DraftComment struct {
	PatchMessageID string `json:"patch_message_id"`
	File           string `json:"file"`
	Side           string `json:"side"`
	Line           int    `json:"line"`
	Body           string `json:"body"`
}

// ReviewDraft is a review written on the web: a summary and line comments,
// sent as one e-mail reply from From.
type ReviewDraft struct {
	SeriesID int64
	From     core.Person
	Summary  string
	Comments []DraftComment
	// InReplyTo optionally names the patch or cover letter to answer when
	// the comments do not decide it (a summary alone).
	InReplyTo string
}
