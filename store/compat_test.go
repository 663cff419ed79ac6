package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestMigrationsAreExpand: a migration written under the rolling-upgrade
// rules (compat.go) that drops, renames, retypes or constrains what
// exists is marked as a contract migration.
func TestMigrationsAreExpand(t *testing.T) {
	for _, c := range []struct {
		name     string
		from     int
		sqls     []string
		contract map[int]bool
	}{
		{"sqlite", rollingFromSQLite, migrations, contractMigrations},
		{"postgres", rollingFromPG, pgMigrations, contractPGMigrations},
	} {
		for i := c.from - 1; i < len(c.sqls); i++ {
			if contractLike(c.sqls[i]) && !c.contract[i+1] {
				t.Errorf("%s migration %d is a contract migration (it drops, renames, retypes or constrains) but is not marked one in compat.go:\n%s",
					c.name, i+1, c.sqls[i])
			}
		}
	}
	for sql, want := range map[string]bool{
		"CREATE TABLE x (id INTEGER PRIMARY KEY, a TEXT NOT NULL);":                     false,
		"ALTER TABLE x ADD COLUMN b TEXT NOT NULL DEFAULT '';":                          false,
		"ALTER TABLE x ADD COLUMN b TEXT;":                                              false,
		"CREATE INDEX x_a ON x(a);":                                                     false,
		"ALTER TABLE x ADD COLUMN b TEXT NOT NULL;":                                     true,
		"ALTER TABLE x DROP COLUMN a;":                                                  true,
		"DROP TABLE x;":                                                                 true,
		"ALTER TABLE x RENAME TO y;":                                                    true,
		"ALTER TABLE x ALTER COLUMN a TYPE BIGINT;":                                     true,
		"ALTER TABLE x ADD CONSTRAINT a_positive CHECK (a > 0);":                        true,
		"ALTER TABLE x ADD COLUMN c INT NOT NULL DEFAULT 0, ADD COLUMN d INT NOT NULL;": true,
	} {
		if got := contractLike(sql); got != want {
			t.Errorf("contractLike(%q) = %v, want %v", sql, got, want)
		}
	}
}

// TestOlderBinaryOnNewerSchema: a database a newer binary has migrated
// with expand migrations only is used by this one (a rolling upgrade:
// old and new nodes side by side); one that has had a contract migration
// this binary predates is refused, saying why.
func TestOlderBinaryOnNewerSchema(t *testing.T) {
	ctx := context.Background()
	open := opener(t)
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	v := len(migrations)
	stmts := func(compat int) []string {
		return []string{"CREATE TABLE IF NOT EXISTS from_the_future (id INTEGER PRIMARY KEY)",
			fmt.Sprintf("PRAGMA user_version = %d", v+1), "DELETE FROM schema_compat",
			fmt.Sprintf("INSERT INTO schema_compat VALUES (%d)", compat)}
	}
	if onPostgres() {
		v = len(pgMigrations)
		stmts = func(compat int) []string {
			return []string{"CREATE TABLE IF NOT EXISTS from_the_future (id BIGINT PRIMARY KEY)",
				fmt.Sprintf("UPDATE schema_version SET version = %d, compatible_from = %d", v+1, compat)}
		}
	}
	// A newer binary's doing: one more (expand) migration.
	newer := func(compat int) {
		t.Helper()
		for _, q := range stmts(compat) {
			if _, err := st.w.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	}
	newer(0)
	st2, err := open()
	if err != nil {
		t.Fatalf("open a database one expand migration ahead: %v", err)
	}
	if _, err := st2.CreateList(ctx, List{Name: "dev"}); err != nil {
		t.Errorf("write beside a newer binary: %v", err)
	}
	st2.Close()
	newer(v + 1)
	if _, err := open(); !errors.Is(err, ErrNewerDB) || !strings.Contains(err.Error(), "upgrade this one") {
		t.Errorf("open a database past a contract migration: %v", err)
	}
	newer(0)
	st.Close()
}
