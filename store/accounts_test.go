package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"patchwell/core"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestUsers(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	u, err := st.CreateUser(ctx, User{Email: "Ann@Example.org", Name: "Ann", Confirmed: true}, "$argon2id$x")
	if err != nil || u.ID == 0 {
		t.Fatalf("CreateUser = %v, %v", u, err)
	}
	if _, err := st.CreateUser(ctx, User{Email: "ann@EXAMPLE.org"}, "h"); !errors.Is(err, ErrExists) {
		t.Fatalf("same address in another case: %v, want ErrExists", err)
	}
	if _, err := st.CreateUser(ctx, User{Email: "no-at-sign"}, "h"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad address: %v, want ErrInvalid", err)
	}
	got, hash, err := st.Credentials(ctx, "ANN@example.org")
	if err != nil || got.ID != u.ID || hash != "$argon2id$x" || !got.Confirmed || got.Name != "Ann" {
		t.Fatalf("Credentials = %+v %q %v", got, hash, err)
	}
	if _, _, err := st.Credentials(ctx, "bob@example.org"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown address: %v", err)
	}
	if err := st.SetPassword(ctx, u.ID, "new", nil); err != nil {
		t.Fatal(err)
	}
	if _, hash, _ := st.Credentials(ctx, "ann@example.org"); hash != "new" {
		t.Fatalf("SetPassword did not stick: %q", hash)
	}
	if err := st.SetPassword(ctx, 999, "x", nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetPassword(unknown) = %v", err)
	}
	us, err := st.Users(ctx)
	if err != nil || len(us) != 1 || us[0].Email != "Ann@Example.org" {
		t.Fatalf("Users = %v %v", us, err)
	}
}

func TestSessionsTokensConfirmations(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	u, _ := st.CreateUser(ctx, User{Email: "a@example.org"}, "h")
	now := time.Now()
	if err := st.CreateSession(ctx, u.ID, []byte("s1"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.SessionUser(ctx, []byte("s1"), now); err != nil || got.ID != u.ID {
		t.Fatalf("SessionUser = %v %v", got, err)
	}
	if _, err := st.SessionUser(ctx, []byte("s1"), now.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	if err := st.DeleteSession(ctx, []byte("s1")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SessionUser(ctx, []byte("s1"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted session: %v", err)
	}

	tok, err := st.CreateToken(ctx, u.ID, "ci", []byte("t1"))
	if err != nil || tok.ID == 0 {
		t.Fatalf("CreateToken = %v %v", tok, err)
	}
	if _, err := st.CreateToken(ctx, 999, "x", []byte("t2")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("token of unknown user: %v", err)
	}
	if got, err := st.TokenUser(ctx, []byte("t1"), now); err != nil || got.ID != u.ID {
		t.Fatalf("TokenUser = %v %v", got, err)
	}
	ts, err := st.Tokens(ctx, u.ID)
	if err != nil || len(ts) != 1 || ts[0].Name != "ci" || ts[0].LastUsed.Unix() != now.Unix() {
		t.Fatalf("Tokens = %+v %v (last use recorded)", ts, err)
	}
	if err := st.DeleteToken(ctx, u.ID+1, tok.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("someone else's token deleted: %v", err)
	}
	if err := st.DeleteToken(ctx, u.ID, tok.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.TokenUser(ctx, []byte("t1"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("revoked token still works: %v", err)
	}

	if err := st.CreateConfirmation(ctx, u.ID, []byte("c1"), now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := st.Confirm(ctx, []byte("c1"), now); err != nil || !got.Confirmed {
		t.Fatalf("Confirm = %v %v", got, err)
	}
	if _, err := st.Confirm(ctx, []byte("c1"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a confirmation works twice: %v", err)
	}
	st.CreateConfirmation(ctx, u.ID, []byte("c2"), now.Add(-time.Minute))
	if _, err := st.Confirm(ctx, []byte("c2"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("expired confirmation: %v", err)
	}
}

// TestSetPasswordEndsSessions: a new password ends the account's
// sessions but the one kept (the browser that changed it), and nobody
// else's.
func TestSetPasswordEndsSessions(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	u, _ := st.CreateUser(ctx, User{Email: "a@example.org"}, "h")
	other, _ := st.CreateUser(ctx, User{Email: "b@example.org"}, "h")
	now := time.Now()
	for _, s := range []struct {
		id   int64
		hash string
	}{{u.ID, "s1"}, {u.ID, "s2"}, {other.ID, "s3"}} {
		if err := st.CreateSession(ctx, s.id, []byte(s.hash), now.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	live := func() map[string]bool {
		m := map[string]bool{}
		for _, h := range []string{"s1", "s2", "s3"} {
			_, err := st.SessionUser(ctx, []byte(h), now)
			m[h] = err == nil
		}
		return m
	}
	if err := st.SetPassword(ctx, u.ID, "new", []byte("s1")); err != nil {
		t.Fatal(err)
	}
	if got := live(); !got["s1"] || got["s2"] || !got["s3"] {
		t.Fatalf("after SetPassword keeping s1: live sessions %v, want s1 and s3", got)
	}
	if err := st.SetPassword(ctx, u.ID, "newer", nil); err != nil {
		t.Fatal(err)
	}
	if got := live(); got["s1"] || got["s2"] || !got["s3"] {
		t.Fatalf("after SetPassword keeping none: live sessions %v, want s3 only", got)
	}
}

// TestDisableUser: disabling an account ends its sessions and marks it,
// keeping its tokens and roles (they work again once enabled; the store
// reports the flag, review.Accounts and access decide); the flag is read
// by every user lookup and carried by ExportAccounts and ImportAccounts.
func TestDisableUser(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	u, _ := st.CreateUser(ctx, User{Email: "a@example.org", Confirmed: true}, "h")
	other, _ := st.CreateUser(ctx, User{Email: "b@example.org"}, "h")
	now := time.Now()
	st.CreateSession(ctx, u.ID, []byte("s1"), now.Add(time.Hour))
	st.CreateSession(ctx, other.ID, []byte("s2"), now.Add(time.Hour))
	if _, err := st.CreateToken(ctx, u.ID, "ci", []byte("t1")); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, u.ID, "dev", RoleOwner); err != nil {
		t.Fatal(err)
	}
	owners := func() string {
		t.Helper()
		os, err := st.ListOwners(ctx, "dev")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(os, ",")
	}
	if got := owners(); got != "a@example.org" {
		t.Fatalf("ListOwners = %q", got)
	}
	if err := st.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatalf("SetDisabled(true) = %v", err)
	}
	disabled := func(what string, got *User, err error, want bool) {
		t.Helper()
		if err != nil || got.ID != u.ID || got.Disabled != want {
			t.Fatalf("%s = %+v, %v; want disabled %v", what, got, err, want)
		}
	}
	got, err := st.User(ctx, u.ID)
	disabled("User", got, err, true)
	got, err = st.UserByEmail(ctx, "a@example.org")
	disabled("UserByEmail", got, err, true)
	got, _, err = st.Credentials(ctx, "a@example.org")
	disabled("Credentials", got, err, true)
	got, err = st.TokenUser(ctx, []byte("t1"), now)
	disabled("TokenUser", got, err, true)
	if us, err := st.Users(ctx); err != nil || len(us) != 2 || !us[0].Disabled || us[1].Disabled {
		t.Fatalf("Users = %+v, %v", us, err)
	}
	if _, err := st.SessionUser(ctx, []byte("s1"), now); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a session of the disabled account: %v, want ErrNotFound", err)
	}
	if _, err := st.SessionUser(ctx, []byte("s2"), now); err != nil {
		t.Fatalf("another account's session ended: %v", err)
	}
	if err := st.CreateSession(ctx, u.ID, []byte("s3"), now.Add(time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("CreateSession of a disabled account = %v, want ErrNotFound", err)
	}
	if r, _ := st.Role(ctx, u.ID, "dev"); r != RoleOwner {
		t.Fatalf("role of the disabled account: %q, want it kept", r)
	}
	// A disabled owner is not told of held mail.
	if got := owners(); got != "" {
		t.Fatalf("ListOwners with the owner disabled = %q, want none", got)
	}

	// Carried across a reindex or migrate.
	d, err := st.ExportAccounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st2, _ := mustOpen(t)
	if _, err := st2.ImportAccounts(ctx, d); err != nil {
		t.Fatal(err)
	}
	got, err = st2.User(ctx, u.ID)
	disabled("User after ImportAccounts", got, err, true)

	if err := st.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatalf("SetDisabled(false) = %v", err)
	}
	got, err = st.TokenUser(ctx, []byte("t1"), now)
	disabled("TokenUser after enabling", got, err, false)
	if got := owners(); got != "a@example.org" {
		t.Fatalf("ListOwners after enabling = %q", got)
	}
	if err := st.SetDisabled(ctx, 999, true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetDisabled(unknown) = %v, want ErrNotFound", err)
	}
}

func TestRolesAndVisibility(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	u, _ := st.CreateUser(ctx, User{Email: "a@example.org"}, "h")
	if l, _ := st.List(ctx, "dev"); l.Visibility != VisibilityPublic {
		t.Fatalf("default visibility %q", l.Visibility)
	}
	if _, err := st.CreateList(ctx, List{Name: "sec", Visibility: VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateList(ctx, List{Name: "bad", Visibility: "secret"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad visibility accepted: %v", err)
	}
	if l, err := st.ListInfo(ctx, "sec"); err != nil || l.Visibility != VisibilityPrivate || l.ID == 0 {
		t.Fatalf("ListInfo = %+v %v", l, err)
	}
	if _, err := st.ListInfo(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ListInfo(unknown) = %v", err)
	}
	if err := st.SetVisibility(ctx, "dev", VisibilityUnlisted); err != nil {
		t.Fatal(err)
	}
	if l, _ := st.List(ctx, "dev"); l.Visibility != VisibilityUnlisted {
		t.Fatalf("SetVisibility did not stick: %q", l.Visibility)
	}
	if err := st.SetVisibility(ctx, "nope", VisibilityPublic); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetVisibility(unknown list) = %v", err)
	}
	if err := st.SetVisibility(ctx, "dev", "open"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("SetVisibility(bad) = %v", err)
	}

	if r, err := st.Role(ctx, u.ID, "sec"); err != nil || r != "" {
		t.Fatalf("no role yet: %q %v", r, err)
	}
	for _, role := range []string{RoleMaintainer, RoleOwner} {
		if err := st.SetRole(ctx, u.ID, "sec", role); err != nil {
			t.Fatal(err)
		}
		if r, _ := st.Role(ctx, u.ID, "sec"); r != role {
			t.Fatalf("Role = %q, want %q", r, role)
		}
	}
	if rs, err := st.Roles(ctx, u.ID); err != nil || len(rs) != 1 || rs["sec"] != RoleOwner {
		t.Fatalf("Roles = %v %v", rs, err)
	}
	if err := st.SetRole(ctx, u.ID, "sec", "king"); !errors.Is(err, ErrInvalid) {
		t.Fatalf("bad role: %v", err)
	}
	if err := st.SetRole(ctx, u.ID, "nope", RoleOwner); !errors.Is(err, ErrNotFound) {
		t.Fatalf("role on unknown list: %v", err)
	}
	if err := st.SetRole(ctx, 999, "sec", RoleOwner); !errors.Is(err, ErrNotFound) {
		t.Fatalf("role of unknown user: %v", err)
	}
	if err := st.SetRole(ctx, u.ID, "sec", ""); err != nil {
		t.Fatal(err)
	}
	if r, _ := st.Role(ctx, u.ID, "sec"); r != "" {
		t.Fatalf("role not removed: %q", r)
	}
}

func TestSetSeriesStatus(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	u, _ := st.CreateUser(ctx, User{Email: "m@example.org", Name: "Maint"}, "h")
	var id int64
	err := st.Update(ctx, func(tx Tx) error {
		var err error
		id, err = tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Status: StatusProposed, Total: 1,
			Submitter: core.Person{Email: "x@example.org"}, Date: time.Now()}, "s", "", l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c, err := st.SetSeriesStatus(ctx, id, StatusApproved, u.ID, "looks good", at)
	if err != nil || c.From != StatusProposed || c.To != StatusApproved || c.User.Email != "m@example.org" || !c.At.Equal(at) {
		t.Fatalf("SetSeriesStatus = %+v %v", c, err)
	}
	if s, _ := st.Series(ctx, id); s.Status != StatusApproved {
		t.Fatalf("status not written: %q", s.Status)
	}
	if _, err := st.SetSeriesStatus(ctx, id, StatusApproved, u.ID, "", at); !errors.Is(err, ErrConflict) {
		t.Fatalf("same status again: %v, want ErrConflict", err)
	}
	for _, bad := range []string{StatusSuperseded, "", "merged"} {
		if _, err := st.SetSeriesStatus(ctx, id, bad, u.ID, "", at); !errors.Is(err, ErrInvalid) {
			t.Fatalf("status %q: %v, want ErrInvalid", bad, err)
		}
	}
	if _, err := st.SetSeriesStatus(ctx, 999, StatusApplied, u.ID, "", at); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown series: %v", err)
	}
	if _, err := st.SetSeriesStatus(ctx, id, StatusApplied, 0, "by hand", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	h, err := st.StatusHistory(ctx, id)
	if err != nil || len(h) != 2 {
		t.Fatalf("StatusHistory = %+v %v", h, err)
	}
	if h[0].To != StatusApproved || h[0].Comment != "looks good" || h[0].User == nil || h[0].User.Name != "Maint" ||
		h[1].From != StatusApproved || h[1].To != StatusApplied || h[1].User != nil {
		t.Fatalf("history: %+v", h)
	}
	if s, _ := st.Series(ctx, id); s.Status != StatusApplied {
		t.Fatalf("status %q", s.Status)
	}
}

// TestDisabledMigration opens a store made before accounts could be
// disabled (on SQLite a database frozen at the schema before; on
// PostgreSQL one whose column is dropped and version set back) and finds
// its accounts enabled and their sessions intact.
func TestDisabledMigration(t *testing.T) {
	ctx := context.Background()
	hist := migrations
	if onPostgres() {
		hist = pgMigrations
	}
	at := slices.IndexFunc(hist, func(m string) bool { return strings.Contains(m, "disabled") })
	if at < 0 {
		t.Fatal("no migration adds users.disabled")
	}
	var open func() (*DB, error)
	var exec func(q string, args ...any)
	done := func() {}
	if onPostgres() {
		open = opener(t)
		st, err := open()
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		exec = func(q string, args ...any) {
			if _, err := st.w.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// What the migrations after it made goes too: they run again.
		for _, m := range hist[at+1:] {
			for _, t := range regexp.MustCompile(`CREATE TABLE (\w+)`).FindAllStringSubmatch(m, -1) {
				exec(`DROP TABLE ` + t[1] + ` CASCADE`)
			}
			// An index on an older table outlives the tables and
			// columns dropped here.
			for _, x := range regexp.MustCompile(`CREATE INDEX (\w+)`).FindAllStringSubmatch(m, -1) {
				exec(`DROP INDEX IF EXISTS ` + x[1])
			}
			for _, c := range regexp.MustCompile(`ALTER TABLE (\w+) ADD COLUMN (\w+)`).FindAllStringSubmatch(m, -1) {
				exec(`ALTER TABLE ` + c[1] + ` DROP COLUMN ` + c[2])
			}
		}
		exec(`ALTER TABLE users DROP COLUMN disabled`)
		exec(`UPDATE schema_version SET version = ?`, at)
	} else {
		dir := t.TempDir()
		open = func() (*DB, error) { return Open(ctx, dir) }
		db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
		if err != nil {
			t.Fatal(err)
		}
		done = func() { db.Close() }
		exec = func(q string, args ...any) {
			if _, err := db.ExecContext(ctx, q, args...); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for _, m := range migrations[:at] {
			exec(m)
		}
		exec(fmt.Sprintf(`PRAGMA user_version = %d`, at))
	}
	exec(`INSERT INTO users(id, email, password, confirmed, admin, created) VALUES(?, ?, ?, ?, ?, ?)`, 1, "old@example.org", "h", 1, 0, 1)
	exec(`INSERT INTO sessions(hash, user_id, created, expires) VALUES(?, ?, ?, ?)`, []byte("s1"), 1, 1, time.Now().Add(time.Hour).Unix())
	done()
	st, err := open()
	if err != nil {
		t.Fatalf("open the old store: %v", err)
	}
	defer st.Close()
	u, err := st.SessionUser(ctx, []byte("s1"), time.Now())
	if err != nil || u.Email != "old@example.org" || u.Disabled || !u.Confirmed {
		t.Fatalf("after migration: SessionUser = %+v, %v", u, err)
	}
}
