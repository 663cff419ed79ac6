package store

import (
	"database/sql/driver"
	"testing"
)

func TestRewrite(t *testing.T) {
	for _, c := range []struct {
		in   string
		args []any
		want string
	}{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, []any{int64(1), "it's"}, `SELECT a FROM t WHERE x = 1 AND y = 'it''s'`},
		{`UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?`, []any{int64(-3), nil, []byte{0xde, 0xad}}, `UPDATE t SET a = NULL WHERE b = (-3) AND c = '\xdead'::bytea`},
		{`SELECT '?', "x?" FROM t -- what?` + "\n" + `WHERE s LIKE ?`, []any{"%a%"}, `SELECT '?', "x?" FROM t -- what?` + "\n" + `WHERE s ILIKE '%a%'`},
		{`SELECT max(a, (SELECT max(b) FROM u)), min(x), instr(s, ?) FROM t`, []any{"q"}, `SELECT GREATEST(a, (SELECT max(b) FROM u)), min(x), strpos(s, 'q') FROM t`},
		{`FROM a CROSS JOIN b ON b.id = a.id cross  join c ON c.x = b.x`, nil, `FROM a JOIN b ON b.id = a.id join c ON c.x = b.x`},
		{`SELECT likely, maximum(a, b), x$max(1, 2) FROM t`, nil, `SELECT likely, maximum(a, b), x$max(1, 2) FROM t`},
		{`SELECT cross FROM t CROSS    `, nil, `SELECT cross FROM t CROSS    `}, // no JOIN after it: left alone
	} {
		var nv []driver.NamedValue
		for i, a := range c.args {
			nv = append(nv, driver.NamedValue{Ordinal: i + 1, Value: a})
		}
		got, err := interpolate(rebind(c.in), nv)
		if err != nil || got != c.want {
			t.Errorf("%s\n got %s (%v)\nwant %s", c.in, got, err, c.want)
		}
	}
	if _, err := interpolate(rebind(`SELECT ?, ?`), []driver.NamedValue{{Ordinal: 1, Value: int64(1)}}); err == nil {
		t.Error("a missing argument is no error")
	}
	if _, err := interpolate(rebind(`SELECT ?`), []driver.NamedValue{{Ordinal: 1, Value: "a\x00b"}}); err == nil {
		t.Error("a NUL byte in text is no error")
	}
}
