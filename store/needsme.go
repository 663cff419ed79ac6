package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"patchwell/core"
)

// "Needs me": the open series that wait for one user, each with the
// reason it waits for them and since when. Four queries, one per reason,
// each driven by an index on what names the user (patches.delegate,
// message_rcpts.email, messages.from_email, series.submitter_email),
// never by a scan of a list's series; then one query for the rows.
//
// To/Cc are kept in message_rcpts for patches and cover letters only
// (AddMessage, from NewMessage.Rcpts): mail stored before the table
// existed gets them from a reindex.

// Reasons a series needs a user, in the order the page groups them.
const (
	NeedDelegated   = "delegated"    // a patch of it is delegated to them
	NeedAsked       = "asked"        // To/Cc named them and they have not reviewed it
	NeedNewRevision = "new-revision" // they reviewed an earlier revision; this one not yet
	NeedFeedback    = "feedback"     // their own, with feedback newer than their last message
)

// NeedReasons are the reasons in the order the page groups them; a
// series with several shows under the first.
var NeedReasons = []string{NeedDelegated, NeedAsked, NeedNewRevision, NeedFeedback}

// NeedsMeLimit is how many series NeedsMe returns at most per reason,
// the newest: a list's own address, say, is asked on every series.
const NeedsMeLimit = 200

// NeedsMeQuery says whose todo to read, and where.
type NeedsMeQuery struct {
	UserID int64
	Emails []string // their addresses, any case
	Lists  []string // the lists they may read (none: no rows)
}

// NeedItem is one series that needs the user.
type NeedItem struct {
	SeriesRow
	Reason string    `json:"reason"`
	Since  time.Time `json:"since"` // when it began to need them (the delegated series' date: delegation is not dated)
	// Head is the row id (messages.id) of the series' cover letter, or
	// of its first patch without one: what a mail client is shown.
	Head int64 `json:"-"`
}

// NeedsMe is the store's part of "needs me".
type NeedsMe interface {
	// NeedsMe returns the open (not superseded, applied or rejected)
	// series of q.Lists that need the user, each once under its first
	// reason (NeedReasons), newest Since first within a reason, at most
	// NeedsMeLimit per reason.
	NeedsMe(ctx context.Context, q NeedsMeQuery) ([]NeedItem, error)
	// SetFeedToken keeps the sha256 of a user's new feed token; the
	// old one stops working. ErrNotFound for an unknown user.
	SetFeedToken(ctx context.Context, userID int64, hash []byte) error
	// FeedTokenUser is the user whose feed token has this hash;
	// ErrNotFound when none has.
	FeedTokenUser(ctx context.Context, hash []byte) (*User, error)
	// HasFeedToken says whether the user has a feed token.
	HasFeedToken(ctx context.Context, userID int64) (bool, error)
	// FetchMessages reads messages by row id (the "Needs me" IMAP
	// mailbox, whose UIDs are row ids), as FetchMailbox reads a list's.
	FetchMessages(ctx context.Context, ids []int64, withRaw bool, fn func(m *MailboxMessage, raw []byte) error) error
}

// openSeries is the condition on series s of a series still open.
const openSeries = `s.status NOT IN ('superseded', 'applied', 'rejected')`

// inArgs is "(?,?..)" for vals, and vals as arguments, lower-cased.
func inArgs(vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = strings.ToLower(v)
	}
	return "(" + placeholders(len(vals)) + ")", args
}

// firstPatch is the row id of series se's first message (its cover
// letter's patches come after it: a reply after it is about the series).
func firstPatch(se string) string {
	return `COALESCE((SELECT min(p.message) FROM patches p WHERE p.series_id = ` + se + `.id), 0)`
}

// NeedsMe implements NeedsMe.
func (s *DB) NeedsMe(ctx context.Context, q NeedsMeQuery) ([]NeedItem, error) {
	if len(q.Lists) == 0 || (len(q.Emails) == 0 && q.UserID == 0) {
		return nil, nil
	}
	lists, listArgs := inArgsKeep(q.Lists)
	emails, emailArgs := inArgs(q.Emails)
	if len(q.Emails) == 0 {
		emails, emailArgs = "('')", nil
	}
	// args joins argument groups in the order the query names them.
	args := func(groups ...[]any) []any {
		var out []any
		for _, g := range groups {
			out = append(out, g...)
		}
		return out
	}
	// notReviewed: no reply from them in s's thread since its first
	// patch. (Nor a Reviewed-by or Acked-by of theirs on its patches:
	// reviewedByTrailer, in Go, on the candidates.)
	notReviewed := `NOT EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = s.thread_id AND m.from_email IN ` + emails + `
			AND m.kind = 'reply' AND m.id > ` + firstPatch("s") + `)`
	notReviewedArgs := emailArgs
	// Each reason's newest NeedsMeLimit (by since, then id); twice as
	// many of those the trailers may still rule out.
	newest := fmt.Sprintf(` ORDER BY 2 DESC, 1 DESC LIMIT %d`, NeedsMeLimit)
	newest2 := fmt.Sprintf(` ORDER BY 2 DESC, 1 DESC LIMIT %d`, 2*NeedsMeLimit)
	// fence keeps PostgreSQL from pulling a subquery up into the one
	// around it, which then computes its columns twice (SQLite plans
	// these well as they are, and wants a LIMIT before an OFFSET).
	fence := ""
	if s.pg {
		fence = ` OFFSET 0`
	}
	notMine := `s.submitter_email NOT IN ` + emails
	scope := `l.name IN ` + lists + ` AND ` + openSeries

	type found struct {
		id    int64
		since int64
	}
	var byReason [4][]found
	run := func(i int, what, q string, a []any) error {
		rows, err := s.r.QueryContext(ctx, q, a...)
		got, err := collect(rows, err, "needs me: "+what, func(sc scanner) (*found, error) {
			var f found
			var since sql.NullInt64
			if err := sc.Scan(&f.id, &since); err != nil {
				return nil, err
			}
			f.since = since.Int64
			return &f, nil
		})
		byReason[i] = got
		return err
	}
	if q.UserID != 0 {
		if err := run(0, "delegated", `SELECT s.id, s.date FROM series s JOIN lists l ON l.id = s.list_id
			WHERE s.id IN (SELECT p.series_id FROM patches p WHERE p.delegate = ?) AND `+scope+newest,
			args([]any{q.UserID}, listArgs)); err != nil {
			return nil, err
		}
	}
	if len(q.Emails) > 0 {
		if err := run(1, "asked", `SELECT s.id, s.date FROM series s JOIN lists l ON l.id = s.list_id
			WHERE s.id IN (SELECT m.series_id FROM message_rcpts r JOIN messages m ON m.id = r.message_id
				WHERE r.email IN `+emails+` AND m.series_id IS NOT NULL)
			AND `+scope+` AND `+notMine+` AND `+notReviewed+newest2,
			args(emailArgs, listArgs, emailArgs, notReviewedArgs)); err != nil {
			return nil, err
		}
		// Revisions after one they replied to, walked forward through
		// superseded_by; the open ones they have not reviewed.
		if err := run(2, "new revision", `WITH RECURSIVE rev(id) AS (
				SELECT pv.id FROM messages m JOIN series pv ON pv.thread_id = m.thread_id
				WHERE m.from_email IN `+emails+` AND m.kind = 'reply'
				UNION SELECT o.superseded_by FROM series o JOIN rev ON rev.id = o.id WHERE o.superseded_by IS NOT NULL)
			SELECT s.id, s.date FROM series s JOIN lists l ON l.id = s.list_id
			WHERE s.id IN (SELECT id FROM rev) AND s.previous IS NOT NULL AND `+scope+` AND `+notMine+` AND `+notReviewed+newest2,
			args(emailArgs, listArgs, emailArgs, notReviewedArgs)); err != nil {
			return nil, err
		}
		// Their own series: the newest reply of someone else after
		// their last message in the thread, a status change by someone
		// else or a failed check after it.
		if err := run(3, "feedback", `SELECT id, `+greatest(s.pg, "reply", "changed", "failed")+` FROM (
			SELECT x.id,
				(SELECT max(m.date) FROM messages m WHERE m.thread_id = x.thread_id AND m.kind = 'reply'
					AND m.id > x.mine AND m.from_email NOT IN `+emails+`) AS reply,
				(SELECT max(h.at) FROM status_history h WHERE h.series_id = x.id AND h.at >= x.mine_at
					AND (h.user_id IS NULL OR h.user_id <> ?)) AS changed,
				(SELECT max(c.updated) FROM checks c WHERE c.series_id = x.id AND c.state = 'fail' AND c.updated >= x.mine_at) AS failed
			FROM (SELECT s.id, s.thread_id,
					COALESCE((SELECT max(m.id) FROM messages m WHERE m.thread_id = s.thread_id AND m.from_email IN `+emails+`), 0) AS mine,
					COALESCE((SELECT max(m.arrived) FROM messages m WHERE m.thread_id = s.thread_id AND m.from_email IN `+emails+`), 0) AS mine_at
				FROM series s JOIN lists l ON l.id = s.list_id
				WHERE s.submitter_email IN `+emails+` AND `+scope+fence+`) x`+fence+`) y
			WHERE reply IS NOT NULL OR changed IS NOT NULL OR failed IS NOT NULL`+newest,
			args(emailArgs, []any{q.UserID}, emailArgs, emailArgs, emailArgs, listArgs)); err != nil {
			return nil, err
		}
	}
	for _, i := range []int{1, 2} {
		var ids []int64
		for _, f := range byReason[i] {
			ids = append(ids, f.id)
		}
		reviewed, err := s.reviewedByTrailer(ctx, ids, q.Emails)
		if err != nil {
			return nil, err
		}
		kept := byReason[i][:0]
		for _, f := range byReason[i] {
			if !reviewed[f.id] && len(kept) < NeedsMeLimit {
				kept = append(kept, f)
			}
		}
		byReason[i] = kept
	}
	reason := map[int64]int{}
	since := map[int64]int64{}
	var ids []int64
	for i, fs := range byReason {
		for _, f := range fs {
			if _, ok := reason[f.id]; ok {
				continue
			}
			reason[f.id], since[f.id] = i, f.since
			ids = append(ids, f.id)
		}
	}
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+seriesCols+`, COALESCE(t.last_date, 0),
		COALESCE((SELECT c.id FROM messages c WHERE c.list_id = s.list_id AND c.message_id = s.cover_message_id
			AND s.cover_message_id <> '' ORDER BY c.id LIMIT 1), `+firstPatch("s")+`)
		FROM series s JOIN lists l ON l.id = s.list_id LEFT JOIN threads t ON t.id = s.thread_id
		WHERE s.id IN (`+placeholders(len(ids))+`)`, int64Args(ids)...)
	out, err := collect(rows, err, "needs me", func(sc scanner) (*NeedItem, error) {
		var it NeedItem
		var date, last int64
		se := &it.Series
		if err := sc.Scan(&se.ID, &se.List, &se.Subject, &se.Version, &se.Status, &se.Submitter.Name, &se.Submitter.Email, &se.Total,
			&se.Received, &se.MessageID, &se.CoverMessageID, &date, &se.Previous, &se.SupersededBy, &se.RFC, &se.Resend, &se.Prefix,
			&se.ChangeID, &se.BaseCommit, &se.ThreadID, &se.PullURL, &se.PullRef, &last, &it.Head); err != nil {
			return nil, err
		}
		se.Date = timeOrZero(date)
		se.Complete = se.Received >= se.Total
		it.Stats.LastActivity = timeOrZero(last)
		it.Reason, it.Since = NeedReasons[reason[se.ID]], timeOrZero(since[se.ID])
		return &it, nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b NeedItem) int {
		if c := cmp.Compare(reason[a.ID], reason[b.ID]); c != 0 {
			return c
		}
		if c := b.Since.Compare(a.Since); c != 0 {
			return c
		}
		return cmp.Compare(b.ID, a.ID)
	})
	return out, nil
}

// inArgsKeep is inArgs without lower-casing (list names).
func inArgsKeep(vals []string) (string, []any) {
	args := make([]any, len(vals))
	for i, v := range vals {
		args[i] = v
	}
	return "(" + placeholders(len(vals)) + ")", args
}

// greatest is the largest of the columns, NULLs left out: SQLite's
// max() of several arguments is NULL if any is.
func greatest(pg bool, cols ...string) string {
	if pg {
		return `GREATEST(` + strings.Join(cols, ", ") + `)`
	}
	var parts []string
	for _, c := range cols {
		parts = append(parts, `COALESCE(`+c+`, 0)`)
	}
	return `max(` + strings.Join(parts, ", ") + `)`
}

// SetFeedToken implements NeedsMe.
func (s *DB) SetFeedToken(ctx context.Context, userID int64, hash []byte) error {
	_, err := s.write(ctx, `INSERT INTO feed_tokens(user_id, hash, created) VALUES(?,?,?)
		ON CONFLICT (user_id) DO UPDATE SET hash = excluded.hash, created = excluded.created`, userID, hash, time.Now().Unix())
	if err != nil {
		if isForeignKey(err) {
			return fmt.Errorf("user %d: %w", userID, ErrNotFound)
		}
		return fmt.Errorf("set feed token: %w", err)
	}
	return nil
}

// FeedTokenUser implements NeedsMe.
func (s *DB) FeedTokenUser(ctx context.Context, hash []byte) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColsOf+`
		FROM feed_tokens f JOIN users u ON u.id = f.user_id WHERE f.hash = ?`, hash))
	if err != nil {
		return nil, userErr(err, "feed token")
	}
	return u, nil
}

// HasFeedToken implements NeedsMe.
func (s *DB) HasFeedToken(ctx context.Context, userID int64) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM feed_tokens WHERE user_id = ?`, userID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("feed token: %w", err)
	}
	return true, nil
}

// FetchMessages calls fn for the messages with these row ids (any list),
// in id order, as FetchMailbox does for a list's UIDs: the "Needs me"
// IMAP mailbox, whose UIDs are the row ids. m.UID is the row id. At
// most a few hundred ids: one query.
func (s *DB) FetchMessages(ctx context.Context, ids []int64, withRaw bool, fn func(m *MailboxMessage, raw []byte) error) error {
	if len(ids) == 0 {
		return nil
	}
	cols, join := "m.id, m.kind, m.size, COALESCE(m.wire_size, 0), m.arrived, m.date", ""
	if withRaw {
		cols += ", r.data, ms.data"
		join = " JOIN raw r ON r.id = m.id LEFT JOIN mime_structures ms ON ms.id = m.id"
	}
	type row struct {
		m MailboxMessage
		z []byte
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+cols+` FROM messages m`+join+` WHERE m.id IN (`+placeholders(len(ids))+`) ORDER BY m.id`,
		int64Args(ids)...)
	got, err := collect(rows, err, "fetch messages", func(sc scanner) (*row, error) {
		var r row
		var id, arrived, date int64
		dest := []any{&id, &r.m.Kind, &r.m.Size, &r.m.WireSize, &arrived, &date}
		if withRaw {
			dest = append(dest, &r.z, &r.m.Structure)
		}
		if err := sc.Scan(dest...); err != nil {
			return nil, err
		}
		r.m.UID, r.m.Arrived, r.m.Date = uint32(id), timeOrZero(arrived), timeOrZero(date)
		return &r, nil
	})
	if err != nil {
		return err
	}
	var buf []byte
	for i := range got {
		var raw []byte
		if withRaw {
			if buf, err = zdec.DecodeAll(got[i].z, buf[:0]); err != nil {
				return fmt.Errorf("fetch message %d: %w: %v", got[i].m.UID, ErrCorrupted, err)
			}
			raw = buf
		}
		if err := fn(&got[i].m, raw); err != nil {
			return err
		}
	}
	return nil
}

// reviewedByTrailer says which of these series carry, on a patch, a
// Reviewed-by or Acked-by of one of emails (given in a reply, or
// collected into the patch by its author).
func (s *DB) reviewedByTrailer(ctx context.Context, seriesIDs []int64, emails []string) (map[int64]bool, error) {
	out := map[int64]bool{}
	if len(seriesIDs) == 0 || len(emails) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT series_id, trailers FROM patches
		WHERE series_id IN (`+placeholders(len(seriesIDs))+`) AND trailers IS NOT NULL`, int64Args(seriesIDs)...)
	if err != nil {
		return nil, fmt.Errorf("needs me: trailers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var js string
		if err := rows.Scan(&id, &js); err != nil {
			return nil, fmt.Errorf("needs me: trailers: %w", err)
		}
		var ts []core.Trailer
		if json.Unmarshal([]byte(js), &ts) != nil {
			continue
		}
		for _, t := range ts {
			if t.Key != "Reviewed-by" && t.Key != "Acked-by" {
				continue
			}
			v := strings.ToLower(t.Value)
			for _, e := range emails {
				if strings.Contains(v, "<"+strings.ToLower(e)+">") || v == strings.ToLower(e) {
					out[id] = true
				}
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("needs me: trailers: %w", err)
	}
	return out, nil
}
