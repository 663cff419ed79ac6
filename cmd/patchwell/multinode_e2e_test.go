package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestTwoNodesOnePostgres runs two patchwell serve processes on one
// PostgreSQL database, each with its own data directory, and delivers to
// both at once: every message is stored once with a UID of its own, UIDs
// follow commit order, an IMAP client idling on one node hears of the mail
// the other took, and each subscriber gets every post exactly once though
// both nodes run a delivery worker on the shared queue.
func TestTwoNodesOnePostgres(t *testing.T) {
	needTool(t, "python3", "-c", "import imaplib")
	db := pgtest.URL(t)
	sk := startSink(t)
	imapA := freePort(t)
	a := startServer(t, t.TempDir(), "--db", db, "--imap", imapA, "--smarthost", sk.addr)
	b := startServer(t, t.TempDir(), "--db", db, "--smarthost", sk.addr)
	subs := []string{"amy@example.org", "bob@example.net"}
	for _, s := range subs {
		run(t, b.data, binary, "sub", "add", s, "--list", "dev", "--data", b.data, "--db", db)
	}

	const perNode = 15
	lines := startIdle(t, imapA, 2*perNode)
	var wg sync.WaitGroup
	errs := make(chan error, 2*perNode)
	for n, srv := range []*testServer{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perNode {
				msg := fmt.Sprintf("From: Sender <sender%d@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: node %d message %d\r\nMessage-ID: <n%d-m%d@example.org>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nhello\r\n", n, n, i, n, i)
				if err := smtpSend(srv.smtp, fmt.Sprintf("sender%d@example.org", n), []string{"dev@patchwell.localhost"}, msg); err != nil {
					errs <- fmt.Errorf("node %d message %d: %w", n, i, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	delivered := float64(time.Now().UnixNano()) / 1e9
	waitExists(t, lines, 2*perNode, delivered, "the last delivery to either node")

	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]bool{}
	var lastUID uint32
	var lastID int64
	err = st.Scan(ctx, "dev", func(m *store.Message) error {
		if seen[m.MessageID] {
			t.Errorf("%s stored twice", m.MessageID)
		}
		seen[m.MessageID] = true
		if m.UID != lastUID+1 || m.ID <= lastID {
			t.Errorf("%s: uid %d (row %d) after uid %d (row %d): UIDs must be dense and follow commit order", m.MessageID, m.UID, m.ID, lastUID, lastID)
		}
		lastUID, lastID = m.UID, m.ID
		return nil
	})
	if err != nil || len(seen) != 2*perNode {
		t.Fatalf("stored %d messages (%v), want %d", len(seen), err, 2*perNode)
	}

	for _, rcpt := range subs {
		got := sk.waitFor(t, rcpt, 2*perNode)
		ids := map[string]int{}
		for _, m := range got {
			for _, line := range strings.Split(string(m.data), "\n") {
				if strings.HasPrefix(strings.ToLower(line), "message-id:") {
					ids[strings.TrimSpace(line[len("message-id:"):])]++
				}
			}
		}
		if len(ids) != 2*perNode {
			t.Errorf("%s got %d distinct posts, want %d", rcpt, len(ids), 2*perNode)
		}
	}
	// Nothing more arrives: no delivery was sent by both nodes.
	time.Sleep(2 * time.Second)
	for _, rcpt := range subs {
		if got := sk.waitFor(t, rcpt, 0); len(got) != 2*perNode {
			t.Errorf("%s got %d copies of %d posts", rcpt, len(got), 2*perNode)
		}
	}
}

// TestPostgresPages: a series sent with git send-email to a server on
// PostgreSQL shows on every page and API a reader and b4 use, and search
// finds it by subject, diff and file name.
func TestPostgresPages(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	db := pgtest.URL(t)
	srv := startServer(t, t.TempDir(), "--db", db)
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Pages on PostgreSQL")
	if s.Total != 3 || len(s.Patches) != 3 {
		t.Fatalf("series: %+v", s)
	}
	esc := strings.NewReplacer("<", "", ">", "").Replace
	for _, path := range []string{
		"/", "/dev/", "/dev/?q=s:Pages", "/dev/?q=PostgreSQL", "/all/?q=dfn:file",
		fmt.Sprintf("/series/%d/", s.ID), fmt.Sprintf("/api/v1/series/%d/mbox", s.ID),
		"/dev/" + esc(s.CoverMessageID) + "/", "/dev/" + esc(s.CoverMessageID) + "/T/",
		"/dev/" + esc(s.CoverMessageID) + "/t.mbox.gz", "/dev/" + esc(s.CoverMessageID) + "/raw",
		"/dev/new.atom", "/api/v1/lists", "/api/v1/lists/dev/series?status=proposed",
		fmt.Sprintf("/api/v1/series/%d", s.ID), "/api/v1/lists/dev/threads",
	} {
		if code := srv.getJSON(path, nil); code != 200 {
			t.Errorf("GET %s: %d", path, code)
		}
	}
	// Search: the subject word, then a word of the diff, each find the
	// series' messages (the page lists them by subject).
	for _, q := range []string{"s:Pages", "b:renames", "renam*"} {
		resp, err := http.Get("http://" + srv.http + "/dev/?q=" + url.QueryEscape(q))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(body), "Pages on PostgreSQL") {
			t.Errorf("search %q does not list the cover letter", q)
		}
	}
}
