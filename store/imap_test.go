package store

import (
	"context"
	"testing"
)

func TestWireSize(t *testing.T) {
	for raw, want := range map[string]int{"": 0, "a\n": 3, "a\r\n": 3, "a\nb\r\nc\n": 9, "x": 1} {
		if got := WireSize([]byte(raw)); got != want {
			t.Errorf("WireSize(%q) = %d, want %d", raw, got, want)
		}
	}
}

// TestWireSizeFill: messages stored before the wire_size column get it
// when the store is opened again, and FETCH metadata carries it.
func TestWireSizeFill(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	a := add(t, st, msg(l, "one@x"))
	add(t, st, msg(l, "two@x"))
	if _, err := st.w.ExecContext(ctx, `UPDATE messages SET wire_size = NULL WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.fillWireSizes(ctx); err != nil {
		t.Fatal(err)
	}
	var got []MailboxMessage
	err := st.FetchMailbox(ctx, l.ID, 1, 100, nil, true, func(m *MailboxMessage, raw []byte) error {
		if m.WireSize != WireSize(raw) {
			t.Errorf("uid %d: wire size %d, want %d", m.UID, m.WireSize, WireSize(raw))
		}
		got = append(got, *m)
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("fetch: %d messages, %v", len(got), err)
	}
	size, err := st.MailboxSize(ctx, l.ID, nil)
	if err != nil || size != int64(got[0].WireSize+got[1].WireSize) {
		t.Errorf("mailbox size %d, want %d (%v)", size, got[0].WireSize+got[1].WireSize, err)
	}
}
