package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	sqlite3 "github.com/mattn/go-sqlite3"

	"patchwell/store/internal/pgsql"
)

// The PostgreSQL backend is the same DB on a PostgreSQL server, for
// deployments of several nodes (patchwell serve processes) on one
// database. What differs from SQLite, and where:
//
//   - SQL spelling: the driver rewrites the queries (store/internal/pgsql)
//     and the schema has its own history (pgschema.go);
//   - writers: every write transaction starts by bumping the one row of
//     the table generation (beginWrite). Its row lock serialises the
//     writers of every node, as SQLite's single writer does within one
//     data directory, so what the store's writers read and decide inside
//     a transaction (the next UID of a list, the series a patch joins, the
//     job a runner claims) is as consistent as on SQLite, UIDs are handed
//     out in commit order, and no two nodes take the same job or delivery;
//   - change notices: the same statement sends NOTIFY patchwell, delivered
//     to every node at commit (Watch); Generation reads the counter;
//   - full-text search: a tsvector per message built from the same words
//     (search.go).

// IsPostgresURL reports whether db names a PostgreSQL database
// (postgres:// or postgresql://), as --db does.
func IsPostgresURL(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// OpenAt opens the store --data and --db name: the SQLite database in
// dir when db is "", else the PostgreSQL database db (dir then holds only
// files: repository mirrors, CI worktrees).
func OpenAt(ctx context.Context, dir, db string) (*DB, error) {
	if db == "" {
		return Open(ctx, dir)
	}
	return openPostgresURL(ctx, db)
}

// OpenExisting is OpenAt for commands that work on a store but must not
// create one: a data directory without a database (a mistyped --data, or
// none given away from the server's directory) is ErrNoDatabase, not a
// new empty store.
func OpenExisting(ctx context.Context, dir, db string) (*DB, error) {
	if db == "" {
		if _, err := os.Stat(filepath.Join(dir, DBFile)); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("%w in %s (give the server's --data DIR or --db URL; patchwell serve creates one)", ErrNoDatabase, dir)
			}
			return nil, fmt.Errorf("open store: %w", err)
		}
		return Open(ctx, dir)
	}
	return openPostgresURL(ctx, db)
}

func openPostgresURL(ctx context.Context, db string) (*DB, error) {
	if !IsPostgresURL(db) {
		return nil, fmt.Errorf("%w: --db %q: want postgres://USER:PASSWORD@HOST/DATABASE (or empty for SQLite in the data directory)", ErrInvalid, redactURL(db))
	}
	return OpenPostgres(ctx, db)
}

// redactURL hides a password in a database URL for messages.
func redactURL(u string) string {
	at := strings.LastIndexByte(u, '@')
	scheme := strings.Index(u, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return u
	}
	cred := u[scheme+3 : at]
	if i := strings.IndexByte(cred, ':'); i >= 0 {
		return u[:scheme+3] + cred[:i] + ":xxx" + u[at:]
	}
	return u
}

// OpenPostgres opens (migrating if needed) the store in the PostgreSQL
// database url, through the driver in store/internal/pgsql (the store's
// SQL rewritten for PostgreSQL, arguments as typed bind parameters).
func OpenPostgres(ctx context.Context, url string) (*DB, error) {
	c, err := pgsql.NewConnector(url)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", redactURL(url), err)
	}
	open := func(n int) *sql.DB {
		db := sql.OpenDB(c)
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxIdleTime(5 * time.Minute)
		return db
	}
	w := open(4)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database %s: %w", redactURL(url), err)
	}
	s := &DB{w: w, pg: true, url: url}
	if err := s.migratePG(ctx); err != nil {
		w.Close()
		return nil, err
	}
	s.r = open(16)
	return s, nil
}

// migratePG brings the schema to the binary's version. Nodes starting
// together wait for each other on an advisory lock.
func (s *DB) migratePG(ctx context.Context) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7340861, 1)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT version FROM schema_version`).Scan(&v); errors.Is(err, sql.ErrNoRows) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_version VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(pgMigrations) {
		return fmt.Errorf("%w: database %d, binary %d", ErrNewerDB, v, len(pgMigrations))
	}
	if v == len(pgMigrations) {
		return nil
	}
	for i := v; i < len(pgMigrations); i++ {
		if _, err := tx.ExecContext(ctx, pgMigrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?`, len(pgMigrations)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}

// pgWriteLock starts every write transaction on PostgreSQL: the row lock
// on generation serialises writers across nodes, the new value is what
// Generation reads once this commits, and the notice reaches every
// listening node at commit (not before, nor after a rollback).
const pgWriteLock = `WITH g AS (UPDATE generation SET n = n + 1 RETURNING n)
	SELECT pg_notify('patchwell', g.n::text) FROM g`

// beginWrite begins a write transaction (the caller holds s.mu).
func (s *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if s.pg {
		if _, err := tx.ExecContext(ctx, pgWriteLock); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return tx, nil
}

// inWrite runs fn in one write transaction and commits it.
func (s *DB) inWrite(ctx context.Context, fn func(tx *sql.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// isUnique reports whether err is a violated UNIQUE or PRIMARY KEY
// constraint, on either backend.
func isUnique(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintUnique || se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// isForeignKey reports whether err is a violated foreign key.
func isForeignKey(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		return se.ExtendedCode == sqlite3.ErrConstraintForeignKey
	}
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23503"
}

// syncSequences moves PostgreSQL's id sequences past rows inserted with
// explicit ids (imports); SQLite needs nothing.
func (s *DB) syncSequences(ctx context.Context, tx *sql.Tx) error {
	if !s.pg {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT table_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND column_name = 'id' AND is_identity = 'YES'`)
	if err != nil {
		return fmt.Errorf("identity columns: %w", err)
	}
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			rows.Close()
			return fmt.Errorf("identity columns: %w", err)
		}
		tables = append(tables, t)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("identity columns: %w", err)
	}
	for _, t := range tables {
		if _, err := tx.ExecContext(ctx, `SELECT setval(pg_get_serial_sequence('`+t+`', 'id'),
			GREATEST((SELECT max(id) FROM `+t+`), 0) + 1, false)`); err != nil {
			return fmt.Errorf("sequence of %s: %w", t, err)
		}
	}
	return nil
}

// pgGeneration reads the write counter.
func (s *DB) pgGeneration(ctx context.Context) (uint64, error) {
	var n int64
	if err := s.r.QueryRowContext(ctx, `SELECT n FROM generation`).Scan(&n); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	return uint64(n), nil
}
