package main

import (
	"context"
	"log/slog"

	"patchwell/review"
)

// cmdMigrate copies a deployment's store into an empty one: a SQLite data
// directory to PostgreSQL (the way past one machine), or back, or one
// PostgreSQL database into another. It is reindex with another target:
// every message is replayed in arrival order (UIDs and UIDVALIDITY stay),
// what is derived from the mail is rebuilt, and what is not (accounts,
// roles, tokens, status history, subscribers, policies, held mail, checks,
// CI jobs, webhooks, repositories, secrets, pending deliveries) is carried.
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
