package webhook

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"patchwell/store"
)

// BenchmarkEmitDeliver queues one check.created event for two
// subscriptions and delivers both to a local receiver: the cost of one
// event end to end (SQLite queue, signing, HTTP).
func BenchmarkEmitDeliver(b *testing.B) {
	ctx := context.Background()
	st, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	for range 2 {
		if _, err := st.AddWebhook(ctx, store.Webhook{URL: srv.URL, Secret: []byte("k")}); err != nil {
			b.Fatal(err)
		}
	}
	d := New(st, nil, "")
	c := &store.Check{Context: "ci", State: "success"}
	for i := 0; b.Loop(); i++ {
		c.ID = int64(i + 1)
		if err := d.CheckCreated(ctx, testSeries, c); err != nil {
			b.Fatal(err)
		}
		if n, err := d.DeliverDue(ctx); err != nil || n != 2 {
			b.Fatal(fmt.Sprint(n, err))
		}
	}
}
