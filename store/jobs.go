package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Job states.
const (
	JobQueued  = "queued"
	JobRunning = "running"
	JobHeld    = "held" // waiting for a maintainer's go-ahead
	JobDone    = "done"
	JobFailed  = "failed" // the runner gave up (not: the check failed)
)

// MaxJobAttempts is how many leases a job may lapse before it is marked
// failed instead of claimed again (a check that kills its runner every
// time).
const MaxJobAttempts = 5

// ErrLeaseLost means the job is no longer the caller's: its lease lapsed
// and another runner claimed it, or it was finished.
var ErrLeaseLost = errors.New("job lease lost")

// Job is one CI run of a revision (a series), claimed by one runner at a
// time under a lease.
type Job struct {
	ID           int64     `json:"id"`
	SeriesID     int64     `json:"series_id"`
	State        string    `json:"state"`
	Attempts     int       `json:"attempts"`
	LeaseOwner   string    `json:"lease_owner,omitempty"`
	LeaseExpires time.Time `json:"lease_expires"`
	Released     bool      `json:"released"` // a maintainer gave the go-ahead
	LastError    string    `json:"last_error,omitempty"`
	Created      time.Time `json:"created"`
	Updated      time.Time `json:"updated"`
}

// Jobs is the durable CI job queue: the CI area of Store.
type Jobs interface {
	// SeriesWithoutJob returns complete, open series of lists with a
	// repository that have no CI job yet, oldest first.
	SeriesWithoutJob(ctx context.Context, limit int) ([]int64, error)
	// EarlierAccepted reports whether the series' submitter had an
	// earlier series applied or approved on the same list (the
	// first-time contributor gate).
	EarlierAccepted(ctx context.Context, seriesID int64) (bool, error)
	// EnqueueJob queues a job for the series unless it has one already
	// (in any state); created says which.
	EnqueueJob(ctx context.Context, seriesID int64) (j *Job, created bool, err error)
	// ClaimJob leases the oldest due job (queued, or running with its
	// lease lapsed) to owner until now+lease; nil when none is due.
	ClaimJob(ctx context.Context, owner string, lease time.Duration) (*Job, error)
	// RenewJob extends owner's lease; ErrLeaseLost when it is not
	// owner's running job any more.
	RenewJob(ctx context.Context, id int64, owner string, lease time.Duration) error
	// FinishJob ends owner's running job in state (done, failed or held)
	// and records its checks in the same transaction, so a runner whose
	// lease lapsed records nothing: ErrLeaseLost.
	FinishJob(ctx context.Context, id int64, owner, state, lastError string, checks []Check) error
	// ReleaseJob gives a held job the go-ahead: it is queued again with
	// Released set. ErrNotFound for an unknown job, ErrInvalid when it
	// is not held.
	ReleaseJob(ctx context.Context, id int64) (*Job, error)
	// RetryJob queues a done or failed job again (a maintainer's "run
	// CI again"), attempts reset; ErrInvalid when it is queued, running
	// or held.
	RetryJob(ctx context.Context, id int64) (*Job, error)
	Job(ctx context.Context, id int64) (*Job, error)
	JobForSeries(ctx context.Context, seriesID int64) (*Job, error)
	// JobList returns the jobs in state ("" for all), oldest first.
	JobList(ctx context.Context, state string, p Page) ([]Job, error)
}

const jobCols = `id, series_id, state, attempts, lease_owner, lease_expires, released, last_error, created, updated`

func scanJob(sc scanner) (*Job, error) {
	var j Job
	var exp, created, updated int64
	if err := sc.Scan(&j.ID, &j.SeriesID, &j.State, &j.Attempts, &j.LeaseOwner, &exp, &j.Released, &j.LastError, &created, &updated); err != nil {
		return nil, err
	}
	j.LeaseExpires = time.UnixMilli(exp).UTC()
	j.Created, j.Updated = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
	return &j, nil
}

// EnqueueJob implements Jobs.
func (s *DB) EnqueueJob(ctx context.Context, seriesID int64) (*Job, bool, error) {
	now := time.Now().UnixMilli()
	res, err := s.write(ctx, `INSERT INTO jobs(series_id, created, updated) VALUES(?,?,?) ON CONFLICT(series_id) DO NOTHING`, seriesID, now, now)
	if err != nil {
		if _, serr := s.Series(ctx, seriesID); serr != nil {
			return nil, false, serr
		}
		return nil, false, fmt.Errorf("enqueue job: %w", err)
	}
	n, _ := res.RowsAffected()
	j, err := s.JobForSeries(ctx, seriesID)
	return j, n == 1, err
}

// ClaimJob implements Jobs.
func (s *DB) ClaimJob(ctx context.Context, owner string, lease time.Duration) (*Job, error) {
	if owner == "" || len(owner) > 200 {
		return nil, fmt.Errorf("%w: a runner name of 1 to 200 bytes", ErrInvalid)
	}
	var j *Job
	err := s.Update(ctx, func(tx Tx) error {
		t := tx.(*writeTx)
		now := time.Now().UnixMilli()
		if _, err := t.exec(ctx, `UPDATE jobs SET state = 'failed', lease_owner = '', updated = ?1,
			last_error = 'the runner stopped (lease lapsed) ' || attempts || ' times'
			WHERE state = 'running' AND lease_expires < ?1 AND attempts >= ?2`, now, MaxJobAttempts); err != nil {
			return err
		}
		var err error
		// SKIP LOCKED on PostgreSQL: a job another node is claiming is
		// passed over, not claimed twice.
		j, err = scanJob(t.queryRow(ctx, `UPDATE jobs SET state = 'running', attempts = attempts + 1,
			lease_owner = ?1, lease_expires = ?2, updated = ?3
			WHERE id = (SELECT id FROM jobs WHERE state = 'queued' OR (state = 'running' AND lease_expires < ?3) ORDER BY id LIMIT 1`+
			s.rowLock("FOR UPDATE SKIP LOCKED")+`)
			RETURNING `+jobCols, owner, now+lease.Milliseconds(), now))
		if errors.Is(err, sql.ErrNoRows) {
			j, err = nil, nil
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// RenewJob implements Jobs.
func (s *DB) RenewJob(ctx context.Context, id int64, owner string, lease time.Duration) error {
	now := time.Now().UnixMilli()
	res, err := s.write(ctx, `UPDATE jobs SET lease_expires = ?, updated = ? WHERE id = ? AND lease_owner = ? AND state = 'running' AND lease_expires >= ?`,
		now+lease.Milliseconds(), now, id, owner, now)
	if err != nil {
		return fmt.Errorf("renew job %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("job %d: %w", id, ErrLeaseLost)
	}
	return nil
}

// FinishJob implements Jobs.
func (s *DB) FinishJob(ctx context.Context, id int64, owner, state, lastError string, checks []Check) error {
	if state != JobDone && state != JobFailed && state != JobHeld {
		return fmt.Errorf("%w: job state %q", ErrInvalid, state)
	}
	if len(lastError) > 2000 {
		lastError = lastError[:2000]
	}
	for _, c := range checks {
		if !ValidCheckState(c.State) || c.Context == "" || len(c.Context) > 200 || len(c.Description) > 2000 || len(c.URL) > 2000 {
			return fmt.Errorf("%w: check %q state %q", ErrInvalid, c.Context, c.State)
		}
	}
	return s.Update(ctx, func(tx Tx) error {
		t := tx.(*writeTx)
		now := time.Now().UnixMilli()
		var seriesID int64
		err := t.queryRow(ctx, `UPDATE jobs SET state = ?, last_error = ?, lease_owner = '', lease_expires = 0, updated = ?
			WHERE id = ? AND lease_owner = ? AND state = 'running' RETURNING series_id`, state, lastError, now, id, owner).Scan(&seriesID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("job %d: %w", id, ErrLeaseLost)
		}
		if err != nil {
			return fmt.Errorf("finish job %d: %w", id, err)
		}
		for _, c := range checks {
			log := c.Log
			if len(log) > maxCheckLog {
				log = log[len(log)-maxCheckLog:]
			}
			if _, err := t.exec(ctx, `INSERT INTO checks(series_id, patch_index, context, state, description, url, log, created, updated)
				VALUES(?,?,?,?,?,?,?,?,?) ON CONFLICT(series_id, patch_index, context) DO UPDATE SET
				state = excluded.state, description = excluded.description, url = excluded.url, log = excluded.log, updated = excluded.updated`,
				seriesID, c.PatchIndex, c.Context, c.State, c.Description, c.URL, log, now/1000, now/1000); err != nil {
				return fmt.Errorf("record check %q: %w", c.Context, err)
			}
		}
		return nil
	})
}

// ReleaseJob implements Jobs.
func (s *DB) ReleaseJob(ctx context.Context, id int64) (*Job, error) {
	res, err := s.write(ctx, `UPDATE jobs SET state = 'queued', released = 1, updated = ? WHERE id = ? AND state = 'held'`, time.Now().UnixMilli(), id)
	if err != nil {
		return nil, fmt.Errorf("release job %d: %w", id, err)
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return j, fmt.Errorf("%w: job %d is %s, not held", ErrInvalid, id, j.State)
	}
	return j, nil
}

// RetryJob implements Jobs.
func (s *DB) RetryJob(ctx context.Context, id int64) (*Job, error) {
	res, err := s.write(ctx, `UPDATE jobs SET state = 'queued', attempts = 0, last_error = '', updated = ? WHERE id = ? AND state IN ('done', 'failed')`, time.Now().UnixMilli(), id)
	if err != nil {
		return nil, fmt.Errorf("retry job %d: %w", id, err)
	}
	j, err := s.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return j, fmt.Errorf("%w: job %d is %s, not done or failed", ErrInvalid, id, j.State)
	}
	return j, nil
}

// Job implements Jobs.
func (s *DB) Job(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("job %d", id))
	}
	return j, nil
}

// JobForSeries implements Jobs.
func (s *DB) JobForSeries(ctx context.Context, seriesID int64) (*Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE series_id = ?`, seriesID))
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("job of series %d", seriesID))
	}
	return j, nil
}

// JobList implements Jobs.
func (s *DB) JobList(ctx context.Context, state string, p Page) ([]Job, error) {
	limit := p.Limit
	if limit <= 0 || limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE (?1 = '' OR state = ?1) ORDER BY id LIMIT ?3 OFFSET ?2`, state, p.Offset, limit)
	return collect(rows, err, "jobs", scanJob)
}

// SeriesWithoutJob implements Store.
func (s *DB) SeriesWithoutJob(ctx context.Context, limit int) ([]int64, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT s.id FROM series s JOIN list_repos r ON r.list_id = s.list_id
		WHERE s.received >= s.total AND s.total > 0 AND s.pull_url = '' AND s.status IN ('proposed', 'needs_revision', 'approved')
		AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.series_id = s.id) ORDER BY s.id LIMIT ?`, limit)
	return collect(rows, err, "series without job", func(sc scanner) (*int64, error) {
		var id int64
		return &id, sc.Scan(&id)
	})
}

// EarlierAccepted implements Store.
func (s *DB) EarlierAccepted(ctx context.Context, seriesID int64) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM series o JOIN series s ON s.id = ?1
		WHERE o.list_id = s.list_id AND o.submitter_email = s.submitter_email AND o.id != s.id
		AND o.status IN ('applied', 'approved')`, seriesID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("earlier series: %w", err)
	}
	return n > 0, nil
}
