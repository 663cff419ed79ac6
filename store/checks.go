package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Check states, as patchwork names them.
const (
	CheckPending = "pending"
	CheckSuccess = "success"
	CheckWarning = "warning"
	CheckFail    = "fail"
)

// ValidCheckState reports whether s is a check state.
func ValidCheckState(s string) bool {
	return s == CheckPending || s == CheckSuccess || s == CheckWarning || s == CheckFail
}

// Check is the result of one CI context on a series, or on one of its
// patches (PatchIndex > 0). A context reported again replaces its
// earlier result for the same series and patch.
type Check struct {
	ID          int64     `json:"id"`
	SeriesID    int64     `json:"series_id"`
	PatchIndex  int       `json:"patch_index"` // 0: the whole series
	Context     string    `json:"context"`
	State       string    `json:"state"`
	Description string    `json:"description"`
	URL         string    `json:"url"`
	Log         string    `json:"-"`
	Created     time.Time `json:"created"`
	Updated     time.Time `json:"updated"`
	// By is who posts it (0: patchwell's CI): the actor of its
	// check-created event, not kept with the check.
	By int64 `json:"-"`
}

// maxCheckLog bounds a stored log; the runner caps output before this.
const maxCheckLog = 1 << 20

// SetCheck implements Store.
func (s *DB) SetCheck(ctx context.Context, c *Check) (*Check, error) {
	if !ValidCheckState(c.State) {
		return nil, fmt.Errorf("%w: check state %q (pending, success, warning or fail)", ErrInvalid, c.State)
	}
	if c.Context == "" || len(c.Context) > 200 || len(c.Description) > 2000 || len(c.URL) > 2000 {
		return nil, fmt.Errorf("%w: a check needs a context (at most 200 bytes), a description and URL of at most 2000", ErrInvalid)
	}
	if len(c.Log) > maxCheckLog {
		c.Log = c.Log[len(c.Log)-maxCheckLog:]
	}
	now := time.Now()
	var id int64
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `INSERT INTO checks(series_id, patch_index, context, state, description, url, log, created, updated)
			VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(series_id, patch_index, context) DO UPDATE SET
			state = excluded.state, description = excluded.description, url = excluded.url, log = excluded.log, updated = excluded.updated
			RETURNING id`, c.SeriesID, c.PatchIndex, c.Context, c.State, c.Description, c.URL, c.Log, now.Unix(), now.Unix()).Scan(&id); err != nil {
			return err
		}
		return checkEvents(ctx, tx, c, id, now)
	})
	if err != nil {
		if _, serr := s.Series(ctx, c.SeriesID); serr != nil {
			return nil, serr
		}
		return nil, fmt.Errorf("set check: %w", err)
	}
	return s.check(ctx, id)
}

const checkCols = `id, series_id, patch_index, context, state, description, url, log, created, updated`

func scanCheck(sc scanner) (*Check, error) {
	var c Check
	var created, updated int64
	if err := sc.Scan(&c.ID, &c.SeriesID, &c.PatchIndex, &c.Context, &c.State, &c.Description, &c.URL, &c.Log, &created, &updated); err != nil {
		return nil, err
	}
	c.Created, c.Updated = time.Unix(created, 0).UTC(), time.Unix(updated, 0).UTC()
	return &c, nil
}

func (s *DB) check(ctx context.Context, id int64) (*Check, error) {
	c, err := scanCheck(s.r.QueryRowContext(ctx, `SELECT `+checkCols+` FROM checks WHERE id = ?`, id))
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("check %d", id))
	}
	return c, nil
}

// CheckByID implements Store.
func (s *DB) CheckByID(ctx context.Context, id int64) (*Check, error) { return s.check(ctx, id) }

// Checks implements Store.
func (s *DB) Checks(ctx context.Context, seriesID int64) ([]Check, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+checkCols+` FROM checks WHERE series_id = ? ORDER BY patch_index, context`, seriesID)
	return collect(rows, err, "checks", scanCheck)
}

// checkEvents records check-created for the check's patch, or for every
// patch of its series when it is on the whole series (patchwork's checks
// are on patches; the API shows a series' check on each of them).
func checkEvents(ctx context.Context, tx *sql.Tx, c *Check, id int64, at time.Time) error {
	rows, err := tx.QueryContext(ctx, `SELECT p.id, s.list_id FROM patches p JOIN series s ON s.id = p.series_id
		WHERE p.series_id = ? AND (? = 0 OR p.idx = ?) ORDER BY p.idx`, c.SeriesID, c.PatchIndex, c.PatchIndex)
	if err != nil {
		return err
	}
	var evs []eventRow
	for rows.Next() {
		e := eventRow{category: EventCheckCreated, seriesID: c.SeriesID, checkID: id, actor: c.By}
		if err := rows.Scan(&e.patchID, &e.listID); err != nil {
			rows.Close()
			return err
		}
		evs = append(evs, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	return insertEvents(ctx, tx, at, evs)
}
