package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"

	"patchwell/internal/progress"
	"patchwell/review"
	"patchwell/store"
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
	ctx := context.Background()
	open := func(where string, mustExist bool) (*store.DB, func(), error) {
		if store.IsPostgresURL(where) {
			st, err := createStore("", where)
			return st, func() {}, err
		}
		if where, err = filepath.Abs(where); err != nil {
			return nil, nil, err
		}
		if mustExist {
			if _, err := os.Stat(filepath.Join(where, store.DBFile)); err != nil {
				return nil, nil, fmt.Errorf("no database in %s: %w", where, err)
			}
		}
		// No server may write to a data directory while it is copied.
		unlock, err := store.LockDir(where)
		if err != nil {
			return nil, nil, err
		}
		st, err := createStore(where, "")
		if err != nil {
			unlock()
			return nil, nil, err
		}
		return st, unlock, nil
	}
	src, unlockSrc, err := open(*from, true)
	if err != nil {
		return err
	}
	defer unlockSrc()
	defer src.Close()
	dst, unlockDst, err := open(*to, false)
	if err != nil {
		return err
	}
	defer unlockDst()
	defer dst.Close()
	if lists, err := dst.Lists(ctx); err != nil {
		return err
	} else if len(lists) > 0 {
		return fmt.Errorf("%s is not empty (it has %d lists): migrate fills an empty store", *to, len(lists))
	}
	bar := progress.New(os.Stderr, storeTotal(ctx, src), "migrate")
	stats, err := review.Reindex(ctx, src, dst, newLogger(slog.LevelWarn), bar.Add)
	bar.Done()
	if err != nil {
		return fmt.Errorf("migrate: %w (the target is incomplete: empty it before trying again)", err)
	}
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("%s: %d messages\n", n, stats[n].Imported)
	}
	return nil
}
