package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Full-text search: every message gets one row in the contentless FTS4
// table "search" (docid = messages.id), queued by AddMessage and written at
// the end of the same transaction as the message (writeIndex says why),
// so a committed message is always findable.
//
// Fields are word prefixes, not columns: each word is lower-cased here and
// indexed with a one-letter field code in front ("fix the quoting" in the
// subject is "sfix sthe squoting"). A phrase in a field is then an FTS
// phrase of prefixed words, which FTS4 column filters cannot express, and
// several fields are an OR of phrases. The FTS tokenizer only splits on
// spaces; the words are cut here, outside the write transaction.
//
// The diff line fields (dfa, dfb) index each distinct word of a message
// once: code repeats its identifiers, and this halves their share of the
// index. A phrase there matches lines holding all its words. Context lines
// and hunk headers (public-inbox's dfctx:, dfhh:) are not indexed: they
// were a fifth of the words, for prefixes hardly anyone uses.
//
// FTS4 rather than FTS5: mattn/go-sqlite3 compiles FTS5 only under a build
// tag (sqlite_fts5), and a plain `go build` or `go test` would then make a
// binary that cannot open its database. FTS4 is built in.

// Search fields: the columns of the index, named by their public-inbox
// prefixes.
const (
	FieldSubject = "s"       // Subject
	FieldFrom    = "f"       // From: name and address
	FieldTo      = "t"       // To: addresses and names
	FieldCc      = "c"       // Cc: addresses and names
	FieldNQ      = "nq"      // body text, not quoted
	FieldQ       = "q"       // quoted body text ("> " lines)
	FieldDFN     = "dfn"     // file names of a diff
	FieldDFA     = "dfa"     // removed ("-") diff lines
	FieldDFB     = "dfb"     // added ("+") diff lines
	FieldPatchID = "patchid" // git patch-id --stable
)

// bareFields are where a word without a prefix is looked for: the
// subject, the sender, the body and the diff (not To/Cc, which every
// message of a list shares, nor the patch-id).
var bareFields = []string{FieldSubject, FieldFrom, FieldNQ, FieldQ, FieldDFN, FieldDFA, FieldDFB}

// fieldCode is the one-letter prefix of each field's words in the index.
var fieldCode = map[string]byte{FieldSubject: 's', FieldFrom: 'f', FieldTo: 't', FieldCc: 'c',
	FieldNQ: 'b', FieldQ: 'q', FieldDFN: 'n', FieldDFA: 'a', FieldDFB: 'p', FieldPatchID: 'i'}

// unordered fields index each distinct word once: no phrases there.
var unordered = map[string]bool{FieldDFA: true, FieldDFB: true}

// SearchDoc is the text of a message for the full-text index, as review
// extracts it from the parsed mail (the store does not parse bodies).
// Subject and From come from NewMessage.
type SearchDoc struct {
	To, Cc      string
	NQ, Q       string // body: not quoted, quoted
	DiffFiles   string
	DiffRemoved string
	DiffAdded   string
	PatchID     string
}

// SearchOp is the kind of a SearchExpr node.
type SearchOp int

// Search expression nodes.
const (
	SearchAnd       SearchOp = iota // all of Args
	SearchOr                        // any of Args
	SearchNot                       // not Args[0]
	SearchText                      // Words as a phrase in Fields
	SearchDate                      // Date header in [From, To)
	SearchArrived                   // arrival time in [From, To)
	SearchMessageID                 // Message-ID equals Value
)

// SearchExpr is a parsed search query, a tree the store turns into one
// FTS MATCH expression plus SQL conditions. Words are free text: the store
// keeps only their letters and digits, so no input reaches FTS as syntax.
type SearchExpr struct {
	Op   SearchOp
	Args []*SearchExpr
	// SearchText: the words of a phrase (one word is a term), the fields
	// to look in (nil: subject, from, body and diff), and whether the last
	// word is a prefix ("foo*").
	Words  []string
	Fields []string
	Prefix bool
	// SearchDate, SearchArrived: the range; a zero bound is open.
	From, To time.Time
	// SearchMessageID: the id, without angle brackets.
	Value string
}

// searchWords splits s into the words the index holds: runs of letters,
// digits and marks (unicode61 splits on the rest too). Nothing else
// survives, so the result can be quoted into a MATCH expression as is.
func searchWords(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return !isWordRune(r) })
}

// SearchWords is how the index splits text into words; a query term with
// none matches nothing and review rejects it.
func SearchWords(s string) []string { return searchWords(s) }

// ftsWord quotes one prefixed word for a MATCH expression.
func ftsWord(code byte, w string, prefix bool) string {
	star := ""
	if prefix {
		star = "*"
	}
	return `"` + string(code) + w + star + `"`
}

// compiled is a SearchExpr turned into SQL: it means
// (fts == "" or docid MATCH fts, negated when neg) and cond.
type compiled struct {
	fts  string
	neg  bool
	cond string
	args []any
}

// ftsQuery is a MATCH expression among a query's arguments, turned into
// the index's own query syntax once the query is built (ftsDialect.arg).
type ftsQuery string

// ftsDialect is how one backend's full-text index is queried: a condition
// on messages m (one placeholder, the query), and the tables, condition
// and order of a search the index drives.
type ftsDialect struct {
	match, from, where, order string
	arg                       func(fts string) (any, error)
}

var (
	// FTS4 hands out docids newest first (order=DESC) and the LIMIT stops
	// it early; CROSS JOIN keeps search the outer loop (the other order
	// runs the full-text query once per message).
	sqliteFTS = ftsDialect{
		match: `m.id IN (SELECT docid FROM search WHERE search MATCH ?)`,
		from:  `FROM search CROSS JOIN messages m ON m.id = search.docid CROSS JOIN lists l ON l.id = m.list_id`,
		where: `search MATCH ?`,
		order: `search.docid DESC`,
		arg:   func(fts string) (any, error) { return fts, nil },
	}
	// PostgreSQL: a tsvector per message (search_pg.go).
	pgFTS = ftsDialect{
		match: `m.id IN (SELECT id FROM search WHERE x @@ CAST(? AS tsquery))`,
		from:  `FROM search JOIN messages m ON m.id = search.id JOIN lists l ON l.id = m.list_id`,
		where: `search.x @@ CAST(? AS tsquery)`,
		order: `search.id DESC`,
		arg:   func(fts string) (any, error) { return ftsToTSQuery(fts) },
	}
)

// sql returns c as one SQL condition on messages m.
func (c compiled) sql(d *ftsDialect) (string, []any) {
	var parts []string
	var args []any
	if c.fts != "" {
		if c.neg {
			parts = append(parts, "NOT "+d.match)
		} else {
			parts = append(parts, d.match)
		}
		args = append(args, ftsQuery(c.fts))
	}
	if c.cond != "" {
		parts = append(parts, "("+c.cond+")")
		args = append(args, c.args...)
	}
	if len(parts) == 0 {
		return "1=1", nil
	}
	return strings.Join(parts, " AND "), args
}

func (c compiled) pureFTS() bool { return c.fts != "" && !c.neg && c.cond == "" }
func (c compiled) pureNeg() bool { return c.fts != "" && c.neg && c.cond == "" }

// maxSearchNodes bounds the work one query may ask for.
const maxSearchNodes = 256

func compileSearch(e *SearchExpr, budget *int, d *ftsDialect) (compiled, error) {
	if e == nil {
		return compiled{}, fmt.Errorf("%w: empty query", ErrInvalid)
	}
	if *budget--; *budget < 0 {
		return compiled{}, fmt.Errorf("%w: query too complex", ErrInvalid)
	}
	switch e.Op {
	case SearchText:
		var words []string
		for _, w := range e.Words {
			words = append(words, searchWords(strings.ToLower(w))...)
		}
		if len(words) == 0 {
			return compiled{}, fmt.Errorf("%w: nothing to search for (a term needs letters or digits)", ErrInvalid)
		}
		fields := e.Fields
		if len(fields) == 0 {
			fields = bareFields
		}
		var alts []string
		for _, f := range fields {
			code, ok := fieldCode[f]
			if !ok {
				return compiled{}, fmt.Errorf("%w: unknown search field %q", ErrInvalid, f)
			}
			if unordered[f] && len(words) > 1 {
				// All the words, anywhere in the field.
				var all []string
				for i, w := range words {
					all = append(all, ftsWord(code, w, e.Prefix && i == len(words)-1))
				}
				alts = append(alts, "("+strings.Join(all, " ")+")")
				continue
			}
			var b strings.Builder
			b.WriteByte('"')
			for i, w := range words {
				if i > 0 {
					b.WriteByte(' ')
				}
				b.WriteByte(code)
				b.WriteString(w)
			}
			if e.Prefix {
				b.WriteByte('*')
			}
			b.WriteByte('"')
			alts = append(alts, b.String())
		}
		if len(alts) == 1 {
			return compiled{fts: alts[0]}, nil
		}
		return compiled{fts: "(" + strings.Join(alts, " OR ") + ")"}, nil
	case SearchDate, SearchArrived:
		col := "m.date"
		if e.Op == SearchArrived {
			col = "m.arrived"
		}
		conds := []string{col + " != 0"}
		var args []any
		if !e.From.IsZero() {
			conds = append(conds, col+" >= ?")
			args = append(args, e.From.Unix())
		}
		if !e.To.IsZero() {
			conds = append(conds, col+" < ?")
			args = append(args, e.To.Unix())
		}
		return compiled{cond: strings.Join(conds, " AND "), args: args}, nil
	case SearchMessageID:
		return compiled{cond: "m.message_id = ?", args: []any{e.Value}}, nil
	case SearchNot:
		if len(e.Args) != 1 {
			return compiled{}, fmt.Errorf("%w: NOT takes one operand", ErrInvalid)
		}
		c, err := compileSearch(e.Args[0], budget, d)
		if err != nil {
			return c, err
		}
		if c.cond == "" {
			c.neg = !c.neg
			return c, nil
		}
		s, args := c.sql(d)
		return compiled{cond: "NOT (" + s + ")", args: args}, nil
	case SearchAnd, SearchOr:
		if len(e.Args) == 0 {
			return compiled{}, fmt.Errorf("%w: empty group", ErrInvalid)
		}
		cs := make([]compiled, len(e.Args))
		for i, a := range e.Args {
			c, err := compileSearch(a, budget, d)
			if err != nil {
				return c, err
			}
			cs[i] = c
		}
		if len(cs) == 1 {
			return cs[0], nil
		}
		if e.Op == SearchOr {
			return compileOr(cs, d), nil
		}
		return compileAnd(cs, d), nil
	}
	return compiled{}, fmt.Errorf("%w: unknown search operator %d", ErrInvalid, e.Op)
}

// compileOr keeps an OR of FTS terms in one MATCH; anything else is an OR
// of SQL conditions.
func compileOr(cs []compiled, d *ftsDialect) compiled {
	all := true
	for _, c := range cs {
		all = all && c.pureFTS()
	}
	if all {
		fts := make([]string, len(cs))
		for i, c := range cs {
			fts[i] = "(" + c.fts + ")"
		}
		return compiled{fts: strings.Join(fts, " OR ")}
	}
	var conds []string
	var args []any
	for _, c := range cs {
		s, a := c.sql(d)
		conds = append(conds, "("+s+")")
		args = append(args, a...)
	}
	return compiled{cond: strings.Join(conds, " OR "), args: args}
}

// compileAnd joins the positive FTS parts into one MATCH, subtracts the
// negated ones there (FTS NOT is binary: it needs a positive side), and
// keeps the rest as SQL.
func compileAnd(cs []compiled, d *ftsDialect) compiled {
	var pos, neg, conds []string
	var args []any
	for _, c := range cs {
		switch {
		case c.fts != "" && !c.neg:
			pos = append(pos, "("+c.fts+")")
			if c.cond != "" {
				conds = append(conds, "("+c.cond+")")
				args = append(args, c.args...)
			}
		case c.pureNeg():
			neg = append(neg, "("+c.fts+")")
		default:
			s, a := c.sql(d)
			conds = append(conds, "("+s+")")
			args = append(args, a...)
		}
	}
	var out compiled
	switch {
	case len(pos) > 0:
		out.fts = strings.Join(pos, " AND ")
		for _, n := range neg {
			out.fts += " NOT " + n
		}
	case len(neg) > 0:
		out.fts, out.neg = strings.Join(neg, " OR "), true
	}
	out.cond = strings.Join(conds, " AND ")
	out.args = args
	return out
}

// searchSQL builds the query for the messages matching e in the named
// lists, newest arrival first.
func searchSQL(pg bool, lists []string, e *SearchExpr, cols string) (string, []any, error) {
	if len(lists) == 0 {
		return "", nil, fmt.Errorf("%w: search names no list", ErrInvalid)
	}
	d := &sqliteFTS
	if pg {
		d = &pgFTS
	}
	budget := maxSearchNodes
	c, err := compileSearch(e, &budget, d)
	if err != nil {
		return "", nil, err
	}
	var q strings.Builder
	var args []any
	where := []string{}
	if c.fts != "" && !c.neg {
		// The index drives the query.
		q.WriteString(`SELECT ` + cols + ` ` + d.from)
		where = append(where, d.where)
		args = append(args, ftsQuery(c.fts))
		if c.cond != "" {
			where = append(where, "("+c.cond+")")
			args = append(args, c.args...)
		}
	} else {
		q.WriteString(`SELECT ` + cols + ` FROM messages m JOIN lists l ON l.id = m.list_id`)
		s, a := c.sql(d)
		where = append(where, s)
		args = append(args, a...)
	}
	if len(lists) == 1 {
		where = append(where, "m.list_id = (SELECT id FROM lists WHERE name = ?)")
	} else {
		where = append(where, "m.list_id IN (SELECT id FROM lists WHERE name IN ("+placeholders(len(lists))+"))")
	}
	for _, l := range lists {
		args = append(args, l)
	}
	q.WriteString(" WHERE " + strings.Join(where, " AND "))
	if c.fts != "" && !c.neg {
		q.WriteString(" ORDER BY " + d.order)
	} else {
		q.WriteString(" ORDER BY m.id DESC")
	}
	for i, a := range args {
		if f, ok := a.(ftsQuery); ok {
			if args[i], err = d.arg(string(f)); err != nil {
				return "", nil, err
			}
		}
	}
	return q.String(), args, nil
}

// Search implements Store.
func (s *DB) Search(ctx context.Context, lists []string, e *SearchExpr, p Page) ([]Message, error) {
	p = p.Normalize()
	q, args, err := searchSQL(s.pg, lists, e, messageCols)
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, q+" LIMIT ? OFFSET ?", append(args, p.Limit, p.Offset)...)
	if err != nil {
		return nil, searchErr(err)
	}
	out, err := collect(rows, nil, "search", func(sc scanner) (*Message, error) { return scanMessage(sc) })
	return out, searchErr(err)
}

// SearchThreads implements Store.
func (s *DB) SearchThreads(ctx context.Context, lists []string, e *SearchExpr, limit int) ([]int64, error) {
	q, args, err := searchSQL(s.pg, lists, e, "m.thread_id")
	if err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, searchErr(err)
	}
	defer rows.Close()
	var out []int64
	seen := map[int64]bool{}
	for rows.Next() && len(out) < limit {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, searchErr(rows.Err())
}

// searchErr turns what FTS rejects (a query no input should produce, but
// never a 500) into ErrInvalid.
func searchErr(err error) error {
	if err == nil {
		return nil
	}
	if strings.Contains(err.Error(), "malformed MATCH") || strings.Contains(err.Error(), "fts") || strings.Contains(err.Error(), "tsquery") {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return fmt.Errorf("search: %w", err)
}

// searchText is the indexed text of m: every word lower-cased and
// prefixed with its field's code.
func (m *NewMessage) searchText() string {
	d := m.Search
	if d == nil {
		d = &SearchDoc{}
	}
	var b strings.Builder
	b.Grow(len(m.Subject) + len(d.NQ) + len(d.Q) + (len(d.DiffAdded)+len(d.DiffRemoved))/2 + 256)
	seen := map[string]struct{}{}
	for _, f := range [...]struct{ name, text string }{
		{FieldSubject, m.Subject}, {FieldFrom, m.From.Name}, {FieldFrom, m.From.Email},
		{FieldTo, d.To}, {FieldCc, d.Cc}, {FieldNQ, d.NQ}, {FieldQ, d.Q}, {FieldDFN, d.DiffFiles},
		{FieldDFA, d.DiffRemoved}, {FieldDFB, d.DiffAdded}, {FieldPatchID, d.PatchID},
	} {
		if f.text == "" {
			continue
		}
		var dedup map[string]struct{}
		if unordered[f.name] {
			clear(seen)
			dedup = seen
		}
		appendWords(&b, fieldCode[f.name], f.text, dedup)
	}
	return b.String()
}

// asciiWord is isWordRune for ASCII.
var asciiWord = func() (t [utf8.RuneSelf]bool) {
	for r := range t {
		t[r] = 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return t
}()

// isWordRune is what searchWords keeps.
func isWordRune(r rune) bool {
	if r < 0x80 {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9'
	}
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsMark(r) || unicode.Is(unicode.Co, r)
}

// appendWords writes each word of text, lower-cased, as " <code>word",
// once when dedup is not nil. Words are lower-cased one by one in a
// scratch buffer, ASCII ones byte by byte: no allocation per word.
func appendWords(b *strings.Builder, code byte, text string, dedup map[string]struct{}) {
	var scratch [64]byte
	buf := scratch[:0]
	start, ascii := -1, true
	for i := 0; ; {
		r, size := rune(-1), 1
		if i < len(text) {
			if c := text[i]; c < utf8.RuneSelf {
				r = rune(c)
			} else {
				r, size = utf8.DecodeRuneInString(text[i:])
			}
		}
		if r >= 0 && (r < utf8.RuneSelf && asciiWord[r] || r >= utf8.RuneSelf && isWordRune(r)) {
			if start < 0 {
				start, ascii = i, true
			}
			ascii = ascii && r < utf8.RuneSelf
		} else if start >= 0 {
			w := text[start:i]
			start = -1
			lower := true // w is lower-case already
			if ascii {
				buf = append(buf[:0], w...)
				for k, c := range buf {
					if 'A' <= c && c <= 'Z' {
						buf[k] = c + 'a' - 'A'
						lower = false
					}
				}
			} else {
				buf = append(buf[:0], strings.ToLower(w)...)
				lower = string(buf) == w
			}
			seen := false
			if dedup != nil {
				if _, seen = dedup[string(buf)]; !seen {
					if lower {
						dedup[w] = struct{}{} // a piece of text: no copy
					} else {
						dedup[string(buf)] = struct{}{}
					}
				}
			}
			if !seen {
				b.WriteByte(' ')
				b.WriteByte(code)
				b.Write(buf)
			}
		}
		if i >= len(text) {
			return
		}
		i += size
	}
}

// indexRow is the search row of one message, due at commit.
type indexRow struct {
	id   int64
	text string
}

// indexMessage queues the search row of message id for writeIndex.
func (t *writeTx) indexMessage(id int64, m *NewMessage) {
	text := m.text
	if text == "" {
		text = m.searchText()
	}
	if t.pg {
		t.vectors.add(id, text)
		return
	}
	t.index = append(t.index, indexRow{id, text})
}

// writeIndex writes the queued search rows, the transaction's last
// statements. FTS4 keeps inserted words in memory (its pending terms) and
// writes them as one index segment when the transaction commits, or when
// they pass 1 MB, but also whenever a statement opens a statement
// savepoint: any later statement that may need to undo part of itself (an
// INSERT that fires a trigger, such as the list counters', a multi-row
// UPDATE). Interleaved with the messages' other rows, that wrote one tiny
// segment per message and merged them over and over: it tripled the cost
// of a bulk import. Written together, a batch of messages makes a few
// large segments.
func (t *writeTx) writeIndex(ctx context.Context) error {
	if t.pg {
		return t.writeIndexPG(ctx)
	}
	for _, r := range t.index {
		if _, err := t.exec(ctx, `INSERT INTO search(docid, x) VALUES(?, ?)`, r.id, r.text); err != nil {
			return fmt.Errorf("index message: %w", err)
		}
	}
	t.index = t.index[:0]
	return nil
}

// SearchUnindexed implements Store.
func (s *DB) SearchUnindexed(ctx context.Context) (int, error) {
	var n int
	q := `SELECT count(*) FROM messages WHERE id NOT IN (SELECT docid FROM search_docsize)`
	if s.pg {
		q = `SELECT count(*) FROM messages m WHERE NOT EXISTS (SELECT 1 FROM search WHERE id = m.id)`
	}
	err := s.r.QueryRowContext(ctx, q).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unindexed: %w", err)
	}
	return n, nil
}

// SearchHit is one message found by a search, with a line of its text
// that shows why.
type SearchHit struct {
	Message
	Snippet string
}
