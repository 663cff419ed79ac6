package imapd

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// The guard reads each command before go-imap does and answers the
// mistakes go-imap (v2.0.0-beta.8) takes for server faults: its decoder
// fails with a plain error, not a syntax error, on a command over its
// size cap, too deeply nested parentheses, a sequence set it cannot
// parse (1:4294967296, 0, 1:x), a SEARCH key it does not know, a date
// or a SASL response that does not decode, or a mailbox name that is not
// modified UTF-7, and answers NO [SERVERBUG]; and on a literal over its
// 4 KiB cap outside APPEND it refuses the literal but reads on, so that
// client and server wait on each other. The guard answers those BAD
// with the reason (RFC 9051 section 7.1.3), and go-imap never sees them.
//
// It delivers go-imap one line of a command at a time, so that it only
// answers while go-imap waits for a command and writes nothing. A
// command goes to go-imap once its first line (up to a literal, if any)
// passed; a mistake found in a later line (after a literal) cannot be
// answered alone, and ends the connection with BYE. What follows a
// literal marker is a literal only if go-imap took it as one: the guard
// watches go-imap's answers to know (a continuation request, or the
// command's tagged answer). It also passes IDLE's DONE and AUTHENTICATE's
// responses.
//
// On imaps it sits above TLS. On the plain port it answers STARTTLS
// itself (RFC 9051 section 6.2.1), and goes on above the TLS it starts:
// go-imap, had it answered, would have put TLS between itself and the
// guard. go-imap offers STARTTLS before login, on the plain port (the
// server gives it the TLS configuration), and does not see it answered;
// after it, as go-imap still takes the connection for a plain one, the
// guard takes STARTTLS out of the capabilities go-imap lists, and
// answers another STARTTLS BAD.
type guardConn struct {
	net.Conn // the client's connection (after STARTTLS, TLS runs over it)
	log      *slog.Logger
	in       *bufio.Reader // the client's bytes

	out      []byte    // bytes passed, that go-imap has not read yet
	deadline time.Time // the read deadline go-imap set

	starttls *tls.Config // offers STARTTLS (nil: go-imap answers it)
	tc       *tls.Conn   // after STARTTLS (mu)
	authed   bool        // a login succeeded: STARTTLS is over
	capOut   bool        // take STARTTLS out of go-imap's CAPABILITY answer (mu)

	cmd     command // the command under way
	pending pending // what the next read may be, once go-imap answered
	lit     int64   // literal bytes still to pass (or drop)
	litBuf  []byte  // made for the first literal
	drop    bool    // the command was refused: drop the rest of it

	mu sync.Mutex // go-imap's writes, the guard's own, and the watch
	w  watch
}

// Limits the guard enforces, below go-imap's own (50 KiB per command,
// 1,000 nested lists, 4 KiB literals outside APPEND, 4 KiB SASL lines).
const (
	maxCommandLine = 48 << 10 // a command's lines, literals aside
	maxNesting     = 100      // open parentheses
	maxLiteral     = 4096     // a literal outside APPEND
	maxDropLiteral = 64 << 10 // a refused non-synchronizing literal read and dropped; a longer one ends the connection
	maxSASLLine    = 4096     // an AUTHENTICATE response, CRLF included
	lineTimeout    = 30 * time.Second
)

// command is what the guard knows of the command under way.
type command struct {
	tag, name string
	lines     int // lines passed
	size      int // their bytes
	depth     int // open parentheses
	quoted    bool
}

// pending is what a line go-imap was given may lead to.
type pending int

const (
	pendNone         pending = iota
	pendLiteral              // the line ended in a literal marker: a literal, unless go-imap refused the command
	pendContinuation         // IDLE or AUTHENTICATE: lines of the exchange, until the tagged answer
	pendLogin                // LOGIN: signed in if go-imap said OK
)

// watch follows go-imap's output while a command may continue past its
// line: whether the command got its tagged answer (and whether OK), and
// whether the last line written asks for more (a continuation request,
// "+ ...").
type watch struct {
	on     bool
	tag    string
	line   []byte // the start of the line being written
	tagged bool
	ok     bool
	cont   bool
}

// newGuardConn guards c; with starttls set, it answers STARTTLS.
func newGuardConn(c net.Conn, log *slog.Logger, starttls *tls.Config) *guardConn {
	return &guardConn{Conn: c, log: log, in: bufio.NewReaderSize(c, 1024), starttls: starttls}
}

// NetConn is the connection under the guard.
func (g *guardConn) NetConn() net.Conn { return g.Conn }

func (g *guardConn) SetReadDeadline(t time.Time) error {
	g.deadline = t
	return g.Conn.SetReadDeadline(t)
}

func (g *guardConn) SetDeadline(t time.Time) error {
	g.deadline = t
	return g.Conn.SetDeadline(t)
}

func (g *guardConn) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	q := p
	if g.capOut {
		q = withoutStartTLS(p)
	}
	n, err := g.writer().Write(q)
	if g.w.on {
		g.w.note(q[:n])
	}
	if n == len(q) {
		n = len(p)
	}
	return min(n, len(p)), err
}

// writer is where the guard's and go-imap's answers go (mu held).
func (g *guardConn) writer() io.Writer {
	if g.tc != nil {
		return g.tc
	}
	return g.Conn
}

// encrypted reports whether STARTTLS succeeded.
func (g *guardConn) encrypted() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.tc != nil
}

// withoutStartTLS is go-imap's CAPABILITY answer without STARTTLS, which
// it lists on a connection it takes for a plain one.
func withoutStartTLS(p []byte) []byte {
	if !bytes.Contains(p, []byte(" STARTTLS")) {
		return p
	}
	p = bytes.ReplaceAll(p, []byte(" STARTTLS "), []byte(" "))
	p = bytes.ReplaceAll(p, []byte(" STARTTLS\r\n"), []byte("\r\n"))
	return bytes.ReplaceAll(p, []byte(" STARTTLS]"), []byte("]"))
}

// note follows the lines in p.
func (w *watch) note(p []byte) {
	for len(p) > 0 && w.on {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		if room := 128 - len(w.line); room > 0 {
			w.line = append(w.line, chunk[:min(len(chunk), room)]...)
		}
		if i < 0 {
			return
		}
		w.cont = len(w.line) > 0 && w.line[0] == '+'
		if rest, ok := bytes.CutPrefix(w.line, []byte(w.tag+" ")); ok {
			w.tagged, w.ok = true, bytes.HasPrefix(rest, []byte("OK"))
		}
		w.line = w.line[:0]
		p = p[i+1:]
	}
}

// arm starts watching go-imap's answer to the command under way.
func (g *guardConn) arm() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.w = watch{on: true, tag: g.cmd.tag, line: g.w.line[:0]}
}

// seen says what go-imap wrote since arm.
func (g *guardConn) seen() (tagged, ok, cont bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.w.tagged, g.w.ok, g.w.cont
}

func (g *guardConn) disarm() {
	g.mu.Lock()
	g.w.on = false
	g.mu.Unlock()
}

func (g *guardConn) Read(p []byte) (int, error) {
	for len(g.out) == 0 {
		if err := g.next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, g.out)
	g.out = g.out[n:]
	if len(g.out) == 0 {
		g.out = nil // an idle session keeps no line
	}
	return n, nil
}

// next reads what comes next from the client: literal bytes, a line of
// an exchange, or a command line, which it checks.
func (g *guardConn) next() error {
	if g.pending != pendNone {
		if err := g.settle(); err != nil {
			return err
		}
		if len(g.out) > 0 {
			return nil
		}
	}
	if g.lit > 0 {
		if g.litBuf == nil {
			g.litBuf = make([]byte, 4096)
		}
		buf := g.litBuf[:min(g.lit, int64(len(g.litBuf)))]
		n, err := g.in.Read(buf)
		if n == 0 {
			return err
		}
		g.lit -= int64(n)
		if !g.drop {
			g.out = buf[:n]
		}
		return nil
	}
	return g.line()
}

// settle works out, from go-imap's answer, what the last line it was
// given led to.
func (g *guardConn) settle() error {
	p := g.pending
	g.pending = pendNone
	tagged, ok, cont := g.seen()
	switch {
	case tagged:
		// go-imap answered: the command is over, and what the client
		// sends next is a new one (as go-imap reads it).
		if ok && (p == pendLogin || g.cmd.name == "AUTHENTICATE") {
			g.authed = true
		}
	case p == pendLiteral:
		return nil // g.lit is set: go-imap reads the literal
	case p == pendContinuation && (cont || g.cmd.name == "IDLE"):
		return g.exchangeLine()
	}
	g.disarm()
	g.lit = 0
	g.cmd = command{}
	return nil
}

// exchangeLine passes one line of IDLE (DONE) or AUTHENTICATE (a SASL
// response); one too long for go-imap is given to it as a cancellation.
func (g *guardConn) exchangeLine() error {
	b, _, long, err := g.readLine(maxSASLLine)
	if err != nil {
		return err
	}
	if long {
		g.log.Debug("imap bad command", "remote", g.RemoteAddr().String(), "tag", g.cmd.tag,
			"reason", "continuation line too long")
		b = []byte("*\r\n") // AUTHENTICATE cancelled; for IDLE, not DONE: BAD either way
	}
	g.out = b
	if g.cmd.name == "IDLE" {
		g.disarm() // one line ends IDLE
		g.cmd = command{}
		return nil
	}
	g.pending = pendContinuation
	g.arm()
	return nil
}

// readLine reads a line of up to max bytes (and returns it as tail
// too). A longer one is read to its end, and only its first and last
// bytes returned, in line and tail, with long set.
func (g *guardConn) readLine(max int) (line, tail []byte, long bool, err error) {
	for {
		b, err := g.in.ReadSlice('\n')
		switch {
		case long:
			tail = append(tail, b...)
			if len(tail) > 64 {
				tail = append(tail[:0], tail[len(tail)-64:]...)
			}
		case len(line)+len(b) > max:
			long = true
			line = append(line, b[:min(len(b), 64)]...)
			line = line[:min(len(line), 64)]
			tail = append(tail, b[len(b)-min(len(b), 64):]...)
		default:
			line = append(line, b...)
		}
		if err == nil {
			if long {
				return line, tail, true, nil
			}
			return line, line, false, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, nil, false, err
		}
	}
}

// line reads and checks a line of a command: its first line, or one
// after a literal.
func (g *guardConn) line() error {
	first := g.cmd.lines == 0 && !g.drop
	if first {
		// Once a command begins, the rest of its line comes within
		// lineTimeout (go-imap's cmdReadTimeout), however long the
		// wait for the command was.
		if _, err := g.in.Peek(1); err != nil {
			return err
		}
		if dl := time.Now().Add(lineTimeout); g.deadline.IsZero() || dl.Before(g.deadline) {
			g.Conn.SetReadDeadline(dl)
			defer g.Conn.SetReadDeadline(g.deadline)
		}
	}
	limit := maxCommandLine - g.cmd.size
	if g.drop {
		limit = maxCommandLine
	}
	b, tail, long, err := g.readLine(limit)
	if err != nil {
		return err
	}
	n, sync, isLit := literalMarker(tail)
	if g.drop {
		// The rest of a refused command: its literals come only
		// when they need no go-ahead.
		if isLit && !sync {
			return g.dropLiteral(n)
		}
		g.drop = false
		g.cmd = command{}
		return nil
	}
	if first {
		g.cmd = command{}
		g.cmd.tag, g.cmd.name = commandName(b)
	}
	reason := ""
	switch {
	case long:
		reason = fmt.Sprintf("Command line too long (the limit is %d bytes, literals aside)", maxCommandLine)
	default:
		reason = g.cmd.scan(b)
	}
	if reason == "" && isLit && n > maxLiteral && (g.cmd.name != "APPEND" || !sync) {
		if g.cmd.name == "APPEND" {
			reason = fmt.Sprintf("Non-synchronizing literals are limited to %d bytes (LITERAL-)", maxLiteral)
		} else {
			reason = fmt.Sprintf("Literals are limited to %d bytes in %s", maxLiteral, g.cmd.name)
		}
	}
	if reason == "" && first {
		reason = check(b)
	}
	if reason != "" {
		if !first {
			return g.bye(reason)
		}
		if err := g.refuse(reason); err != nil {
			return err
		}
		if isLit && !sync {
			return g.dropLiteral(n)
		}
		g.cmd = command{}
		return nil
	}
	if first && g.starttls != nil && g.cmd.name == "STARTTLS" && bareCommand(b, g.cmd.tag) {
		return g.startTLS()
	}
	if first {
		g.mu.Lock()
		g.capOut = g.tc != nil && g.cmd.name == "CAPABILITY"
		g.mu.Unlock()
	}
	g.cmd.lines++
	g.out = b
	switch {
	case isLit:
		g.lit = n
		g.pending = pendLiteral
		g.arm()
	case g.cmd.name == "IDLE" || g.cmd.name == "AUTHENTICATE":
		g.pending = pendContinuation
		g.arm()
	case g.cmd.name == "LOGIN":
		g.pending = pendLogin
		g.arm()
	default:
		g.cmd = command{}
	}
	return nil
}

// bareCommand reports whether line is a command without arguments (go-imap
// answers the others BAD).
func bareCommand(line []byte, tag string) bool {
	line = bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
	_, name, ok := strings.Cut(string(line), " ")
	return ok && tag != "" && !strings.ContainsAny(name, " \t")
}

// startTLS answers STARTTLS (RFC 9051 section 6.2.1) and does the TLS
// handshake; the guard then reads and writes through TLS.
func (g *guardConn) startTLS() error {
	switch {
	case g.encrypted():
		return g.refuseCommand("TLS is already active")
	case g.authed:
		return g.refuseCommand("STARTTLS is for before login")
	}
	tag := g.cmd.tag
	g.cmd = command{}
	g.mu.Lock()
	g.Conn.SetWriteDeadline(time.Now().Add(lineTimeout))
	_, err := io.WriteString(g.Conn, tag+" OK Begin TLS negotiation now\r\n")
	g.Conn.SetWriteDeadline(time.Time{})
	g.mu.Unlock()
	if err != nil {
		return err
	}
	// What the client sent after the command, before the go-ahead, is
	// read as the start of the handshake, as go-imap reads it: nothing
	// sent in the clear is taken for a command sent under TLS.
	var r io.Reader = g.Conn
	if n := g.in.Buffered(); n > 0 {
		b, _ := g.in.Peek(n)
		r = io.MultiReader(bytes.NewReader(bytes.Clone(b)), g.Conn)
	}
	tc := tls.Server(readerConn{g.Conn, r}, g.starttls)
	g.Conn.SetDeadline(time.Now().Add(lineTimeout))
	err = tc.Handshake()
	g.Conn.SetReadDeadline(g.deadline)
	g.Conn.SetWriteDeadline(time.Time{})
	if err != nil {
		g.log.Debug("imap starttls failed", "remote", g.RemoteAddr().String(), "err", err)
		g.Conn.Close()
		return net.ErrClosed
	}
	g.mu.Lock()
	g.tc = tc
	g.mu.Unlock()
	g.in = bufio.NewReaderSize(tc, 1024)
	return nil
}

// readerConn is a connection that reads from r.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// refuseCommand answers the command under way BAD, which ends it.
func (g *guardConn) refuseCommand(reason string) error {
	err := g.refuse(reason)
	g.cmd = command{}
	return err
}

// dropLiteral reads and drops a refused non-synchronizing literal,
// which the client sends unasked, and the rest of its command; past
// maxDropLiteral it ends the connection instead.
func (g *guardConn) dropLiteral(n int64) error {
	if n > maxDropLiteral {
		return g.bye(fmt.Sprintf("Refused a non-synchronizing literal of %d bytes", n))
	}
	g.drop, g.lit = true, n
	return nil
}

// refuse answers the command under way BAD itself; go-imap never sees
// it.
func (g *guardConn) refuse(reason string) error {
	tag := g.cmd.tag
	if tag == "" {
		tag = "*"
	}
	g.log.Debug("imap bad command", "remote", g.RemoteAddr().String(), "tag", tag, "command", g.cmd.name, "reason", reason)
	g.mu.Lock()
	defer g.mu.Unlock()
	g.Conn.SetWriteDeadline(time.Now().Add(lineTimeout))
	defer g.Conn.SetWriteDeadline(time.Time{})
	_, err := io.WriteString(g.writer(), tag+" BAD [CLIENTBUG] "+reason+"\r\n")
	return err
}

// bye ends the connection over a mistake found when go-imap already has
// part of the command.
func (g *guardConn) bye(reason string) error {
	g.log.Debug("imap bad command", "remote", g.RemoteAddr().String(), "tag", g.cmd.tag, "command", g.cmd.name,
		"reason", reason, "action", "bye")
	g.mu.Lock()
	g.Conn.SetWriteDeadline(time.Now().Add(lineTimeout))
	io.WriteString(g.writer(), "* BYE "+reason+"\r\n")
	g.mu.Unlock()
	g.Conn.Close()
	return net.ErrClosed
}

// literalMarker finds a literal marker ("{N}" or "{N+}", RFC 7888) that
// ends a line, as go-imap's decoder reads one (a space before the CRLF,
// or a bare LF, pass).
func literalMarker(b []byte) (n int64, sync, ok bool) {
	b = bytes.TrimSuffix(b, []byte("\n"))
	b = bytes.TrimSuffix(b, []byte("\r"))
	b = bytes.TrimSuffix(b, []byte(" "))
	if !bytes.HasSuffix(b, []byte("}")) {
		return 0, false, false
	}
	i := bytes.LastIndexByte(b, '{')
	if i < 0 {
		return 0, false, false
	}
	num := b[i+1 : len(b)-1]
	sync = true
	if rest, ok := bytes.CutSuffix(num, []byte("+")); ok {
		num, sync = rest, false
	}
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(num), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, sync, true
}

// commandName is the tag and the command name (two words for UID ...)
// of a command line, upper-case.
func commandName(b []byte) (tag, name string) {
	f := strings.Fields(string(b[:min(len(b), 64)]))
	if len(f) > 0 && validTag(f[0]) {
		tag = f[0]
	}
	if len(f) > 1 {
		name = strings.ToUpper(f[1])
	}
	if name == "UID" && len(f) > 2 {
		name += " " + strings.ToUpper(f[2])
	}
	return tag, name
}

// validTag reports whether s can be the tag of an answer (RFC 3501
// tag: ASTRING-CHAR but "+").
func validTag(s string) bool {
	if s == "" || len(s) > 60 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= ' ' || c >= 0x7f, c == '(', c == ')', c == '{', c == '%', c == '*', c == '"', c == '\\', c == '+':
			return false
		}
	}
	return true
}

// scan adds a line to the command's size and nesting, and reports when
// they go past the limits.
func (c *command) scan(b []byte) string {
	c.size += len(b)
	if c.size > maxCommandLine {
		return fmt.Sprintf("Command too long (the limit is %d bytes, literals aside)", maxCommandLine)
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case '"':
			c.quoted = !c.quoted
		case '\\':
			if c.quoted {
				i++
			}
		case '(':
			if !c.quoted {
				c.depth++
				if c.depth > maxNesting {
					return fmt.Sprintf("Parentheses nested too deep (the limit is %d)", maxNesting)
				}
			}
		case ')':
			if !c.quoted && c.depth > 0 {
				c.depth--
			}
		}
	}
	return ""
}

// token is a word of a command line: an atom, a quoted string (its
// text unquoted), a parenthesis, or a literal (its text unknown).
type token struct {
	kind byte // 'a', 'q', '(', ')', 'l'
	text string
}

// tokens splits a command line as far as it can be checked: up to a
// literal (which ends it), or to a quoted string left open.
func tokens(b []byte) []token {
	b = bytes.TrimRight(b, "\r\n")
	var out []token
	for i := 0; i < len(b); {
		switch c := b[i]; c {
		case ' ':
			i++
		case '(', ')':
			out = append(out, token{kind: c})
			i++
		case '"':
			var s strings.Builder
			j := i + 1
			for ; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' && j+1 < len(b) {
					j++
				}
				s.WriteByte(b[j])
			}
			if j == len(b) {
				return out // left open: go-imap reads on
			}
			out = append(out, token{kind: 'q', text: s.String()})
			i = j + 1
		case '{':
			return append(out, token{kind: 'l'})
		default:
			j := i
			for j < len(b) && b[j] != ' ' && b[j] != '(' && b[j] != ')' && b[j] != '"' && b[j] != '{' {
				j++
			}
			out = append(out, token{kind: 'a', text: string(b[i:j])})
			i = j
		}
	}
	return out
}

// check reads the first line of a command for what go-imap would fail
// on with a plain error, and returns why it is wrong ("" when it finds
// nothing). It errs on the side of passing: what it does not follow,
// go-imap judges.
func check(b []byte) string {
	t := tokens(b)
	if len(t) < 2 || t[1].kind != 'a' {
		return ""
	}
	name, args := strings.ToUpper(t[1].text), t[2:]
	if name == "UID" {
		if len(args) == 0 || args[0].kind != 'a' {
			return ""
		}
		name, args = strings.ToUpper(args[0].text), args[1:]
		if name == "EXPUNGE" {
			return checkSet(args)
		}
	}
	switch name {
	case "FETCH", "STORE":
		return checkSet(args)
	case "COPY", "MOVE":
		if r := checkSet(args); r != "" || len(args) == 0 {
			return r
		}
		return checkMailboxes(args[1:])
	case "SEARCH":
		return checkSearch(args)
	case "SELECT", "EXAMINE", "CREATE", "DELETE", "RENAME", "SUBSCRIBE", "UNSUBSCRIBE", "STATUS", "LIST", "LSUB":
		return checkMailboxes(args)
	case "APPEND":
		if r := checkMailboxes(args[:min(1, len(args))]); r != "" {
			return r
		}
		return checkAppendDate(args)
	case "AUTHENTICATE":
		return checkSASL(b)
	}
	return ""
}

// checkSet checks the sequence set that starts args.
func checkSet(args []token) string {
	if len(args) == 0 || args[0].kind != 'a' {
		return ""
	}
	return setReason(args[0].text)
}

func setReason(s string) string {
	if validSet(s) {
		return ""
	}
	return fmt.Sprintf("Invalid sequence set %q: numbers are 1 to 4294967295 or *, in ranges a:b, separated by commas", clip(s))
}

// validSet reports whether s is a sequence set go-imap reads: "$", or
// numbers (1 to 2^32-1, no leading zero) and "*", alone or in ranges,
// separated by commas (RFC 9051 sequence-set).
func validSet(s string) bool {
	if s == "$" {
		return true
	}
	for _, r := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(r, ":")
		if !validSeqNum(lo) || (isRange && !validSeqNum(hi)) {
			return false
		}
	}
	return true
}

func validSeqNum(s string) bool {
	if s == "*" {
		return true
	}
	if s == "" || s[0] == '0' {
		return false
	}
	_, err := strconv.ParseUint(s, 10, 32)
	return err == nil
}

// searchArgs is how many arguments each SEARCH key of go-imap takes
// (RFC 9051 search-key); UID, dates, NOT and OR are checked apart.
var searchArgs = map[string]int{
	"ALL": 0, "ANSWERED": 0, "DELETED": 0, "DRAFT": 0, "FLAGGED": 0, "RECENT": 0, "SEEN": 0,
	"UNANSWERED": 0, "UNDELETED": 0, "UNDRAFT": 0, "UNFLAGGED": 0, "UNSEEN": 0, "NEW": 0, "OLD": 0, "$": 0,
	"KEYWORD": 1, "UNKEYWORD": 1, "BCC": 1, "CC": 1, "FROM": 1, "SUBJECT": 1, "TO": 1, "BODY": 1, "TEXT": 1,
	"LARGER": 1, "SMALLER": 1, "HEADER": 2,
}

var searchDates = map[string]bool{"SINCE": true, "BEFORE": true, "ON": true, "SENTSINCE": true, "SENTBEFORE": true, "SENTON": true}

// checkSearch follows SEARCH's keys as go-imap reads them.
func checkSearch(t []token) string {
	i := 0
	if i < len(t) && t[i].kind == 'a' && strings.EqualFold(t[i].text, "RETURN") {
		i++
		if i >= len(t) || t[i].kind != '(' {
			return ""
		}
		for i < len(t) && t[i].kind != ')' {
			i++
		}
		i++
	}
	if i < len(t) && t[i].kind == 'a' && strings.EqualFold(t[i].text, "CHARSET") {
		i += 2
	}
	for i < len(t) {
		var reason string
		if i, reason = searchKey(t, i); reason != "" || i < 0 {
			return reason
		}
	}
	return ""
}

// searchKey checks the key at t[i] and returns where the next begins
// (-1: it cannot tell).
func searchKey(t []token, i int) (int, string) {
	if i >= len(t) {
		return -1, ""
	}
	switch t[i].kind {
	case '(':
		i++
		for i < len(t) && t[i].kind != ')' {
			var reason string
			if i, reason = searchKey(t, i); reason != "" || i < 0 {
				return i, reason
			}
		}
		return i + 1, ""
	case 'a':
	default:
		return -1, ""
	}
	key := strings.ToUpper(t[i].text)
	i++
	if n, ok := searchArgs[key]; ok {
		for range n {
			if i >= len(t) || (t[i].kind != 'a' && t[i].kind != 'q') {
				return -1, ""
			}
			i++
		}
		return i, ""
	}
	switch {
	case key == "UID":
		if i < len(t) && t[i].kind == 'a' {
			return i + 1, setReason(t[i].text)
		}
		return -1, ""
	case searchDates[key]:
		if i < len(t) && (t[i].kind == 'a' || t[i].kind == 'q') {
			if _, err := time.Parse("2-Jan-2006", t[i].text); err != nil {
				return i, fmt.Sprintf("Invalid date %q for %s: the form is 2-Jan-2006", clip(t[i].text), key)
			}
			return i + 1, ""
		}
		return -1, ""
	case key == "NOT":
		return searchKey(t, i)
	case key == "OR":
		i, reason := searchKey(t, i)
		if reason != "" || i < 0 {
			return i, reason
		}
		return searchKey(t, i)
	}
	if validSet(key) {
		return i, ""
	}
	return i, fmt.Sprintf("Unknown search key %q", clip(t[i-1].text))
}

// checkMailboxes checks the atoms and strings of a command that takes
// mailbox names: go-imap decodes every name from modified UTF-7 (RFC
// 3501 section 5.1.3), and the command's other words are ASCII.
func checkMailboxes(t []token) string {
	for _, tok := range t {
		name := tok.text
		if tok.kind == 'a' {
			// go-imap's atom ends at a control character, which
			// includes bytes 0x80 to 0x9f: it may cut UTF-8 short.
			for i := 0; i < len(name); i++ {
				if c := name[i]; !isAtomChar(c) && c != '%' && c != '*' && c != ']' {
					name = name[:i]
					break
				}
			}
		}
		if (tok.kind == 'a' || tok.kind == 'q') && !validMUTF7(name) {
			return fmt.Sprintf("Invalid mailbox name %q: names are modified UTF-7 or UTF-8", clip(tok.text))
		}
	}
	return ""
}

// checkAppendDate checks APPEND's date-time, when it has one.
func checkAppendDate(t []token) string {
	i := 1
	if i < len(t) && t[i].kind == '(' {
		for i < len(t) && t[i].kind != ')' {
			i++
		}
		i++
	}
	if i < len(t) && t[i].kind == 'q' {
		if _, err := time.Parse("_2-Jan-2006 15:04:05 -0700", t[i].text); err != nil {
			return fmt.Sprintf("Invalid date-time %q: the form is \"2-Jan-2006 15:04:05 -0700\"", clip(t[i].text))
		}
	}
	return ""
}

// checkSASL checks AUTHENTICATE's initial response (RFC 4959): "=" or
// base64, the rest of the line after the mechanism and a space (or
// before a parenthesis: go-imap takes a space before one as optional).
func checkSASL(b []byte) string {
	b = bytes.TrimRight(b, "\r\n")
	for range 2 { // the tag and AUTHENTICATE
		i := bytes.IndexByte(b, ' ')
		if i < 0 {
			return ""
		}
		b = b[i+1:]
	}
	i := 0
	for i < len(b) && isAtomChar(b[i]) {
		i++
	}
	ir := b[i:]
	switch {
	case bytes.HasPrefix(ir, []byte(" ")):
		ir = ir[1:]
	case bytes.HasPrefix(ir, []byte("(")):
	default:
		return ""
	}
	if len(ir) == 0 || string(ir) == "=" {
		return ""
	}
	if _, err := base64.StdEncoding.DecodeString(string(ir)); err != nil {
		return "Invalid SASL initial response: not base64"
	}
	return ""
}

// clip shortens what a client sent for a reason it is given back.
func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// isAtomChar is go-imap's ATOM-CHAR (RFC 3501), which also ends at a
// byte from 0x80 to 0x9f.
func isAtomChar(c byte) bool {
	switch c {
	case '(', ')', '{', ' ', '%', '*', '"', '\\', ']':
		return false
	}
	return c >= 0x20 && (c < 0x7f || c > 0x9f)
}

// mutf7 is modified base64 (RFC 3501 section 5.1.3: "," for "/").
var mutf7 = base64.NewEncoding("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,").WithPadding(base64.NoPadding)

// validMUTF7 reports whether go-imap decodes s as a mailbox name:
// UTF-8, printable ASCII but for "&", which begins "&-" or a modified
// base64 run of UTF-16 ended by "-", holding no printable ASCII, never
// two runs in a row.
func validMUTF7(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	afterRun := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f {
			return false
		}
		if c != '&' {
			afterRun = false
			continue
		}
		j := strings.IndexByte(s[i+1:], '-')
		if j < 0 {
			return false
		}
		run := s[i+1 : i+1+j]
		i += 1 + j
		if run == "" {
			afterRun = false
			continue
		}
		if afterRun || !validUTF16Run(run) {
			return false
		}
		afterRun = true
	}
	return true
}

func validUTF16Run(run string) bool {
	if strings.ContainsAny(run, "\r\n=") {
		return false
	}
	b, err := mutf7.DecodeString(run)
	if err != nil || len(b)%2 == 1 || len(b) == 0 {
		return false
	}
	for i := 0; i < len(b); i += 2 {
		r := rune(b[i])<<8 | rune(b[i+1])
		switch {
		case utf16.IsSurrogate(r):
			i += 2
			if i == len(b) {
				return false
			}
			if utf16.DecodeRune(r, rune(b[i])<<8|rune(b[i+1])) == utf8.RuneError {
				return false
			}
		case r >= 0x20 && r <= 0x7e:
			return false
		}
	}
	return true
}
