package imapd_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"patchwell/imapd"
	"patchwell/store"
)

// dialFrom connects to the fixture from the loopback address ip.
func dialFrom(t *testing.T, f *fixture, ip string) *imapclient.Client {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 10 * time.Second}
	nc, err := d.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(nc, nil)
	t.Cleanup(func() { c.Close() })
	return c
}

func authFailed(err error) bool {
	var e *imap.Error
	return errors.As(err, &e) && e.Code == imap.ResponseCodeAuthenticationFailed
}

// memberFixture is a fixture with a private list sec holding one
// message and mia@example.org, its maintainer, with an API token.
func memberFixture(t *testing.T) (*fixture, *store.User, string) {
	t.Helper()
	ctx := context.Background()
	f := newFixture(t, imapd.Config{}, "sec")
	if err := f.st.SetVisibility(ctx, "sec", store.VisibilityPrivate); err != nil {
		t.Fatal(err)
	}
	f.deliver("sec", []byte("From: a@example.org\nSubject: secret\nMessage-ID: <s1@example.org>\n\nbody\n"))
	u, err := f.acc.AddUser(ctx, "mia@example.org", "Mia", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetRole(ctx, u.ID, "sec", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.acc.NewToken(ctx, u.ID, "mail")
	if err != nil {
		t.Fatal(err)
	}
	return f, u, tok
}

// TestDisabledAccountIMAP: disabling an account ends its IMAP sessions
// at their next command (BYE), not only at the next login, and refuses
// its password and token; enabling it brings the token and role back.
func TestDisabledAccountIMAP(t *testing.T) {
	ctx := context.Background()
	f, _, tok := memberFixture(t)
	c := dialFrom(t, f, "127.0.0.1")
	if err := c.Login("mia@example.org", "correct horse battery").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if _, err := c.Select("sec", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("SELECT sec: %v", err)
	}
	fetch := &imap.FetchOptions{UID: true, Envelope: true}
	if msgs, err := c.Fetch(imap.SeqSetNum(1), fetch).Collect(); err != nil || len(msgs) != 1 {
		t.Fatalf("FETCH: %v, %v", msgs, err)
	}
	if _, err := f.acc.SetDisabled(ctx, "mia@example.org", true); err != nil {
		t.Fatal(err)
	}
	if msgs, err := c.Fetch(imap.SeqSetNum(1), fetch).Collect(); err == nil {
		t.Fatalf("FETCH in a session of the disabled account: %d messages; want the session ended", len(msgs))
	}
	if err := c.Noop().Wait(); err == nil {
		t.Fatal("the session of the disabled account still answers NOOP")
	}
	for _, pass := range []string{"correct horse battery", tok} {
		c := dialFrom(t, f, "127.0.0.1")
		if err := c.Login("mia@example.org", pass).Wait(); !authFailed(err) {
			t.Errorf("LOGIN of the disabled account: %v, want NO [AUTHENTICATIONFAILED]", err)
		}
	}
	if _, err := f.acc.SetDisabled(ctx, "mia@example.org", false); err != nil {
		t.Fatal(err)
	}
	c = dialFrom(t, f, "127.0.0.1")
	if err := c.Login("mia@example.org", tok).Wait(); err != nil {
		t.Fatalf("token LOGIN after enabling: %v", err)
	}
	if _, err := c.Select("sec", nil).Wait(); err != nil {
		t.Fatalf("SELECT sec after enabling: %v", err)
	}
}

// TestLoginFailuresPerAddress: failed logins block the address they
// come from (Config.LoginFailures), never the account: its owner logs
// in from elsewhere.
func TestLoginFailuresPerAddress(t *testing.T) {
	f, _, _ := memberFixture(t)
	for i := range 10 {
		c := dialFrom(t, f, "127.0.0.2")
		if err := c.Login("mia@example.org", "a guess").Wait(); !authFailed(err) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
		c.Close()
	}
	c := dialFrom(t, f, "127.0.0.2")
	var e *imap.Error
	if err := c.Login("mia@example.org", "correct horse battery").Wait(); !errors.As(err, &e) || e.Code != imap.ResponseCodeUnavailable {
		t.Fatalf("the attacker's address after 10 failures: %v, want NO [UNAVAILABLE]", err)
	}
	c = dialFrom(t, f, "127.0.0.3")
	if err := c.Login("mia@example.org", "correct horse battery").Wait(); err != nil {
		t.Fatalf("the owner from another address: %v, want logged in", err)
	}
}

// TestTokenLoginIsNoFailure: logging in with an API token as the
// password does not count as a wrong password of the account (which
// would slow its sign-ins, review.MaxSlow).
func TestTokenLoginIsNoFailure(t *testing.T) {
	f, _, tok := memberFixture(t)
	start := time.Now()
	for range 15 {
		c := dialFrom(t, f, "127.0.0.1")
		if err := c.Login("mia@example.org", tok).Wait(); err != nil {
			t.Fatalf("token LOGIN: %v", err)
		}
		c.Close()
	}
	// Counted as wrong passwords, the last ten would wait 100 ms
	// doubling to 2 s each (13 s in all, 9.7 s measured before the fix):
	// 5 s leaves room for a loaded machine under -race.
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("15 token logins took %v: slowed as if they were wrong passwords", d)
	}
}
