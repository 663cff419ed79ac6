package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DevKey is a developer's signing key (patatt) for b4's web submission
// endpoint: registered by auth-new, verified by auth-verify (a message
// signed with it, carrying the challenge mailed to the identity).
type DevKey struct {
	ID int64
	// Identity is the e-mail address the key signs as (lower case).
	Identity  string
	Name      string
	Selector  string
	Algorithm string // ed25519, openpgp
	// Public is the key as b4 sent it (base64 ed25519, armored OpenPGP);
	// KeyID names it (the ed25519 key, the OpenPGP fingerprint).
	Public, KeyID string
	Created       time.Time
	// Verified is when auth-verify proved the key (zero: not yet).
	Verified time.Time
}

// Developer signature states of a stored message (MessageSig.State).
const (
	SigNone    = "none"    // no X-Developer-Signature
	SigValid   = "valid"   // verified with a verified key of its identity
	SigUnknown = "unknown" // signed, but no verified key of the identity verifies it
	SigBad     = "bad"     // signed, and a verified key of the identity says it does not verify
)

// MessageSig is what a stored message's developer signature came to,
// kept by the message's sha256 so the series page checks it once.
type MessageSig struct {
	SHA256    []byte
	State     string
	Identity  string
	Selector  string
	Algorithm string
	// Key is the verified key that verified it (State SigValid).
	Key     *DevKey
	Checked time.Time
}

// DevKeys are the keys, challenges and limits of b4's web submission
// endpoint, and the developer signatures of stored messages.
type DevKeys interface {
	// AddDevKeyChallenge records k (unverified, or the same key already
	// known for its identity) with a challenge that proves it until
	// expires; it returns the key's row.
	AddDevKeyChallenge(ctx context.Context, k DevKey, challenge string, expires time.Time) (*DevKey, error)
	// DevKeyChallenge returns the key a challenge is for; ErrNotFound
	// for an unknown or expired one.
	DevKeyChallenge(ctx context.Context, challenge string, now time.Time) (*DevKey, error)
	// VerifyDevKey uses up the challenge (once: ErrNotFound the second
	// time, or after it expired) and marks its key verified at now; the
	// identity's stored signature results are forgotten, to be checked
	// again with the new key.
	VerifyDevKey(ctx context.Context, challenge string, now time.Time) (*DevKey, error)
	// DevKeys returns the verified keys of an identity.
	DevKeys(ctx context.Context, identity string) ([]DevKey, error)
	// AddSubmission records that identity submitted messages at at
	// (forgetting those older than a day); Submissions counts its
	// submissions since since.
	AddSubmission(ctx context.Context, identity string, at time.Time, messages int) error
	Submissions(ctx context.Context, identity string, since time.Time) (int, error)
	// MessageSigs returns the recorded signature results of messages by
	// sha256 (string of the bytes); SetMessageSigs records some.
	MessageSigs(ctx context.Context, hashes [][]byte) (map[string]MessageSig, error)
	SetMessageSigs(ctx context.Context, sigs []MessageSig) error
}

const devKeyCols = `id, identity, name, selector, algorithm, pubkey, key_id, created, verified`

func scanDevKey(sc scanner) (*DevKey, error) {
	var k DevKey
	var created, verified int64
	if err := sc.Scan(&k.ID, &k.Identity, &k.Name, &k.Selector, &k.Algorithm, &k.Public, &k.KeyID, &created, &verified); err != nil {
		return nil, err
	}
	k.Created = time.Unix(created, 0).UTC()
	if verified != 0 {
		k.Verified = time.Unix(verified, 0).UTC()
	}
	return &k, nil
}

// AddDevKeyChallenge implements DevKeys.
func (s *DB) AddDevKeyChallenge(ctx context.Context, k DevKey, challenge string, expires time.Time) (*DevKey, error) {
	k.Identity = strings.ToLower(strings.TrimSpace(k.Identity))
	if k.Identity == "" || k.Algorithm == "" || k.KeyID == "" || k.Public == "" || challenge == "" {
		return nil, fmt.Errorf("dev key %q: %w", k.Identity, ErrInvalid)
	}
	if k.Created.IsZero() {
		k.Created = time.Now()
	}
	var out *DevKey
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO dev_keys (identity, name, selector, algorithm, pubkey, key_id, created)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (identity, algorithm, key_id) DO UPDATE SET name = excluded.name, selector = excluded.selector`,
			k.Identity, k.Name, k.Selector, k.Algorithm, k.Public, k.KeyID, k.Created.Unix()); err != nil {
			return err
		}
		var err error
		out, err = scanDevKey(tx.QueryRowContext(ctx, `SELECT `+devKeyCols+` FROM dev_keys WHERE identity = ? AND algorithm = ? AND key_id = ?`,
			k.Identity, k.Algorithm, k.KeyID))
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO dev_challenges (challenge, key_id, expires) VALUES (?, ?, ?)`, challenge, out.ID, expires.Unix())
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("add dev key: %w", err)
	}
	return out, nil
}

// DevKeyChallenge implements DevKeys.
func (s *DB) DevKeyChallenge(ctx context.Context, challenge string, now time.Time) (*DevKey, error) {
	k, err := scanDevKey(s.r.QueryRowContext(ctx, `SELECT k.id, k.identity, k.name, k.selector, k.algorithm, k.pubkey, k.key_id, k.created, k.verified
		FROM dev_challenges c JOIN dev_keys k ON k.id = c.key_id WHERE c.challenge = ? AND c.expires > ?`, challenge, now.Unix()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("challenge: %w", ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	return k, nil
}

// VerifyDevKey implements DevKeys.
func (s *DB) VerifyDevKey(ctx context.Context, challenge string, now time.Time) (*DevKey, error) {
	var k *DevKey
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var keyID, expires int64
		err := tx.QueryRowContext(ctx, `SELECT key_id, expires FROM dev_challenges WHERE challenge = ?`, challenge).Scan(&keyID, &expires)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM dev_challenges WHERE challenge = ? OR expires <= ?`, challenge, now.Unix()); err != nil {
			return err
		}
		if expires <= now.Unix() {
			return ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `UPDATE dev_keys SET verified = ? WHERE id = ?`, now.Unix(), keyID); err != nil {
			return err
		}
		if k, err = scanDevKey(tx.QueryRowContext(ctx, `SELECT `+devKeyCols+` FROM dev_keys WHERE id = ?`, keyID)); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM message_sigs WHERE identity = ?`, k.Identity)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("verify dev key: %w", err)
	}
	return k, nil
}

// DevKeys implements DevKeys.
func (s *DB) DevKeys(ctx context.Context, identity string) ([]DevKey, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+devKeyCols+` FROM dev_keys WHERE identity = ? AND verified <> 0 ORDER BY verified DESC, id DESC`,
		strings.ToLower(strings.TrimSpace(identity)))
	if err != nil {
		return nil, fmt.Errorf("dev keys: %w", err)
	}
	defer rows.Close()
	var out []DevKey
	for rows.Next() {
		k, err := scanDevKey(rows)
		if err != nil {
			return nil, fmt.Errorf("dev keys: %w", err)
		}
		out = append(out, *k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("dev keys: %w", err)
	}
	return out, nil
}

// AddSubmission implements DevKeys.
func (s *DB) AddSubmission(ctx context.Context, identity string, at time.Time, messages int) error {
	// Only the last hour counts; a day's rows are kept, older ones go.
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM dev_submissions WHERE at < ?`, at.Add(-24*time.Hour).Unix()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO dev_submissions (identity, at, messages) VALUES (?, ?, ?)`,
			strings.ToLower(identity), at.Unix(), messages)
		return err
	})
	if err != nil {
		return fmt.Errorf("add submission: %w", err)
	}
	return nil
}

// Submissions implements DevKeys.
func (s *DB) Submissions(ctx context.Context, identity string, since time.Time) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM dev_submissions WHERE identity = ? AND at >= ?`,
		strings.ToLower(identity), since.Unix()).Scan(&n); err != nil {
		return 0, fmt.Errorf("submissions: %w", err)
	}
	return n, nil
}

// MessageSigs implements DevKeys.
func (s *DB) MessageSigs(ctx context.Context, hashes [][]byte) (map[string]MessageSig, error) {
	out := map[string]MessageSig{}
	for len(hashes) > 0 {
		n := min(len(hashes), 500)
		batch := hashes[:n]
		hashes = hashes[n:]
		args := make([]any, len(batch))
		for i, h := range batch {
			args[i] = h
		}
		rows, err := s.r.QueryContext(ctx, `SELECT s.sha256, s.state, s.identity, s.selector, s.algorithm, s.checked,
			k.id, k.identity, k.name, k.selector, k.algorithm, k.pubkey, k.key_id, k.created, k.verified
			FROM message_sigs s LEFT JOIN dev_keys k ON k.id = s.key_id AND s.key_id <> 0
			WHERE s.sha256 IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("message sigs: %w", err)
		}
		for rows.Next() {
			var m MessageSig
			var checked int64
			var kid, kcreated, kverified sql.NullInt64
			var kidentity, kname, kselector, kalg, kpub, kkey sql.NullString
			if err := rows.Scan(&m.SHA256, &m.State, &m.Identity, &m.Selector, &m.Algorithm, &checked,
				&kid, &kidentity, &kname, &kselector, &kalg, &kpub, &kkey, &kcreated, &kverified); err != nil {
				rows.Close()
				return nil, fmt.Errorf("message sigs: %w", err)
			}
			m.Checked = time.Unix(checked, 0).UTC()
			if kid.Valid {
				m.Key = &DevKey{ID: kid.Int64, Identity: kidentity.String, Name: kname.String, Selector: kselector.String,
					Algorithm: kalg.String, Public: kpub.String, KeyID: kkey.String, Created: time.Unix(kcreated.Int64, 0).UTC()}
				if kverified.Int64 != 0 {
					m.Key.Verified = time.Unix(kverified.Int64, 0).UTC()
				}
			}
			out[string(m.SHA256)] = m
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("message sigs: %w", err)
		}
	}
	return out, nil
}

// SetMessageSigs implements DevKeys.
func (s *DB) SetMessageSigs(ctx context.Context, sigs []MessageSig) error {
	if len(sigs) == 0 {
		return nil
	}
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		for _, m := range sigs {
			var keyID int64
			if m.Key != nil {
				keyID = m.Key.ID
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO message_sigs (sha256, state, identity, selector, algorithm, key_id, checked)
				VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO UPDATE SET state = excluded.state, identity = excluded.identity,
				selector = excluded.selector, algorithm = excluded.algorithm, key_id = excluded.key_id, checked = excluded.checked`,
				m.SHA256, m.State, strings.ToLower(m.Identity), m.Selector, m.Algorithm, keyID, m.Checked.Unix()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set message sigs: %w", err)
	}
	return nil
}
