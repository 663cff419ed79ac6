package smtpd

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
)

// postBackend is fakeBackend with a PostChecker: "sec" is a private list
// that takes mail from its members only; any sender may post to the
// others.
type postBackend struct {
	*fakeBackend
	members map[string]bool

	mu    sync.Mutex
	asked [][2]string // (list, mail from) of each MayPost
}

func (p *postBackend) MayPost(ctx context.Context, name, mailFrom string) (bool, error) {
	p.mu.Lock()
	p.asked = append(p.asked, [2]string{name, mailFrom})
	p.mu.Unlock()
	if mailFrom == "broken@example.org" {
		return false, errors.New("database is gone")
	}
	return name != "sec" || p.members[mailFrom], nil
}

func TestPostCheck(t *testing.T) {
	fb := newFake()
	fb.lists["sec"] = true
	be := &postBackend{fakeBackend: fb, members: map[string]bool{"maint@example.org": true}}
	_, addr := startServer(t, Config{Domain: "lists.example.org"}, be)
	send := func(from string, rcpts map[string]string, wantData bool) {
		t.Helper()
		cv := dial(t, addr)
		cv.cmd("EHLO test", "250")
		cv.cmd("MAIL FROM:<"+from+">", "250")
		for _, to := range []string{"dev", "sec"} {
			if code, ok := rcpts[to]; ok {
				cv.cmd("RCPT TO:<"+to+"@lists.example.org>", code)
			}
		}
		if !wantData {
			cv.cmd("QUIT", "221")
			return
		}
		cv.cmd("DATA", "354")
		cv.send(msg + ".\r\n")
		cv.expect("250")
		cv.cmd("QUIT", "221")
	}
	// An outsider: refused for the private list with 5.7.1, accepted for
	// the public one in the same transaction.
	send("out@example.org", map[string]string{"dev": "250", "sec": "550 5.7.1"}, true)
	// The null sender is nobody's, but a command address (a bounce to
	// NAME+bounces-..., a subscription request) is the backend's to
	// judge, not a post.
	send("", map[string]string{"sec": "550 5.7.1"}, false)
	{
		cv := dial(t, addr)
		cv.cmd("EHLO test", "250")
		cv.cmd("MAIL FROM:<>", "250")
		cv.cmd("RCPT TO:<sec+bounces-x@lists.example.org>", "250")
		cv.cmd("QUIT", "221")
	}
	// A failing check asks for a retry.
	send("broken@example.org", map[string]string{"sec": "451 4.3.0"}, false)
	// A member posts to both.
	send("maint@example.org", map[string]string{"dev": "250", "sec": "250"}, true)

	var got [][]string
	for _, d := range fb.deliveries() {
		got = append(got, append([]string{d.MailFrom}, d.Lists...))
	}
	want := [][]string{{"out@example.org", "dev"}, {"maint@example.org", "dev", "sec"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Errorf("deliveries = %v, want %v", got, want)
	}
	be.mu.Lock()
	defer be.mu.Unlock()
	if !slices.Contains(be.asked, [2]string{"sec", "out@example.org"}) || !slices.Contains(be.asked, [2]string{"sec", ""}) {
		t.Errorf("MayPost asked %v; want the envelope sender for each list", be.asked)
	}
	for _, a := range be.asked {
		if strings.Contains(a[0], "+") {
			t.Errorf("MayPost asked about a command address %q", a[0])
		}
	}
}
