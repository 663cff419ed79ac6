package main

import (
	"context"
	"log/slog"

	"patchwell/review"
)

// cmdMigrate copies a deployment's store into an empty one (review.Migrate).
func cmdMigrate(args []string) error {
	fs := newFlags("migrate")
	from := fs.String("from", "", "the store to copy: a data directory (SQLite) or a postgres:// URL")
	to := fs.String("to", "", "the empty store to fill: a postgres:// URL or a data directory")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *from == "" || *to == "" {
		return usageError{"usage: patchwell " + commands["migrate"].usage}
	}
	bar, done := progressLine("migrate")
	stats, err := review.Migrate(context.Background(), *from, *to, newLogger(slog.LevelWarn), bar)
	done()
	if err != nil {
		return err
	}
	printStats(stats, "%s: %d messages\n")
	return nil
}
