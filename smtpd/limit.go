package smtpd

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
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
		remote := c.RemoteAddr().String()
		lc := &limitConn{
			Conn:         c,
			log:          l.s.log.With("cid", l.s.cid.Add(1), "remote", remote, "proto", l.s.proto()),
			idle:         l.s.cfg.CommandTimeout,
			end:          time.Now().Add(l.s.cfg.SessionTimeout),
			grace:        l.s.cfg.DataGrace,
			rate:         int64(l.s.cfg.MinDataRate),
			maxData:      l.s.cfg.MaxMessageBytes,
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
			// Shutting down: until the listener closes, a new client
			// is told to come back (to this node restarted, or another).
			l.s.mu.Unlock()
			lc.SetWriteDeadline(time.Now().Add(5 * time.Second))
			lc.Conn.Write([]byte("421 4.3.2 Shutting down, try again later\r\n"))
			lc.Close()
			continue
		}
		l.s.conns[lc] = struct{}{}
		l.s.mu.Unlock()
		lc.SetDeadline(time.Now().Add(lc.idle))
		return lc, nil
	}
}

// replySlack is how long past the session's end a reply may still take
// to write: the 421 that tells a client its time is up.
const replySlack = 10 * time.Second

// limitConn enforces the read deadlines (see the package comment), so
// that a client trickling bytes cannot hold a connection for long:
//
//   - Between commands, the deadline go-smtp sets before each command
//     line (CommandTimeout from its previous reply) stands: bytes that
//     arrive do not extend it, so a command line must be complete within
//     CommandTimeout. This is chasquid's per-command deadline
//     (internal/smtpsrv/conn.go: commandTimeout, 1 minute, set before
//     each command and not moved by reads) and Postfix's
//     smtpd_per_request_deadline (smtpd_timeout, 300 s, for a whole
//     request rather than for each read; Postfix turns it on only under
//     overload). No command is read after the session's end
//     (SessionTimeout).
//   - In DATA (from the session's beginData to its Reset after the
//     reply), the client has DataGrace for its first bytes, and each read
//     of n bytes then extends the deadline by n/MinDataRate, but never to
//     more than CommandTimeout from now: the message must arrive at
//     MinDataRate on average after DataGrace, and no stall may last longer
//     than CommandTimeout. This is Postfix's smtpd_min_data_rate
//     (src/util/vstream.c: the request deadline, less the time each read
//     took, gains n/smtpd_min_data_rate seconds, never beyond
//     smtpd_timeout; 500 bytes/s by default, in force with
//     smtpd_per_request_deadline). chasquid instead gives DATA
//     whatever is left of its 20-minute connection deadline, which a
//     trickle can hold to the end. The session's end does not cut a DATA
//     that keeps the rate (a 32 MiB message at MinDataRate takes longer
//     than SessionTimeout); the transfer has a hard end instead, the time
//     MaxMessageBytes takes at MinDataRate after DataGrace.
//
// A read that misses its deadline is logged, answered with a 421, and
// ends the connection (timedOut).
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
	log     *slog.Logger // the connection's, with cid and remote

	// Limits, from Config.
	idle, grace time.Duration
	rate        int64 // bytes per second
	maxData     int64
	end         time.Time // the session's end

	// Deadline state. go-smtp reads from one goroutine, but with BDAT it
	// runs the session's Data, which calls beginData, on another.
	mu      sync.Mutex
	asked   time.Time // the read deadline go-smtp set last; zero in DATA until it sets one
	waiting time.Time // when that deadline was set, or DATA began
	got     int64     // bytes read since then
	inData  bool
	due     time.Time // DATA: the next bytes must come before this
	dataEnd time.Time // DATA: the transfer's hard end

	wmu  sync.Mutex  // orders writes: timeoutReply comes last
	dead atomic.Bool // a deadline was missed: no more reads or writes

	// EHLO SIZE line as go-smtp writes it, and as it should read.
	sizeLine, realSizeLine []byte

	// Read side (go-smtp reads from one goroutine).
	raw, buf, out []byte
	pendingCR     bool
	lineState     lineState
	err           error
}

// readDeadlineLocked is the deadline for the next read.
func (c *limitConn) readDeadlineLocked() time.Time {
	if !c.inData {
		if c.asked.IsZero() || c.asked.After(c.end) {
			return c.end
		}
		return c.asked
	}
	dl := c.due
	if c.dataEnd.Before(dl) {
		dl = c.dataEnd
	}
	if !c.asked.IsZero() && c.asked.Before(dl) {
		dl = c.asked // BDAT: a command line between chunks
	}
	return dl
}

// beginData starts DATA's deadline: DataGrace for the first bytes, then
// MinDataRate.
func (c *limitConn) beginData() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	c.inData = true
	c.asked = time.Time{}
	c.waiting, c.got = now, 0
	c.due = now.Add(c.grace)
	c.dataEnd = now.Add(c.grace + c.perRate(c.maxData+1))
	if c.dataEnd.Before(c.end) {
		c.dataEnd = c.end
	}
	c.Conn.SetReadDeadline(c.readDeadlineLocked())
}

// endData goes back to command deadlines once DATA's reply is written;
// go-smtp sets the next one before it reads a command.
func (c *limitConn) endData() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.inData = false
}

// perRate is the time n bytes take at MinDataRate (at most 2^62 ns, some
// 146 years, so that sums of it stay in range).
func (c *limitConn) perRate(n int64) time.Duration {
	if n > (1<<62)/int64(time.Second) {
		return 1 << 62
	}
	return time.Duration(n * int64(time.Second) / c.rate)
}

// progress accounts for n bytes read: in DATA, they extend the deadline.
func (c *limitConn) progress(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got += int64(n)
	if !c.inData {
		return
	}
	c.due = c.due.Add(c.perRate(int64(n)))
	if limit := time.Now().Add(c.idle); c.due.After(limit) {
		c.due = limit
	}
	c.Conn.SetReadDeadline(c.readDeadlineLocked())
}

// timeoutReply is what a client that missed a deadline gets, before the
// connection closes (RFC 5321 3.8: 421 and close; 4.4.2 as Postfix's
// "timeout exceeded").
var timeoutReply = []byte("421 4.4.2 Timeout exceeded, closing connection\r\n")

// timedOut handles a missed read deadline, once: it logs it, writes the
// 421 itself and ends the connection's reading and writing. go-smtp still
// gets the timeout (or, in DATA, the session answers it), but whatever it
// writes after is dropped. That matters between commands: when a read
// fails under it, go-smtp's line reader (bufio.Reader.ReadLine) hands on
// a partial line as a whole one and go-smtp runs it as a command. It can
// do no harm (nothing is delivered without a complete DATA, and reads now
// end), but its reply must not follow the 421.
func (c *limitConn) timedOut() {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.dead.Swap(true) {
		return
	}
	c.mu.Lock()
	now := time.Now()
	attrs := []any{"bytes", c.got, "elapsed", now.Sub(c.waiting).Round(time.Millisecond)}
	switch {
	case c.inData && !now.Before(c.dataEnd):
		c.log.Warn("timeout", append(attrs, "phase", "data", "reason", "transfer time over")...)
	case c.inData:
		c.log.Warn("timeout", append(attrs, "phase", "data", "reason", "below minimum rate")...)
	case !now.Before(c.end):
		c.log.Info("timeout", append(attrs, "phase", "command", "reason", "session time over")...)
	case c.got > 0:
		c.log.Warn("timeout", append(attrs, "phase", "command", "reason", "command line not complete")...)
	default:
		c.log.Info("timeout", append(attrs, "phase", "command", "reason", "idle")...)
	}
	c.mu.Unlock()
	c.Conn.SetWriteDeadline(now.Add(replySlack))
	c.Conn.Write(timeoutReply)
}

// shutdownReply is what a session still open when the server shuts down
// is told: try again later (to this node restarted, or another).
var shutdownReply = []byte("421 4.3.2 Shutting down, try again later\r\n")

// goodbye ends the session for a shutdown: the 421, nothing written after
// it, and the sending side closed, so that the client reads the reply and
// hangs up (go-smtp then closes the connection; closing it first, with
// the client's next command unread, would reset it and could lose the
// reply).
func (c *limitConn) goodbye() {
	c.wmu.Lock()
	if !c.dead.Swap(true) {
		c.Conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		c.Conn.Write(shutdownReply)
	}
	c.wmu.Unlock()
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
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
		if c.dead.Load() {
			return 0, io.EOF
		}
		if c.raw == nil {
			c.raw = make([]byte, 4096)
			c.buf = make([]byte, 0, len(c.raw)+1)
		}
		n, err := c.Conn.Read(c.raw)
		if n > 0 {
			c.progress(n)
		}
		c.out = filterCR(c.buf[:0], c.raw[:n], &c.pendingCR, &c.lineState)
		if err != nil {
			if isTimeout(err) {
				// Hand on what came before the deadline first; a held
				// CR stays held.
				if len(c.out) == 0 {
					c.timedOut()
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

// filterCR appends in to dst with each bare CR replaced by NUL, and
// the LF of a line "." ending in a bare LF after a CRLF ("\r\n.\n") too:
// go-smtp's dot reader drops that dot, which would hide the line (a
// fake end of DATA) from readMessage. A CR at the end of in is left in
// *pending; *line follows the line start across calls. The output holds
// at most len(in)+1 bytes.
func filterCR(dst, in []byte, pending *bool, line *lineState) []byte {
	emit := func(b byte) {
		switch {
		case *line == afterCRLFDot && b == '\n':
			b, *line = 0, midLine
		case *line == afterCRLF && b == '.':
			*line = afterCRLFDot
		default:
			*line = midLine
		}
		dst = append(dst, b)
	}
	for _, b := range in {
		if *pending {
			*pending = false
			if b == '\n' {
				dst = append(dst, '\r', '\n')
				*line = afterCRLF
				continue
			}
			emit(0)
		}
		if b == '\r' {
			*pending = true
			continue
		}
		emit(b)
	}
	return dst
}

// lineState is where filterCR is in a line.
type lineState uint8

const (
	midLine      lineState = iota
	afterCRLF              // a line's start after CRLF
	afterCRLFDot           // "." at a line's start after CRLF
)

// chunkingLine is the EHLO line go-smtp always sends. It is dropped: with
// BDAT a chunk may end in a CR that Read holds back waiting for a byte the
// client only sends after our reply. Clients then use DATA.
var chunkingLine = []byte("250-CHUNKING\r\n")

// Write drops the CHUNKING capability and puts the real limit in the
// SIZE capability (see New); go-smtp writes each reply line with one Write.
func (c *limitConn) Write(p []byte) (int, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	switch {
	case c.dead.Load():
		return len(p), nil // after timeoutReply
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

// SetReadDeadline is go-smtp's deadline for the next command line,
// which limitConn keeps within the session (or within DATA's deadline).
func (c *limitConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked = t
	if !c.inData {
		c.waiting, c.got = time.Now(), 0
	}
	return c.Conn.SetReadDeadline(c.readDeadlineLocked())
}

// SetWriteDeadline keeps writes between commands within the session (and
// replySlack for its closing 421); DATA's one reply has go-smtp's
// WriteTimeout.
func (c *limitConn) SetWriteDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if limit := c.end.Add(replySlack); !c.inData && (t.IsZero() || t.After(limit)) {
		t = limit
	}
	return c.Conn.SetWriteDeadline(t)
}

func (c *limitConn) SetDeadline(t time.Time) error {
	return errors.Join(c.SetReadDeadline(t), c.SetWriteDeadline(t))
}

func (c *limitConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
