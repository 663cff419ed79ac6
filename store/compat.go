package store

import (
	"fmt"
	"regexp"
)

// Rolling upgrades: expand, then contract.
//
// Nodes of two releases run side by side on one database while a cluster
// is upgraded one node at a time, so the older binary must keep working
// on the schema the newer one has migrated. Every migration is one of two
// kinds:
//
//   - expand (the default): new tables, new columns with a default, new
//     indexes. What an older binary reads and writes is unchanged, so it
//     may run on the migrated database.
//   - contract: a migration that drops, renames or retypes what an older
//     binary uses, or adds a constraint its writes may break. It is listed
//     in contractMigrations (SQLite) or contractPGMigrations (PostgreSQL)
//     by the version it moves to, and a binary older than it refuses the
//     database.
//
// A change that needs both ships in two releases: release N expands (adds
// the new column and writes both), release N+1 contracts (drops the old)
// once no node runs a release before N. The database records the oldest
// binary that may still run on it (the last contract migration applied:
// compatible_from); a binary whose schema is older than the database's
// runs on it when it is at least that old, and refuses it otherwise.
// TestMigrationsAreExpand keeps unmarked migrations to the expand kind.

// contractMigrations and contractPGMigrations are the versions (1-based:
// the version a migration moves to) of the contract migrations.
var (
	contractMigrations   = map[int]bool{}
	contractPGMigrations = map[int]bool{}
)

// rollingFrom is the first version written under these rules: older
// binaries predate compatible_from and refuse a newer database whatever
// it says, and older migrations were not classified.
const (
	rollingFromSQLite = 24
	rollingFromPG     = 13
)

// compatibleFrom is the oldest binary version (its number of migrations)
// that may run on a database at version v: the last contract migration up
// to v (0: any binary aware of these rules).
func compatibleFrom(contract map[int]bool, v int) int {
	from := 0
	for c := range contract {
		if c <= v && c > from {
			from = c
		}
	}
	return from
}

// checkNewer decides whether a binary at version binary may run on a
// database at version db (db > binary) whose compatible_from is compat.
func checkNewer(db, binary, compat int) error {
	if binary >= compat {
		return nil
	}
	return fmt.Errorf("%w: database %d, binary %d (the database has had a migration that binaries before version %d cannot run beside: upgrade this one)",
		ErrNewerDB, db, binary, compat)
}

// contractLike reports whether a migration's SQL does what only a
// contract migration may: drop, rename or retype something, add a
// constraint, or add a NOT NULL column without a default.
func contractLike(sql string) bool {
	if contractWords.MatchString(sql) {
		return true
	}
	for _, stmt := range regexp.MustCompile(`[;,]`).Split(sql, -1) {
		if addColumn.MatchString(stmt) && notNull.MatchString(stmt) && !hasDefault.MatchString(stmt) {
			return true
		}
	}
	return false
}

var (
	contractWords = regexp.MustCompile(`(?is)\bDROP\s+(TABLE|COLUMN|INDEX|CONSTRAINT|VIEW|TRIGGER)\b|\bRENAME\b|\bALTER\s+COLUMN\b|\bADD\s+CONSTRAINT\b`)
	addColumn     = regexp.MustCompile(`(?is)\bADD\s+(COLUMN\s+)?\w+\s+\w+`)
	notNull       = regexp.MustCompile(`(?is)\bNOT\s+NULL\b`)
	hasDefault    = regexp.MustCompile(`(?is)\bDEFAULT\b`)
)
