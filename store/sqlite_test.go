package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"patchwell/store/pgtest"
)

// backendEnv chooses the backend the store's tests run on: SQLite by
// default, PostgreSQL when it is "postgres" (make test runs the package
// once on each; see store/pgtest for the server).
const backendEnv = "PATCHWELL_STORE_BACKEND"

func onPostgres() bool { return os.Getenv(backendEnv) == "postgres" }

// opener returns a function opening one test database, again and again
// (several handles on one database, as several processes have).
func opener(t testing.TB) func() (*DB, error) {
	t.Helper()
	if onPostgres() {
		u := pgtest.URL(t)
		return func() (*DB, error) { return OpenPostgres(context.Background(), u) }
	}
	dir := t.TempDir()
	return func() (*DB, error) { return Open(context.Background(), dir) }
}

// sqliteOnly skips a test of SQLite's own machinery on PostgreSQL.
func sqliteOnly(t testing.TB) {
	if onPostgres() {
		t.Skip("tests SQLite's own files and pragmas")
	}
}

func mustOpen(t *testing.T) (*DB, *List) {
	t.Helper()
	st, err := opener(t)()
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	l, err := st.CreateList(context.Background(), List{Name: "dev"})
	if err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	return st, l
}

func add(t *testing.T, st *DB, m *NewMessage) *Added {
	t.Helper()
	var a *Added
	err := st.Update(context.Background(), func(tx Tx) error {
		var err error
		a, err = tx.AddMessage(context.Background(), m)
		return err
	})
	if err != nil {
		t.Fatalf("AddMessage(%q) = %v", m.MessageID, err)
	}
	return a
}

func msg(l *List, id string, refs ...string) *NewMessage {
	raw := fmt.Sprintf("Message-ID: <%s>\nSubject: %s\n\nbody of %s\n", id, id, id)
	irt := ""
	if len(refs) > 0 {
		irt = refs[len(refs)-1]
	}
	return &NewMessage{ListID: l.ID, Raw: []byte(raw), MessageID: id, References: refs, InReplyTo: irt, Subject: id,
		Date: time.Unix(1700000000, 0)}
}

func TestListNames(t *testing.T) {
	st, _ := mustOpen(t)
	for _, tc := range []struct {
		name string
		want error
	}{
		{"dev", ErrExists},
		{"linux-kernel.2", nil},
		{"Dev", ErrBadName},
		{"a b", ErrBadName},
		{"", ErrBadName},
		{"../x", ErrBadName},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := st.CreateList(context.Background(), List{Name: tc.name})
			if !errors.Is(err, tc.want) {
				t.Fatalf("CreateList(%q) = %v, want %v", tc.name, err, tc.want)
			}
		})
	}
}

func TestDedupAndUIDs(t *testing.T) {
	st, l := mustOpen(t)
	a1 := add(t, st, msg(l, "a@x"))
	a2 := add(t, st, msg(l, "a@x")) // same bytes
	if !a2.Duplicate || a2.ID != a1.ID {
		t.Fatalf("same bytes twice: duplicate=%v id %d vs %d", a2.Duplicate, a2.ID, a1.ID)
	}
	other := msg(l, "a@x")
	other.Raw = append(other.Raw, "different\n"...)
	a3 := add(t, st, other)
	if a3.Duplicate || a3.Flags&FlagDupMessageID == 0 {
		t.Fatalf("same Message-ID, other bytes: duplicate=%v flags=%b", a3.Duplicate, a3.Flags)
	}
	noid := msg(l, "")
	noid.Raw = []byte("Subject: none\n\nno id\n")
	a4 := add(t, st, noid)
	if a4.Flags&FlagNoMessageID == 0 || a4.MessageID == "" {
		t.Fatalf("no Message-ID: flags=%b id=%q", a4.Flags, a4.MessageID)
	}
	if a1.UID != 1 || a3.UID != 2 || a4.UID != 3 {
		t.Fatalf("UIDs = %d %d %d, want 1 2 3", a1.UID, a3.UID, a4.UID)
	}
	raw, err := st.Raw(context.Background(), "dev", "a@x")
	if err != nil || string(raw) != string(msg(l, "a@x").Raw) {
		t.Fatalf("Raw() = %q, %v", raw, err)
	}
	var n int
	st.Walk(context.Background(), "dev", func(m *Message, raw []byte) error { n++; return nil })
	if n != 3 {
		t.Fatalf("Walk saw %d messages, want 3", n)
	}
	if err := st.Check(context.Background()); err != nil {
		t.Fatalf("Check() = %v", err)
	}
}

func TestThreadingOutOfOrder(t *testing.T) {
	st, l := mustOpen(t)
	// Grandchild and child arrive before the root; a second thread stays apart.
	c2 := add(t, st, msg(l, "c2@x", "root@x", "c1@x"))
	other := add(t, st, msg(l, "other@x"))
	c1 := add(t, st, msg(l, "c1@x", "root@x"))
	root := add(t, st, msg(l, "root@x"))
	if c2.ThreadID != c1.ThreadID || c1.ThreadID != root.ThreadID {
		t.Fatalf("thread ids %d %d %d, want equal", c2.ThreadID, c1.ThreadID, root.ThreadID)
	}
	if other.ThreadID == root.ThreadID {
		t.Fatal("unrelated message joined the thread")
	}
	// A reply that only names the grandchild in In-Reply-To (no References).
	orphan := add(t, st, msg(l, "c3@x", "c2@x"))
	if orphan.ThreadID != root.ThreadID {
		t.Fatal("reply by In-Reply-To did not join")
	}
	// Two threads that meet through a later message merge.
	x := add(t, st, msg(l, "x@x", "ghost@x"))
	y := add(t, st, msg(l, "y@x", "other@x", "ghost@x"))
	if x.ThreadID == other.ThreadID {
		t.Fatal("threads merged too early")
	}
	th, err := st.Threads(context.Background(), "dev", Page{})
	if err != nil {
		t.Fatalf("Threads() = %v", err)
	}
	if len(th) != 2 {
		t.Fatalf("got %d threads, want 2: %+v", len(th), th)
	}
	want := map[string]int{"root@x": 4, "other@x": 3}
	for _, tt := range th {
		if want[tt.RootMessageID] != tt.Messages {
			t.Errorf("thread root %q has %d messages; want roots %v", tt.RootMessageID, tt.Messages, want)
		}
	}
	msgs, err := st.ThreadMessages(context.Background(), []int64{y.ThreadID})
	if err != nil || len(msgs) != 3 {
		t.Fatalf("ThreadMessages() = %d, %v", len(msgs), err)
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	st.Close()
	db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	// A newer binary's contract migration (compat.go; an expand one is
	// run beside: TestOlderBinaryOnNewerSchema).
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(fmt.Sprintf("UPDATE schema_compat SET compatible_from = %d", len(migrations)+1)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(context.Background(), dir); !errors.Is(err, ErrNewerDB) {
		t.Fatalf("Open(newer) = %v, want ErrNewerDB", err)
	}
}

func TestCheckFindsCorruption(t *testing.T) {
	st, l := mustOpen(t)
	add(t, st, msg(l, "a@x"))
	if _, err := st.w.Exec(`UPDATE raw SET data = ?`, []byte{0}); err != nil {
		t.Fatal(err)
	}
	if err := st.Check(context.Background()); !errors.Is(err, ErrCorrupted) {
		t.Fatalf("Check() = %v, want ErrCorrupted", err)
	}
}

// TestMigratesOldSchema opens a database frozen at schema version 1 (as
// the first release wrote it) and finds it upgraded, data intact.
func TestMigratesOldSchema(t *testing.T) {
	sqliteOnly(t)
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(migrations[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA user_version = 1; INSERT INTO lists(name, created, uidvalidity) VALUES('old', 1, 7)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open(v1) = %v", err)
	}
	defer st.Close()
	var v int
	st.r.QueryRow("PRAGMA user_version").Scan(&v)
	if v != len(migrations) {
		t.Fatalf("user_version = %d, want %d", v, len(migrations))
	}
	var n int
	st.r.QueryRow(`SELECT count(*) FROM sqlite_master WHERE name IN ('messages_anyid', 'search')`).Scan(&n)
	l, err := st.List(context.Background(), "old")
	if n != 2 || err != nil || l.UIDValidity != 7 {
		t.Fatalf("after migration: index %d, list %+v, %v", n, l, err)
	}
}

// TestOddText: text with quotes, backslashes, comment and statement
// syntax and non-ASCII goes in and comes out unchanged (on PostgreSQL as
// bind parameters, never part of the statement text).
func TestOddText(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	odd := "it's a \\'quote\\' \"x\" -- not a comment; DROP TABLE lists; $1 ?2 \\x00 héllo ✓\n\ttab"
	l, err := st.CreateList(ctx, List{Name: "odd", Description: odd, Owner: odd})
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.List(ctx, "odd")
	if err != nil || got.Description != odd || got.Owner != odd {
		t.Fatalf("List() = %+v, %v", got, err)
	}
	a := add(t, st, &NewMessage{ListID: l.ID, MessageID: odd, Subject: odd, Raw: []byte("Subject: " + odd + "\r\n\r\n\x00\xff binary\r\n")})
	m, err := st.Message(ctx, "odd", odd)
	if err != nil || m.ID != a.ID || m.Subject != odd {
		t.Fatalf("Message() = %+v, %v", m, err)
	}
	raw, err := st.Raw(ctx, "odd", odd)
	if err != nil || string(raw) != "Subject: "+odd+"\r\n\r\n\x00\xff binary\r\n" {
		t.Fatalf("Raw() = %q, %v", raw, err)
	}
}
