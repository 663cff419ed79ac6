package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"patchwell/internal/connlimit"
	"patchwell/review"
	"patchwell/store"
)

// Config sets the server's limits; zero values take the defaults.
type Config struct {
	// TLS, when set, offers STARTTLS on Serve and is used by ServeTLS.
	TLS *tls.Config
	// MaxConns caps connections in total (default 10,000), MaxConnsPerIP
	// per client address (default 50) and MaxConnsPerNet per client
	// network, an IPv4 /24 or an IPv6 /64 (default 4 times
	// MaxConnsPerIP), so that the addresses of one network cannot take
	// every slot (as smtpd does).
	MaxConns, MaxConnsPerIP, MaxConnsPerNet int
	// IdleTimeout drops a signed-in connection that sends nothing for
	// this long, IDLE included (default 30 minutes, the least RFC 3501
	// allows; go-imap itself waits 35). Before login go-imap allows 30 s.
	IdleTimeout time.Duration
	// LoginFailures is how many failed logins an address (an IPv6 /64,
	// connlimit.Network) may make per LoginWindow (default 10 per
	// minute); after that LOGIN answers NO, the right password too. The
	// account is not blocked: its owner logs in from elsewhere, and
	// review.Accounts slows logins to an account that many addresses
	// fail at.
	LoginFailures int
	LoginWindow   time.Duration
	// Poll is how often the watcher looks for mail committed by another
	// process (default 250 ms); commits in this process call Notify.
	Poll time.Duration
	// Domain is the mail domain, for messages that name list addresses.
	Domain string
	// Observe, when set, is told how long each command took (LOGIN,
	// SELECT, EXAMINE, LIST, STATUS, NAMESPACE, [UID] FETCH, [UID] STORE,
	// [UID] SEARCH; observe.go), for metrics. It must not block.
	Observe func(command string, d time.Duration)
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = 50
	}
	if c.MaxConnsPerNet <= 0 {
		c.MaxConnsPerNet = 4 * c.MaxConnsPerIP
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.LoginFailures <= 0 {
		c.LoginFailures = 10
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = time.Minute
	}
	if c.Poll <= 0 {
		c.Poll = 250 * time.Millisecond
	}
}

// Store is what the server reads of the store: the IMAP view of the
// archive, the lists, and the generation its watcher polls.
type Store interface {
	store.Mailboxes
	Lists(ctx context.Context) ([]store.List, error)
	ListInfo(ctx context.Context, name string) (*store.List, error)
	Generation(ctx context.Context) (uint64, error)
}

// Server serves the archive over IMAP.
type Server struct {
	st     Store
	acc    *review.Accounts
	cfg    Config
	log    *slog.Logger
	hub    *hub
	srv    *imapserver.Server // plain, with STARTTLS
	srvTLS *imapserver.Server // imaps

	conns    *connlimit.Limiter
	failures *failures

	ctx    context.Context
	cancel context.CancelFunc

	// mu guards what Shutdown needs: the listeners served and the open
	// sessions.
	mu        sync.Mutex
	listeners []net.Listener
	sessions  map[*session]struct{}
}

// New makes a server over the store; acc (may be nil) checks account
// logins, which private lists need.
func New(st Store, acc *review.Accounts, cfg Config, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if log == nil {
		log = slog.Default()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{st: st, acc: acc, cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		conns:    connlimit.NewPerNet(cfg.MaxConns, cfg.MaxConnsPerIP, cfg.MaxConnsPerNet),
		failures: &failures{max: cfg.LoginFailures, window: cfg.LoginWindow, byIP: map[string][]time.Time{}}}
	s.hub = newHub(st, log, cfg.Poll)
	if err := s.hub.start(ctx); err != nil {
		cancel()
		return nil, fmt.Errorf("imap: %w", err)
	}
	// The plain port: go-imap offers STARTTLS (before login), the
	// guard answers it (guard.go).
	s.srv = imapserver.New(s.options(cfg.TLS))
	// imaps: TLS is done below go-imap (under the guard), so go-imap
	// must not offer STARTTLS there.
	s.srvTLS = imapserver.New(s.options(nil))
	return s, nil
}

func (s *Server) options(starttls *tls.Config) *imapserver.Options {
	return &imapserver.Options{
		NewSession: s.newSession,
		Caps: imap.CapSet{
			imap.CapIMAP4rev1: {}, imap.CapIMAP4rev2: {},
			imap.CapIdle: {}, imap.CapNamespace: {}, imap.CapUIDPlus: {}, imap.CapESearch: {},
			imap.CapListExtended: {}, imap.CapListStatus: {}, imap.CapStatusSize: {},
			imap.CapBinary: {}, imap.CapUnselect: {}, imap.CapMove: {},
			imap.CapSASLIR: {}, imap.CapLiteralMinus: {},
		},
		TLSConfig: starttls,
		// Anonymous reading of public lists is the point, as on
		// public-inbox-imapd; an account login without TLS is refused by
		// the session unless it comes over loopback.
		InsecureAuth: true,
		Logger:       slogPrintf{s.log},
	}
}

// slogPrintf adapts slog to go-imap's Printf logger. What go-imap logs
// is not a session's own fault (session.fault logs those): a panic (an
// error), a command it answered NO [SERVERBUG] (its decoder failing
// plainly on a mistake the guard let through, or a fault of its own: a
// warning), or a connection ending (debug).
type slogPrintf struct{ l *slog.Logger }

func (p slogPrintf) Printf(format string, args ...any) {
	msg := strings.TrimSpace(fmt.Sprintf(format, args...))
	switch {
	case strings.HasPrefix(format, "panic"):
		p.l.Error("imap panic", "err", msg)
	case strings.HasPrefix(format, "handling"):
		p.l.Warn("imap command failed in go-imap", "err", msg)
	default:
		p.l.Debug("imap", "msg", msg)
	}
}

// Notify tells sessions that mail was committed (in this process); other
// processes' commits are found by the watcher's poll.
func (s *Server) Notify() { s.hub.notify() }

// Serve accepts plain connections (STARTTLS when TLS is configured).
func (s *Server) Serve(l net.Listener) error {
	s.track(l)
	return s.srv.Serve(guardListener{&limitListener{Listener: l, s: s}, s.log, s.cfg.TLS})
}

// ServeTLS accepts connections with implicit TLS (imaps).
func (s *Server) ServeTLS(l net.Listener) error {
	if s.cfg.TLS == nil {
		return errors.New("imaps: no TLS certificate configured")
	}
	s.track(l)
	return s.srvTLS.Serve(guardListener{tls.NewListener(&limitListener{Listener: l, s: s, quiet: true}, s.cfg.TLS), s.log, nil})
}

func (s *Server) track(l net.Listener) {
	s.mu.Lock()
	s.listeners = append(s.listeners, l)
	s.mu.Unlock()
}

// Shutdown stops accepting connections, says BYE to every session (a
// client reconnects, to another node behind a load balancer, or to this
// one restarted: RFC 9051 7.1.5), waiting for a command being answered
// to finish its response (bounded by ctx), then closes.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	for _, l := range s.listeners {
		l.Close()
	}
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	var wg sync.WaitGroup
	for _, ss := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if d, ok := ctx.Deadline(); ok {
				ss.conn.NetConn().SetWriteDeadline(d) // a client that does not read
			}
			_ = ss.conn.Bye("Server shutting down, please reconnect")
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	return s.Close()
}

// Close drops every connection and stops the watcher.
func (s *Server) Close() error {
	s.cancel()
	err := s.srv.Close()
	if err2 := s.srvTLS.Close(); err == nil {
		err = err2
	}
	return err
}

// guardListener puts the guard (guard.go) between go-imap and each
// connection; with starttls set, the guard answers STARTTLS.
type guardListener struct {
	net.Listener
	log      *slog.Logger
	starttls *tls.Config
}

func (l guardListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return newGuardConn(c, l.log, l.starttls), nil
}

// failures remembers failed logins per address in a sliding window.
type failures struct {
	mu     sync.Mutex
	max    int
	window time.Duration
	byIP   map[string][]time.Time
}

func (f *failures) recent(ip string, now time.Time) []time.Time {
	ts := f.byIP[ip]
	i := 0
	for i < len(ts) && now.Sub(ts[i]) > f.window {
		i++
	}
	ts = ts[i:]
	if len(ts) == 0 {
		delete(f.byIP, ip)
	} else {
		f.byIP[ip] = ts
	}
	return ts
}

// blocked reports whether ip used up its failed logins.
func (f *failures) blocked(ip string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.recent(ip, time.Now())) >= f.max
}

func (f *failures) add(ip string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	f.byIP[ip] = append(f.recent(ip, now), now)
}

// limitListener refuses connections over the caps with a BYE and wraps
// the others so that their read deadlines respect the idle timeout.
type limitListener struct {
	net.Listener
	s     *Server
	quiet bool // under TLS: close without a plaintext BYE
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := connlimit.HostOnly(c.RemoteAddr())
		if !l.s.conns.Acquire(ip) {
			l.s.log.Warn("imap rejected", "remote", c.RemoteAddr().String(), "reason", "too many connections")
			if !l.quiet {
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				c.Write([]byte("* BYE [UNAVAILABLE] Too many connections, try again later\r\n"))
			}
			c.Close()
			continue
		}
		return &limitConn{Conn: c, ip: ip, s: l.s}, nil
	}
}

// limitConn caps the read deadlines go-imap sets (35 minutes while
// idle) at the configured idle timeout, and releases its slot on Close.
type limitConn struct {
	net.Conn
	ip   string
	s    *Server
	once sync.Once

	// While corked (a FETCH streaming many messages), writes gather in
	// buf and go out 64 KiB at a time: go-imap flushes after every
	// message, which would be a system call per message.
	mu     sync.Mutex
	corked bool
	buf    []byte
}

const corkSize = 64 << 10

func (c *limitConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	c.buf = append(c.buf, p...)
	if len(c.buf) >= corkSize {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *limitConn) flushLocked() error {
	if len(c.buf) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.buf)
	c.buf = c.buf[:0]
	return err
}

// flush sends what gathered so far.
func (c *limitConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.flushLocked()
}

// cork starts gathering writes; uncork sends what gathered and stops.
func (c *limitConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *limitConn) uncork() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	err := c.flushLocked()
	c.buf = nil // an idle session keeps no buffer
	return err
}

// corkable finds the limitConn under a connection (under TLS and the
// guard too).
func corkable(nc net.Conn) *limitConn {
	for {
		switch c := nc.(type) {
		case *limitConn:
			return c
		case *tls.Conn:
			nc = c.NetConn()
		case *guardConn:
			nc = c.Conn
		default:
			return nil
		}
	}
}

func (c *limitConn) SetReadDeadline(t time.Time) error {
	if lim := time.Now().Add(c.s.cfg.IdleTimeout); !t.IsZero() && t.After(lim) {
		t = lim
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.s.conns.Release(c.ip) })
	return err
}

// tlsState reports whether the connection is encrypted (directly or
// after STARTTLS).
func tlsState(c net.Conn) bool {
	for {
		switch t := c.(type) {
		case *tls.Conn:
			return true
		case *guardConn:
			if t.encrypted() {
				return true
			}
			c = t.Conn
		default:
			return false
		}
	}
}

func isLoopback(a net.Addr) bool {
	ip := net.ParseIP(connlimit.HostOnly(a))
	return ip != nil && ip.IsLoopback()
}
