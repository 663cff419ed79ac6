package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestWebhookQueue: an event is queued once per key, to the
// subscriptions that want its type and list; attempts are recorded; a
// removed subscription takes its deliveries along.
func TestWebhookQueue(t *testing.T) {
	ctx := context.Background()
	st, _ := mustOpen(t)
	all, err := st.AddWebhook(ctx, Webhook{URL: "https://a.example/", Secret: []byte("k")})
	if err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	checks, _ := st.AddWebhook(ctx, Webhook{URL: "https://b.example/", Secret: []byte("k"), Events: []string{"check.created"}})
	if _, err := st.AddWebhook(ctx, Webhook{URL: "https://c.example/", Secret: []byte("k"), List: "other"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddWebhook(a list that does not exist) = %v, want ErrNotFound", err)
	}
	if _, err := st.CreateList(ctx, List{Name: "other"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	other, _ := st.AddWebhook(ctx, Webhook{URL: "https://c.example/", Secret: []byte("k"), List: "other"})
	for _, c := range []struct {
		e    WebhookEvent
		want int
	}{
		{WebhookEvent{Key: "k1", Type: "series.created", List: "dev", Payload: []byte(`{}`)}, 1},
		{WebhookEvent{Key: "k1", Type: "series.created", List: "dev", Payload: []byte(`{}`)}, 0}, // again
		{WebhookEvent{Key: "k2", Type: "check.created", List: "dev", Payload: []byte(`{}`)}, 2},
		{WebhookEvent{Key: "k3", Type: "check.created", List: "other", Payload: []byte(`{}`)}, 3},
		// A prefix of a wanted type is not that type.
		{WebhookEvent{Key: "k4", Type: "check", List: "dev", Payload: []byte(`{}`)}, 1},
	} {
		if n, err := st.QueueWebhookEvent(ctx, c.e); err != nil || n != c.want {
			t.Errorf("QueueWebhookEvent(%s %s %s) = %d, %v; want %d", c.e.Key, c.e.Type, c.e.List, n, err, c.want)
		}
	}
	if _, err := st.QueueWebhookEvent(ctx, WebhookEvent{Type: "x"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("no key: %v, want ErrInvalid", err)
	}
	now := time.Now()
	due, err := st.DueWebhookDeliveries(ctx, now, 100)
	if err != nil || len(due) != 7 {
		t.Fatalf("DueWebhookDeliveries() = %d, %v; want 7", len(due), err)
	}
	if err := st.MarkWebhookAttempt(ctx, due[0].ID, WebhookPending, 500, "HTTP 500", now, now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkWebhookAttempt(ctx, due[1].ID, WebhookDelivered, 200, "", now, now); err != nil {
		t.Fatal(err)
	}
	// A delivered one is never marked again.
	if err := st.MarkWebhookAttempt(ctx, due[1].ID, WebhookFailed, 0, "x", now, now); err != nil {
		t.Fatal(err)
	}
	later := now
	if onPostgres() { // the first call claimed them all for a while
		later = now.Add(claimLease + time.Second)
	}
	if due, _ = st.DueWebhookDeliveries(ctx, later, 100); len(due) != 5 {
		t.Errorf("due after two attempts: %d, want 5", len(due))
	}
	ds, _ := st.WebhookDeliveries(ctx, 0)
	if ds[1].State != WebhookDelivered || ds[1].Attempts != 1 || ds[0].Attempts != 1 || ds[0].LastError != "HTTP 500" {
		t.Errorf("after attempts: %+v %+v", ds[0], ds[1])
	}
	if err := st.DeleteWebhook(ctx, checks.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteWebhook(ctx, checks.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete: %v", err)
	}
	if ds, _ := st.WebhookDeliveries(ctx, checks.ID); len(ds) != 0 {
		t.Errorf("deliveries of a removed webhook: %d", len(ds))
	}
	// Subscriptions are carried across a reindex.
	d, err := st.ExportMailingList(ctx)
	if err != nil || len(d.Webhooks) != 2 {
		t.Fatalf("ExportMailingList() = %d webhooks, %v", len(d.Webhooks), err)
	}
	st2, _ := mustOpen(t)
	if err := st2.ImportMailingList(ctx, d); err != nil {
		t.Fatalf("ImportMailingList() = %v", err)
	}
	hs, err := st2.Webhooks(ctx)
	if err != nil || len(hs) != 2 || hs[0].ID != all.ID || hs[1].URL != other.URL || hs[1].List != "other" || string(hs[0].Secret) != "k" {
		t.Errorf("imported webhooks: %+v, %v", hs, err)
	}
}

// TestWebhookDeliveryCounts counts each subscription's deliveries by
// state.
func TestWebhookDeliveryCounts(t *testing.T) {
	ctx := context.Background()
	st, _ := mustOpen(t)
	a, err := st.AddWebhook(ctx, Webhook{URL: "https://a.example/", Secret: []byte("k")})
	if err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	b, _ := st.AddWebhook(ctx, Webhook{URL: "https://b.example/", Secret: []byte("k"), Events: []string{"check.created"}})
	gone, err := st.AddWebhook(ctx, Webhook{URL: "https://c.example/", Secret: []byte("k")})
	if err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	if err := st.DeleteWebhook(ctx, gone.ID); err != nil {
		t.Fatalf("DeleteWebhook() = %v", err)
	}
	for _, k := range []string{"k1", "k2", "k3"} {
		if _, err := st.QueueWebhookEvent(ctx, WebhookEvent{Key: k, Type: "series.created", List: "dev", Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("QueueWebhookEvent() = %v", err)
		}
	}
	if _, err := st.QueueWebhookEvent(ctx, WebhookEvent{Key: "k4", Type: "check.created", List: "dev", Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("QueueWebhookEvent() = %v", err)
	}
	ds, err := st.WebhookDeliveries(ctx, a.ID)
	if err != nil || len(ds) != 4 {
		t.Fatalf("WebhookDeliveries() = %d, %v; want 4", len(ds), err)
	}
	now := time.Now()
	if err := st.MarkWebhookAttempt(ctx, ds[0].ID, WebhookDelivered, 200, "", now, now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkWebhookAttempt(ctx, ds[1].ID, WebhookFailed, 500, "HTTP 500", now, now); err != nil {
		t.Fatal(err)
	}
	got, err := st.WebhookDeliveryCounts(ctx)
	want := map[int64]map[string]int{
		a.ID: {WebhookDelivered: 1, WebhookFailed: 1, WebhookPending: 2},
		b.ID: {WebhookPending: 1},
	}
	if diff := cmp.Diff(want, got); err != nil || diff != "" {
		t.Errorf("WebhookDeliveryCounts() = %v (-want +got):\n%s", err, diff)
	}
}
