// Package lists is the mailing list: what happens to mail sent to a
// list's addresses once SMTP has it.
//
//   - NAME@DOMAIN is a post. It is checked (mail loops, the list's deny
//     and allow rules, its posting policy, DMARC), then archived and, in
//     the same transaction, queued to every active subscriber (Outbox);
//     or held for a moderator (stored apart, never lost, not archived or
//     shown as a series until approved); or refused with an SMTP error
//     that says why. Auto-replies and bulk mail (Auto-Submitted,
//     Precedence: bulk/junk/list) are archived but not redistributed.
//   - NAME+subscribe@ and NAME+unsubscribe@ ask for a confirmation sent
//     to the From address; replying to NAME+confirm-TOKEN@ (or opening
//     the web link in it) does it. NAME+help@ answers with how the list
//     works; NAME+owner@ reaches the owners; NAME+bounces-...@ takes
//     delivery status notifications for the VERP addresses the outbound
//     queue sends from, and disables a subscriber after DisableAfter hard
//     bounces (telling the owners).
//   - A reply to a series with an X-Patchwell-Status header (set the
//     status), X-Patchwell-Delegate: ADDRESS or none (delegate it to a
//     maintainer of the list, or to nobody) or X-Patchwell-Apply: yes
//     (apply it to the list's
//     repository through the Applier cmd wires, as the web does) is a
//     maintainer command: obeyed only when the sender has a maintainer
//     or owner role on the list and the message carries a passing DKIM
//     signature aligned with its From domain (DMARC pass through DKIM);
//     otherwise it is an ordinary reply and the reason is kept with it.
//     Either way the sender gets a reply saying what was done or why not.
//
// Everything the list writes (confirmations, help, notices, command
// results) leaves through the Outbox, like posts.
package lists

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"time"

	"github.com/emersion/go-smtp"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/review"
	"patchwell/store"
)

// Envelope is what SMTP said about a message.
type Envelope struct {
	MailFrom string // envelope sender ("" for bounces)
	Remote   string // client IP address, host:port
	Helo     string
	Received time.Time
}

// Auth is the authentication verdict on a message (package mailauth
// computes it; cmd adapts).
type Auth struct {
	DMARC       string   // pass, fail, none, temperror, permerror
	DMARCPolicy string   // the From domain's p=: none, quarantine, reject ("" for no record)
	DKIMAligned bool     // a DKIM signature aligned with the From domain passed
	FromDomain  string   // lower case
	SignedBy    []string // domains with a passing DKIM signature
	Header      string   // an Authentication-Results value, for the log
}

// Outbox is how the list sends the mail it writes (notices, answers to
// commands); posts go to the subscribers through the Ingester.
type Outbox interface {
	// Send queues a message the list writes to the given recipients.
	Send(ctx context.Context, list string, rcpts []string, raw []byte) error
}

// Config wires the list server.
type Config struct {
	Domain string // lists are NAME@Domain
	WebURL string // e.g. https://lists.example.org (no trailing slash), for links
	// Verify checks authentication; nil skips it (no DMARC checks, no
	// maintainer commands by mail).
	Verify func(ctx context.Context, raw []byte, env Envelope) *Auth
	// ParseVERP decodes the part after "bounces-" of a VERP address into
	// the subscriber it was sent to; ParseDSN reads a delivery status
	// notification.
	ParseVERP func(detail string) (rcpt string, ok bool)
	ParseDSN  func(raw []byte) (rcpt string, hard bool, ok bool)
	// DisableAfter hard bounces disable a subscriber (default 5).
	DisableAfter int
	// ConfirmTTL is how long a confirmation link works (default 3 days).
	ConfirmTTL time.Duration
	// Apply applies series for the X-Patchwell-Apply command; nil
	// answers that this server does not apply series by mail.
	Apply Applier
	// ApplyTimeout bounds one apply by mail (default 5 minutes).
	ApplyTimeout time.Duration
}

// Store is what the list server needs of the store: the mailing list's
// own data (store.MailingList) and a few lookups.
type Store interface {
	// Subscriptions, confirmations and bounces.
	Subscribe(ctx context.Context, list, email, name, state string) error
	Unsubscribe(ctx context.Context, list, email string) error
	Subscriber(ctx context.Context, list, email string) (*store.Subscriber, error)
	AddSubConfirmation(ctx context.Context, hash []byte, list, email, action string, expires time.Time) error
	TakeSubConfirmation(ctx context.Context, hash []byte, now time.Time) (list, email, action string, err error)
	AddBounce(ctx context.Context, list, email string, disableAt int) (*store.Subscriber, error)

	// Posting policy, moderation, authentication results.
	Policy(ctx context.Context, list string) (*store.ListPolicy, error)
	Hold(ctx context.Context, h *store.Held) (int64, error)
	HeldMessage(ctx context.Context, id int64) (*store.Held, error)
	DecideHeld(ctx context.Context, id int64, state, by string, at time.Time) error
	ListOwners(ctx context.Context, list string) ([]string, error)
	SetMessageAuth(ctx context.Context, list, messageID, result string) error

	// Lookups: the list, a message a command refers to, the account of
	// a maintainer's command.
	ListInfo(ctx context.Context, name string) (*store.List, error)
	Message(ctx context.Context, list, messageID string) (*store.Message, error)
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	// Delegate delegates a series (X-Patchwell-Delegate): the one
	// store method every road takes.
	Delegate(ctx context.Context, seriesID, patchID, delegate, by int64, at time.Time) error
}

// Server handles mail to the lists.
type Server struct {
	st  Store
	in  *review.Ingester
	acc *review.Accounts
	out Outbox
	cfg Config
	log *slog.Logger
}

// New makes a list server; acc may be nil (no maintainer commands).
func New(st Store, in *review.Ingester, acc *review.Accounts, out Outbox, cfg Config, log *slog.Logger) *Server {
	if cfg.DisableAfter <= 0 {
		cfg.DisableAfter = 5
	}
	if cfg.ConfirmTTL <= 0 {
		cfg.ConfirmTTL = 72 * time.Hour
	}
	if cfg.ApplyTimeout <= 0 {
		cfg.ApplyTimeout = defaultApplyTimeout
	}
	return &Server{st: st, in: in, acc: acc, out: out, cfg: cfg, log: log}
}

// SMTP replies the list gives.
var (
	errLoop     = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 4, 6}, Message: "Mail loop detected: this message already went through the list"}
	errDenied   = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "You may not post to this list"}
	errDMARC    = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "DMARC check failed and the list refuses such mail"}
	errCommand  = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "No such list address (try NAME+help)"}
	errNoSender = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 7}, Message: "The message has no usable From address"}
)

// Receive handles one message for the recipients (local parts, lower
// case: "dev", "dev+subscribe", ...). It returns nil when everything it
// did is durable, or the reason for refusing (an SMTP error).
func (s *Server) Receive(ctx context.Context, env Envelope, rcpts []string, raw []byte) error {
	var posts []string
	for _, r := range rcpts {
		name, detail, cmd := strings.Cut(r, "+")
		if !cmd {
			posts = append(posts, name)
			continue
		}
		if err := s.command(ctx, env, name, detail, raw); err != nil {
			return err
		}
	}
	if len(posts) > 0 {
		return s.post(ctx, env, posts, raw)
	}
	return nil
}

// header is what the list reads of a message.
type header struct {
	archive.Header
	fields map[string][]string // lower-case names
}

func parse(raw []byte) header {
	h := header{Header: archive.ParseHeader(raw), fields: map[string][]string{}}
	for _, f := range archive.Fields(raw) {
		k := strings.ToLower(f.Name)
		h.fields[k] = append(h.fields[k], strings.TrimSpace(f.Value))
	}
	return h
}

func (h header) get(name string) string {
	if v := h.fields[name]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// automatic reports whether the message is an auto-reply or bulk mail,
// which is archived but never redistributed or answered (RFC 3834).
func (h header) automatic() bool {
	if a := strings.ToLower(h.get("auto-submitted")); a != "" && a != "no" {
		return true
	}
	switch strings.ToLower(h.get("precedence")) {
	case "bulk", "junk", "list":
		return true
	}
	return false
}

func (s *Server) listID(name string) string { return name + "." + s.cfg.Domain }

// looped reports whether the message already went out through list.
func (s *Server) looped(h header, list string) bool {
	for _, v := range h.fields["x-loop"] {
		if strings.EqualFold(strings.Trim(v, "<> "), list+"@"+s.cfg.Domain) {
			return true
		}
	}
	for _, v := range h.fields["list-id"] {
		if strings.Contains(strings.ToLower(v), "<"+s.listID(list)+">") {
			return true
		}
	}
	return false
}

// matches reports whether addr is covered by a rule: an address, or
// "@domain" for the domain and its subdomains.
func matches(rules []string, addr string) bool {
	addr = strings.ToLower(addr)
	_, domain, _ := strings.Cut(addr, "@")
	for _, r := range rules {
		if r == addr {
			return true
		}
		if d, ok := strings.CutPrefix(r, "@"); ok && (domain == d || strings.HasSuffix(domain, "."+d)) {
			return true
		}
	}
	return false
}

// verdict is what to do with a post to one list.
type verdict struct {
	hold   string // reason to hold, "" to accept
	refuse error
}

func (s *Server) decide(ctx context.Context, list, from string, p *store.ListPolicy, auth *Auth) (verdict, error) {
	if matches(p.Deny, from) {
		return verdict{refuse: errDenied}, nil
	}
	if auth != nil && auth.DMARC == "fail" {
		switch p.DMARC {
		case store.DMARCReject:
			return verdict{refuse: errDMARC}, nil
		case store.DMARCHold:
			return verdict{hold: "DMARC check failed for " + auth.FromDomain}, nil
		}
	}
	if matches(p.Allow, from) {
		return verdict{}, nil
	}
	switch p.Posting {
	case store.PostModerated:
		return verdict{hold: "the list is moderated"}, nil
	case store.PostSubscribers:
		sub, err := s.st.Subscriber(ctx, list, from)
		if errors.Is(err, store.ErrNotFound) || (err == nil && sub.State == store.SubPending) {
			return verdict{hold: "the sender is not subscribed"}, nil
		}
		if err != nil {
			return verdict{}, err
		}
	}
	return verdict{}, nil
}

// authJSON is what is kept with a message about its authentication and
// any command it carried.
type authJSON struct {
	Auth    *Auth  `json:"auth,omitempty"`
	Command string `json:"command,omitempty"`
	Result  string `json:"result,omitempty"`
}

func (s *Server) post(ctx context.Context, env Envelope, lists []string, raw []byte) error {
	h := parse(raw)
	from := strings.ToLower(h.From.Email)
	if from == "" {
		from = strings.ToLower(env.MailFrom)
	}
	for _, l := range lists {
		if s.looped(h, l) {
			return errLoop
		}
	}
	var auth *Auth
	if s.cfg.Verify != nil {
		auth = s.cfg.Verify(ctx, raw, env)
	}
	var accept []string
	rewrite := auth != nil && (auth.DMARCPolicy == "reject" || auth.DMARCPolicy == "quarantine")
	for _, l := range lists {
		p, err := s.st.Policy(ctx, l)
		if err != nil {
			return err
		}
		v, err := s.decide(ctx, l, from, p, auth)
		if err != nil {
			return err
		}
		switch {
		case v.refuse != nil:
			s.log.Info("refused", "list", l, "from", from, "reason", v.refuse)
			return v.refuse
		case v.hold != "":
			if err := s.hold(ctx, l, h, raw, v.hold, auth); err != nil {
				return err
			}
		default:
			accept = append(accept, l)
		}
	}
	if len(accept) == 0 {
		return nil
	}
	return s.archive(ctx, accept, h, raw, auth, rewrite)
}

// archive stores an accepted post and queues it to the subscribers in
// the same transaction (unless it is automatic mail), then keeps its
// authentication results and runs any maintainer command it carries.
func (s *Server) archive(ctx context.Context, lists []string, h header, raw []byte, auth *Auth, rewrite bool) error {
	err := s.in.Post(ctx, review.Post{Lists: lists, Raw: raw, Distribute: !h.automatic(), RewriteFrom: rewrite})
	if err != nil {
		return err
	}
	status, apply, delegate := h.get("x-patchwell-status"), h.get("x-patchwell-apply"), h.get("x-patchwell-delegate")
	for _, l := range lists {
		rec := authJSON{Auth: auth}
		var cmds, results []string
		if status != "" && !h.automatic() {
			cmds = append(cmds, "X-Patchwell-Status: "+status)
			results = append(results, s.statusCommand(ctx, l, h, status, auth))
		}
		if delegate != "" && !h.automatic() {
			cmds = append(cmds, "X-Patchwell-Delegate: "+delegate)
			results = append(results, s.delegateCommand(ctx, l, h, delegate, auth))
		}
		// After the status: "X-Patchwell-Status: approved" and
		// "X-Patchwell-Apply: yes" in one reply approve, then apply.
		if apply != "" && !h.automatic() {
			cmds = append(cmds, "X-Patchwell-Apply: "+apply)
			results = append(results, s.applyCommand(ctx, l, h, apply, auth))
		}
		rec.Command, rec.Result = strings.Join(cmds, "\n"), strings.Join(results, "\n")
		if rec.Auth == nil && rec.Command == "" {
			continue
		}
		b, _ := json.Marshal(rec)
		if err := s.st.SetMessageAuth(ctx, l, h.MessageID, string(b)); err != nil {
			s.log.Warn("keep auth results", "list", l, "msgid", h.MessageID, "err", err)
		}
	}
	return nil
}

// hold keeps a post for the moderators and tells them and the sender.
func (s *Server) hold(ctx context.Context, list string, h header, raw []byte, reason string, auth *Auth) error {
	aj := ""
	if auth != nil {
		b, _ := json.Marshal(auth)
		aj = string(b)
	}
	id, err := s.st.Hold(ctx, &store.Held{List: list, Raw: raw, MessageID: h.MessageID, From: h.From.Email,
		Subject: h.Subject, Reason: reason, Auth: aj, Arrived: time.Now()})
	if err != nil {
		return err
	}
	s.log.Info("held", "list", list, "id", id, "from", h.From.Email, "reason", reason)
	owners, err := s.st.ListOwners(ctx, list)
	if err == nil && len(owners) > 0 {
		body := fmt.Sprintf("A message to %s is held for moderation (%s).\n\nFrom: %s\nSubject: %s\n\n"+
			"To approve it, reply to this message keeping the subject, with \"approve\" as the first line;\n"+
			"to reject it, with \"reject\". Or use the moderation page:\n%s/%s/held\n",
			s.addr(list, ""), reason, h.From.Email, h.Subject, s.cfg.WebURL, list)
		s.send(ctx, list, owners, "", s.addr(list, "moderate-"+fmt.Sprint(id)),
			fmt.Sprintf("Held for moderation: %s [%d]", h.Subject, id), body)
	}
	if !h.automatic() && h.From.Email != "" {
		s.send(ctx, list, []string{h.From.Email}, h.MessageID, s.addr(list, "owner"), "Your message to "+list+" awaits moderation",
			fmt.Sprintf("Your message %q to %s is held for a moderator (%s).\nYou will hear when it is approved or rejected.\n",
				h.Subject, s.addr(list, ""), reason))
	}
	return nil
}

// Approve archives and distributes a held message; Reject drops it
// (it stays stored, marked rejected). by names the moderator.
func (s *Server) Approve(ctx context.Context, id int64, by string) error {
	m, err := s.st.HeldMessage(ctx, id)
	if err != nil {
		return err
	}
	if m.State != store.HeldWaiting {
		return fmt.Errorf("held message %d is already %s: %w", id, m.State, store.ErrConflict)
	}
	var auth *Auth
	if m.Auth != "" {
		auth = &Auth{}
		json.Unmarshal([]byte(m.Auth), auth)
	}
	rewrite := auth != nil && (auth.DMARCPolicy == "reject" || auth.DMARCPolicy == "quarantine")
	if err := s.archive(ctx, []string{m.List}, parse(m.Raw), m.Raw, auth, rewrite); err != nil {
		return err
	}
	if err := s.st.DecideHeld(ctx, id, store.HeldApproved, by, time.Now()); err != nil {
		return err
	}
	s.log.Info("approved", "list", m.List, "id", id, "by", by)
	return nil
}

// Reject marks a held message rejected and tells its sender.
func (s *Server) Reject(ctx context.Context, id int64, by string) error {
	m, err := s.st.HeldMessage(ctx, id)
	if err != nil {
		return err
	}
	if err := s.st.DecideHeld(ctx, id, store.HeldRejected, by, time.Now()); err != nil {
		return err
	}
	h := parse(m.Raw)
	if !h.automatic() && m.From != "" {
		s.send(ctx, m.List, []string{m.From}, m.MessageID, s.addr(m.List, "owner"), "Your message to "+m.List+" was rejected",
			fmt.Sprintf("A moderator of %s rejected your message %q.\n", s.addr(m.List, ""), m.Subject))
	}
	s.log.Info("rejected", "list", m.List, "id", id, "by", by)
	return nil
}

// addr is the list's address with an optional +detail.
func (s *Server) addr(list, detail string) string {
	if detail == "" {
		return list + "@" + s.cfg.Domain
	}
	return list + "+" + detail + "@" + s.cfg.Domain
}

// token makes a confirmation token (lower-case hex: local parts are
// compared case-insensitively) and its stored hash.
func token() (string, []byte) {
	var b [16]byte
	rand.Read(b[:])
	t := hex.EncodeToString(b[:])
	return t, hashToken(t)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(t)))
	return h[:]
}

// send composes and queues a message the list writes. inReplyTo may be
// "" ; from is the list address it comes from.
func (s *Server) send(ctx context.Context, list string, to []string, inReplyTo, from, subject, body string) {
	if s.out == nil || len(to) == 0 {
		return
	}
	raw, _ := archive.Compose(archive.Outgoing{
		From: (&mail.Address{Name: list + " list", Address: from}).String(), To: to,
		Subject: subject, Domain: s.cfg.Domain, InReplyTo: inReplyTo,
		Extra: []core.Header{{Name: "Auto-Submitted", Value: "auto-replied"}, {Name: "Precedence", Value: "list"},
			{Name: "X-Loop", Value: s.addr(list, "")}},
		Body: body,
	})
	if err := s.out.Send(ctx, list, to, raw); err != nil {
		s.log.Error("queue list mail", "list", list, "to", to, "err", err)
	}
}

// Admits decides, with the list's policy, whether a post from the
// address from (an identity already proven, as b4's web endpoint proves
// its senders by their signing key) would go straight to the list: ""
// when it would, else why not (refused by the deny rules, or held:
// moderated, subscribers only). The web endpoint cannot hold mail for a
// moderator, so it refuses what SMTP would hold, with this reason.
func (s *Server) Admits(ctx context.Context, list, from string) (string, error) {
	p, err := s.st.Policy(ctx, list)
	if err != nil {
		return "", err
	}
	v, err := s.decide(ctx, list, strings.ToLower(from), p, nil)
	switch {
	case err != nil:
		return "", err
	case v.refuse != nil:
		return v.refuse.Error(), nil
	case v.hold != "":
		return "the list would hold it for a moderator (" + v.hold + ")", nil
	}
	return "", nil
}
