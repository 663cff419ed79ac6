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

// query is a parsed search expression (the public-inbox / lore syntax b4
// sends): terms with prefixes, AND (also implied), OR, NOT, parentheses.
type query interface {
	match(m *store.Message, changeIDs map[int64]string) bool
}

type andQ []query
type orQ []query
type notQ struct{ q query }
type termQ struct {
	prefix string // s, f, d, dt, rt, mid, nq, "" (bare)
	value  string // lower case for text terms
	from   time.Time
	to     time.Time // exclusive
}

func (q andQ) match(m *store.Message, c map[int64]string) bool {
	for _, x := range q {
		if !x.match(m, c) {
			return false
		}
	}
	return true
}

func (q orQ) match(m *store.Message, c map[int64]string) bool {
	for _, x := range q {
		if x.match(m, c) {
			return true
		}
	}
	return false
}

func (q notQ) match(m *store.Message, c map[int64]string) bool { return !q.q.match(m, c) }

func (q termQ) match(m *store.Message, changeIDs map[int64]string) bool {
	switch q.prefix {
	case "s", "":
		return strings.Contains(strings.ToLower(m.Subject), q.value)
	case "f":
		return strings.Contains(strings.ToLower(m.From.Email), q.value) || strings.Contains(strings.ToLower(m.From.Name), q.value)
	case "mid", "m":
		return strings.EqualFold(m.MessageID, strings.Trim(q.value, "<>"))
	case "d", "dt":
		return inRange(m.Date, q.from, q.to)
	case "rt":
		return inRange(m.Arrived, q.from, q.to)
	case "nq":
		// Only "change-id: X" is answered from the index (the series'
		// change-id); other body phrases fall back to the subject.
		if id, ok := strings.CutPrefix(q.value, "change-id:"); ok {
			return m.SeriesID != 0 && strings.EqualFold(changeIDs[m.SeriesID], strings.TrimSpace(id))
		}
		return strings.Contains(strings.ToLower(m.Subject), q.value)
	}
	return false
}

func inRange(t, from, to time.Time) bool {
	if t.IsZero() {
		return false
	}
	return (from.IsZero() || !t.Before(from)) && (to.IsZero() || t.Before(to))
}

// parseQuery parses q; unknown prefixes are an error.
func parseQuery(q string) (query, error) {
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

func (p *qparser) or() (query, error) {
	first, err := p.and()
	if err != nil {
		return nil, err
	}
	q := orQ{first}
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
	return q, nil
}

func (p *qparser) and() (query, error) {
	var q andQ
	for {
		switch t := p.peek(); t {
		case "", ")", "OR":
			if len(q) == 0 {
				return nil, fmt.Errorf("%w: missing term", ErrBadQuery)
			}
			if len(q) == 1 {
				return q[0], nil
			}
			return q, nil
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

func (p *qparser) unary() (query, error) {
	switch t := p.peek(); t {
	case "NOT":
		p.i++
		u, err := p.unary()
		if err != nil {
			return nil, err
		}
		return notQ{u}, nil
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
	p.i++
	return parseTerm(p.toks[p.i-1])
}

func parseTerm(tok string) (query, error) {
	prefix, value := "", tok
	if i := strings.IndexByte(tok, ':'); i > 0 && !strings.HasPrefix(tok, "\"") {
		prefix, value = tok[:i], tok[i+1:]
	}
	value = strings.ToLower(strings.Trim(value, "\""))
	switch prefix {
	case "", "s", "f", "mid", "m", "nq":
		if prefix == "" {
			value = strings.ToLower(strings.Trim(tok, "\""))
		}
		return termQ{prefix: prefix, value: value}, nil
	case "d", "dt", "rt":
		lo, hi, ok := strings.Cut(value, "..")
		if !ok {
			lo, hi = value, value
		}
		t := termQ{prefix: prefix}
		var err error
		if lo != "" {
			if t.from, err = parseDay(lo); err != nil {
				return nil, err
			}
		}
		if hi != "" {
			if t.to, err = parseDay(hi); err != nil {
				return nil, err
			}
			t.to = t.to.AddDate(0, 0, 1)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: unsupported prefix %q", ErrBadQuery, prefix)
}

func parseDay(s string) (time.Time, error) {
	for _, layout := range []string{"20060102", "2006-01-02", "20060102150405"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: bad date %q (want YYYYMMDD)", ErrBadQuery, s)
}

// SearchMbox writes, as mboxrd, the whole threads of a list that hold a
// message matching q (what public-inbox answers to b4's search POST). It
// returns store.ErrNotFound, before writing, when nothing matches and
// ErrBadQuery for a query that does not parse.
//
// The search runs over the stored metadata (subject, sender, dates,
// Message-ID, the series' change-id); full-text body search comes with
// the search index.
func (s *Service) SearchMbox(ctx context.Context, list, q string, w io.Writer) error {
	pq, err := parseQuery(q)
	if err != nil {
		return err
	}
	changeIDs := map[int64]string{}
	if strings.Contains(q, "nq:") {
		for off := 0; off < 100000; off += 1000 {
			page, err := s.st.SeriesList(ctx, list, "", store.Page{Limit: 1000, Offset: off})
			if err != nil {
				return err
			}
			for _, se := range page {
				if se.ChangeID != "" {
					changeIDs[se.ID] = se.ChangeID
				}
			}
			if len(page) < 1000 {
				break
			}
		}
	}
	var threads []int64
	seen := map[int64]bool{}
	err = s.st.Scan(ctx, list, func(m *store.Message) error {
		if !seen[m.ThreadID] && pq.match(m, changeIDs) {
			seen[m.ThreadID] = true
			threads = append(threads, m.ThreadID)
		}
		return nil
	})
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
