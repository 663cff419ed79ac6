package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"patchwell/ci"
	"patchwell/sandbox"
)

// cmdRunner runs CI jobs for a patchwell server on this machine.
func cmdRunner(args []string) error {
	fs := newFlags("runner")
	server := fs.String("server", "", "the patchwell server's base URL")
	token := fs.String("token", "", "runner token (visible to other users in ps: prefer --token-file or $PATCHWELL_RUNNER_TOKEN)")
	tokenFile := fs.String("token-file", "", "file holding the runner token")
	name := fs.String("name", "", "this runner's name (default host-pid)")
	poll := fs.Duration("poll", 5*time.Second, "wait between claims when idle")
	once := fs.Bool("once", false, "run at most one job and exit")
	verbose := fs.Bool("v", false, "debug logging")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 || *server == "" {
		return usageError{"usage: patchwell " + commands["runner"].usage}
	}
	tok := *token
	if tok == "" && *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("token file: %w", err)
		}
		tok = strings.TrimSpace(string(b))
	}
	if tok == "" {
		tok = os.Getenv("PATCHWELL_RUNNER_TOKEN")
	}
	if tok == "" {
		return usageError{"runner: a token is required (--token, --token-file or $PATCHWELL_RUNNER_TOKEN)"}
	}
	if err := sandbox.Check(); err != nil {
		return err
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	rr := &ci.RemoteRunner{Server: *server, Token: tok, Name: *name, Poll: *poll, Logger: newLogger(level)}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if *once {
		ran, err := rr.RunOnce(ctx)
		if err == nil && !ran {
			fmt.Fprintln(os.Stderr, "no job")
		}
		return err
	}
	if err := rr.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
