package review

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"patchwell/store"
)

// Lifetimes of the secrets Accounts hands out.
const (
	SessionLifetime      = 30 * 24 * time.Hour
	ConfirmationLifetime = 48 * time.Hour
	// MinPassword and MaxPassword bound a password's length in bytes.
	MinPassword = 8
	MaxPassword = 1024
)

// ErrWeakPassword is a password outside MinPassword..MaxPassword.
var ErrWeakPassword = fmt.Errorf("%w: password must be %d to %d bytes", store.ErrInvalid, MinPassword, MaxPassword)

// Argon2id parameters (OWASP's recommendation: 19 MiB, 2 passes, 1 lane).
// Verification reads them from the stored hash, so raising them later
// keeps old passwords working.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32
	Threads uint8
}

// DefaultArgon2 is used for new passwords.
var DefaultArgon2 = Argon2Params{Memory: 19 * 1024, Time: 2, Threads: 1}

// Accounts is the account side of patchwell: passwords, sessions, API
// tokens, sign-up confirmation, roles and maintainer status changes. It
// implements web.Accounts; secrets are random, handed out once, and only
// their sha256 reaches the store.
type Accounts struct {
	st     AccountStore
	params Argon2Params
	// hashing bounds the argon2 computations running at once: each takes
	// Memory KiB.
	hashing chan struct{}
	// dummy is a hash verified when the address is unknown, so that a
	// wrong address costs as much time as a wrong password; made on first
	// use.
	dummy     string
	dummyOnce sync.Once
	// fails counts recent wrong passwords per address; Authenticate
	// sleeps (sleep, for tests) accordingly (slow.go).
	fails failures
	sleep func(context.Context, time.Duration) error
	now   func() time.Time
}

// AccountStore is what the account service reads and writes: the
// accounts area, and a series' status (which a signed-in maintainer sets).
type AccountStore interface {
	store.Accounts
	SetSeriesStatus(ctx context.Context, seriesID int64, status string, userID int64, comment string, at time.Time) (*store.StatusChange, error)
	StatusHistory(ctx context.Context, seriesID int64) ([]store.StatusChange, error)
}

// NewAccounts returns the account service over st with the given argon2id
// parameters (DefaultArgon2 in production).
func NewAccounts(st AccountStore, p Argon2Params) *Accounts {
	return &Accounts{st: st, params: p, hashing: make(chan struct{}, 4), sleep: sleepCtx, now: time.Now}
}

// HashPassword returns the argon2id PHC string of a password.
func (a *Accounts) HashPassword(password string) (string, error) {
	if len(password) < MinPassword || len(password) > MaxPassword {
		return "", ErrWeakPassword
	}
	salt := make([]byte, 16)
	rand.Read(salt)
	key := a.argon([]byte(password), salt, a.params, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, a.params.Memory, a.params.Time,
		a.params.Threads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

func (a *Accounts) argon(password, salt []byte, p Argon2Params, n uint32) []byte {
	a.hashing <- struct{}{}
	defer func() { <-a.hashing }()
	return argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, n)
}

// checkPassword compares a password with a PHC string in constant time.
func (a *Accounts) checkPassword(password, encoded string) bool {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" || parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return false
	}
	var p Argon2Params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil ||
		p.Memory == 0 || p.Memory > 1<<20 || p.Time == 0 || p.Time > 16 || p.Threads == 0 {
		return false
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	key, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(key) == 0 || len(key) > 128 {
		return false
	}
	if len(password) > MaxPassword {
		password = password[:MaxPassword+1]
	}
	got := a.argon([]byte(password), salt, p, uint32(len(key)))
	return subtle.ConstantTimeCompare(got, key) == 1
}

// AddUser creates a confirmed account (the operator's command line).
func (a *Accounts) AddUser(ctx context.Context, email, name, password string, admin bool) (*store.User, error) {
	hash, err := a.HashPassword(password)
	if err != nil {
		return nil, err
	}
	return a.st.CreateUser(ctx, store.User{Email: email, Name: name, Admin: admin, Confirmed: true}, hash)
}

// SetPassword replaces a user's password (the operator's command line)
// and ends every session of the account.
func (a *Accounts) SetPassword(ctx context.Context, email, password string) error {
	u, err := a.st.UserByEmail(ctx, email)
	if err != nil {
		return err
	}
	hash, err := a.HashPassword(password)
	if err != nil {
		return err
	}
	return a.st.SetPassword(ctx, u.ID, hash, nil)
}

// SetDisabled disables an account (the operator's command line): its
// sessions end, its API tokens, roles and IMAP logins stop working at
// their next use; or enables it again, which brings the tokens and roles
// back. The account's mail stays in the archive either way.
func (a *Accounts) SetDisabled(ctx context.Context, email string, disabled bool) (*store.User, error) {
	u, err := a.st.UserByEmail(ctx, email)
	if err != nil {
		return nil, err
	}
	if err := a.st.SetDisabled(ctx, u.ID, disabled); err != nil {
		return nil, err
	}
	u.Disabled = disabled
	return u, nil
}

// ChangePassword replaces the password of a signed-in user who gave the
// current one (the account page), and ends every session of the account
// but session, the one that asked. store.ErrBadCredentials for a wrong
// current password, ErrWeakPassword for a new one out of bounds.
func (a *Accounts) ChangePassword(ctx context.Context, userID int64, session, current, password string) error {
	u, err := a.ActiveUser(ctx, userID)
	if err != nil {
		return err
	}
	if _, err := a.Authenticate(ctx, u.Email, current); err != nil {
		return err
	}
	hash, err := a.HashPassword(password)
	if err != nil {
		return err
	}
	return a.st.SetPassword(ctx, u.ID, hash, hashSecret(session))
}

// Authenticate returns the user with this address and password, or
// store.ErrBadCredentials whatever is wrong: store.ErrDisabled (one of
// them) when the password is right but the account disabled. After many
// recent wrong passwords to the address it waits first, at most MaxSlow
// (slow.go).
func (a *Accounts) Authenticate(ctx context.Context, email, password string) (*store.User, error) {
	key := accountKey(email)
	if d := delay(a.fails.count(key, a.now())); d > 0 {
		if err := a.sleep(ctx, d); err != nil {
			return nil, err
		}
	}
	u, hash, err := a.st.Credentials(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		a.dummyOnce.Do(func() { a.dummy, _ = a.HashPassword("not a password of anyone") })
		a.checkPassword(password, a.dummy)
		a.fails.add(key, a.now())
		return nil, store.ErrBadCredentials
	}
	if err != nil {
		return nil, err
	}
	if !a.checkPassword(password, hash) {
		a.fails.add(key, a.now())
		return nil, store.ErrBadCredentials
	}
	if u.Disabled {
		return nil, store.ErrDisabled
	}
	return u, nil
}

// usable is where a disabled account is refused at use: the user of a
// session, an API token or an open IMAP login, as store.ErrNotFound (an
// unknown session or token).
func usable(u *store.User, err error) (*store.User, error) {
	if err == nil && u.Disabled {
		return nil, fmt.Errorf("user %d: disabled: %w", u.ID, store.ErrNotFound)
	}
	return u, err
}

// ActiveUser returns the user with this id; store.ErrNotFound when there
// is none or it is disabled. Connections that stay signed in (IMAP) ask
// it before each use.
func (a *Accounts) ActiveUser(ctx context.Context, id int64) (*store.User, error) {
	return usable(a.st.User(ctx, id))
}

// secret returns a new random token with a prefix telling what it is,
// and its hash.
func secret(prefix string) (string, []byte) {
	b := make([]byte, 32)
	rand.Read(b)
	tok := prefix + base64.RawURLEncoding.EncodeToString(b)
	return tok, hashSecret(tok)
}

func hashSecret(tok string) []byte {
	h := sha256.Sum256([]byte(tok))
	return h[:]
}

// SignUp creates an unconfirmed account and returns the secret of its
// confirmation link. For an address that already has an account it
// returns "" and no error, so that sign-up does not tell who has one.
func (a *Accounts) SignUp(ctx context.Context, email, name, password string) (string, error) {
	hash, err := a.HashPassword(password)
	if err != nil {
		return "", err
	}
	u, err := a.st.CreateUser(ctx, store.User{Email: email, Name: name}, hash)
	if errors.Is(err, store.ErrExists) {
		// The same person again (the password matches) on an account
		// still unconfirmed, say because the first mail was lost: a new
		// link. Anyone else learns nothing.
		if u, aerr := a.Authenticate(ctx, email, password); aerr == nil && !u.Confirmed {
			tok, h := secret("pwc_")
			if err := a.st.CreateConfirmation(ctx, u.ID, h, a.now().Add(ConfirmationLifetime)); err != nil {
				return "", err
			}
			return tok, nil
		}
		return "", nil
	}
	if err != nil {
		return "", err
	}
	tok, h := secret("pwc_")
	if err := a.st.CreateConfirmation(ctx, u.ID, h, a.now().Add(ConfirmationLifetime)); err != nil {
		return "", err
	}
	return tok, nil
}

// Confirm consumes a confirmation secret; store.ErrNotFound when unknown,
// used or expired.
func (a *Accounts) Confirm(ctx context.Context, token string) (*store.User, error) {
	return a.st.Confirm(ctx, hashSecret(token), a.now())
}

// NewSession starts a session for a user: its secret (the cookie value)
// and when it expires; store.ErrNotFound when the account is unknown or
// disabled.
func (a *Accounts) NewSession(ctx context.Context, userID int64) (string, time.Time, error) {
	tok, h := secret("pws_")
	exp := a.now().Add(SessionLifetime).Truncate(time.Second)
	if err := a.st.CreateSession(ctx, userID, h, exp); err != nil {
		return "", time.Time{}, err
	}
	return tok, exp, nil
}

// SessionUser returns the user of a live session; store.ErrNotFound
// otherwise, or when the account is disabled.
func (a *Accounts) SessionUser(ctx context.Context, token string) (*store.User, error) {
	return usable(a.st.SessionUser(ctx, hashSecret(token), a.now()))
}

// EndSession ends a session (signing out).
func (a *Accounts) EndSession(ctx context.Context, token string) error {
	return a.st.DeleteSession(ctx, hashSecret(token))
}

// NewToken creates an API token for a user and returns its secret, shown
// once.
func (a *Accounts) NewToken(ctx context.Context, userID int64, name string) (string, *store.APIToken, error) {
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 100 {
		return "", nil, fmt.Errorf("%w: token name must be 1 to 100 bytes", store.ErrInvalid)
	}
	tok, h := secret("pwt_")
	t, err := a.st.CreateToken(ctx, userID, name, h)
	if err != nil {
		return "", nil, err
	}
	return tok, t, nil
}

// TokenUser returns the owner of an API token; store.ErrNotFound for an
// unknown one, or one of a disabled account.
func (a *Accounts) TokenUser(ctx context.Context, token string) (*store.User, error) {
	return usable(a.st.TokenUser(ctx, hashSecret(token), a.now()))
}

// Tokens lists a user's API tokens (without secrets).
func (a *Accounts) Tokens(ctx context.Context, userID int64) ([]store.APIToken, error) {
	return a.st.Tokens(ctx, userID)
}

// RevokeToken deletes one of a user's API tokens.
func (a *Accounts) RevokeToken(ctx context.Context, userID, tokenID int64) error {
	return a.st.DeleteToken(ctx, userID, tokenID)
}

// Role returns a user's role on a list ("" for none).
func (a *Accounts) Role(ctx context.Context, userID int64, list string) (string, error) {
	return a.st.Role(ctx, userID, list)
}

// Roles maps list names to a user's roles.
func (a *Accounts) Roles(ctx context.Context, userID int64) (map[string]string, error) {
	return a.st.Roles(ctx, userID)
}

// SetStatus changes a series' status on behalf of a user and records it;
// the caller has checked the user may (access.SetStatus).
func (a *Accounts) SetStatus(ctx context.Context, seriesID, userID int64, status, comment string) (*store.StatusChange, error) {
	if len(comment) > 10000 {
		return nil, fmt.Errorf("%w: comment longer than 10000 bytes", store.ErrInvalid)
	}
	return a.st.SetSeriesStatus(ctx, seriesID, status, userID, strings.TrimSpace(comment), a.now())
}

// StatusHistory returns a series' status changes, oldest first.
func (a *Accounts) StatusHistory(ctx context.Context, seriesID int64) ([]store.StatusChange, error) {
	return a.st.StatusHistory(ctx, seriesID)
}
