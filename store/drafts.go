package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"patchwell/core"
)

// A pending review is the line comments a reviewer collects on the web
// before sending them, one draft per user and series (draft_comments);
// review.Service sends it as mail and clears it. An open issue is a sent
// review comment marked as something to fix (comment_issues), keyed as a
// Resolution is; its resolved mark (comment_resolutions) closes it.

// Limits on a pending review (untrusted input).
const (
	MaxDraftComments    = 500
	MaxDraftCommentSize = 64 << 10
)

// Verdict kinds: the trailers a reviewer gives a series, and a request
// for changes.
const (
	VerdictReviewed         = "Reviewed-by"
	VerdictAcked            = "Acked-by"
	VerdictTested           = "Tested-by"
	VerdictChangesRequested = "Changes-requested"
)

// Verdict is one reviewer's standing verdict of one kind on a series, as
// review.Service derives it from the replies of the series and its
// earlier revisions: the newest verdict of each person wins (a request
// for changes clears their approvals and an approval clears their
// request for changes).
type Verdict struct {
	// SeriesID is the series asked about; OnSeries and Version the
	// revision the verdict was given on (an earlier one: "on v2").
	SeriesID int64       `json:"series_id"`
	Reviewer core.Person `json:"reviewer"`
	Kind     string      `json:"kind"` // VerdictReviewed ... VerdictChangesRequested
	OnSeries int64       `json:"on_series"`
	Version  int         `json:"version"`
	// Patches are the indexes of the patches it was given to; empty for
	// the whole series (a reply to the cover letter, or to every patch).
	Patches   []int     `json:"patches"`
	MessageID string    `json:"message_id"`
	Date      time.Time `json:"date"`
}

// Issue is a review comment marked as an issue to fix, shown on the
// series it was made on and on later revisions.
type Issue struct {
	LineComment
	// Version is the revision it was raised on (OnSeries its id).
	Version  int   `json:"version"`
	OnSeries int64 `json:"on_series"`
	// Addressed: on a later revision, the line it was raised on changed
	// (or its patch is gone); Where says what became of it.
	Addressed bool   `json:"addressed"`
	Where     string `json:"where,omitempty"`
}

// DraftComments implements Reviews.
func (s *DB) DraftComments(ctx context.Context, userID, seriesID int64) ([]DraftComment, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, patch_message_id, file, side, line, body, issue FROM draft_comments
		WHERE user_id = ? AND series_id = ? ORDER BY id`, userID, seriesID)
	return collect(rows, err, "draft comments", func(sc scanner) (*DraftComment, error) {
		var c DraftComment
		var issue int64
		if err := sc.Scan(&c.ID, &c.PatchMessageID, &c.File, &c.Side, &c.Line, &c.Body, &issue); err != nil {
			return nil, err
		}
		c.Issue = issue != 0
		return &c, nil
	})
}

// SaveDraftComment implements Reviews.
func (s *DB) SaveDraftComment(ctx context.Context, userID, seriesID int64, c DraftComment) (*DraftComment, error) {
	c.Body = strings.TrimSpace(strings.ReplaceAll(c.Body, "\r\n", "\n"))
	switch {
	case c.Body == "" || len(c.Body) > MaxDraftCommentSize:
		return nil, fmt.Errorf("%w: a comment of 1 to %d bytes", ErrInvalid, MaxDraftCommentSize)
	case c.PatchMessageID == "" || c.File == "" || (c.Side != SideOld && c.Side != SideNew) || c.Line <= 0:
		return nil, fmt.Errorf("%w: a draft comment names a patch, a file, a side (old, new) and a line", ErrInvalid)
	}
	issue := 0
	if c.Issue {
		issue = 1
	}
	now := time.Now().Unix()
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		if c.ID != 0 {
			res, err := tx.ExecContext(ctx, `UPDATE draft_comments SET body = ?, issue = ?, updated = ? WHERE id = ? AND user_id = ? AND series_id = ?`,
				c.Body, issue, now, c.ID, userID, seriesID)
			if err != nil {
				return err
			}
			if n, err := res.RowsAffected(); err != nil || n == 0 {
				return fmt.Errorf("draft comment %d: %w", c.ID, ErrNotFound)
			}
			return nil
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM draft_comments WHERE user_id = ? AND series_id = ?`, userID, seriesID).Scan(&n); err != nil {
			return err
		}
		if n >= MaxDraftComments {
			return fmt.Errorf("%w: a pending review holds at most %d comments", ErrInvalid, MaxDraftComments)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO draft_comments(user_id, series_id, patch_message_id, file, side, line, body, issue, created, updated)
			VALUES(?,?,?,?,?,?,?,?,?,?) RETURNING id`, userID, seriesID, c.PatchMessageID, c.File, c.Side, c.Line, c.Body, issue, now, now).Scan(&c.ID)
	})
	if err != nil {
		return nil, fmt.Errorf("save draft comment: %w", err)
	}
	return &c, nil
}

// DeleteDraftComments implements Reviews.
func (s *DB) DeleteDraftComments(ctx context.Context, userID, seriesID int64, ids []int64) error {
	var err error
	if ids == nil {
		_, err = s.write(ctx, `DELETE FROM draft_comments WHERE user_id = ? AND series_id = ?`, userID, seriesID)
	}
	for len(ids) > 0 && err == nil {
		n := min(len(ids), 500)
		args := []any{userID, seriesID}
		for _, id := range ids[:n] {
			args = append(args, id)
		}
		ids = ids[n:]
		_, err = s.write(ctx, `DELETE FROM draft_comments WHERE user_id = ? AND series_id = ? AND id IN (`+placeholders(n)+`)`, args...)
	}
	if err != nil {
		return fmt.Errorf("delete draft comments: %w", err)
	}
	return nil
}

// SetIssues implements Reviews.
func (s *DB) SetIssues(ctx context.Context, rs []Resolution, open bool) error {
	for _, r := range rs {
		if r.ReplyMessageID == "" || r.PatchMessageID == "" {
			return fmt.Errorf("issue without message ids: %w", ErrInvalid)
		}
	}
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		for _, r := range rs {
			var err error
			if open {
				_, err = tx.ExecContext(ctx, `INSERT INTO comment_issues (reply_message_id, patch_message_id, file, side, line, opened_by, opened_at)
					VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (patch_message_id, reply_message_id, file, side, line) DO NOTHING`,
					r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line, r.By, r.At.Unix())
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM comment_issues WHERE reply_message_id = ? AND patch_message_id = ? AND file = ? AND side = ? AND line = ?`,
					r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set issues: %w", err)
	}
	return nil
}

// Issues implements Reviews.
func (s *DB) Issues(ctx context.Context, patchMessageIDs []string) ([]Resolution, error) {
	scan := func(sc scanner) (*Resolution, error) {
		var r Resolution
		var at int64
		if err := sc.Scan(&r.ReplyMessageID, &r.PatchMessageID, &r.File, &r.Side, &r.Line, &r.By, &at); err != nil {
			return nil, err
		}
		r.At = time.Unix(at, 0).UTC()
		return &r, nil
	}
	if patchMessageIDs == nil {
		rows, err := s.r.QueryContext(ctx, `SELECT reply_message_id, patch_message_id, file, side, line, opened_by, opened_at
			FROM comment_issues ORDER BY patch_message_id, opened_at, reply_message_id, line`)
		rs, err := collect(rows, err, "issues", scan)
		if err != nil {
			return nil, err
		}
		return rs, nil
	}
	var out []Resolution
	for len(patchMessageIDs) > 0 {
		n := min(len(patchMessageIDs), 500)
		args := make([]any, n)
		for i, id := range patchMessageIDs[:n] {
			args[i] = id
		}
		patchMessageIDs = patchMessageIDs[n:]
		rows, err := s.r.QueryContext(ctx, `SELECT reply_message_id, patch_message_id, file, side, line, opened_by, opened_at
			FROM comment_issues WHERE patch_message_id IN (`+placeholders(n)+`) ORDER BY opened_at, reply_message_id, line`, args...)
		rs, err := collect(rows, err, "issues", scan)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}
