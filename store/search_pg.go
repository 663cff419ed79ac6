package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"patchwell/store/internal/pgsql"
)

// Full-text search on PostgreSQL: the same words as SQLite's FTS4 index
// (search.go: field code + lower-cased word), kept as a tsvector with
// their positions, so a query compiles to the same expression tree and
// finds the same messages. The vector and the query are built here, the
// vector in tsvector's binary format and the query as a tsquery literal:
// PostgreSQL's parser and dictionaries never see the text, so nothing is
// stemmed, stopped or split differently from SQLite.
//
// PostgreSQL's limits on a tsvector, which FTS4 does not have: positions
// stop at 16383 (later words all sit there, so a phrase far down a very
// long message matches less exactly), a word keeps at most 256 positions,
// words are at most 2047 bytes, and a vector at most 1 MB: the words past
// that are not indexed (a message of several megabytes of distinct words).

const (
	pgMaxPos      = 16383
	pgMaxPositons = 256
	pgMaxWord     = 2047
	pgMaxVector   = 1<<20 - 64<<10 // with room to spare
)

// oidTSVector is tsvector's type OID (pg_type.dat).
const oidTSVector = 3614

// tsvectorBinary turns the indexed text of a message into a tsvector in
// PostgreSQL's binary format (tsvectorsend's): the number of words, then
// each word, sorted by bytes, NUL-terminated, with its count of positions
// and each position (1-based, as FTS4 counts; weight bits 0) in 16 bits,
// big-endian. Nothing is quoted and the server parses no text.
func tsvectorBinary(text string) []byte {
	type entry struct {
		word string
		pos  []uint16
	}
	var order []*entry
	byWord := map[string]*entry{}
	size := 4
	pos := 0
	for _, w := range strings.Fields(text) {
		pos++
		if len(w) > pgMaxWord || strings.IndexByte(w, 0) >= 0 {
			continue
		}
		e := byWord[w]
		if e == nil {
			if size+len(w)+8 > pgMaxVector {
				continue
			}
			e = &entry{word: w}
			byWord[w] = e
			order = append(order, e)
			size += len(w) + 3
		}
		if len(e.pos) < pgMaxPositons {
			p := uint16(min(pos, pgMaxPos))
			if len(e.pos) == 0 || e.pos[len(e.pos)-1] != p {
				e.pos = append(e.pos, p)
				size += 2
			}
		}
	}
	slices.SortFunc(order, func(a, b *entry) int { return strings.Compare(a.word, b.word) })
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint32(b, uint32(len(order)))
	for _, e := range order {
		b = append(b, e.word...)
		b = append(b, 0)
		b = binary.BigEndian.AppendUint16(b, uint16(len(e.pos)))
		for _, p := range e.pos {
			b = binary.BigEndian.AppendUint16(b, p)
		}
	}
	return b
}

// quoteLexeme writes w as a quoted tsquery lexeme. The index's
// words hold only letters, digits and marks; the quoting is for safety.
func quoteLexeme(b *strings.Builder, w string) {
	b.WriteByte('\'')
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\'':
			b.WriteString("''")
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteByte(w[i])
		}
	}
	b.WriteByte('\'')
}

// rawRow is a message's compressed bytes, due at commit on PostgreSQL.
type rawRow struct {
	id   int64
	data []byte
}

// pgInsertBytes bounds one multi-row INSERT's arguments, and pgInsertArgs
// their number (the protocol allows 65,535).
const (
	pgInsertBytes = 4 << 20
	pgInsertArgs  = 16000
)

// A transaction that indexes pgBulkIndex messages or more (an import's
// batch) lets the GIN index's list of pending entries grow to 16 MB
// before merging it into the index (4 MB by default), and the merge use
// up to 64 MB (4 MB): larger merges cost less per message, as each word
// shared by many messages is merged into the index once (the server's
// CPU for the 20k import: about 1.5 s, 13%, less). Searches read the
// pending entries too; what a batch leaves there is merged by the next
// write to the index past the default limit, or by autovacuum.
const (
	pgBulkIndex    = 100
	pgBulkSettings = `SELECT set_config('gin_pending_list_limit', '16384', true), set_config('work_mem', '65536', true)`
)

// writeIndexPG writes the transaction's raw messages and search rows, as
// multi-row INSERTs of up to pgInsertBytes: a round trip costs more than
// the statement on PostgreSQL. Nothing reads them back in the
// transaction that writes them.
func (t *writeTx) writeIndexPG(ctx context.Context) error {
	var q strings.Builder
	var args []any
	size := 0
	flush := func(what string) error {
		if len(args) == 0 {
			return nil
		}
		// Deferred: they go with the commit.
		_, err := t.tx.ExecContext(context.WithoutCancel(ctx), q.String(), append([]any{pgsql.Defer}, args...)...)
		q.Reset()
		args, size = args[:0], 0
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	}
	for _, r := range t.raws {
		if len(args) == 0 {
			q.WriteString(`INSERT INTO raw(id, data) VALUES (?, ?)`)
		} else {
			q.WriteString(`, (?, ?)`)
		}
		args = append(args, r.id, r.data)
		if size += len(r.data); size >= pgInsertBytes || len(args) >= pgInsertArgs {
			if err := flush("insert raw"); err != nil {
				return err
			}
		}
	}
	if err := flush("insert raw"); err != nil {
		return err
	}
	t.raws = t.raws[:0]
	vecs := t.vectors.wait()
	if len(vecs) >= pgBulkIndex {
		if err := t.later(ctx, pgBulkSettings); err != nil {
			return fmt.Errorf("index settings: %w", err)
		}
	}
	for _, r := range vecs {
		if len(args) == 0 {
			q.WriteString(`INSERT INTO search(id, x) VALUES (?, ?)`)
		} else {
			q.WriteString(`, (?, ?)`)
		}
		args = append(args, r.id, pgsql.Value{OID: oidTSVector, Data: r.data})
		if size += len(r.data); size >= pgInsertBytes || len(args) >= pgInsertArgs {
			if err := flush("index message"); err != nil {
				return err
			}
		}
	}
	return flush("index message")
}

// vectors turns the search text of a transaction's messages into
// tsvectors (tsvectorBinary) on a goroutine of their own, while the
// transaction goes on (its writer mostly waits for the server): at
// commit they are ready, or nearly.
type vectors struct {
	in   chan *vector
	done chan struct{}
	all  []*vector
}

type vector struct {
	id   int64
	text string
	data []byte
}

func (v *vectors) add(id int64, text string) {
	if v.in == nil {
		v.in, v.done = make(chan *vector, 4096), make(chan struct{})
		go func(in <-chan *vector, done chan<- struct{}) {
			for x := range in {
				x.data = tsvectorBinary(x.text)
				x.text = ""
			}
			close(done)
		}(v.in, v.done)
	}
	x := &vector{id: id, text: text}
	v.all = append(v.all, x)
	v.in <- x
}

// wait returns the vectors made so far, in the order they were added,
// and starts afresh.
func (v *vectors) wait() []*vector {
	if v.in == nil {
		return nil
	}
	close(v.in)
	<-v.done
	all := v.all
	*v = vectors{}
	return all
}

// ftsToTSQuery translates a MATCH expression as compileSearch writes it
// (quoted phrases of field-coded words, the last one maybe with '*';
// AND, OR, NOT and parentheses; juxtaposition meaning AND) to a tsquery
// with the same meaning: a phrase is words joined by <->, '*' is :*, NOT
// (binary in FTS4: a NOT b) is & !. Precedence matches: FTS4 binds NOT,
// then AND, then OR; tsquery binds !, <->, &, then |.
func ftsToTSQuery(fts string) (string, error) {
	var b strings.Builder
	operand := false // the last thing written ends an operand
	for i := 0; i < len(fts); {
		c := fts[i]
		switch {
		case c == ' ':
			i++
		case c == '(' || c == '"':
			if operand {
				b.WriteString(" & ")
			}
			if c == '(' {
				b.WriteByte('(')
				operand = false
				i++
				continue
			}
			j := strings.IndexByte(fts[i+1:], '"')
			if j < 0 {
				return "", fmt.Errorf("%w: unterminated phrase in %q", ErrInvalid, fts)
			}
			phrase := fts[i+1 : i+1+j]
			prefix := strings.HasSuffix(phrase, "*")
			words := strings.Fields(strings.TrimSuffix(phrase, "*"))
			if len(words) == 0 {
				return "", fmt.Errorf("%w: empty phrase in %q", ErrInvalid, fts)
			}
			b.WriteByte('(')
			for k, w := range words {
				if k > 0 {
					b.WriteString(" <-> ")
				}
				quoteLexeme(&b, w)
			}
			if prefix {
				b.WriteString(":*")
			}
			b.WriteByte(')')
			operand = true
			i += j + 2
		case c == ')':
			b.WriteByte(')')
			operand = true
			i++
		case strings.HasPrefix(fts[i:], "AND "):
			b.WriteString(" & ")
			operand = false
			i += 4
		case strings.HasPrefix(fts[i:], "OR "):
			b.WriteString(" | ")
			operand = false
			i += 3
		case strings.HasPrefix(fts[i:], "NOT "):
			b.WriteString(" & !")
			operand = false
			i += 4
		default:
			return "", fmt.Errorf("%w: cannot translate %q at %d", ErrInvalid, fts, i)
		}
	}
	return b.String(), nil
}
