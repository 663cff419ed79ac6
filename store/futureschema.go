//go:build patchwell_futureschema

package store

// A build of patchwell one expand migration ahead of this one (go build
// -tags patchwell_futureschema), for the test of a rolling upgrade across
// versions (cmd/patchwell TestRollingUpgradeAcrossVersions): a new table
// and a column with a default, as a next release's expand migration
// would be. Never in a release build.
func init() {
	migrations = append(migrations, `
CREATE TABLE future_things (id INTEGER PRIMARY KEY, note TEXT NOT NULL DEFAULT '');
ALTER TABLE lists ADD COLUMN future_flag INTEGER NOT NULL DEFAULT 0;
`)
	pgMigrations = append(pgMigrations, `
CREATE TABLE future_things (id BIGINT PRIMARY KEY, note TEXT NOT NULL DEFAULT '');
ALTER TABLE lists ADD COLUMN future_flag BIGINT NOT NULL DEFAULT 0;
`)
}
