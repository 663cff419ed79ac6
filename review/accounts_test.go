package review

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

// testArgon2 keeps tests fast; the format and checks are the same.
var testArgon2 = Argon2Params{Memory: 64, Time: 1, Threads: 1}

func TestPasswords(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	if _, err := a.AddUser(ctx, "ann@example.org", "Ann", "short", false); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("short password: %v", err)
	}
	u, err := a.AddUser(ctx, "ann@example.org", "Ann", "correct horse", true)
	if err != nil || !u.Confirmed || !u.Admin {
		t.Fatalf("AddUser = %+v %v", u, err)
	}
	_, hash, _ := st.Credentials(ctx, "ann@example.org")
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=64,t=1,p=1$") || strings.Contains(hash, "correct horse") {
		t.Fatalf("stored hash %q", hash)
	}
	if got, err := a.Authenticate(ctx, "ANN@example.org", "correct horse"); err != nil || got.ID != u.ID {
		t.Fatalf("Authenticate = %v %v", got, err)
	}
	for _, c := range [][2]string{{"ann@example.org", "correct horsE"}, {"ann@example.org", ""},
		{"bob@example.org", "correct horse"}, {"", ""}} {
		if _, err := a.Authenticate(ctx, c[0], c[1]); !errors.Is(err, store.ErrBadCredentials) {
			t.Errorf("Authenticate(%q, %q) = %v, want ErrBadCredentials", c[0], c[1], err)
		}
	}
	// Hashes made with other parameters still verify (they are read from
	// the stored string), and a corrupt one never does.
	strong := NewAccounts(st, Argon2Params{Memory: 128, Time: 2, Threads: 2})
	if err := strong.SetPassword(ctx, "ann@example.org", "battery staple"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "battery staple"); err != nil {
		t.Fatalf("hash with other parameters: %v", err)
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=0,t=1,p=1$AAAA$AAAA", "$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA",
		"$argon2id$v=19$m=99999999,t=1,p=1$AAAA$AAAA", "$argon2id$v=19$m=64,t=1,p=1$!!$AAAA"} {
		if a.checkPassword("x", bad) {
			t.Errorf("checkPassword accepted %q", bad)
		}
	}
}

func TestSecrets(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	tok, err := a.SignUp(ctx, "new@example.org", "New", "a long password")
	if err != nil || !strings.HasPrefix(tok, "pwc_") {
		t.Fatalf("SignUp = %q %v", tok, err)
	}
	if again, err := a.SignUp(ctx, "NEW@example.org", "x", "another password"); err != nil || again != "" {
		t.Fatalf("SignUp of a taken address = %q %v, want no token and no error", again, err)
	}
	if u, _ := st.UserByEmail(ctx, "new@example.org"); u.Confirmed {
		t.Fatal("confirmed before the link was used")
	}
	u, err := a.Confirm(ctx, tok)
	if err != nil || !u.Confirmed {
		t.Fatalf("Confirm = %v %v", u, err)
	}
	if _, err := a.Confirm(ctx, tok); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second Confirm = %v", err)
	}

	sess, exp, err := a.NewSession(ctx, u.ID)
	if err != nil || !strings.HasPrefix(sess, "pws_") || exp.Before(time.Now().Add(SessionLifetime-time.Minute)) {
		t.Fatalf("NewSession = %q %v %v", sess, exp, err)
	}
	if got, err := a.SessionUser(ctx, sess); err != nil || got.ID != u.ID {
		t.Fatalf("SessionUser = %v %v", got, err)
	}
	if _, err := a.SessionUser(ctx, sess+"x"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("forged session: %v", err)
	}
	a.now = func() time.Time { return time.Now().Add(SessionLifetime + time.Hour) }
	if _, err := a.SessionUser(ctx, sess); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired session: %v", err)
	}
	a.now = time.Now
	if err := a.EndSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SessionUser(ctx, sess); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("ended session: %v", err)
	}

	if _, _, err := a.NewToken(ctx, u.ID, "  "); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("unnamed token: %v", err)
	}
	secret, info, err := a.NewToken(ctx, u.ID, "ci")
	if err != nil || !strings.HasPrefix(secret, "pwt_") || info.Name != "ci" {
		t.Fatalf("NewToken = %q %v %v", secret, info, err)
	}
	if got, err := a.TokenUser(ctx, secret); err != nil || got.ID != u.ID {
		t.Fatalf("TokenUser = %v %v", got, err)
	}
	if err := a.RevokeToken(ctx, u.ID, info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := a.TokenUser(ctx, secret); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("revoked token: %v", err)
	}
}

// TestSetPasswordEndsSessions: the operator's password change (patchwell
// user passwd) signs the account out everywhere.
func TestSetPasswordEndsSessions(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	u, err := a.AddUser(ctx, "ann@example.org", "Ann", "correct horse", false)
	if err != nil {
		t.Fatal(err)
	}
	s1, _, _ := a.NewSession(ctx, u.ID)
	s2, _, _ := a.NewSession(ctx, u.ID)
	if err := a.SetPassword(ctx, "ann@example.org", "battery staple"); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{s1, s2} {
		if got, err := a.SessionUser(ctx, s); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("a session from before the password change: SessionUser = %v, %v; want ErrNotFound", got, err)
		}
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "battery staple"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
}

// TestChangePassword: the account page's password change wants the
// current password and ends every session but the one that asked.
func TestChangePassword(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	u, err := a.AddUser(ctx, "ann@example.org", "Ann", "correct horse", false)
	if err != nil {
		t.Fatal(err)
	}
	keep, _, _ := a.NewSession(ctx, u.ID)
	other, _, _ := a.NewSession(ctx, u.ID)
	if err := a.ChangePassword(ctx, u.ID, keep, "correct horsE", "battery staple"); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("ChangePassword with a wrong current password = %v, want ErrBadCredentials", err)
	}
	if err := a.ChangePassword(ctx, u.ID, keep, "correct horse", "short"); !errors.Is(err, ErrWeakPassword) {
		t.Fatalf("ChangePassword to a short one = %v, want ErrWeakPassword", err)
	}
	if _, err := a.SessionUser(ctx, other); err != nil {
		t.Fatalf("a refused change ended a session: %v", err)
	}
	if err := a.ChangePassword(ctx, u.ID, keep, "correct horse", "battery staple"); err != nil {
		t.Fatalf("ChangePassword = %v", err)
	}
	if got, err := a.SessionUser(ctx, keep); err != nil || got.ID != u.ID {
		t.Fatalf("the session that changed the password: %v, %v; want it kept", got, err)
	}
	if _, err := a.SessionUser(ctx, other); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("another session after the change: %v, want ErrNotFound", err)
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "battery staple"); err != nil {
		t.Fatalf("the new password: %v", err)
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "correct horse"); !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("the old password: %v", err)
	}
}

// TestDisabledAccount: a disabled account's password, sessions and
// tokens are refused at every use, not only at sign-in; enabling it
// brings the tokens and roles back, not the ended sessions.
func TestDisabledAccount(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	u, err := a.AddUser(ctx, "ann@example.org", "Ann", "correct horse", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, u.ID, "dev", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	sess, _, _ := a.NewSession(ctx, u.ID)
	tok, _, _ := a.NewToken(ctx, u.ID, "ci")
	got, err := a.SetDisabled(ctx, "ANN@example.org", true)
	if err != nil || !got.Disabled || got.ID != u.ID {
		t.Fatalf("SetDisabled(true) = %+v, %v", got, err)
	}
	// The right password says so (its owner may know); a wrong one is
	// a wrong one.
	if _, err := a.Authenticate(ctx, "ann@example.org", "correct horse"); !errors.Is(err, store.ErrDisabled) || !errors.Is(err, store.ErrBadCredentials) {
		t.Fatalf("Authenticate of a disabled account = %v, want ErrDisabled (an ErrBadCredentials)", err)
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "wrong horse"); !errors.Is(err, store.ErrBadCredentials) || errors.Is(err, store.ErrDisabled) {
		t.Fatalf("Authenticate of a disabled account, wrong password = %v, want ErrBadCredentials only", err)
	}
	refused := func(when string) {
		t.Helper()
		if got, err := a.SessionUser(ctx, sess); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: SessionUser = %v, %v; want ErrNotFound", when, got, err)
		}
		if got, err := a.TokenUser(ctx, tok); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: TokenUser = %v, %v; want ErrNotFound", when, got, err)
		}
		if got, err := a.ActiveUser(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s: ActiveUser = %v, %v; want ErrNotFound", when, got, err)
		}
	}
	refused("disabled")
	// A sign-in that checked the password before the account was
	// disabled gets no session.
	if _, _, err := a.NewSession(ctx, u.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("NewSession of a disabled account = %v, want ErrNotFound", err)
	}

	if got, err := a.SetDisabled(ctx, "ann@example.org", false); err != nil || got.Disabled {
		t.Fatalf("SetDisabled(false) = %+v, %v", got, err)
	}
	if got, err := a.TokenUser(ctx, tok); err != nil || got.ID != u.ID {
		t.Errorf("token after enabling: %v, %v", got, err)
	}
	if _, err := a.Authenticate(ctx, "ann@example.org", "correct horse"); err != nil {
		t.Errorf("password after enabling: %v", err)
	}
	if got, err := a.ActiveUser(ctx, u.ID); err != nil || got.ID != u.ID {
		t.Errorf("ActiveUser after enabling: %v, %v", got, err)
	}
	if r, _ := a.Role(ctx, u.ID, "dev"); r != store.RoleMaintainer {
		t.Errorf("role after enabling: %q", r)
	}
	if got, err := a.SessionUser(ctx, sess); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a session ended by disabling is back: %v, %v", got, err)
	}
	if _, err := a.SetDisabled(ctx, "nobody@example.org", true); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetDisabled(unknown) = %v, want ErrNotFound", err)
	}
}

// TestAuthenticateSlows: wrong passwords to one account, from wherever
// they come, slow every later sign-in to it (before the password is
// checked), more with each recent failure up to MaxSlow, and never
// refuse; time forgets them. Unknown addresses are counted alike, so
// the delay tells nobody which addresses have accounts.
func TestAuthenticateSlows(t *testing.T) {
	_, st := newTestIngester(t)
	a := NewAccounts(st, testArgon2)
	ctx := context.Background()
	if _, err := a.AddUser(ctx, "ann@example.org", "Ann", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.AddUser(ctx, "bob@example.org", "Bob", "correct horse", false); err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(2_000_000_000, 0)
	a.now = func() time.Time { return clock }
	var slept []time.Duration
	a.sleep = func(ctx context.Context, d time.Duration) error {
		slept = append(slept, d)
		return nil
	}
	for range 50 {
		if _, err := a.Authenticate(ctx, "ann@example.org", "a guess"); !errors.Is(err, store.ErrBadCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if len(slept) < 40 || slept[0] <= 0 || slept[len(slept)-1] != MaxSlow {
		t.Fatalf("50 wrong passwords slept %v; want most of them slowed, up to %v", slept, MaxSlow)
	}
	for i := 1; i < len(slept); i++ {
		if slept[i] < slept[i-1] || slept[i] > MaxSlow {
			t.Fatalf("delays %v: want them growing, at most %v", slept, MaxSlow)
		}
	}
	slept = nil
	if u, err := a.Authenticate(ctx, "ANN@example.org", "correct horse"); err != nil || u.Email != "ann@example.org" {
		t.Fatalf("the owner during the attack: %v, %v; want signed in", u, err)
	}
	if len(slept) != 1 || slept[0] != MaxSlow {
		t.Fatalf("the owner during the attack slept %v, want %v", slept, MaxSlow)
	}
	slept = nil
	if _, err := a.Authenticate(ctx, "bob@example.org", "correct horse"); err != nil || len(slept) != 0 {
		t.Fatalf("another account: %v, slept %v; want no delay", err, slept)
	}
	for range 50 {
		a.Authenticate(ctx, "nobody@example.org", "a guess")
	}
	if len(slept) < 40 {
		t.Fatalf("50 guesses at an unknown address slept %d times; want them slowed like an account's", len(slept))
	}
	clock = clock.Add(time.Hour)
	slept = nil
	if _, err := a.Authenticate(ctx, "ann@example.org", "correct horse"); err != nil || len(slept) != 0 {
		t.Fatalf("an hour later: %v, slept %v; want no delay", err, slept)
	}
}
