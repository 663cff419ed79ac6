package store

import (
	"context"
	"fmt"
	"time"
)

// ViewedFile is a file of a series' patch that a user marked viewed on
// the series page: the patch by its index in the series, the file by
// its path (the new path; the old one of a deleted file). The marks
// belong to the account, not to the mail: a reindex does not carry them.
type ViewedFile struct {
	UserID   int64
	SeriesID int64
	Patch    int
	Path     string
	At       time.Time
}

// SetViewed implements Reviews.
func (s *DB) SetViewed(ctx context.Context, v ViewedFile, viewed bool) error {
	if v.UserID <= 0 || v.SeriesID <= 0 || v.Patch <= 0 || v.Path == "" {
		return fmt.Errorf("viewed file %+v: %w", v, ErrInvalid)
	}
	var err error
	if viewed {
		if v.At.IsZero() {
			v.At = time.Now()
		}
		_, err = s.write(ctx, `INSERT INTO viewed_files (user_id, series_id, patch, path, viewed_at) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (user_id, series_id, patch, path) DO UPDATE SET viewed_at = excluded.viewed_at`,
			v.UserID, v.SeriesID, v.Patch, v.Path, v.At.Unix())
	} else {
		_, err = s.write(ctx, `DELETE FROM viewed_files WHERE user_id = ? AND series_id = ? AND patch = ? AND path = ?`,
			v.UserID, v.SeriesID, v.Patch, v.Path)
	}
	if err != nil {
		return fmt.Errorf("set viewed: %w", err)
	}
	return nil
}

// ViewedFiles implements Reviews.
func (s *DB) ViewedFiles(ctx context.Context, userID, seriesID int64) ([]ViewedFile, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT patch, path, viewed_at FROM viewed_files
		WHERE user_id = ? AND series_id = ? ORDER BY patch, path`, userID, seriesID)
	if err != nil {
		return nil, fmt.Errorf("viewed files: %w", err)
	}
	defer rows.Close()
	var out []ViewedFile
	for rows.Next() {
		v := ViewedFile{UserID: userID, SeriesID: seriesID}
		var at int64
		if err := rows.Scan(&v.Patch, &v.Path, &at); err != nil {
			return nil, fmt.Errorf("viewed files: %w", err)
		}
		v.At = time.Unix(at, 0).UTC()
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("viewed files: %w", err)
	}
	return out, nil
}
