package imapd_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"patchwell/imapd"
)

// TestShutdownSaysBye: on shutdown every session, idling or not yet
// signed in, gets a BYE (so that clients reconnect, to another node or
// to this one restarted) and the connection closes; new connections are
// refused.
func TestShutdownSaysBye(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	f.deliver("dev", testMessages(t)[0])
	idler, _ := dialRaw(t, f.addr)
	idler.expect("a1", "LOGIN anonymous x", "OK")
	idler.expect("a2", "SELECT dev", "OK")
	idler.send("a3 IDLE\r\n")
	if l := idler.line(); !strings.HasPrefix(l, "+ ") {
		t.Fatalf("IDLE: %q", l)
	}
	fresh, _ := dialRaw(t, f.addr)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for name, rc := range map[string]*rawConn{"idling": idler, "not signed in": fresh} {
		if l := rc.line(); !strings.HasPrefix(l, "* BYE ") {
			t.Errorf("%s session after shutdown: %q, want * BYE", name, l)
		}
		if l := rc.line(); l != "" {
			t.Errorf("%s session still open after BYE: %q", name, l)
		}
	}
	if c, err := net.DialTimeout("tcp", f.addr, time.Second); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted after shutdown")
	}
}
