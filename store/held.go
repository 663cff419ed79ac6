package store

import (
	"context"
	"fmt"
	"strings"
)

// On PostgreSQL, a new message's INSERT is held back by the transaction
// until a statement that may read or write messages or patches goes
// first (release): series assembly, which comes next, reads and writes
// only series until it sets the message's series (SetMessageSeries), and
// that goes into the held INSERT instead of an UPDATE of the row just
// inserted (one statement fewer per patch and cover letter, and no
// second version of the row). The message's patch (AddPatch) is held
// with it and goes after it, as its foreign key wants. The statements
// that keep it held are those of the series methods and of newID
// (keepHeld); any other statement of the transaction, and its commit
// (flush), send it first, through later, so it still goes with the next
// round trip. Up to pgHeldRows messages are held so, and go in one
// multi-row INSERT (and their patches in another): an import whose
// lookups Expect answers sends a statement per pgHeldRows messages
// instead of one per message.

// heldMessage is a message's row waiting for its INSERT.
type heldMessage struct {
	id     int64
	row    []any // messageRowCols' values
	kind   string
	series any   // NULL or the series' id
	patch  []any // its patch's row (id, then patchCols'), if any
}

// messageRowCols are the columns of a new message's row but id, kind
// and series_id.
const messageRowCols = `list_id, uid, message_id, sha256, size, flags, subject, from_name, from_email,
	date, arrived, in_reply_to, refs, thread_id, trailers, wire_size`

// patchCols are the columns of a new patch's row but id.
const patchCols = `series_id, message, idx, subject, commit_subject, author_name, author_email, date, files, patch_id, trailers`

// Series are held the same way: a new series' INSERT (CreateSeries)
// takes in the UpdateSeries that follow it, and of an older series only
// the last UpdateSeries is sent; they go before the held messages (whose
// patches' foreign keys want them), and before any statement that may
// read series (releaseSeries).

// heldSeries is a series' row waiting for its INSERT (args: id, then
// seriesRowCols' values), or its last UPDATE (update: updateSeriesSQL's
// arguments).
type heldSeries struct {
	args, update []any
}

// seriesRowCols are the columns of a new series' row but id.
const seriesRowCols = `list_id, subject, norm_subject, version, status, submitter_name, submitter_email,
	total, received, message_id, cover_message_id, date, previous, superseded_by, rfc, resend, prefix, change_id, base_commit,
	thread_id, stem, pull_url, pull_ref`

// updateSeriesSQL is UpdateSeries' statement (on both backends).
const updateSeriesSQL = `UPDATE series SET subject=?, norm_subject=?, status=?, total=?, received=?, message_id=?, cover_message_id=?,
	date=?, previous=?, superseded_by=?, rfc=?, resend=?, prefix=?, change_id=?, base_commit=?, pull_url=?, pull_ref=?
	WHERE id = ?`

// updatedCols are where updateSeriesSQL's arguments (all but the last, the
// id) go in a held INSERT's.
var updatedCols = [...]int{2, 3, 5, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 22, 23}

// holdSeries takes an id for a new series of list and holds its row.
func (t *writeTx) holdSeries(ctx context.Context, list int64, args []any) (int64, error) {
	id, err := t.newID(ctx, "series", list)
	if err != nil {
		return 0, err
	}
	h := &heldSeries{args: append([]any{id}, args...)}
	if t.heldSeries == nil {
		t.heldSeries = map[int64]*heldSeries{}
	}
	t.heldSeries[id] = h
	t.seriesOrder = append(t.seriesOrder, id)
	return id, nil
}

// holdSeriesUpdate holds UpdateSeries' arguments: in its held INSERT, or
// instead of an earlier UPDATE of the same series.
func (t *writeTx) holdSeriesUpdate(args []any) {
	id := args[len(args)-1].(int64)
	h := t.heldSeries[id]
	switch {
	case h == nil:
		if t.heldSeries == nil {
			t.heldSeries = map[int64]*heldSeries{}
		}
		t.heldSeries[id] = &heldSeries{update: args}
		t.seriesOrder = append(t.seriesOrder, id)
	case h.args != nil:
		for i, col := range updatedCols {
			h.args[col] = args[i]
		}
	default:
		h.update = args
	}
}

// releaseSeries sends the held series' INSERTs, in one multi-row
// statement, then their UPDATEs, deferred (later). An error here is
// returned again by flush.
func (t *writeTx) releaseSeries(ctx context.Context) {
	if len(t.seriesOrder) == 0 {
		return
	}
	held, order := t.heldSeries, t.seriesOrder
	t.heldSeries, t.seriesOrder = nil, nil
	defer t.keepHeld()() // its own statements
	var args []any
	n := 0
	for _, id := range order {
		if h := held[id]; h.args != nil {
			args = append(args, h.args...)
			n++
		}
	}
	var err error
	if n > 0 {
		if err = t.later(ctx, `INSERT INTO series(id, `+seriesRowCols+`) VALUES `+valueRows(n, len(args)/n), args...); err != nil {
			err = fmt.Errorf("create series: %w", err)
		}
	}
	for _, id := range order {
		if h := held[id]; err == nil && h.update != nil {
			if err = t.later(ctx, updateSeriesSQL, h.update...); err != nil {
				err = fmt.Errorf("update series: %w", err)
			}
		}
	}
	if err != nil && t.releaseErr == nil {
		t.releaseErr = err
	}
}

// pgHeldRows is the most messages held at once.
const pgHeldRows = 64

// holdMessage takes an id for a new message of list and holds its row.
func (t *writeTx) holdMessage(ctx context.Context, list int64, row []any, kind string) (int64, error) {
	if len(t.held) >= pgHeldRows {
		if err := t.release(ctx); err != nil {
			return 0, err
		}
	}
	id, err := t.newID(ctx, "messages", list)
	if err != nil {
		return 0, err
	}
	t.held = append(t.held, &heldMessage{id: id, row: row, kind: kind})
	return id, nil
}

// heldRow is the held message with row id, nil if none.
func (t *writeTx) heldRow(id int64) *heldMessage {
	for i := len(t.held) - 1; i >= 0; i-- { // mostly the last
		if t.held[i].id == id {
			return t.held[i]
		}
	}
	return nil
}

// release sends the held messages' INSERT, and their patches', deferred
// (later): they go with the next statement. An error here is returned
// again by flush, so the transaction cannot commit without them.
func (t *writeTx) release(ctx context.Context) error {
	if t.quiet > 0 {
		return t.releaseErr
	}
	t.releaseSeries(ctx)
	if len(t.held) == 0 {
		return t.releaseErr
	}
	held := t.held
	t.held = nil
	defer t.keepHeld()() // its own statements
	var args, patches []any
	for _, h := range held {
		args = append(append(append(args, h.id), h.row...), h.kind, h.series)
		patches = append(patches, h.patch...)
	}
	err := t.later(ctx, `INSERT INTO messages(id, `+messageRowCols+`, kind, series_id) VALUES `+valueRows(len(held), len(args)/len(held)), args...)
	if err != nil {
		err = fmt.Errorf("insert message: %w", err)
	} else if n := len(patches) / patchRowLen; n > 0 {
		if err = t.later(ctx, `INSERT INTO patches(id, `+patchCols+`) VALUES `+valueRows(n, patchRowLen), patches...); err != nil {
			err = fmt.Errorf("add patch: %w", err)
		}
	}
	if err != nil && t.releaseErr == nil {
		t.releaseErr = err
	}
	return t.releaseErr
}

// patchRowLen is how many values a patch's row has (its id and
// patchCols').
const patchRowLen = 12

// valueRows is n parenthesised groups of cols placeholders: (?,?),(?,?).
func valueRows(n, cols int) string {
	g := "(" + placeholders(cols) + ")"
	return g + strings.Repeat(","+g, n-1)
}

// keepHeld marks the statements until the function it returns is called
// as ones that neither read nor write messages or patches: the held
// message stays held.
func (t *writeTx) keepHeld() func() {
	t.quiet++
	return func() { t.quiet-- }
}

// quietly runs fn with the held message kept held.
func (t *writeTx) quietly(fn func() (int64, error)) (int64, error) {
	defer t.keepHeld()()
	return fn()
}
