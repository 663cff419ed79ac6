package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDevKeys: a key registered with a challenge is not verified until
// the challenge is used, once; an expired challenge proves nothing; the
// same key registered again keeps one row; verifying forgets the
// identity's stored signature results.
func TestDevKeys(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	now := time.Unix(1700000000, 0).UTC()
	k := DevKey{Identity: "Ada@Example.org", Name: "Ada", Selector: "20240101", Algorithm: "ed25519", Public: "PUB", KeyID: "PUB", Created: now}
	got, err := st.AddDevKeyChallenge(ctx, k, "c1", now.Add(time.Hour))
	if err != nil || got.Identity != "ada@example.org" || !got.Verified.IsZero() {
		t.Fatalf("AddDevKeyChallenge() = %+v, %v", got, err)
	}
	if keys, err := st.DevKeys(ctx, "ada@example.org"); err != nil || len(keys) != 0 {
		t.Errorf("DevKeys() before verifying = %v, %v", keys, err)
	}
	if c, err := st.DevKeyChallenge(ctx, "c1", now); err != nil || c.ID != got.ID {
		t.Errorf("DevKeyChallenge(c1) = %+v, %v", c, err)
	}
	if _, err := st.DevKeyChallenge(ctx, "c1", now.Add(2*time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("DevKeyChallenge(expired) = %v, want ErrNotFound", err)
	}
	// The same key again, with another challenge: one row.
	again, err := st.AddDevKeyChallenge(ctx, k, "c2", now.Add(-time.Minute))
	if err != nil || again.ID != got.ID {
		t.Fatalf("AddDevKeyChallenge(same key) = %+v, %v", again, err)
	}
	if _, err := st.VerifyDevKey(ctx, "c2", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyDevKey(expired) = %v, want ErrNotFound", err)
	}
	hash := []byte("0123456789abcdef0123456789abcdef")
	if err := st.SetMessageSigs(ctx, []MessageSig{{SHA256: hash, State: SigUnknown, Identity: "ada@example.org", Selector: "x", Algorithm: "ed25519", Checked: now}}); err != nil {
		t.Fatal(err)
	}
	if m, err := st.MessageSigs(ctx, [][]byte{hash, []byte("other")}); err != nil || len(m) != 1 || m[string(hash)].State != SigUnknown {
		t.Errorf("MessageSigs() = %+v, %v", m, err)
	}
	v, err := st.VerifyDevKey(ctx, "c1", now)
	if err != nil || v.ID != got.ID || !v.Verified.Equal(now) {
		t.Fatalf("VerifyDevKey(c1) = %+v, %v", v, err)
	}
	if _, err := st.VerifyDevKey(ctx, "c1", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("VerifyDevKey(c1) twice = %v, want ErrNotFound", err)
	}
	if m, _ := st.MessageSigs(ctx, [][]byte{hash}); len(m) != 0 {
		t.Errorf("signature results of the identity kept after a key was verified: %+v", m)
	}
	keys, err := st.DevKeys(ctx, "ADA@example.org")
	if err != nil || len(keys) != 1 || keys[0].Public != "PUB" || keys[0].Selector != "20240101" {
		t.Fatalf("DevKeys() = %+v, %v", keys, err)
	}
	if err := st.SetMessageSigs(ctx, []MessageSig{{SHA256: hash, State: SigValid, Identity: "ada@example.org", Key: &keys[0], Checked: now}}); err != nil {
		t.Fatal(err)
	}
	if m, _ := st.MessageSigs(ctx, [][]byte{hash}); m[string(hash)].Key == nil || m[string(hash)].Key.ID != keys[0].ID {
		t.Errorf("MessageSigs() after SigValid = %+v", m)
	}
	for i := 0; i < 3; i++ {
		if err := st.AddSubmission(ctx, "ada@example.org", now.Add(time.Duration(i)*time.Minute), 4); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := st.Submissions(ctx, "Ada@example.org", now.Add(time.Minute)); err != nil || n != 2 {
		t.Errorf("Submissions() = %d, %v, want 2", n, err)
	}
	// A day later the old rows are gone.
	if err := st.AddSubmission(ctx, "bob@example.org", now.Add(25*time.Hour), 1); err != nil {
		t.Fatal(err)
	}
	if n, err := st.Submissions(ctx, "ada@example.org", time.Unix(0, 0)); err != nil || n != 0 {
		t.Errorf("Submissions() a day later = %d, %v, want 0", n, err)
	}
	if _, err := st.AddDevKeyChallenge(ctx, DevKey{Identity: "x@example.org"}, "c3", now); !errors.Is(err, ErrInvalid) {
		t.Errorf("AddDevKeyChallenge(no key) = %v, want ErrInvalid", err)
	}
}
