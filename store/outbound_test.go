package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDeliveries: an outbox row and its deliveries are queued in one
// transaction; due ones come back grouped with the raw bytes; sent,
// retried and failed states stick, and the outbox row is marked sent once
// nothing is pending.
func TestDeliveries(t *testing.T) {
	ctx := context.Background()
	st, l := mustOpen(t)
	raw := []byte("Subject: hi\r\n\r\nbody\r\n")
	var box int64
	err := st.Update(ctx, func(tx Tx) error {
		var err error
		box, err = tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: "m1@x", Raw: raw})
		if err != nil {
			return err
		}
		return tx.QueueDeliveries(ctx, box, []string{"a@x.org", "b@x.org", "c@x.org", "A@X.org"})
	})
	if err != nil {
		t.Fatalf("Update() = %v", err)
	}
	now := time.Unix(1_700_000_000, 0)
	due, err := st.DueDeliveries(ctx, now, 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueDeliveries() = %d batches, %v", len(due), err)
	}
	if got := due[0].Message; got.List != "dev" || got.MessageID != "m1@x" || string(got.Raw) != string(raw) {
		t.Errorf("batch message = %+v", got)
	}
	var rcpts []string
	for _, d := range due[0].Deliveries {
		rcpts = append(rcpts, d.Rcpt)
	}
	if diff := cmp.Diff([]string{"a@x.org", "b@x.org", "c@x.org"}, rcpts); diff != "" {
		t.Errorf("due recipients (-want +got):\n%s", diff)
	}
	ds := due[0].Deliveries
	if err := st.MarkSent(ctx, []int64{ds[0].ID}, now); err != nil {
		t.Fatalf("MarkSent() = %v", err)
	}
	if err := st.MarkRetry(ctx, []DeliveryError{{ID: ds[1].ID, Err: "451 later", Next: now.Add(time.Minute)}}); err != nil {
		t.Fatalf("MarkRetry() = %v", err)
	}
	if err := st.MarkFailed(ctx, []DeliveryError{{ID: ds[2].ID, Err: "550 no such user"}}); err != nil {
		t.Fatalf("MarkFailed() = %v", err)
	}
	due, err = st.DueDeliveries(ctx, now, 10)
	if err != nil || len(due) != 0 {
		t.Fatalf("DueDeliveries(now) after marks = %+v, %v; want none", due, err)
	}
	due, err = st.DueDeliveries(ctx, now.Add(time.Minute), 10)
	if err != nil || len(due) != 1 || len(due[0].Deliveries) != 1 || due[0].Deliveries[0].Rcpt != "b@x.org" || due[0].Deliveries[0].Attempts != 1 {
		t.Fatalf("DueDeliveries(now+1m) = %+v, %v; want b@x.org once tried", due, err)
	}
	if box, _ := st.Outbox(ctx, OutboxSent); len(box) != 0 {
		t.Errorf("outbox sent while a delivery is pending")
	}
	// A mark on a delivery that is no longer pending changes nothing.
	if err := st.MarkFailed(ctx, []DeliveryError{{ID: ds[0].ID, Err: "late"}}); err != nil {
		t.Fatalf("MarkFailed(sent) = %v", err)
	}
	if err := st.MarkSent(ctx, []int64{ds[1].ID}, now.Add(time.Minute)); err != nil {
		t.Fatalf("MarkSent() = %v", err)
	}
	all, err := st.Deliveries(ctx, box)
	if err != nil {
		t.Fatalf("Deliveries() = %v", err)
	}
	type row struct {
		Rcpt, State, Err string
		Attempts         int
		Sent             bool
	}
	var got []row
	for _, d := range all {
		got = append(got, row{d.Rcpt, d.State, d.LastError, d.Attempts, !d.SentAt.IsZero()})
	}
	want := []row{
		{"a@x.org", DeliverySent, "", 1, true},
		{"b@x.org", DeliverySent, "", 2, true},
		{"c@x.org", DeliveryFailed, "550 no such user", 1, false},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("deliveries (-want +got):\n%s", diff)
	}
	if sent, _ := st.Outbox(ctx, OutboxSent); len(sent) != 1 {
		t.Errorf("outbox sent rows = %d, want 1 once nothing is pending", len(sent))
	}
}

// TestQueueDeliveriesRollback: deliveries queued in a transaction that
// fails are gone with its outbox row, and bad addresses are refused.
func TestQueueDeliveriesRollback(t *testing.T) {
	ctx := context.Background()
	st, l := mustOpen(t)
	boom := errors.New("boom")
	err := st.Update(ctx, func(tx Tx) error {
		box, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: "m@x", Raw: []byte("x")})
		if err != nil {
			return err
		}
		if err := tx.QueueDeliveries(ctx, box, []string{"a@x.org"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update() = %v", err)
	}
	if due, err := st.DueDeliveries(ctx, time.Now(), 10); err != nil || len(due) != 0 {
		t.Errorf("DueDeliveries() after rollback = %+v, %v", due, err)
	}
	for _, bad := range []string{"", "no-at", "a@x.org>\r\nRCPT TO:<b@y", "<a@x.org>"} {
		err := st.Update(ctx, func(tx Tx) error {
			box, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: "m@x", Raw: []byte("x")})
			if err != nil {
				return err
			}
			return tx.QueueDeliveries(ctx, box, []string{bad})
		})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("QueueDeliveries(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

// TestClaimDueAcrossNodes: two store handles on one PostgreSQL database
// (two nodes) take due deliveries at once; each delivery goes to exactly
// one of them.
func TestClaimDueAcrossNodes(t *testing.T) {
	if !onPostgres() {
		t.Skip("one delivery worker per SQLite data directory: nothing to claim")
	}
	ctx := context.Background()
	open := opener(t)
	a, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, err := a.CreateList(ctx, List{Name: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 400
	err = a.Update(ctx, func(tx Tx) error {
		box, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: "m@x", Raw: []byte("Subject: x\r\n\r\nx\r\n")})
		if err != nil {
			return err
		}
		var rcpts []string
		for i := range n {
			rcpts = append(rcpts, fmt.Sprintf("r%d@x.org", i))
		}
		return tx.QueueDeliveries(ctx, box, rcpts)
	})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got := make([]map[int64]bool, 2)
	errs := make(chan error, 2)
	for i, st := range []*DB{a, b} {
		got[i] = map[int64]bool{}
		go func() {
			for {
				due, err := st.DueDeliveries(ctx, now, 7)
				if err != nil || len(due) == 0 {
					errs <- err
					return
				}
				for _, batch := range due {
					for _, d := range batch.Deliveries {
						got[i][d.ID] = true
					}
				}
			}
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for id := range got[0] {
		if got[1][id] {
			t.Errorf("delivery %d claimed by both nodes", id)
		}
	}
	if len(got[0])+len(got[1]) != n {
		t.Errorf("claimed %d + %d of %d", len(got[0]), len(got[1]), n)
	}
	t.Logf("node a took %d, node b %d", len(got[0]), len(got[1]))
}
