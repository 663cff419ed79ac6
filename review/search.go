package review

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode"

	"patchwell/archive"
	"patchwell/store"
)

// ErrBadQuery is returned for a search query that does not parse.
var ErrBadQuery = fmt.Errorf("bad query: %w", store.ErrInvalid)

// parseQuery parses q into the store's search expression; unknown
// prefixes, bad dates and unbalanced quotes or parentheses are ErrBadQuery.
func parseQuery(q string) (*store.SearchExpr, error) {
	toks, err := tokenize(q)
	if err != nil {
		return nil, err
	}
	p := &qparser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, err
	}
	if p.i != len(p.toks) {
		return nil, fmt.Errorf("%w: unexpected %q", ErrBadQuery, p.toks[p.i])
	}
	return e, nil
}

func tokenize(q string) ([]string, error) {
	var toks []string
	rs := []rune(q)
	for i := 0; i < len(rs); {
		switch r := rs[i]; {
		case unicode.IsSpace(r):
			i++
		case r == '(' || r == ')':
			toks = append(toks, string(r))
			i++
		default:
			j := i
			for j < len(rs) && !unicode.IsSpace(rs[j]) && rs[j] != '(' && rs[j] != ')' {
				if rs[j] == '"' {
					k := j + 1
					for k < len(rs) && rs[k] != '"' {
						k++
					}
					if k == len(rs) {
						return nil, fmt.Errorf("%w: unclosed quote", ErrBadQuery)
					}
					j = k
				}
				j++
			}
			toks = append(toks, string(rs[i:j]))
			i = j
		}
		if len(toks) > 200 {
			return nil, fmt.Errorf("%w: too long", ErrBadQuery)
		}
	}
	return toks, nil
}

type qparser struct {
	toks  []string
	i     int
	depth int
}

func (p *qparser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *qparser) or() (*store.SearchExpr, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	q := []*store.SearchExpr{first}
	for p.peek() == "OR" {
		p.i++
		next, err := p.and()
		if err != nil {
			return nil, err
		}
		q = append(q, next)
	}
	if len(q) == 1 {
		return first, nil
	}
	return &store.SearchExpr{Op: store.SearchOr, Args: q}, nil
}

func (p *qparser) and() (*store.SearchExpr, error) {
	var q []*store.SearchExpr
	for {
		switch t := p.peek(); t {
		case "", ")", "OR":
			if len(q) == 0 {
				return nil, fmt.Errorf("%w: missing term", ErrBadQuery)
			}
			if len(q) == 1 {
				return q[0], nil
			}
			return &store.SearchExpr{Op: store.SearchAnd, Args: q}, nil
		case "AND":
			p.i++
			continue
		}
		u, err := p.unary()
		if err != nil {
			return nil, err
		}
		q = append(q, u)
	}
}

func (p *qparser) unary() (*store.SearchExpr, error) {
	switch t := p.peek(); t {
	case "NOT":
		p.i++
		u, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &store.SearchExpr{Op: store.SearchNot, Args: []*store.SearchExpr{u}}, nil
	case "(":
		if p.depth++; p.depth > 20 {
			return nil, fmt.Errorf("%w: nested too deep", ErrBadQuery)
		}
		p.i++
		e, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("%w: missing )", ErrBadQuery)
		}
		p.i++
		p.depth--
		return e, nil
	}
	switch t := p.peek(); t {
	case "", ")", "AND", "OR":
		return nil, fmt.Errorf("%w: missing term before %q", ErrBadQuery, t)
	}
	p.i++
	return parseTerm(p.toks[p.i-1])
}

// fieldsOf maps the public-inbox prefixes to the index's fields.
var fieldsOf = map[string][]string{
	"s":       {store.FieldSubject},
	"f":       {store.FieldFrom},
	"t":       {store.FieldTo},
	"c":       {store.FieldCc},
	"tc":      {store.FieldTo, store.FieldCc},
	"a":       {store.FieldFrom, store.FieldTo, store.FieldCc},
	"b":       {store.FieldNQ, store.FieldQ},
	"bs":      {store.FieldSubject, store.FieldNQ, store.FieldQ},
	"nq":      {store.FieldNQ},
	"q":       {store.FieldQ},
	"dfn":     {store.FieldDFN},
	"dfa":     {store.FieldDFA},
	"dfb":     {store.FieldDFB},
	"patchid": {store.FieldPatchID},
}

func parseTerm(tok string) (*store.SearchExpr, error) {
	prefix, value := "", tok
	if i := strings.IndexByte(tok, ':'); i > 0 && !strings.ContainsRune(tok[:i], '"') {
		prefix, value = tok[:i], tok[i+1:]
	}
	// A trailing * outside the quotes asks for a prefix match.
	star := strings.HasSuffix(value, "*")
	if star {
		value = value[:len(value)-1]
	}
	value = strings.ReplaceAll(value, `"`, "")
	switch prefix {
	case "":
		if len(store.SearchWords(value)) == 0 {
			return nil, fmt.Errorf("%w: nothing to search for in %q", ErrBadQuery, tok)
		}
		return &store.SearchExpr{Op: store.SearchText, Words: []string{value}, Prefix: star}, nil
	case "m", "mid":
		id := strings.TrimSuffix(strings.TrimPrefix(value, "<"), ">")
		if id == "" {
			return nil, fmt.Errorf("%w: empty Message-ID", ErrBadQuery)
		}
		return &store.SearchExpr{Op: store.SearchMessageID, Value: id}, nil
	case "d", "dt", "rt":
		lo, hi, ok := strings.Cut(value, "..")
		if !ok {
			lo, hi = value, value
		}
		t := &store.SearchExpr{Op: store.SearchDate}
		if prefix == "rt" {
			t.Op = store.SearchArrived
		}
		var err error
		if lo != "" {
			if t.From, _, err = parseDay(lo); err != nil {
				return nil, err
			}
		}
		if hi != "" {
			var step time.Duration
			if t.To, step, err = parseDay(hi); err != nil {
				return nil, err
			}
			t.To = t.To.Add(step) // the end is inclusive
		}
		if lo == "" && hi == "" {
			return nil, fmt.Errorf("%w: empty date range", ErrBadQuery)
		}
		return t, nil
	}
	fields, ok := fieldsOf[prefix]
	if !ok {
		return nil, fmt.Errorf("%w: unsupported prefix %q (see /_/text/help/)", ErrBadQuery, prefix+":")
	}
	if len(store.SearchWords(value)) == 0 {
		return nil, fmt.Errorf("%w: nothing to search for in %q", ErrBadQuery, tok)
	}
	return &store.SearchExpr{Op: store.SearchText, Words: []string{value}, Fields: fields, Prefix: star}, nil
}

// parseDay parses a date as b4 and public-inbox write it, returning its
// start and its length (a day, or a second for a full timestamp).
func parseDay(s string) (time.Time, time.Duration, error) {
	for _, f := range []struct {
		layout string
		step   time.Duration
	}{{"20060102", 24 * time.Hour}, {"2006-01-02", 24 * time.Hour}, {"20060102150405", time.Second}} {
		if t, err := time.Parse(f.layout, s); err == nil {
			return t, f.step, nil
		}
	}
	return time.Time{}, 0, fmt.Errorf("%w: bad date %q (want YYYYMMDD, YYYY-MM-DD or YYYYMMDDhhmmss)", ErrBadQuery, s)
}

// maxMboxThreads bounds the threads one search POST returns.
const maxMboxThreads = 1000

// SearchMbox writes, as mboxrd, the whole threads of the named lists
// (those the reader may search: the caller decides) that hold a message
// matching q (what public-inbox answers
// to b4's search POST), the thread of the newest match first. It returns
// store.ErrNotFound, before writing, when nothing matches and ErrBadQuery
// for a query that does not parse.
func (s *Service) SearchMbox(ctx context.Context, lists []string, q string, w io.Writer) error {
	e, err := parseQuery(q)
	if err != nil {
		return err
	}
	if len(lists) == 0 {
		return fmt.Errorf("search %q: %w", q, store.ErrNotFound)
	}
	threads, err := s.st.SearchThreads(ctx, lists, e, maxMboxThreads)
	if err != nil {
		return err
	}
	if len(threads) == 0 {
		return fmt.Errorf("search %q: %w", q, store.ErrNotFound)
	}
	mw := archive.NewMboxWriter(w)
	for _, tid := range threads {
		err := s.st.WalkThread(ctx, tid, func(m *store.Message, raw []byte) error {
			return mw.Write(raw, "mboxrd@z", time.Time{})
		})
		if err != nil {
			return err
		}
	}
	return nil
}
