package review

import (
	"context"
	"fmt"
	"time"

	"patchwell/store"
)

// SetViewed marks the file at path of patch (its index) of series
// seriesID viewed by user userID, or clears the mark. The path is the
// file's new path, its old one when the patch deletes it;
// store.ErrNotFound when the series has no such patch or the patch does
// not touch such a file.
func (s *Service) SetViewed(ctx context.Context, userID, seriesID int64, patch int, path string, viewed bool) error {
	ps, err := s.st.Patches(ctx, seriesID)
	if err != nil {
		return err
	}
	for _, p := range ps {
		if p.Index != patch {
			continue
		}
		for _, f := range p.Files {
			if f.Path == path || f.OldPath == path {
				return s.st.SetViewed(ctx, store.ViewedFile{UserID: userID, SeriesID: seriesID, Patch: patch, Path: path, At: time.Now()}, viewed)
			}
		}
	}
	return fmt.Errorf("patch %d of series %d, file %q: %w", patch, seriesID, path, store.ErrNotFound)
}

// ViewedFiles returns the files of series seriesID that user userID
// marked viewed, by patch then path.
func (s *Service) ViewedFiles(ctx context.Context, userID, seriesID int64) ([]store.ViewedFile, error) {
	return s.st.ViewedFiles(ctx, userID, seriesID)
}
