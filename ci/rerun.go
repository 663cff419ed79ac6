package ci

import (
	"context"
	"errors"
	"fmt"

	"patchwell/store"
)

// Rerun queues a series' CI job again (a maintainer's "re-run the
// checks", web.CIRerunner): its checks are run afresh on the list's
// branch as it is now. store.ErrNotFound when the series has no job
// (CI never took it: no repository, or not complete yet),
// store.ErrConflict when its job is queued, running or waiting for a
// go-ahead.
func (s *Scheduler) Rerun(ctx context.Context, seriesID int64) error {
	j, err := s.cfg.Store.JobForSeries(ctx, seriesID)
	if err != nil {
		return err
	}
	if j.State != store.JobDone && j.State != store.JobFailed {
		return fmt.Errorf("job %d is %s: %w", j.ID, j.State, store.ErrConflict)
	}
	if _, err := s.runner.Retry(ctx, j.ID); errors.Is(err, store.ErrInvalid) {
		return fmt.Errorf("job %d: %w", j.ID, store.ErrConflict) // taken meanwhile
	} else if err != nil {
		return err
	}
	s.log.Info("ci: job queued again by a maintainer", "series", seriesID, "job", j.ID)
	if s.cfg.Notify != nil {
		if se, err := s.cfg.Store.Series(ctx, seriesID); err == nil {
			s.cfg.Notify.SeriesChanged(ctx, se)
		}
	}
	return nil
}
