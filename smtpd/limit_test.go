package smtpd

import (
	"bufio"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/internal/proxyproto"
)

// TestPerNetworkCap: many addresses of one client network (an IPv4 /24,
// an IPv6 /64) share MaxConnsPerNet slots while another network still
// connects. The client is the one the connection comes from or, behind a
// trusted load balancer, the one its PROXY header names.
func TestPerNetworkCap(t *testing.T) {
	for _, tc := range []struct {
		name  string
		proxy bool
		same  []string // addresses of one network
		other string   // another network
	}{
		// Every 127/8 address is loopback on Linux: dial from 127.0.1.x.
		{"direct ipv4", false, []string{"127.0.1.1", "127.0.1.2", "127.0.1.3"}, "127.0.2.1"},
		{"proxy ipv4", true, []string{"198.51.100.1", "198.51.100.2", "198.51.100.3"}, "198.51.101.1"},
		{"proxy ipv6", true, []string{"2001:db8:1:2::1", "2001:db8:1:2::2", "2001:db8:1:2::3"}, "2001:db8:1:3::1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if tc.proxy {
				l = &proxyproto.Listener{Listener: l, Trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}
			}
			s, err := New(Config{Domain: "localhost", MaxConns: 20, MaxConnsPerIP: 2, MaxConnsPerNet: 3}, newFake(), testLogger(t))
			if err != nil {
				t.Fatalf("New() = %v", err)
			}
			go s.Serve(l)
			t.Cleanup(func() { s.Close() })
			addr := l.Addr().String()
			connect := func(from string) (net.Conn, string) {
				t.Helper()
				d := net.Dialer{Timeout: 5 * time.Second}
				if !tc.proxy {
					d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(from)}
				}
				c, err := d.Dial("tcp", addr)
				if err != nil {
					t.Fatalf("dial from %s: %v", from, err)
				}
				t.Cleanup(func() { c.Close() })
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if tc.proxy {
					fam := "TCP4"
					if strings.Contains(from, ":") {
						fam = "TCP6"
					}
					fmt.Fprintf(c, "PROXY %s %s %s 40000 25\r\n", fam, from, from)
				}
				line, _ := bufio.NewReader(c).ReadString('\n')
				return c, line
			}
			want := func(from, code string) net.Conn {
				t.Helper()
				c, line := connect(from)
				if !strings.HasPrefix(line, code) {
					t.Fatalf("connection from %s: %q, want %s", from, line, code)
				}
				return c
			}
			first := want(tc.same[0], "220")
			want(tc.same[0], "220")
			want(tc.same[0], "421 4.7.0") // per address
			want(tc.same[1], "220")
			want(tc.same[2], "421 4.7.0") // per network: 3 taken
			want(tc.other, "220")
			want(tc.other, "220")

			// A slot given back in the network is free again.
			first.Close()
			for end := time.Now().Add(5 * time.Second); ; {
				c, line := connect(tc.same[2])
				if strings.HasPrefix(line, "220") {
					break
				}
				c.Close()
				if time.Now().After(end) {
					t.Fatalf("after a close in the network: %q, want 220", line)
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// trickle writes s one byte every interval until it is written or stop
// is closed.
func trickle(c net.Conn, s string, interval time.Duration, stop <-chan struct{}) {
	for i := range len(s) {
		select {
		case <-stop:
			return
		case <-time.After(interval):
		}
		if _, err := c.Write([]byte{s[i]}); err != nil {
			return
		}
	}
}

// logged reports whether a record starts with level and holds every one
// of parts.
func logged(h *recordHandler, level string, parts ...string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
next:
	for _, r := range *h.recs {
		if !strings.HasPrefix(r, level) {
			continue
		}
		for _, p := range parts {
			if !strings.Contains(r, p) {
				continue next
			}
		}
		return true
	}
	return false
}

// expectCutOff reads until the server replies; the reply must be a 421
// and the connection closed after it, within limit.
func expectCutOff(t *testing.T, cv *conv, limit time.Duration) {
	t.Helper()
	start := time.Now()
	cv.c.SetReadDeadline(start.Add(limit + 5*time.Second))
	line, err := cv.r.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "421 ") {
		t.Fatalf("after %v: %q, %v; want a 421", time.Since(start).Round(time.Millisecond), line, err)
	}
	if d := time.Since(start); d > limit {
		t.Errorf("421 after %v, want it within %v", d.Round(time.Millisecond), limit)
	}
	if rest, err := cv.r.ReadString('\n'); err == nil {
		t.Errorf("after the 421: %q, want the connection closed", rest)
	}
}

// TestCommandLineDeadline: a command line must be complete within
// CommandTimeout of the previous reply; bytes that trickle in do not
// extend that. A line that arrives slowly but within the bound is served.
func TestCommandLineDeadline(t *testing.T) {
	var recs []string
	h := &recordHandler{mu: new(sync.Mutex), recs: &recs}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Domain: "localhost", CommandTimeout: time.Second, SessionTimeout: time.Minute}, newFake(), slog.New(h))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	go s.Serve(l)
	defer s.Close()
	cv := dial(t, l.Addr().String())
	cv.cmd("EHLO test", "250")

	stop := make(chan struct{})
	defer close(stop)
	trickle(cv.c, "NOOP\r\n", 50*time.Millisecond, stop) // 300 ms: in time
	cv.expect("250")

	go trickle(cv.c, "MAIL FROM:<slowpoke@example.org>\r\n", 100*time.Millisecond, stop) // 3.5 s
	expectCutOff(t, cv, 3*time.Second)
	if !logged(h, "WARN", "timeout", "phase=command", "remote=127.0.0.1") {
		t.Errorf("no WARN timeout record for the command phase in:\n%s", strings.Join(recs, "\n"))
	}
}

// TestDataMinRate: DATA may take as long as it needs at MinDataRate after
// DataGrace, longer than CommandTimeout, and a trickle is cut off with a
// 421 and a log line.
func TestDataMinRate(t *testing.T) {
	var recs []string
	h := &recordHandler{mu: new(sync.Mutex), recs: &recs}
	be := newFake()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Domain: "localhost", CommandTimeout: time.Second, SessionTimeout: time.Minute,
		DataGrace: time.Second, MinDataRate: 1000}
	s, err := New(cfg, be, slog.New(h))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	go s.Serve(l)
	defer s.Close()
	addr := l.Addr().String()

	begin := func() *conv {
		cv := dial(t, addr)
		cv.cmd("EHLO test", "250")
		cv.cmd("MAIL FROM:<a@example.org>", "250")
		cv.cmd("RCPT TO:<dev@localhost>", "250")
		cv.cmd("DATA", "354")
		return cv
	}

	t.Run("honest at the minimum rate", func(t *testing.T) {
		cv := begin()
		// 100 bytes every 100 ms is 1000 bytes/s, for 2.5 s: more
		// than CommandTimeout, and never ahead of the minimum by more
		// than DataGrace.
		line := strings.Repeat("x", 98) + "\r\n"
		cv.send("Subject: slow\r\n\r\n")
		for range 25 {
			time.Sleep(100 * time.Millisecond)
			cv.send(line)
		}
		cv.send(".\r\n")
		cv.expect("250")
		if n := len(be.deliveries()); n != 1 {
			t.Fatalf("%d deliveries, want 1", n)
		}
	})

	t.Run("trickle", func(t *testing.T) {
		cv := begin()
		stop := make(chan struct{})
		defer close(stop)
		go trickle(cv.c, "Subject: trickle\r\n\r\n"+strings.Repeat("y", 200)+"\r\n.\r\n", 100*time.Millisecond, stop)
		expectCutOff(t, cv, 3*time.Second)
		if !logged(h, "WARN", "timeout", "phase=data", "remote=127.0.0.1") {
			t.Errorf("no WARN timeout record for DATA in:\n%s", strings.Join(recs, "\n"))
		}
		if n := len(be.deliveries()); n != 1 {
			t.Fatalf("%d deliveries, want only the honest one", n)
		}
	})
}

// TestDataOutlivesSession: a DATA begun before SessionTimeout that keeps
// the minimum rate gets its reply, so that a large message still arrives
// on a slow link; the session takes no command after it.
func TestDataOutlivesSession(t *testing.T) {
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost", SessionTimeout: time.Second,
		DataGrace: time.Second, MinDataRate: 1000}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<dev@localhost>", "250")
	cv.cmd("DATA", "354")
	cv.send("Subject: long\r\n\r\n")
	line := strings.Repeat("z", 98) + "\r\n"
	for range 20 { // 2 s
		time.Sleep(100 * time.Millisecond)
		cv.send(line)
	}
	cv.send(".\r\n")
	cv.expect("250")
	if n := len(be.deliveries()); n != 1 {
		t.Fatalf("%d deliveries, want 1", n)
	}
	cv.send("NOOP\r\n")
	if r, err := cv.r.ReadString('\n'); err == nil && !strings.HasPrefix(r, "421") {
		t.Fatalf("a command after SessionTimeout: %q, want 421 or a closed connection", r)
	}
}
