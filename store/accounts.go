package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"patchwell/core"
	"strings"
	"time"
)

// Errors of the account side.
var (
	// ErrBadCredentials is a failed sign-in, whatever the cause (unknown
	// address or wrong password): callers show one generic message.
	ErrBadCredentials = errors.New("wrong email or password")
	// ErrDisabled is a sign-in with the right password to a disabled
	// account. It is an ErrBadCredentials too (errors.Is), so that a
	// caller knowing only that one refuses it.
	ErrDisabled error = disabledError{}
	// ErrConflict is a write that would change nothing, such as setting
	// a series to the status it already has.
	ErrConflict = errors.New("conflict")
)

type disabledError struct{}

func (disabledError) Error() string        { return "account disabled" }
func (disabledError) Is(target error) bool { return target == ErrBadCredentials }

// List visibilities.
const (
	// VisibilityPublic: readable by everyone, shown in every index.
	VisibilityPublic = "public"
	// VisibilityUnlisted: readable by everyone who knows its URL, not
	// shown in indexes to people without a role on it.
	VisibilityUnlisted = "unlisted"
	// VisibilityPrivate: readable only by its members and site admins;
	// to everyone else it does not exist (404).
	VisibilityPrivate = "private"
)

// ValidVisibility reports whether v is a list visibility.
func ValidVisibility(v string) bool {
	return v == VisibilityPublic || v == VisibilityUnlisted || v == VisibilityPrivate
}

// Roles a user can have on a list.
const (
	RoleOwner      = "owner"
	RoleMaintainer = "maintainer"
)

// User is an account. The password hash is never part of it (see
// Credentials).
type User struct {
	ID        int64  `json:"id"`
	Email     string `json:"email"`
	Name      string `json:"name"`
	Admin     bool   `json:"admin"`
	Confirmed bool   `json:"confirmed"`
	// Disabled: the operator shut the account (patchwell user disable).
	// Its sessions were ended; its tokens, roles and mail stay, unusable
	// until it is enabled again (review.Accounts and access decide).
	Disabled bool      `json:"disabled"`
	Created  time.Time `json:"created"`
}

// APIToken describes a token for scripts; its secret is shown once, when
// created, and only its hash is stored.
type APIToken struct {
	ID       int64     `json:"id"`
	UserID   int64     `json:"-"`
	Name     string    `json:"name"`
	Created  time.Time `json:"created"`
	LastUsed time.Time `json:"last_used,omitzero"`
}

// StatusChange is one entry of a series' status history.
type StatusChange struct {
	ID       int64        `json:"id"`
	SeriesID int64        `json:"series_id"`
	From     string       `json:"from"`
	To       string       `json:"to"`
	User     *core.Person `json:"user"` // nil when no account made it
	UserID   int64        `json:"-"`
	At       time.Time    `json:"at"`
	Comment  string       `json:"comment"`
}

// SettableStatuses are the statuses a maintainer may set; superseded is
// set by ingest only.
var SettableStatuses = []string{StatusProposed, StatusNeedsRevision, StatusApproved, StatusRejected, StatusApplied}

const userCols = `id, email, name, admin, confirmed, disabled, created`

// userColsOf is userCols of the users table aliased u.
const userColsOf = `u.id, u.email, u.name, u.admin, u.confirmed, u.disabled, u.created`

func scanUser(sc scanner, extra ...any) (*User, error) {
	var u User
	var created int64
	if err := sc.Scan(append([]any{&u.ID, &u.Email, &u.Name, &u.Admin, &u.Confirmed, &u.Disabled, &created}, extra...)...); err != nil {
		return nil, err
	}
	u.Created = time.Unix(created, 0).UTC()
	return &u, nil
}

func userErr(err error, what string) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// write runs one statement on the writer connection, serialised with
// Update.
func (s *DB) write(ctx context.Context, q string, args ...any) (sql.Result, error) {
	var res sql.Result
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = tx.ExecContext(ctx, q, args...)
		return err
	})
	return res, err
}

// insertID runs one INSERT ... RETURNING id like write and returns the id.
func (s *DB) insertID(ctx context.Context, q string, args ...any) (int64, error) {
	var id int64
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		return tx.QueryRowContext(ctx, q, args...).Scan(&id)
	})
	return id, err
}

// CreateUser implements Store.
func (s *DB) CreateUser(ctx context.Context, u User, passwordHash string) (*User, error) {
	u.Email = strings.TrimSpace(u.Email)
	if u.Email == "" || !strings.Contains(u.Email, "@") {
		return nil, fmt.Errorf("%w: e-mail address %q", ErrInvalid, u.Email)
	}
	if u.Created.IsZero() {
		u.Created = time.Now()
	}
	u.Created = u.Created.Truncate(time.Second).UTC()
	var err error
	u.ID, err = s.insertID(ctx, `INSERT INTO users(email, name, password, confirmed, admin, created) VALUES(?,?,?,?,?,?) RETURNING id`,
		u.Email, u.Name, passwordHash, u.Confirmed, u.Admin, u.Created.Unix())
	if err != nil {
		if isUnique(err) {
			return nil, fmt.Errorf("user %q: %w", u.Email, ErrExists)
		}
		return nil, fmt.Errorf("create user: %w", err)
	}
	return &u, nil
}

// User implements Store.
func (s *DB) User(ctx context.Context, id int64) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, userErr(err, "user")
	}
	return u, nil
}

// UserByEmail implements Store.
func (s *DB) UserByEmail(ctx context.Context, email string) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email = ?`, strings.TrimSpace(email)))
	if err != nil {
		return nil, userErr(err, "user "+email)
	}
	return u, nil
}

// Credentials implements Store.
func (s *DB) Credentials(ctx context.Context, email string) (*User, string, error) {
	var hash string
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userCols+`, password FROM users WHERE email = ?`, strings.TrimSpace(email)), &hash)
	if err != nil {
		return nil, "", userErr(err, "user")
	}
	return u, hash, nil
}

// Users implements Store.
func (s *DB) Users(ctx context.Context) ([]User, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+userCols+` FROM users ORDER BY email`)
	return collect(rows, err, "users", func(sc scanner) (*User, error) { return scanUser(sc) })
}

// SetPassword implements Store.
func (s *DB) SetPassword(ctx context.Context, userID int64, passwordHash string, keep []byte) error {
	return s.endSessionsWith(ctx, "set password", userID, keep, `UPDATE users SET password = ? WHERE id = ?`, passwordHash, userID)
}

// SetDisabled implements Store.
func (s *DB) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	if !disabled {
		return s.updateOne(ctx, "enable user", `UPDATE users SET disabled = 0 WHERE id = ?`, userID)
	}
	return s.endSessionsWith(ctx, "disable user", userID, nil, `UPDATE users SET disabled = 1 WHERE id = ?`, userID)
}

// endSessionsWith runs an UPDATE of one user's row (ErrNotFound when it
// touches none) and, in the same transaction, ends the user's sessions
// but keep (every one for nil).
func (s *DB) endSessionsWith(ctx context.Context, what string, userID int64, keep []byte, q string, args ...any) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return ErrNotFound
		}
		if keep == nil {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ?`, userID)
		} else {
			_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user_id = ? AND hash != ?`, userID, keep)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// updateOne runs an UPDATE or DELETE that must touch a row.
func (s *DB) updateOne(ctx context.Context, what, q string, args ...any) error {
	res, err := s.write(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%s: %w", what, ErrNotFound)
	}
	return nil
}

// CreateConfirmation implements Store.
func (s *DB) CreateConfirmation(ctx context.Context, userID int64, hash []byte, expires time.Time) error {
	_, err := s.write(ctx, `INSERT INTO confirmations(hash, user_id, expires) VALUES(?,?,?)`, hash, userID, expires.Unix())
	if err != nil {
		return fmt.Errorf("create confirmation: %w", err)
	}
	return nil
}

// Confirm implements Store.
func (s *DB) Confirm(ctx context.Context, hash []byte, now time.Time) (*User, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	defer tx.Rollback()
	// Consumed once: a concurrent Confirm's DELETE finds nothing.
	var id, expires int64
	err = tx.QueryRowContext(ctx, `DELETE FROM confirmations WHERE hash = ? RETURNING user_id, expires`, hash).Scan(&id, &expires)
	if err != nil {
		return nil, userErr(err, "confirmation")
	}
	if expires < now.Unix() {
		if err := tx.Commit(); err != nil {
			return nil, fmt.Errorf("confirm: %w", err)
		}
		return nil, fmt.Errorf("confirmation expired: %w", ErrNotFound)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET confirmed = 1 WHERE id = ?`, id); err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	u, err := scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = ?`, id))
	if err != nil {
		return nil, userErr(err, "user")
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("confirm: %w", err)
	}
	return u, nil
}

// CreateSession implements Store.
func (s *DB) CreateSession(ctx context.Context, userID int64, hash []byte, expires time.Time) error {
	// Expired sessions of anyone go on the way.
	now := time.Now().Unix()
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE expires < ?`, now); err != nil {
			return err
		}
		// On PostgreSQL the user's row is read FOR SHARE: a concurrent
		// SetDisabled (or SetPassword) that updated it is waited for and
		// its result read, so no session outlives its ending.
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions(hash, user_id, created, expires)
			SELECT ?, id, ?, ? FROM users WHERE id = ? AND disabled = 0`+s.rowLock("FOR SHARE"), hash, now, expires.Unix(), userID)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("user %d (unknown or disabled): %w", userID, ErrNotFound)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("create session: %w", err)
	}
	return nil
}

// SessionUser implements Store.
func (s *DB) SessionUser(ctx context.Context, hash []byte, now time.Time) (*User, error) {
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColsOf+`
		FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.hash = ? AND s.expires >= ?`, hash, now.Unix()))
	if err != nil {
		return nil, userErr(err, "session")
	}
	return u, nil
}

// DeleteSession implements Store.
func (s *DB) DeleteSession(ctx context.Context, hash []byte) error {
	if _, err := s.write(ctx, `DELETE FROM sessions WHERE hash = ?`, hash); err != nil {
		return fmt.Errorf("delete session: %w", err)
	}
	return nil
}

// CreateToken implements Store.
func (s *DB) CreateToken(ctx context.Context, userID int64, name string, hash []byte) (*APIToken, error) {
	t := APIToken{UserID: userID, Name: name, Created: time.Now().Truncate(time.Second).UTC()}
	var err error
	t.ID, err = s.insertID(ctx, `INSERT INTO api_tokens(hash, user_id, name, created) VALUES(?,?,?,?) RETURNING id`,
		hash, userID, name, t.Created.Unix())
	if err != nil {
		if isForeignKey(err) {
			return nil, fmt.Errorf("user %d: %w", userID, ErrNotFound)
		}
		return nil, fmt.Errorf("create token: %w", err)
	}
	return &t, nil
}

// TokenUser implements Store. The token's last use is recorded at most
// once a minute, to keep reads from writing.
func (s *DB) TokenUser(ctx context.Context, hash []byte, now time.Time) (*User, error) {
	var tid, last int64
	u, err := scanUser(s.r.QueryRowContext(ctx, `SELECT `+userColsOf+`, t.id, t.last_used
		FROM api_tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?`, hash), &tid, &last)
	if err != nil {
		return nil, userErr(err, "token")
	}
	if now.Unix()-last >= 60 {
		if _, err := s.write(ctx, `UPDATE api_tokens SET last_used = ? WHERE id = ?`, now.Unix(), tid); err != nil {
			return nil, fmt.Errorf("token: %w", err)
		}
	}
	return u, nil
}

// Tokens implements Store.
func (s *DB) Tokens(ctx context.Context, userID int64) ([]APIToken, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, user_id, name, created, last_used FROM api_tokens WHERE user_id = ? ORDER BY id`, userID)
	return collect(rows, err, "tokens", func(sc scanner) (*APIToken, error) {
		var t APIToken
		var created, last int64
		if err := sc.Scan(&t.ID, &t.UserID, &t.Name, &created, &last); err != nil {
			return nil, err
		}
		t.Created, t.LastUsed = time.Unix(created, 0).UTC(), timeOrZero(last)
		return &t, nil
	})
}

// DeleteToken implements Store.
func (s *DB) DeleteToken(ctx context.Context, userID, tokenID int64) error {
	return s.updateOne(ctx, "token", `DELETE FROM api_tokens WHERE id = ? AND user_id = ?`, tokenID, userID)
}

// SetRole implements Store.
func (s *DB) SetRole(ctx context.Context, userID int64, list, role string) error {
	var listID int64
	if err := s.r.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, list).Scan(&listID); err != nil {
		return userErr(err, "list "+list)
	}
	if _, err := s.User(ctx, userID); err != nil {
		return err
	}
	switch role {
	case "":
		_, err := s.write(ctx, `DELETE FROM list_roles WHERE user_id = ? AND list_id = ?`, userID, listID)
		return err
	case RoleOwner, RoleMaintainer:
		_, err := s.write(ctx, `INSERT INTO list_roles(user_id, list_id, role) VALUES(?,?,?)
			ON CONFLICT(user_id, list_id) DO UPDATE SET role = excluded.role`, userID, listID, role)
		return err
	}
	return fmt.Errorf("%w: role %q (owner or maintainer)", ErrInvalid, role)
}

// Roles implements Store.
func (s *DB) Roles(ctx context.Context, userID int64) (map[string]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT l.name, r.role FROM list_roles r JOIN lists l ON l.id = r.list_id WHERE r.user_id = ?`, userID)
	if err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var l, r string
		if err := rows.Scan(&l, &r); err != nil {
			return nil, fmt.Errorf("roles: %w", err)
		}
		out[l] = r
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("roles: %w", err)
	}
	return out, nil
}

// Role implements Store.
func (s *DB) Role(ctx context.Context, userID int64, list string) (string, error) {
	var role string
	err := s.r.QueryRowContext(ctx, `SELECT r.role FROM list_roles r JOIN lists l ON l.id = r.list_id
		WHERE r.user_id = ? AND l.name = ?`, userID, list).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("role: %w", err)
	}
	return role, nil
}

// SetVisibility implements Store.
func (s *DB) SetVisibility(ctx context.Context, list, visibility string) error {
	if !ValidVisibility(visibility) {
		return fmt.Errorf("%w: visibility %q (public, unlisted or private)", ErrInvalid, visibility)
	}
	return s.updateOne(ctx, "list "+list, `UPDATE lists SET visibility = ? WHERE name = ?`, visibility, list)
}

// SetListInfo sets a list's description and owner's address.
func (s *DB) SetListInfo(ctx context.Context, list, description, owner string) error {
	return s.updateOne(ctx, "list "+list, `UPDATE lists SET description = ?, owner = ? WHERE name = ?`, description, owner, list)
}

// ListInfo implements Store.
func (s *DB) ListInfo(ctx context.Context, name string) (*List, error) {
	var l List
	var created int64
	err := s.r.QueryRowContext(ctx, `SELECT id, name, description, owner, created, uidvalidity, visibility FROM lists WHERE name = ?`, name).
		Scan(&l.ID, &l.Name, &l.Description, &l.Owner, &created, &l.UIDValidity, &l.Visibility)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	l.Created = time.Unix(created, 0).UTC()
	return &l, nil
}

// SetSeriesStatus implements Store.
func (s *DB) SetSeriesStatus(ctx context.Context, seriesID int64, status string, userID int64, comment string, at time.Time) (*StatusChange, error) {
	settable := false
	for _, st := range SettableStatuses {
		settable = settable || st == status
	}
	if !settable {
		return nil, fmt.Errorf("%w: status %q (one of %s)", ErrInvalid, status, strings.Join(SettableStatuses, ", "))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	defer tx.Rollback()
	// The series' list's writer lock: ingest reads and rewrites a
	// series under it, and must not undo this change.
	var listID int64
	if err := tx.QueryRowContext(ctx, `SELECT list_id FROM series WHERE id = ?`, seriesID).Scan(&listID); err != nil {
		return nil, userErr(err, fmt.Sprintf("series %d", seriesID))
	}
	if err := s.lockLists(ctx, tx, lockKey(listID)); err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	var from string
	if err := tx.QueryRowContext(ctx, `SELECT status FROM series WHERE id = ?`, seriesID).Scan(&from); err != nil {
		return nil, userErr(err, fmt.Sprintf("series %d", seriesID))
	}
	if from == status {
		return nil, fmt.Errorf("%w: series %d is already %s", ErrConflict, seriesID, status)
	}
	before, err := patchStates(ctx, tx, seriesID)
	if err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	c, err := setStatusTx(ctx, tx, seriesID, from, status, userID, comment, at)
	if err != nil {
		return nil, err
	}
	// Its patches follow the series (patchwork's per-patch state), each
	// change an event.
	if _, err := tx.ExecContext(ctx, `UPDATE patches SET state = '' WHERE series_id = ?`, seriesID); err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	if err := stateEvents(ctx, tx, listID, seriesID, before, userID, at); err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	return c, nil
}

// StatusHistory implements Store.
func (s *DB) StatusHistory(ctx context.Context, seriesID int64) ([]StatusChange, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT h.id, h.series_id, h.from_status, h.to_status, COALESCE(h.user_id, 0),
		u.name, u.email, h.at, h.comment
		FROM status_history h LEFT JOIN users u ON u.id = h.user_id WHERE h.series_id = ? ORDER BY h.id`, seriesID)
	return collect(rows, err, "status history", func(sc scanner) (*StatusChange, error) {
		var c StatusChange
		var name, email sql.NullString
		var at int64
		if err := sc.Scan(&c.ID, &c.SeriesID, &c.From, &c.To, &c.UserID, &name, &email, &at, &c.Comment); err != nil {
			return nil, err
		}
		if email.Valid {
			c.User = &core.Person{Name: name.String, Email: email.String}
		}
		c.At = time.Unix(at, 0).UTC()
		return &c, nil
	})
}

// AccountData is what is not derived from mail and so must survive a
// reindex: accounts with their password hashes, sessions, API tokens,
// pending confirmations, roles (by list name) and status history (by the
// series' list and Message-ID, since series ids change).
type AccountData struct {
	Users []struct {
		User
		Password string
	}
	Sessions []struct {
		Hash             []byte
		UserID           int64
		Created, Expires int64
	}
	Tokens []struct {
		ID, UserID        int64
		Hash              []byte
		Name              string
		Created, LastUsed int64
	}
	Confirmations []struct {
		Hash    []byte
		UserID  int64
		Expires int64
	}
	Roles []struct {
		UserID     int64
		List, Role string
	}
	History []struct {
		List, SeriesMessageID string
		From, To, Comment     string
		UserID, At            int64
	}
	// FeedTokens are the hashes of the users' "needs me" feed tokens.
	FeedTokens []struct {
		UserID, Created int64
		Hash            []byte
	}
	// NoStatusMail are the users who opted out of status notices
	// (SetStatusMail); NotifyThread the lists that post them to the
	// series' thread (SetNotifyThread).
	NoStatusMail []int64
	NotifyThread []string
}

// ExportAccounts implements Store.
func (s *DB) ExportAccounts(ctx context.Context) (*AccountData, error) {
	var d AccountData
	q := func(query string, scan func(*sql.Rows) error) error {
		rows, err := s.r.QueryContext(ctx, query)
		if err != nil {
			return fmt.Errorf("export accounts: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("export accounts: %w", err)
			}
		}
		return rows.Err()
	}
	err := errors.Join(
		q(`SELECT `+userCols+`, password FROM users ORDER BY id`, func(r *sql.Rows) error {
			var p string
			u, err := scanUser(r, &p)
			if err == nil {
				d.Users = append(d.Users, struct {
					User
					Password string
				}{*u, p})
			}
			return err
		}),
		q(`SELECT hash, user_id, created, expires FROM sessions`, func(r *sql.Rows) error {
			d.Sessions = append(d.Sessions, struct {
				Hash             []byte
				UserID           int64
				Created, Expires int64
			}{})
			x := &d.Sessions[len(d.Sessions)-1]
			return r.Scan(&x.Hash, &x.UserID, &x.Created, &x.Expires)
		}),
		q(`SELECT id, user_id, hash, name, created, last_used FROM api_tokens ORDER BY id`, func(r *sql.Rows) error {
			d.Tokens = append(d.Tokens, struct {
				ID, UserID        int64
				Hash              []byte
				Name              string
				Created, LastUsed int64
			}{})
			x := &d.Tokens[len(d.Tokens)-1]
			return r.Scan(&x.ID, &x.UserID, &x.Hash, &x.Name, &x.Created, &x.LastUsed)
		}),
		q(`SELECT name FROM lists WHERE notify_thread != 0 ORDER BY name`, func(r *sql.Rows) error {
			var name string
			err := r.Scan(&name)
			d.NotifyThread = append(d.NotifyThread, name)
			return err
		}),
		q(`SELECT id FROM users WHERE status_mail = 0 ORDER BY id`, func(r *sql.Rows) error {
			var id int64
			err := r.Scan(&id)
			d.NoStatusMail = append(d.NoStatusMail, id)
			return err
		}),
		q(`SELECT hash, user_id, expires FROM confirmations`, func(r *sql.Rows) error {
			d.Confirmations = append(d.Confirmations, struct {
				Hash    []byte
				UserID  int64
				Expires int64
			}{})
			x := &d.Confirmations[len(d.Confirmations)-1]
			return r.Scan(&x.Hash, &x.UserID, &x.Expires)
		}),
		q(`SELECT r.user_id, l.name, r.role FROM list_roles r JOIN lists l ON l.id = r.list_id`, func(r *sql.Rows) error {
			d.Roles = append(d.Roles, struct {
				UserID     int64
				List, Role string
			}{})
			x := &d.Roles[len(d.Roles)-1]
			return r.Scan(&x.UserID, &x.List, &x.Role)
		}),
		q(`SELECT l.name, s.message_id, h.from_status, h.to_status, h.comment, COALESCE(h.user_id, 0), h.at
			FROM status_history h JOIN series s ON s.id = h.series_id JOIN lists l ON l.id = s.list_id ORDER BY h.id`, func(r *sql.Rows) error {
			d.History = append(d.History, struct {
				List, SeriesMessageID string
				From, To, Comment     string
				UserID, At            int64
			}{})
			x := &d.History[len(d.History)-1]
			return r.Scan(&x.List, &x.SeriesMessageID, &x.From, &x.To, &x.Comment, &x.UserID, &x.At)
		}),
		q(`SELECT user_id, created, hash FROM feed_tokens ORDER BY user_id`, func(r *sql.Rows) error {
			d.FeedTokens = append(d.FeedTokens, struct {
				UserID, Created int64
				Hash            []byte
			}{})
			x := &d.FeedTokens[len(d.FeedTokens)-1]
			return r.Scan(&x.UserID, &x.Created, &x.Hash)
		}),
	)
	if err != nil {
		return nil, err
	}
	return &d, nil
}

// ImportAccounts implements Store. Status history whose series is not in
// the rebuilt store is dropped and counted; a series takes the status of
// its last recorded change, unless ingest superseded it and the change
// was no decision (proposed, needs_revision), as ingest itself does.
func (s *DB) ImportAccounts(ctx context.Context, d *AccountData) (dropped int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return 0, fmt.Errorf("import accounts: %w", err)
	}
	defer tx.Rollback()
	if err := s.lockAllLists(ctx, tx); err != nil { // series statuses of any list
		return 0, fmt.Errorf("import accounts: %w", err)
	}
	exec := func(q string, args ...any) {
		if err == nil {
			if _, e := tx.ExecContext(ctx, q, args...); e != nil {
				err = fmt.Errorf("import accounts: %w", e)
			}
		}
	}
	for _, u := range d.Users {
		exec(`INSERT INTO users(id, email, name, password, confirmed, admin, disabled, created) VALUES(?,?,?,?,?,?,?,?)`,
			u.ID, u.Email, u.Name, u.Password, u.Confirmed, u.Admin, u.Disabled, u.Created.Unix())
	}
	for _, id := range d.NoStatusMail {
		exec(`UPDATE users SET status_mail = 0 WHERE id = ?`, id)
	}
	for _, name := range d.NotifyThread {
		exec(`UPDATE lists SET notify_thread = 1 WHERE name = ?`, name)
	}
	for _, x := range d.Sessions {
		exec(`INSERT INTO sessions(hash, user_id, created, expires) VALUES(?,?,?,?)`, x.Hash, x.UserID, x.Created, x.Expires)
	}
	for _, x := range d.Tokens {
		exec(`INSERT INTO api_tokens(id, hash, user_id, name, created, last_used) VALUES(?,?,?,?,?,?)`,
			x.ID, x.Hash, x.UserID, x.Name, x.Created, x.LastUsed)
	}
	for _, x := range d.Confirmations {
		exec(`INSERT INTO confirmations(hash, user_id, expires) VALUES(?,?,?)`, x.Hash, x.UserID, x.Expires)
	}
	for _, x := range d.Roles {
		exec(`INSERT INTO list_roles(user_id, list_id, role) SELECT ?, id, ? FROM lists WHERE name = ?`, x.UserID, x.Role, x.List)
	}
	for _, x := range d.FeedTokens {
		exec(`INSERT INTO feed_tokens(user_id, hash, created) VALUES(?,?,?)`, x.UserID, x.Hash, x.Created)
	}
	last := map[int64]string{}
	for _, x := range d.History {
		if err != nil {
			break
		}
		var id int64
		e := tx.QueryRowContext(ctx, `SELECT s.id FROM series s JOIN lists l ON l.id = s.list_id
			WHERE l.name = ? AND s.message_id = ? ORDER BY s.id LIMIT 1`, x.List, x.SeriesMessageID).Scan(&id)
		if errors.Is(e, sql.ErrNoRows) {
			dropped++
			continue
		}
		if e != nil {
			err = fmt.Errorf("import accounts: %w", e)
			break
		}
		exec(`INSERT INTO status_history(series_id, from_status, to_status, user_id, at, comment) VALUES(?,?,?,?,?,?)`,
			id, x.From, x.To, nullID(x.UserID), x.At, x.Comment)
		last[id] = x.To
	}
	for id, st := range last {
		exec(`UPDATE series SET status = ?1 WHERE id = ?2 AND NOT (status = 'superseded' AND ?1 IN ('proposed', 'needs_revision'))`, st, id)
	}
	if err != nil {
		return dropped, err
	}
	if err := s.syncSequences(ctx, tx); err != nil {
		return dropped, fmt.Errorf("import accounts: %w", err)
	}
	// The history brought in was notified where it happened.
	if err := skipStatusNotes(ctx, tx); err != nil {
		return dropped, fmt.Errorf("import accounts: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return dropped, fmt.Errorf("import accounts: %w", err)
	}
	return dropped, nil
}

// MessageLists implements Store.
func (s *DB) MessageLists(ctx context.Context, messageID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT l.name FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE m.message_id = ? ORDER BY l.name LIMIT 100`, messageID)
	names, err := collect(rows, err, "message lists", func(sc scanner) (*string, error) {
		var n string
		return &n, sc.Scan(&n)
	})
	if err == nil && len(names) == 0 {
		err = fmt.Errorf("message %q: %w", messageID, ErrNotFound)
	}
	return names, err
}

// setStatusTx changes a series' status from from to status in tx (which
// holds its list's writer lock) and records the change.
func setStatusTx(ctx context.Context, tx *sql.Tx, seriesID int64, from, status string, userID int64, comment string, at time.Time) (*StatusChange, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE series SET status = ? WHERE id = ?`, status, seriesID); err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	c := StatusChange{SeriesID: seriesID, From: from, To: status, UserID: userID, At: at.Truncate(time.Second).UTC(), Comment: comment}
	err := tx.QueryRowContext(ctx, `INSERT INTO status_history(series_id, from_status, to_status, user_id, at, comment) VALUES(?,?,?,?,?,?) RETURNING id`,
		seriesID, from, status, nullID(userID), c.At.Unix(), comment).Scan(&c.ID)
	if err != nil {
		return nil, fmt.Errorf("set status: %w", err)
	}
	if userID != 0 {
		var p core.Person
		if err := tx.QueryRowContext(ctx, `SELECT name, email FROM users WHERE id = ?`, userID).Scan(&p.Name, &p.Email); err != nil {
			return nil, userErr(err, "user")
		}
		c.User = &p
	}
	return &c, nil
}
