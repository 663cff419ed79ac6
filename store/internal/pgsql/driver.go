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
// protocol (Parse, Bind, Describe, Execute: one round trip, no
// server-side statement left behind) with its type given in the Parse
// message: int64 as int8, float64 as float8, string as text, []byte as
// bytea, bool as int8 0 or 1 (the schema keeps flags in integer columns,
// as SQLite stores them), and NULL untyped, for the server to infer from
// its context (as text when the statement does not use it). Values go in
// binary (integers, floats, bytes) or as the text itself: nothing is
// quoted or escaped, and no argument is ever part of the SQL text.
//
// A statement without arguments goes in the simple protocol, which takes
// several statements at once (the schema's migrations).
//
// The package imports none of the store: it only knows SQL.
package pgsql

import (
	"context"
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
	return &conn{sc: sc, pg: sc.Conn().PgConn()}, nil
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

// conn is one pgx connection. Transactions, pings and session resets are
// pgx's database/sql driver's (stdlib); statements are this package's.
type conn struct {
	sc *stdlib.Conn
	pg *pgconn.PgConn
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

// Prepare makes no server-side statement: every statement is parsed
// anew, in the round trip that runs it.
func (c *conn) Prepare(q string) (driver.Stmt, error) { return &stmt{c, q}, nil }
func (c *conn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return &stmt{c, q}, nil
}
func (c *conn) Close() error { return c.sc.Close() }
func (c *conn) Begin() (driver.Tx, error) {
	return c.sc.BeginTx(context.Background(), driver.TxOptions{})
}
func (c *conn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.sc.BeginTx(ctx, o)
}
func (c *conn) Ping(ctx context.Context) error         { return c.sc.Ping(ctx) }
func (c *conn) ResetSession(ctx context.Context) error { return c.sc.ResetSession(ctx) }

// CheckNamedValue reduces arguments to the driver's basic types (named
// integer types to int64 and so on), which bind sends.
func (c *conn) CheckNamedValue(v *driver.NamedValue) error {
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
	if len(args) == 0 {
		// The simple protocol: several statements may come at once.
		results, err := c.pg.Exec(ctx, q.SQL).ReadAll()
		if err != nil {
			return nil, retryable(err)
		}
		var n int64
		for _, r := range results {
			n += r.CommandTag.RowsAffected()
		}
		return driver.RowsAffected(n), nil
	}
	p, err := bind(q, args)
	if err != nil {
		return nil, err
	}
	tag, err := c.pg.ExecParams(ctx, q.SQL, p.values, p.oids, p.formats, nil).Close()
	if err != nil {
		return nil, retryable(err)
	}
	return driver.RowsAffected(tag.RowsAffected()), nil
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
	var formats []int16
	if f := q.formats.Load(); f != nil {
		formats = *f
	}
	rr := c.pg.ExecParams(ctx, q.SQL, p.values, p.oids, p.formats, formats)
	fields := rr.FieldDescriptions()
	if fields == nil { // an error, or a statement without rows
		if _, err := rr.Close(); err != nil {
			return nil, retryable(err)
		}
		return &rows{}, nil
	}
	if q.formats.Load() == nil {
		learn(q, fields)
	}
	r := &rows{rr: rr, oids: make([]uint32, len(fields)), formats: make([]int16, len(fields)), names: make([]string, len(fields))}
	for i, f := range fields {
		r.names[i], r.oids[i], r.formats[i] = f.Name, f.DataTypeOID, f.Format
	}
	return r, nil
}

// learn records which of q's result columns come in binary next time:
// those whose binary form is cheaper to read than their text (integers,
// floats, booleans, and bytea, which text doubles into hex). A column
// whose type changes later is still read right: each row description
// says the format it carries.
func learn(q *Query, fields []pgconn.FieldDescription) {
	f := make([]int16, len(fields))
	for i, fd := range fields {
		switch fd.DataTypeOID {
		case oidBool, oidBytea, oidInt2, oidInt4, oidInt8, oidFloat4, oidFloat8:
			f[i] = 1
		}
	}
	q.formats.Store(&f)
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
	rr      *pgconn.ResultReader // nil: no rows
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
	return err
}

func (r *rows) Next(dest []driver.Value) error {
	if r.rr == nil {
		return io.EOF
	}
	if !r.rr.NextRow() {
		_, err := r.rr.Close()
		r.rr = nil
		if err != nil {
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
