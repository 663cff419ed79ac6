package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store/pgtest"
)

// The tables only one backend has, each with its reason. Anything else
// must exist on both with the same columns (TestSchemaSameOnPostgres).
var (
	sqliteOnlyTables = map[string]string{
		"search_segments": "FTS4's shadow table of the search index (PostgreSQL: a tsvector column)",
		"search_segdir":   "FTS4's shadow table of the search index",
		"search_docsize":  "FTS4's shadow table of the search index",
		"search_stat":     "FTS4's shadow table of the search index",
		"schema_compat":   "the oldest binary that may run on the database (compat.go; PostgreSQL keeps it in schema_version)",
		// and any sqlite_* table (sqlite_sequence, sqlite_stat1): SQLite's
		// own, a name prefix it reserves.
	}
	pgOnlyTables = map[string]string{
		"schema_version": "PostgreSQL's schema history and compatibility (SQLite keeps PRAGMA user_version and schema_compat)",
	}
	// The search index is a virtual FTS4 table of one column x (the
	// indexed words; the docid is the message's id) on SQLite, and a
	// table (id, x tsvector) on PostgreSQL.
	differentTables = map[string][2][]column{
		"search": {
			{{Name: "x", Type: "text"}},
			{{Name: "id", Type: "integer", NotNull: true, PK: 1}, {Name: "x", Type: "tsvector", NotNull: true}},
		},
	}
)

// column is what the two schemas must agree on, in SQLite's words: the
// type as integer (PostgreSQL: bigint), text, or bytes (BLOB, bytea);
// NOT NULL (a primary key is not null); the default as written (without
// PostgreSQL's ::text); the position in the primary key (0: none).
type column struct {
	Name, Type string
	NotNull    bool
	Default    string
	PK         int
}

// TestSchemaSameOnPostgres opens a fresh store on each backend and
// compares their tables and columns: the two migration histories
// (schema.go, pgschema.go) must end in the same schema.
func TestSchemaSameOnPostgres(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	lite, err := Open(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer lite.Close()
	pg, err := OpenPostgres(ctx, url)
	if err != nil {
		t.Fatalf("OpenPostgres() = %v", err)
	}
	defer pg.Close()
	ls, err := sqliteSchema(ctx, lite)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := pgSchema(ctx, pg)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range differentTables {
		if d := cmp.Diff(want[0], ls[name]); d != "" {
			t.Errorf("SQLite's %s (-want +got):\n%s", name, d)
		}
		if d := cmp.Diff(want[1], ps[name]); d != "" {
			t.Errorf("PostgreSQL's %s (-want +got):\n%s", name, d)
		}
		delete(ls, name)
		delete(ps, name)
	}
	for name := range ls {
		if strings.HasPrefix(name, "sqlite_") {
			delete(ls, name)
		}
	}
	for _, c := range []struct {
		backend string
		tables  map[string][]column
		only    map[string]string
	}{{"SQLite", ls, sqliteOnlyTables}, {"PostgreSQL", ps, pgOnlyTables}} {
		for name := range c.only {
			if _, ok := c.tables[name]; !ok {
				t.Errorf("%s has no table %s: drop it from the exceptions", c.backend, name)
			}
			delete(c.tables, name)
		}
	}
	if len(ls) < 20 {
		t.Fatalf("SQLite has %d tables: %v", len(ls), ls)
	}
	if d := cmp.Diff(ls, ps); d != "" {
		t.Errorf("schemas differ (-SQLite +PostgreSQL):\n%s", d)
	}

	// The indexes made by CREATE INDEX, by name and table (their columns
	// differ: SQLite's end with the rowid unsaid, and some of
	// PostgreSQL's name the id to match), but the search index's.
	li, err := indexes(ctx, lite, `SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	pi, err := indexes(ctx, pg, `SELECT i.indexname, i.tablename FROM pg_indexes i WHERE i.schemaname = current_schema()
		AND i.indexname != 'search_x' -- the tsvector's GIN index: SQLite's is FTS4 itself
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.connamespace = current_schema()::regnamespace)`)
	if err != nil {
		t.Fatal(err)
	}
	if len(li) < 20 {
		t.Fatalf("SQLite has %d indexes: %v", len(li), li)
	}
	if d := cmp.Diff(li, pi); d != "" {
		t.Errorf("indexes differ (-SQLite +PostgreSQL):\n%s", d)
	}
}

// indexes maps index names to their tables.
func indexes(ctx context.Context, s *DB, q string) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("indexes: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var name, table string
		if err := rows.Scan(&name, &table); err != nil {
			return nil, err
		}
		out[name] = table
	}
	return out, rows.Err()
}

func sqliteSchema(ctx context.Context, s *DB) (map[string][]column, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT m.name, p.name, p.type, p."notnull", COALESCE(p.dflt_value, ''), p.pk
		FROM sqlite_master m, pragma_table_info(m.name) p WHERE m.type = 'table' ORDER BY m.name, p.cid`)
	if err != nil {
		return nil, fmt.Errorf("SQLite schema: %w", err)
	}
	defer rows.Close()
	out := map[string][]column{}
	for rows.Next() {
		var table string
		var c column
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.NotNull, &c.Default, &c.PK); err != nil {
			return nil, err
		}
		switch c.Type {
		case "INTEGER":
			c.Type = "integer"
		case "TEXT", "":
			c.Type = "text" // FTS4's columns have no declared type
		case "BLOB":
			c.Type = "bytes"
		default:
			return nil, fmt.Errorf("%s.%s: type %s has no PostgreSQL counterpart here", table, c.Name, c.Type)
		}
		c.NotNull = c.NotNull || c.PK > 0
		out[table] = append(out[table], c)
	}
	return out, rows.Err()
}

func pgSchema(ctx context.Context, s *DB) (map[string][]column, error) {
	pks := map[[2]string]int{}
	rows, err := s.r.QueryContext(ctx, `SELECT k.table_name, k.column_name, k.ordinal_position
		FROM information_schema.table_constraints c JOIN information_schema.key_column_usage k
		ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
		WHERE c.table_schema = current_schema() AND c.constraint_type = 'PRIMARY KEY'`)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL primary keys: %w", err)
	}
	for rows.Next() {
		var table, col string
		var n int
		if err := rows.Scan(&table, &col, &n); err != nil {
			rows.Close()
			return nil, err
		}
		pks[[2]string{table, col}] = n
	}
	rows.Close()
	rows, err = s.r.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_nullable = 'NO', COALESCE(column_default, '')
		FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`)
	if err != nil {
		return nil, fmt.Errorf("PostgreSQL schema: %w", err)
	}
	defer rows.Close()
	out := map[string][]column{}
	for rows.Next() {
		var table string
		var c column
		if err := rows.Scan(&table, &c.Name, &c.Type, &c.NotNull, &c.Default); err != nil {
			return nil, err
		}
		switch c.Type {
		case "bigint":
			c.Type = "integer"
		case "bytea":
			c.Type = "bytes"
		}
		c.Default = strings.TrimSuffix(c.Default, "::text")
		c.PK = pks[[2]string{table, c.Name}]
		out[table] = append(out[table], c)
	}
	return out, rows.Err()
}
