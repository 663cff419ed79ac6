package smtpd

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"patchwell/internal/connlimit"
)

// limitListener refuses connections over the caps with a 421 and wraps
// the others in limitConn.
type limitListener struct {
	net.Listener
	s    *Server
	once sync.Once
	err  error
}

// Close closes the listener once (Shutdown and go-smtp both close it).
func (l *limitListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := connlimit.HostOnly(c.RemoteAddr())
		if !l.s.lim.Acquire(ip) {
			l.s.log.Warn("rejected", "remote", c.RemoteAddr().String(), "reason", "too many connections")
			c.SetWriteDeadline(time.Now().Add(5 * time.Second))
			c.Write([]byte("421 4.7.0 Too many connections, try again later\r\n"))
			c.Close()
			continue
		}
		lc := &limitConn{
			Conn:         c,
			idle:         l.s.cfg.CommandTimeout,
			deadline:     time.Now().Add(l.s.cfg.SessionTimeout),
			sizeLine:     fmt.Appendf(nil, "250-SIZE %d\r\n", l.s.srv.MaxMessageBytes),
			realSizeLine: fmt.Appendf(nil, "250-SIZE %d\r\n", l.s.cfg.MaxMessageBytes),
		}
		lc.release = func() {
			l.s.lim.Release(ip)
			l.s.mu.Lock()
			delete(l.s.conns, lc)
			l.s.mu.Unlock()
		}
		l.s.mu.Lock()
		if l.s.shut.Load() {
			l.s.mu.Unlock()
			lc.Close()
			continue
		}
		l.s.conns[lc] = struct{}{}
		l.s.mu.Unlock()
		lc.SetDeadline(time.Now().Add(lc.idle))
		return lc, nil
	}
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

	// EHLO SIZE line as go-smtp writes it, and as it should read.
	sizeLine, realSizeLine []byte

	// Read side (go-smtp reads from one goroutine).
	raw, buf, out []byte
	pendingCR     bool
	err           error
}

func (c *limitConn) cap(t time.Time) time.Time {
	if t.IsZero() || t.After(c.deadline) {
		return c.deadline
	}
	return t
}

// Read also replaces every bare CR (a CR not followed by LF) with NUL,
// keeping the byte count, so that go-smtp only ever sees CRs that start a
// CRLF. Its dot reader mishandles bare CRs: it drops a CR that follows a
// line-leading dot (".\rX" reads as "X", hiding the CR from us), and after
// ".\r\r\n" or "\r\r\n" it loses the line start and misses the real
// <CR><LF>.<CR><LF>. A CR at the end of a read is held back until the next
// byte shows whether it is bare.
func (c *limitConn) Read(p []byte) (int, error) {
	for {
		if len(c.out) > 0 {
			n := copy(p, c.out)
			c.out = c.out[n:]
			return n, nil
		}
		if c.err != nil || len(p) == 0 {
			return 0, c.err
		}
		if c.raw == nil {
			c.raw = make([]byte, 4096)
			c.buf = make([]byte, 0, len(c.raw)+1)
		}
		n, err := c.Conn.Read(c.raw)
		if n > 0 {
			c.Conn.SetReadDeadline(c.cap(time.Now().Add(c.idle)))
		}
		c.out = filterCR(c.buf[:0], c.raw[:n], &c.pendingCR)
		if err != nil {
			if isTimeout(err) {
				// The client may still go on; a held CR stays held.
				if len(c.out) == 0 {
					return 0, err
				}
				continue
			}
			if c.pendingCR {
				c.pendingCR = false
				c.out = append(c.out, 0)
			}
			c.err = err // EOF or a dead socket: no more bytes
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// filterCR appends in to dst with each bare CR replaced by NUL. A CR at
// the end of in is left in *pending; the output holds at most len(in)+1
// bytes.
func filterCR(dst, in []byte, pending *bool) []byte {
	for _, b := range in {
		if *pending {
			*pending = false
			if b == '\n' {
				dst = append(dst, '\r')
			} else {
				dst = append(dst, 0)
			}
		}
		if b == '\r' {
			*pending = true
			continue
		}
		dst = append(dst, b)
	}
	return dst
}

// chunkingLine is the EHLO line go-smtp always sends. It is dropped: with
// BDAT a chunk may end in a CR that Read holds back waiting for a byte the
// client only sends after our reply. Clients then use DATA.
var chunkingLine = []byte("250-CHUNKING\r\n")

// Write drops the CHUNKING capability and puts the real limit in the
// SIZE capability (see New); go-smtp writes each reply line with one Write.
func (c *limitConn) Write(p []byte) (int, error) {
	switch {
	case bytes.Equal(p, chunkingLine):
		return len(p), nil
	case c.sizeLine != nil && bytes.Equal(p, c.sizeLine):
		if _, err := c.Conn.Write(c.realSizeLine); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	return c.Conn.Write(p)
}

func (c *limitConn) SetDeadline(t time.Time) error      { return c.Conn.SetDeadline(c.cap(t)) }
func (c *limitConn) SetReadDeadline(t time.Time) error  { return c.Conn.SetReadDeadline(c.cap(t)) }
func (c *limitConn) SetWriteDeadline(t time.Time) error { return c.Conn.SetWriteDeadline(c.cap(t)) }

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
