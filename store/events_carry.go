package store

import (
	"context"
	"fmt"
)

// EventRecord is a stored change event (the events table: a patch's
// state or delegate changed, a check was posted) as a reindex, migrate or
// a whole export carries it: what it is about is named by list and
// Message-ID (patches, series and checks get new ids in the rebuild), a
// check by its series, patch index and context. Actor and, for
// patch-delegated, Previous and Current are user ids.
type EventRecord struct {
	List, Category  string
	Date            int64
	Actor           int64
	PatchMessageID  string // "" for none
	SeriesMessageID string // "" for none
	HasCheck        bool
	// CheckSeriesMessageID, CheckIndex and CheckContext name the check.
	CheckSeriesMessageID string
	CheckIndex           int
	CheckContext         string
	Previous, Current    string
}

// ExportEvents returns the stored change events, oldest first.
func (s *DB) ExportEvents(ctx context.Context) ([]EventRecord, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT l.name, e.category, e.date, e.actor,
		COALESCE((SELECT m.message_id FROM patches p JOIN messages m ON m.id = p.message WHERE p.id = e.patch_id), ''),
		COALESCE((SELECT se.message_id FROM series se WHERE se.id = e.series_id), ''),
		COALESCE((SELECT se.message_id FROM checks c JOIN series se ON se.id = c.series_id WHERE c.id = e.check_id), ''),
		COALESCE((SELECT c.patch_index FROM checks c WHERE c.id = e.check_id), 0),
		COALESCE((SELECT c.context FROM checks c WHERE c.id = e.check_id), ''),
		e.prev_value, e.new_value
		FROM events e JOIN lists l ON l.id = e.list_id ORDER BY e.id`)
	return collect(rows, err, "export events", func(sc scanner) (*EventRecord, error) {
		var r EventRecord
		if err := sc.Scan(&r.List, &r.Category, &r.Date, &r.Actor, &r.PatchMessageID, &r.SeriesMessageID,
			&r.CheckSeriesMessageID, &r.CheckIndex, &r.CheckContext, &r.Previous, &r.Current); err != nil {
			return nil, err
		}
		r.HasCheck = r.CheckContext != ""
		return &r, nil
	})
}

// ImportEvents stores events exported by ExportEvents, finding what they
// are about again, in one transaction; an event whose patch, series or
// check is not found is dropped and counted.
func (s *DB) ImportEvents(ctx context.Context, rs []EventRecord) (dropped int, err error) {
	if len(rs) == 0 {
		return 0, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("import events: %w", err)
	}
	defer tx.Rollback()
	lists := map[string]int64{}
	for _, r := range rs {
		listID, ok := lists[r.List]
		if !ok {
			if err := tx.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, r.List).Scan(&listID); err != nil {
				return dropped, userErr(err, "list "+r.List)
			}
			lists[r.List] = listID
		}
		var patchID, seriesID, checkID int64
		found := true
		find := func(dst *int64, q string, args ...any) {
			if found {
				if err := tx.QueryRowContext(ctx, q, args...).Scan(dst); err != nil {
					found = false
				}
			}
		}
		if r.PatchMessageID != "" {
			find(&patchID, `SELECT p.id FROM patches p JOIN series se ON se.id = p.series_id JOIN messages m ON m.id = p.message
				WHERE se.list_id = ? AND m.message_id = ? ORDER BY p.id LIMIT 1`, listID, r.PatchMessageID)
		}
		if r.SeriesMessageID != "" {
			find(&seriesID, `SELECT id FROM series WHERE list_id = ? AND message_id = ? ORDER BY id LIMIT 1`, listID, r.SeriesMessageID)
		}
		if r.HasCheck {
			find(&checkID, `SELECT c.id FROM checks c JOIN series se ON se.id = c.series_id
				WHERE se.list_id = ? AND se.message_id = ? AND c.patch_index = ? AND c.context = ? ORDER BY c.id LIMIT 1`,
				listID, r.CheckSeriesMessageID, r.CheckIndex, r.CheckContext)
		}
		if !found {
			dropped++
			continue
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO events(list_id, category, date, actor, patch_id, series_id, check_id, prev_value, new_value)
			VALUES(?,?,?,?,?,?,?,?,?)`, listID, r.Category, r.Date, r.Actor, patchID, seriesID, checkID, r.Previous, r.Current); err != nil {
			return dropped, fmt.Errorf("import events: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return dropped, fmt.Errorf("import events: %w", err)
	}
	return dropped, nil
}
