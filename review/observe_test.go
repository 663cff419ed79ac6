package review

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// TestIngestObserver: each list a delivered message goes to is told
// once committed, as stored, flagged or duplicate; a delivery that
// fails is not told.
func TestIngestObserver(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	if _, err := st.CreateList(ctx, store.List{Name: "other"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	var (
		mu  sync.Mutex
		got []string
	)
	in.SetObserver(func(o string) {
		mu.Lock()
		got = append(got, o)
		mu.Unlock()
	})
	plain := []byte("From: Ada <ada@example.org>\nSubject: hello\nMessage-ID: <obs1@example.org>\n\nhi\n")
	noID := []byte("From: Ada <ada@example.org>\nSubject: no id\n\nhi\n")
	for _, d := range []struct {
		lists []string
		raw   []byte
	}{
		{[]string{"dev"}, plain},
		{[]string{"dev"}, plain},
		{[]string{"dev", "other"}, noID},
	} {
		if err := in.Deliver(ctx, d.lists, d.raw); err != nil {
			t.Fatalf("Deliver(%v) = %v", d.lists, err)
		}
	}
	// A delivery refused in its transaction is not counted.
	boom := errors.New("refused")
	err := in.DeliverWith(ctx, []string{"dev"}, []byte("Subject: x\nMessage-ID: <obs2@example.org>\n\nx\n"),
		func(context.Context, store.Tx, string, *store.Added) error { return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("DeliverWith(failing) = %v, want %v", err, boom)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"stored", "duplicate", "flagged", "flagged"}, got); diff != "" {
		t.Errorf("observed (-want +got):\n%s", diff)
	}
}
