package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"patchwell/core"
)

// The maintainer's workload: delegating a series or a patch to another
// maintainer of its list, archiving a series (patchwork's archived flag
// on each of its patches), and the notices of status changes that
// package notify mails (StatusNotes, ClaimStatusNotes) with the list's
// and the account's settings for them.

// SeriesWork is what the list and series pages show of a series'
// delegation and archived flag, from its patches.
type SeriesWork struct {
	SeriesID int64
	// Delegate is the user its patches are delegated to (nil: none);
	// with Mixed, one of several, or some patches are not delegated.
	Delegate   *core.Person
	DelegateID int64
	Mixed      bool
	Archived   bool // every patch archived
}

// SeriesWork returns the delegation and archived flag of the series with
// these ids that have patches.
func (s *DB) SeriesWork(ctx context.Context, ids []int64) (map[int64]SeriesWork, error) {
	out := map[int64]SeriesWork{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT a.series_id, a.lo, a.hi, a.arch, u.name, u.email
		FROM (SELECT series_id, MIN(delegate) AS lo, MAX(delegate) AS hi, MIN(archived) AS arch FROM patches
			WHERE series_id IN (`+placeholders(len(ids))+`) GROUP BY series_id) a LEFT JOIN users u ON u.id = a.hi`, args...)
	ws, err := collect(rows, err, "series work", func(sc scanner) (*SeriesWork, error) {
		var w SeriesWork
		var lo, archived int64
		var name, email sql.NullString
		if err := sc.Scan(&w.SeriesID, &lo, &w.DelegateID, &archived, &name, &email); err != nil {
			return nil, err
		}
		w.Mixed, w.Archived = lo != w.DelegateID, archived != 0
		if w.DelegateID != 0 && email.Valid {
			w.Delegate = &core.Person{Name: name.String, Email: email.String}
		}
		return &w, nil
	})
	for _, w := range ws {
		out[w.SeriesID] = w
	}
	return out, err
}

// Delegate delegates the patches of a series (patchID 0: every one;
// else that patch of it) to the user delegate, who must have a role on
// the series' list or be a site admin, and have an account that is not
// disabled; delegate 0 clears it. by is who does it (0: nobody signed
// in), recorded with each patch's patch-delegated event (patchwork's
// events, in the same transaction). ErrNotFound for an unknown series or
// patch; ErrInvalid, saying why, for someone who cannot be a delegate.
// The pwapi's PATCH of a patch's delegate (UpdatePatch) checks the same.
func (s *DB) Delegate(ctx context.Context, seriesID, patchID, delegate, by int64, at time.Time) error {
	return s.seriesWrite(ctx, seriesID, "delegate", func(tx *sql.Tx, listID int64) error {
		if err := checkDelegate(ctx, tx, listID, delegate); err != nil {
			return err
		}
		q, args := `SELECT id, delegate FROM patches WHERE series_id = ?`, []any{seriesID}
		if patchID != 0 {
			q, args = q+` AND id = ?`, append(args, patchID)
		}
		rows, err := tx.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			return err
		}
		var events []eventRow
		var ids []int64
		for rows.Next() {
			var id, old int64
			if err := rows.Scan(&id, &old); err != nil {
				rows.Close()
				return err
			}
			ids = append(ids, id)
			if old != delegate {
				events = append(events, eventRow{category: EventPatchDelegated, listID: listID, patchID: id, seriesID: seriesID,
					actor: by, previous: delegateValue(old), current: delegateValue(delegate)})
			}
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return err
		}
		if len(ids) == 0 && patchID != 0 {
			return fmt.Errorf("patch %d of series %d: %w", patchID, seriesID, ErrNotFound)
		}
		uq, uargs := `UPDATE patches SET delegate = ? WHERE series_id = ?`, []any{delegate, seriesID}
		if patchID != 0 {
			uq, uargs = uq+` AND id = ?`, append(uargs, patchID)
		}
		if _, err := tx.ExecContext(ctx, uq, uargs...); err != nil {
			return err
		}
		return insertEvents(ctx, tx, at, events)
	})
}

// ArchiveSeries sets (or clears) the archived flag of every patch of a
// series: the list page hides a series whose patches are all archived.
func (s *DB) ArchiveSeries(ctx context.Context, seriesID int64, archived bool) error {
	return s.seriesWrite(ctx, seriesID, "archive", func(tx *sql.Tx, _ int64) error {
		_, err := tx.ExecContext(ctx, `UPDATE patches SET archived = ? WHERE series_id = ?`, boolInt(archived), seriesID)
		return err
	})
}

// seriesWrite runs fn in a write transaction holding the writer lock of
// the series' list (ingest rewrites a series under it).
func (s *DB) seriesWrite(ctx context.Context, seriesID int64, what string, fn func(tx *sql.Tx, listID int64) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	defer tx.Rollback()
	var listID int64
	if err := tx.QueryRowContext(ctx, `SELECT list_id FROM series WHERE id = ?`, seriesID).Scan(&listID); err != nil {
		return userErr(err, fmt.Sprintf("series %d", seriesID))
	}
	if err := s.lockLists(ctx, tx, lockKey(listID)); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := fn(tx, listID); err != nil {
		if errors.Is(err, ErrInvalid) || errors.Is(err, ErrNotFound) {
			return err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkDelegate says why user userID cannot be a delegate on the list
// (nil when they can, or for 0, no delegate).
func checkDelegate(ctx context.Context, tx *sql.Tx, listID, userID int64) error {
	if userID == 0 {
		return nil
	}
	var email string
	var admin, disabled int64
	var role sql.NullString
	err := tx.QueryRowContext(ctx, `SELECT u.email, u.admin, u.disabled, r.role FROM users u
		LEFT JOIN list_roles r ON r.user_id = u.id AND r.list_id = ? WHERE u.id = ?`, listID, userID).Scan(&email, &admin, &disabled, &role)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%w: delegate: no user %d", ErrInvalid, userID)
	case err != nil:
		return fmt.Errorf("delegate: %w", err)
	case disabled != 0:
		return fmt.Errorf("%w: delegate: the account of %s is disabled", ErrInvalid, email)
	case !role.Valid && admin == 0:
		return fmt.Errorf("%w: delegate: %s is not a maintainer of the list", ErrInvalid, email)
	}
	return nil
}

// SetNotifyThread sets whether a list's status notifications are also
// posted to the series' thread (off when a list is made).
func (s *DB) SetNotifyThread(ctx context.Context, list string, on bool) error {
	return s.updateOne(ctx, "list "+list, `UPDATE lists SET notify_thread = ? WHERE name = ?`, boolInt(on), list)
}

// NotifyThread reports a list's SetNotifyThread setting.
func (s *DB) NotifyThread(ctx context.Context, list string) (bool, error) {
	var on int64
	err := s.r.QueryRowContext(ctx, `SELECT notify_thread FROM lists WHERE name = ?`, list).Scan(&on)
	if err != nil {
		return false, userErr(err, "list "+list)
	}
	return on != 0, nil
}

// SetStatusMail sets whether the user is mailed when a series of theirs
// changes status (on for a new account).
func (s *DB) SetStatusMail(ctx context.Context, userID int64, on bool) error {
	return s.updateOne(ctx, "user", `UPDATE users SET status_mail = ? WHERE id = ?`, boolInt(on), userID)
}

// StatusMail reports a user's SetStatusMail setting.
func (s *DB) StatusMail(ctx context.Context, userID int64) (bool, error) {
	var on int64
	err := s.r.QueryRowContext(ctx, `SELECT status_mail FROM users WHERE id = ?`, userID).Scan(&on)
	if err != nil {
		return false, userErr(err, "user")
	}
	return on != 0, nil
}

// StatusNote is a status change with what its notification needs.
type StatusNote struct {
	StatusChange
	ListID        int64
	List          string
	SeriesSubject string
	SeriesVersion int
	Submitter     core.Person
	// NoMail: the submitter has an account that opted out.
	NoMail bool
	// Thread is the Message-ID (without <>) a reply to the series
	// answers: its cover letter's, or its first patch's.
	Thread string
	// NotifyThread: the list posts notifications to the thread too.
	NotifyThread bool
}

// notifyCursor is the notify_cursor row of status notifications.
const notifyCursor = "status"

const statusNoteCols = `h.id, h.series_id, h.from_status, h.to_status, COALESCE(h.user_id, 0), u.name, u.email, h.at, h.comment,
	l.id, l.name, s.subject, s.version, s.submitter_name, s.submitter_email,
	COALESCE((SELECT MIN(su.status_mail) FROM users su WHERE LOWER(su.email) = LOWER(s.submitter_email)), 1),
	CASE WHEN s.cover_message_id != '' THEN s.cover_message_id ELSE s.message_id END, l.notify_thread
	FROM status_history h JOIN series s ON s.id = h.series_id JOIN lists l ON l.id = s.list_id
	LEFT JOIN users u ON u.id = h.user_id`

func scanStatusNote(sc scanner) (*StatusNote, error) {
	var n StatusNote
	var name, email sql.NullString
	var at, mail, thread int64
	if err := sc.Scan(&n.ID, &n.SeriesID, &n.From, &n.To, &n.UserID, &name, &email, &at, &n.Comment,
		&n.ListID, &n.List, &n.SeriesSubject, &n.SeriesVersion, &n.Submitter.Name, &n.Submitter.Email, &mail, &n.Thread, &thread); err != nil {
		return nil, err
	}
	if email.Valid {
		n.User = &core.Person{Name: name.String, Email: email.String}
	}
	n.At, n.NoMail, n.NotifyThread = time.Unix(at, 0).UTC(), mail == 0, thread != 0
	return &n, nil
}

// StatusNotes returns up to limit status changes past the notification
// cursor, oldest first, without claiming them (see ClaimStatusNotes).
func (s *DB) StatusNotes(ctx context.Context, limit int) ([]StatusNote, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+statusNoteCols+`
		WHERE h.id > (SELECT last_id FROM notify_cursor WHERE name = ?) ORDER BY h.id LIMIT ?`, notifyCursor, limit)
	return collect(rows, err, "status notes", scanStatusNote)
}

// ClaimStatusNotes claims the status changes past the notification
// cursor up to id upTo: in one transaction it locks the cursor, reads
// them, has fn queue their mail in tx (AddOutbox, QueueDeliveries) and
// moves the cursor to upTo, so that each change is mailed once, by one
// node, even across restarts. Changes another node claimed first are
// left out of notes (fn is not called when none is left).
func (s *DB) ClaimStatusNotes(ctx context.Context, upTo int64, fn func(tx Tx, notes []StatusNote) error) error {
	return s.Update(ctx, func(t Tx) error {
		tx := t.(*writeTx).tx
		var last int64
		if err := tx.QueryRowContext(ctx, `SELECT last_id FROM notify_cursor WHERE name = ?`+s.rowLock("FOR UPDATE"), notifyCursor).Scan(&last); err != nil {
			return fmt.Errorf("notify cursor: %w", err)
		}
		if last >= upTo {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+statusNoteCols+` WHERE h.id > ? AND h.id <= ? ORDER BY h.id`, last, upTo)
		notes, err := collect(rows, err, "status notes", scanStatusNote)
		if err != nil {
			return err
		}
		if len(notes) > 0 {
			if err := fn(t, notes); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE notify_cursor SET last_id = ? WHERE name = ?`, upTo, notifyCursor); err != nil {
			return fmt.Errorf("notify cursor: %w", err)
		}
		return nil
	})
}

// skipStatusNotes moves the notification cursor past every change in
// tx: the history an import brings was notified where it happened.
func skipStatusNotes(ctx context.Context, tx *sql.Tx) error {
	_, err := tx.ExecContext(ctx, `UPDATE notify_cursor SET last_id = (SELECT COALESCE(MAX(id), 0) FROM status_history) WHERE name = ?`, notifyCursor)
	return err
}
