package review

import (
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/store"
)

// TestCommitHook: every commit tells the hooks, after it, which lists
// got messages and, for each list a posted message went to, whether it
// was stored, flagged or a duplicate; an import's batch is told its
// lists without outcomes; a post refused in its transaction tells
// nothing.
func TestCommitHook(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	if _, err := st.CreateList(ctx, store.List{Name: "other"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	var (
		mu  sync.Mutex
		got []Committed
	)
	in.Subscribe(func(c Committed) {
		mu.Lock()
		got = append(got, c)
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
		if err := in.Post(ctx, Post{Lists: d.lists, Raw: d.raw}); err != nil {
			t.Fatalf("Post(%v) = %v", d.lists, err)
		}
	}
	// A post refused in its transaction (its distribution fails) is not told.
	refused := NewIngester(st, Config{Distribute: func(context.Context, store.Tx, *store.List, *store.Added, []byte, bool, []string) error {
		return errors.New("refused")
	}})
	defer refused.Close()
	refused.Subscribe(func(c Committed) { t.Errorf("a refused post was told: %+v", c) })
	if err := refused.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte("Subject: x\nMessage-ID: <obs2@example.org>\n\nx\n"), Distribute: true}); err == nil {
		t.Fatal("Post() with a failing distribution = nil")
	}
	if _, err := in.Import(ctx, "other", oneMessage("Subject: imported\nMessage-ID: <imp@example.org>\n\nx\n")); err != nil {
		t.Fatalf("Import() = %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	want := []Committed{
		{Lists: []string{"dev"}, Outcomes: []string{"stored"}},
		{Outcomes: []string{"duplicate"}},
		{Lists: []string{"dev", "other"}, Outcomes: []string{"flagged", "flagged"}},
		{Lists: []string{"other"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("told (-want +got):\n%s", diff)
	}
}

// oneMessage is an import source of one message.
func oneMessage(raw string) archive.Source {
	src, err := archive.NewStreamSource(strings.NewReader(raw), io.NopCloser(nil))
	if err != nil {
		panic(err)
	}
	return src
}
