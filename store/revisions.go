package store

import (
	"context"
	"fmt"
	"strings"
)

// Revisions implements Tx. The clues are looked up all at once, though
// the caller may take the first that answers: a series rarely has an
// older revision, so it mostly asks for all of them anyway, and on
// PostgreSQL the four lookups then cost one round trip instead of four.
func (t *writeTx) Revisions(ctx context.Context, listID int64, s *Series, norm, commitSubject string) (*Revisions, error) {
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	if t.pg {
		x := t.expect.seriesIndex()
		if r, ok := x.revisions(listID, s, norm, commitSubject); ok {
			return r, nil
		}
		r, err := t.revisionsPG(ctx, listID, s, norm, commitSubject)
		if err == nil {
			x.saw(listID, r.ByName)
			x.saw(listID, r.ByPatchSubject)
		}
		return r, err
	}
	r := &Revisions{}
	var err error
	if r.ByName, err = t.findPrevious(ctx, listID, s, norm); err != nil {
		return nil, err
	}
	if commitSubject != "" {
		if r.ByPatchSubject, err = t.seriesWithPatchSubject(ctx, listID, s.Submitter.Email, commitSubject); err != nil {
			return nil, err
		}
	}
	pids, err := t.patchIDs(ctx, s.ID)
	if err != nil {
		return nil, err
	}
	r.PatchIDs = len(pids)
	if len(pids) > 0 {
		if r.ByPatchIDs, err = t.SeriesWithPatchIDs(ctx, listID, pids); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// revisionsPG asks what findPrevious, seriesWithPatchSubject, patchIDs
// and SeriesWithPatchIDs ask, with the same conditions and limits, in
// one query: each part of the UNION ALL says which it is (its first
// column) and, for a patch-id's hits, which patch of s found them (its
// second), or for the last part how many patches s has.
var revisionsPG = `(SELECT 0, 0, ` + txSeriesCols + ` FROM series s
		WHERE s.list_id = ?1 AND s.submitter_email = ?2 AND s.norm_subject = ?3 AND s.id < ?4 LIMIT 200)
	UNION ALL
	(SELECT 1, 0, ` + txSeriesCols + ` FROM series s
		WHERE s.list_id = ?1 AND s.change_id = ?5 AND s.change_id != '' AND s.id < ?4 LIMIT 200)
	UNION ALL
	(SELECT 2, 0, ` + txSeriesCols + ` FROM (SELECT series_id FROM patches WHERE commit_subject = ?6 AND ?6 != '') c
		CROSS JOIN series s ON s.id = c.series_id
		WHERE s.list_id = ?1 AND s.submitter_email = ?2 LIMIT 200)
	UNION ALL
	(SELECT 3, p0.idx, x.* FROM patches p0 JOIN LATERAL (SELECT ` + strings.Replace(txSeriesCols, "''", "'' AS list", 1) + `
			FROM patches p JOIN series s ON s.id = p.series_id
			WHERE p.patch_id = p0.patch_id AND p.patch_id != '' AND s.list_id = ?1 LIMIT 50) x ON true
		WHERE p0.series_id = ?4 AND p0.patch_id != '')
	UNION ALL
	(SELECT 4, (SELECT count(*) FROM patches WHERE series_id = ?4), ` + txSeriesCols + ` FROM series s WHERE s.id = ?4)`

func (t *writeTx) revisionsPG(ctx context.Context, listID int64, s *Series, norm, commitSubject string) (*Revisions, error) {
	rows, err := t.query(ctx, revisionsPG, listID, s.Submitter.Email, norm, s.ID, s.ChangeID, commitSubject)
	if err != nil {
		return nil, fmt.Errorf("revisions: %w", err)
	}
	defer rows.Close()
	r := &Revisions{ByPatchIDs: map[int64]int{}}
	seen := map[[2]int64]bool{} // (patch of s, series)
	for rows.Next() {
		var part, n int64
		x, err := scanSeries(scanWith{rows, []any{&part, &n}})
		if err != nil {
			return nil, fmt.Errorf("revisions: %w", err)
		}
		switch part {
		case 0, 1:
			r.ByName = append(r.ByName, *x)
		case 2:
			r.ByPatchSubject = append(r.ByPatchSubject, *x)
		case 3:
			if k := [2]int64{n, x.ID}; !seen[k] {
				seen[k] = true
				r.ByPatchIDs[x.ID]++
			}
		case 4:
			r.PatchIDs = int(n)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revisions: %w", err)
	}
	r.ByName, _ = newestFirst(r.ByName, nil)
	r.ByPatchSubject, _ = newestFirst(r.ByPatchSubject, nil)
	return r, nil
}

// scanWith scans columns into head first, then into what Scan is given.
type scanWith struct {
	sc   scanner
	head []any
}

func (s scanWith) Scan(dst ...any) error { return s.sc.Scan(append(s.head, dst...)...) }
