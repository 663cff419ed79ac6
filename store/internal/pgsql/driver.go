// Package pgsql is the database/sql driver of the store's PostgreSQL
// backend: pgx underneath, the store's SQL (written in SQLite's spelling,
// store/sqlite.go) rewritten for PostgreSQL (Rewrite), and its arguments
// sent as bind parameters whose types follow their Go values.
//
// Why the types come from the values: PostgreSQL otherwise types a
// parameter from its context alone, and the store's SQL was written for
// SQLite's dynamic types. "x = ?" compared with 0 would make an int4 that
// overflows on a 64-bit value, and a parameter a statement does not use
// would have no type at all. So every argument goes in the extended
// protocol with its type given where the statement is parsed: int64 as
// int8, float64 as float8, string as text, []byte as bytea, bool as int8
// 0 or 1 (the schema keeps flags in integer columns, as SQLite stores
// them), and NULL untyped, for the server to infer from its context (as
// text when the statement does not use it). Values go in binary
// (integers, floats, bytes) or as the text itself: nothing is quoted or
// escaped, and no argument is ever part of the SQL text.
//
// Round trips, which cost more than most of the store's statements:
//
//   - a statement is prepared on the server once per connection and
//     argument types (a round trip the first time; those built with a
//     placeholder per item, past 64 arguments, are parsed where they run
//     instead), then run by name, planned from its arguments or once;
//   - a transaction's BEGIN goes with its first statement, and statements
//     given Defer wait for the next one or the COMMIT and go with it, in
//     one round trip (a pipeline of several Bind/Execute and one Sync);
//     once pushAt of them wait, they are sent ahead without waiting for
//     their results (pgconn's pipeline mode), so that the server works
//     on them while the caller goes on; the next statement reads those
//     results first, and reports their first error as before;
//   - a statement without arguments goes in the simple protocol, which
//     takes several statements at once (the schema's migrations).
//
// The package imports none of the store: it only knows SQL.
package pgsql

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// Type OIDs of PostgreSQL's built-in types (pg_type.dat; fixed since
// forever).
const (
	oidBool   = 16
	oidBytea  = 17
	oidInt8   = 20
	oidInt2   = 21
	oidInt4   = 23
	oidText   = 25
	oidOID    = 26
	oidFloat4 = 700
	oidFloat8 = 701
)

// Connector opens connections to one database; give it to sql.OpenDB.
type Connector struct{ c driver.Connector }

// NewConnector parses a postgres:// URL (or key=value string), as pgx
// does.
func NewConnector(dsn string) (*Connector, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	// What Rewrite and decode count on, whatever the server's defaults:
	// a backslash in '...' is a plain character, and bytea comes in hex.
	cfg.RuntimeParams["standard_conforming_strings"] = "on"
	cfg.RuntimeParams["bytea_output"] = "hex"
	return &Connector{stdlib.GetConnector(*cfg)}, nil
}

// Connect implements driver.Connector.
func (c *Connector) Connect(ctx context.Context) (driver.Conn, error) {
	dc, err := c.c.Connect(ctx)
	if err != nil {
		return nil, err
	}
	sc := dc.(*stdlib.Conn)
	return &conn{sc: sc, pg: sc.Conn().PgConn(), prepared: map[prepKey]*prepared{}}, nil
}

// Driver implements driver.Connector.
func (c *Connector) Driver() driver.Driver { return drv{} }

type drv struct{}

// Open implements driver.Driver, for database/sql's sake: the store opens
// through a Connector.
func (drv) Open(name string) (driver.Conn, error) {
	c, err := NewConnector(name)
	if err != nil {
		return nil, err
	}
	return c.Connect(context.Background())
}

// conn is one pgx connection. Pings and session resets are pgx's
// database/sql driver's (stdlib); statements and transactions are this
// package's.
type conn struct {
	sc       *stdlib.Conn
	pg       *pgconn.PgConn
	prepared map[prepKey]*prepared
	named    int // statements named so far (pw1, pw2 ...)

	queue []pending // deferred statements (Defer), and BEGIN
	// Deferred statements sent ahead (push) whose results are not read
	// yet, with a zero pending for each Sync, and their pipeline.
	pushed []pending
	pipe   *pgconn.Pipeline
	inTx   bool // in a transaction (BeginTx)
	begun  bool // its BEGIN was sent
}

// maxPrepared bounds the server-side statements of one connection: the
// store's statements are a few hundred.
const maxPrepared = 1000

// prepKey is a statement with its arguments' types.
type prepKey struct {
	q    *Query
	oids string
}

// prepared is a server-side statement and the result formats to ask of
// it.
type prepared struct {
	sd      *pgconn.StatementDescription
	formats []int16
}

var (
	_ driver.ConnPrepareContext = (*conn)(nil)
	_ driver.ConnBeginTx        = (*conn)(nil)
	_ driver.ExecerContext      = (*conn)(nil)
	_ driver.QueryerContext     = (*conn)(nil)
	_ driver.Pinger             = (*conn)(nil)
	_ driver.SessionResetter    = (*conn)(nil)
	_ driver.NamedValueChecker  = (*conn)(nil)
)

// Prepare makes a statement on the client: its server-side statement
// comes with its first run (run).
func (c *conn) Prepare(q string) (driver.Stmt, error) { return &stmt{c, q}, nil }
func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return &stmt{c, q}, nil
}
func (c *conn) Close() error { return c.sc.Close() }
func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *conn) Ping(ctx context.Context) error { return c.sc.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error {
	if c.inTx {
		return driver.ErrBadConn
	}
	return c.sc.ResetSession(ctx)
}

// Value is an argument already in PostgreSQL's binary format of the type
// OID (its typsend output), for a type bind has no Go type for.
type Value struct {
	OID  uint32
	Data []byte
}

// CheckNamedValue reduces arguments to the driver's basic types (named
// integer types to int64 and so on), which bind sends.
func (c *conn) CheckNamedValue(v *driver.NamedValue) error {
	switch v.Value.(type) {
	case deferArg, Value:
		return nil
	}
	x, err := driver.DefaultParameterConverter.ConvertValue(v.Value)
	if err != nil {
		return err
	}
	v.Value = x
	return nil
}

// params is a statement's arguments as the Bind message carries them.
type params struct {
	values  [][]byte
	oids    []uint32
	formats []int16
}

// bind encodes args for q, typed by their Go types.
func bind(q *Query, args []driver.NamedValue) (*params, error) {
	if q.N > len(args) {
		return nil, fmt.Errorf("statement wants argument %d of %d", q.N, len(args))
	}
	p := &params{
		values:  make([][]byte, len(args)),
		oids:    make([]uint32, len(args)),
		formats: make([]int16, len(args)),
	}
	for _, a := range args {
		if a.Name != "" {
			return nil, fmt.Errorf("argument %s: named arguments are not supported", a.Name)
		}
		n := a.Ordinal - 1
		if n < 0 || n >= len(args) {
			return nil, fmt.Errorf("argument ordinal %d of %d", a.Ordinal, len(args))
		}
		switch v := a.Value.(type) {
		case nil:
			p.values[n] = nil // NULL
			if !q.Uses(n + 1) {
				p.oids[n] = oidText // any type will do; none is an error
			}
		case int64:
			p.values[n], p.oids[n], p.formats[n] = binary.BigEndian.AppendUint64(nil, uint64(v)), oidInt8, 1
		case bool:
			var x byte
			if v {
				x = 1
			}
			p.values[n], p.oids[n], p.formats[n] = []byte{0, 0, 0, 0, 0, 0, 0, x}, oidInt8, 1
		case float64:
			p.values[n], p.oids[n], p.formats[n] = binary.BigEndian.AppendUint64(nil, math.Float64bits(v)), oidFloat8, 1
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return nil, fmt.Errorf("argument %d: text holds a NUL byte", n+1)
			}
			p.values[n], p.oids[n] = []byte(v), oidText
		case []byte:
			if v == nil {
				v = []byte{} // an empty bytea, not NULL
			}
			p.values[n], p.oids[n], p.formats[n] = v, oidBytea, 1
		case Value:
			p.values[n], p.oids[n], p.formats[n] = v.Data, v.OID, 1
		default:
			return nil, fmt.Errorf("argument %d: unsupported type %T", n+1, v)
		}
	}
	return p, nil
}

func (c *conn) ExecContext(ctx context.Context, text string, args []driver.NamedValue) (driver.Result, error) {
	if c.pg.IsClosed() {
		return nil, driver.ErrBadConn
	}
	q, err := cached(text)
	if err != nil {
		return nil, err
	}
	deferred := len(args) > 0 && args[0].Value == Defer
	if deferred {
		args = renumber(args[1:])
	}
	if len(args) == 0 && !deferred {
		return c.simple(ctx, q.SQL)
	}
	p, err := bind(q, args)
	if err != nil {
		return nil, err
	}
	if deferred && c.inTx {
		c.queue = append(c.queue, pending{q: q, p: p})
		if len(c.queue) >= pushAt {
			if err := c.push(ctx); err != nil {
				return nil, err
			}
		}
		return deferredResult{}, nil
	}
	rr, mrr, err := c.send(ctx, pending{q: q, p: p})
	if err != nil {
		return nil, err
	}
	tag, err := rr.Close()
	if mrr != nil {
		if e := mrr.Close(); err == nil {
			err = e
		}
	}
	if err != nil {
		return nil, c.failed(q, p, err)
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
}

// pushAt is how many deferred statements wait before they are sent
// ahead (push); maxPushed bounds those whose results are not read yet.
const (
	pushAt    = 32
	maxPushed = 4096
)

// push sends the queued statements, and a Sync, without waiting for
// their results: the next statement (drain) reads them.
func (c *conn) push(ctx context.Context) error {
	for _, x := range c.queue {
		if x.q != nil && x.q.shared && c.prepared[prepKey{x.q, oidString(x.p.oids)}] == nil && len(c.prepared) < maxPrepared {
			// Preparing it takes the connection: read what was sent.
			if err := c.drain(); err != nil {
				return err
			}
			break
		}
	}
	if len(c.pushed) >= maxPushed {
		if err := c.drain(); err != nil {
			return err
		}
	}
	sts := make([]*prepared, len(c.queue))
	for i, x := range c.queue {
		if x.q != nil {
			st, err := c.statement(ctx, x.q, x.p)
			if err != nil {
				return err
			}
			sts[i] = st
		}
	}
	if c.pipe == nil {
		c.pipe = c.pg.StartPipeline(context.Background())
	}
	for i, x := range c.queue {
		switch st := sts[i]; {
		case x.q == nil:
			c.pipe.SendQueryParams(x.text, nil, nil, nil, nil)
		case st != nil:
			c.pipe.SendQueryStatement(st.sd, x.p.values, x.p.formats, st.formats)
		default:
			c.pipe.SendQueryParams(x.q.SQL, x.p.values, x.p.oids, x.p.formats, nil)
		}
	}
	c.pushed = append(append(c.pushed, c.queue...), pending{})
	c.queue, c.begun = nil, true
	if err := c.pipe.Sync(); err != nil {
		c.pipe, c.pushed = nil, nil
		return retryable(err)
	}
	return nil
}

// drain reads the results of the statements sent ahead (push) and
// leaves pipeline mode; it returns the first error among them.
func (c *conn) drain() error {
	if c.pipe == nil {
		return nil
	}
	var first error
	i := 0 // the pushed statement whose result comes next
	fail := func(err error) {
		if first != nil {
			return
		}
		if i < len(c.pushed) && c.pushed[i].q != nil {
			first = c.failed(c.pushed[i].q, c.pushed[i].p, err)
		} else {
			first = retryable(err)
		}
	}
	toSync := func() { // past the next Sync: the server skips to it after an error
		for i < len(c.pushed) && (c.pushed[i].q != nil || c.pushed[i].text != "") {
			i++
		}
		i++
	}
	for {
		res, err := c.pipe.GetResults()
		if err != nil {
			fail(err)
			var pe *pgconn.PgError
			if !errors.As(err, &pe) {
				break // the connection is lost
			}
			toSync()
			continue
		}
		if res == nil {
			break
		}
		switch r := res.(type) {
		case *pgconn.ResultReader:
			if _, err := r.Close(); err != nil {
				fail(err)
			}
			i++
		case *pgconn.PipelineSync:
			toSync()
		}
	}
	if err := c.pipe.Close(); err != nil && first == nil {
		first = retryable(err)
	}
	c.pipe, c.pushed = nil, nil
	return first
}

// simple runs text, which may hold several statements, in the simple
// protocol, after what is queued.
func (c *conn) simple(ctx context.Context, text string) (driver.Result, error) {
	if err := c.drain(); err != nil {
		return nil, err
	}
	for _, x := range c.queue {
		if x.q != nil { // a deferred statement with arguments: first
			if _, mrr, err := c.send(ctx, pending{}); err != nil {
				return nil, err
			} else if err := mrr.Close(); err != nil {
				return nil, retryable(err)
			}
			break
		}
	}
	if len(c.queue) > 0 { // BEGIN: in the same query
		texts := make([]string, 0, len(c.queue)+1)
		for _, x := range c.queue {
			texts = append(texts, x.text)
		}
		text = strings.Join(append(texts, text), ";\n")
		c.queue, c.begun = nil, true
	}
	results, err := c.pg.Exec(ctx, text).ReadAll()
	if err != nil {
		return nil, retryable(err)
	}
	var n int64
	for _, r := range results {
		n += r.CommandTag.RowsAffected()
	}
	return driver.RowsAffected(n), nil
}

// renumber gives args the ordinals 1, 2 ...
func renumber(args []driver.NamedValue) []driver.NamedValue {
	out := make([]driver.NamedValue, len(args))
	for i, a := range args {
		a.Ordinal = i + 1
		out[i] = a
	}
	return out
}

// Defer, as the first argument of ExecContext in a transaction, queues
// the statement instead of running it: it goes to the server with the
// connection's next statement, or with the commit, in the same round
// trip (a pipeline). Its error is then that statement's, or the
// commit's, and the transaction is aborted as it would have been. The
// Result it returns knows no row count. Outside a transaction the
// statement runs at once.
var Defer = deferArg{}

type deferArg struct{}

type deferredResult struct{}

func (deferredResult) LastInsertId() (int64, error) { return 0, errors.New("pgsql: no LastInsertId") }
func (deferredResult) RowsAffected() (int64, error) {
	return 0, errors.New("pgsql: a deferred statement's rows are not counted")
}

// pending is a statement waiting for the next round trip: q with its
// arguments, or text without any (BEGIN, COMMIT).
type pending struct {
	q    *Query
	p    *params
	text string
}

// send runs the queued statements and then last (none when it is the
// zero pending) in one round trip. It returns last's result and, when
// statements were queued, the reader of them all, to close after it.
func (c *conn) send(ctx context.Context, last pending) (*pgconn.ResultReader, *pgconn.MultiResultReader, error) {
	if err := c.drain(); err != nil {
		return nil, nil, err
	}
	if len(c.queue) == 0 && last.q != nil {
		rr, err := c.run(ctx, last.q, last.p)
		return rr, nil, err
	}
	// Server-side statements first, so that a failure leaves the queue.
	sts := make([]*prepared, len(c.queue)+1)
	for i, x := range append(c.queue, last) {
		if x.q != nil {
			st, err := c.statement(ctx, x.q, x.p)
			if err != nil {
				return nil, nil, err
			}
			sts[i] = st
		}
	}
	batch := &pgconn.Batch{}
	add := func(x pending, st *prepared) {
		switch {
		case x.q == nil:
			batch.ExecParams(x.text, nil, nil, nil, nil)
		case st != nil:
			batch.ExecStatement(st.sd, x.p.values, x.p.formats, st.formats)
		default:
			batch.ExecParams(x.q.SQL, x.p.values, x.p.oids, x.p.formats, nil)
		}
	}
	queue := c.queue
	c.queue, c.begun = nil, true
	for i, x := range queue {
		add(x, sts[i])
	}
	if last.q != nil || last.text != "" {
		add(last, sts[len(queue)])
	}
	mrr := c.pg.ExecBatch(ctx, batch)
	for _, x := range queue {
		if !mrr.NextResult() {
			err := mrr.Close()
			if err == nil {
				err = errors.New("pgsql: a result is missing")
			}
			return nil, nil, retryable(err)
		}
		if _, err := mrr.ResultReader().Close(); err != nil {
			mrr.Close()
			if x.q != nil {
				return nil, nil, c.failed(x.q, x.p, err)
			}
			return nil, nil, retryable(err)
		}
	}
	if last.q == nil && last.text == "" {
		return nil, mrr, nil
	}
	if !mrr.NextResult() {
		err := mrr.Close()
		if err == nil {
			err = errors.New("pgsql: a result is missing")
		}
		return nil, nil, retryable(err)
	}
	return mrr.ResultReader(), mrr, nil
}

// statement returns q's server-side statement for these argument types,
// preparing it on first use; nil when q is not shared (or too many are
// kept): it is then parsed where it runs.
func (c *conn) statement(ctx context.Context, q *Query, p *params) (*prepared, error) {
	if !q.shared {
		return nil, nil
	}
	key := prepKey{q, oidString(p.oids)}
	if st := c.prepared[key]; st != nil {
		return st, nil
	}
	if len(c.prepared) >= maxPrepared {
		return nil, nil
	}
	c.named++
	sd, err := c.pg.Prepare(ctx, fmt.Sprintf("pw%d", c.named), q.SQL, p.oids)
	if err != nil {
		return nil, retryable(err)
	}
	st := &prepared{sd: sd, formats: binaryFormats(sd.Fields)}
	c.prepared[key] = st
	return st, nil
}

// run starts q alone: by its server-side statement, or parsed in the
// same round trip.
func (c *conn) run(ctx context.Context, q *Query, p *params) (*pgconn.ResultReader, error) {
	st, err := c.statement(ctx, q, p)
	if err != nil {
		return nil, err
	}
	if st != nil {
		return c.pg.ExecStatement(ctx, st.sd, p.values, p.formats, st.formats), nil
	}
	var formats []int16
	if f := q.formats.Load(); f != nil {
		formats = *f
	}
	return c.pg.ExecParams(ctx, q.SQL, p.values, p.oids, p.formats, formats), nil
}

// failed passes on err, forgetting q's statement when the server says
// the table it reads changed shape under it (a migration by another
// node): the next transaction prepares it anew.
func (c *conn) failed(q *Query, p *params, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "0A000" && strings.Contains(pe.Message, "cached plan") {
		delete(c.prepared, prepKey{q, oidString(p.oids)})
	}
	return retryable(err)
}

func oidString(oids []uint32) string {
	b := make([]byte, 0, 4*len(oids))
	for _, o := range oids {
		b = binary.BigEndian.AppendUint32(b, o)
	}
	return string(b)
}

func (c *conn) QueryContext(ctx context.Context, text string, args []driver.NamedValue) (driver.Rows, error) {
	if c.pg.IsClosed() {
		return nil, driver.ErrBadConn
	}
	q, err := cached(text)
	if err != nil {
		return nil, err
	}
	p, err := bind(q, args)
	if err != nil {
		return nil, err
	}
	rr, mrr, err := c.send(ctx, pending{q: q, p: p})
	if err != nil {
		return nil, err
	}
	fields := rr.FieldDescriptions()
	if fields == nil { // an error, or a statement without rows
		_, err := rr.Close()
		if mrr != nil {
			if e := mrr.Close(); err == nil {
				err = e
			}
		}
		if err != nil {
			return nil, c.failed(q, p, err)
		}
		return &rows{}, nil
	}
	if !q.shared && q.formats.Load() == nil {
		f := binaryFormats(fields)
		q.formats.Store(&f)
	}
	r := &rows{rr: rr, mrr: mrr, oids: make([]uint32, len(fields)), formats: make([]int16, len(fields)), names: make([]string, len(fields))}
	for i, f := range fields {
		r.names[i], r.oids[i], r.formats[i] = f.Name, f.DataTypeOID, f.Format
	}
	return r, nil
}

// tx is a transaction: its BEGIN waits in the queue for the first
// statement, and its COMMIT goes with the deferred statements left.
type tx struct{ c *conn }

// ErrCommitRolledBack is Commit's error when the server rolled the
// transaction back instead (a deferred statement failed before it).
var ErrCommitRolledBack = errors.New("pgsql: commit rolled back")

func (t tx) Commit() error {
	c := t.c
	defer c.endTx()
	if !c.begun && len(c.queue) <= 1 {
		c.queue = nil // BEGIN alone: nothing to commit
		return nil
	}
	rr, mrr, err := c.send(context.Background(), pending{text: "COMMIT"})
	if err != nil {
		c.abort()
		return err
	}
	tag, err := rr.Close()
	if e := mrr.Close(); err == nil {
		err = e
	}
	if err == nil && tag.String() == "ROLLBACK" {
		err = ErrCommitRolledBack
	}
	if err != nil {
		c.abort()
		return retryable(err)
	}
	return nil
}

func (t tx) Rollback() error {
	c := t.c
	defer c.endTx()
	c.drain() // rolled back whatever it says
	c.queue = nil
	if !c.begun {
		return nil
	}
	_, err := c.pg.Exec(context.Background(), "ROLLBACK").ReadAll()
	return err
}

// abort rolls back what a failed commit may have left open.
func (c *conn) abort() {
	if c.pg.TxStatus() != 'I' {
		c.pg.Exec(context.Background(), "ROLLBACK").ReadAll()
	}
}

func (c *conn) endTx() {
	if c.pipe != nil { // a commit that failed before it read them
		c.pipe.Close()
	}
	c.inTx, c.begun, c.queue, c.pipe, c.pushed = false, false, nil, nil, nil
}

func (c *conn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	if c.pg.IsClosed() {
		return nil, driver.ErrBadConn
	}
	if c.inTx {
		return nil, errors.New("pgsql: a transaction is open on this connection")
	}
	text := "BEGIN"
	switch sql.IsolationLevel(o.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		text += " ISOLATION LEVEL READ UNCOMMITTED"
	case sql.LevelReadCommitted:
		text += " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		text += " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		text += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return nil, fmt.Errorf("pgsql: isolation level %d", o.Isolation)
	}
	if o.ReadOnly {
		text += " READ ONLY"
	}
	c.queue = append(c.queue[:0], pending{text: text})
	c.inTx, c.begun = true, false
	return tx{c}, nil
}

// binaryFormats says which result columns to ask in binary: those whose
// binary form is cheaper to read than their text (integers, floats,
// booleans, and bytea, which text doubles into hex). A statement not
// prepared learns them from its first run; a column whose type changes
// later is still read right, as each row description says the format it
// carries.
func binaryFormats(fields []pgconn.FieldDescription) []int16 {
	f := make([]int16, len(fields))
	for i, fd := range fields {
		switch fd.DataTypeOID {
		case oidBool, oidBytea, oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8:
			f[i] = 1
		}
	}
	return f
}

// retryable tells database/sql to retry on another connection when the
// statement never reached the server.
func retryable(err error) error {
	if pgconn.SafeToRetry(err) {
		return driver.ErrBadConn
	}
	return err
}

// stmt is a statement kept on the client.
type stmt struct {
	c *conn
	q string
}

func (s *stmt) Close() error  { return nil }
func (s *stmt) NumInput() int { return -1 }
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("pgsql: use ExecContext")
}
func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("pgsql: use QueryContext")
}
func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.q, args)
}
func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.q, args)
}

// rows reads a result. Values of type []byte are only valid until the
// next row (database/sql copies them).
type rows struct {
	rr      *pgconn.ResultReader      // nil: no rows
	mrr     *pgconn.MultiResultReader // rr's, when it came in a pipeline
	names   []string
	oids    []uint32
	formats []int16
}

func (r *rows) Columns() []string { return r.names }

func (r *rows) Close() error {
	if r.rr == nil {
		return nil
	}
	_, err := r.rr.Close()
	r.rr = nil
	if r.mrr != nil {
		if e := r.mrr.Close(); err == nil {
			err = e
		}
		r.mrr = nil
	}
	return err
}

func (r *rows) Next(dest []driver.Value) error {
	if r.rr == nil {
		return io.EOF
	}
	if !r.rr.NextRow() {
		if err := r.Close(); err != nil {
			return err
		}
		return io.EOF
	}
	for i, b := range r.rr.Values() {
		v, err := decode(r.oids[i], r.formats[i], b)
		if err != nil {
			return fmt.Errorf("column %s: %w", r.names[i], err)
		}
		dest[i] = v
	}
	return nil
}

// decode turns one column value into a driver.Value: integers to int64,
// floats to float64, booleans to bool, bytea to []byte, anything else to
// its text.
func decode(oid uint32, format int16, b []byte) (driver.Value, error) {
	if b == nil {
		return nil, nil
	}
	if format == 1 {
		switch {
		case oid == oidInt8 && len(b) == 8:
			return int64(binary.BigEndian.Uint64(b)), nil
		case oid == oidInt4 && len(b) == 4:
			return int64(int32(binary.BigEndian.Uint32(b))), nil
		case oid == oidInt2 && len(b) == 2:
			return int64(int16(binary.BigEndian.Uint16(b))), nil
		case oid == oidBool && len(b) == 1:
			return b[0] != 0, nil
		case oid == oidFloat8 && len(b) == 8:
			return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
		case oid == oidFloat4 && len(b) == 4:
			return float64(math.Float32frombits(binary.BigEndian.Uint32(b))), nil
		case oid == oidBytea:
			return b, nil
		}
		return nil, fmt.Errorf("binary value of type %d (%d bytes)", oid, len(b))
	}
	switch oid {
	case oidInt8, oidInt4, oidInt2, oidOID:
		return strconv.ParseInt(string(b), 10, 64)
	case oidBool:
		return len(b) == 1 && b[0] == 't', nil
	case oidFloat4, oidFloat8:
		return strconv.ParseFloat(string(b), 64)
	case oidBytea:
		if len(b) < 2 || b[0] != '\\' || b[1] != 'x' {
			return nil, errors.New("bytea not in hex output format")
		}
		return hex.DecodeString(string(b[2:]))
	}
	return string(b), nil
}
