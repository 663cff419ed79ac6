package imapd

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-sasl"

	"patchwell/access"
	"patchwell/internal/connlimit"
	"patchwell/store"
)

// delim separates a list's name from its patches mailbox (NAME/patches).
const delim = '/'

// inbox is the empty INBOX every IMAP account has: clients expect one.
const inbox = "INBOX"

// inboxValidity is INBOX's UIDVALIDITY: it never holds a message.
const inboxValidity = 1

// mailboxFlags are the flags a message may carry in a session.
var mailboxFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft}

// errReadOnly answers every command that would change the archive.
func errReadOnly(what string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: what + ": the archive is read-only (send mail to the list to add to it)"}
}

var errNoMailbox = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent, Text: "No such mailbox"}

// session is one connection's state. It holds the client's view of the
// selected mailbox (a slice of the shared index, never copied), the
// flags it set, and the roles it was found to have.
type session struct {
	s      *Server
	conn   *imapserver.Conn
	ip     string
	ctx    context.Context // ends with the session
	cancel context.CancelFunc

	user  *store.User // nil: anonymous
	roles map[string]string

	box      *mailbox
	list     *store.List
	uids     []uint32 // seq n is uids[n-1]
	readOnly bool
	flags    sessionFlags
}

func (s *Server) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	ss := &session{s: s, conn: c, ip: connlimit.HostOnly(c.NetConn().RemoteAddr())}
	ss.ctx, ss.cancel = context.WithCancel(s.ctx)
	s.mu.Lock()
	if s.sessions == nil {
		s.sessions = map[*session]struct{}{}
	}
	s.sessions[ss] = struct{}{}
	s.mu.Unlock()
	if s.cfg.Observe != nil {
		return timedSession{session: ss, observe: s.cfg.Observe}, nil, nil
	}
	return ss, nil, nil
}

var _ imapserver.SessionIMAP4rev2 = (*session)(nil)
var _ imapserver.SessionSASL = (*session)(nil)
var _ imapserver.SessionAppendLimit = (*session)(nil)
var _ imapserver.SessionIMAP4rev2 = timedSession{}
var _ imapserver.SessionSASL = timedSession{}
var _ imapserver.SessionAppendLimit = timedSession{}

func (ss *session) Close() error {
	ss.cancel()
	ss.s.mu.Lock()
	delete(ss.s.sessions, ss)
	ss.s.mu.Unlock()
	return nil
}

var errServerBug = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeServerBug,
	Text: "Internal server error"}

// fault is where a command's error becomes its answer: an *imap.Error
// is the answer; a client gone (or the server closing) ends the command
// quietly; anything else is a fault of ours, logged here with the
// connection (go-imap would log it without) and answered NO [SERVERBUG].
func (ss *session) fault(command string, err *error) {
	if *err == nil {
		return
	}
	var ie *imap.Error
	if errors.As(*err, &ie) {
		*err = ie
		return
	}
	var ne net.Error
	if ss.ctx.Err() != nil || errors.As(*err, &ne) || errors.Is(*err, net.ErrClosed) ||
		errors.Is(*err, syscall.EPIPE) || errors.Is(*err, syscall.ECONNRESET) {
		*err = errGone
		return
	}
	user := ""
	if ss.user != nil {
		user = ss.user.Email
	}
	ss.s.log.Error("imap command failed", "remote", ss.conn.NetConn().RemoteAddr().String(),
		"user", user, "command", command, "err", *err)
	*err = errServerBug
}

// peerCheck is how often a long command looks whether its client is
// still there.
const peerCheck = 50 * time.Millisecond

// watchPeer returns a context that ends when the client hangs up or the
// session ends, for a command that may work long (FETCH of bodies):
// nothing reads the connection while a command runs, so a goroutine
// looks at it every peerCheck. The end of the client's stream alone does
// not end the command (a client may shut down only its sending side and
// still read, as nc -N does): what was gathered for it is sent, and a
// client that closed answers that with a reset, which does. stop ends
// the watch.
func (ss *session) watchPeer() (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancel(ss.ctx)
	lc := corkable(ss.conn.NetConn())
	if lc == nil {
		return ctx, cancel
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(peerCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				eof, reset := peekPeer(lc.Conn)
				if eof && !reset {
					reset = lc.flush() != nil
				}
				if reset {
					cancel()
					return
				}
			}
		}
	}()
	return ctx, func() {
		close(done)
		cancel()
	}
}

// Login signs in. A user name that is an e-mail address is an account
// login (password or API token), needed for private lists, and must be
// right; any other name (say "anonymous") reads public lists with any
// password, as on public-inbox-imapd.
func (ss *session) Login(username, password string) (err error) {
	defer ss.fault("LOGIN", &err)
	if !strings.Contains(username, "@") {
		return nil
	}
	if ss.s.failures.blocked(connlimit.Network(ss.ip)) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
			Text: "Too many failed logins from your address, try again later"}
	}
	nc := ss.conn.NetConn()
	if !tlsState(nc) && !isLoopback(nc.RemoteAddr()) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodePrivacyRequired,
			Text: "Account logins need TLS (STARTTLS or imaps); log in as anonymous to read public lists"}
	}
	if ss.s.acc == nil {
		return imapserver.ErrAuthFailed
	}
	// An API token works as the password of its owner. It is tried
	// first: as a password it would count as a wrong one, and slow the
	// account's sign-ins (review.Accounts.Authenticate).
	u, err := ss.s.acc.TokenUser(ss.ctx, password)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if u != nil && !strings.EqualFold(u.Email, username) {
		u = nil
	}
	if u == nil {
		u, err = ss.s.acc.Authenticate(ss.ctx, username, password)
		if err != nil && !errors.Is(err, store.ErrBadCredentials) {
			return err
		}
	}
	if u == nil {
		ss.s.failures.add(connlimit.Network(ss.ip))
		return imapserver.ErrAuthFailed
	}
	ss.user = u
	return nil
}

// live is asked before every command that reads the archive: a session
// signed in to an account that was disabled (or deleted) since is ended
// with BYE there and then, not at its next login. The user is read
// again (review.Accounts.ActiveUser, the check sessions and tokens get
// on the web), so a change of the admin flag counts at once too.
func (ss *session) live() error {
	if ss.user == nil {
		return nil
	}
	u, err := ss.s.acc.ActiveUser(ss.ctx, ss.user.ID)
	if errors.Is(err, store.ErrNotFound) {
		ss.s.log.Info("imap session ended: account disabled", "user", ss.user.Email, "remote", ss.ip)
		ss.user, ss.roles = nil, nil
		ss.Unselect()
		_ = ss.conn.Bye("Account disabled")
		return &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Account disabled"}
	}
	if err != nil {
		return err
	}
	ss.user = u
	return nil
}

// AuthenticateMechanisms offers ANONYMOUS besides LOGIN and PLAIN.
func (ss *session) AuthenticateMechanisms() []string { return []string{sasl.Anonymous, sasl.Plain} }

func (ss *session) Authenticate(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Anonymous:
		return sasl.NewAnonymousServer(func(trace string) error { return nil }), nil
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return imapserver.ErrAuthFailed
			}
			return ss.Login(username, password)
		}), nil
	}
	return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Unsupported mechanism"}
}

// subject is the session as access sees it for list l.
func (ss *session) subject(l *store.List) access.Subject {
	if ss.user == nil {
		return access.Subject{}
	}
	sub := access.Subject{User: ss.user, Admin: ss.user.Admin}
	if ss.s.acc != nil {
		if ss.roles == nil {
			ss.roles = map[string]string{}
		}
		role, ok := ss.roles[l.Name]
		if !ok {
			role, _ = ss.s.acc.Role(ss.ctx, ss.user.ID, l.Name)
			ss.roles[l.Name] = role
		}
		sub.Role = role
	}
	return sub
}

// resolve finds the list behind a mailbox name the session may read; a
// private list it may not read does not exist.
func (ss *session) resolve(name string) (*store.List, bool, error) {
	listName, patches := name, false
	if base, ok := strings.CutSuffix(name, string(delim)+"patches"); ok {
		listName, patches = base, true
	}
	l, err := ss.s.st.ListInfo(ss.ctx, listName)
	if errors.Is(err, store.ErrNotFound) || errors.Is(err, store.ErrBadName) {
		return nil, false, errNoMailbox
	}
	if err != nil {
		return nil, false, err
	}
	if !access.Allowed(ss.subject(l), l, access.Read) {
		return nil, false, errNoMailbox
	}
	return l, patches, nil
}

func isInbox(name string) bool { return strings.EqualFold(name, inbox) }

func (ss *session) Select(name string, options *imap.SelectOptions) (_ *imap.SelectData, err error) {
	defer ss.fault("SELECT", &err)
	if err := ss.live(); err != nil {
		return nil, err
	}
	ss.Unselect()
	data := &imap.SelectData{Flags: mailboxFlags, PermanentFlags: []imap.Flag{}}
	if isInbox(name) {
		data.UIDNext, data.UIDValidity = 1, inboxValidity
		ss.readOnly = options.ReadOnly
		return data, nil
	}
	l, patches, err := ss.resolve(name)
	if err != nil {
		return nil, err
	}
	box, err := ss.s.hub.open(ss.ctx, l, patches)
	if err != nil {
		return nil, err
	}
	ss.box, ss.list, ss.readOnly = box, l, options.ReadOnly
	ss.uids, _ = box.view()
	ss.flags = sessionFlags{}
	data.NumMessages = uint32(len(ss.uids))
	data.UIDNext = uidNext(ss.uids)
	data.UIDValidity = l.UIDValidity
	return data, nil
}

// uidNext is the UID the next message of the mailbox will have at least.
func uidNext(uids []uint32) imap.UID {
	if len(uids) == 0 {
		return 1
	}
	return imap.UID(uids[len(uids)-1] + 1)
}

func (ss *session) Unselect() error {
	ss.box, ss.list, ss.uids, ss.flags = nil, nil, nil, nil
	return nil
}

func (ss *session) Create(string, *imap.CreateOptions) error { return errReadOnly("CREATE") }
func (ss *session) Delete(string) error                      { return errReadOnly("DELETE") }
func (ss *session) Rename(string, string, *imap.RenameOptions) error {
	return errReadOnly("RENAME")
}

// Subscribe and Unsubscribe succeed without effect: every mailbox counts
// as subscribed, and clients that subscribe should not fail.
func (ss *session) Subscribe(name string) (err error) {
	defer ss.fault("SUBSCRIBE", &err)
	if err := ss.live(); err != nil {
		return err
	}
	if isInbox(name) {
		return nil
	}
	_, _, err = ss.resolve(name)
	return err
}
func (ss *session) Unsubscribe(string) error { return nil }

func (ss *session) Append(string, imap.LiteralReader, *imap.AppendOptions) (*imap.AppendData, error) {
	return nil, errReadOnly("APPEND")
}

// AppendLimit makes go-imap refuse a big APPEND before the client sends
// its literal (a 100 MB one is answered NO at once).
func (ss *session) AppendLimit() uint32 { return 64 << 10 }

func (ss *session) Expunge(*imapserver.ExpungeWriter, *imap.UIDSet) error {
	return errReadOnly("EXPUNGE")
}
func (ss *session) Copy(imap.NumSet, string) (*imap.CopyData, error) {
	return nil, errReadOnly("COPY")
}
func (ss *session) Move(*imapserver.MoveWriter, imap.NumSet, string) error {
	return errReadOnly("MOVE")
}

func (ss *session) Namespace() (*imap.NamespaceData, error) {
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

// mailboxesOf lists the mailboxes the session may see: INBOX, and for
// each list it may see, NAME and NAME/patches.
func (ss *session) mailboxes() ([]string, map[string]*store.List, error) {
	lists, err := ss.s.st.Lists(ss.ctx)
	if err != nil {
		return nil, nil, err
	}
	names := []string{inbox}
	byName := map[string]*store.List{}
	for i := range lists {
		l := &lists[i]
		if !access.Listed(ss.subject(l), l) {
			continue
		}
		names = append(names, l.Name, l.Name+string(delim)+"patches")
		byName[l.Name], byName[l.Name+string(delim)+"patches"] = l, l
	}
	return names, byName, nil
}

func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) (err error) {
	defer ss.fault("LIST", &err)
	if err := ss.live(); err != nil {
		return err
	}
	if len(patterns) == 1 && patterns[0] == "" {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	names, byName, err := ss.mailboxes()
	if err != nil {
		return err
	}
	for _, name := range names {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(name, delim, ref, p) {
				match = true
				break
			}
		}
		if !match {
			continue
		}
		data := &imap.ListData{Delim: delim, Mailbox: name}
		switch l := byName[name]; {
		case l != nil && l.Name == name:
			data.Attrs = []imap.MailboxAttr{imap.MailboxAttrHasChildren}
		default:
			data.Attrs = []imap.MailboxAttr{imap.MailboxAttrHasNoChildren}
		}
		if options.SelectSubscribed || options.ReturnSubscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			if data.Status, err = ss.status(name, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func (ss *session) Status(name string, options *imap.StatusOptions) (_ *imap.StatusData, err error) {
	defer ss.fault("STATUS", &err)
	if err := ss.live(); err != nil {
		return nil, err
	}
	return ss.status(name, options)
}

// status is STATUS, also for LIST-STATUS.
func (ss *session) status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	data := &imap.StatusData{Mailbox: name}
	var uids []uint32
	var box *mailbox
	if isInbox(name) {
		data.UIDValidity = inboxValidity
	} else {
		l, patches, err := ss.resolve(name)
		if err != nil {
			return nil, err
		}
		if box, err = ss.s.hub.open(ss.ctx, l, patches); err != nil {
			return nil, err
		}
		uids, _ = box.view()
		data.UIDValidity = l.UIDValidity
	}
	n := uint32(len(uids))
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.UIDNext {
		data.UIDNext = uidNext(uids)
	}
	if options.NumUnseen {
		unseen := n
		if box != nil && box == ss.box {
			unseen -= uint32(ss.countFlag(imap.FlagSeen))
		}
		data.NumUnseen = &unseen
	}
	if options.NumDeleted {
		zero := uint32(0)
		data.NumDeleted = &zero
	}
	if options.NumRecent {
		zero := uint32(0)
		data.NumRecent = &zero
	}
	if options.Size {
		var size int64
		if box != nil {
			var err error
			if size, err = ss.s.st.MailboxSize(ss.ctx, box.listID, box.kinds()); err != nil {
				return nil, err
			}
		}
		data.Size = &size
	}
	return data, nil
}

// countFlag counts the messages of the view carrying fl.
func (ss *session) countFlag(fl imap.Flag) int {
	n := 0
	for _, sp := range ss.flags[fl] {
		lo := sort.Search(len(ss.uids), func(i int) bool { return ss.uids[i] >= sp.lo })
		hi := sort.Search(len(ss.uids), func(i int) bool { return ss.uids[i] > sp.hi })
		n += hi - lo
	}
	return n
}

// Poll tells the client about messages that arrived since it last heard.
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if ss.box == nil {
		return nil
	}
	uids, _ := ss.box.view()
	if len(uids) > len(ss.uids) {
		ss.uids = uids
		return w.WriteNumMessages(uint32(len(uids)))
	}
	return nil
}

// Idle waits on the mailbox's change channel, which the hub's single
// watcher closes when mail arrives: no goroutine or poll per session.
func (ss *session) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	for {
		if err := ss.live(); err != nil {
			return err
		}
		var changed <-chan struct{}
		if ss.box != nil {
			var uids []uint32
			uids, changed = ss.box.view()
			if len(uids) > len(ss.uids) {
				ss.uids = uids
				if err := w.WriteNumMessages(uint32(len(uids))); err != nil {
					return err
				}
			}
		}
		select {
		case <-stop:
			return nil
		case <-changed:
		case <-ss.s.ctx.Done():
			return nil
		}
	}
}

// spans turns a sequence or UID set into index ranges [lo, hi] of the
// session's view, in order, merged. A UID range past the last message
// holds the last one when it uses "*", as RFC 3501 says.
func (ss *session) spans(numSet imap.NumSet) ([][2]int, error) {
	n := len(ss.uids)
	var out [][2]int
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			star := r.Start == 0 || r.Stop == 0
			lo, hi := r.Start, r.Stop
			if lo == 0 {
				lo = uint32(n)
			}
			if hi == 0 {
				hi = uint32(n)
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			if int(hi) > n && !star {
				return nil, &imap.Error{Type: imap.StatusResponseTypeBad,
					Text: fmt.Sprintf("No such message: %v (the mailbox has %d)", set, n)}
			}
			hi = min(hi, uint32(n))
			if lo >= 1 && lo <= hi {
				out = append(out, [2]int{int(lo) - 1, int(hi) - 1})
			}
		}
	case imap.UIDSet:
		if n == 0 {
			return nil, nil
		}
		last := ss.uids[n-1]
		for _, r := range set {
			lo, hi := uint32(r.Start), uint32(r.Stop)
			if lo == 0 {
				lo = last
			}
			if hi == 0 {
				hi = last
			}
			if lo > hi {
				lo, hi = hi, lo
			}
			i := sort.Search(n, func(i int) bool { return ss.uids[i] >= lo })
			j := sort.Search(n, func(i int) bool { return ss.uids[i] > hi })
			if i < j {
				out = append(out, [2]int{i, j - 1})
			}
		}
	default:
		return nil, fmt.Errorf("imapd: unknown number set %T", numSet)
	}
	sort.Slice(out, func(i, j int) bool { return out[i][0] < out[j][0] })
	merged := out[:0]
	for _, r := range out {
		if k := len(merged); k > 0 && r[0] <= merged[k-1][1]+1 {
			merged[k-1][1] = max(merged[k-1][1], r[1])
			continue
		}
		merged = append(merged, r)
	}
	return merged, nil
}

// seqOf is the sequence number of uid in the view, 0 if absent.
func (ss *session) seqOf(uid uint32) uint32 {
	i := sort.Search(len(ss.uids), func(i int) bool { return ss.uids[i] >= uid })
	if i < len(ss.uids) && ss.uids[i] == uid {
		return uint32(i + 1)
	}
	return 0
}

func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if err := ss.live(); err != nil {
		return err
	}
	if ss.box == nil {
		return nil
	}
	idx, err := ss.spans(numSet)
	if err != nil {
		return err
	}
	var sp []span
	for _, r := range idx {
		sp = append(sp, span{ss.uids[r[0]], ss.uids[r[1]]})
	}
	if !ss.flags.apply(flags.Op, flags.Flags, sp) {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeLimit,
			Text: fmt.Sprintf("At most %d distinct flags per session", maxSessionFlags)}
	}
	if flags.Silent {
		return nil
	}
	_, isUID := numSet.(imap.UIDSet)
	for _, r := range idx {
		for i := r[0]; i <= r[1]; i++ {
			uid := ss.uids[i]
			m := w.CreateMessage(uint32(i + 1))
			if isUID {
				m.WriteUID(imap.UID(uid))
			}
			m.WriteFlags(ss.flags.of(uid))
			if err := m.Close(); err != nil {
				return err
			}
		}
	}
	return nil
}

// now is the clock, for tests.
var now = time.Now
