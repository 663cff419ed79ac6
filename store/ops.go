package store

// Operations: what serve's /metrics and /healthz read, and the online
// backup. Read-only: nothing here writes to the database.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
)

// QueueDepths are the lengths of the durable queues.
type QueueDepths struct {
	OutboundPending int64 // deliveries of list mail not yet sent or given up
	JobsQueued      int64
	JobsRunning     int64
	JobsHeld        int64
	WebhooksPending int64 // webhook deliveries not yet delivered or given up
}

// QueueDepths counts what waits in the outbound, CI and webhook queues:
// one statement of five counts, each over a range of an index whose
// first column is state (deliveries_due, jobs_due, webhook_deliveries_due),
// so its cost grows with what is waiting, not with what was ever queued.
func (s *DB) QueueDepths(ctx context.Context) (*QueueDepths, error) {
	var d QueueDepths
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM deliveries WHERE state = 'pending'),
		(SELECT count(*) FROM jobs WHERE state = 'queued'),
		(SELECT count(*) FROM jobs WHERE state = 'running'),
		(SELECT count(*) FROM jobs WHERE state = 'held'),
		(SELECT count(*) FROM webhook_deliveries WHERE state = 'pending')`).
		Scan(&d.OutboundPending, &d.JobsQueued, &d.JobsRunning, &d.JobsHeld, &d.WebhooksPending)
	if err != nil {
		return nil, fmt.Errorf("queue depths: %w", err)
	}
	return &d, nil
}

// Ping runs a trivial query that reads the database file (the first page
// of the lists table), for health checks.
func (s *DB) Ping(ctx context.Context) error {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM lists LIMIT 1) AS one`).Scan(&n); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// ErrOutExists is Backup's refusal to replace a file.
var ErrOutExists = errors.New("file exists")

// Backup writes a consistent copy of the database in dir to the new file
// out, while a server may be writing to it: SQLite's VACUUM INTO reads one
// snapshot (a read transaction; writers in WAL mode are not blocked), and
// the raw messages are rows of the database, so the copy is whole. The
// database is opened read-only and never migrated (a newer binary may
// back up an older server's database). The copy is written beside out
// under a temporary name, fsynced (VACUUM INTO does not sync), and
// hard-linked to out, which fails if out appeared meanwhile: an existing
// file is never replaced (ErrOutExists).
func Backup(ctx context.Context, dir, out string) error {
	path := filepath.Join(dir, DBFile)
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("no database in %s: %w", dir, err)
	}
	if _, err := os.Lstat(out); err == nil {
		return fmt.Errorf("%s: %w, not overwritten", out, ErrOutExists)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("backup: %w", err)
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Set("_busy_timeout", "10000")
	db, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		return fmt.Errorf("backup: open database: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	var b [8]byte
	rand.Read(b[:])
	tmp := filepath.Join(filepath.Dir(out), "."+filepath.Base(out)+".partial-"+hex.EncodeToString(b[:]))
	defer os.Remove(tmp)
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Link(tmp, out); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s: %w, not overwritten", out, ErrOutExists)
		}
		return fmt.Errorf("backup: %w", err)
	}
	if err := os.Remove(tmp); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := syncFile(filepath.Dir(out)); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// syncFile fsyncs a file or a directory.
func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
