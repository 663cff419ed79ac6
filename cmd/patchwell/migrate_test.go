package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestMigrateToPostgres moves a SQLite data directory to PostgreSQL with
// patchwell migrate: the archive exports byte for byte the same, accounts
// and subscribers come along, and so do patches' own states, and a second migrate into the now full
// database is refused.
func TestMigrateToPostgres(t *testing.T) {
	t.Setenv("PATCHWELL_DB", "") // the source is SQLite, whatever the e2e backend
	db := pgtest.URL(t)
	data := t.TempDir()
	mbox := filepath.Join(t.TempDir(), "in.mbox")
	var b strings.Builder
	for i := 1; i <= 5; i++ {
		fmt.Fprintf(&b, "From x@y Thu Jan  1 00:00:00 1970\nFrom: A <a@example.org>\nSubject: [PATCH %d/5] part %d\nMessage-ID: <p%d@example.org>\nDate: Mon, 1 Jan 2024 00:00:0%d +0000\n\n---\n a | 1 +\n\ndiff --git a/a b/a\n--- a/a\n+++ b/a\n@@ -0,0 +1 @@\n+line %d\n\n", i, i, i, i, i)
	}
	if err := os.WriteFile(mbox, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, data, binary, "list", "create", "dev", "--data", data)
	run(t, data, binary, "import", "--data", data, "--list", "dev", mbox)
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("correct horse battery\n"), 0o600)
	run(t, data, binary, "user", "add", "maint@example.org", "--password-file", pw, "--data", data)
	run(t, data, binary, "sub", "add", "reader@example.org", "--list", "dev", "--data", data)

	// A patch's own state (patchwork's), set as the API sets it.
	ctx := context.Background()
	src, err := store.Open(ctx, data)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := src.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, Order: "name", Limit: 1})
	if err != nil || len(ps) != 1 {
		t.Fatalf("patches: %v %v", ps, err)
	}
	state, ref := "awaiting-upstream", "0123abcd"
	if _, err := src.UpdatePatch(ctx, ps[0].ID, store.PatchUpdate{State: &state, CommitRef: &ref}, 0, time.Now()); err != nil {
		t.Fatal(err)
	}
	src.Close()

	out := run(t, data, binary, "migrate", "--from", data, "--to", db)
	if !strings.Contains(out, "dev: 5 messages") {
		t.Fatalf("migrate said:\n%s", out)
	}
	before := filepath.Join(t.TempDir(), "before.mbox")
	after := filepath.Join(t.TempDir(), "after.mbox")
	run(t, data, binary, "export", "--data", data, "--list", "dev", "--out", before)
	run(t, data, binary, "export", "--data", t.TempDir(), "--db", db, "--list", "dev", "--out", after)
	x, _ := os.ReadFile(before)
	y, _ := os.ReadFile(after)
	if len(x) == 0 || !bytes.Equal(x, y) {
		t.Errorf("export differs after migrate: %d bytes before, %d after", len(x), len(y))
	}
	if out := run(t, data, binary, "user", "ls", "--db", db); !strings.Contains(out, "maint@example.org") {
		t.Errorf("user ls on PostgreSQL:\n%s", out)
	}
	if out := run(t, data, binary, "sub", "ls", "--list", "dev", "--db", db); !strings.Contains(out, "reader@example.org") {
		t.Errorf("sub ls on PostgreSQL:\n%s", out)
	}
	if out := run(t, data, binary, "check", "--db", db); !strings.Contains(strings.ToLower(out), "ok") {
		t.Errorf("check on PostgreSQL:\n%s", out)
	}
	dst, err := store.OpenPostgres(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	got, err := dst.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, MessageID: ps[0].MessageID, Limit: 1})
	dst.Close()
	if err != nil || len(got) != 1 || got[0].State != state || got[0].CommitRef != ref {
		t.Errorf("patch %s on PostgreSQL: %+v %v, want state %s and commit %s", ps[0].MessageID, got, err, state, ref)
	}
	cmd := exec.Command(binary, "migrate", "--from", data, "--to", db)
	msg, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(msg), "not empty") {
		t.Errorf("second migrate: %v\n%s", err, msg)
	}
	cmd = exec.Command(binary, "list", "ls", "--db", "mysql://x")
	if msg, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(msg), "postgres://") {
		t.Errorf("a bad --db: %v\n%s", err, msg)
	}
}
