package pgsql

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// MaxParams is the most parameters one statement may have: the protocol
// counts them in 16 bits.
const MaxParams = 65535

// Query is a statement rewritten for PostgreSQL.
type Query struct {
	// SQL is the statement in PostgreSQL's spelling, its placeholders
	// $1, $2 ...
	SQL string
	// N is the highest placeholder number: the arguments it needs.
	N int
	// used[i] reports whether $i+1 appears in SQL.
	used []bool
	// formats is the result format per column, learnt from the first run
	// (see conn.query); nil until then.
	formats atomic.Pointer[[]int16]
	// shared: kept in the cache (rewritten), so connections may keep a
	// server-side statement of it.
	shared bool
}

// Uses reports whether the statement refers to argument n (1-based).
func (q *Query) Uses(n int) bool { return n >= 1 && n <= len(q.used) && q.used[n-1] }

// rewritten caches Rewrite's work: the store's statements are a fixed set,
// apart from those built with a placeholder per item (a bounded variety).
var rewritten sync.Map // string -> *Query

// cached is Rewrite with a cache.
func cached(q string) (*Query, error) {
	if r, ok := rewritten.Load(q); ok {
		return r.(*Query), nil
	}
	r, err := Rewrite(q)
	if err != nil {
		return nil, err
	}
	if r.N <= 64 { // not the multi-row INSERTs: their variety is large
		r.shared = true
		if old, loaded := rewritten.LoadOrStore(q, r); loaded {
			return old.(*Query), nil
		}
	}
	return r, nil
}

// Rewrite turns one statement from the store's SQLite spelling into
// PostgreSQL's:
//
//   - placeholders: ? is the next argument and ?N the Nth (a bare ? after
//     ?N is N+1, as in SQLite); they become $N;
//   - LIKE becomes ILIKE: SQLite's LIKE ignores ASCII case, which the
//     queries rely on (IMAP SEARCH SUBJECT, webhook event lists);
//   - the scalar max(a, b) and min(a, b) become GREATEST and LEAST (the
//     one-argument aggregates stay), instr becomes strpos, and
//     CROSS JOIN ... ON (SQLite's join-order hint) becomes JOIN ... ON.
//
// String literals ('...', E'...', $tag$...$tag$), quoted identifiers
// and comments (--, nested /* */) are left alone, as PostgreSQL reads
// them. A $N outside them is an error (the store writes ?), as is a
// placeholder number outside 1..MaxParams.
func Rewrite(q string) (*Query, error) {
	r := &Query{}
	var b strings.Builder
	b.Grow(len(q) + 16)
	next := 1 // the number a bare ? gets
	for i := 0; i < len(q); {
		if j := skipQuoted(q, i); j > i {
			b.WriteString(q[i:j])
			i = j
			continue
		}
		c := q[i]
		switch {
		case c == '?':
			j := i + 1
			for j < len(q) && isDigit(q[j]) {
				j++
			}
			n := next
			if j > i+1 {
				var err error
				if n, err = strconv.Atoi(q[i+1 : j]); err != nil || n < 1 || n > MaxParams {
					return nil, fmt.Errorf("placeholder %.20s: want ?1 to ?%d", q[i:j], MaxParams)
				}
			}
			if n > MaxParams {
				return nil, fmt.Errorf("more than %d placeholders", MaxParams)
			}
			next = max(next, n+1)
			if i > 0 && isIdentByte(q[i-1]) {
				b.WriteByte(' ') // a$1 would be one identifier
			}
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			if j < len(q) && isIdentByte(q[j]) {
				b.WriteByte(' ') // nor may a word follow $1
			}
			for len(r.used) < n {
				r.used = append(r.used, false)
			}
			r.used[n-1] = true
			r.N = max(r.N, n)
			i = j
		case c == '$' && i+1 < len(q) && isDigit(q[i+1]):
			return nil, errors.New("statement uses $N: write ? or ?N")
		case isIdentStart(c):
			// A whole word (identifier or keyword): nothing inside it
			// starts a string or a placeholder.
			j := i
			for j < len(q) && isIdentByte(q[j]) {
				j++
			}
			word := q[i:j]
			switch {
			case strings.EqualFold(word, "like"):
				b.WriteString("ILIKE")
			case strings.EqualFold(word, "cross") && hasPrefixFold(strings.TrimLeft(q[j:], " \t\r\n"), "join") &&
				!isIdentByteAt(strings.TrimLeft(q[j:], " \t\r\n"), 4):
				// SQLite's CROSS JOIN ... ON (an inner join whose order
				// the planner keeps) is PostgreSQL's JOIN ... ON.
				j = len(q) - len(strings.TrimLeft(q[j:], " \t\r\n"))
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
	r.SQL = b.String()
	return r, nil
}

// skipQuoted returns the end of the string literal, quoted identifier or
// comment that starts at q[i], or i when none does. One left open runs to
// the end of q. The caller never starts it inside a word (Rewrite and
// hasTopComma step over words whole), where E' and $ are not special.
func skipQuoted(q string, i int) int {
	c := q[i]
	switch {
	case c == '\'' || c == '"':
		return skipQuote(q, i+1, c, false)
	case (c == 'e' || c == 'E') && i+1 < len(q) && q[i+1] == '\'':
		return skipQuote(q, i+2, '\'', true)
	case c == '-' && strings.HasPrefix(q[i:], "--"):
		if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
			return i + j
		}
		return len(q)
	case c == '/' && strings.HasPrefix(q[i:], "/*"):
		depth := 0
		for j := i; j < len(q); {
			switch {
			case strings.HasPrefix(q[j:], "/*"):
				depth++
				j += 2
			case strings.HasPrefix(q[j:], "*/"):
				depth--
				j += 2
				if depth == 0 {
					return j
				}
			default:
				j++
			}
		}
		return len(q)
	case c == '$':
		// $tag$ ... $tag$, the tag empty or an identifier without $.
		j := i + 1
		if j < len(q) && isIdentStart(q[j]) {
			for j < len(q) && isIdentStart(q[j]) || j < len(q) && isDigit(q[j]) {
				j++
			}
		}
		if j >= len(q) || q[j] != '$' {
			return i
		}
		tag := q[i : j+1]
		if k := strings.Index(q[j+1:], tag); k >= 0 {
			return j + 1 + k + len(tag)
		}
		return len(q)
	}
	return i
}

// skipQuote returns the end of a quoted text whose opening quote ends
// before q[i]: a doubled quote stands for itself, and so does a
// backslash-escaped one in an E'...' string.
func skipQuote(q string, i int, quote byte, backslash bool) int {
	for i < len(q) {
		switch q[i] {
		case '\\':
			if backslash {
				i += 2
				continue
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i += 2
				continue
			}
			return i + 1
		}
		i++
	}
	return len(q)
}

// hasTopComma reports whether the parenthesised group s starts with holds
// a comma outside nested parentheses, strings and comments: a call with
// several arguments.
func hasTopComma(s string) bool {
	depth := 0
	for i := 0; i < len(s); {
		if j := skipQuoted(s, i); j > i {
			i = j
			continue
		}
		if isIdentStart(s[i]) {
			for i < len(s) && isIdentByte(s[i]) {
				i++
			}
			continue
		}
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return false
			}
		case ',':
			if depth == 1 {
				return true
			}
		}
		i++
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isIdentStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentByte(c byte) bool { return isIdentStart(c) || isDigit(c) || c == '$' }

func isIdentByteAt(s string, i int) bool { return i < len(s) && isIdentByte(s[i]) }
