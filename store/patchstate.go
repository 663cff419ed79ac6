package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"patchwell/core"
)

// Patch states, as patchwork names them. A patch's state is its own once
// someone sets it (UpdatePatch); until then, and again after its series'
// status is changed, it follows the series (PatchStateOf).
var PatchStates = []string{"new", "under-review", "accepted", "rejected", "rfc", "not-applicable",
	"changes-requested", "awaiting-upstream", "superseded", "deferred"}

// ValidPatchState reports whether s is one of PatchStates.
func ValidPatchState(s string) bool {
	for _, st := range PatchStates {
		if st == s {
			return true
		}
	}
	return false
}

// PatchStateOf is the state a patch without one of its own has in a
// series of this status.
func PatchStateOf(status string) string {
	switch status {
	case StatusProposed:
		return "new"
	case StatusNeedsRevision:
		return "changes-requested"
	case StatusApproved:
		return "under-review"
	case StatusApplied:
		return "accepted"
	}
	return status // rejected, superseded
}

// stateExpr is PatchStateOf in SQL, over patches p and series s.
const stateExpr = `CASE WHEN p.state != '' THEN p.state WHEN s.status = 'proposed' THEN 'new'
	WHEN s.status = 'needs_revision' THEN 'changes-requested' WHEN s.status = 'approved' THEN 'under-review'
	WHEN s.status = 'applied' THEN 'accepted' ELSE s.status END`

// TrackedPatch is a patch as patchwork's API shows it: the patch, its
// per-patch state and the series it belongs to.
type TrackedPatch struct {
	ID        int64
	SeriesID  int64
	List      string
	Index     int
	Subject   string
	MessageID string
	Author    core.Person
	Date      time.Time
	State     string // effective: its own, or its series'
	Delegate  int64  // user id, 0 for none
	Archived  bool
	CommitRef string
	PatchID   string
	// The series.
	SeriesSubject string
	SeriesVersion int
	SeriesDate    time.Time
	SeriesStatus  string
}

const trackedCols = `p.id, p.series_id, l.name, p.idx, p.subject, m.message_id, p.author_name, p.author_email, p.date,
	` + stateExpr + `, p.delegate, p.archived, p.commit_ref, p.patch_id, s.subject, s.version, s.date, s.status`

const trackedFrom = ` FROM patches p JOIN series s ON s.id = p.series_id JOIN lists l ON l.id = s.list_id JOIN messages m ON m.id = p.message`

func scanTracked(sc scanner) (*TrackedPatch, error) {
	var p TrackedPatch
	var date, sdate, archived int64
	if err := sc.Scan(&p.ID, &p.SeriesID, &p.List, &p.Index, &p.Subject, &p.MessageID, &p.Author.Name, &p.Author.Email, &date,
		&p.State, &p.Delegate, &archived, &p.CommitRef, &p.PatchID, &p.SeriesSubject, &p.SeriesVersion, &sdate, &p.SeriesStatus); err != nil {
		return nil, err
	}
	p.Date, p.SeriesDate, p.Archived = timeOrZero(date), timeOrZero(sdate), archived != 0
	return &p, nil
}

// PatchFilter selects patches for TrackedPatches. Empty fields do not
// filter; Lists must name at least one list (the caller's readable ones).
type PatchFilter struct {
	Lists      []string
	States     []string
	Submitters []string // author addresses, compared without case
	Delegates  []int64
	Archived   *bool
	SeriesID   int64
	Name       string // a substring of the subject
	PatchID    string // git patch-id --stable
	MessageID  string
	IDs        []int64   // these patches only
	Since      time.Time // Date: at or after
	Before     time.Time // Date: before
	// Order is id, date or name, with "-" before it for descending.
	Order  string
	Limit  int
	Offset int
}

// TrackedPatches returns one page of patches matching f.
func (s *DB) TrackedPatches(ctx context.Context, f PatchFilter) ([]TrackedPatch, error) {
	if len(f.Lists) == 0 {
		return nil, nil
	}
	var where []string
	var args []any
	in := func(col string, n int) string {
		return col + " IN (" + strings.TrimSuffix(strings.Repeat("?,", n), ",") + ")"
	}
	where = append(where, "s.list_id IN (SELECT id FROM lists WHERE "+in("name", len(f.Lists))+")")
	for _, l := range f.Lists {
		args = append(args, l)
	}
	if len(f.States) > 0 {
		where = append(where, in("("+stateExpr+")", len(f.States)))
		for _, v := range f.States {
			args = append(args, v)
		}
	}
	if len(f.Submitters) > 0 {
		where = append(where, in("LOWER(p.author_email)", len(f.Submitters)))
		for _, v := range f.Submitters {
			args = append(args, strings.ToLower(v))
		}
	}
	if len(f.Delegates) > 0 {
		where = append(where, in("p.delegate", len(f.Delegates)))
		for _, v := range f.Delegates {
			args = append(args, v)
		}
	}
	if f.Archived != nil {
		where, args = append(where, "p.archived = ?"), append(args, boolInt(*f.Archived))
	}
	if f.SeriesID != 0 {
		where, args = append(where, "p.series_id = ?"), append(args, f.SeriesID)
	}
	if f.Name != "" {
		where, args = append(where, "LOWER(p.subject) LIKE ? ESCAPE '\\'"), append(args, "%"+likeEscape(strings.ToLower(f.Name))+"%")
	}
	if f.PatchID != "" {
		where, args = append(where, "p.patch_id = ?"), append(args, f.PatchID)
	}
	if f.MessageID != "" {
		where, args = append(where, "p.message IN (SELECT id FROM messages WHERE message_id = ?)"), append(args, f.MessageID)
	}
	if len(f.IDs) > 0 {
		where = append(where, in("p.id", len(f.IDs)))
		for _, v := range f.IDs {
			args = append(args, v)
		}
	}
	if !f.Since.IsZero() {
		where, args = append(where, "p.date >= ?"), append(args, f.Since.Unix())
	}
	if !f.Before.IsZero() {
		where, args = append(where, "p.date < ?"), append(args, f.Before.Unix())
	}
	order := "p.id"
	switch strings.TrimPrefix(f.Order, "-") {
	case "date":
		order = "p.date, p.id"
	case "name":
		order = "p.subject, p.id"
	}
	if strings.HasPrefix(f.Order, "-") {
		order = strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	}
	// Two steps: the page's ids (a lean sort over patches and series),
	// then their rows (the sort of every column of every patch of a
	// 20k-message list took 3 times as long).
	args = append(args, f.Limit, f.Offset)
	rows, err := s.r.QueryContext(ctx, `SELECT p.id FROM patches p JOIN series s ON s.id = p.series_id WHERE `+
		strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ? OFFSET ?`, args...)
	ids, err := collect(rows, err, "patches", func(sc scanner) (*int64, error) {
		var id int64
		return &id, sc.Scan(&id)
	})
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	idArgs := make([]any, len(ids))
	at := map[int64]int{}
	for i, id := range ids {
		idArgs[i], at[id] = id, i
	}
	rows, err = s.r.QueryContext(ctx, `SELECT `+trackedCols+trackedFrom+` WHERE `+in("p.id", len(ids)), idArgs...)
	ps, err := collect(rows, err, "patches", scanTracked)
	if err != nil {
		return nil, err
	}
	out := make([]TrackedPatch, len(ids))
	for _, p := range ps {
		out[at[p.ID]] = p
	}
	// A row gone between the two steps is left out.
	return slices.DeleteFunc(out, func(p TrackedPatch) bool { return p.ID == 0 }), nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TrackedPatch returns one patch; ErrNotFound for an unknown id.
func (s *DB) TrackedPatch(ctx context.Context, id int64) (*TrackedPatch, error) {
	p, err := scanTracked(s.r.QueryRowContext(ctx, `SELECT `+trackedCols+trackedFrom+` WHERE p.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("patch %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("patch %d: %w", id, err)
	}
	return p, nil
}

// PatchUpdate is a change to a patch's state; nil fields stay.
type PatchUpdate struct {
	State     *string
	Delegate  *int64 // 0: none
	Archived  *bool
	CommitRef *string
}

// UpdatePatch changes a patch's state, delegate, archived flag or commit
// reference on behalf of userID. When the state change leaves every patch
// of the series accepted, the series follows (recorded in its history as
// userID's change, returned): applied when each patch has a commit
// reference, approved otherwise.
func (s *DB) UpdatePatch(ctx context.Context, id int64, u PatchUpdate, userID int64, at time.Time) (*StatusChange, error) {
	if u.State != nil && !ValidPatchState(*u.State) {
		return nil, fmt.Errorf("%w: state %q (one of %s)", ErrInvalid, *u.State, strings.Join(PatchStates, ", "))
	}
	if u.CommitRef != nil && len(*u.CommitRef) > 255 {
		return nil, fmt.Errorf("%w: commit_ref longer than 255 bytes", ErrInvalid)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("update patch: %w", err)
	}
	defer tx.Rollback()
	var seriesID, listID int64
	if err := tx.QueryRowContext(ctx, `SELECT p.series_id, s.list_id FROM patches p JOIN series s ON s.id = p.series_id WHERE p.id = ?`, id).
		Scan(&seriesID, &listID); err != nil {
		return nil, userErr(err, fmt.Sprintf("patch %d", id))
	}
	if err := s.lockLists(ctx, tx, lockKey(listID)); err != nil {
		return nil, fmt.Errorf("update patch: %w", err)
	}
	// The states and delegate before, for the events (store/events.go).
	var before map[int64]string
	if u.State != nil {
		if before, err = patchStates(ctx, tx, seriesID); err != nil {
			return nil, fmt.Errorf("update patch: %w", err)
		}
	}
	var oldDelegate int64
	if u.Delegate != nil {
		if err := tx.QueryRowContext(ctx, `SELECT delegate FROM patches WHERE id = ?`, id).Scan(&oldDelegate); err != nil {
			return nil, fmt.Errorf("update patch: %w", err)
		}
	}
	set := func(col string, v any) error {
		_, err := tx.ExecContext(ctx, `UPDATE patches SET `+col+` = ? WHERE id = ?`, v, id)
		return err
	}
	if u.State != nil {
		err = set("state", *u.State)
	}
	if err == nil && u.Delegate != nil {
		if err := checkDelegate(ctx, tx, listID, *u.Delegate); err != nil {
			return nil, err
		}
		err = set("delegate", *u.Delegate)
	}
	if err == nil && u.Archived != nil {
		err = set("archived", boolInt(*u.Archived))
	}
	if err == nil && u.CommitRef != nil {
		err = set("commit_ref", *u.CommitRef)
	}
	if err != nil {
		return nil, fmt.Errorf("update patch: %w", err)
	}
	var change *StatusChange
	if u.State != nil && *u.State == "accepted" {
		if change, err = seriesFollows(ctx, tx, seriesID, userID, at); err != nil {
			return nil, err
		}
	}
	if before != nil {
		if err := stateEvents(ctx, tx, listID, seriesID, before, userID, at); err != nil {
			return nil, fmt.Errorf("update patch: %w", err)
		}
	}
	if u.Delegate != nil && *u.Delegate != oldDelegate {
		if err := insertEvents(ctx, tx, at, []eventRow{{category: EventPatchDelegated, listID: listID, patchID: id, seriesID: seriesID,
			actor: userID, previous: delegateValue(oldDelegate), current: delegateValue(*u.Delegate)}}); err != nil {
			return nil, fmt.Errorf("update patch: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("update patch: %w", err)
	}
	return change, nil
}

// seriesFollows sets the series' status when all its patches are
// accepted (see UpdatePatch); nil when it does not change.
func seriesFollows(ctx context.Context, tx *sql.Tx, seriesID, userID int64, at time.Time) (*StatusChange, error) {
	var status string
	var total, received, accepted, refs int
	err := tx.QueryRowContext(ctx, `SELECT s.status, s.total, s.received,
		(SELECT COUNT(*) FROM patches p WHERE p.series_id = s.id AND (`+stateExpr+`) = 'accepted'),
		(SELECT COUNT(*) FROM patches p WHERE p.series_id = s.id AND p.commit_ref != '')
		FROM series s WHERE s.id = ?`, seriesID).Scan(&status, &total, &received, &accepted, &refs)
	if err != nil {
		return nil, fmt.Errorf("update patch: %w", err)
	}
	if received < total || accepted < received {
		return nil, nil
	}
	to := StatusApproved
	if refs == received {
		to = StatusApplied
	}
	if status == to || status == StatusApplied {
		return nil, nil
	}
	return setStatusTx(ctx, tx, seriesID, status, to, userID, "all patches accepted", at)
}

// ListMaintainers returns the users with a role on a list (owners and
// maintainers), by id.
func (s *DB) ListMaintainers(ctx context.Context, list string) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userColsOf+` FROM users u JOIN list_roles r ON r.user_id = u.id
		JOIN lists l ON l.id = r.list_id WHERE l.name = ? AND u.disabled = 0 ORDER BY u.id`, list)
	return collect(rows, err, "maintainers", func(sc scanner) (*User, error) { return scanUser(sc) })
}

// PatchStateRecord is one patch's own state as ExportPatchStates carries
// it across a reindex, where patches get new ids: the patch is found
// again by its list and Message-ID.
type PatchStateRecord struct {
	List, MessageID string
	State           string // "" follows the series
	Delegate        int64  // a user id (accounts keep theirs)
	Archived        bool
	CommitRef       string
}

// ExportPatchStates returns the patches that have a state, delegate,
// archived flag or commit reference of their own.
func (s *DB) ExportPatchStates(ctx context.Context) ([]PatchStateRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT l.name, m.message_id, p.state, p.delegate, p.archived, p.commit_ref
		FROM patches p JOIN series s ON s.id = p.series_id JOIN lists l ON l.id = s.list_id JOIN messages m ON m.id = p.message
		WHERE p.state != '' OR p.delegate != 0 OR p.archived != 0 OR p.commit_ref != '' ORDER BY p.id`)
	return collect(rows, err, "patch states", func(sc scanner) (*PatchStateRecord, error) {
		var r PatchStateRecord
		var archived int64
		err := sc.Scan(&r.List, &r.MessageID, &r.State, &r.Delegate, &archived, &r.CommitRef)
		r.Archived = archived != 0
		return &r, err
	})
}

// ImportPatchStates gives the patches of rs their state again (after
// ExportPatchStates, in one transaction), and reports how many found no
// patch. The series' statuses are not touched: they come with their
// history (ImportAccounts).
func (s *DB) ImportPatchStates(ctx context.Context, rs []PatchStateRecord) (dropped int, err error) {
	if len(rs) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("import patch states: %w", err)
	}
	defer tx.Rollback()
	for _, r := range rs {
		res, err := tx.ExecContext(ctx, `UPDATE patches SET state = ?, delegate = ?, archived = ?, commit_ref = ?
			WHERE id IN (SELECT p.id FROM patches p JOIN series s ON s.id = p.series_id JOIN lists l ON l.id = s.list_id
			JOIN messages m ON m.id = p.message WHERE l.name = ? AND m.message_id = ?)`,
			r.State, r.Delegate, boolInt(r.Archived), r.CommitRef, r.List, r.MessageID)
		if err != nil {
			return dropped, fmt.Errorf("import patch states: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			dropped++
		}
	}
	if err := tx.Commit(); err != nil {
		return dropped, fmt.Errorf("import patch states: %w", err)
	}
	return dropped, nil
}
