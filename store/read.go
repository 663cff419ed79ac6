package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Read-side helpers for caches above the store.
//
// Queries that look a message up by Message-ID order by m.id, not m.uid:
// within one list both grow with arrival (reindex replays in UID order),
// and m.id is the rowid every index ends with, so SQLite reads
// messages_msgid or messages_thread in order. ORDER BY m.uid made it walk
// the whole list by messages_uid instead (0.7 ms for one message of 20,000).

// ThreadVersion identifies the state of one thread: a message added to it,
// or merged into it, changes Messages and LastUID. Caches of what only
// depends on a thread's messages key on it.
type ThreadVersion struct {
	ThreadID int64
	Messages int
	LastUID  uint32
}

// generation reads PRAGMA data_version on a connection that never
// writes: its value changes whenever another connection (the writer, or
// another process such as `patchwell import`) commits. The value is per
// connection, so a new connection starts a new epoch.
type generation struct {
	mu    sync.Mutex
	db    *sql.DB
	conn  *sql.Conn
	stmt  *sql.Stmt // PRAGMA data_version on conn
	epoch uint64
}

func (s *DB) openGeneration(dsn string) error {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	db.SetMaxOpenConns(1)
	s.gen.db = db
	return nil
}

// Generation implements Store. A cache of anything derived from the store
// reads it BEFORE reading the data it caches and keys the entry on it: a
// write that commits after that read changes it for later lookups. One
// small query (some microseconds), serialised.
func (s *DB) Generation(ctx context.Context) (uint64, error) {
	if s.pg {
		return s.pgGeneration(ctx)
	}
	s.gen.mu.Lock()
	defer s.gen.mu.Unlock()
	ctx = context.WithoutCancel(ctx)
	if s.gen.conn == nil {
		c, err := s.gen.db.Conn(ctx)
		if err != nil {
			return 0, fmt.Errorf("data version: %w", err)
		}
		st, err := c.PrepareContext(ctx, "PRAGMA data_version")
		if err != nil {
			c.Close()
			return 0, fmt.Errorf("data version: %w", err)
		}
		s.gen.conn, s.gen.stmt = c, st
		s.gen.epoch++
	}
	var v uint64
	if err := s.gen.stmt.QueryRowContext(ctx).Scan(&v); err != nil {
		s.gen.stmt.Close()
		s.gen.conn.Close()
		s.gen.conn, s.gen.stmt = nil, nil
		return 0, fmt.Errorf("data version: %w", err)
	}
	return s.gen.epoch<<40 | v, nil
}

func (s *DB) closeGeneration() {
	s.gen.mu.Lock()
	defer s.gen.mu.Unlock()
	if s.gen.conn != nil {
		s.gen.stmt.Close()
		s.gen.conn.Close()
		s.gen.conn, s.gen.stmt = nil, nil
	}
	if s.gen.db != nil {
		s.gen.db.Close()
	}
}

// readStmts caches the prepared statements of hot read queries on the
// reader pool (database/sql prepares each on a connection once).
//
// Point queries of a few microseconds run without the request's
// cancellation (pointQuery): mattn/go-sqlite3 watches a cancellable
// context with a goroutine per statement, which doubled their cost.
type readStmts struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (s *DB) readStmt(ctx context.Context, q string) (*sql.Stmt, error) {
	s.rs.mu.Lock()
	defer s.rs.mu.Unlock()
	if st, ok := s.rs.m[q]; ok {
		return st, nil
	}
	st, err := s.r.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if s.rs.m == nil {
		s.rs.m = map[string]*sql.Stmt{}
	}
	s.rs.m[q] = st
	return st, nil
}

// pointRow runs a prepared point query (an index lookup, no scan) without
// cancellation.
func (s *DB) pointRow(ctx context.Context, q string, args ...any) (*sql.Row, error) {
	st, err := s.readStmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryRowContext(context.WithoutCancel(ctx), args...), nil
}

func (s *DB) closeReadStmts() {
	s.rs.mu.Lock()
	defer s.rs.mu.Unlock()
	for _, st := range s.rs.m {
		st.Close()
	}
	s.rs.m = nil
}

const threadVersionQuery = `SELECT m.thread_id, t.messages, t.last_uid FROM messages m JOIN threads t ON t.id = m.thread_id
	WHERE m.list_id = (SELECT id FROM lists WHERE name = ?) AND m.message_id = ? ORDER BY m.id LIMIT 1`

// ThreadVersion implements Store.
func (s *DB) ThreadVersion(ctx context.Context, list, messageID string) (*ThreadVersion, error) {
	row, err := s.pointRow(ctx, threadVersionQuery, list, messageID)
	if err != nil {
		return nil, fmt.Errorf("thread version: %w", err)
	}
	var v ThreadVersion
	err = row.Scan(&v.ThreadID, &v.Messages, &v.LastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %q: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("thread version: %w", err)
	}
	return &v, nil
}

// Thread implements Store.
func (s *DB) Thread(ctx context.Context, id int64) (*Thread, error) {
	row, err := s.pointRow(ctx, `SELECT t.id, COALESCE(m.subject, ''), COALESCE(m.message_id, ''), t.messages, t.first_date, t.last_date
		FROM threads t LEFT JOIN messages m ON m.id = t.root WHERE t.id = ?`, id)
	if err != nil {
		return nil, fmt.Errorf("thread: %w", err)
	}
	var th Thread
	var first, last int64
	err = row.Scan(&th.ID, &th.Subject, &th.RootMessageID, &th.Messages, &first, &last)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("thread %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("thread: %w", err)
	}
	th.FirstDate, th.LastDate = timeOrZero(first), timeOrZero(last)
	return &th, nil
}
