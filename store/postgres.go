package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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
//   - round trips, which cost more than most statements: the driver
//     prepares statements once per connection and sends a write
//     transaction's deferred statements (writeTx.later) with its next
//     read or its commit; new rows take their ids from their sequences in
//     blocks (writeTx.newID), so their INSERTs are deferred too; a new
//     message's INSERT waits for its series (held.go), and a patch's or
//     cover letter's lookup asks what series assembly asks next, as
//     Revisions asks every clue to an older revision at once; an import
//     tells the transaction its batch (Expect), whose lookups then come
//     from two queries for all (expect.go, expect_series.go);
//   - writers: a write transaction becomes the writer of each list it
//     writes to, waiting for that list's earlier writer (lockList): what
//     the store's writers read and decide inside a transaction about one
//     list (its next UID, the thread and series a message joins) is as
//     consistent as on SQLite, and a list's UIDs are handed out in commit
//     order, while writers of different lists, on any node, go on side by
//     side. Writes not tied to a list rely on row locks, unique keys and
//     conditional updates instead (pgWrites says which, for each);
//   - change notices: every write transaction sends NOTIFY patchwell,
//     delivered to every node at commit (Changes); Generation is the
//     database's snapshot, which changes when any transaction commits;
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
		return nil, fmt.Errorf("%w: --db %q: want postgres://USER:PASSWORD@HOST/DATABASE (or empty for SQLite in the data directory)", ErrInvalid, RedactURL(db))
	}
	return OpenPostgres(ctx, db)
}

// RedactURL hides a password in a database URL for messages.
func RedactURL(u string) string {
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
		return nil, fmt.Errorf("open database %s: %w", RedactURL(url), err)
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
		return nil, fmt.Errorf("open database %s: %w", RedactURL(url), err)
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
		// A newer node migrated it (compat.go): run beside it unless it
		// has had a contract migration this binary predates. (A binary
		// that knows no compatibility left no compatible_from: refused.)
		compat := v
		var cols int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'schema_version' AND column_name = 'compatible_from'`).Scan(&cols); err != nil {
			return fmt.Errorf("read schema compatibility: %w", err)
		}
		if cols > 0 {
			if err := tx.QueryRowContext(ctx, `SELECT compatible_from FROM schema_version`).Scan(&compat); err != nil {
				return fmt.Errorf("read schema compatibility: %w", err)
			}
		}
		if err := checkNewer(v, len(pgMigrations), compat); err != nil {
			return err
		}
		return tx.Commit()
	}
	if v == len(pgMigrations) {
		return tx.Commit()
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE schema_version ADD COLUMN IF NOT EXISTS compatible_from BIGINT NOT NULL DEFAULT 0`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for i := v; i < len(pgMigrations); i++ {
		if _, err := tx.ExecContext(ctx, pgMigrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE schema_version SET version = ?, compatible_from = ?`, len(pgMigrations),
		compatibleFrom(contractPGMigrations, len(pgMigrations))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return tx.Commit()
}

// pgWrites: what keeps each kind of write right on PostgreSQL, where
// writers of different lists run side by side (on SQLite there is one
// writer at a time).
//
//   - Mail into a list (Update: AddMessage, series assembly), a series'
//     status (SetSeriesStatus), imported status history (ImportAccounts):
//     the list's writer lock (lockList), held to commit. Series, threads,
//     patches, refs and a list's next UID are only written under it.
//   - Accounts: a unique address (CreateUser); disabling or a new password
//     updates the user's row and ends its sessions in one transaction, and
//     CreateSession inserts only after a FOR SHARE read of that row that
//     waits for such an update and sees its result; Confirm and
//     TakeSubConfirmation consume their row with DELETE ... RETURNING
//     (once: a second DELETE finds nothing); tokens, roles, sessions,
//     subscribers, rules, held messages, checks, repositories, secrets:
//     single-row inserts, upserts and conditional updates, which the row
//     lock orders and PostgreSQL re-checks on the newest row version.
//   - Queues: a CI job (ClaimJob) and a due delivery (claimDue) are
//     claimed with FOR UPDATE SKIP LOCKED, so two nodes never take the
//     same one; leases, results and retries are updates conditional on
//     the row's state and owner. An outbox message is marked sent under
//     its row's lock, taken in id order, after its deliveries' updates.
//   - Webhook events: unique by key (ON CONFLICT DO NOTHING); the
//     subscriptions they go to are read FOR SHARE, so a deletion waits or
//     has happened, never fails the event's deliveries' foreign key.
//   - Lists: a unique name; policy and visibility update the list's row.
//
// The lock keys: class 7340862 with a list's id (its low 32 bits: two
// lists sharing a key only wait for each other); migrations use class
// 7340861.
const (
	pgLockList    = `SELECT pg_advisory_xact_lock(7340862, CAST(? AS integer))`
	pgTryLockList = `SELECT pg_try_advisory_xact_lock(7340862, CAST(? AS integer))`
)

// lockKey is list's advisory lock key.
func lockKey(list int64) int32 { return int32(list) }

// pgNotify is in every write transaction on PostgreSQL: the notice
// reaches every listening node at commit (not before, nor after a
// rollback). Update's transactions send it with their first list lock
// (a round trip fewer), or before commit when they take none.
const pgNotify = `NOTIFY patchwell`

// beginWrite begins a write transaction that sends pgNotify (the caller
// holds s.mu).
func (s *DB) beginWrite(ctx context.Context) (*sql.Tx, error) {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	if s.pg {
		if _, err := tx.ExecContext(ctx, pgNotify); err != nil {
			tx.Rollback()
			return nil, err
		}
	}
	return tx, nil
}

// rowLock is a locking clause to end a SELECT with on PostgreSQL (FOR
// SHARE, FOR UPDATE SKIP LOCKED ...), nothing on SQLite, whose one
// writer needs none.
func (s *DB) rowLock(clause string) string {
	if s.pg {
		return " " + clause
	}
	return ""
}

// lockConflict ends an attempt of Update that found a list it reached out
// of order busy: Update runs fn again with lists locked first.
type lockConflict struct{ lists []int32 }

func (c *lockConflict) Error() string {
	return fmt.Sprintf("lists %v taken out of order (retried)", c.lists)
}

// lockLists makes tx the writer of the lists with these keys, in
// ascending order (it holds no other list yet), waiting for each list's
// earlier writer; a no-op on SQLite.
func (s *DB) lockLists(ctx context.Context, tx *sql.Tx, keys ...int32) error {
	if !s.pg {
		return nil
	}
	slices.Sort(keys)
	for _, k := range slices.Compact(keys) {
		if _, err := tx.ExecContext(ctx, pgLockList, k); err != nil {
			return fmt.Errorf("lock list: %w", err)
		}
	}
	return nil
}

// lockAllLists makes tx the writer of every list (store-wide writes such
// as ImportAccounts).
func (s *DB) lockAllLists(ctx context.Context, tx *sql.Tx) error {
	if !s.pg {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT id FROM lists`)
	if err != nil {
		return fmt.Errorf("lock lists: %w", err)
	}
	var keys []int32
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("lock lists: %w", err)
		}
		keys = append(keys, lockKey(id))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock lists: %w", err)
	}
	return s.lockLists(ctx, tx, keys...)
}

// lockList makes the transaction the writer of list on PostgreSQL, at its
// first statement about that list, until it commits. Lists are taken in
// ascending key order, waiting for a busy one; a list below one already
// held is only tried, and when it is busy the transaction stops
// (lockConflict) and Update runs it again with all its lists taken first,
// in order. So no two transactions ever wait for each other's lists.
func (t *writeTx) lockList(ctx context.Context, list int64) error {
	if !t.pg {
		return nil
	}
	if t.conflict != nil {
		return t.conflict
	}
	k := lockKey(list)
	if slices.Contains(t.locked, k) {
		return nil
	}
	if len(t.locked) == 0 || k > slices.Max(t.locked) {
		q := pgLockList
		if !t.notified {
			q += `, pg_notify('patchwell', '')`
		}
		// Deferred: it runs before the next statement, the first read of
		// the list, in that statement's round trip.
		if err := t.later(ctx, q, k); err != nil {
			return fmt.Errorf("lock list %d: %w", list, err)
		}
		t.notified = true
	} else {
		var ok bool
		if err := t.queryRow(ctx, pgTryLockList, k).Scan(&ok); err != nil {
			return fmt.Errorf("lock list %d: %w", list, err)
		}
		if !ok {
			t.conflict = &lockConflict{append(slices.Clone(t.locked), k)}
			return t.conflict
		}
	}
	t.locked = append(t.locked, k)
	return nil
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

// pgStats counts the messages this handle stored since it last had
// PostgreSQL analyze the tables mail goes into.
type pgStats struct {
	mu    sync.Mutex
	added int   // since the last ANALYZE
	at    int64 // messages then (pg_class.reltuples)
}

// grew notes that a committed transaction stored n messages, and has the
// tables mail goes into analyzed when the messages have doubled since the
// last time (at least 1,000 more). PostgreSQL plans statements from table
// statistics that autovacuum gathers at most once a minute: a bulk load
// into a new store ran its first minute on plans made for empty tables,
// which found a message's duplicate by scanning the whole list
// (messages_msgid on list_id, filtered by sha256), each time.
func (s *DB) grew(ctx context.Context, n int) {
	s.stats.mu.Lock()
	s.stats.added += n
	due := s.stats.added >= max(1000, int(s.stats.at))
	if due {
		s.stats.added = 0
	}
	s.stats.mu.Unlock()
	if !due {
		return
	}
	// Best effort: autovacuum analyzes them too, later.
	ctx = context.WithoutCancel(ctx)
	if _, err := s.w.ExecContext(ctx, `ANALYZE messages, refs, threads, series, patches`); err != nil {
		return
	}
	var at float64
	if err := s.w.QueryRowContext(ctx, `SELECT reltuples FROM pg_class WHERE oid = CAST('messages' AS regclass)`).Scan(&at); err == nil {
		s.stats.mu.Lock()
		s.stats.at = int64(at)
		s.stats.mu.Unlock()
	}
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

// pgGeneration is a hash of the database's current snapshot (the
// transactions that have and have not ended, as PostgreSQL's visibility
// rules use them): two reads that return the same snapshot see the same
// committed data, and a commit anywhere changes it. It changes without a
// write of ours too (an aborted transaction, another database of the
// server): a cache then misses once more, no harm. No writer waits on a
// counter for it.
func (s *DB) pgGeneration(ctx context.Context) (uint64, error) {
	var snap string
	if err := s.r.QueryRowContext(ctx, `SELECT CAST(pg_current_snapshot() AS text)`).Scan(&snap); err != nil {
		return 0, fmt.Errorf("data version: %w", err)
	}
	h := fnv.New64a()
	h.Write([]byte(snap))
	return h.Sum64(), nil
}
