package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"patchwell/core"
	"slices"
	"strings"
	"time"
)

// This file holds the reads of the browsing pages: lists by activity,
// series filtered and paged by key, threads with their starters, the newest
// messages for Atom feeds. Each is one query on an index; none counts or
// scans a list's messages.

// OpenStatuses are the statuses of a series still under review.
var OpenStatuses = []string{StatusProposed, StatusNeedsRevision, StatusApproved}

// StatusOpen is the pseudo-status SeriesFilter accepts for any of
// OpenStatuses.
const StatusOpen = "open"

// SeriesFilter selects and pages the series of a list, newest (highest id)
// first. Paging is by key, so a page stays the same while series arrive:
// Before asks for the page after a page ending at that id, After for the
// page before one starting there.
type SeriesFilter struct {
	Status    string // one status, StatusOpen, or "" for any
	Submitter string // e-mail address, matched exactly, case-insensitively
	Title     string // substring of the subject, ASCII case-insensitive
	Before    int64  // only ids < Before
	After     int64  // only ids > After (Before wins when both are set)
	Limit     int    // 0 means 50; at most 1000

	// The dashboard's (DashboardSeries; FilterSeries ignores them).
	Lists   []string // with list "", the series of these lists
	Current bool     // leave out superseded revisions
	// HideArchived leaves out series whose patches are all archived
	// (store.PatchUpdate.Archived, ArchiveSeries).
	HideArchived bool
	NeedsReview  bool     // only series without Reviewed-by or Acked-by
	RepliedBy    []string // only series whose thread has a reply from one of these addresses
	// ChangesRequested: only series with a reply asking for changes (a
	// Changes-requested line) in their thread or their previous
	// revision's; review.Dashboard keeps those whose verdicts say so.
	ChangesRequested bool
	Sort             string // "" (SortDate) or one of Sorts
	Offset           int    // the page's start, for the sorts but SortDate
}

// ThreadSummary is a thread as the list page shows it.
type ThreadSummary struct {
	Thread
	// Starter is who wrote the thread's root message.
	Starter core.Person `json:"starter"`
	// LastUID is the UID of the thread's newest message: the key
	// ThreadSummaries pages by.
	LastUID uint32 `json:"last_uid"`
	// LastArrived is when the newest message arrived.
	LastArrived time.Time `json:"last_arrived"`
}

// ListsByActivity implements Store.
func (s *DB) ListsByActivity(ctx context.Context) ([]List, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+listCols+` AS c FROM lists l`)
	ls, err := collect(rows, err, "lists", func(sc scanner) (*List, error) { return scanList(sc) })
	slices.SortStableFunc(ls, func(a, b List) int {
		if c := b.LastActivity.Compare(a.LastActivity); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return ls, err
}

// conditions adds to where and args the filter's status, submitter and
// title conditions on series s, which both series listings share.
func (f SeriesFilter) conditions(where []string, args []any) ([]string, []any) {
	switch f.Status {
	case "":
	case StatusOpen:
		where = append(where, `s.status IN ('proposed','needs_revision','approved')`)
	default:
		where = append(where, `s.status = ?`)
		args = append(args, f.Status)
	}
	if f.Submitter != "" {
		where = append(where, `s.submitter_email = ?`)
		args = append(args, strings.ToLower(f.Submitter))
	}
	if f.Title != "" {
		where = append(where, `instr(lower(s.subject), ?) > 0`)
		args = append(args, asciiLower(f.Title))
	}
	return where, args
}

// FilterSeries implements Store.
func (s *DB) FilterSeries(ctx context.Context, list string, f SeriesFilter) ([]Series, error) {
	p := Page{Limit: f.Limit}.Normalize()
	where, args := f.conditions(nil, []any{list})
	order := "DESC"
	switch {
	case f.Before > 0:
		where = append(where, `s.id < ?`)
		args = append(args, f.Before)
	case f.After > 0:
		where = append(where, `s.id > ?`)
		args = append(args, f.After)
		order = "ASC"
	}
	q := `SELECT ` + seriesCols + ` FROM series s JOIN lists l ON l.id = s.list_id WHERE l.name = ?`
	for _, w := range where {
		q += " AND " + w
	}
	q += ` ORDER BY s.id ` + order + ` LIMIT ?`
	args = append(args, p.Limit)
	out, err := collectSeries(s.r.QueryContext(ctx, q, args...))
	if order == "ASC" {
		slices.Reverse(out)
	}
	return out, err
}

// asciiLower lowers ASCII letters only, as SQLite's lower() does.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// ThreadSummaries implements Store.
func (s *DB) ThreadSummaries(ctx context.Context, list string, before, after uint32, limit int) ([]ThreadSummary, error) {
	p := Page{Limit: limit}.Normalize()
	listID, err := s.listID(ctx, list)
	if err != nil {
		return nil, err
	}
	cond, order, key := "", "DESC", any(nil)
	switch {
	case before > 0:
		cond, key = ` AND t.last_uid < ?`, before
	case after > 0:
		cond, key, order = ` AND t.last_uid > ?`, after, "ASC"
	}
	args := []any{listID}
	if key != nil {
		args = append(args, key)
	}
	args = append(args, p.Limit)
	rows, err := s.r.QueryContext(ctx, `SELECT t.id, COALESCE(m.subject, ''), COALESCE(m.message_id, ''), t.messages,
		t.first_date, t.last_date, COALESCE(m.from_name, ''), COALESCE(m.from_email, ''), t.last_uid, COALESCE(lm.arrived, 0)
		FROM threads t LEFT JOIN messages m ON m.id = t.root
		LEFT JOIN messages lm ON lm.list_id = t.list_id AND lm.uid = t.last_uid
		WHERE t.list_id = ?`+cond+` ORDER BY t.last_uid `+order+` LIMIT ?`, args...)
	out, err := collect(rows, err, "threads", func(sc scanner) (*ThreadSummary, error) {
		var th ThreadSummary
		var first, last, arrived int64
		if err := sc.Scan(&th.ID, &th.Subject, &th.RootMessageID, &th.Messages, &first, &last,
			&th.Starter.Name, &th.Starter.Email, &th.LastUID, &arrived); err != nil {
			return nil, err
		}
		th.FirstDate, th.LastDate, th.LastArrived = timeOrZero(first), timeOrZero(last), timeOrZero(arrived)
		return &th, nil
	})
	if order == "ASC" {
		slices.Reverse(out)
	}
	return out, err
}

// RecentMessages implements Store.
func (s *DB) RecentMessages(ctx context.Context, list string, limit int) ([]Message, error) {
	p := Page{Limit: limit}.Normalize()
	if list == "" {
		rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
			ORDER BY m.id DESC LIMIT ?`, p.Limit)
		return collect(rows, err, "recent messages", func(sc scanner) (*Message, error) { return scanMessage(sc) })
	}
	id, err := s.listID(ctx, list)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE m.list_id = ? ORDER BY m.uid DESC LIMIT ?`, id, p.Limit)
	return collect(rows, err, "recent messages", func(sc scanner) (*Message, error) { return scanMessage(sc) })
}

// listID finds a list's row id; ErrNotFound for an unknown name.
func (s *DB) listID(ctx context.Context, name string) (int64, error) {
	var id int64
	err := s.r.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return 0, fmt.Errorf("list %q: %w", name, err)
	}
	return id, nil
}
