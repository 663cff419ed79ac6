// Package smtpd receives mail for patchwell's lists over SMTP and LMTP
// (emersion/go-smtp). It resolves each recipient to a list at RCPT time,
// enforces every limit explicitly (go-smtp has no safe defaults), and hands
// the raw bytes to a Backend, answering 250 only once the Backend says the
// message is durable. A Backend that is a PostChecker decides per
// recipient whether the envelope sender may post (private lists); smtpd
// only turns its no into 550 5.7.1.
//
// Line endings: SMTP carries CRLF; messages are handed on with LF endings,
// the form the archive keeps (as maildir and public-inbox do). A message
// that contains a bare CR anywhere is rejected with 550 5.6.2 after its
// real end (<CR><LF>.<CR><LF>) has been read (RFC 5321 2.3.8). A bare LF
// is taken as a line end, as Postfix's smtpd_forbid_bare_newline =
// normalize takes it (Mercurial's hg email sends whole messages with LF
// through Python's smtplib), but DATA still ends only at
// <CR><LF>.<CR><LF>: go-smtp's dot reader never ends it at <LF>.<LF> or
// <CR>.<LF>, and a message holding a line "." after a bare LF
// (<LF>.<LF>, <LF>.<CR><LF>, <CR><LF>.<LF>: no dot-stuffing client sends
// one, and servers that end DATA there are what smuggling exploits) is
// rejected with 550 5.6.2, so a smuggled "second message" is neither
// stored nor executed as commands, nor kept inside the first. (chasquid
// rejects any bare LF instead, which refuses hg email outright.)
//
// go-smtp's dot reader is not exact about bare CRs, though: it drops a CR
// that follows a line-leading dot (so "\r\n.\rX" reaches us as "\r\nX"),
// and after "\r\r\n" or ".\r\r\n" it misses the next <CR><LF>.<CR><LF>.
// So every connection replaces each bare CR with a NUL byte before go-smtp
// reads it (limitConn.Read; the byte count stays, so BDAT sizes hold), and
// a NUL in DATA is rejected like a bare CR (RFC 6152 forbids NUL in
// 8BITMIME data; such mail is broken anyway). CHUNKING is not advertised,
// because the filter holds back a CR at the end of a read until the next
// byte arrives, which a BDAT client may send only after our reply.
//
// Timeouts: a client that trickles bytes must not hold a connection for
// long, so reads that make progress do not simply extend the deadline.
// Each command line must be complete within CommandTimeout of the previous
// reply (go-smtp's ReadTimeout, set before each command), however its bytes
// arrive, and no command is read after SessionTimeout. DATA has DataGrace
// for its first bytes and must then arrive at MinDataRate on average, with
// no stall longer than CommandTimeout, as Postfix's smtpd_min_data_rate
// does; a DATA that keeps the rate may outlast SessionTimeout, so that a
// large message still arrives on a slow link. A client that misses a
// deadline gets a 421 (4.4.2) and is disconnected, and the log says so
// ("timeout", with the phase and the bytes it sent). limitConn (limit.go)
// does this.
package smtpd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"

	"patchwell/internal/connlimit"
	"patchwell/store"
)

// Backend is what smtpd needs from the archive.
type Backend interface {
	// ListExists reports whether name (a lowercased local part, without
	// any +command) is a list.
	ListExists(ctx context.Context, name string) (bool, error)
	// Deliver stores d.Raw once for each list in d.Lists and returns nil
	// only after the transaction is committed.
	Deliver(ctx context.Context, d Delivery) error
}

// PostChecker is an optional ability of a Backend: whether the envelope
// sender (MAIL FROM, "" for the null sender) may post to list name. smtpd
// asks it at RCPT time for every recipient that is a list itself (not
// NAME+command), and refuses the recipient with 550 5.7.1 when it says no. The decision (access.Post) is
// the Backend's: smtpd knows nothing of users and roles.
type PostChecker interface {
	MayPost(ctx context.Context, name, mailFrom string) (bool, error)
}

// Delivery is one message for one or more lists.
type Delivery struct {
	// Lists are the recipients' local parts, lower case, deduplicated,
	// in RCPT order: a list name ("dev"), or a list name with a command
	// after a plus ("dev+subscribe", "dev+confirm-TOKEN"), which is the
	// backend's to interpret.
	Lists    []string
	Raw      []byte // the message with LF line endings
	MailFrom string // envelope sender
	Remote   string // client address
	Helo     string // the name the client gave in HELO/EHLO/LHLO
	Received time.Time
}

// Config sets the limits; zero values take the defaults. The connection
// caps count the client a connection comes from or, behind a trusted load
// balancer (internal/proxyproto), the client its PROXY header names;
// MaxConnsPerNet keeps the addresses of one network from taking every
// slot.
type Config struct {
	Domain          string        // lists are NAME@Domain
	MaxMessageBytes int64         // default 32 MiB
	MaxRecipients   int           // default 50
	MaxConns        int           // default 200
	MaxConnsPerIP   int           // default 20
	MaxConnsPerNet  int           // per IPv4 /24 or IPv6 /64, default 50
	CommandTimeout  time.Duration // to send a whole command line, default 5 min (RFC 5321 4.5.3.2.7)
	SessionTimeout  time.Duration // no command after it, default 30 min
	DataGrace       time.Duration // DATA's first bytes, before MinDataRate counts, default 60 s
	MinDataRate     int           // DATA bytes per second after DataGrace, default 1024
	DeliverTimeout  time.Duration // waiting for the backend, default 2 min
	MaxLineLength   int           // default 4096 (RFC 5321 allows 1000 for text lines)
	LMTP            bool
	// Observe, when set, is told of each reply to DATA (for LMTP, each
	// recipient's): its code, and for a delivery the time from the end
	// of the message to the reply, that is to the durable commit
	// (metrics). It must not block.
	Observe func(code int, wait time.Duration)
}

func (c *Config) defaults() {
	if c.Domain == "" {
		c.Domain = "localhost"
	}
	if c.MaxMessageBytes == 0 {
		c.MaxMessageBytes = 32 << 20
	}
	if c.MaxRecipients == 0 {
		c.MaxRecipients = 50
	}
	if c.MaxConns == 0 {
		c.MaxConns = 200
	}
	if c.MaxConnsPerIP == 0 {
		c.MaxConnsPerIP = 20
	}
	if c.MaxConnsPerNet == 0 {
		c.MaxConnsPerNet = 50
	}
	if c.CommandTimeout == 0 {
		c.CommandTimeout = 5 * time.Minute
	}
	if c.SessionTimeout == 0 {
		c.SessionTimeout = 30 * time.Minute
	}
	if c.DataGrace == 0 {
		c.DataGrace = time.Minute
	}
	if c.MinDataRate == 0 {
		c.MinDataRate = 1024
	}
	if c.DeliverTimeout == 0 {
		c.DeliverTimeout = 2 * time.Minute
	}
	if c.MaxLineLength == 0 {
		c.MaxLineLength = 4096
	}
}

// Server is an SMTP or LMTP server for the lists.
type Server struct {
	cfg  Config
	be   Backend
	log  *slog.Logger
	srv  *smtp.Server
	lim  *connlimit.Limiter
	cid  atomic.Uint64
	shut atomic.Bool

	// ctx ends with Close; look-ups and deliveries run under it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	listeners []*limitListener
	conns     map[*limitConn]struct{}
	inflight  int           // sessions from the start of DATA to its reply
	idle      chan struct{} // closed when inflight drops to 0, if set
}

// New builds a server; Serve starts it.
func New(cfg Config, be Backend, log *slog.Logger) (*Server, error) {
	cfg.defaults()
	if cfg.MaxMessageBytes < 0 || cfg.MaxRecipients < 0 || cfg.MaxConns < 0 || cfg.MaxConnsPerIP < 0 || cfg.MaxConnsPerNet < 0 ||
		cfg.MinDataRate < 0 || cfg.DataGrace < 0 {
		return nil, errors.New("smtpd: negative limit")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, be: be, log: log, lim: connlimit.NewPerNet(cfg.MaxConns, cfg.MaxConnsPerIP, cfg.MaxConnsPerNet),
		conns: map[*limitConn]struct{}{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = cfg.Domain
	srv.LMTP = cfg.LMTP
	// go-smtp's dot reader refuses a message of exactly MaxMessageBytes
	// (it checks the budget before it sees the final ".\r\n"), so it gets
	// one byte more and readMessage and Mail enforce the real limit. The
	// SIZE line in EHLO is put right by limitConn.Write.
	srv.MaxMessageBytes = cfg.MaxMessageBytes + 1
	srv.MaxRecipients = cfg.MaxRecipients
	srv.MaxLineLength = cfg.MaxLineLength
	srv.ReadTimeout = cfg.CommandTimeout
	srv.WriteTimeout = cfg.CommandTimeout
	srv.EnableSMTPUTF8 = true
	srv.ErrorLog = slogAdapter{log}
	s.srv = srv
	return s, nil
}

// Serve accepts connections on l until Shutdown or Close, and then
// returns nil.
func (s *Server) Serve(l net.Listener) error {
	ll := &limitListener{Listener: l, s: s}
	s.mu.Lock()
	if s.shut.Load() {
		s.mu.Unlock()
		l.Close()
		return nil
	}
	s.listeners = append(s.listeners, ll)
	s.mu.Unlock()
	err := s.srv.Serve(ll)
	if s.shut.Load() || errors.Is(err, smtp.ErrServerClosed) {
		return nil
	}
	return err
}

// stopAccepting refuses new transactions and closes the listeners.
func (s *Server) stopAccepting() {
	s.mu.Lock()
	s.shut.Store(true)
	ls := s.listeners
	s.listeners = nil
	s.mu.Unlock()
	for _, l := range ls {
		l.Close()
	}
}

// beginData counts a transaction (from MAIL) that Shutdown waits for; the
// session calls endData once it ends: DATA's reply written (go-smtp calls Reset
// after writing it).
func (s *Server) beginData() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.shut.Load() {
		return errShuttingDown
	}
	s.inflight++
	return nil
}

func (s *Server) endData() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inflight--
	if s.inflight == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
}

// Shutdown refuses new transactions and answers new connections 421
// (retry later) while it lets the transactions begun (MAIL given) finish
// and get their reply (bounded by ctx); then it closes the listeners and
// every connection. Deliveries still running when ctx ends are
// cancelled.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shut.Store(true)
	var idle chan struct{}
	if s.inflight > 0 {
		if s.idle == nil {
			s.idle = make(chan struct{})
		}
		idle = s.idle
	}
	s.mu.Unlock()
	var err error
	if idle != nil {
		select {
		case <-idle:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	// Sessions still open get a 421 and a moment to read it and hang up.
	s.mu.Lock()
	open := make([]*limitConn, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		go c.goodbye() // a client that does not read is not waited for
	}
	s.linger(ctx, time.Second)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return err
}

// linger waits until every connection has closed, for d at most (or
// until ctx ends).
func (s *Server) linger(ctx context.Context, d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end) && ctx.Err() == nil; time.Sleep(10 * time.Millisecond) {
		s.mu.Lock()
		n := len(s.conns)
		s.mu.Unlock()
		if n == 0 {
			return
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stopAccepting()
	s.cancel()
	err := s.srv.Close()
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	// go-smtp only knows connections it has started serving.
	s.mu.Lock()
	conns := make([]*limitConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	return err
}

func (s *Server) proto() string {
	if s.cfg.LMTP {
		return "lmtp"
	}
	return "smtp"
}

func (s *Server) newSession(c *smtp.Conn) (smtp.Session, error) {
	// Serve wraps every listener, so each connection go-smtp serves is a
	// limitConn (there is no STARTTLS to wrap it again).
	lc, ok := c.Conn().(*limitConn)
	if !ok {
		s.log.Error("connection not from Serve", "remote", c.Conn().RemoteAddr().String())
		return nil, reply(errors.New("connection not from Serve"))
	}
	return &session{
		s:      s,
		conn:   c,
		lc:     lc,
		remote: c.Conn().RemoteAddr().String(),
		log:    lc.log,
	}, nil
}

type rcpt struct {
	addr string // as the client gave it
	list string
}

type session struct {
	s      *Server
	conn   *smtp.Conn
	lc     *limitConn // its deadlines
	remote string
	log    *slog.Logger

	// mu guards the transaction: with BDAT, go-smtp runs Data in a
	// goroutine of its own while RSET may call Reset.
	mu       sync.Mutex
	from     string
	rcpts    []rcpt
	attempts int  // RCPT commands in this transaction, refused ones too
	inData   bool // in DATA: its deadlines (limitConn) apply
	inTx     bool // MAIL given, transaction open until Reset
	counted  bool // the transaction is counted in Server.inflight (from MAIL)
}

// Reset ends the transaction; after DATA, go-smtp calls it once the
// reply is written, which is what Shutdown waits for.
func (ss *session) Reset() {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.resetLocked()
}

func (ss *session) resetLocked() {
	if ss.inData {
		ss.inData = false
		ss.lc.endData()
	}
	if ss.counted {
		ss.counted = false
		ss.s.endData()
	}
	ss.from, ss.inTx = "", false
	ss.rcpts = nil
	ss.attempts = 0
}

func (ss *session) Logout() error {
	ss.Reset()
	return nil
}

func (ss *session) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.shut.Load() {
		return reply(errShuttingDown)
	}
	if opts != nil && opts.Size > ss.s.cfg.MaxMessageBytes {
		ss.log.Warn("rejected", "reason", "size", "size", opts.Size)
		return reply(errTooLarge)
	}
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.inTx {
		// go-smtp passes a second MAIL through and keeps its recipients;
		// RFC 5321 4.1.4: MAIL inside a transaction is a bad sequence.
		return errNestedMail
	}
	ss.resetLocked()
	// Shutdown waits for a transaction from its MAIL on, so that a
	// client that got MAIL's 250 finishes it: what it sees of a shutdown
	// is at most a 421 before MAIL.
	if err := ss.s.beginData(); err != nil {
		return reply(err)
	}
	ss.counted = true
	ss.from, ss.inTx = from, true
	return nil
}

func (ss *session) Rcpt(to string, opts *smtp.RcptOptions) error {
	ss.mu.Lock()
	ss.attempts++
	n, attempts := len(ss.rcpts), ss.attempts
	ss.mu.Unlock()
	// Refused RCPTs count too (up to twice the limit), so that one
	// transaction cannot probe the backend for list names without end.
	if n >= ss.s.cfg.MaxRecipients || attempts > 2*ss.s.cfg.MaxRecipients+10 {
		ss.log.Warn("rejected", "rcpt", to, "reason", "too many recipients")
		return reply(errTooManyRcpts)
	}
	at := strings.LastIndexByte(to, '@')
	if at <= 0 || !strings.EqualFold(to[at+1:], ss.s.cfg.Domain) {
		ss.log.Warn("rejected", "rcpt", to, "reason", "not our domain")
		return reply(errNoSuchList)
	}
	name := strings.ToLower(to[:at])
	base, _, _ := strings.Cut(name, "+")
	if !store.ValidListName(base) {
		ss.log.Warn("rejected", "rcpt", to, "reason", "no such list")
		return reply(errNoSuchList)
	}
	ctx, cancel := context.WithTimeout(ss.s.ctx, 30*time.Second)
	defer cancel()
	ok, err := ss.s.be.ListExists(ctx, base)
	if err != nil {
		ss.log.Error("list lookup failed", "rcpt", to, "err", err)
		return reply(err)
	}
	if !ok {
		ss.log.Warn("rejected", "rcpt", to, "reason", "no such list")
		return reply(errNoSuchList)
	}
	// Only a post to the list itself is checked: NAME+command addresses
	// (subscribe, confirm, bounces, which come from the null sender) are
	// the backend's to interpret.
	if pc, ok := ss.s.be.(PostChecker); ok && name == base {
		ss.mu.Lock()
		from := ss.from
		ss.mu.Unlock()
		may, err := pc.MayPost(ctx, name, from)
		if err != nil {
			ss.log.Error("post check failed", "rcpt", to, "from", from, "err", err)
			return reply(err)
		}
		if !may {
			ss.log.Warn("rejected", "rcpt", to, "from", from, "reason", "sender may not post")
			return reply(errMayNotPost)
		}
	}
	ss.mu.Lock()
	ss.rcpts = append(ss.rcpts, rcpt{addr: to, list: name})
	ss.mu.Unlock()
	return nil
}

// readMessage reads DATA to its end and returns the message with LF line
// endings, or an error for bare CR/LF or excess size.
func (ss *session) readMessage(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) && se.Code == 552 {
			return nil, errTooLarge
		}
		return nil, err
	}
	if int64(len(data)) > ss.s.cfg.MaxMessageBytes {
		return nil, errTooLarge
	}
	out, ok := fromCRLF(data)
	if !ok {
		return nil, errBareLF
	}
	return out, nil
}

// fromCRLF turns CRLF, and a bare LF, into LF. A line after a bare LF
// that starts with a dot loses that dot, as one after CRLF already has
// (go-smtp's dot reader only knows CRLF; a client that ends lines with
// LF, like Mercurial's hg email through Python's smtplib, still doubles
// a leading dot). It reports false when data holds a bare CR or a NUL
// (which is what limitConn makes of a bare CR, and of the LF of a line
// "." after CRLF; RFC 6152 forbids NUL in 8BITMIME data anyway), or a
// line "." after a bare LF ("\n.\n", "\n.\r\n"): no client that
// dot-stuffs sends one, and some servers take it for the end of DATA
// (SMTP smuggling), so it is refused rather than kept inside a message.
func fromCRLF(data []byte) ([]byte, bool) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, false
	}
	out := make([]byte, 0, len(data))
	for len(data) > 0 {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			out = append(out, data...)
			break
		}
		out = append(out, data[:i]...)
		out = append(out, '\n')
		if data[i] == '\r' {
			if i+1 >= len(data) || data[i+1] != '\n' {
				return nil, false
			}
			data = data[i+2:]
			continue
		}
		data = data[i+1:]
		if len(data) > 0 && data[0] == '.' {
			if rest := data[1:]; len(rest) == 0 || rest[0] == '\n' || bytes.HasPrefix(rest, []byte("\r\n")) {
				return nil, false
			}
			data = data[1:]
		}
	}
	return out, true
}

func lists(rcpts []rcpt) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rcpts {
		if !seen[r.list] {
			seen[r.list] = true
			out = append(out, r.list)
		}
	}
	return out
}

func (ss *session) deliver(from string, lists []string, raw []byte) error {
	ctx, cancel := context.WithTimeout(ss.s.ctx, ss.s.cfg.DeliverTimeout)
	defer cancel()
	return ss.s.be.Deliver(ctx, Delivery{Lists: lists, Raw: raw, MailFrom: from, Remote: ss.remote,
		Helo: ss.conn.Hostname(), Received: time.Now()})
}

// beginData registers the transfer with the server (refused once
// Shutdown has begun) and returns the envelope.
func (ss *session) beginData() (string, []rcpt, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if !ss.inData {
		if !ss.counted {
			if err := ss.s.beginData(); err != nil {
				return "", nil, err
			}
			ss.counted = true
		}
		ss.inData = true
		ss.lc.beginData()
	}
	return ss.from, append([]rcpt(nil), ss.rcpts...), nil
}

// receive reads DATA for the transaction: its sender, recipients and the
// message with LF endings; a failure is logged and is the reply to give
// (with the recipients when they are known).
func (ss *session) receive(r io.Reader) (string, []rcpt, []byte, error) {
	from, rcpts, err := ss.beginData()
	if err != nil {
		ss.log.Warn("rejected", "reason", err)
		return "", nil, nil, reply(err)
	}
	if len(rcpts) == 0 {
		// Never deliver to nobody, whatever the protocol layer allowed.
		return "", nil, nil, errNoRcpts
	}
	raw, err := ss.readMessage(r)
	if err != nil {
		if !errors.Is(err, os.ErrDeadlineExceeded) { // limitConn logged it
			ss.log.Warn("rejected", "from", from, "reason", err)
		}
		return "", rcpts, nil, reply(err)
	}
	return from, rcpts, raw, nil
}

// observe tells Config.Observe of a reply to DATA: err nil is 250.
func (ss *session) observe(err error, start time.Time) {
	if ss.s.cfg.Observe == nil {
		return
	}
	code := 250
	if err != nil {
		code = 451
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			code = se.Code
		}
	}
	ss.s.cfg.Observe(code, time.Since(start))
}

func (ss *session) Data(r io.Reader) error {
	from, rcpts, raw, err := ss.receive(r)
	if err != nil {
		ss.observe(err, time.Now())
		return err
	}
	start := time.Now()
	lists := lists(rcpts)
	if err := ss.deliver(from, lists, raw); err != nil {
		ss.log.Error("delivery failed", "from", from, "lists", lists, "err", err)
		rep := reply(err)
		ss.observe(rep, start)
		return rep
	}
	ss.observe(nil, start)
	ss.log.Info("accepted", "msgid", messageID(raw), "from", from, "lists", lists, "size", len(raw))
	return nil
}

// LMTPData answers once per recipient (RFC 2033 4.2): each list is
// delivered on its own so that each recipient's reply is its own.
func (ss *session) LMTPData(r io.Reader, status smtp.StatusCollector) error {
	from, rcpts, raw, err := ss.receive(r)
	if err != nil {
		for range max(len(rcpts), 1) { // go-smtp gives each recipient this reply
			ss.observe(err, time.Now())
		}
		return err
	}
	start := time.Now()
	done := map[string]error{}
	for _, rc := range rcpts {
		err, ok := done[rc.list]
		if !ok {
			err = ss.deliver(from, []string{rc.list}, raw)
			done[rc.list] = err
			if err != nil {
				ss.log.Error("delivery failed", "from", from, "lists", rc.list, "err", err)
			} else {
				ss.log.Info("accepted", "msgid", messageID(raw), "from", from, "lists", rc.list, "size", len(raw))
			}
		}
		if err != nil {
			rep := reply(err)
			ss.observe(rep, start)
			status.SetStatus(rc.addr, rep)
		} else {
			ss.observe(nil, start)
			status.SetStatus(rc.addr, nil)
		}
	}
	return nil
}

// Replies for commands out of sequence (RFC 5321 4.2.4: 503 5.5.1).
var (
	errNestedMail = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "Nested MAIL command: RSET first"}
	errNoRcpts    = &smtp.SMTPError{Code: 503, EnhancedCode: smtp.EnhancedCode{5, 5, 1}, Message: "No valid recipients"}
)

var (
	errNoSuchList   = errors.New("no such list")
	errTooLarge     = errors.New("message too large")
	errTooManyRcpts = errors.New("too many recipients")
	errBareLF       = errors.New("bare CR, NUL, or a line of one dot after a bare LF in message")
	errShuttingDown = errors.New("shutting down")
	errMayNotPost   = errors.New("sender may not post to the list")
)

// reply is the one place errors become SMTP replies: the conditions we
// define are permanent (5xx) or ask for a retry (452, 421); anything else,
// a storage failure above all, is 451 so that the sender tries again. The
// text stays generic; details go to the log.
func reply(err error) *smtp.SMTPError {
	// The backend's own refusals (a posting policy, a loop) come as
	// SMTP errors and pass through.
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se
	}
	switch {
	case errors.Is(err, errNoSuchList), errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrBadName):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such list here"}
	case errors.Is(err, errMayNotPost):
		// RFC 3463 5.7.1: delivery not authorized, message refused.
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Only members of this list may post to it"}
	case errors.Is(err, errTooLarge), errors.Is(err, store.ErrTooLarge):
		return &smtp.SMTPError{Code: 552, EnhancedCode: smtp.EnhancedCode{5, 3, 4}, Message: "Message too large"}
	case errors.Is(err, errTooManyRcpts):
		return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 5, 3}, Message: "Too many recipients"}
	case errors.Is(err, errBareLF):
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 6, 2}, Message: "Bare CR, NUL, or a line of one dot after a bare LF in message; lines must end with CRLF"}
	case errors.Is(err, smtp.ErrTooLongLine):
		// A line over MaxLineLength will not be shorter on the next try.
		return &smtp.SMTPError{Code: 500, EnhancedCode: smtp.EnhancedCode{5, 5, 6}, Message: "Line too long"}
	case errors.Is(err, errShuttingDown):
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "Shutting down, try again later"}
	case errors.Is(err, os.ErrDeadlineExceeded):
		// DATA below its minimum rate: limitConn has written this
		// reply already and closes the connection; it counts for
		// Observe.
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "Timeout exceeded, closing connection"}
	}
	return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "Requested action aborted: local error in processing"}
}

// slogAdapter sends go-smtp's own log lines to slog: panics at Error,
// connection errors (resets, timeouts) at Debug.
type slogAdapter struct{ log *slog.Logger }

func (a slogAdapter) Printf(format string, v ...any) { a.print(fmt.Sprintf(format, v...)) }

func (a slogAdapter) Println(v ...any) { a.print(fmt.Sprint(v...)) }

func (a slogAdapter) print(s string) {
	if strings.Contains(s, "panic") {
		a.log.Error("smtp server panic", "msg", s)
		return
	}
	a.log.Debug("smtp connection", "msg", s)
}

// messageID returns the Message-ID of raw for the log, or "". It reads
// the header only, and at most its first 64 KiB.
func messageID(raw []byte) string {
	h := raw[:min(len(raw), 64<<10)]
	if i := bytes.Index(h, []byte("\n\n")); i >= 0 {
		h = h[:i+1]
	}
	for len(h) > 0 {
		line, rest, _ := bytes.Cut(h, []byte("\n"))
		h = rest
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok || !strings.EqualFold(string(bytes.TrimSpace(name)), "message-id") {
			continue
		}
		v := bytes.TrimSpace(value)
		if len(v) == 0 && len(h) > 0 && (h[0] == ' ' || h[0] == '\t') {
			next, _, _ := bytes.Cut(h, []byte("\n")) // folded value
			v = bytes.TrimSpace(next)
		}
		return strings.ToValidUTF8(string(v[:min(len(v), 256)]), "\uFFFD")
	}
	return ""
}
