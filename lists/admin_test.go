package lists

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"patchwell/store"
)

// TestSubscribeAll subscribes a file's addresses, active, skipping blank
// lines and comments; a bad line stops it with its number.
func TestSubscribeAll(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	n, err := SubscribeAll(ctx, e.st, "dev", strings.NewReader("# team\nBob@Example.org\n\n  cat@example.net  \n"), "team.txt")
	if err != nil || n != 2 {
		t.Fatalf("SubscribeAll() = %d, %v; want 2", n, err)
	}
	subs, err := e.st.Subscribers(ctx, "dev", store.SubActive)
	if err != nil {
		t.Fatalf("Subscribers() = %v", err)
	}
	var got []string
	for _, s := range subs {
		got = append(got, s.Email)
	}
	if diff := cmp.Diff([]string{"bob@example.org", "cat@example.net"}, got); diff != "" {
		t.Errorf("active subscribers (-want +got):\n%s", diff)
	}
	n, err = SubscribeAll(ctx, e.st, "dev", strings.NewReader("dan@example.org\nnot an address\neve@example.org\n"), "-")
	if n != 1 || !errors.Is(err, store.ErrInvalid) || !strings.HasPrefix(err.Error(), "-:2: ") {
		t.Errorf("SubscribeAll(a bad line) = %d, %v; want 1 and an error at -:2", n, err)
	}
	if _, err := SubscribeAll(ctx, e.st, "nope", strings.NewReader("a@example.org\n"), "f"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SubscribeAll(a missing list) = %v, want not found", err)
	}
}

// TestSetPolicy changes what is given and keeps the rest; an empty
// change only reads the policy.
func TestSetPolicy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	str := func(s string) *string { return &s }
	before, err := e.st.Policy(ctx, "dev")
	if err != nil {
		t.Fatalf("Policy() = %v", err)
	}
	got, err := SetPolicy(ctx, e.st, "dev", PolicyChange{})
	if err != nil || !cmp.Equal(got, before) {
		t.Fatalf("SetPolicy(no change) = %+v, %v; want %+v", got, err, before)
	}
	got, err = SetPolicy(ctx, e.st, "dev", PolicyChange{Posting: store.PostSubscribers, Deny: str(" @spam.example, x@y.org ,")})
	want := *before
	want.Posting, want.Deny = store.PostSubscribers, []string{"@spam.example", "x@y.org"}
	if err != nil || !cmp.Equal(got, &want) {
		t.Fatalf("SetPolicy(posting, deny) = %+v, %v; want %+v", got, err, want)
	}
	got, err = SetPolicy(ctx, e.st, "dev", PolicyChange{DMARC: store.DMARCReject, Allow: str("a@example.org"), Deny: str("")})
	want.DMARC, want.Allow, want.Deny = store.DMARCReject, []string{"a@example.org"}, nil
	if err != nil || !cmp.Equal(got, &want) {
		t.Fatalf("SetPolicy(dmarc, allow, no deny) = %+v, %v; want %+v", got, err, want)
	}
	if stored, err := e.st.Policy(ctx, "dev"); err != nil || !cmp.Equal(stored, &want, cmpopts.EquateEmpty()) {
		t.Errorf("Policy() = %+v, %v; want %+v", stored, err, want)
	}
	if _, err := SetPolicy(ctx, e.st, "nope", PolicyChange{Posting: store.PostOpen}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetPolicy(a missing list) = %v, want not found", err)
	}
}
