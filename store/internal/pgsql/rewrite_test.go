package pgsql

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestRewrite(t *testing.T) {
	for _, c := range []struct {
		in, want string
		n        int
	}{
		{`SELECT a FROM t WHERE x = ? AND y = ?`, `SELECT a FROM t WHERE x = $1 AND y = $2`, 2},
		{`UPDATE t SET a = ?2 WHERE b = ?1 AND c = ?`, `UPDATE t SET a = $2 WHERE b = $1 AND c = $3`, 3},
		{`SELECT ?3`, `SELECT $3`, 3},
		{`SELECT '?', "x?" FROM t -- what?` + "\n" + `WHERE s LIKE ?`, `SELECT '?', "x?" FROM t -- what?` + "\n" + `WHERE s ILIKE $1`, 1},
		{`SELECT max(a, (SELECT max(b) FROM u)), min(x), instr(s, ?) FROM t`, `SELECT GREATEST(a, (SELECT max(b) FROM u)), min(x), strpos(s, $1) FROM t`, 1},
		{`SELECT max(a || ','), max(')', a), min(/* , */ a)`, `SELECT max(a || ','), GREATEST(')', a), min(/* , */ a)`, 0},
		{`FROM a CROSS JOIN b ON b.id = a.id cross  join c ON c.x = b.x`, `FROM a JOIN b ON b.id = a.id join c ON c.x = b.x`, 0},
		{`SELECT likely, maximum(a, b), x$max(1, 2) FROM t`, `SELECT likely, maximum(a, b), x$max(1, 2) FROM t`, 0},
		{`SELECT cross FROM t CROSS    `, `SELECT cross FROM t CROSS    `, 0}, // no JOIN after it: left alone
		{`SELECT cross joint`, `SELECT cross joint`, 0},
		{`SELECT 'it''s ?', E'\'?', e'\\', ?`, `SELECT 'it''s ?', E'\'?', e'\\', $1`, 1},
		{`SELECT '\', ?`, `SELECT '\', $1`, 1}, // standard_conforming_strings
		{`SELECT "a""?" FROM t WHERE x=?`, `SELECT "a""?" FROM t WHERE x=$1`, 1},
		{`/* a /* ? */ ? */ ?`, `/* a /* ? */ ? */ $1`, 1},
		{`AS $$ SELECT ?, x LIKE y $$; SELECT $f$ ? $f$, ?`, `AS $$ SELECT ?, x LIKE y $$; SELECT $f$ ? $f$, $1`, 1},
		{`SELECT a?, ?b, 1?`, `SELECT a $1, $2 b, 1 $3`, 3},
		{`SELECT ?01, ?`, `SELECT $1, $2`, 2},
		{`SELECT 'open ?`, `SELECT 'open ?`, 0},
		{`SELECT x -- ?`, `SELECT x -- ?`, 0},
	} {
		got, err := Rewrite(c.in)
		if err != nil || got.SQL != c.want || got.N != c.n {
			t.Errorf("Rewrite(%s)\n got %+v (%v)\nwant %s (%d)", c.in, got, err, c.want, c.n)
		}
	}
	for _, bad := range []string{`SELECT ?0`, `SELECT ?65536`, `SELECT ?99999999999999999999999`, `SELECT $1`, `SELECT ?65535, ?`} {
		if q, err := Rewrite(bad); err == nil {
			t.Errorf("Rewrite(%s) = %q, want an error", bad, q.SQL)
		}
	}
	q, err := Rewrite(`SELECT ?2, ?4`)
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range []bool{false, false, true, false, true, false} {
		if q.Uses(n) != want {
			t.Errorf("Uses(%d) = %v", n, !want)
		}
	}
}

// FuzzRewrite checks Rewrite against lex, a tokenizer of its own: it never
// panics; what PostgreSQL reads as string literals, quoted identifiers
// and comments comes out as it went in; every placeholder becomes $N,
// numbered as SQLite numbers them, and N is the highest; it fails only
// on $N or a number out of range.
func FuzzRewrite(f *testing.F) {
	for _, s := range []string{
		`SELECT a FROM t WHERE x = ? AND y = ?2 AND z LIKE ?`,
		`SELECT '?', "x?", E'\'?', $$?$$, $a$?$a$ -- ?` + "\n/* /* ? */ ? */ ?",
		`SELECT max(a, ?), min(b), instr(?, 'x') FROM a CROSS JOIN b ON b.x = a.x`,
		`SELECT ?1, ?, ?3, ?1`,
		`a?E'?'?$x$?$x$?`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := Rewrite(in)
		inSpans, inParams, wantErr := lex(in, '?')
		if err != nil {
			if !wantErr {
				t.Fatalf("Rewrite(%q) = %v", in, err)
			}
			return
		}
		if wantErr {
			t.Fatalf("Rewrite(%q) = %q, want an error", in, q.SQL)
		}
		outSpans, outParams, _ := lex(q.SQL, '$')
		if !slices.Equal(inSpans, outSpans) {
			t.Fatalf("Rewrite(%q) = %q: literals and comments\n in %q\nout %q", in, q.SQL, inSpans, outSpans)
		}
		if !slices.Equal(inParams, outParams) {
			t.Fatalf("Rewrite(%q) = %q: parameters %v, want %v", in, q.SQL, outParams, inParams)
		}
		if n := slices.Max(append(outParams, 0)); q.N != n {
			t.Fatalf("Rewrite(%q).N = %d, want %d", in, q.N, n)
		}
		for _, n := range outParams {
			if !q.Uses(n) {
				t.Fatalf("Rewrite(%q).Uses(%d) = false", in, n)
			}
		}
	})
}

// lex splits q as PostgreSQL would (standard_conforming_strings on): it
// returns the string literals, quoted identifiers and comments, and the
// numbers of the placeholders (mark: '?' for the store's, with SQLite's
// numbering, '$' for PostgreSQL's), and whether q holds something Rewrite
// must refuse.
func lex(q string, mark byte) (spans []string, params []int, bad bool) {
	letter := func(c byte) bool { return c == '_' || c >= 0x80 || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
	digit := func(c byte) bool { return '0' <= c && c <= '9' }
	next := 1
	for i := 0; i < len(q); {
		c := q[i]
		start := i
		switch {
		case c == '\'' || c == '"' || (c == 'e' || c == 'E') && i+1 < len(q) && q[i+1] == '\'':
			quote, esc := c, false
			if c == 'e' || c == 'E' {
				quote, esc = '\'', true
				i++
			}
			for i++; i < len(q); i++ {
				if esc && q[i] == '\\' {
					i++
				} else if q[i] == quote {
					if i+1 < len(q) && q[i+1] == quote {
						i++
					} else {
						break
					}
				}
			}
			i = min(i+1, len(q))
			spans = append(spans, q[start:i])
		case strings.HasPrefix(q[i:], "--"):
			for i < len(q) && q[i] != '\n' {
				i++
			}
			spans = append(spans, q[start:i])
		case strings.HasPrefix(q[i:], "/*"):
			depth := 0
			for i < len(q) {
				if strings.HasPrefix(q[i:], "/*") {
					depth, i = depth+1, i+2
				} else if strings.HasPrefix(q[i:], "*/") {
					depth, i = depth-1, i+2
					if depth == 0 {
						break
					}
				} else {
					i++
				}
			}
			spans = append(spans, q[start:i])
		case letter(c):
			for i < len(q) && (letter(q[i]) || digit(q[i]) || q[i] == '$') {
				i++
			}
		case c == '$' && i+1 < len(q) && digit(q[i+1]) && mark == '?':
			bad = true
			i++
		case c == '$' && !(i+1 < len(q) && digit(q[i+1])):
			// $tag$ opens a dollar-quoted string (the tag a word without $).
			j := i + 1
			if j < len(q) && letter(q[j]) {
				for j < len(q) && (letter(q[j]) || digit(q[j])) {
					j++
				}
			}
			if j < len(q) && q[j] == '$' {
				tag := q[i : j+1]
				if k := strings.Index(q[j+1:], tag); k >= 0 {
					i = j + 1 + k + len(tag)
				} else {
					i = len(q)
				}
				spans = append(spans, q[start:i])
			} else {
				i++
			}
		case c == mark:
			j := i + 1
			for j < len(q) && digit(q[j]) {
				j++
			}
			n := next
			if j > i+1 {
				var err error
				n, err = strconv.Atoi(q[i+1 : j])
				if err != nil || n < 1 || n > MaxParams {
					bad = true
				}
			}
			if n > MaxParams {
				bad = true
			}
			next = max(next, n+1)
			params = append(params, n)
			i = j
		default:
			i++
		}
	}
	return spans, params, bad
}
