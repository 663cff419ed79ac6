package store

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestSubscribers(t *testing.T) {
	s, l := mustOpen(t)
	ctx := context.Background()
	if err := s.Subscribe(ctx, l.Name, "Ada@Example.org", "Ada", SubPending); err != nil {
		t.Fatal(err)
	}
	if err := s.Subscribe(ctx, l.Name, "bob@example.org", "", SubActive); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"nobody", "a b@example.org", "<a@example.org>"} {
		if err := s.Subscribe(ctx, l.Name, bad, "", SubActive); !errors.Is(err, ErrInvalid) {
			t.Errorf("Subscribe(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	if err := s.Subscribe(ctx, "nosuch", "a@example.org", "", SubActive); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown list: %v", err)
	}
	active, err := s.Subscribers(ctx, l.Name, SubActive)
	if err != nil || len(active) != 1 || active[0].Email != "bob@example.org" {
		t.Fatalf("active = %+v, %v", active, err)
	}
	// Confirming keeps the name given first.
	if err := s.Subscribe(ctx, l.Name, "ada@example.org", "", SubActive); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Subscriber(ctx, l.Name, "ADA@example.org")
	if err != nil || sub.State != SubActive || sub.Name != "Ada" {
		t.Fatalf("ada = %+v, %v", sub, err)
	}
	for i := 1; i <= 3; i++ {
		sub, err = s.AddBounce(ctx, l.Name, "bob@example.org", 3)
		if err != nil {
			t.Fatal(err)
		}
		want := SubActive
		if i == 3 {
			want = SubDisabled
		}
		if sub.Bounces != i || sub.State != want {
			t.Fatalf("after %d bounces: %+v", i, sub)
		}
	}
	if err := s.Unsubscribe(ctx, l.Name, "bob@example.org"); err != nil {
		t.Fatal(err)
	}
	if err := s.Unsubscribe(ctx, l.Name, "bob@example.org"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second unsubscribe: %v", err)
	}
}

func TestSubConfirmations(t *testing.T) {
	s, l := mustOpen(t)
	ctx := context.Background()
	now := time.Now()
	if err := s.AddSubConfirmation(ctx, []byte("h1"), l.Name, "a@example.org", "subscribe", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddSubConfirmation(ctx, []byte("h2"), l.Name, "b@example.org", "subscribe", now.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	list, email, action, err := s.TakeSubConfirmation(ctx, []byte("h1"), now)
	if err != nil || list != l.Name || email != "a@example.org" || action != "subscribe" {
		t.Fatalf("take = %q %q %q %v", list, email, action, err)
	}
	if _, _, _, err := s.TakeSubConfirmation(ctx, []byte("h1"), now); !errors.Is(err, ErrNotFound) {
		t.Errorf("second take: %v", err)
	}
	if _, _, _, err := s.TakeSubConfirmation(ctx, []byte("h2"), now); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired take: %v", err)
	}
}

func TestPolicyAndHeld(t *testing.T) {
	s, l := mustOpen(t)
	ctx := context.Background()
	p, err := s.Policy(ctx, l.Name)
	if err != nil || p.Posting != PostOpen || p.DMARC != DMARCAccept || len(p.Allow)+len(p.Deny) != 0 {
		t.Fatalf("default policy %+v %v", p, err)
	}
	want := ListPolicy{Posting: PostModerated, DMARC: DMARCHold, Allow: []string{"@example.org"}, Deny: []string{"spam@bad.example"}}
	if err := s.SetPolicy(ctx, l.Name, want); err != nil {
		t.Fatal(err)
	}
	p, _ = s.Policy(ctx, l.Name)
	if p.Posting != want.Posting || p.DMARC != want.DMARC || len(p.Allow) != 1 || p.Allow[0] != "@example.org" || p.Deny[0] != "spam@bad.example" {
		t.Fatalf("policy %+v", p)
	}
	if err := s.SetPolicy(ctx, l.Name, ListPolicy{Posting: "sometimes", DMARC: DMARCAccept}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad posting: %v", err)
	}
	if err := s.SetPolicy(ctx, l.Name, ListPolicy{Posting: PostOpen, DMARC: DMARCAccept, Deny: []string{"no at"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad rule: %v", err)
	}

	raw := []byte("From: x@y\nSubject: held\n\nbody\n")
	id, err := s.Hold(ctx, &Held{List: l.Name, Raw: raw, MessageID: "m@x", From: "X@y", Subject: "held", Reason: "moderated", Arrived: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	hs, err := s.HeldMessages(ctx, l.Name, HeldWaiting)
	if err != nil || len(hs) != 1 || hs[0].From != "x@y" || hs[0].Reason != "moderated" {
		t.Fatalf("held = %+v %v", hs, err)
	}
	h, err := s.HeldMessage(ctx, id)
	if err != nil || !bytes.Equal(h.Raw, raw) {
		t.Fatalf("held message = %+v %v", h, err)
	}
	if err := s.DecideHeld(ctx, id, HeldApproved, "mod@example.org", time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.DecideHeld(ctx, id, HeldRejected, "mod@example.org", time.Now()); !errors.Is(err, ErrConflict) {
		t.Errorf("second decision: %v", err)
	}
	if err := s.DecideHeld(ctx, 999, HeldRejected, "mod", time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown held: %v", err)
	}
	a, err := s.Secret(ctx, "unsubscribe")
	if err != nil || len(a) != 32 {
		t.Fatalf("secret %x %v", a, err)
	}
	if b, _ := s.Secret(ctx, "unsubscribe"); !bytes.Equal(a, b) {
		t.Error("secret changed")
	}
}
