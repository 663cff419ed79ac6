package store

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
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

// TestFetchMailboxBigMessages: batches are cut by bytes as well as by
// count, and nothing is skipped or repeated at the cuts.
func TestFetchMailboxBigMessages(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	const n = 5
	for i := 0; i < n; i++ {
		m := msg(l, fmt.Sprintf("big%d@x", i))
		body := make([]byte, 3<<20)
		crand.Read(body) // incompressible
		m.Raw = append(m.Raw, []byte(hex.EncodeToString(body))...)
		add(t, st, m)
	}
	var uids []uint32
	err := st.FetchMailbox(ctx, l.ID, 1, 1000, nil, true, func(m *MailboxMessage, raw []byte) error {
		uids = append(uids, m.UID)
		if len(raw) != m.Size {
			t.Errorf("uid %d: %d bytes, size %d", m.UID, len(raw), m.Size)
		}
		return nil
	})
	if err != nil || len(uids) != n {
		t.Fatalf("fetched %v, %v", uids, err)
	}
	for i, u := range uids {
		if u != uint32(i+1) {
			t.Fatalf("uids %v", uids)
		}
	}
}

// TestFetchMailboxStructure: a message's kept MIME structure comes with
// its bytes, on both backends; a message without one has none, and a
// fetch without bytes carries none.
func TestFetchMailboxStructure(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	kept := msg(l, "kept@x")
	kept.Structure = []byte{1, 2, 3, 0, 4}
	add(t, st, kept)
	add(t, st, msg(l, "plain@x"))
	for _, withRaw := range []bool{true, false} {
		var got [][]byte
		err := st.FetchMailbox(ctx, l.ID, 1, 100, nil, withRaw, func(m *MailboxMessage, _ []byte) error {
			got = append(got, m.Structure)
			return nil
		})
		if err != nil || len(got) != 2 {
			t.Fatalf("fetch: %d messages, %v", len(got), err)
		}
		want := [][]byte{kept.Structure, nil}
		if !withRaw {
			want[0] = nil
		}
		if !bytes.Equal(got[0], want[0]) || got[1] != nil {
			t.Errorf("withRaw=%v: structures %v, want %v", withRaw, got, want)
		}
	}
}
