package main

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestRollingUpgradeAcrossVersions runs two nodes of different releases
// on one PostgreSQL database, as a rolling upgrade does: this binary, and
// a build one expand migration ahead of it (the patchwell_futureschema
// tag: a new table and a column with a default). The newer node migrates
// the database when it starts; the older one keeps taking mail beside it,
// and starts again on the migrated database (it would refuse one that
// had had a contract migration: store's TestOlderBinaryOnNewerSchema).
// Every message either node acknowledged is stored once.
func TestRollingUpgradeAcrossVersions(t *testing.T) {
	db := pgtest.URL(t)
	newer := filepath.Join(t.TempDir(), "patchwell-next")
	if out, err := exec.Command("go", "build", "-tags", "patchwell_futureschema", "-o", newer, ".").CombinedOutput(); err != nil {
		t.Fatalf("build the next release: %v\n%s", err, out)
	}
	ctx := context.Background()
	version := func() (v, compat int) {
		t.Helper()
		conn, err := sql.Open("pgx", db)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if err := conn.QueryRowContext(ctx, `SELECT version, compatible_from FROM schema_version`).Scan(&v, &compat); err != nil {
			t.Fatal(err)
		}
		return v, compat
	}
	old := startServer(t, t.TempDir(), "--db", db, "--ci=false")
	send := func(srv *testServer, id string) {
		t.Helper()
		msg := fmt.Sprintf("From: A <a@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: %s\r\nMessage-ID: <%s@example.org>\r\n\r\nbody\r\n", id, id)
		if err := smtpSend(srv.smtp, "a@example.org", []string{"dev@patchwell.localhost"}, msg); err != nil {
			t.Fatalf("send %s: %v", id, err)
		}
	}
	send(old, "before")
	v0, _ := version()

	// The next release starts beside it and migrates.
	next := startServerBinary(t, newer, t.TempDir(), "--db", db, "--ci=false")
	if v, compat := version(); v != v0+1 || compat != 0 {
		t.Fatalf("after the newer node started: schema %d (compatible from %d), want %d (0)", v, compat, v0+1)
	}
	send(next, "to-newer")
	send(old, "to-older-after-migration")
	// The older node restarts (a crash, or the rollout paused) on the
	// migrated database.
	old.stop()
	old = startServer(t, old.data, "--db", db, "--ci=false")
	send(old, "to-older-restarted")
	send(next, "to-newer-again")

	st, err := store.OpenPostgres(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]int{}
	if err := st.Scan(ctx, "dev", func(m *store.Message) error { seen[m.MessageID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"before", "to-newer", "to-older-after-migration", "to-older-restarted", "to-newer-again"} {
		if seen[id+"@example.org"] != 1 {
			t.Errorf("%s stored %d times, want once", id, seen[id+"@example.org"])
		}
	}
}
