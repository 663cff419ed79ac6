package smtpd

import (
	"net"
	"sync"
	"time"
)

// limiter counts connections in total and per client IP.
type limiter struct {
	mu         sync.Mutex
	max, perIP int
	total      int
	byIP       map[string]int
}

func newLimiter(max, perIP int) *limiter {
	return &limiter{max: max, perIP: perIP, byIP: map[string]int{}}
}

func (l *limiter) acquire(ip string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.total >= l.max || l.byIP[ip] >= l.perIP {
		return false
	}
	l.total++
	l.byIP[ip]++
	return true
}

func (l *limiter) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if l.byIP[ip]--; l.byIP[ip] <= 0 {
		delete(l.byIP, ip)
	}
}

// limitListener refuses connections over the caps with a 421 and wraps
// the others in limitConn.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOnly(c.RemoteAddr())
		if !l.s.lim.acquire(ip) {
			l.s.log.Warn("rejected", "remote", c.RemoteAddr().String(), "reason", "too many connections")
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			c.Close()
			continue
		}
		lc := &limitConn{
			Conn:     c,
			release:  func() { l.s.lim.release(ip) },
			idle:     l.s.cfg.CommandTimeout,
			deadline: time.Now().Add(l.s.cfg.SessionTimeout),
		}
		lc.SetDeadline(time.Now().Add(lc.idle))
		return lc, nil
	}
}

func hostOnly(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	return a.String() // unix sockets: one bucket
}

// limitConn keeps read deadlines moving while data flows (each read that
// returns bytes pushes the deadline out by idle) and never lets any
// deadline pass the session's end.
type limitConn struct {
	net.Conn
	once     sync.Once
	release  func()
	idle     time.Duration
	deadline time.Time
}

func (c *limitConn) cap(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

func (c *limitConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.Conn.SetReadDeadline(c.cap(time.Now().Add(c.idle)))
	}
	return n, err
}

func (c *limitConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.cap(t)) }
func (c *limitConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c *limitConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.cap(t)) }

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
