package store

import (
	"context"
	"errors"
	"testing"
)

func TestThreadVersion(t *testing.T) {
	ctx := context.Background()
	st, l := mustOpen(t)
	a := add(t, st, msg(l, "a@x"))
	add(t, st, msg(l, "other@x"))
	v1, err := st.ThreadVersion(ctx, "dev", "a@x")
	if err != nil {
		t.Fatal(err)
	}
	if v1.ThreadID != a.ThreadID || v1.Messages != 1 || v1.LastUID != a.UID {
		t.Fatalf("ThreadVersion = %+v, want thread %d, 1 message, last uid %d", v1, a.ThreadID, a.UID)
	}
	b := add(t, st, msg(l, "b@x", "a@x"))
	v2, err := st.ThreadVersion(ctx, "dev", "b@x")
	if err != nil {
		t.Fatal(err)
	}
	if *v2 == *v1 || v2.ThreadID != a.ThreadID || v2.Messages != 2 || v2.LastUID != b.UID {
		t.Fatalf("after a reply: %+v (before %+v)", v2, v1)
	}
	// A message that joins two threads: the merged thread's version moves.
	add(t, st, msg(l, "c@x", "other@x", "a@x"))
	v3, err := st.ThreadVersion(ctx, "dev", "a@x")
	if err != nil {
		t.Fatal(err)
	}
	if v3.Messages != 4 {
		t.Fatalf("after a merge: %+v, want 4 messages", v3)
	}
	for _, c := range [][2]string{{"dev", "nope@x"}, {"nolist", "a@x"}} {
		if _, err := st.ThreadVersion(ctx, c[0], c[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("ThreadVersion(%q, %q) = %v, want ErrNotFound", c[0], c[1], err)
		}
	}
}

func TestGeneration(t *testing.T) {
	ctx := context.Background()
	open := opener(t)
	st, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	l, err := st.CreateList(ctx, List{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	g0, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Reads do not move it.
	if _, err := st.Message(ctx, "dev", "x@x"); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	if g, _ := st.Generation(ctx); g != g0 {
		t.Fatalf("generation moved on a read: %d -> %d", g0, g)
	}
	add(t, st, msg(l, "a@x"))
	g1, err := st.Generation(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g1 == g0 {
		t.Fatalf("generation did not move on a commit: %d", g1)
	}
	// A write by another connection to the same database (as another
	// process would) moves it too.
	other, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.CreateList(ctx, List{Name: "two"}); err != nil {
		t.Fatal(err)
	}
	if g2, _ := st.Generation(ctx); g2 == g1 {
		t.Fatalf("generation did not move on another connection's commit: %d", g2)
	}
}
