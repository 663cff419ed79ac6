package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"
)

// What the IMAP server (package imapd) reads: a list's messages by UID,
// in batches, so that a session over a huge mailbox holds one batch at a
// time, and each list's next UID, so that one watcher can tell every
// idling session what arrived. (Not row ids: on PostgreSQL, writers of
// different lists commit side by side, so a row id can become visible
// after a higher one; a list's UIDs cannot.)

// MailboxEntry is one message as a mailbox index sees it.
type MailboxEntry struct {
	ListID int64
	UID    uint32
	Kind   string
}

// MailboxMessage is what a FETCH needs of a message besides its bytes.
type MailboxMessage struct {
	UID  uint32
	Kind string
	Size int
	// WireSize is the size with CRLF line ends, as IMAP sends it.
	WireSize int
	Arrived  time.Time
	Date     time.Time
	// Structure is the MIME structure kept for a big message
	// (archive.Structure), fetched with its bytes; nil when none.
	Structure []byte
}

// MailboxCond is one SEARCH condition the store answers for a list:
// exactly one of its groups is set.
type MailboxCond struct {
	// Arrived or Date in [Since, Before); a zero bound is open.
	Arrived, Date bool
	Since, Before time.Time
	// Size in (Larger, Smaller); zero is open.
	Larger, Smaller int64
	// Column is "subject", "from" or "message-id", matched as a
	// case-insensitive substring against Value.
	Column, Value string
	// Expr is a full-text query (the search index).
	Expr *SearchExpr
}

// mailboxBatch is how many messages one FetchMailbox query reads at
// most, and mailboxBatchBytes how many compressed bytes: a batch of big
// messages is cut short, so that a session holds a bounded amount.
const (
	mailboxBatch      = 256
	mailboxBatchBytes = 4 << 20
)

// MailboxEntries implements Store.
func (s *DB) MailboxEntries(ctx context.Context, listID int64, from, to uint32) ([]MailboxEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT uid, kind FROM messages WHERE list_id = ? AND uid >= ? AND uid < ? ORDER BY uid`,
		listID, from, to)
	if err != nil {
		return nil, fmt.Errorf("mailbox entries: %w", err)
	}
	defer rows.Close()
	var out []MailboxEntry
	for rows.Next() {
		e := MailboxEntry{ListID: listID}
		if err := rows.Scan(&e.UID, &e.Kind); err != nil {
			return nil, fmt.Errorf("mailbox entries: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// ListHeads implements Store. next_uid is written with the messages it
// counts (writeTx.flush), so it is committed with them.
func (s *DB) ListHeads(ctx context.Context) (map[int64]uint32, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, next_uid FROM lists`)
	if err != nil {
		return nil, fmt.Errorf("list heads: %w", err)
	}
	defer rows.Close()
	out := map[int64]uint32{}
	for rows.Next() {
		var id int64
		var next uint32
		if err := rows.Scan(&id, &next); err != nil {
			return nil, fmt.Errorf("list heads: %w", err)
		}
		out[id] = next
	}
	return out, rows.Err()
}

// kindsCond restricts m.kind to kinds (nil: any).
func kindsCond(kinds []string) (string, []any) {
	if len(kinds) == 0 {
		return "", nil
	}
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return " AND m.kind IN (" + placeholders(len(kinds)) + ")", args
}

// FetchMailbox implements Store.
func (s *DB) FetchMailbox(ctx context.Context, listID int64, lo, hi uint32, kinds []string, withRaw bool,
	fn func(m *MailboxMessage, raw []byte) error) error {
	cols, join := "m.uid, m.kind, m.size, COALESCE(m.wire_size, 0), m.arrived, m.date", ""
	if withRaw {
		cols += ", r.data, ms.data"
		join = " JOIN raw r ON r.id = m.id LEFT JOIN mime_structures ms ON ms.id = m.id"
	}
	kc, kargs := kindsCond(kinds)
	q := `SELECT ` + cols + ` FROM messages m` + join + ` WHERE m.list_id = ? AND m.uid >= ? AND m.uid <= ?` + kc + ` ORDER BY m.uid LIMIT ?`
	st, err := s.readStmt(ctx, q)
	if err != nil {
		return fmt.Errorf("fetch: %w", err)
	}
	var buf []byte
	for next := uint64(lo); next <= uint64(hi); {
		args := append([]any{listID, next, hi}, kargs...)
		rows, err := st.QueryContext(ctx, append(args, mailboxBatch)...)
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		// A batch is read out before fn runs, so that no read
		// transaction stays open while a slow client drains its socket.
		type row struct {
			m MailboxMessage
			z []byte
		}
		batch := make([]row, 0, mailboxBatch)
		held := 0 // compressed bytes in the batch
		for held < mailboxBatchBytes && rows.Next() {
			var r row
			var arrived, date int64
			dest := []any{&r.m.UID, &r.m.Kind, &r.m.Size, &r.m.WireSize, &arrived, &date}
			if withRaw {
				dest = append(dest, &r.z, &r.m.Structure)
			}
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return fmt.Errorf("fetch: %w", err)
			}
			r.m.Arrived, r.m.Date = timeOrZero(arrived), timeOrZero(date)
			batch = append(batch, r)
			held += len(r.z)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		for i := range batch {
			var raw []byte
			if withRaw {
				if buf, err = zdec.DecodeAll(batch[i].z, buf[:0]); err != nil {
					return fmt.Errorf("fetch uid %d: %w: %v", batch[i].m.UID, ErrCorrupted, err)
				}
				raw = buf
				batch[i].z = nil
			}
			if err := fn(&batch[i].m, raw); err != nil {
				return err
			}
		}
		if len(batch) == 0 || (len(batch) < mailboxBatch && held < mailboxBatchBytes) {
			return nil
		}
		next = uint64(batch[len(batch)-1].m.UID) + 1
	}
	return nil
}

// MailboxSize implements Store.
func (s *DB) MailboxSize(ctx context.Context, listID int64, kinds []string) (int64, error) {
	kc, kargs := kindsCond(kinds)
	var n int64
	err := s.r.QueryRowContext(ctx, `SELECT COALESCE(SUM(COALESCE(m.wire_size, m.size)), 0) FROM messages m WHERE m.list_id = ?`+kc,
		append([]any{listID}, kargs...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("mailbox size: %w", err)
	}
	return n, nil
}

// likeEscape quotes s for a LIKE pattern with ESCAPE '\'.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// MailboxSearch implements Store.
func (s *DB) MailboxSearch(ctx context.Context, listID int64, kinds []string, c MailboxCond) ([]uint32, error) {
	kc, kargs := kindsCond(kinds)
	var q string
	var args []any
	switch {
	case c.Expr != nil:
		var l List
		if err := s.r.QueryRowContext(ctx, `SELECT name FROM lists WHERE id = ?`, listID).Scan(&l.Name); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		sq, sargs, err := searchSQL(s.pg, []string{l.Name}, c.Expr, "m.uid")
		if err != nil {
			return nil, err
		}
		q, args = `SELECT uid FROM (`+sq+`) AS hits ORDER BY uid`, sargs
		if kc != "" {
			q = `SELECT m.uid FROM messages m WHERE m.list_id = ? AND m.uid IN (` + sq + `)` + kc + ` ORDER BY m.uid`
			args = append(append([]any{listID}, sargs...), kargs...)
		}
	case c.Arrived || c.Date:
		col := "m.arrived"
		if c.Date {
			col = "m.date"
		}
		var conds []string
		if !c.Since.IsZero() {
			conds = append(conds, col+" >= ?")
			args = append(args, c.Since.Unix())
		}
		if !c.Before.IsZero() {
			conds = append(conds, col+" < ?")
			args = append(args, c.Before.Unix())
		}
		if c.Date {
			conds = append(conds, "m.date != 0")
		}
		q = `SELECT m.uid FROM messages m WHERE m.list_id = ?` + kc
		args = append(append([]any{listID}, kargs...), args...)
		for _, cond := range conds {
			q += " AND " + cond
		}
		q += " ORDER BY m.uid"
	case c.Column != "":
		var cond string
		switch c.Column {
		case "subject":
			cond = `m.subject LIKE ? ESCAPE '\'`
		case "from":
			cond = `(m.from_name LIKE ?1 ESCAPE '\' OR m.from_email LIKE ?1 ESCAPE '\')`
		case "message-id":
			cond = `('<' || m.message_id || '>') LIKE ? ESCAPE '\'`
		default:
			return nil, fmt.Errorf("%w: unknown column %q", ErrInvalid, c.Column)
		}
		// Numbered parameters: the pattern is ?1, the rest follow.
		cond = strings.ReplaceAll(cond, "LIKE ? ", "LIKE ?1 ")
		q = `SELECT m.uid FROM messages m WHERE ` + cond + ` AND m.list_id = ?2` + renumber(kc, 3) + ` ORDER BY m.uid`
		args = append([]any{"%" + likeEscape(c.Value) + "%", listID}, kargs...)
	default:
		q = `SELECT m.uid FROM messages m WHERE m.list_id = ?` + kc
		args = append([]any{listID}, kargs...)
		if c.Larger > 0 {
			q += " AND COALESCE(m.wire_size, m.size) > ?"
			args = append(args, c.Larger)
		}
		if c.Smaller > 0 {
			q += " AND COALESCE(m.wire_size, m.size) < ?"
			args = append(args, c.Smaller)
		}
		q += " ORDER BY m.uid"
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, searchErr(err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var uid uint32
		if err := rows.Scan(&uid); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		out = append(out, uid)
	}
	return out, searchErr(rows.Err())
}

// renumber turns the plain ? placeholders of cond into ?N, ?N+1 ...
func renumber(cond string, n int) string {
	var b strings.Builder
	for _, r := range cond {
		if r == '?' {
			fmt.Fprintf(&b, "?%d", n)
			n++
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// WireSize is the size of raw as IMAP sends it: every bare LF becomes
// CRLF.
func WireSize(raw []byte) int {
	return len(raw) + bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n"))
}

// fillWireSizes computes wire_size for messages stored before the
// column existed (once, after the migration that adds it).
func (s *DB) fillWireSizes(ctx context.Context) error {
	for {
		rows, err := s.w.QueryContext(ctx, `SELECT m.id, r.data FROM messages m JOIN raw r ON r.id = m.id
			WHERE m.wire_size IS NULL LIMIT 500`)
		if err != nil {
			return fmt.Errorf("fill wire sizes: %w", err)
		}
		sizes := map[int64]int{}
		var buf []byte
		for rows.Next() {
			var id int64
			var z []byte
			if err := rows.Scan(&id, &z); err != nil {
				rows.Close()
				return fmt.Errorf("fill wire sizes: %w", err)
			}
			if buf, err = zdec.DecodeAll(z, buf[:0]); err != nil {
				rows.Close()
				return fmt.Errorf("fill wire sizes: message %d: %w: %v", id, ErrCorrupted, err)
			}
			sizes[id] = WireSize(buf)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("fill wire sizes: %w", err)
		}
		if len(sizes) == 0 {
			return nil
		}
		tx, err := s.beginWrite(ctx)
		if err != nil {
			return fmt.Errorf("fill wire sizes: %w", err)
		}
		for id, n := range sizes {
			if _, err := tx.ExecContext(ctx, `UPDATE messages SET wire_size = ? WHERE id = ?`, n, id); err != nil {
				tx.Rollback()
				return fmt.Errorf("fill wire sizes: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("fill wire sizes: %w", err)
		}
	}
}
