package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// receiver is an httptest server that records deliveries and answers
// with the codes it is given, then 200.
type receiver struct {
	mu    sync.Mutex
	codes []int
	got   []delivery
	srv   *httptest.Server
}

type delivery struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, codes ...int) *receiver {
	rc := &receiver{codes: codes}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, delivery{r.Header.Clone(), b})
		code := 200
		if len(rc.codes) > 0 {
			code, rc.codes = rc.codes[0], rc.codes[1:]
		}
		rc.mu.Unlock()
		w.WriteHeader(code)
		io.WriteString(w, "answer")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) deliveries() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]delivery(nil), rc.got...)
}

func openStore(t *testing.T) *store.DB {
	t.Helper()
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func mustAdd(t *testing.T, st *store.DB, w store.Webhook) *store.Webhook {
	t.Helper()
	h, err := st.AddWebhook(context.Background(), w)
	if err != nil {
		t.Fatalf("AddWebhook() = %v", err)
	}
	return h
}

var testSeries = &store.Series{ID: 7, List: "dev", Subject: "[PATCH 0/2] <script>x</script>", Version: 2, Status: "proposed",
	Submitter: core.Person{Name: "Ann", Email: "ann@example.org"}, Total: 2, Received: 2, Complete: true, MessageID: "c@x"}

func TestSignVerify(t *testing.T) {
	// RFC 4231 test case 2.
	if got := Sign([]byte("Jefe"), []byte("what do ya want for nothing?")); got != "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843" {
		t.Errorf("Sign() = %s", got)
	}
	body := []byte(`{"event":"x"}`)
	if !Verify([]byte("s"), body, "sha256="+Sign([]byte("s"), body)) {
		t.Error("Verify() of a good signature = false")
	}
	for _, h := range []string{"", "sha256=", Sign([]byte("s"), body), "sha256=" + Sign([]byte("t"), body)} {
		if Verify([]byte("s"), body, h) {
			t.Errorf("Verify(%q) = true", h)
		}
	}
}

func TestParseEvents(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{" check.created , series.created,", []string{CheckCreated, SeriesCreated}, ""},
		{"series.created,series.deleted", nil, `unknown event "series.deleted" (series.created, `},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseEvents(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ParseEvents() = %v, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Errorf("ParseEvents() = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestReadSecret(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, content, want, wantErr string
	}{
		{"first line", "0123456789abcdef\r\nmore\n", "0123456789abcdef", ""},
		{"short", "abc\n", "", "the secret's first line is 3 bytes; use 16 to 1024"},
		{"long", strings.Repeat("x", 1025), "", "is 1025 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if err := os.WriteFile(p, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := ReadSecret(p)
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("ReadSecret() = %q, %v; want an error with %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Errorf("ReadSecret() = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := ReadSecret(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadSecret(a missing file) = %v", err)
	}
}

func TestDeliverSigned(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rc := newReceiver(t)
	other := newReceiver(t)
	mustAdd(t, st, store.Webhook{URL: rc.srv.URL + "/hook", Secret: []byte("s3cret")})
	// Subscribed to another event type, and to another list: gets nothing.
	mustAdd(t, st, store.Webhook{URL: other.srv.URL, Secret: []byte("x"), Events: []string{CheckCreated}})
	if _, err := st.CreateList(ctx, store.List{Name: "other"}); err != nil {
		t.Fatalf("CreateList() = %v", err)
	}
	mustAdd(t, st, store.Webhook{URL: other.srv.URL, Secret: []byte("x"), List: "other"})
	d := New(st, nil, "https://patchwell.example")
	if err := d.SeriesCreated(ctx, testSeries); err != nil {
		t.Fatalf("SeriesCreated() = %v", err)
	}
	// Emitting the same event again (a retried ingest) queues nothing.
	if err := d.SeriesCreated(ctx, testSeries); err != nil {
		t.Fatalf("SeriesCreated() again = %v", err)
	}
	if n, err := d.DeliverDue(ctx); err != nil || n != 1 {
		t.Fatalf("DeliverDue() = %d, %v; want 1", n, err)
	}
	if n, err := d.DeliverDue(ctx); err != nil || n != 0 {
		t.Fatalf("DeliverDue() after success = %d, %v; want 0", n, err)
	}
	got := rc.deliveries()
	if len(got) != 1 {
		t.Fatalf("receiver got %d deliveries, want 1", len(got))
	}
	h := got[0].header
	if !Verify([]byte("s3cret"), got[0].body, h.Get(HeaderSignature)) {
		t.Errorf("bad signature %q", h.Get(HeaderSignature))
	}
	if h.Get(HeaderEvent) != SeriesCreated || len(h.Get(HeaderDelivery)) != 36 || h.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", h)
	}
	var p struct {
		Event  string `json:"event"`
		ID     string `json:"id"`
		List   string `json:"list"`
		Series struct {
			ID      int64   `json:"id"`
			Subject string  `json:"subject"`
			APIURL  *string `json:"api_url"`
		} `json:"series"`
	}
	if err := json.Unmarshal(got[0].body, &p); err != nil {
		t.Fatalf("payload %s: %v", got[0].body, err)
	}
	if p.Event != SeriesCreated || p.ID != "series.created:7" || p.List != "dev" || p.Series.ID != 7 || p.Series.Subject != testSeries.Subject ||
		p.Series.APIURL == nil || *p.Series.APIURL != "https://patchwell.example/api/v1/series/7" {
		t.Errorf("payload %s", got[0].body)
	}
	if n := len(other.deliveries()); n != 0 {
		t.Errorf("unsubscribed receiver got %d deliveries", n)
	}
	// check.created reaches both subscriptions that want it.
	c := &store.Check{ID: 3, SeriesID: 7, Context: "build", State: "fail", Description: "it broke", Updated: time.Now()}
	if err := d.CheckCreated(ctx, testSeries, c); err != nil {
		t.Fatalf("CheckCreated() = %v", err)
	}
	if n, err := d.DeliverDue(ctx); err != nil || n != 2 {
		t.Fatalf("DeliverDue() = %d, %v; want 2", n, err)
	}
	if len(rc.deliveries()) != 2 || len(other.deliveries()) != 1 {
		t.Errorf("deliveries: %d and %d, want 2 and 1", len(rc.deliveries()), len(other.deliveries()))
	}
}

func TestRetry(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rc := newReceiver(t, 500, 503) // two failures, then 200
	hook := mustAdd(t, st, store.Webhook{URL: rc.srv.URL, Secret: []byte("k")})
	d := New(st, nil, "")
	now := time.Now()
	d.now = func() time.Time { return now }
	ch := &store.StatusChange{ID: 1, SeriesID: 7, From: "proposed", To: "approved", At: now}
	if err := d.StatusChanged(ctx, testSeries, ch); err != nil {
		t.Fatalf("StatusChanged() = %v", err)
	}
	if n, err := d.DeliverDue(ctx); err != nil || n != 0 {
		t.Fatalf("first attempt: %d, %v; want 0 (HTTP 500)", n, err)
	}
	// Not due again until the backoff has passed.
	if n, err := d.DeliverDue(ctx); err != nil || n != 0 || len(rc.deliveries()) != 1 {
		t.Fatalf("before backoff: %d, %v, %d requests; want no new attempt", n, err, len(rc.deliveries()))
	}
	ds, err := st.WebhookDeliveries(ctx, hook.ID)
	if err != nil || len(ds) != 1 || ds[0].State != store.WebhookPending || ds[0].Attempts != 1 || ds[0].LastStatus != 500 ||
		!ds[0].NextAttempt.After(now) {
		t.Fatalf("after a 500: %+v, %v", ds, err)
	}
	if next, err := st.NextWebhookAttempt(ctx); err != nil || next.Unix() != ds[0].NextAttempt.Unix() {
		t.Errorf("NextWebhookAttempt() = %v, %v", next, err)
	}
	for i, want := range []int{0, 1} {
		now = now.Add(5 * time.Hour)
		if n, err := d.DeliverDue(ctx); err != nil || n != want {
			t.Fatalf("attempt %d: %d, %v; want %d", i+2, n, err, want)
		}
	}
	now = now.Add(5 * time.Hour)
	if n, _ := d.DeliverDue(ctx); n != 0 {
		t.Errorf("delivered again after success")
	}
	got := rc.deliveries()
	if len(got) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(got))
	}
	id := got[0].header.Get(HeaderDelivery)
	for _, g := range got {
		if g.header.Get(HeaderDelivery) != id || string(g.body) != string(got[0].body) {
			t.Errorf("attempts differ: %s %s", g.header.Get(HeaderDelivery), g.body)
		}
	}
	ds, _ = st.WebhookDeliveries(ctx, hook.ID)
	if ds[0].State != store.WebhookDelivered || ds[0].Attempts != 3 || ds[0].DeliveredAt.IsZero() {
		t.Errorf("after success: %+v", ds[0])
	}
}

func TestGiveUp(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rc := newReceiver(t, 500, 500, 500, 500)
	gone := newReceiver(t, 410)
	mustAdd(t, st, store.Webhook{URL: rc.srv.URL, Secret: []byte("k")})
	mustAdd(t, st, store.Webhook{URL: gone.srv.URL, Secret: []byte("k")})
	// Nothing listens on a closed server's address: a connection error.
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	mustAdd(t, st, store.Webhook{URL: closed.URL, Secret: []byte("k")})
	d := New(st, nil, "")
	d.MaxAttempts = 2
	d.Backoff = func(int) time.Duration { return 0 }
	if err := d.SeriesUpdated(ctx, testSeries, "complete"); err != nil {
		t.Fatalf("SeriesUpdated() = %v", err)
	}
	for range 3 {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatalf("DeliverDue() = %v", err)
		}
	}
	if len(rc.deliveries()) != 2 || len(gone.deliveries()) != 1 {
		t.Errorf("attempts: %d and %d, want 2 (MaxAttempts) and 1 (410 Gone)", len(rc.deliveries()), len(gone.deliveries()))
	}
	ds, err := st.WebhookDeliveries(ctx, 0)
	if err != nil || len(ds) != 3 {
		t.Fatalf("WebhookDeliveries() = %v, %v", ds, err)
	}
	for _, dl := range ds {
		if dl.State != store.WebhookFailed || dl.LastError == "" {
			t.Errorf("delivery to %s: %s %q, want failed with an error", dl.URL, dl.State, dl.LastError)
		}
	}
}

func TestRunWakes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	st := openStore(t)
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get(HeaderEvent)
	}))
	defer srv.Close()
	mustAdd(t, st, store.Webhook{URL: srv.URL, Secret: []byte("k")})
	d := New(st, nil, "")
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	if err := d.SeriesCreated(ctx, testSeries); err != nil {
		t.Fatal(err)
	}
	if ev := <-got; ev != SeriesCreated {
		t.Errorf("event %q", ev)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run() = %v", err)
	}
}

func TestAddWebhookInvalid(t *testing.T) {
	st := openStore(t)
	for _, w := range []store.Webhook{
		{URL: "ftp://x/", Secret: []byte("k")},
		{URL: "javascript:alert(1)", Secret: []byte("k")},
		{URL: "http://x/"},
		{URL: "http://x/", Secret: []byte("k"), Events: []string{"a,b"}},
	} {
		if _, err := st.AddWebhook(context.Background(), w); err == nil {
			t.Errorf("AddWebhook(%+v) = nil error", w)
		}
	}
}

// TestSlowReceiverAlone: a receiver that does not answer delays only its
// own deliveries; another subscription's arrive meanwhile.
func TestSlowReceiverAlone(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	defer slow.Close()
	fast := make(chan string, 1)
	quick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fast <- r.Header.Get(HeaderEvent)
	}))
	defer quick.Close()
	mustAdd(t, st, store.Webhook{URL: slow.URL, Secret: []byte("k")}) // queued first
	mustAdd(t, st, store.Webhook{URL: quick.URL, Secret: []byte("k")})
	d := New(st, nil, "")
	if err := d.SeriesCreated(ctx, testSeries); err != nil {
		t.Fatal(err)
	}
	done := make(chan int)
	go func() {
		n, err := d.DeliverDue(ctx)
		if err != nil {
			t.Error(err)
		}
		done <- n
	}()
	<-entered // the slow receiver holds its request
	if ev := <-fast; ev != SeriesCreated {
		t.Errorf("fast receiver got %q", ev)
	}
	close(release)
	if n := <-done; n != 2 {
		t.Errorf("DeliverDue() = %d, want 2", n)
	}
}

// TestSeriesChanged: calling SeriesChanged at every step of a series'
// life emits each event once.
func TestSeriesChanged(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	rc := newReceiver(t)
	mustAdd(t, st, store.Webhook{URL: rc.srv.URL, Secret: []byte("k")})
	d := New(st, nil, "")
	s := *testSeries
	s.Complete, s.Received = false, 1
	steps := []func(){func() {}, func() {}, func() { s.Received, s.Complete = 2, true }, func() {}, func() { s.SupersededBy = 9 }, func() {}}
	for _, step := range steps {
		step()
		if err := d.SeriesChanged(ctx, &s); err != nil {
			t.Fatalf("SeriesChanged() = %v", err)
		}
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	for _, dl := range rc.deliveries() {
		var p struct{ Event, Reason string }
		if err := json.Unmarshal(dl.body, &p); err != nil {
			t.Fatal(err)
		}
		got = append(got, p.Event+" "+p.Reason)
	}
	want := []string{"series.created ", "series.updated complete", "series.updated revision"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", got, want)
	}
}
