package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The mailing list's own data (package lists decides what to do with
// it): subscribers, pending subscription confirmations, posting policy,
// held messages, per-message authentication results and the server's
// secrets.

// Subscriber states.
const (
	SubPending  = "pending"  // asked, not confirmed: gets nothing
	SubActive   = "active"   // gets every accepted post
	SubDisabled = "disabled" // too many bounces: gets nothing until re-enabled
)

// Posting policies.
const (
	PostOpen        = "open"        // anyone may post
	PostSubscribers = "subscribers" // subscribers post; others are held
	PostModerated   = "moderated"   // every post is held, except allowed senders
)

// What to do with a message that fails DMARC.
const (
	DMARCAccept = "accept"
	DMARCHold   = "hold"
	DMARCReject = "reject"
)

// Held message states.
const (
	HeldWaiting  = "held"
	HeldApproved = "approved"
	HeldRejected = "rejected"
)

// Subscriber is one address subscribed to a list.
type Subscriber struct {
	List    string    `json:"list"`
	Email   string    `json:"email"`
	Name    string    `json:"name,omitempty"`
	State   string    `json:"state"`
	Created time.Time `json:"created"`
	Bounces int       `json:"bounces"`
}

// ListPolicy is who may post to a list and what happens to the rest.
type ListPolicy struct {
	Posting string `json:"posting"`
	DMARC   string `json:"dmarc"`
	// Allow and Deny hold addresses ("a@example.org") and domains
	// ("@example.org"), lower case.
	Allow []string `json:"allow"`
	Deny  []string `json:"deny"`
}

// Held is a message waiting for a moderator; it is not archived (no UID,
// no thread, no series) until approved.
type Held struct {
	ID        int64     `json:"id"`
	List      string    `json:"list"`
	MessageID string    `json:"message_id"`
	From      string    `json:"from"`
	Subject   string    `json:"subject"`
	Reason    string    `json:"reason"`
	Auth      string    `json:"auth,omitempty"`
	Arrived   time.Time `json:"arrived"`
	State     string    `json:"state"`
	DecidedBy string    `json:"decided_by,omitempty"`
	DecidedAt time.Time `json:"decided_at,omitzero"`
	Raw       []byte    `json:"-"`
}

// ValidPosting reports whether p is a posting policy.
func ValidPosting(p string) bool {
	return p == PostOpen || p == PostSubscribers || p == PostModerated
}

// ValidDMARCAction reports whether a is a DMARC-failure action.
func ValidDMARCAction(a string) bool {
	return a == DMARCAccept || a == DMARCHold || a == DMARCReject
}

func listID(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, name string) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("list %q: %w", name, ErrNotFound)
	}
	return id, err
}

// Subscribe implements Store.
func (s *DB) Subscribe(ctx context.Context, list, email, name, state string) error {
	email = strings.ToLower(strings.TrimSpace(email))
	if !strings.Contains(email, "@") || strings.ContainsAny(email, " \t\r\n<>,") {
		return fmt.Errorf("%w: address %q", ErrInvalid, email)
	}
	if state != SubPending && state != SubActive && state != SubDisabled {
		return fmt.Errorf("%w: subscriber state %q", ErrInvalid, state)
	}
	id, err := listID(ctx, s.r, list)
	if err != nil {
		return err
	}
	_, err = s.write(ctx, `INSERT INTO subscribers(list_id, email, name, state, created) VALUES(?,?,?,?,?)
		ON CONFLICT(list_id, email) DO UPDATE SET state = excluded.state, name = CASE WHEN excluded.name != '' THEN excluded.name ELSE subscribers.name END,
		bounces = CASE WHEN excluded.state = 'active' THEN 0 ELSE subscribers.bounces END`,
		id, email, name, state, time.Now().Unix())
	if err != nil {
		return fmt.Errorf("subscribe: %w", err)
	}
	return nil
}

// Unsubscribe implements Store.
func (s *DB) Unsubscribe(ctx context.Context, list, email string) error {
	id, err := listID(ctx, s.r, list)
	if err != nil {
		return err
	}
	return s.updateOne(ctx, "subscriber "+email, `DELETE FROM subscribers WHERE list_id = ? AND email = ?`, id, strings.ToLower(email))
}

const subscriberCols = `l.name, s.email, s.name, s.state, s.created, s.bounces`

func scanSubscriber(sc scanner) (*Subscriber, error) {
	var sub Subscriber
	var created int64
	if err := sc.Scan(&sub.List, &sub.Email, &sub.Name, &sub.State, &created, &sub.Bounces); err != nil {
		return nil, err
	}
	sub.Created = time.Unix(created, 0).UTC()
	return &sub, nil
}

// Subscribers implements Store.
func (s *DB) Subscribers(ctx context.Context, list, state string) ([]Subscriber, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+subscriberCols+` FROM subscribers s JOIN lists l ON l.id = s.list_id
		WHERE l.name = ?1 AND (?2 = '' OR s.state = ?2) ORDER BY s.email`, list, state)
	return collect(rows, err, "subscribers", scanSubscriber)
}

// Subscriber implements Store.
func (s *DB) Subscriber(ctx context.Context, list, email string) (*Subscriber, error) {
	sub, err := scanSubscriber(s.r.QueryRowContext(ctx, `SELECT `+subscriberCols+` FROM subscribers s JOIN lists l ON l.id = s.list_id
		WHERE l.name = ? AND s.email = ?`, list, strings.ToLower(email)))
	if err != nil {
		return nil, userErr(err, "subscriber "+email)
	}
	return sub, nil
}

// AddBounce implements Store.
func (s *DB) AddBounce(ctx context.Context, list, email string, disableAt int) (*Subscriber, error) {
	id, err := listID(ctx, s.r, list)
	if err != nil {
		return nil, err
	}
	err = s.updateOne(ctx, "subscriber "+email, `UPDATE subscribers SET bounces = bounces + 1,
		state = CASE WHEN bounces + 1 >= ?3 AND state = 'active' THEN 'disabled' ELSE state END
		WHERE list_id = ?1 AND email = ?2`, id, strings.ToLower(email), disableAt)
	if err != nil {
		return nil, err
	}
	return s.Subscriber(ctx, list, email)
}

// AddSubConfirmation implements Store.
func (s *DB) AddSubConfirmation(ctx context.Context, hash []byte, list, email, action string, expires time.Time) error {
	id, err := listID(ctx, s.r, list)
	if err != nil {
		return err
	}
	_, err = s.write(ctx, `INSERT INTO sub_confirmations(hash, list_id, email, action, expires) VALUES(?,?,?,?,?)`,
		hash, id, strings.ToLower(email), action, expires.Unix())
	if err != nil {
		return fmt.Errorf("add confirmation: %w", err)
	}
	return nil
}

// TakeSubConfirmation implements Store.
func (s *DB) TakeSubConfirmation(ctx context.Context, hash []byte, now time.Time) (list, email, action string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return "", "", "", fmt.Errorf("confirmation: %w", err)
	}
	defer tx.Rollback()
	// Consumed once: a concurrent DELETE of the same row finds nothing.
	var expires, listID int64
	err = tx.QueryRowContext(ctx, `DELETE FROM sub_confirmations WHERE hash = ? RETURNING list_id, email, action, expires`, hash).
		Scan(&listID, &email, &action, &expires)
	if err != nil {
		return "", "", "", userErr(err, "confirmation")
	}
	if err := tx.QueryRowContext(ctx, `SELECT name FROM lists WHERE id = ?`, listID).Scan(&list); err != nil {
		return "", "", "", userErr(err, "confirmation's list")
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM sub_confirmations WHERE expires < ?`, now.Unix()); err != nil {
		return "", "", "", fmt.Errorf("confirmation: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", "", "", fmt.Errorf("confirmation: %w", err)
	}
	if expires < now.Unix() {
		return "", "", "", fmt.Errorf("confirmation expired: %w", ErrNotFound)
	}
	return list, email, action, nil
}

// Policy implements Store.
func (s *DB) Policy(ctx context.Context, list string) (*ListPolicy, error) {
	var id int64
	p := &ListPolicy{Allow: []string{}, Deny: []string{}}
	err := s.r.QueryRowContext(ctx, `SELECT id, posting, dmarc_action FROM lists WHERE name = ?`, list).Scan(&id, &p.Posting, &p.DMARC)
	if err != nil {
		return nil, userErr(err, "list "+list)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT pattern, action FROM list_rules WHERE list_id = ? ORDER BY pattern`, id)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var pat, action string
		if err := rows.Scan(&pat, &action); err != nil {
			return nil, fmt.Errorf("policy: %w", err)
		}
		if action == "allow" {
			p.Allow = append(p.Allow, pat)
		} else {
			p.Deny = append(p.Deny, pat)
		}
	}
	return p, rows.Err()
}

// SetPolicy implements Store.
func (s *DB) SetPolicy(ctx context.Context, list string, p ListPolicy) error {
	if !ValidPosting(p.Posting) {
		return fmt.Errorf("%w: posting %q (open, subscribers or moderated)", ErrInvalid, p.Posting)
	}
	if !ValidDMARCAction(p.DMARC) {
		return fmt.Errorf("%w: dmarc action %q (accept, hold or reject)", ErrInvalid, p.DMARC)
	}
	for _, pat := range append(append([]string{}, p.Allow...), p.Deny...) {
		if !strings.Contains(pat, "@") || strings.ContainsAny(pat, " \t\r\n<>,") {
			return fmt.Errorf("%w: rule %q (an address, or @domain)", ErrInvalid, pat)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	defer tx.Rollback()
	id, err := listID(ctx, tx, list)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE lists SET posting = ?, dmarc_action = ? WHERE id = ?`, p.Posting, p.DMARC, id); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM list_rules WHERE list_id = ?`, id); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	for action, pats := range map[string][]string{"allow": p.Allow, "deny": p.Deny} {
		for _, pat := range pats {
			if _, err := tx.ExecContext(ctx, `INSERT INTO list_rules(list_id, pattern, action) VALUES(?,?,?)
				ON CONFLICT(list_id, pattern) DO UPDATE SET action = excluded.action`,
				id, strings.ToLower(pat), action); err != nil {
				return fmt.Errorf("set policy: %w", err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set policy: %w", err)
	}
	return nil
}

// Hold implements Store.
func (s *DB) Hold(ctx context.Context, h *Held) (int64, error) {
	id, err := listID(ctx, s.r, h.List)
	if err != nil {
		return 0, err
	}
	z := zenc.EncodeAll(h.Raw, nil)
	hid, err := s.insertID(ctx, `INSERT INTO held(list_id, raw, message_id, from_email, subject, reason, auth, arrived, state)
		VALUES(?,?,?,?,?,?,?,?,?) RETURNING id`, id, z, h.MessageID, strings.ToLower(h.From), h.Subject, h.Reason, h.Auth, h.Arrived.Unix(), HeldWaiting)
	if err != nil {
		return 0, fmt.Errorf("hold: %w", err)
	}
	return hid, nil
}

const heldCols = `h.id, l.name, h.message_id, h.from_email, h.subject, h.reason, h.auth, h.arrived, h.state, h.decided_by, h.decided_at`

func scanHeld(sc scanner, extra ...any) (*Held, error) {
	var h Held
	var arrived, decided int64
	if err := sc.Scan(append([]any{&h.ID, &h.List, &h.MessageID, &h.From, &h.Subject, &h.Reason, &h.Auth, &arrived,
		&h.State, &h.DecidedBy, &decided}, extra...)...); err != nil {
		return nil, err
	}
	h.Arrived = time.Unix(arrived, 0).UTC()
	if decided > 0 {
		h.DecidedAt = time.Unix(decided, 0).UTC()
	}
	return &h, nil
}

// HeldMessages implements Store.
func (s *DB) HeldMessages(ctx context.Context, list, state string) ([]Held, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+heldCols+` FROM held h JOIN lists l ON l.id = h.list_id
		WHERE l.name = ?1 AND (?2 = '' OR h.state = ?2) ORDER BY h.id`, list, state)
	return collect(rows, err, "held", func(sc scanner) (*Held, error) { return scanHeld(sc) })
}

// HeldMessage implements Store.
func (s *DB) HeldMessage(ctx context.Context, id int64) (*Held, error) {
	var z []byte
	h, err := scanHeld(s.r.QueryRowContext(ctx, `SELECT `+heldCols+`, h.raw FROM held h JOIN lists l ON l.id = h.list_id WHERE h.id = ?`, id), &z)
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("held message %d", id))
	}
	if h.Raw, err = zdec.DecodeAll(z, nil); err != nil {
		return nil, fmt.Errorf("held message %d: %w: %v", id, ErrCorrupted, err)
	}
	return h, nil
}

// DecideHeld implements Store.
func (s *DB) DecideHeld(ctx context.Context, id int64, state, by string, at time.Time) error {
	if state != HeldApproved && state != HeldRejected {
		return fmt.Errorf("%w: held state %q", ErrInvalid, state)
	}
	res, err := s.write(ctx, `UPDATE held SET state = ?, decided_by = ?, decided_at = ? WHERE id = ? AND state = 'held'`,
		state, by, at.Unix(), id)
	if err != nil {
		return fmt.Errorf("decide held: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.HeldMessage(ctx, id); err != nil {
			return err
		}
		return fmt.Errorf("held message %d: %w (already decided)", id, ErrConflict)
	}
	return nil
}

// SetMessageAuth implements Store.
func (s *DB) SetMessageAuth(ctx context.Context, list, messageID, result string) error {
	_, err := s.write(ctx, `INSERT INTO message_auth(id, result)
		SELECT m.id, ? FROM messages m JOIN lists l ON l.id = m.list_id WHERE l.name = ? AND m.message_id = ?
		ON CONFLICT(id) DO UPDATE SET result = excluded.result`, result, list, messageID)
	if err != nil {
		return fmt.Errorf("message auth: %w", err)
	}
	return nil
}

// MessageAuth implements Store.
func (s *DB) MessageAuth(ctx context.Context, list, messageID string) (string, error) {
	var r string
	err := s.r.QueryRowContext(ctx, `SELECT a.result FROM message_auth a JOIN messages m ON m.id = a.id JOIN lists l ON l.id = m.list_id
		WHERE l.name = ? AND m.message_id = ? ORDER BY m.id LIMIT 1`, list, messageID).Scan(&r)
	if err != nil {
		return "", userErr(err, "message auth")
	}
	return r, nil
}

// Secret implements Store.
func (s *DB) Secret(ctx context.Context, name string) ([]byte, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v)
	if err == nil {
		return v, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("secret: %w", err)
	}
	v = make([]byte, 32)
	rand.Read(v)
	if _, err := s.write(ctx, `INSERT INTO secrets(name, value) VALUES(?, ?) ON CONFLICT DO NOTHING`, name, v); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	// Another process may have won the race: read what is stored.
	if err := s.r.QueryRowContext(ctx, `SELECT value FROM secrets WHERE name = ?`, name).Scan(&v); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return v, nil
}

// ListOwners implements Store.
func (s *DB) ListOwners(ctx context.Context, list string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT lower(u.email) FROM list_roles r JOIN lists l ON l.id = r.list_id
		JOIN users u ON u.id = r.user_id WHERE l.name = ?1 AND r.role = 'owner' AND u.disabled = 0
		UNION SELECT lower(owner) FROM lists WHERE name = ?1 AND owner != '' ORDER BY 1`, list)
	if err != nil {
		return nil, fmt.Errorf("list owners: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("list owners: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// MailingListData is what the mailing list and CI keep that is not in
// the mail, carried across a reindex: policies, rules, subscribers,
// pending confirmations, held messages (compressed as stored),
// authentication results, checks and secrets.
type MailingListData struct {
	Policies []struct{ List, Posting, DMARC string }
	Rules    []struct{ List, Pattern, Action string }
	Subs     []struct {
		List, Email, Name, State string
		Created                  int64
		Bounces                  int
	}
	Confirmations []struct {
		Hash                []byte
		List, Email, Action string
		Expires             int64
	}
	Held []struct {
		List, MessageID, From, Subject, Reason, Auth, State, DecidedBy string
		Raw                                                            []byte
		Arrived, DecidedAt                                             int64
	}
	Auth   []struct{ List, MessageID, Result string }
	Checks []struct {
		List, SeriesMessageID, Context, State, Description, URL, Log string
		PatchIndex                                                   int
		Created, Updated                                             int64
	}
	Secrets []struct {
		Name  string
		Value []byte
	}
	// Webhooks are the webhook subscriptions (store/webhooks.go); their
	// queued deliveries are not carried (payloads name series ids).
	Webhooks []Webhook
	// Jobs are the CI queue: a job running at export is queued again.
	Jobs []ExportedJob
}

// ExportedJob is a CI job carried across a reindex, keyed by its
// series' list and Message-ID.
type ExportedJob struct {
	List, SeriesMessageID, State, LastError string
	Attempts                                int
	Released                                bool
	Created, Updated                        int64
}

// ExportMailingList implements Store.
func (s *DB) ExportMailingList(ctx context.Context) (*MailingListData, error) {
	var d MailingListData
	q := func(query string, scan func(*sql.Rows) error) error {
		rows, err := s.r.QueryContext(ctx, query)
		if err != nil {
			return fmt.Errorf("export mailing list: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				return fmt.Errorf("export mailing list: %w", err)
			}
		}
		return rows.Err()
	}
	err := errors.Join(
		q(`SELECT name, posting, dmarc_action FROM lists`, func(r *sql.Rows) error {
			d.Policies = append(d.Policies, struct{ List, Posting, DMARC string }{})
			x := &d.Policies[len(d.Policies)-1]
			return r.Scan(&x.List, &x.Posting, &x.DMARC)
		}),
		q(`SELECT l.name, r.pattern, r.action FROM list_rules r JOIN lists l ON l.id = r.list_id`, func(r *sql.Rows) error {
			d.Rules = append(d.Rules, struct{ List, Pattern, Action string }{})
			x := &d.Rules[len(d.Rules)-1]
			return r.Scan(&x.List, &x.Pattern, &x.Action)
		}),
		q(`SELECT l.name, s.email, s.name, s.state, s.created, s.bounces FROM subscribers s JOIN lists l ON l.id = s.list_id`, func(r *sql.Rows) error {
			d.Subs = append(d.Subs, struct {
				List, Email, Name, State string
				Created                  int64
				Bounces                  int
			}{})
			x := &d.Subs[len(d.Subs)-1]
			return r.Scan(&x.List, &x.Email, &x.Name, &x.State, &x.Created, &x.Bounces)
		}),
		q(`SELECT c.hash, l.name, c.email, c.action, c.expires FROM sub_confirmations c JOIN lists l ON l.id = c.list_id`, func(r *sql.Rows) error {
			d.Confirmations = append(d.Confirmations, struct {
				Hash                []byte
				List, Email, Action string
				Expires             int64
			}{})
			x := &d.Confirmations[len(d.Confirmations)-1]
			return r.Scan(&x.Hash, &x.List, &x.Email, &x.Action, &x.Expires)
		}),
		q(`SELECT l.name, h.message_id, h.from_email, h.subject, h.reason, h.auth, h.state, h.decided_by, h.raw, h.arrived, h.decided_at
			FROM held h JOIN lists l ON l.id = h.list_id ORDER BY h.id`, func(r *sql.Rows) error {
			d.Held = append(d.Held, struct {
				List, MessageID, From, Subject, Reason, Auth, State, DecidedBy string
				Raw                                                            []byte
				Arrived, DecidedAt                                             int64
			}{})
			x := &d.Held[len(d.Held)-1]
			return r.Scan(&x.List, &x.MessageID, &x.From, &x.Subject, &x.Reason, &x.Auth, &x.State, &x.DecidedBy, &x.Raw, &x.Arrived, &x.DecidedAt)
		}),
		q(`SELECT l.name, m.message_id, a.result FROM message_auth a JOIN messages m ON m.id = a.id JOIN lists l ON l.id = m.list_id`, func(r *sql.Rows) error {
			d.Auth = append(d.Auth, struct{ List, MessageID, Result string }{})
			x := &d.Auth[len(d.Auth)-1]
			return r.Scan(&x.List, &x.MessageID, &x.Result)
		}),
		q(`SELECT l.name, s.message_id, c.context, c.state, c.description, c.url, c.log, c.patch_index, c.created, c.updated
			FROM checks c JOIN series s ON s.id = c.series_id JOIN lists l ON l.id = s.list_id ORDER BY c.id`, func(r *sql.Rows) error {
			d.Checks = append(d.Checks, struct {
				List, SeriesMessageID, Context, State, Description, URL, Log string
				PatchIndex                                                   int
				Created, Updated                                             int64
			}{})
			x := &d.Checks[len(d.Checks)-1]
			return r.Scan(&x.List, &x.SeriesMessageID, &x.Context, &x.State, &x.Description, &x.URL, &x.Log, &x.PatchIndex, &x.Created, &x.Updated)
		}),
		q(`SELECT l.name, s.message_id, j.state, j.last_error, j.attempts, j.released, j.created, j.updated
			FROM jobs j JOIN series s ON s.id = j.series_id JOIN lists l ON l.id = s.list_id ORDER BY j.id`, func(r *sql.Rows) error {
			var x ExportedJob
			if err := r.Scan(&x.List, &x.SeriesMessageID, &x.State, &x.LastError, &x.Attempts, &x.Released, &x.Created, &x.Updated); err != nil {
				return err
			}
			if x.State == JobRunning {
				x.State = JobQueued
			}
			d.Jobs = append(d.Jobs, x)
			return nil
		}),
		q(`SELECT name, value FROM secrets`, func(r *sql.Rows) error {
			d.Secrets = append(d.Secrets, struct {
				Name  string
				Value []byte
			}{})
			x := &d.Secrets[len(d.Secrets)-1]
			return r.Scan(&x.Name, &x.Value)
		}),
	)
	if err == nil {
		d.Webhooks, err = s.Webhooks(ctx)
	}
	return &d, err
}

// ImportMailingList implements Store.
func (s *DB) ImportMailingList(ctx context.Context, d *MailingListData) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("import mailing list: %w", err)
	}
	defer tx.Rollback()
	exec := func(q string, args ...any) {
		if err == nil {
			if _, e := tx.ExecContext(ctx, q, args...); e != nil {
				err = fmt.Errorf("import mailing list: %w", e)
			}
		}
	}
	const lid = `(SELECT id FROM lists WHERE name = ?)`
	for _, x := range d.Policies {
		exec(`UPDATE lists SET posting = ?, dmarc_action = ? WHERE name = ?`, x.Posting, x.DMARC, x.List)
	}
	for _, x := range d.Rules {
		exec(`INSERT INTO list_rules(list_id, pattern, action) VALUES(`+lid+`,?,?)
			ON CONFLICT(list_id, pattern) DO UPDATE SET action = excluded.action`, x.List, x.Pattern, x.Action)
	}
	for _, x := range d.Subs {
		exec(`INSERT INTO subscribers(list_id, email, name, state, created, bounces) VALUES(`+lid+`,?,?,?,?,?)
			ON CONFLICT(list_id, email) DO UPDATE SET name = excluded.name, state = excluded.state, created = excluded.created, bounces = excluded.bounces`,
			x.List, x.Email, x.Name, x.State, x.Created, x.Bounces)
	}
	for _, x := range d.Confirmations {
		exec(`INSERT INTO sub_confirmations(hash, list_id, email, action, expires) VALUES(?,`+lid+`,?,?,?)
			ON CONFLICT(hash) DO UPDATE SET list_id = excluded.list_id, email = excluded.email, action = excluded.action, expires = excluded.expires`,
			x.Hash, x.List, x.Email, x.Action, x.Expires)
	}
	for _, x := range d.Held {
		exec(`INSERT INTO held(list_id, raw, message_id, from_email, subject, reason, auth, arrived, state, decided_by, decided_at)
			VALUES(`+lid+`,?,?,?,?,?,?,?,?,?,?)`, x.List, x.Raw, x.MessageID, x.From, x.Subject, x.Reason, x.Auth, x.Arrived, x.State, x.DecidedBy, x.DecidedAt)
	}
	for _, x := range d.Auth {
		exec(`INSERT INTO message_auth(id, result) SELECT m.id, ? FROM messages m JOIN lists l ON l.id = m.list_id
			WHERE l.name = ? AND m.message_id = ? ORDER BY m.id LIMIT 1
			ON CONFLICT(id) DO UPDATE SET result = excluded.result`, x.Result, x.List, x.MessageID)
	}
	for _, x := range d.Checks {
		exec(`INSERT INTO checks(series_id, patch_index, context, state, description, url, log, created, updated)
			SELECT s.id, ?, ?, ?, ?, ?, ?, ?, ? FROM series s JOIN lists l ON l.id = s.list_id
			WHERE l.name = ? AND s.message_id = ? ORDER BY s.id LIMIT 1
			ON CONFLICT(series_id, patch_index, context) DO UPDATE SET state = excluded.state, description = excluded.description,
			url = excluded.url, log = excluded.log, created = excluded.created, updated = excluded.updated`,
			x.PatchIndex, x.Context, x.State, x.Description, x.URL, x.Log, x.Created, x.Updated, x.List, x.SeriesMessageID)
	}
	for _, x := range d.Jobs {
		exec(`INSERT INTO jobs(series_id, state, attempts, released, last_error, created, updated)
			SELECT s.id, ?, ?, ?, ?, ?, ? FROM series s JOIN lists l ON l.id = s.list_id
			WHERE l.name = ? AND s.message_id = ? ORDER BY s.id LIMIT 1
			ON CONFLICT DO NOTHING`,
			x.State, x.Attempts, x.Released, x.LastError, x.Created, x.Updated, x.List, x.SeriesMessageID)
	}
	for _, x := range d.Secrets {
		exec(`INSERT INTO secrets(name, value) VALUES(?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value`, x.Name, x.Value)
	}
	for _, w := range d.Webhooks {
		exec(`INSERT INTO webhooks(id, url, secret, events, list, created) VALUES(?,?,?,?,?,?)
			ON CONFLICT(id) DO UPDATE SET url = excluded.url, secret = excluded.secret, events = excluded.events,
			list = excluded.list, created = excluded.created`,
			w.ID, w.URL, w.Secret, strings.Join(w.Events, ","), w.List, w.Created.Unix())
	}
	if err != nil {
		return err
	}
	if err := s.syncSequences(ctx, tx); err != nil {
		return fmt.Errorf("import mailing list: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("import mailing list: %w", err)
	}
	return nil
}
