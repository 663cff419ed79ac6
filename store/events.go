package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Event categories, as patchwork names them (its events API).
const (
	EventCoverCreated         = "cover-created"
	EventPatchCreated         = "patch-created"
	EventPatchCompleted       = "patch-completed"
	EventPatchStateChanged    = "patch-state-changed"
	EventPatchDelegated       = "patch-delegated"
	EventPatchRelationChanged = "patch-relation-changed"
	EventCheckCreated         = "check-created"
	EventSeriesCreated        = "series-created"
	EventSeriesCompleted      = "series-completed"
	EventCoverCommentCreated  = "cover-comment-created"
	EventPatchCommentCreated  = "patch-comment-created"
)

// eventCodeBits: an event's id is its row's id << 4 | its category's code.
const eventCodeBits = 4

// EventCategories are patchwork's categories in the order of their
// codes (an event's id ends in its category's index + 1).
var EventCategories = []string{EventCoverCreated, EventPatchCreated, EventPatchCompleted, EventPatchStateChanged,
	EventPatchDelegated, EventPatchRelationChanged, EventCheckCreated, EventSeriesCreated, EventSeriesCompleted,
	EventCoverCommentCreated, EventPatchCommentCreated}

func eventCode(category string) int64 { return int64(slices.Index(EventCategories, category) + 1) }

// ValidEventCategory reports whether c is one of EventCategories.
func ValidEventCategory(c string) bool { return slices.Contains(EventCategories, c) }

// Event is one of patchwork's events on a list. The creation events are
// derived from the rows they speak of (a patch, a cover letter's message,
// a series, a reply), dated by the arrival of their message; the change
// events (state, delegate, check) are stored when the change is made, in
// its transaction. An event's ID is stable: its row's id and its
// category's code.
type Event struct {
	ID       int64
	Category string
	List     string
	Date     time.Time
	Actor    int64 // user id, 0: none (the creation events have none)
	PatchID  int64 // patches.id
	SeriesID int64 // the series; a cover's id is its series' id
	CheckID  int64 // check-created
	// The reply (*-comment-created): its messages.id, Message-ID,
	// subject and Date:.
	CommentID      int64
	CommentMsgID   string
	CommentSubject string
	CommentDate    time.Time
	// Previous and Current are the states (patch-state-changed) or the
	// delegates' user ids, "" for none (patch-delegated).
	Previous, Current string
}

// EventFilter selects events; empty fields do not filter. Lists must
// name at least one list (the caller's readable ones).
type EventFilter struct {
	Lists      []string
	Categories []string
	SeriesID   int64
	PatchID    int64
	CoverID    int64 // the cover's series
	Actor      int64
	Since      time.Time // date >= Since
	Before     time.Time // date < Before
	Limit      int
	Offset     int
}

// eventSource is one road to events: a query whose columns are (row id,
// date, list, patch, series, check, comment, actor, previous, current,
// the comment's Message-ID, subject and date); Events adds the category,
// the cursor and the date.
type eventSource struct {
	categories []string
	// from is the query after SELECT's columns, up to WHERE; where are
	// its conditions.
	cols, from string
	where      []string
	// The columns the filters compare (empty: the filter excludes every
	// event of the source).
	date, list, patch, series, cover, actor, category string
	// cursor is the id the rows are read in order of, descending (for
	// the events table, after the date).
	cursor string
	// table is the table cursor is the id of, walk the FROM of cursor and
	// date alone, for finding where a date starts (keyAt); "" for the
	// events table (indexed by list, date and id).
	table, walk string
}

const (
	walkPatches  = ` FROM patches p JOIN messages m ON m.id = p.message`
	walkMessages = ` FROM messages m`
	walkSeries   = ` FROM series s`
)

// The derived sources are read newest first by row id (ids grow with
// arrival, as the dates of the messages do), a window of ids at a time
// (see fetch), and only as far as the page needs; the stored events are
// in the events table. A list's id compared as +list_id keeps SQLite
// from starting at the list's index and sorting all its rows (30 ms, and
// 14 s for cover comments, on the 20k bench list).
var eventSources = []eventSource{
	{ // patch-created, patch-completed (every earlier patch of the series
		// is there), patch-relation-changed (it has a version in the
		// series' previous revision: related, see pwapi)
		categories: []string{EventPatchCreated, EventPatchCompleted, EventPatchRelationChanged},
		cols:       `p.id, m.arrived, l.name, p.id, p.series_id, 0, 0, 0, '', '', '', '', 0`,
		from:       ` FROM patches p JOIN series s ON s.id = p.series_id JOIN lists l ON l.id = s.list_id JOIN messages m ON m.id = p.message`,
		date:       "m.arrived", list: "+s.list_id", patch: "p.id", series: "p.series_id", cursor: "p.id",
		table: "patches", walk: walkPatches,
	},
	{ // series-completed: at the patch that completed it
		categories: []string{EventSeriesCompleted},
		cols:       `s.id, m.arrived, l.name, 0, p.series_id, 0, 0, 0, '', '', '', '', 0`,
		from:       ` FROM patches p JOIN series s ON s.id = p.series_id JOIN lists l ON l.id = s.list_id JOIN messages m ON m.id = p.message`,
		where: []string{"s.total > 0", "s.received >= s.total",
			"p.message = (SELECT MAX(q.message) FROM patches q WHERE q.series_id = p.series_id)"},
		date: "m.arrived", list: "+s.list_id", series: "p.series_id", cursor: "p.id",
		table: "patches", walk: walkPatches,
	},
	{ // series-created: at the series' first message
		categories: []string{EventSeriesCreated},
		cols:       `s.id, ` + seriesArrived + `, l.name, 0, s.id, 0, 0, 0, '', '', '', '', 0`,
		from:       ` FROM series s JOIN lists l ON l.id = s.list_id`,
		date:       seriesArrived, list: "s.list_id", series: "s.id", cursor: "s.id",
		table: "series", walk: walkSeries,
	},
	{ // cover-created
		categories: []string{EventCoverCreated},
		cols:       `m.id, m.arrived, l.name, 0, s.id, 0, 0, 0, '', '', '', '', 0`,
		from:       ` FROM messages m JOIN series s ON s.id = m.series_id JOIN lists l ON l.id = m.list_id`,
		where:      []string{"m.kind = 'cover'", "s.cover_message_id = m.message_id"},
		date:       "m.arrived", list: "+m.list_id", series: "s.id", cover: "s.id", cursor: "m.id",
		table: "messages", walk: walkMessages,
	},
	{ // patch-comment-created, cover-comment-created: a reply to a patch or
		// a cover letter (one query: apart, SQLite started the cover's
		// from the parents and took seconds)
		categories: []string{EventPatchCommentCreated, EventCoverCommentCreated},
		cols:       `m.id, m.arrived, l.name, COALESCE(p.id, 0), pm.series_id, 0, m.id, 0, '', '', m.message_id, m.subject, m.date`,
		from: ` FROM messages m JOIN lists l ON l.id = m.list_id
			JOIN messages pm ON pm.list_id = m.list_id AND pm.message_id = m.in_reply_to
			LEFT JOIN patches p ON pm.kind = 'patch' AND p.series_id = pm.series_id AND p.message = pm.id
			LEFT JOIN series s ON pm.kind = 'cover' AND s.id = pm.series_id AND s.cover_message_id = pm.message_id`,
		where: []string{"m.in_reply_to != ''", "m.kind NOT IN ('patch', 'cover')", "pm.kind IN ('patch', 'cover')",
			"(p.id IS NOT NULL OR s.id IS NOT NULL)"},
		date: "m.arrived", list: "+m.list_id", patch: "p.id", series: "pm.series_id", cover: "s.id", cursor: "m.id",
		table: "messages", walk: walkMessages,
		category: commentCategory,
	},
	{ // the stored change events
		categories: []string{EventPatchStateChanged, EventPatchDelegated, EventCheckCreated},
		cols:       `e.id, e.date, l.name, e.patch_id, e.series_id, e.check_id, 0, e.actor, e.prev_value, e.new_value, '', '', 0`,
		from:       ` FROM events e JOIN lists l ON l.id = e.list_id`,
		date:       "e.date", list: "e.list_id", patch: "e.patch_id", series: "e.series_id", actor: "e.actor",
		category: "e.category", cursor: "e.id",
	},
}

// commentCategory is a reply's category by its parent's kind.
const commentCategory = `CASE WHEN pm.kind = 'patch' THEN '` + EventPatchCommentCreated + `' ELSE '` + EventCoverCommentCreated + `' END`

// seriesArrived is when a series' first message arrived (its Date: when
// that message is not found).
const seriesArrived = `COALESCE((SELECT MIN(fm.arrived) FROM messages fm WHERE fm.list_id = s.list_id AND fm.message_id = s.message_id), s.date)`

// patchCompleted holds for a patch p whose earlier patches in its series
// have all arrived.
const patchCompleted = `p.idx >= 1 AND (SELECT COUNT(*) FROM patches q WHERE q.series_id = p.series_id AND q.idx BETWEEN 1 AND p.idx) = p.idx`

// patchRelated holds for a patch p of series s when the revision
// before s has a patch at its index.
const patchRelated = `s.previous IS NOT NULL AND EXISTS (SELECT 1 FROM patches q WHERE q.series_id = s.previous AND q.idx = p.idx)`

// Events returns one page of the events matching f, newest first (by
// date, then id). Each source is read newest first, a page at a time, as
// the merge of them all needs: a later page reads about as many rows as
// it skips, not as many from every source.
func (s *DB) Events(ctx context.Context, f EventFilter) ([]Event, error) {
	if len(f.Lists) == 0 || f.Limit <= 0 {
		return nil, nil
	}
	want := f.Offset + f.Limit
	// The lists' ids, as constants the planners can weigh.
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM lists WHERE name IN (`+placeholders(len(f.Lists))+`)`, anys(f.Lists)...)
	listIDs, err := collect(rows, err, "events", func(sc scanner) (*int64, error) {
		var id int64
		return &id, sc.Scan(&id)
	})
	if err != nil || len(listIDs) == 0 {
		return nil, err
	}
	var cs []*eventCursor
	for i := range eventSources {
		src := &eventSources[i]
		var cats []string
		for _, cat := range src.categories {
			if len(f.Categories) == 0 || slices.Contains(f.Categories, cat) {
				cats = append(cats, cat)
			}
		}
		if src.category != "" && len(cats) > 0 {
			cats = []string{""} // one query for every category of src asked for
		}
		for _, cat := range cats {
			c, err := s.eventQuery(ctx, src, cat, f, listIDs)
			if err != nil {
				return nil, err
			}
			if c != nil {
				c.chunk = f.Limit + 1
				cs = append(cs, c)
			}
		}
	}
	var out []Event
	for len(out) < want {
		var best *eventCursor
		for _, c := range cs {
			if len(c.buf) == 0 && !c.done {
				if err := s.fetch(ctx, c); err != nil {
					return nil, err
				}
			}
			if len(c.buf) > 0 && (best == nil || newer(&c.buf[0].Event, &best.buf[0].Event)) {
				best = c
			}
		}
		if best == nil {
			break
		}
		out = append(out, best.buf[0].Event)
		best.buf = best.buf[1:]
	}
	if f.Offset >= len(out) {
		return nil, nil
	}
	return out[f.Offset:], nil
}

func anys[T any](vs []T) []any {
	out := make([]any, len(vs))
	for i, v := range vs {
		out[i] = v
	}
	return out
}

// newer orders events: by date; within a second, a change after the
// creations (a patch is changed after it arrived); then by id.
func newer(a, b *Event) bool {
	if !a.Date.Equal(b.Date) {
		return a.Date.After(b.Date)
	}
	if ca, cb := storedCategory(a.Category), storedCategory(b.Category); ca != cb {
		return ca
	}
	return a.ID > b.ID
}

func storedCategory(c string) bool {
	return slices.Contains(eventSources[len(eventSources)-1].categories, c)
}

// eventCursor reads one source's events newest first, chunk at a time.
type eventCursor struct {
	src   *eventSource
	query string
	args  []any
	chunk int
	buf   []keyedEvent
	done  bool
	// The last row read: its key, and date (for the events table, read
	// by date and id).
	key, date int64
	started   bool
	// window: src's table is read a window of ids at a time, newest
	// first, from hi down to lo; each window's rows are then joined and
	// filtered (see fetch).
	window bool
	lo, hi int64
	size   int // of the last window
}

type keyedEvent struct {
	Event
	key, date int64
}

// eventQuery is the query of category cat's events in src that match f
// (cat is "" for the events table: every stored category f asks for); nil
// when none can.
func (s *DB) eventQuery(ctx context.Context, src *eventSource, cat string, f EventFilter, listIDs []int64) (*eventCursor, error) {
	where := append([]string{}, src.where...)
	var args []any
	in := func(col string, vals []string) {
		where = append(where, col+" IN ("+placeholders(len(vals))+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	eq := func(col string, v int64) bool {
		if col == "" {
			return false
		}
		where, args = append(where, col+" = ?"), append(args, v)
		return true
	}
	list := src.list
	if s.pg {
		list = strings.TrimPrefix(list, "+") // PostgreSQL misjudges +x (19 rows of 5,700) and sorts them all
	}
	where = append(where, list+" IN ("+placeholders(len(listIDs))+")")
	for _, id := range listIDs {
		args = append(args, id)
	}
	if src.category != "" {
		cats := f.Categories
		if len(cats) == 0 {
			cats = src.categories
		}
		in(src.category, slices.DeleteFunc(slices.Clone(cats), func(c string) bool { return !slices.Contains(src.categories, c) }))
	}
	switch cat {
	case EventPatchCompleted:
		where = append(where, patchCompleted)
	case EventPatchRelationChanged:
		where = append(where, patchRelated)
	}
	if f.PatchID != 0 && !eq(src.patch, f.PatchID) ||
		f.SeriesID != 0 && !eq(src.series, f.SeriesID) ||
		f.CoverID != 0 && !eq(src.cover, f.CoverID) ||
		f.Actor != 0 && !eq(src.actor, f.Actor) {
		return nil, nil
	}
	c := &eventCursor{src: src, window: src.walk != "" && f.PatchID == 0 && f.SeriesID == 0 && f.CoverID == 0,
		hi: math.MaxInt64}
	// A derived source's dates grow with its key: the dates become a
	// range of keys, found in a few steps, so that a bot asking for what
	// is new since its last visit does not walk the whole archive.
	for _, d := range []struct {
		t  time.Time
		op string
	}{{f.Since, ">="}, {f.Before, "<"}} {
		if d.t.IsZero() {
			continue
		}
		where, args = append(where, src.date+" "+d.op+" ?"), append(args, d.t.Unix())
		if src.walk != "" {
			k, err := s.keyAt(ctx, src, d.t)
			if err != nil {
				return nil, err
			}
			where, args = append(where, src.cursor+" "+d.op+" ?"), append(args, k)
			if d.op == ">=" {
				c.lo = k
			} else {
				c.hi = k
			}
		}
	}
	catCol := "'" + cat + "'"
	if src.category != "" {
		catCol = src.category
	}
	c.args = args
	c.query = `SELECT ` + src.cols + `, ` + catCol + `, ` + src.cursor + `, ` + src.date + src.from + ` WHERE ` + strings.Join(where, " AND ")
	return c, nil
}

// fetch reads the cursor's next chunk: the next rows, or the next rows
// that match of a window of the source's table. The planners, given a
// list's rows to join and filter, sort them all (PostgreSQL took 65 ms
// for the series completed on the 20k bench list, SQLite 30 when it
// started at the list's index); a window of ids keeps every query small
// whatever plan they choose. Selective filters (a patch, a series, a
// cover) are left to the planner.
func (s *DB) fetch(ctx context.Context, c *eventCursor) error {
	if !c.window {
		return s.fetchRows(ctx, c)
	}
	for !c.done {
		// The first window small (the merge may want few of this
		// source's events), each next one twice as big.
		if c.size == 0 {
			c.size = max(16, c.chunk/4)
		} else {
			c.size = min(2*c.size, 1000)
		}
		size := c.size
		var lo sql.NullInt64
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT MIN(id), COUNT(*) FROM (SELECT id FROM `+c.src.table+
			` WHERE id < ? AND id >= ? ORDER BY id DESC LIMIT ?) w`, c.hi, c.lo, size).Scan(&lo, &n); err != nil {
			return fmt.Errorf("events: %w", err)
		}
		if n == 0 {
			c.done = true
			break
		}
		rows, err := s.r.QueryContext(ctx, c.query+` AND `+c.src.cursor+` >= ? AND `+c.src.cursor+` < ? ORDER BY `+c.src.cursor+` DESC`,
			append(slices.Clone(c.args), lo.Int64, c.hi)...)
		evs, err := collect(rows, err, "events", scanEvent)
		if err != nil {
			return err
		}
		c.hi, c.done = lo.Int64, n < size
		if len(evs) > 0 {
			c.buf = evs
			break
		}
	}
	return nil
}

// fetchRows reads the cursor's next chunk of rows.
func (s *DB) fetchRows(ctx context.Context, c *eventCursor) error {
	q, args := c.query, slices.Clone(c.args)
	if c.started {
		if c.src.walk != "" {
			q, args = q+` AND `+c.src.cursor+` < ?`, append(args, c.key)
		} else {
			q, args = q+` AND (`+c.src.date+` < ? OR `+c.src.date+` = ? AND `+c.src.cursor+` < ?)`, append(args, c.date, c.date, c.key)
		}
	}
	order := c.src.cursor + ` DESC`
	if c.src.walk == "" {
		order = c.src.date + ` DESC, ` + order
	}
	rows, err := s.r.QueryContext(ctx, q+` ORDER BY `+order+` LIMIT ?`, append(args, c.chunk)...)
	evs, err := collect(rows, err, "events", scanEvent)
	if err != nil {
		return err
	}
	c.buf, c.done, c.started = evs, len(evs) < c.chunk, true
	if len(evs) > 0 {
		c.key, c.date = evs[len(evs)-1].key, evs[len(evs)-1].date
	}
	return nil
}

func scanEvent(sc scanner) (*keyedEvent, error) {
	var e keyedEvent
	var id, date, cdate int64
	if err := sc.Scan(&id, &date, &e.List, &e.PatchID, &e.SeriesID, &e.CheckID, &e.CommentID, &e.Actor,
		&e.Previous, &e.Current, &e.CommentMsgID, &e.CommentSubject, &cdate, &e.Category, &e.key, &e.date); err != nil {
		return nil, err
	}
	e.ID, e.Date, e.CommentDate = id<<eventCodeBits|eventCode(e.Category), time.Unix(date, 0).UTC(), timeOrZero(cdate)
	return &e, nil
}

// keyAt returns the first key of src dated t or later (one past the
// last when there is none), by bisection: src's dates grow with its key.
func (s *DB) keyAt(ctx context.Context, src *eventSource, t time.Time) (int64, error) {
	var lo, hi int64
	if err := s.r.QueryRowContext(ctx, `SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), 0) FROM `+src.table).Scan(&lo, &hi); err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	hi++ // the answer is in [lo, hi]; hi: none
	q := `SELECT ` + src.cursor + `, ` + src.date + src.walk + ` WHERE ` + src.cursor + ` >= ? ORDER BY ` + src.cursor + ` LIMIT 1`
	// A date before the first row or after the last (a bot's poll when
	// nothing is new) needs no bisection.
	var last int64
	err := s.r.QueryRowContext(ctx, `SELECT `+src.date+src.walk+` WHERE `+src.cursor+` <= ? ORDER BY `+src.cursor+` DESC LIMIT 1`, hi-1).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) || err == nil && last < t.Unix() {
		return hi, nil
	}
	if err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	var key, first int64
	if err := s.r.QueryRowContext(ctx, q, lo).Scan(&key, &first); err != nil {
		return 0, fmt.Errorf("events: %w", err)
	}
	if first >= t.Unix() {
		return lo, nil
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		var key, date int64
		err := s.r.QueryRowContext(ctx, q, mid).Scan(&key, &date)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			hi = mid
		case err != nil:
			return 0, fmt.Errorf("events: %w", err)
		case date >= t.Unix():
			hi = mid
		default:
			lo = key + 1
		}
	}
	return lo, nil
}

// eventRow is a stored event about to be written.
type eventRow struct {
	category          string
	listID            int64
	patchID, seriesID int64
	checkID           int64
	actor             int64
	previous, current string
}

func insertEvents(ctx context.Context, tx *sql.Tx, at time.Time, cs []eventRow) error {
	for _, c := range cs {
		if _, err := tx.ExecContext(ctx, `INSERT INTO events(list_id, category, date, actor, patch_id, series_id, check_id, prev_value, new_value)
			VALUES(?,?,?,?,?,?,?,?,?)`, c.listID, c.category, at.Unix(), c.actor, c.patchID, c.seriesID, c.checkID, c.previous, c.current); err != nil {
			return fmt.Errorf("record event: %w", err)
		}
	}
	return nil
}

// patchStates reads the effective state of each patch of a series.
func patchStates(ctx context.Context, tx *sql.Tx, seriesID int64) (map[int64]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, `+stateExpr+` FROM patches p JOIN series s ON s.id = p.series_id WHERE p.series_id = ?`, seriesID)
	if err != nil {
		return nil, fmt.Errorf("patch states: %w", err)
	}
	defer rows.Close()
	out := map[int64]string{}
	for rows.Next() {
		var id int64
		var st string
		if err := rows.Scan(&id, &st); err != nil {
			return nil, fmt.Errorf("patch states: %w", err)
		}
		out[id] = st
	}
	return out, rows.Err()
}

// stateEvents records a patch-state-changed event for each patch of the
// series whose effective state is no longer what before says.
func stateEvents(ctx context.Context, tx *sql.Tx, listID, seriesID int64, before map[int64]string, actor int64, at time.Time) error {
	after, err := patchStates(ctx, tx, seriesID)
	if err != nil {
		return err
	}
	var cs []eventRow
	for id, st := range after {
		if prev, ok := before[id]; ok && prev != st {
			cs = append(cs, eventRow{category: EventPatchStateChanged, listID: listID, patchID: id, seriesID: seriesID,
				actor: actor, previous: prev, current: st})
		}
	}
	slices.SortFunc(cs, func(a, b eventRow) int { return int(a.patchID - b.patchID) })
	return insertEvents(ctx, tx, at, cs)
}

// delegateValue is a delegate as an event keeps it: a user id, "" for
// none.
func delegateValue(id int64) string {
	if id == 0 {
		return ""
	}
	return strconv.FormatInt(id, 10)
}
