package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	sqlite3 "github.com/mattn/go-sqlite3"

	"patchwell/core"
	"patchwell/store/internal/pgsql"
)

// DBFile is the SQLite database's file name inside the data directory.
const DBFile = "patchwell.db"

var (
	zenc, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	zdec, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
)

var listName = regexp.MustCompile(`^[a-z0-9._-]+$`)

// driverName is mattn/go-sqlite3 with per-connection settings the DSN
// cannot carry: temporary B-trees (UNION, DISTINCT, ORDER BY) in memory, not
// in temp files, which cost a file per query.
const driverName = "sqlite3_patchwell"

func init() {
	sql.Register(driverName, &sqlite3.SQLiteDriver{
		ConnectHook: func(c *sqlite3.SQLiteConn) error {
			_, err := c.Exec("PRAGMA temp_store = MEMORY", nil)
			return err
		},
	})
}

// ValidListName reports whether name may be a list name.
func ValidListName(name string) bool {
	switch name {
	case ".", "..", "api", "series", "static", "all",
		"signin", "signout", "signup", "confirm", "account", "bundle":
		return false // paths of the web UI
	}
	return len(name) <= 64 && listName.MatchString(name)
}

// DB is the SQL store. Open gives the embedded default: one SQLite
// database file in the data directory, WAL mode, synchronous=FULL (a 250
// reply promises the mail is safe). OpenPostgres gives the same store on
// a PostgreSQL server (store/postgres.go), for several nodes.
type DB struct {
	w      *sql.DB // one connection: the single writer
	r      *sql.DB // readers
	mu     sync.Mutex
	rs     readStmts  // prepared hot read queries (read.go)
	gen    generation // PRAGMA data_version on a connection of its own (read.go)
	pg     bool       // PostgreSQL (postgres.go), not SQLite
	url    string     // the PostgreSQL database's URL
	listen listener   // LISTEN for Changes (listen.go)
	stats  pgStats    // when to ANALYZE (postgres.go)
}

// Open opens (creating if needed) the SQLite store in dir and migrates it.
func Open(ctx context.Context, dir string) (*DB, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	path := filepath.Join(dir, DBFile)
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_busy_timeout", "10000")
	q.Set("_foreign_keys", "on")
	q.Set("_synchronous", "FULL")
	q.Set("_txlock", "immediate")
	q.Set("_cache_size", "-65536")
	w, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	// Checkpoint every 16 MB of WAL rather than 4: bulk imports rewrite
	// the same index pages, and fewer checkpoints copy them fewer times.
	if _, err := w.ExecContext(ctx, "PRAGMA wal_autocheckpoint = 4000"); err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	s := &DB{w: w}
	if err := s.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	if err := s.fillWireSizes(ctx); err != nil {
		w.Close()
		return nil, err
	}
	q.Set("_txlock", "deferred")
	q.Set("_query_only", "true")
	r, err := sql.Open(driverName, "file:"+path+"?"+q.Encode())
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open database: %w", err)
	}
	r.SetMaxOpenConns(8)
	// Keep them all: database/sql keeps 2 idle by default, and a reader
	// closed and reopened under load loses its page cache and prepared
	// statements.
	r.SetMaxIdleConns(8)
	s.r = r
	if err := s.openGeneration("file:" + path + "?" + q.Encode()); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *DB) migrate(ctx context.Context) error {
	var v int
	if err := s.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if v > len(migrations) {
		// A newer binary migrated it (compat.go): run on it unless it
		// has had a contract migration this binary predates. (A binary
		// that knows no compatibility left no schema_compat: refused.)
		compat := v
		var tables int
		if err := s.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_compat'`).Scan(&tables); err != nil {
			return fmt.Errorf("read schema compatibility: %w", err)
		}
		if tables > 0 {
			if err := s.w.QueryRowContext(ctx, `SELECT COALESCE(MAX(compatible_from), 0) FROM schema_compat`).Scan(&compat); err != nil {
				return fmt.Errorf("read schema compatibility: %w", err)
			}
		}
		return checkNewer(v, len(migrations), compat)
	}
	if v == len(migrations) {
		return nil
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_compat (compatible_from INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM schema_compat`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_compat VALUES (?)`, compatibleFrom(contractMigrations, len(migrations))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrate to version %d: %w", i+1, err)
		}
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Close closes the database.
func (s *DB) Close() error {
	s.closeListener()
	s.closeReadStmts()
	err := s.r.Close()
	s.closeGeneration()
	if err2 := s.w.Close(); err == nil {
		err = err2
	}
	return err
}

// CreateList implements Store.
func (s *DB) CreateList(ctx context.Context, l List) (*List, error) {
	if !ValidListName(l.Name) {
		return nil, fmt.Errorf("%w: %q (use lowercase letters, digits, '.', '_' and '-')", ErrBadName, l.Name)
	}
	if l.Created.IsZero() {
		l.Created = time.Now()
	}
	if l.UIDValidity == 0 { // a new list; reindex keeps the old one's
		var b [4]byte
		rand.Read(b[:])
		l.UIDValidity = binary.BigEndian.Uint32(b[:])&0x7fffffff | 1
	}
	if l.Visibility == "" {
		l.Visibility = VisibilityPublic
	}
	if !ValidVisibility(l.Visibility) {
		return nil, fmt.Errorf("%w: visibility %q (public, unlisted or private)", ErrInvalid, l.Visibility)
	}
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, `INSERT INTO lists(name, description, owner, created, uidvalidity, visibility) VALUES(?,?,?,?,?,?) RETURNING id`,
			l.Name, l.Description, l.Owner, l.Created.Unix(), l.UIDValidity, l.Visibility).Scan(&l.ID)
	})
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("list %q: %w", l.Name, ErrExists)
		}
		return nil, fmt.Errorf("create list: %w", err)
	}
	return &l, nil
}

// listCols reads a list with its counts without counting messages: the
// counters are kept by triggers (migration 4), the open series come from
// the series_list index, the last arrival from the newest UID.
const listCols = `l.id, l.name, l.description, l.owner, l.created, l.uidvalidity, l.visibility,
	l.message_count, l.series_count,
	(SELECT count(*) FROM series s WHERE s.list_id = l.id AND s.status IN ('proposed','needs_revision','approved')),
	COALESCE((SELECT m.arrived FROM messages m WHERE m.list_id = l.id ORDER BY m.uid DESC LIMIT 1), 0)`

func scanList(sc interface{ Scan(...any) error }) (*List, error) {
	var l List
	var created, last int64
	if err := sc.Scan(&l.ID, &l.Name, &l.Description, &l.Owner, &created, &l.UIDValidity, &l.Visibility,
		&l.Messages, &l.Series, &l.OpenSeries, &last); err != nil {
		return nil, err
	}
	l.Created = time.Unix(created, 0).UTC()
	if last > 0 {
		l.LastActivity = time.Unix(last, 0).UTC()
	}
	return &l, nil
}

// Lists implements Store.
func (s *DB) Lists(ctx context.Context) ([]List, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+listCols+` FROM lists l ORDER BY l.name`)
	return collect(rows, err, "lists", func(sc scanner) (*List, error) { return scanList(sc) })
}

// List implements Store.
func (s *DB) List(ctx context.Context, name string) (*List, error) {
	l, err := scanList(s.r.QueryRowContext(ctx, `SELECT `+listCols+` FROM lists l WHERE l.name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	return l, nil
}

// Update implements Store. Writers are serialised (on PostgreSQL, the
// writers of each list: see lockList); fn runs in one transaction that is
// committed (fsynced) before Update returns. On PostgreSQL fn may run more
// than once: an attempt that reached a busy list out of order is rolled
// back and run again with its lists taken first.
func (s *DB) Update(ctx context.Context, fn func(Tx) error) error {
	var lists []int32
	for {
		err := s.update(ctx, fn, lists)
		var c *lockConflict
		if !errors.As(err, &c) {
			return err
		}
		lists = c.lists // more lists each time: fn touches finitely many
	}
}

// update is one attempt of Update, with the lists of keys lists locked
// first.
func (s *DB) update(ctx context.Context, fn func(Tx) error, lists []int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.w.BeginTx(ctx, nil) // pgNotify comes later
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := s.lockLists(ctx, tx, lists...); err != nil {
		tx.Rollback()
		return err
	}
	t := &writeTx{pg: s.pg, tx: tx, stmts: map[string]*sql.Stmt{}, uids: map[int64]uint32{}, threads: map[int64]*threadDelta{},
		locked: slices.Clone(lists)}
	defer t.close()
	err = fn(t)
	if t.conflict != nil { // whatever fn made of it
		err = t.conflict
	}
	if err != nil {
		tx.Rollback()
		return err
	}
	if err := t.flush(ctx); err != nil {
		tx.Rollback()
		return err
	}
	if err := t.writeIndex(ctx); err != nil {
		tx.Rollback()
		return err
	}
	if t.pg && !t.notified {
		if err := t.later(ctx, pgNotify); err != nil {
			tx.Rollback()
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if t.pg {
		s.grew(ctx, t.added)
	}
	return nil
}

type writeTx struct {
	pg    bool
	tx    *sql.Tx
	stmts map[string]*sql.Stmt
	// Written once per transaction rather than once per message (flush):
	// the next UID of each list touched, and each thread's new counts.
	uids    map[int64]uint32
	threads map[int64]*threadDelta
	// The search rows of the transaction's messages, written last (see
	// writeIndex); on PostgreSQL made into tsvectors as they come.
	index   []indexRow
	vectors vectors
	// On PostgreSQL, the raw bytes too: a few multi-row INSERTs at the
	// end save a round trip per message (writeIndexPG).
	raws []rawRow
	// On PostgreSQL, the lock keys of the lists this transaction writes
	// (lockList), and the list it found busy out of order.
	locked   []int32
	conflict *lockConflict
	notified bool // pgNotify sent
	added    int  // messages stored (not duplicates)
	// On PostgreSQL, what the transaction adds to each list's counters
	// (flush), and the ids it fetched for new rows (newID).
	counts map[int64]*listCounts
	ids    map[idKey]*idBlock
	// On PostgreSQL, MessageSeries's answer about the last added
	// message's references, asked with its lookUp.
	seriesOf *seriesOf
	// On PostgreSQL, the threads the transaction created, whose rows
	// flush inserts with their counts: no UPDATE follows.
	newThreads map[int64]newThread
	// On PostgreSQL, the refs rows of the transaction's messages not yet
	// sent (list, Message-ID, thread each): see writeRefs.
	refRows []any
	// On PostgreSQL, what the transaction knows of the messages an import
	// said it would add (Expect).
	expect *expected
	// On PostgreSQL, the last added messages' INSERTs, held back (see
	// holdMessage), and the first error of sending one.
	held []*heldMessage
	// On PostgreSQL, the series' INSERTs and UPDATEs held back, in the
	// order they came (see holdSeries).
	heldSeries  map[int64]*heldSeries
	seriesOrder []int64
	quiet       int
	releaseErr  error
}

type listCounts struct{ messages, series int }

// pgThreadRows is the most rows of one INSERT INTO threads (flush).
const pgThreadRows = 1000

// newThread is a thread created by the transaction: its list, and the
// root depth it starts with.
type newThread struct{ list, depth int64 }

func (t *writeTx) count(list int64) *listCounts {
	if t.counts == nil {
		t.counts = map[int64]*listCounts{}
	}
	c := t.counts[list]
	if c == nil {
		c = &listCounts{}
		t.counts[list] = c
	}
	return c
}

// threadDelta is what the transaction's messages add to a thread.
type threadDelta struct {
	messages        int
	first, last     int64
	lastUID         uint32
	root, rootDepth int64
}

func (d *threadDelta) add(date int64, uid uint32, id int64, depth int) {
	d.messages++
	if date != 0 && (d.first == 0 || date < d.first) {
		d.first = date
	}
	d.last = max(d.last, date)
	d.lastUID = max(d.lastUID, uid)
	if d.root == 0 || int64(depth) < d.rootDepth {
		d.root, d.rootDepth = id, int64(depth)
	}
}

// flush writes the pending UIDs and thread counts, and on PostgreSQL the
// lists' message and series counters (SQLite's triggers keep those; see
// PostgreSQL migration 4).
func (t *writeTx) flush(ctx context.Context) error {
	if err := t.release(ctx); err != nil {
		return err
	}
	if err := t.writeRefs(ctx); err != nil {
		return err
	}
	if t.pg {
		for list, c := range t.counts {
			if err := t.later(ctx, `UPDATE lists SET next_uid = max(next_uid, ?), message_count = message_count + ?,
				series_count = series_count + ? WHERE id = ?`, t.uids[list], c.messages, c.series, list); err != nil {
				return fmt.Errorf("store list counts: %w", err)
			}
		}
		clear(t.counts)
	} else {
		for list, next := range t.uids {
			if err := t.later(ctx, `UPDATE lists SET next_uid = ? WHERE id = ?`, next, list); err != nil {
				return fmt.Errorf("store next uid: %w", err)
			}
		}
	}
	clear(t.uids)
	var created []any // new threads' rows, in multi-row INSERTs below
	for tid, d := range t.threads {
		if nt, ok := t.newThreads[tid]; ok {
			// As the UPDATE below makes of a new thread's row.
			created = append(created, tid, nt.list, d.root, d.rootDepth, d.messages, d.first, max(d.last, 0), d.lastUID)
			delete(t.newThreads, tid)
			continue
		}
		if err := t.later(ctx, `UPDATE threads SET messages = messages + ?1,
			first_date = CASE WHEN first_date = 0 OR (?2 != 0 AND ?2 < first_date) THEN ?2 ELSE first_date END,
			last_date = max(last_date, ?3), last_uid = max(last_uid, ?4),
			root = CASE WHEN root = 0 OR ?6 < root_depth THEN ?5 ELSE root END,
			root_depth = CASE WHEN root = 0 OR ?6 < root_depth THEN ?6 ELSE root_depth END
			WHERE id = ?7`, d.messages, d.first, d.last, d.lastUID, d.root, d.rootDepth, tid); err != nil {
			return fmt.Errorf("update thread: %w", err)
		}
	}
	clear(t.threads)
	for len(created) > 0 {
		n := min(len(created), 8*pgThreadRows)
		if err := t.later(ctx, `INSERT INTO threads(id, list_id, root, root_depth, messages, first_date, last_date, last_uid)
			VALUES `+valueRows(n/8, 8), created[:n]...); err != nil {
			return fmt.Errorf("new thread: %w", err)
		}
		created = created[n:]
	}
	for tid, nt := range t.newThreads { // none yet with a message
		if err := t.later(ctx, `INSERT INTO threads(id, list_id, root, root_depth) VALUES(?, ?, 0, ?)`, tid, nt.list, nt.depth); err != nil {
			return fmt.Errorf("new thread: %w", err)
		}
	}
	clear(t.newThreads)
	return nil
}

// nextUID hands out the list's next UID; flush stores the counter.
func (t *writeTx) nextUID(ctx context.Context, list int64) (uint32, error) {
	next, ok := t.uids[list]
	if !ok {
		if err := t.queryRow(ctx, `SELECT next_uid FROM lists WHERE id = ?`, list).Scan(&next); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return 0, fmt.Errorf("list %d: %w", list, ErrNotFound)
			}
			return 0, fmt.Errorf("assign uid: %w", err)
		}
	}
	t.uids[list] = next + 1
	t.count(list).messages++
	return next, nil
}

func (t *writeTx) close() {
	t.vectors.wait() // ends its goroutine
	for _, st := range t.stmts {
		st.Close()
	}
}

// Statements inside a write transaction run without cancellation:
// mattn/go-sqlite3 watches a cancellable context with a goroutine per
// statement, which costs more than the statement. The transaction itself
// still honours the caller's context (database/sql rolls it back), and
// SQLite statements do not block beyond busy_timeout.

func (t *writeTx) stmt(ctx context.Context, q string) (*sql.Stmt, error) {
	if st, ok := t.stmts[q]; ok {
		return st, nil
	}
	st, err := t.tx.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	t.stmts[q] = st
	return st, nil
}

// insert adds a row to table (cols: its columns but id, then their
// values) and returns its id: on SQLite from INSERT ... RETURNING id; on
// PostgreSQL taken beforehand from the table's sequence (newID) and the
// INSERT deferred (later), which saves a round trip per row.
func (t *writeTx) insert(ctx context.Context, table string, list int64, cols string, args ...any) (int64, error) {
	if !t.pg {
		var id int64
		err := t.queryRow(ctx, `INSERT INTO `+table+`(`+cols+`) VALUES(`+placeholders(len(args))+`) RETURNING id`, args...).Scan(&id)
		return id, err
	}
	id, err := t.newID(ctx, table, list)
	if err != nil {
		return 0, err
	}
	return id, t.later(ctx, `INSERT INTO `+table+`(id, `+cols+`) VALUES(`+placeholders(len(args)+1)+`)`, append([]any{id}, args...)...)
}

// newID takes the next id of table's sequence for a row of list, from a
// block the transaction fetched: 1 id, then 2, 4 ... 256, each block in
// one round trip. A list's ids are fetched after its writer lock is
// taken, so they grow in commit order as before; the ids a transaction
// does not use are lost (as a rolled back INSERT's are).
func (t *writeTx) newID(ctx context.Context, table string, list int64) (int64, error) {
	defer t.keepHeld()() // sequences only
	if t.ids == nil {
		t.ids = map[idKey]*idBlock{}
	}
	k := idKey{table, list}
	b := t.ids[k]
	if b == nil {
		b = &idBlock{}
		t.ids[k] = b
	}
	if len(b.free) == 0 {
		b.size = min(max(2*b.size, 1), 256)
		rows, err := t.query(ctx, `SELECT nextval(pg_get_serial_sequence(?, 'id')) FROM generate_series(1, ?)`, table, b.size)
		if err != nil {
			return 0, fmt.Errorf("new %s id: %w", table, err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return 0, fmt.Errorf("new %s id: %w", table, err)
			}
			b.free = append(b.free, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return 0, fmt.Errorf("new %s id: %w", table, err)
		}
		if len(b.free) == 0 {
			return 0, fmt.Errorf("new %s id: no id from its sequence", table)
		}
	}
	id := b.free[0]
	b.free = b.free[1:]
	return id, nil
}

// addIDs gives newID ids of k's table it fetched otherwise (Expect).
func (t *writeTx) addIDs(k idKey, ids []int64) {
	if len(ids) == 0 {
		return
	}
	if t.ids == nil {
		t.ids = map[idKey]*idBlock{}
	}
	slices.Sort(ids)
	b := t.ids[k]
	if b == nil {
		b = &idBlock{size: 128} // the next block is of 256
		t.ids[k] = b
	}
	b.free = append(b.free, ids...)
}

type idKey struct {
	table string
	list  int64
}

type idBlock struct {
	free []int64
	size int
}

// later runs a statement whose result nobody reads: on PostgreSQL it
// waits for the transaction's next statement, or its commit, and goes in
// the same round trip (pgsql.Defer); its error shows there. Every read
// runs after what was deferred before it, so the transaction sees its
// own writes as ever.
func (t *writeTx) later(ctx context.Context, q string, args ...any) error {
	if t.pg {
		args = append([]any{pgsql.Defer}, args...)
	}
	_, err := t.exec(ctx, q, args...)
	return err
}

func (t *writeTx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	t.release(ctx)
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(context.WithoutCancel(ctx), args...)
}

func (t *writeTx) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	t.release(ctx)
	st, err := t.stmt(ctx, q)
	if err != nil {
		// Surface the prepare error through a failing query.
		return t.tx.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(context.WithoutCancel(ctx), args...)
}

func (t *writeTx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	t.release(ctx)
	st, err := t.stmt(ctx, q)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(context.WithoutCancel(ctx), args...)
}

// Prepare computes the hash and the compressed form of m.Raw, so that the
// work can happen outside the write transaction. AddMessage calls it when
// the caller did not.
func (m *NewMessage) Prepare() {
	if m.sum != nil {
		return
	}
	h := sha256.Sum256(m.Raw)
	m.sum = h[:]
	m.zraw = zenc.EncodeAll(m.Raw, make([]byte, 0, len(m.Raw)/2+64))
	m.wire = WireSize(m.Raw)
	m.text = m.searchText()
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(u int64) time.Time {
	if u == 0 {
		return time.Time{}
	}
	return time.Unix(u, 0).UTC()
}

// placeholders is n comma-separated question marks.
func placeholders(n int) string {
	return "?" + strings.Repeat(",?", n-1)
}

// numbered is n placeholders numbered from first on (?4,?5 ...).
func numbered(first, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('?')
		b.WriteString(strconv.Itoa(first + i))
	}
	return b.String()
}

// generatedID is the stable Message-ID given to a message without one.
func generatedID(sum []byte) string {
	return hex.EncodeToString(sum[:16]) + "@generated.patchwell.invalid"
}

// AddMessage implements Tx.
func (t *writeTx) AddMessage(ctx context.Context, m *NewMessage) (*Added, error) {
	t.seriesOf = nil
	if err := t.lockList(ctx, m.ListID); err != nil {
		return nil, err
	}
	m.Prepare()
	// Same bytes already in the list: keep one copy. And is the
	// Message-ID taken? One query for both.
	flags := m.Flags
	if m.MessageID == "" {
		m.MessageID = generatedID(m.sum)
		flags |= FlagNoMessageID
	}
	// Thread: every id this message names (its own and its references)
	// joins one thread; threads that meet are merged.
	ids := make([]string, 0, len(m.References)+1)
	ids = append(ids, m.MessageID)
	for _, r := range m.References {
		if r != "" && r != m.MessageID {
			ids = append(ids, r)
		}
	}
	var dupID sql.NullInt64
	var idTaken bool
	var known map[string]int64 // refThreads of ids, when looked up with the rest
	var err error
	if t.pg {
		dupID, idTaken, known, err = t.lookUp(ctx, m, ids)
	} else {
		err = t.queryRow(ctx, `SELECT (SELECT id FROM messages WHERE list_id = ?1 AND sha256 = ?2),
			EXISTS(SELECT 1 FROM messages WHERE list_id = ?1 AND message_id = ?3)`, m.ListID, m.sum, m.MessageID).Scan(&dupID, &idTaken)
	}
	if err != nil {
		return nil, fmt.Errorf("look up message: %w", err)
	}
	if dupID.Valid {
		msg, err := t.message(ctx, dupID.Int64)
		if err != nil {
			return nil, err
		}
		return &Added{Message: *msg, Duplicate: true}, nil
	}
	if idTaken {
		flags |= FlagDupMessageID
	}

	uid, err := t.nextUID(ctx, m.ListID)
	if err != nil {
		return nil, err
	}
	if known == nil {
		if known, err = t.refThreads(ctx, m.ListID, ids); err != nil {
			return nil, err
		}
	}
	var tid int64
	for _, id := range known {
		if tid == 0 || id < tid {
			tid = id
		}
	}
	if tid == 0 && t.pg {
		// Its row goes in at flush, with its counts.
		if tid, err = t.newID(ctx, "threads", m.ListID); err != nil {
			return nil, fmt.Errorf("new thread: %w", err)
		}
		if t.newThreads == nil {
			t.newThreads = map[int64]newThread{}
		}
		t.newThreads[tid] = newThread{m.ListID, int64(len(ids) - 1)}
		t.expect.seriesIndex().newThread(m.ListID, tid)
	} else if tid == 0 {
		if tid, err = t.insert(ctx, "threads", m.ListID, `list_id, root, root_depth`, m.ListID, 0, len(ids)-1); err != nil {
			return nil, fmt.Errorf("new thread: %w", err)
		}
	}
	merged := map[int64]bool{tid: true}
	for _, other := range known {
		if !merged[other] {
			merged[other] = true
			if err := t.mergeThread(ctx, tid, other); err != nil {
				return nil, err
			}
		}
	}
	for _, ref := range ids {
		if _, ok := known[ref]; ok {
			continue // already in the refs table, and in tid after any merge
		}
		if t.pg { // written by writeRefs
			t.refRows = append(t.refRows, m.ListID, ref, tid)
			continue
		}
		if err := t.later(ctx, `INSERT INTO refs(list_id, message_id, thread_id) VALUES(?,?,?)`, m.ListID, ref, tid); err != nil {
			return nil, fmt.Errorf("store ref: %w", err)
		}
	}

	var trailers any
	if len(m.Trailers) > 0 {
		b, _ := json.Marshal(m.Trailers)
		trailers = string(b)
	}
	arrived := m.Arrived
	if arrived.IsZero() {
		arrived = time.Now()
	}
	row := []any{m.ListID, uid, m.MessageID, m.sum, len(m.Raw), flags, m.Subject, m.From.Name, strings.ToLower(m.From.Email),
		unixOrZero(m.Date), arrived.Unix(), m.InReplyTo, strings.Join(m.References, " "), tid, trailers, m.wire}
	var id int64
	if t.pg {
		id, err = t.holdMessage(ctx, m.ListID, row, m.Kind)
	} else {
		id, err = t.insert(ctx, "messages", m.ListID, messageRowCols+`, kind`, append(row, m.Kind)...)
	}
	if err != nil {
		return nil, fmt.Errorf("insert message: %w", err)
	}
	if t.pg {
		t.raws = append(t.raws, rawRow{id, m.zraw}) // written by writeIndexPG
	} else if _, err := t.exec(ctx, `INSERT INTO raw(id, data) VALUES(?, ?)`, id, m.zraw); err != nil {
		return nil, fmt.Errorf("insert raw: %w", err)
	}
	if len(m.Structure) > 0 {
		if err := t.later(ctx, `INSERT INTO mime_structures(id, data) VALUES(?, ?)`, id, m.Structure); err != nil {
			return nil, fmt.Errorf("insert MIME structure: %w", err)
		}
	}
	seen := make(map[string]bool, len(m.Rcpts))
	for _, e := range m.Rcpts {
		e = strings.ToLower(e)
		if e == "" || seen[e] {
			continue
		}
		seen[e] = true
		if err := t.later(ctx, `INSERT INTO message_rcpts(email, message_id) VALUES(?, ?)`, e, id); err != nil {
			return nil, fmt.Errorf("insert recipient: %w", err)
		}
	}
	t.indexMessage(id, m)
	t.expect.added(m, id, tid, ids)
	t.added++
	d := t.threads[tid]
	if d == nil {
		d = &threadDelta{}
		t.threads[tid] = d
	}
	d.add(unixOrZero(m.Date), uid, id, len(ids)-1)
	return &Added{Message: Message{
		ID: id, ListID: m.ListID, UID: uid, MessageID: m.MessageID, InReplyTo: m.InReplyTo,
		References: m.References, Subject: m.Subject, From: m.From, Date: m.Date, Arrived: arrived,
		ThreadID: tid, Size: len(m.Raw), SHA256: hex.EncodeToString(m.sum), Flags: flags, Kind: m.Kind,
		Trailers: m.Trailers,
	}}, nil
}

// lookUp is, on PostgreSQL, AddMessage's first questions in one round
// trip: the row of a message with m's bytes in its list, whether its
// Message-ID is taken there, the list's next UID (unless the transaction
// knows it), and the threads of those of ids the list has seen (the
// first 50; refThreads asks for the others). For a patch or a cover
// letter it asks MessageSeries's question about those ids too, which
// series assembly asks next (t.seriesOf).
func (t *writeTx) lookUp(ctx context.Context, m *NewMessage, ids []string) (dupID sql.NullInt64, taken bool, known map[string]int64, err error) {
	series := m.Kind == core.KindPatch || m.Kind == core.KindCover
	dupID, taken, known, cached := t.expect.answer(m, ids)
	if cached && (!series || t.expect.knowsSeries(m, ids)) {
		return dupID, taken, known, nil
	}
	head := ids[:min(len(ids), 50)]
	args := append(make([]any, 0, len(head)+3), m.ListID, m.sum, m.MessageID)
	for _, id := range head {
		args = append(args, id)
	}
	var q string
	if !cached {
		if err := t.writeRefs(ctx); err != nil {
			return dupID, false, nil, err
		}
		q = `SELECT 0, (SELECT id FROM messages WHERE list_id = ?1 AND sha256 = ?2),
			CASE WHEN EXISTS(SELECT 1 FROM messages WHERE list_id = ?1 AND message_id = ?3) THEN 1 ELSE 0 END,
			(SELECT next_uid FROM lists WHERE id = ?1), ''
		UNION ALL
		SELECT 1, thread_id, 0, 0, message_id FROM refs WHERE list_id = ?1 AND message_id IN (` + placeholders(len(head)) + `)`
	}
	var pre *seriesOf
	if series {
		// Columns: 2, the series, 0, the row (the first row of a
		// Message-ID counts, as in MessageSeries), the Message-ID.
		if q != "" {
			q += ` UNION ALL`
		}
		q += `
		SELECT 2, series_id, 0, id, message_id FROM messages
			WHERE list_id = ?1 AND series_id IS NOT NULL AND message_id IN (` + numbered(4, len(head)) + `)`
		pre = &seriesOf{list: m.ListID, ids: make(map[string]bool, len(head)), series: map[string]int64{}}
		for _, id := range head {
			pre.ids[id] = true
		}
		if m.Stem != "" {
			// Columns: 3, a series with the stem (SeriesByStem's).
			n := len(args)
			q += ` UNION ALL
		SELECT * FROM (SELECT 3, id, 0, 0, '' FROM series
			WHERE list_id = ?1 AND stem = ?` + strconv.Itoa(n+1) + ` AND stem != '' AND submitter_email = ?` + strconv.Itoa(n+2) + ` LIMIT 200) AS stems`
			args = append(args, m.Stem, strings.ToLower(m.From.Email))
			pre.stem = &stemSeries{submitter: strings.ToLower(m.From.Email), stem: m.Stem}
		}
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return dupID, false, nil, err
	}
	defer rows.Close()
	if !cached {
		known = make(map[string]int64, len(ids))
	}
	first := map[string]int64{} // the row whose series pre holds, per Message-ID
	for rows.Next() {
		var kind, dupTaken int
		var v, next sql.NullInt64
		var id string
		if err := rows.Scan(&kind, &v, &dupTaken, &next, &id); err != nil {
			return dupID, false, nil, err
		}
		if kind == 1 {
			known[id] = v.Int64
			continue
		}
		if kind == 3 {
			pre.stem.n++
			continue
		}
		if kind == 2 {
			if row, ok := first[id]; !ok || next.Int64 < row {
				first[id] = next.Int64
				pre.series[id] = v.Int64
			}
			continue
		}
		dupID, taken = v, dupTaken == 1
		if _, ok := t.uids[m.ListID]; !ok && next.Valid {
			t.uids[m.ListID] = uint32(next.Int64)
		}
	}
	if err := rows.Err(); err != nil {
		return dupID, false, nil, err
	}
	t.seriesOf = pre
	if !cached && len(ids) > len(head) {
		more, err := t.refThreads(ctx, m.ListID, ids[len(head):])
		if err != nil {
			return dupID, false, nil, err
		}
		for id, tid := range more {
			known[id] = tid
		}
	}
	return dupID, taken, known, nil
}

// refThreads maps those of ids the list has seen (as messages or as
// references) to their threads.
func (t *writeTx) refThreads(ctx context.Context, listID int64, ids []string) (map[string]int64, error) {
	if err := t.writeRefs(ctx); err != nil {
		return nil, err
	}
	return t.idMap(ctx, `SELECT message_id, thread_id FROM refs WHERE list_id = ? AND message_id IN (%s)`, "", listID, ids)
}

// idMap runs q (a query with one %s for a list of placeholders) over ids in
// chunks of 50 and maps the first column to the second; for an id that
// comes back twice, the first row wins.
func (t *writeTx) idMap(ctx context.Context, q, order string, listID int64, ids []string) (map[string]int64, error) {
	out := make(map[string]int64, len(ids))
	for start := 0; start < len(ids); start += 50 {
		chunk := ids[start:min(start+50, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, listID)
		for _, id := range chunk {
			args = append(args, id)
		}
		rows, err := t.query(ctx, fmt.Sprintf(q, placeholders(len(chunk)))+order, args...)
		if err != nil {
			return nil, fmt.Errorf("look up ids: %w", err)
		}
		for rows.Next() {
			var id string
			var v int64
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("look up ids: %w", err)
			}
			if _, ok := out[id]; !ok {
				out[id] = v
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("look up ids: %w", err)
		}
	}
	return out, nil
}

// mergeThread moves everything of thread from into thread into.
func (t *writeTx) mergeThread(ctx context.Context, into, from int64) error {
	t.expect.merged(into, from)
	if err := t.writeRefs(ctx); err != nil {
		return err
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	for _, q := range []string{
		`UPDATE messages SET thread_id = ?1 WHERE thread_id = ?2`,
		`UPDATE refs SET thread_id = ?1 WHERE thread_id = ?2`,
		`UPDATE series SET thread_id = ?1 WHERE thread_id = ?2`,
		`UPDATE threads SET
			messages = messages + (SELECT messages FROM threads WHERE id = ?2),
			first_date = CASE WHEN first_date = 0 THEN (SELECT first_date FROM threads WHERE id = ?2)
				ELSE min(first_date, COALESCE(NULLIF((SELECT first_date FROM threads WHERE id = ?2), 0), first_date)) END,
			last_date = max(last_date, (SELECT last_date FROM threads WHERE id = ?2)),
			last_uid = max(last_uid, (SELECT last_uid FROM threads WHERE id = ?2)),
			root = CASE WHEN (SELECT root_depth FROM threads WHERE id = ?2) < root_depth AND (SELECT root FROM threads WHERE id = ?2) != 0
				THEN (SELECT root FROM threads WHERE id = ?2) ELSE root END,
			root_depth = CASE WHEN (SELECT root_depth FROM threads WHERE id = ?2) < root_depth AND (SELECT root FROM threads WHERE id = ?2) != 0
				THEN (SELECT root_depth FROM threads WHERE id = ?2) ELSE root_depth END
			WHERE id = ?1`,
		`DELETE FROM threads WHERE id = ?2`,
	} {
		if err := t.later(ctx, q, into, from); err != nil {
			return fmt.Errorf("merge threads: %w", err)
		}
	}
	return nil
}

const messageCols = `m.id, m.list_id, l.name, m.uid, m.message_id, m.in_reply_to, m.refs, m.subject, m.from_name, m.from_email,
	m.date, m.arrived, m.thread_id, m.size, m.sha256, m.flags, m.kind, COALESCE(m.series_id, 0), m.trailers`

func scanMessage(sc interface{ Scan(...any) error }, extra ...any) (*Message, error) {
	var m Message
	var refs string
	var date, arrived int64
	var sum []byte
	var trailers sql.NullString
	dst := []any{&m.ID, &m.ListID, &m.List, &m.UID, &m.MessageID, &m.InReplyTo, &refs, &m.Subject, &m.From.Name, &m.From.Email,
		&date, &arrived, &m.ThreadID, &m.Size, &sum, &m.Flags, &m.Kind, &m.SeriesID, &trailers}
	if err := sc.Scan(append(dst, extra...)...); err != nil {
		return nil, err
	}
	if refs != "" {
		m.References = strings.Fields(refs)
	}
	m.Date = timeOrZero(date)
	m.Arrived = timeOrZero(arrived)
	if date == 0 {
		m.Date = m.Arrived // stored before ingest dated such messages by arrival
	}
	m.SHA256 = hex.EncodeToString(sum)
	if trailers.Valid {
		json.Unmarshal([]byte(trailers.String), &m.Trailers)
	}
	return &m, nil
}

func (t *writeTx) message(ctx context.Context, id int64) (*Message, error) {
	m, err := scanMessage(t.queryRow(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id WHERE m.id = ?`, id))
	if err != nil {
		return nil, fmt.Errorf("message %d: %w", id, err)
	}
	return m, nil
}

// MessageSeries implements Tx. When a Message-ID was reused, the first
// message's series counts: rows come in messages_msgid order, which ends
// with the rowid.
func (t *writeTx) MessageSeries(ctx context.Context, listID int64, ids []string) (map[string]int64, error) {
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	if out, ok := t.seriesOf.answer(listID, ids); ok {
		return out, nil
	}
	if out, ok := t.expect.messageSeries(listID, ids); ok {
		return out, nil
	}
	return t.idMap(ctx, `SELECT message_id, series_id FROM messages WHERE list_id = ? AND series_id IS NOT NULL AND message_id IN (%s)`,
		"", listID, ids)
}

// seriesOf is MessageSeries's answer about the ids the last AddMessage
// named, looked up with them (lookUp), until a message's series is
// written.
type seriesOf struct {
	list   int64
	ids    map[string]bool
	series map[string]int64
	// How many series SeriesByStem would find, asked with them, until a
	// series is created: when none, it need not ask.
	stem *stemSeries
}

type stemSeries struct {
	submitter, stem string
	n               int
}

// answer is MessageSeries(list, ids) from o, when o knows every id.
func (o *seriesOf) answer(list int64, ids []string) (map[string]int64, bool) {
	if o == nil || o.list != list {
		return nil, false
	}
	out := make(map[string]int64, len(ids))
	for _, id := range ids {
		if !o.ids[id] {
			if id == "" {
				continue // no message has an empty Message-ID
			}
			return nil, false
		}
		if sid, ok := o.series[id]; ok {
			out[id] = sid
		}
	}
	return out, true
}

// SetMessageSeries implements Tx.
func (t *writeTx) SetMessageSeries(ctx context.Context, rowID, seriesID int64, kind string) error {
	t.seriesOf = nil
	t.expect.setSeries(rowID, seriesID)
	var sid any
	if seriesID != 0 {
		sid = seriesID
	}
	if h := t.heldRow(rowID); h != nil {
		h.kind, h.series = kind, sid // in its INSERT
		return nil
	}
	if err := t.later(ctx, `UPDATE messages SET series_id = ?, kind = ? WHERE id = ?`, sid, kind, rowID); err != nil {
		return fmt.Errorf("set message series: %w", err)
	}
	return nil
}

const seriesCols = `s.id, l.name, s.subject, s.version, s.status, s.submitter_name, s.submitter_email, s.total, s.received,
	s.message_id, s.cover_message_id, s.date, COALESCE(s.previous, 0), COALESCE(s.superseded_by, 0), s.rfc, s.resend, s.prefix,
	s.change_id, s.base_commit, s.thread_id, s.pull_url, s.pull_ref`

// txSeriesCols reads series inside write transactions, where the list's
// name is not needed: joining lists there costs several times the query.
var txSeriesCols = strings.Replace(seriesCols, "l.name", "''", 1)

func scanSeries(sc interface{ Scan(...any) error }) (*Series, error) {
	var s Series
	var date int64
	if err := sc.Scan(&s.ID, &s.List, &s.Subject, &s.Version, &s.Status, &s.Submitter.Name, &s.Submitter.Email, &s.Total,
		&s.Received, &s.MessageID, &s.CoverMessageID, &date, &s.Previous, &s.SupersededBy, &s.RFC, &s.Resend, &s.Prefix,
		&s.ChangeID, &s.BaseCommit, &s.ThreadID, &s.PullURL, &s.PullRef); err != nil {
		return nil, err
	}
	s.Date = timeOrZero(date)
	s.Complete = s.Received >= s.Total
	return &s, nil
}

type scanner interface{ Scan(...any) error }

// collect reads every row with scan; what names the query in errors.
func collect[T any](rows *sql.Rows, err error, what string, scan func(scanner) (*T, error)) ([]T, error) {
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		out = append(out, *v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}

func collectSeries(rows *sql.Rows, err error) ([]Series, error) {
	return collect(rows, err, "series", func(sc scanner) (*Series, error) { return scanSeries(sc) })
}

// newestFirst orders candidates by version, then id, both descending. The
// write transaction's queries sort here, not in SQL: this SQLite build
// spends some 400 µs setting up any sort, even of no rows.
func newestFirst(list []Series, err error) ([]Series, error) {
	list = uniqueSeries(list)
	sort.Slice(list, func(i, j int) bool {
		if list[i].Version != list[j].Version {
			return list[i].Version > list[j].Version
		}
		return list[i].ID > list[j].ID
	})
	return list, err
}

func uniqueSeries(list []Series) []Series {
	seen := make(map[int64]bool, len(list))
	out := list[:0]
	for _, x := range list {
		if !seen[x.ID] {
			seen[x.ID] = true
			out = append(out, x)
		}
	}
	return out
}

// byIDDesc orders series newest first, each once.
func byIDDesc(list []Series, err error) ([]Series, error) {
	list = uniqueSeries(list)
	sort.Slice(list, func(i, j int) bool { return list[i].ID > list[j].ID })
	return list, err
}

// Series implements Tx.
func (t *writeTx) Series(ctx context.Context, id int64) (*Series, error) {
	defer t.keepHeld()() // series only
	x := t.expect.seriesIndex()
	if r, ok := x.row(id); ok {
		s := r.s
		return &s, nil
	}
	var list int64
	var norm string
	t.releaseSeries(ctx)
	s, err := scanSeries(scanWith{t.queryRow(ctx, `SELECT s.list_id, s.norm_subject, `+txSeriesCols+` FROM series s WHERE s.id = ?`, id),
		[]any{&list, &norm}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("series %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("series %d: %w", id, err)
	}
	x.sawNamed(list, norm, *s)
	return s, nil
}

// FindSeries implements Tx.
func (t *writeTx) FindSeries(ctx context.Context, q SeriesQuery) ([]Series, error) {
	defer t.keepHeld()() // series only
	if err := t.lockList(ctx, q.ListID); err != nil {
		return nil, err
	}
	x := t.expect.seriesIndex()
	if out, ok := x.findSeries(q); ok {
		return out, nil
	}
	t.releaseSeries(ctx)
	out, err := byIDDesc(collectSeries(t.query(ctx, `SELECT `+txSeriesCols+` FROM series s
		WHERE s.list_id = ?1 AND s.submitter_email = ?2 AND s.version = ?3 AND s.total = ?4
		  AND ((?5 != 0 AND s.thread_id = ?5) OR (?5 = 0 AND s.date >= ?6 AND s.date <= ?7))
		LIMIT 200`,
		q.ListID, q.Submitter, q.Version, q.Total, q.ThreadID, unixOrZero(q.Since), unixOrZero(q.Until))))
	x.saw(q.ListID, out)
	return out, err
}

// SeriesByStem implements Tx.
func (t *writeTx) SeriesByStem(ctx context.Context, listID int64, submitter, stem string) ([]Series, error) {
	defer t.keepHeld()() // series only
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	if o := t.seriesOf; o != nil && o.list == listID && o.stem != nil && o.stem.n == 0 &&
		o.stem.submitter == submitter && o.stem.stem == stem {
		return nil, nil // asked with the message's lookUp
	}
	if n, ok := t.expect.stemCount(listID, submitter, stem); ok && n == 0 {
		return nil, nil // asked with the batch (Expect)
	}
	t.releaseSeries(ctx)
	out, err := byIDDesc(collectSeries(t.query(ctx, `SELECT `+txSeriesCols+` FROM series s
		WHERE s.list_id = ? AND s.stem = ? AND s.stem != '' AND s.submitter_email = ? LIMIT 200`, listID, stem, submitter)))
	t.expect.seriesIndex().saw(listID, out)
	return out, err
}

// findPrevious is Revisions.ByName. Two plain index lookups: a
// submitter may have thousands of series, a subject or change-id a
// handful.
func (t *writeTx) findPrevious(ctx context.Context, listID int64, s *Series, norm string) ([]Series, error) {
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	list, err := collectSeries(t.query(ctx, `SELECT `+txSeriesCols+` FROM series s
		WHERE s.list_id = ? AND s.submitter_email = ? AND s.norm_subject = ? AND s.id < ? LIMIT 200`,
		listID, s.Submitter.Email, norm, s.ID))
	if err != nil || s.ChangeID == "" {
		return newestFirst(list, err)
	}
	more, err := collectSeries(t.query(ctx, `SELECT `+txSeriesCols+` FROM series s
		WHERE s.list_id = ? AND s.change_id = ? AND s.change_id != '' AND s.id < ? LIMIT 200`, listID, s.ChangeID, s.ID))
	return newestFirst(append(list, more...), err)
}

// SeriesWithPatchIDs implements Tx.
func (t *writeTx) SeriesWithPatchIDs(ctx context.Context, listID int64, patchIDs []string) (map[int64]int, error) {
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	var pids []string
	for _, pid := range patchIDs {
		if pid != "" {
			pids = append(pids, pid)
		}
	}
	// Up to 50 patch-ids a query, each its own part of a UNION ALL (so
	// each keeps its LIMIT), told apart by the part's number.
	out := map[int64]int{}
	for start := 0; start < len(pids); start += 50 {
		chunk := pids[start:min(start+50, len(pids))]
		parts := make([]string, len(chunk))
		args := append(make([]any, 0, len(chunk)+1), listID)
		for i, pid := range chunk {
			parts[i] = `SELECT * FROM (SELECT ` + strconv.Itoa(i) + `, p.series_id FROM patches p JOIN series s ON s.id = p.series_id
				WHERE p.patch_id = ?` + strconv.Itoa(i+2) + ` AND p.patch_id != '' AND s.list_id = ?1 LIMIT 50) AS part` + strconv.Itoa(i)
			args = append(args, pid)
		}
		rows, err := t.query(ctx, strings.Join(parts, " UNION ALL "), args...)
		if err != nil {
			return nil, fmt.Errorf("patch-id lookup: %w", err)
		}
		seen := map[[2]int64]bool{} // (part, series)
		for rows.Next() {
			var part, sid int64
			if err := rows.Scan(&part, &sid); err != nil {
				rows.Close()
				return nil, fmt.Errorf("patch-id lookup: %w", err)
			}
			if !seen[[2]int64{part, sid}] {
				seen[[2]int64{part, sid}] = true
				out[sid]++
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("patch-id lookup: %w", err)
		}
	}
	return out, nil
}

// seriesWithPatchSubject is Revisions.ByPatchSubject.
func (t *writeTx) seriesWithPatchSubject(ctx context.Context, listID int64, submitter, subject string) ([]Series, error) {
	if err := t.lockList(ctx, listID); err != nil {
		return nil, err
	}
	return newestFirst(collectSeries(t.query(ctx, `SELECT `+txSeriesCols+` FROM (SELECT series_id FROM patches WHERE commit_subject = ?3) c
		CROSS JOIN series s ON s.id = c.series_id
		WHERE s.list_id = ?1 AND s.submitter_email = ?2 LIMIT 200`, listID, submitter, subject)))
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// CreateSeries implements Tx.
func (t *writeTx) CreateSeries(ctx context.Context, s *Series, norm, stem string, listID int64) (int64, error) {
	defer t.keepHeld()() // series only
	if t.seriesOf != nil {
		t.seriesOf.stem = nil // SeriesByStem may find this one
	}
	if err := t.lockList(ctx, listID); err != nil {
		return 0, err
	}
	args := []any{listID, s.Subject, norm, s.Version, s.Status, s.Submitter.Name, strings.ToLower(s.Submitter.Email), s.Total,
		s.Received, s.MessageID, s.CoverMessageID, unixOrZero(s.Date), nullID(s.Previous), nullID(s.SupersededBy), s.RFC, s.Resend,
		s.Prefix, s.ChangeID, s.BaseCommit, s.ThreadID, stem, s.PullURL, s.PullRef}
	var id int64
	var err error
	if t.pg {
		id, err = t.holdSeries(ctx, listID, args)
	} else {
		id, err = t.insert(ctx, "series", listID, seriesRowCols, args...)
	}
	if err != nil {
		return 0, fmt.Errorf("create series: %w", err)
	}
	s.ID = id
	t.expect.created(listID, strings.ToLower(s.Submitter.Email), stem)
	t.expect.seriesIndex().createdSeries(listID, s, norm)
	t.count(listID).series++
	return id, nil
}

// UpdateSeries implements Tx. The thread is not written: the store keeps
// it right as threads merge.
func (t *writeTx) UpdateSeries(ctx context.Context, s *Series, norm string) error {
	defer t.keepHeld()() // series only
	if !t.expect.seriesIndex().updatedSeries(s, norm) {
		t.expect.index = nil
	}
	args := []any{s.Subject, norm, s.Status, s.Total, s.Received, s.MessageID, s.CoverMessageID, unixOrZero(s.Date), nullID(s.Previous),
		nullID(s.SupersededBy), s.RFC, s.Resend, s.Prefix, s.ChangeID, s.BaseCommit, s.PullURL, s.PullRef, s.ID}
	if t.pg {
		t.holdSeriesUpdate(args)
		return nil
	}
	err := t.later(ctx, updateSeriesSQL, args...)
	if err != nil {
		return fmt.Errorf("update series: %w", err)
	}
	return nil
}

// PatchIndexes implements Tx.
func (t *writeTx) PatchIndexes(ctx context.Context, seriesID int64) (map[int]bool, error) {
	rows, err := t.query(ctx, `SELECT idx FROM patches WHERE series_id = ?`, seriesID)
	if err != nil {
		return nil, fmt.Errorf("patch indexes: %w", err)
	}
	defer rows.Close()
	out := map[int]bool{}
	for rows.Next() {
		var i int
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("patch indexes: %w", err)
		}
		out[i] = true
	}
	return out, rows.Err()
}

// patchIDs are the patch-ids of a series' patches, in order.
func (t *writeTx) patchIDs(ctx context.Context, seriesID int64) ([]string, error) {
	rows, err := t.query(ctx, `SELECT patch_id FROM patches WHERE series_id = ? ORDER BY idx`, seriesID)
	if err != nil {
		return nil, fmt.Errorf("patch ids: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, fmt.Errorf("patch ids: %w", err)
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// AddPatch implements Tx.
func (t *writeTx) AddPatch(ctx context.Context, p *Patch, messageRowID int64) error {
	files, _ := json.Marshal(p.Files)
	var trailers any
	if len(p.Trailers) > 0 {
		b, _ := json.Marshal(p.Trailers)
		trailers = string(b)
	}
	args := []any{p.SeriesID, messageRowID, p.Index, p.Subject, p.CommitSubject, p.Author.Name, p.Author.Email, unixOrZero(p.Date),
		string(files), p.PatchID, trailers}
	var err error
	if h := t.heldRow(messageRowID); h != nil && h.patch == nil {
		// Its message's INSERT is held: this one goes after it.
		if p.ID, err = t.quietly(func() (int64, error) { return t.newID(ctx, "patches", 0) }); err == nil {
			h.patch = append([]any{p.ID}, args...)
		}
	} else {
		p.ID, err = t.insert(ctx, "patches", 0, patchCols, args...)
	}
	if err != nil {
		return fmt.Errorf("add patch: %w", err)
	}
	t.expect.seriesIndex().addedPatch(p)
	return nil
}

// SeriesList implements Store.
func (s *DB) SeriesList(ctx context.Context, list, status string, p Page) ([]Series, error) {
	p = p.Normalize()
	return collectSeries(s.r.QueryContext(ctx, `SELECT `+seriesCols+` FROM series s JOIN lists l ON l.id = s.list_id
		WHERE l.name = ?1 AND (?2 = '' OR s.status = ?2) ORDER BY s.id DESC LIMIT ?3 OFFSET ?4`, list, status, p.Limit, p.Offset))
}

// Series implements Store.
func (s *DB) Series(ctx context.Context, id int64) (*Series, error) {
	se, err := scanSeries(s.r.QueryRowContext(ctx, `SELECT `+seriesCols+` FROM series s JOIN lists l ON l.id = s.list_id WHERE s.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("series %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("series %d: %w", id, err)
	}
	return se, nil
}

// Patches implements Store.
func (s *DB) Patches(ctx context.Context, seriesID int64) ([]Patch, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT p.id, p.series_id, p.idx, p.subject, m.message_id, p.author_name, p.author_email,
		p.date, p.commit_subject, p.files, p.patch_id, p.trailers FROM patches p JOIN messages m ON m.id = p.message
		WHERE p.series_id = ? ORDER BY p.idx`, seriesID)
	if err != nil {
		return nil, fmt.Errorf("patches: %w", err)
	}
	defer rows.Close()
	var out []Patch
	for rows.Next() {
		var p Patch
		var date int64
		var files string
		var trailers sql.NullString
		if err := rows.Scan(&p.ID, &p.SeriesID, &p.Index, &p.Subject, &p.MessageID, &p.Author.Name, &p.Author.Email, &date,
			&p.CommitSubject, &files, &p.PatchID, &trailers); err != nil {
			return nil, fmt.Errorf("patches: %w", err)
		}
		p.Date = timeOrZero(date)
		json.Unmarshal([]byte(files), &p.Files)
		if trailers.Valid {
			json.Unmarshal([]byte(trailers.String), &p.Trailers)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// ThreadMessages implements Store.
func (s *DB) ThreadMessages(ctx context.Context, threadIDs []int64) ([]Message, error) {
	var out []Message
	for _, tid := range threadIDs {
		rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
			WHERE m.thread_id = ? ORDER BY m.id`, tid)
		if err != nil {
			return nil, fmt.Errorf("thread messages: %w", err)
		}
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return nil, fmt.Errorf("thread messages: %w", err)
			}
			out = append(out, *m)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("thread messages: %w", err)
		}
	}
	return out, nil
}

// Threads implements Store.
func (s *DB) Threads(ctx context.Context, list string, p Page) ([]Thread, error) {
	p = p.Normalize()
	rows, err := s.r.QueryContext(ctx, `SELECT t.id, COALESCE(m.subject, ''), COALESCE(m.message_id, ''), t.messages, t.first_date, t.last_date
		FROM threads t JOIN lists l ON l.id = t.list_id LEFT JOIN messages m ON m.id = t.root
		WHERE l.name = ? ORDER BY t.last_uid DESC LIMIT ? OFFSET ?`, list, p.Limit, p.Offset)
	if err != nil {
		return nil, fmt.Errorf("threads: %w", err)
	}
	defer rows.Close()
	var out []Thread
	for rows.Next() {
		var th Thread
		var first, last int64
		if err := rows.Scan(&th.ID, &th.Subject, &th.RootMessageID, &th.Messages, &first, &last); err != nil {
			return nil, fmt.Errorf("threads: %w", err)
		}
		th.FirstDate, th.LastDate = timeOrZero(first), timeOrZero(last)
		out = append(out, th)
	}
	return out, rows.Err()
}

// Raw implements Store. (ORDER BY m.id: see read.go.)
func (s *DB) Raw(ctx context.Context, list, messageID string) ([]byte, error) {
	var z []byte
	row, err := s.pointRow(ctx, `SELECT r.data FROM messages m JOIN lists l ON l.id = m.list_id JOIN raw r ON r.id = m.id
		WHERE l.name = ? AND m.message_id = ? ORDER BY m.id LIMIT 1`, list, messageID)
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	err = row.Scan(&z)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %q: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("raw: %w", err)
	}
	raw, err := zdec.DecodeAll(z, nil)
	if err != nil {
		return nil, fmt.Errorf("raw %q: %w: %v", messageID, ErrCorrupted, err)
	}
	return raw, nil
}

// Message implements Store.
func (s *DB) Message(ctx context.Context, list, messageID string) (*Message, error) {
	row, err := s.pointRow(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE l.name = ? AND m.message_id = ? ORDER BY m.id LIMIT 1`, list, messageID)
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	m, err := scanMessage(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("message %q: %w", messageID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("message: %w", err)
	}
	return m, nil
}

// Scan implements Store.
func (s *DB) Scan(ctx context.Context, list string, fn func(m *Message) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE l.name = ? ORDER BY m.uid`, list)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return fmt.Errorf("scan: %w", err)
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return rows.Err()
}

// FindMessage implements Store.
func (s *DB) FindMessage(ctx context.Context, messageID string) (*Message, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE m.message_id = ? LIMIT 100`, messageID)
	list, err := collect(rows, err, "find message", func(sc scanner) (*Message, error) { return scanMessage(sc) })
	if err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("message %q: %w", messageID, ErrNotFound)
	}
	best := list[0]
	for _, m := range list[1:] {
		if m.List < best.List || (m.List == best.List && m.UID < best.UID) {
			best = m
		}
	}
	return &best, nil
}

// WalkThread implements Store.
func (s *DB) WalkThread(ctx context.Context, threadID int64, fn func(m *Message, raw []byte) error) error {
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+`, r.data FROM messages m JOIN lists l ON l.id = m.list_id
		JOIN raw r ON r.id = m.id WHERE m.thread_id = ? ORDER BY m.id`, threadID)
	if err != nil {
		return fmt.Errorf("walk thread: %w", err)
	}
	defer rows.Close()
	var buf []byte
	for rows.Next() {
		var z []byte
		m, err := scanMessage(rows, &z)
		if err != nil {
			return fmt.Errorf("walk thread: %w", err)
		}
		if buf, err = zdec.DecodeAll(z, buf[:0]); err != nil {
			return fmt.Errorf("walk thread %q: %w: %v", m.MessageID, ErrCorrupted, err)
		}
		if err := fn(m, buf); err != nil {
			return err
		}
	}
	return rows.Err()
}

// Walk implements Store.
func (s *DB) Walk(ctx context.Context, list string, fn func(m *Message, raw []byte) error) error {
	l, err := s.List(ctx, list)
	if err != nil {
		return err
	}
	var after uint32
	const batch = 500
	for {
		rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+`, r.data FROM messages m JOIN lists l ON l.id = m.list_id
			JOIN raw r ON r.id = m.id WHERE m.list_id = ? AND m.uid > ? ORDER BY m.uid LIMIT ?`, l.ID, after, batch)
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		n := 0
		var buf []byte
		for rows.Next() {
			var z []byte
			m, err := scanMessage(rows, &z)
			if err != nil {
				rows.Close()
				return fmt.Errorf("walk: %w", err)
			}
			buf, err = zdec.DecodeAll(z, buf[:0])
			if err != nil {
				rows.Close()
				return fmt.Errorf("walk %q: %w: %v", m.MessageID, ErrCorrupted, err)
			}
			if err := fn(m, buf); err != nil {
				rows.Close()
				return err
			}
			after = m.UID
			n++
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("walk: %w", err)
		}
		if n < batch {
			return nil
		}
	}
}

// Check implements Store.
func (s *DB) Check(ctx context.Context) error {
	if !s.pg { // PostgreSQL checks its pages and foreign keys itself
		if err := s.checkSQLite(ctx); err != nil {
			return err
		}
	}
	var missing int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM messages m LEFT JOIN raw r ON r.id = m.id WHERE r.id IS NULL").Scan(&missing); err != nil {
		return fmt.Errorf("raw check: %w", err)
	}
	if missing != 0 {
		return fmt.Errorf("%w: %d messages without raw bytes", ErrCorrupted, missing)
	}
	return s.checkRaw(ctx)
}

func (s *DB) checkSQLite(ctx context.Context) error {
	var res string
	if err := s.r.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&res); err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	if res != "ok" {
		return fmt.Errorf("%w: %s", ErrCorrupted, res)
	}
	var fk int
	if err := s.r.QueryRowContext(ctx, "SELECT count(*) FROM pragma_foreign_key_check").Scan(&fk); err != nil {
		return fmt.Errorf("foreign key check: %w", err)
	}
	if fk != 0 {
		return fmt.Errorf("%w: %d foreign key violations", ErrCorrupted, fk)
	}
	return nil
}

// checkRaw reads every stored message and compares it with its sha256.
func (s *DB) checkRaw(ctx context.Context) error {
	rows, err := s.r.QueryContext(ctx, `SELECT m.message_id, m.sha256, m.size, r.data FROM messages m JOIN raw r ON r.id = m.id`)
	if err != nil {
		return fmt.Errorf("raw check: %w", err)
	}
	defer rows.Close()
	var buf []byte
	for rows.Next() {
		var id string
		var sum, z []byte
		var size int
		if err := rows.Scan(&id, &sum, &size, &z); err != nil {
			return fmt.Errorf("raw check: %w", err)
		}
		buf, err = zdec.DecodeAll(z, buf[:0])
		if err != nil {
			return fmt.Errorf("%w: message %q does not decompress: %v", ErrCorrupted, id, err)
		}
		h := sha256.Sum256(buf)
		if !bytes.Equal(h[:], sum) || len(buf) != size {
			return fmt.Errorf("%w: message %q does not match its sha256", ErrCorrupted, id)
		}
	}
	return rows.Err()
}
