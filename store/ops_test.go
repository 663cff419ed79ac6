package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestQueueDepths: each queue's waiting items are counted, and only those.
func TestQueueDepths(t *testing.T) {
	ctx := context.Background()
	st, l := mustOpen(t)
	got, err := st.QueueDepths(ctx)
	if err != nil {
		t.Fatalf("QueueDepths() = %v", err)
	}
	if diff := cmp.Diff(&QueueDepths{}, got); diff != "" {
		t.Errorf("empty store (-want +got):\n%s", diff)
	}
	err = st.Update(ctx, func(tx Tx) error {
		box, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: "m1@x", Raw: []byte("Subject: hi\n\nbody\n")})
		if err != nil {
			return err
		}
		return tx.QueueDeliveries(ctx, box, []string{"a@x.org", "b@x.org", "c@x.org"})
	})
	if err != nil {
		t.Fatalf("Update() = %v", err)
	}
	due, err := st.DueDeliveries(ctx, time.Now().Add(time.Minute), 10)
	if err != nil || len(due) != 1 {
		t.Fatalf("DueDeliveries() = %v, %v", due, err)
	}
	if err := st.MarkSent(ctx, []int64{due[0].Deliveries[0].ID}, time.Now()); err != nil {
		t.Fatalf("MarkSent() = %v", err)
	}
	sids := newSeries(t, st, l.ID, 3)
	for _, id := range sids {
		if _, _, err := st.EnqueueJob(ctx, id); err != nil {
			t.Fatalf("EnqueueJob() = %v", err)
		}
	}
	j, err := st.ClaimJob(ctx, "a", time.Minute)
	if err != nil || j == nil {
		t.Fatalf("ClaimJob() = %v, %v", j, err)
	}
	j2, err := st.ClaimJob(ctx, "a", time.Minute)
	if err != nil || j2 == nil {
		t.Fatalf("ClaimJob() = %v, %v", j2, err)
	}
	if err := st.FinishJob(ctx, j2.ID, "a", JobHeld, "", nil); err != nil {
		t.Fatalf("FinishJob(held) = %v", err)
	}
	if _, err := st.AddWebhook(ctx, Webhook{URL: "https://a.example/", Secret: []byte("k")}); err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	if _, err := st.QueueWebhookEvent(ctx, WebhookEvent{Key: "k1", Type: "series.created", List: "dev", Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("QueueWebhookEvent() = %v", err)
	}
	got, err = st.QueueDepths(ctx)
	if err != nil {
		t.Fatalf("QueueDepths() = %v", err)
	}
	want := &QueueDepths{OutboundPending: 2, JobsQueued: 1, JobsRunning: 1, JobsHeld: 1, WebhooksPending: 1}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("QueueDepths() (-want +got):\n%s", diff)
	}
}

func TestPing(t *testing.T) {
	st, err := opener(t)()
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	if err := st.Ping(context.Background()); err != nil {
		t.Errorf("Ping() = %v", err)
	}
	st.Close()
	if err := st.Ping(context.Background()); err == nil {
		t.Errorf("Ping() after Close = nil, want an error")
	}
}

// TestBackupWhileWriting backs the database up while messages are being
// committed; the copy passes Check and holds a prefix of what was
// written: every message committed before the backup began, none that
// was not committed.
func TestBackupWhileWriting(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	l, err := st.CreateList(ctx, List{Name: "dev"})
	if err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	const before, during = 50, 300
	for i := range before {
		add(t, st, msg(l, fmt.Sprintf("before%d@x", i)))
	}
	var wg sync.WaitGroup
	wg.Add(1)
	errc := make(chan error, 1)
	started := make(chan struct{})
	go func() {
		defer wg.Done()
		defer close(started)
		for i := range during {
			if i == 100 {
				started <- struct{}{} // the backup begins now
			}
			m := msg(l, fmt.Sprintf("during%d@x", i))
			if err := st.Update(ctx, func(tx Tx) error { _, err := tx.AddMessage(ctx, m); return err }); err != nil {
				errc <- err
				return
			}
		}
	}()
	out := filepath.Join(t.TempDir(), "copy", DBFile)
	os.Mkdir(filepath.Dir(out), 0o750)
	<-started
	berr := Backup(ctx, dir, out)
	wg.Wait()
	select {
	case err := <-errc:
		t.Fatalf("writing during the backup: %v", err)
	default:
	}
	if berr != nil {
		t.Fatalf("Backup() = %v", berr)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(out), ".*partial*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
	cp, err := Open(ctx, filepath.Dir(out))
	if err != nil {
		t.Fatalf("Open(copy) = %v", err)
	}
	defer cp.Close()
	if err := cp.Check(ctx); err != nil {
		t.Errorf("Check(copy) = %v", err)
	}
	ls, err := cp.Lists(ctx)
	if err != nil || len(ls) != 1 {
		t.Fatalf("Lists(copy) = %v, %v", ls, err)
	}
	n := ls[0].Messages
	if n < before+100 || n > before+during {
		t.Errorf("copy holds %d messages, want %d..%d", n, before+100, before+during)
	}
	// A prefix: the copy has every "before" message and "during"
	// messages 0..k-1, no others.
	seen := map[string]bool{}
	cp.Scan(ctx, "dev", func(m *Message) error { seen[m.MessageID] = true; return nil })
	for i := range before {
		if !seen[fmt.Sprintf("before%d@x", i)] {
			t.Errorf("copy lacks before%d@x", i)
		}
	}
	for i := range n - before {
		if !seen[fmt.Sprintf("during%d@x", i)] {
			t.Errorf("copy of %d messages lacks during%d@x", n, i)
		}
	}
	t.Logf("the copy holds %d of %d messages", n, before+during)
}

// TestBackupRefusesExisting: an existing file, even empty, is never
// replaced; the database need not be open in any process.
func TestBackupRefusesExisting(t *testing.T) {
	sqliteOnly(t)
	ctx := context.Background()
	dir := t.TempDir()
	st, err := Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	l, _ := st.CreateList(ctx, List{Name: "dev"})
	add(t, st, msg(l, "a@x"))
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	out := filepath.Join(t.TempDir(), "backup.db")
	if err := os.WriteFile(out, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Backup(ctx, dir, out); !errors.Is(err, ErrOutExists) {
		t.Errorf("Backup(existing) = %v, want ErrOutExists", err)
	}
	if b, _ := os.ReadFile(out); string(b) != "keep me" {
		t.Errorf("existing file changed: %q", b)
	}
	// With the server stopped (no -wal, -shm) the read-only open works.
	out2 := filepath.Join(filepath.Dir(out), "b2.db")
	if err := Backup(ctx, dir, out2); err != nil {
		t.Fatalf("Backup(closed database) = %v", err)
	}
	if err := Backup(ctx, t.TempDir(), filepath.Join(filepath.Dir(out), "b3.db")); err == nil {
		t.Errorf("Backup(empty dir) = nil, want an error")
	}
}

// BenchmarkQueueDepths: one scrape's queue query with 100,000 list mail
// deliveries pending (one post to 100,000 subscribers) and 100,000 sent.
func BenchmarkQueueDepths(b *testing.B) {
	ctx := context.Background()
	st, err := Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	l, err := st.CreateList(ctx, List{Name: "dev"})
	if err != nil {
		b.Fatal(err)
	}
	rcpts := make([]string, 100_000)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("sub%d@example.org", i)
	}
	for i := range 2 {
		err = st.Update(ctx, func(tx Tx) error {
			box, err := tx.AddOutbox(ctx, OutboxMessage{ListID: l.ID, MessageID: fmt.Sprintf("m%d@x", i), Raw: []byte("Subject: hi\n\nbody\n")})
			if err != nil {
				return err
			}
			return tx.QueueDeliveries(ctx, box, rcpts)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	// The first post's deliveries are sent.
	for {
		due, err := st.DueDeliveries(ctx, time.Now().Add(time.Minute), 5000)
		if err != nil {
			b.Fatal(err)
		}
		if len(due) == 0 || due[0].Message.MessageID != "m0@x" {
			break
		}
		ids := make([]int64, len(due[0].Deliveries))
		for i, d := range due[0].Deliveries {
			ids[i] = d.ID
		}
		if err := st.MarkSent(ctx, ids, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	var d *QueueDepths
	for b.Loop() {
		if d, err = st.QueueDepths(ctx); err != nil {
			b.Fatal(err)
		}
	}
	if d.OutboundPending != 100_000 {
		b.Fatalf("pending = %d, want 100000", d.OutboundPending)
	}
}
