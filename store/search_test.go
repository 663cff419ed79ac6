package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"patchwell/core"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"patchwell/store/internal/pgsql"
)

// searchFixture stores four messages with known text in every column.
func searchFixture(t *testing.T) (*DB, *List) {
	t.Helper()
	st, l := mustOpen(t)
	day := func(s string) time.Time {
		d, err := time.Parse("2006-01-02", s)
		if err != nil {
			t.Fatal(err)
		}
		return d.Add(12 * time.Hour)
	}
	for _, m := range []struct {
		id, subject, name, email, date string
		doc                            SearchDoc
	}{
		{"a@x", "[PATCH 1/2] builtin/am: fix the quoting of names", "Ann Author", "ann@example.org", "2024-01-10",
			SearchDoc{To: "git@vger.kernel.org", Cc: "gitster@pobox.com", NQ: "The quoting was broken.\nchange-id: 20240110-quote-v1-abc123",
				DiffFiles: "builtin/am.c", DiffRemoved: "return quote_name(x);", DiffAdded: "return sq_quote_name(x);",
				PatchID: "0123456789abcdef0123456789abcdef01234567"}},
		{"b@x", "Re: [PATCH 1/2] builtin/am: fix the quoting of names", "Bob Reviewer", "bob@example.com", "2024-01-11",
			SearchDoc{To: "ann@example.org", Cc: "git@vger.kernel.org", NQ: "Looks good.\nReviewed-by: Bob", Q: "The quoting was broken."}},
		{"c@x", "<script>alert(1)</script> \u202esdrawkcab", "Mallory", "mal@evil.test", "2024-02-01",
			SearchDoc{NQ: "a body with <b>tags</b> and \u202e bidi"}},
		{"d@x", "unrelated: release notes", "Ann Author", "ann@example.org", "2024-03-01",
			SearchDoc{NQ: "nothing about am here, only names"}},
	} {
		var refs []string
		if m.id == "b@x" {
			refs = []string{"a@x"}
		}
		add(t, st, &NewMessage{ListID: l.ID, Raw: []byte("Message-ID: <" + m.id + ">\n\nx\n"), MessageID: m.id, References: refs,
			Subject: m.subject, From: core.Person{Name: m.name, Email: m.email}, Date: day(m.date), Arrived: day(m.date),
			Search: &m.doc})
	}
	return st, l
}

func text(words string, fields ...string) *SearchExpr {
	return &SearchExpr{Op: SearchText, Words: []string{words}, Fields: fields}
}

func and(a ...*SearchExpr) *SearchExpr { return &SearchExpr{Op: SearchAnd, Args: a} }
func or(a ...*SearchExpr) *SearchExpr  { return &SearchExpr{Op: SearchOr, Args: a} }
func not(a *SearchExpr) *SearchExpr    { return &SearchExpr{Op: SearchNot, Args: []*SearchExpr{a}} }

func ids(t *testing.T, st *DB, list string, e *SearchExpr) []string {
	t.Helper()
	ms, err := st.Search(context.Background(), strings.Split(list, ","), e, Page{Limit: 100})
	if err != nil {
		t.Fatalf("Search() = %v", err)
	}
	var out []string
	for _, m := range ms {
		out = append(out, m.MessageID)
	}
	return out
}

func TestSearchFields(t *testing.T) {
	st, _ := searchFixture(t)
	jan := &SearchExpr{Op: SearchDate, From: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}
	for _, tc := range []struct {
		name string
		e    *SearchExpr
		want []string // newest first
	}{
		{"subject word", text("quoting", FieldSubject), []string{"b@x", "a@x"}},
		{"subject phrase", text("fix the quoting", FieldSubject), []string{"b@x", "a@x"}},
		{"subject phrase out of order", text("quoting the fix", FieldSubject), nil},
		{"from address", text("ann@example.org", FieldFrom), []string{"d@x", "a@x"}},
		{"from name", text("bob", FieldFrom), []string{"b@x"}},
		{"to", text("ann@example.org", FieldTo), []string{"b@x"}},
		{"cc", text("gitster", FieldCc), []string{"a@x"}},
		{"any address", text("ann@example.org", FieldFrom, FieldTo, FieldCc), []string{"d@x", "b@x", "a@x"}},
		{"body not quoted", text("quoting was broken", FieldNQ), []string{"a@x"}},
		{"body quoted", text("quoting was broken", FieldQ), []string{"b@x"}},
		{"body", text("quoting was broken", FieldNQ, FieldQ), []string{"b@x", "a@x"}},
		{"change-id", text("change-id: 20240110-quote-v1-abc123", FieldNQ), []string{"a@x"}},
		{"file name", text("builtin/am.c", FieldDFN), []string{"a@x"}},
		{"removed line", text("quote_name", FieldDFA), []string{"a@x"}},
		{"added line", text("sq_quote_name", FieldDFB), []string{"a@x"}},
		{"added line is not removed", text("sq_quote_name", FieldDFA), nil},
		{"patch-id", text("0123456789abcdef0123456789abcdef01234567", FieldPatchID), []string{"a@x"}},
		{"bare word anywhere", text("names"), []string{"d@x", "b@x", "a@x"}},
		{"prefix", &SearchExpr{Op: SearchText, Words: []string{"quot"}, Prefix: true, Fields: []string{FieldSubject}}, []string{"b@x", "a@x"}},
		{"AND", and(text("names"), text("ann", FieldFrom)), []string{"d@x", "a@x"}},
		{"OR", or(text("bob", FieldFrom), text("mallory", FieldFrom)), []string{"c@x", "b@x"}},
		{"NOT", and(text("names"), not(text("reviewer", FieldFrom))), []string{"d@x", "a@x"}},
		{"NOT alone", not(text("names")), []string{"c@x"}},
		{"NOT of OR", and(text("ann", FieldFrom), not(or(text("release", FieldSubject), text("nothing")))), []string{"a@x"}},
		{"date range", jan, []string{"b@x", "a@x"}},
		{"date and term", and(jan, text("ann", FieldFrom)), []string{"a@x"}},
		{"date or term", or(jan, text("mallory", FieldFrom)), []string{"c@x", "b@x", "a@x"}},
		{"NOT date", and(text("ann", FieldFrom), not(jan)), []string{"d@x"}},
		{"open range", &SearchExpr{Op: SearchArrived, From: time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)}, []string{"d@x", "c@x"}},
		{"message-id", &SearchExpr{Op: SearchMessageID, Value: "b@x"}, []string{"b@x"}},
		{"message-id or term", or(&SearchExpr{Op: SearchMessageID, Value: "b@x"}, text("mallory", FieldFrom)), []string{"c@x", "b@x"}},
		{"script tags", text("script alert", FieldSubject), []string{"c@x"}},
		{"bidi", text("\u202esdrawkcab"), []string{"c@x"}},
		{"tags in body", text("b tags b", FieldNQ), []string{"c@x"}},
		{"FTS syntax is text", text(`"quoting" OR NOT * (`, FieldSubject), nil},
		{"FTS keywords are words", text("NOT"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(t, st, "dev", tc.e); !slices.Equal(got, tc.want) {
				t.Errorf("Search() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSearchListsPagingThreads(t *testing.T) {
	st, _ := searchFixture(t)
	if got := ids(t, st, "nosuch,dev", text("names")); len(got) != 3 {
		t.Errorf("across lists: %q", got)
	}
	if _, err := st.Search(context.Background(), nil, text("names"), Page{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no list: %v, want ErrInvalid", err)
	}
	if got := ids(t, st, "nosuch", text("names")); len(got) != 0 {
		t.Errorf("unknown list: %q", got)
	}
	ms, err := st.Search(context.Background(), []string{"dev"}, text("names"), Page{Limit: 2, Offset: 1})
	if err != nil || len(ms) != 2 || ms[0].MessageID != "b@x" || ms[1].MessageID != "a@x" {
		t.Errorf("page 2: %v %v", ms, err)
	}
	th, err := st.SearchThreads(context.Background(), []string{"dev"}, text("quoting"), 10)
	if err != nil || len(th) != 1 {
		t.Errorf("SearchThreads(quoting) = %v, %v; want one thread (a@x and its reply)", th, err)
	}
	th, err = st.SearchThreads(context.Background(), []string{"dev"}, text("ann", FieldFrom), 1)
	if err != nil || len(th) != 1 {
		t.Errorf("SearchThreads(limit 1) = %v, %v", th, err)
	}
}

func TestSearchRejects(t *testing.T) {
	st, _ := searchFixture(t)
	deep := text("x")
	for range 300 {
		deep = not(deep)
	}
	for name, e := range map[string]*SearchExpr{
		"no words":      text("!!! ..."),
		"bad field":     text("x", "nosuch"),
		"empty group":   {Op: SearchAnd},
		"nil":           nil,
		"too complex":   deep,
		"bad NOT arity": {Op: SearchNot},
	} {
		if _, err := st.Search(context.Background(), []string{"dev"}, e, Page{}); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Search() = %v, want ErrInvalid", name, err)
		}
	}
}

// TestSearchMigratedIndex: a database from before the index gets an
// empty one; SearchUnindexed says how many messages reindex must add.
func TestSearchMigratedIndex(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:2] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`PRAGMA user_version = 2;
		INSERT INTO lists(id, name, created, uidvalidity, next_uid) VALUES(1, 'old', 1, 7, 2);
		INSERT INTO threads(id, list_id, root, root_depth) VALUES(1, 1, 1, 0);
		INSERT INTO messages(id, list_id, uid, message_id, sha256, size, subject, arrived, thread_id) VALUES(1, 1, 1, 'old@x', X'00', 1, 'old subject', 1, 1);`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(v2) = %v", err)
	}
	defer st.Close()
	if n, err := st.SearchUnindexed(context.Background()); n != 1 || err != nil {
		t.Fatalf("SearchUnindexed() = %d, %v; want 1", n, err)
	}
	l, _ := st.List(context.Background(), "old")
	add(t, st, &NewMessage{ListID: l.ID, Raw: []byte("new\n"), MessageID: "new@x", Subject: "new subject"})
	if got := ids(t, st, "old", text("subject", FieldSubject)); !slices.Equal(got, []string{"new@x"}) {
		t.Errorf("after migration: %q", got)
	}
	if n, err := st.SearchUnindexed(context.Background()); n != 1 || err != nil {
		t.Fatalf("SearchUnindexed() = %d, %v; want still 1", n, err)
	}
}

// TestSearchBatchOneSegment: a transaction's messages reach the index
// together, as one FTS segment, even though each message's other rows
// fire triggers (the list counters) that would flush FTS4's pending terms
// after every message; and every message of the batch is found.
func TestSearchBatchOneSegment(t *testing.T) {
	sqliteOnly(t)
	st, l := mustOpen(t)
	ctx := context.Background()
	const n = 50
	err := st.Update(ctx, func(tx Tx) error {
		for i := range n {
			id := fmt.Sprintf("m%d@x", i)
			_, err := tx.AddMessage(ctx, &NewMessage{ListID: l.ID, Raw: []byte("Message-ID: <" + id + ">\n\nx\n"), MessageID: id,
				Subject: fmt.Sprintf("batch word%d", i), From: core.Person{Name: "Ann", Email: "ann@example.org"},
				Search: &SearchDoc{NQ: fmt.Sprintf("body%d shared text", i)}})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update() = %v", err)
	}
	var segs int
	if err := st.r.QueryRow(`SELECT count(*) FROM search_segdir`).Scan(&segs); err != nil {
		t.Fatal(err)
	}
	if segs != 1 {
		t.Errorf("%d messages in one transaction made %d index segments, want 1", n, segs)
	}
	if got := ids(t, st, "dev", text("shared text", FieldNQ)); len(got) != n {
		t.Errorf("phrase common to all: %d hits, want %d", len(got), n)
	}
	for _, i := range []int{0, n / 2, n - 1} {
		want := []string{fmt.Sprintf("m%d@x", i)}
		if got := ids(t, st, "dev", text(fmt.Sprintf("word%d", i), FieldSubject)); !slices.Equal(got, want) {
			t.Errorf("subject word%d: %v, want %v", i, got, want)
		}
		if got := ids(t, st, "dev", text(fmt.Sprintf("body%d", i))); !slices.Equal(got, want) {
			t.Errorf("body%d: %v, want %v", i, got, want)
		}
	}
	if n, err := st.SearchUnindexed(ctx); err != nil || n != 0 {
		t.Errorf("SearchUnindexed() = %d, %v; want 0", n, err)
	}
}

// TestSearchText: each word lower-cased (ASCII and not) behind its field
// code, split at punctuation and at bytes that are not UTF-8, and the diff
// line fields' words once each.
func TestSearchText(t *testing.T) {
	m := &NewMessage{Subject: "Fix ÜBER-Quoting in Straße", From: core.Person{Name: "Ann", Email: "ann@x.org"},
		Search: &SearchDoc{NQ: "a\xffB c", DiffAdded: "Foo(foo, FOO); bar", DiffRemoved: "foo"}}
	got := m.searchText()
	want := " sfix süber squoting sin sstraße fann fann fx forg ba bb bc afoo pfoo pbar"
	if got != want {
		t.Errorf("searchText() = %q, want %q", got, want)
	}
}

// TestTSVectorBinary: PostgreSQL reads tsvectorBinary's output as the
// vector its text form describes: words sorted, positions kept, clamped
// at 16383 and cut after 256, words past 2047 bytes left out.
func TestTSVectorBinary(t *testing.T) {
	if !onPostgres() {
		t.Skip("PostgreSQL's tsvector")
	}
	st, _ := mustOpen(t)
	ctx := context.Background()
	long := strings.Repeat("x", pgMaxWord+1)
	many := strings.TrimSpace(strings.Repeat("r ", 300))
	far := strings.TrimSpace(strings.Repeat("f ", pgMaxPos+5)) + " z"
	for _, c := range []struct{ text, want string }{
		{"sb sa sb", `'sa':2 'sb':1,3`},
		{"bhéllo b✓ bzz ba", `'ba':4 'bhéllo':1 'bzz':3 'b✓':2`},
		{"a " + long + " b", `'a':1 'b':3`},
		{"", ``},
		{many, "'r':" + positions(1, 256)},
		{far, "'f':" + positions(1, 256) + " 'z':16383"},
	} {
		var same bool
		var got string
		err := st.r.QueryRowContext(ctx, `SELECT CAST(? AS tsvector) = ?, CAST(? AS text)`, c.want,
			pgsql.Value{OID: oidTSVector, Data: tsvectorBinary(c.text)}, pgsql.Value{OID: oidTSVector, Data: tsvectorBinary(c.text)}).
			Scan(&same, &got)
		if err != nil || !same {
			t.Errorf("tsvectorBinary(%.40q) = %.80s (%v), want %.80s", c.text, got, err, c.want)
		}
	}
}

func positions(from, to int) string {
	var b strings.Builder
	for i := from; i <= to; i++ {
		if i > from {
			b.WriteByte(',')
		}
		fmt.Fprint(&b, i)
	}
	return b.String()
}
