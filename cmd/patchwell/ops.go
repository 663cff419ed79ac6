package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"patchwell/store"
)

func cmdBackup(args []string) error {
	fs := newFlags("backup")
	data, dbURL := storeFlags(fs)
	out := fs.String("out", "", "the copy to write (must not exist)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *out == "" || len(pos) != 0 {
		return usageError{"usage: patchwell " + commands["backup"].usage}
	}
	if *dbURL != "" {
		return errors.New("the store is PostgreSQL (--db or $PATCHWELL_DB): back it up with pg_dump (docs/deploy.md)")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := store.Backup(ctx, *data, *out); err != nil {
		return err
	}
	fi, err := os.Stat(*out)
	if err != nil {
		return err
	}
	fmt.Printf("wrote %s (%d bytes)\n", *out, fi.Size())
	return nil
}
