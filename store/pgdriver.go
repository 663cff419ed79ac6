package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/stdlib"
)

// The PostgreSQL backend runs the same SQL as SQLite. The store's queries
// are written in the subset both understand, with SQLite's spelling of the
// few things that differ; this database/sql driver, a thin wrapper around
// pgx's, rewrites them for PostgreSQL before pgx sees them:
//
//   - placeholders: ? is the next argument and ?N the Nth (a bare ?
//     after ?N is N+1, as in SQLite), written into the text as a literal
//     (interpolate);
//   - LIKE becomes ILIKE: SQLite's LIKE ignores ASCII case, which the
//     queries rely on (IMAP SEARCH SUBJECT, webhook event lists);
//   - the scalar max(a, b) and min(a, b) become GREATEST and LEAST (the
//     one-argument aggregates stay), instr becomes strpos, and
//     CROSS JOIN ... ON (SQLite's join-order hint) becomes JOIN ... ON;
//
// and it passes Go booleans as 0 and 1, as SQLite stores them (the schema
// keeps flags in integer columns on both backends).
//
// Arguments are written into the query rather than sent as parameters:
// PostgreSQL types a parameter from its context alone (one compared with 0
// is an int4, and overflows; one a statement does not use has no type and
// fails), while the store's SQL was written for SQLite's dynamic types. A
// literal's type follows its value. The queries go in the simple protocol
// (one round trip, no server-side statements). String literals,
// quoted identifiers and comments are left alone.
const pgDriverName = "pgx_patchwell"

func init() {
	sql.Register(pgDriverName, pgDriver{stdlib.GetDefaultDriver()})
}

type pgDriver struct{ d driver.Driver }

func (d pgDriver) Open(name string) (driver.Conn, error) {
	c, err := d.d.Open(name)
	if err != nil {
		return nil, err
	}
	return &pgConn{c.(*stdlib.Conn)}, nil
}

// pgConn is a pgx connection whose queries are rewritten by rebind and
// sent with their arguments written into the text (interpolate).
type pgConn struct{ c *stdlib.Conn }

// Prepare makes no server-side statement: every query goes as text.
func (c *pgConn) Prepare(q string) (driver.Stmt, error) { return &pgStmt{c, q}, nil }
func (c *pgConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	return &pgStmt{c, q}, nil
}
func (c *pgConn) Close() error              { return c.c.Close() }
func (c *pgConn) Begin() (driver.Tx, error) { return c.c.Begin() }
func (c *pgConn) BeginTx(ctx context.Context, o driver.TxOptions) (driver.Tx, error) {
	return c.c.BeginTx(ctx, o)
}
func (c *pgConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	text, err := interpolate(rebind(q), args)
	if err != nil {
		return nil, err
	}
	return c.c.ExecContext(ctx, text, nil)
}
func (c *pgConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	text, err := interpolate(rebind(q), args)
	if err != nil {
		return nil, err
	}
	return c.c.QueryContext(ctx, text, nil)
}
func (c *pgConn) Ping(ctx context.Context) error         { return c.c.Ping(ctx) }
func (c *pgConn) ResetSession(ctx context.Context) error { return c.c.ResetSession(ctx) }

// CheckNamedValue reduces arguments to the driver's basic types (named
// integer types to int64 and so on), which interpolate writes out.
func (c *pgConn) CheckNamedValue(v *driver.NamedValue) error {
	x, err := driver.DefaultParameterConverter.ConvertValue(v.Value)
	if err != nil {
		return err
	}
	v.Value = x
	return nil
}

// pgStmt is a prepared statement kept on the client.
type pgStmt struct {
	c *pgConn
	q string
}

func (s *pgStmt) Close() error  { return nil }
func (s *pgStmt) NumInput() int { return -1 }
func (s *pgStmt) Exec(args []driver.Value) (driver.Result, error) {
	return nil, errors.New("pgStmt.Exec: use ExecContext")
}
func (s *pgStmt) Query(args []driver.Value) (driver.Rows, error) {
	return nil, errors.New("pgStmt.Query: use QueryContext")
}
func (s *pgStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	return s.c.ExecContext(ctx, s.q, args)
}
func (s *pgStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	return s.c.QueryContext(ctx, s.q, args)
}

// interpolate writes the arguments into a rebound query as literals:
// integers bare (so a literal's type is that of its value: no int4
// overflow, and a parameter a statement leaves unused is no error),
// strings quoted (standard_conforming_strings, on by default since
// PostgreSQL 9.1 and checked by pgx, makes backslashes plain), bytes as
// bytea hex. Nothing else reaches the store's queries.
func interpolate(t *template, args []driver.NamedValue) (string, error) {
	if len(t.args) == 0 && len(args) == 0 {
		return t.text[0], nil
	}
	var b strings.Builder
	b.Grow(len(t.text[0]) + 16*len(args))
	for i, n := range t.args {
		b.WriteString(t.text[i])
		if n < 1 || n > len(args) {
			return "", fmt.Errorf("query wants argument %d of %d", n, len(args))
		}
		switch v := args[n-1].Value.(type) {
		case nil:
			b.WriteString("NULL")
		case int64:
			if v < 0 {
				b.WriteByte('(')
				b.WriteString(strconv.FormatInt(v, 10))
				b.WriteByte(')')
			} else {
				b.WriteString(strconv.FormatInt(v, 10))
			}
		case float64:
			b.WriteByte('(')
			b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			b.WriteByte(')')
		case bool:
			if v {
				b.WriteByte('1')
			} else {
				b.WriteByte('0')
			}
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				return "", errors.New("a text argument holds a NUL byte")
			}
			b.WriteByte('\'')
			b.WriteString(strings.ReplaceAll(v, "'", "''"))
			b.WriteByte('\'')
		case []byte:
			b.WriteString(`'\x`)
			b.WriteString(hex.EncodeToString(v))
			b.WriteString(`'::bytea`)
		default:
			return "", fmt.Errorf("argument %d: unsupported type %T", n, v)
		}
	}
	b.WriteString(t.text[len(t.text)-1])
	return b.String(), nil
}

// template is a rewritten query: text[i] comes before argument args[i]
// (1-based), the last text after the last argument.
type template struct {
	text []string
	args []int
}

// rebound caches rebind's work: the store's queries are a fixed set, apart
// from those built with a placeholder per item (a bounded variety).
var rebound sync.Map // string -> *template

// rebind rewrites one query from the store's SQLite spelling to
// PostgreSQL's (see pgDriverName).
func rebind(q string) *template {
	if r, ok := rebound.Load(q); ok {
		return r.(*template)
	}
	r := rewrite(q)
	if len(r.args) <= 64 { // not the multi-row INSERTs: their variety is large
		rebound.Store(q, r)
	}
	return r
}

func rewrite(q string) *template {
	t := &template{}
	var b strings.Builder
	b.Grow(len(q) + 16)
	next := 1 // the number a bare ? gets
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // doubled quote
						j += 2
						continue
					}
					break
				}
				j++
			}
			j = min(j+1, len(q))
			b.WriteString(q[i:j])
			i = j
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j
		case c == '?':
			j := i + 1
			for j < len(q) && '0' <= q[j] && q[j] <= '9' {
				j++
			}
			n := next
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			next = max(next, n+1)
			t.text = append(t.text, b.String())
			t.args = append(t.args, n)
			b.Reset()
			i = j
		case isIdentStart(c) && (i == 0 || !isIdentByte(q[i-1])):
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			word := q[i:j]
			switch {
			case strings.EqualFold(word, "like"):
				b.WriteString("ILIKE")
			case strings.EqualFold(word, "cross") && hasPrefixFold(strings.TrimLeft(q[j:], " \t\n"), "join"):
				// SQLite's CROSS JOIN ... ON (an inner join whose order
				// the planner keeps) is PostgreSQL's JOIN ... ON.
				j = len(q) - len(strings.TrimLeft(q[j:], " \t\n"))
			case strings.EqualFold(word, "instr") && j < len(q) && q[j] == '(':
				b.WriteString("strpos") // same arguments
			case (strings.EqualFold(word, "max") || strings.EqualFold(word, "min")) && j < len(q) && q[j] == '(' && hasTopComma(q[j:]):
				if strings.EqualFold(word, "max") {
					b.WriteString("GREATEST")
				} else {
					b.WriteString("LEAST")
				}
			default:
				b.WriteString(word)
			}
			i = j
		default:
			b.WriteByte(c)
			i++
		}
	}
	t.text = append(t.text, b.String())
	return t
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_'
}

func isIdentByte(c byte) bool { return isIdentStart(c) || '0' <= c && c <= '9' || c == '$' }

// hasTopComma reports whether the parenthesised group s starts with holds
// a comma outside nested parentheses and strings: a call with several
// arguments.
func hasTopComma(s string) bool {
	depth := 0
	var quote byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '(':
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return false
			}
		case c == ',' && depth == 1:
			return true
		}
	}
	return false
}
