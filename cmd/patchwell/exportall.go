package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"

	"patchwell/review"
	"patchwell/store"
)

// exportAll is export --all: review.ExportAll into the new directory out.
// Like export it reads a store a server may be running on.
func exportAll(data, dbURL, out string, withSecrets bool) error {
	st, err := openStore(data, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	bar, done := progressLine("export")
	err = review.ExportAll(context.Background(), st, out, review.ExportOptions{WithSecrets: withSecrets, Version: version(), Progress: bar})
	done()
	if err != nil {
		return err
	}
	fmt.Printf("exported to %s\n", out)
	return nil
}

// importAll is import --all: review.ImportAll from the export directory
// dir into the empty store --data (locked meanwhile: no server may run
// on it) or --db. A store that is not empty is a usage error (exit 2).
func importAll(data, dbURL, dir string) error {
	if dbURL == "" {
		unlock, err := store.LockDir(data)
		if err != nil {
			return err
		}
		defer unlock()
	}
	st, err := createStore(data, dbURL)
	if err != nil {
		return err
	}
	bar, done := progressLine("import")
	stats, err := review.ImportAll(context.Background(), dir, st, newLogger(slog.LevelWarn), bar)
	done()
	if cerr := st.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if errors.Is(err, review.ErrNotEmpty) {
		return usageError{err.Error()}
	}
	if err != nil && !errors.Is(err, review.ErrBadExport) {
		return fmt.Errorf("%w (the store is incomplete: empty it before trying again)", err)
	}
	if err != nil {
		return err
	}
	printStats(stats, "%s: %d messages\n")
	return nil
}

// version is the module's version as the build recorded it.
func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
