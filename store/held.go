package store

import (
	"context"
	"fmt"
)

// On PostgreSQL, a new message's INSERT is held back by the transaction
// until a statement that may read or write messages or patches goes
// first (release): series assembly, which comes next, reads and writes
// only series until it sets the message's series (SetMessageSeries), and
// that goes into the held INSERT instead of an UPDATE of the row just
// inserted (one statement fewer per patch and cover letter, and no
// second version of the row). The message's patch (AddPatch) is held
// with it and goes after it, as its foreign key wants. The statements
// that keep it held are those of the series methods (keepHeld); any
// other statement of the transaction, and its commit (flush), send it
// first, through later, so it still goes with the next round trip.

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

// holdMessage takes an id for a new message of list and holds its row.
func (t *writeTx) holdMessage(ctx context.Context, list int64, row []any, kind string) (int64, error) {
	if err := t.release(ctx); err != nil {
		return 0, err
	}
	id, err := t.newID(ctx, "messages", list)
	if err != nil {
		return 0, err
	}
	t.held = &heldMessage{id: id, row: row, kind: kind}
	return id, nil
}

// release sends the held message's INSERT, and its patch's, deferred
// (later): they go with the next statement. An error here is returned
// again by flush, so the transaction cannot commit without them.
func (t *writeTx) release(ctx context.Context) error {
	h := t.held
	if h == nil || t.quiet > 0 {
		return t.releaseErr
	}
	t.held = nil
	args := append(append([]any{h.id}, h.row...), h.kind, h.series)
	err := t.later(ctx, `INSERT INTO messages(id, `+messageRowCols+`, kind, series_id) VALUES(`+placeholders(len(args))+`)`, args...)
	if err != nil {
		err = fmt.Errorf("insert message: %w", err)
	} else if h.patch != nil {
		if err = t.later(ctx, `INSERT INTO patches(id, `+patchCols+`) VALUES(`+placeholders(len(h.patch))+`)`, h.patch...); err != nil {
			err = fmt.Errorf("add patch: %w", err)
		}
	}
	if err != nil && t.releaseErr == nil {
		t.releaseErr = err
	}
	return t.releaseErr
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
