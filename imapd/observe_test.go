package imapd_test

import (
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/google/go-cmp/cmp"

	"patchwell/imapd"
)

// TestObserveCommands: with Config.Observe each command that does work
// is timed under its name, UID commands apart, as a real client sends
// them.
func TestObserveCommands(t *testing.T) {
	var (
		mu  sync.Mutex
		got []string
	)
	f := newFixture(t, imapd.Config{Observe: func(cmd string, d time.Duration) {
		if d < 0 {
			t.Errorf("%s took %v", cmd, d)
		}
		mu.Lock()
		got = append(got, cmd)
		mu.Unlock()
	}}, "dev")
	f.deliver("dev", []byte("From: a@example.org\nSubject: one\nMessage-ID: <o1@example.org>\n\nbody\n"))
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(nc, nil)
	defer c.Close()
	if err := c.Login("anonymous", "x").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatalf("LIST: %v", err)
	}
	if _, err := c.Status("dev", &imap.StatusOptions{NumMessages: true}).Wait(); err != nil {
		t.Fatalf("STATUS: %v", err)
	}
	if _, err := c.Select("dev", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("EXAMINE: %v", err)
	}
	if _, err := c.Select("dev", nil).Wait(); err != nil {
		t.Fatalf("SELECT: %v", err)
	}
	opts := &imap.FetchOptions{UID: true, Envelope: true}
	if _, err := c.Fetch(imap.SeqSetNum(1), opts).Collect(); err != nil {
		t.Fatalf("FETCH: %v", err)
	}
	if _, err := c.Fetch(imap.UIDSetNum(1), opts).Collect(); err != nil {
		t.Fatalf("UID FETCH: %v", err)
	}
	if _, err := c.Search(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "one"}}}, nil).Wait(); err != nil {
		t.Fatalf("SEARCH: %v", err)
	}
	if _, err := c.UIDSearch(&imap.SearchCriteria{}, nil).Wait(); err != nil {
		t.Fatalf("UID SEARCH: %v", err)
	}
	if err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagSeen}}, nil).Close(); err != nil {
		t.Fatalf("UID STORE: %v", err)
	}
	if _, err := c.Namespace().Wait(); err != nil {
		t.Fatalf("NAMESPACE: %v", err)
	}
	if err := c.Noop().Wait(); err != nil { // not timed
		t.Fatalf("NOOP: %v", err)
	}
	want := []string{"LOGIN", "LIST", "STATUS", "EXAMINE", "SELECT", "FETCH", "UID FETCH", "SEARCH", "UID SEARCH", "UID STORE", "NAMESPACE"}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("observed commands (-want +got):\n%s", diff)
	}
}
