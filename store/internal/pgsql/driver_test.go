package pgsql

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"patchwell/store/pgtest"
)

func openTest(t *testing.T) *sql.DB {
	t.Helper()
	c, err := NewConnector(pgtest.URL(t))
	if err != nil {
		t.Fatalf("NewConnector() = %v", err)
	}
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestParameters runs statements whose parameters PostgreSQL could not
// type from their context alone, and values that SQL text would have to
// quote.
func TestParameters(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	one := func(q string, args ...any) any {
		t.Helper()
		var v any
		if err := db.QueryRowContext(ctx, q, args...).Scan(&v); err != nil {
			t.Fatalf("%s %v: %v", q, args, err)
		}
		return v
	}
	// Compared with an int4 literal, an untyped parameter is an int4.
	if v := one(`SELECT ?1 WHERE ?1 != 0`, int64(1)<<40); v != int64(1)<<40 {
		t.Errorf("int8 compared with 0 = %v", v)
	}
	// Unused parameters, typed and NULL.
	if v := one(`SELECT ?2`, int64(5), "x"); v != "x" {
		t.Errorf("?2 = %v", v)
	}
	if v := one(`SELECT ?2`, nil, "x"); v != "x" {
		t.Errorf("?2 after NULL = %v", v)
	}
	// A used NULL takes its type from its context.
	if v := one(`SELECT COALESCE(?, 7)`, nil); v != int64(7) {
		t.Errorf("COALESCE(NULL, 7) = %v", v)
	}
	if v := one(`SELECT ? + 1`, true); v != int64(2) {
		t.Errorf("true + 1 = %v", v)
	}
	if v := one(`SELECT ? * 2`, 1.25); v != 2.5 {
		t.Errorf("1.25 * 2 = %v", v)
	}
	for _, s := range []string{"it's", `\'`, `\x00`, "--", "/*", ";", "$1", "?", "$$", "'; DROP TABLE x; --", "héllo ✓", ""} {
		if v := one(`SELECT ?`, s); v != s {
			t.Errorf("SELECT %q = %q", s, v)
		}
	}
	if _, err := db.ExecContext(ctx, `SELECT ?`, "a\x00b"); err == nil || !strings.Contains(err.Error(), "NUL") {
		t.Errorf("text with NUL: %v", err)
	}
	if _, err := db.ExecContext(ctx, `SELECT ?2`, int64(1)); err == nil {
		t.Error("a missing argument is no error")
	}
}

// TestRoundTrip writes every kind of value and reads it back, twice: the
// second read gets integers and bytea in binary.
func TestRoundTrip(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT, b BYTEA, f DOUBLE PRECISION, n BIGINT);
		CREATE INDEX t_s ON t(s)`); err != nil {
		t.Fatal(err)
	}
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	rows := []struct {
		id int64
		s  string
		b  []byte
		f  float64
		n  any
	}{
		{math.MinInt64, "it's \\'x'\\ -- ; $1 ?2", all, math.Inf(-1), nil},
		{math.MaxInt64, "", []byte{}, -0.5, int64(-1)},
		{0, "ü", []byte("\\x00"), math.MaxFloat64, int64(math.MaxInt64)},
	}
	for _, r := range rows {
		if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?, ?, ?, ?, ?)`, r.id, r.s, r.b, r.f, r.n); err != nil {
			t.Fatalf("insert %d: %v", r.id, err)
		}
	}
	for range 2 {
		for _, r := range rows {
			var s string
			var b []byte
			var f float64
			var n sql.NullInt64
			if err := db.QueryRowContext(ctx, `SELECT s, b, f, n FROM t WHERE id = ?`, r.id).Scan(&s, &b, &f, &n); err != nil {
				t.Fatalf("select %d: %v", r.id, err)
			}
			if s != r.s || !bytes.Equal(b, r.b) || f != r.f || n.Valid != (r.n != nil) || n.Valid && n.Int64 != r.n.(int64) {
				t.Errorf("row %d = %q %x %v %v", r.id, s, b, f, n)
			}
		}
	}
	var sum int64
	if err := db.QueryRowContext(ctx, `SELECT sum(n) FROM t WHERE n < ?`, int64(0)).Scan(&sum); err != nil || sum != -1 {
		t.Errorf("sum() = %d, %v", sum, err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO t(id) VALUES (?)`, int64(0))
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("duplicate key: %v", err)
	}
	err = db.QueryRowContext(ctx, `INSERT INTO t(id) VALUES (?) RETURNING id`, int64(0)).Scan(new(int64))
	if !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("duplicate key, RETURNING: %v", err)
	}
}

// TestDeferred: statements given Defer wait for the next statement or the
// commit, run before it in the same round trip, and fail the transaction
// as they would have at once.
func TestDeferred(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT)`); err != nil {
		t.Fatal(err)
	}
	count := func(q *sql.Tx) int {
		t.Helper()
		var n int
		var err error
		if q != nil {
			err = q.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n)
		} else {
			err = db.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n)
		}
		if err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}

	// Seen by the transaction's next query; committed with only deferred
	// statements after the last query.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(i), "x"); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(tx); n != 3 {
		t.Errorf("the transaction sees %d rows, want 3", n)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(3), "x"); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(nil); n != 4 {
		t.Errorf("committed %d rows, want 4", n)
	}

	// A transaction of deferred statements only.
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(10), "y")
	if err := tx.Commit(); err != nil || count(nil) != 5 {
		t.Fatalf("deferred only: Commit() = %v, %d rows", err, count(nil))
	}

	// A failing deferred statement fails the next one...
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(20), "z")
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(0), "dup")
	var pe *pgconn.PgError
	if _, err := tx.ExecContext(ctx, `UPDATE t SET s = ? WHERE id = ?`, "w", int64(1)); !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("the statement after a failed deferred one: %v", err)
	}
	tx.Rollback()
	// ... or the commit, which then keeps nothing.
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(21), "z")
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(0), "dup")
	if err := tx.Commit(); !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("Commit() after a failed deferred statement = %v", err)
	}
	// Rolled back: nothing deferred is kept.
	tx, _ = db.BeginTx(ctx, nil)
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(22), "z")
	tx.QueryRowContext(ctx, `SELECT 1`).Scan(new(int))
	tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(23), "z")
	tx.Rollback()
	if n := count(nil); n != 5 {
		t.Errorf("%d rows after the failures, want 5", n)
	}
	// Outside a transaction, Defer runs at once.
	if _, err := db.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(30), "now"); err != nil || count(nil) != 6 {
		t.Errorf("Defer outside a transaction: %v, %d rows", err, count(nil))
	}
	// The connections went back to the pool clean.
	var status string
	if err := db.QueryRowContext(ctx, `SELECT 'ok'`).Scan(&status); err != nil {
		t.Fatal(err)
	}
}

// TestPushed: once pushAt deferred statements wait, they are sent ahead
// (push) and their results read by the next statement or the commit,
// which report their first error as before.
func TestPushed(t *testing.T) {
	db := openTest(t)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, `CREATE TABLE t (id BIGINT PRIMARY KEY, s TEXT)`); err != nil {
		t.Fatal(err)
	}
	sc, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	pushed := func() (n int) {
		sc.Raw(func(dc any) error {
			n = len(dc.(*conn).pushed)
			return nil
		})
		return n
	}
	count := func(q interface {
		QueryRowContext(context.Context, string, ...any) *sql.Row
	}) int {
		t.Helper()
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil {
			t.Fatalf("count: %v", err)
		}
		return n
	}
	insert := func(tx *sql.Tx, from, n int) {
		t.Helper()
		for i := from; i < from+n; i++ {
			if _, err := tx.ExecContext(ctx, `INSERT INTO t VALUES (?, ?)`, Defer, int64(i), "x"); err != nil {
				t.Fatalf("insert %d: %v", i, err)
			}
		}
	}

	// Sent ahead, seen by the next query, committed with the rest.
	tx, err := sc.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	insert(tx, 0, 3*pushAt+5)
	if n := pushed(); n < 3*pushAt {
		t.Errorf("%d statements sent ahead, want %d and their Syncs", n, 3*pushAt)
	}
	if n := count(tx); n != 3*pushAt+5 {
		t.Errorf("the transaction sees %d rows, want %d", n, 3*pushAt+5)
	}
	if n := pushed(); n != 0 {
		t.Errorf("%d statements' results not read after a query", n)
	}
	insert(tx, 1000, 2*pushAt)
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if n := count(db); n != 5*pushAt+5 {
		t.Errorf("committed %d rows, want %d", n, 5*pushAt+5)
	}

	// A failure among those sent ahead fails the next statement...
	var pe *pgconn.PgError
	tx, _ = sc.BeginTx(ctx, nil)
	insert(tx, 2000, pushAt/2)
	insert(tx, 10, 1) // taken
	insert(tx, 3000, 2*pushAt)
	if pushed() == 0 {
		t.Error("nothing sent ahead")
	}
	if _, err := tx.ExecContext(ctx, `UPDATE t SET s = ? WHERE id = ?`, "w", int64(1)); !errors.As(err, &pe) || pe.Code != "23505" ||
		!strings.Contains(pe.Detail, "(id)=(10)") {
		t.Errorf("the statement after a failed one sent ahead: %v", err)
	}
	tx.Rollback()
	// ... or the commit, which then keeps nothing.
	tx, _ = sc.BeginTx(ctx, nil)
	insert(tx, 2000, pushAt)
	insert(tx, 11, 1)
	if err := tx.Commit(); !errors.As(err, &pe) || pe.Code != "23505" {
		t.Errorf("Commit() after a failed statement sent ahead = %v", err)
	}
	// Rolled back after a push: nothing kept, the connection clean.
	tx, _ = sc.BeginTx(ctx, nil)
	insert(tx, 2000, 2*pushAt)
	tx.Rollback()
	if n := count(sc); n != 5*pushAt+5 {
		t.Errorf("%d rows after the failures, want %d", n, 5*pushAt+5)
	}
}
