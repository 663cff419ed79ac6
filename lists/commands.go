package lists

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// command handles mail to NAME+detail@DOMAIN.
func (s *Server) command(ctx context.Context, env Envelope, list, detail string, raw []byte) error {
	h := parse(raw)
	sender := h.From.Email
	switch {
	case detail == "bounces" || strings.HasPrefix(detail, "bounces-"):
		return s.bounce(ctx, list, strings.TrimPrefix(strings.TrimPrefix(detail, "bounces"), "-"), raw)
	case h.automatic() || env.MailFrom == "":
		// Never answer an auto-reply or a bounce: that is how loops start.
		s.log.Info("ignored automatic mail to a command address", "list", list, "detail", detail)
		return nil
	case sender == "":
		return errNoSender
	}
	switch {
	case detail == "subscribe" || detail == "join":
		return s.askConfirm(ctx, list, sender, h.From.Name, "subscribe", h.MessageID)
	case detail == "unsubscribe" || detail == "leave":
		return s.askConfirm(ctx, list, sender, "", "unsubscribe", h.MessageID)
	case strings.HasPrefix(detail, "confirm-"):
		msg, err := s.Confirm(ctx, strings.TrimPrefix(detail, "confirm-"))
		if err != nil {
			msg = "That confirmation is unknown or has expired. Ask again: " + s.addr(list, "subscribe")
		}
		s.send(ctx, list, []string{sender}, h.MessageID, s.addr(list, "owner"), "Re: "+h.Subject, msg+"\n")
		return nil
	case detail == "help":
		s.send(ctx, list, []string{sender}, h.MessageID, s.addr(list, "help"), "Help for "+s.addr(list, ""), s.helpText(list))
		return nil
	case detail == "owner":
		owners, err := s.st.ListOwners(ctx, list)
		if err != nil {
			return err
		}
		if len(owners) == 0 {
			s.send(ctx, list, []string{sender}, h.MessageID, s.addr(list, "owner"), "Re: "+h.Subject,
				"This list has no owner to forward your message to.\n")
			return nil
		}
		if s.out != nil {
			return s.out.Send(ctx, list, owners, raw)
		}
		return nil
	case strings.HasPrefix(detail, "moderate-"):
		return s.moderateByMail(ctx, list, strings.TrimPrefix(detail, "moderate-"), h, raw)
	}
	return errCommand
}

// askConfirm records a pending subscription change and mails the
// confirmation to the address (not to whoever asked: a forged request
// reaches the owner of the address, who ignores it).
func (s *Server) askConfirm(ctx context.Context, list, email, name, action, inReplyTo string) error {
	if action == "unsubscribe" {
		if _, err := s.st.Subscriber(ctx, list, email); errors.Is(err, store.ErrNotFound) {
			s.send(ctx, list, []string{email}, inReplyTo, s.addr(list, "owner"), "Not subscribed to "+list,
				fmt.Sprintf("%s is not subscribed to %s.\n", email, s.addr(list, "")))
			return nil
		}
	} else {
		// Already subscribed: nothing to confirm, and the request must not
		// set the address back to pending (anyone could stop its mail).
		if sub, err := s.st.Subscriber(ctx, list, email); err == nil && sub.State == store.SubActive {
			s.send(ctx, list, []string{email}, inReplyTo, s.addr(list, "owner"), "Already subscribed to "+list,
				fmt.Sprintf("%s is already subscribed to %s.\n", email, s.addr(list, "")))
			return nil
		}
		if err := s.st.Subscribe(ctx, list, email, name, store.SubPending); err != nil {
			return err
		}
	}
	tok, hash := token()
	if err := s.st.AddSubConfirmation(ctx, hash, list, email, action, time.Now().Add(s.cfg.ConfirmTTL)); err != nil {
		return err
	}
	link := ""
	if s.cfg.WebURL != "" {
		link = fmt.Sprintf("\nor open this link:\n\n  %s/%s/confirm?t=%s\n", s.cfg.WebURL, list, tok)
	}
	s.send(ctx, list, []string{email}, inReplyTo, s.addr(list, "confirm-"+tok), "Confirm: "+action+" "+s.addr(list, ""),
		fmt.Sprintf("Someone, probably you, asked to %s %s for %s.\n\nTo confirm, reply to this message%s\n"+
			"If you did not ask, ignore this message; nothing changes.\n", action, email, s.addr(list, ""), link))
	s.log.Info("confirmation sent", "list", list, "email", email, "action", action)
	return nil
}

// Confirm carries out the change a confirmation token stands for and
// says what was done.
func (s *Server) Confirm(ctx context.Context, tok string) (string, error) {
	list, email, action, err := s.st.TakeSubConfirmation(ctx, hashToken(tok), time.Now())
	if err != nil {
		return "", err
	}
	switch action {
	case "subscribe":
		if err := s.st.Subscribe(ctx, list, email, "", store.SubActive); err != nil {
			return "", err
		}
		s.log.Info("subscribed", "list", list, "email", email)
		return fmt.Sprintf("%s is now subscribed to %s. Welcome!\n\n%s", email, s.addr(list, ""), s.helpText(list)), nil
	case "unsubscribe":
		if err := s.st.Unsubscribe(ctx, list, email); err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		s.log.Info("unsubscribed", "list", list, "email", email)
		return fmt.Sprintf("%s is no longer subscribed to %s.", email, s.addr(list, "")), nil
	}
	return "", fmt.Errorf("confirmation for %q: %w", action, store.ErrInvalid)
}

// Unsubscribe removes a subscriber at once (one-click unsubscribe from
// a signed link, RFC 8058; operators).
func (s *Server) Unsubscribe(ctx context.Context, list, email string) error {
	err := s.st.Unsubscribe(ctx, list, email)
	if err == nil {
		s.log.Info("unsubscribed", "list", list, "email", email, "how", "one-click")
	}
	return err
}

// RequestSubscription starts a subscription from the web form: the
// confirmation goes to the address.
func (s *Server) RequestSubscription(ctx context.Context, list, email string) error {
	if !strings.Contains(email, "@") {
		return fmt.Errorf("%w: %q is not an e-mail address", store.ErrInvalid, email)
	}
	return s.askConfirm(ctx, list, strings.ToLower(strings.TrimSpace(email)), "", "subscribe", "")
}

func (s *Server) helpText(list string) string {
	web := ""
	if s.cfg.WebURL != "" {
		web = fmt.Sprintf("Archive and review: %s/%s/\n", s.cfg.WebURL, list)
	}
	return fmt.Sprintf(`This is the %[1]s mailing list.

To post, write to %[1]s (patches: git send-email --to=%[1]s).
To subscribe, write to %[2]s; to leave, to %[3]s.
To reach the list's owners, write to %[4]s.
%[5]s
Maintainers can set a series' status by replying to it with a header
X-Patchwell-Status: STATUS (proposed, needs_revision, approved, rejected,
applied), delegate it to another maintainer with a header
X-Patchwell-Delegate: ADDRESS (or none), and apply it to the list's
repository with a header X-Patchwell-Apply: yes, from an account with a
maintainer role, in mail signed with DKIM by their domain.
`, s.addr(list, ""), s.addr(list, "subscribe"), s.addr(list, "unsubscribe"), s.addr(list, "owner"), web)
}

// bounce counts a hard bounce for the subscriber the VERP address names.
func (s *Server) bounce(ctx context.Context, list, detail string, raw []byte) error {
	if s.cfg.ParseVERP == nil || s.cfg.ParseDSN == nil {
		return nil
	}
	rcpt, ok := s.cfg.ParseVERP(detail)
	if !ok {
		s.log.Info("bounce to an unknown VERP address", "list", list, "detail", detail)
		return nil
	}
	dsnRcpt, hard, ok := s.cfg.ParseDSN(raw)
	if !ok || !hard {
		s.log.Info("bounce not counted", "list", list, "rcpt", rcpt, "dsn", ok, "hard", hard)
		return nil
	}
	if dsnRcpt != "" && !strings.EqualFold(dsnRcpt, rcpt) {
		s.log.Info("bounce names another recipient", "list", list, "verp", rcpt, "dsn", dsnRcpt)
	}
	sub, err := s.st.AddBounce(ctx, list, rcpt, s.cfg.DisableAfter)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.log.Info("hard bounce", "list", list, "rcpt", rcpt, "bounces", sub.Bounces, "state", sub.State)
	if sub.State == store.SubDisabled && sub.Bounces == s.cfg.DisableAfter {
		if owners, err := s.st.ListOwners(ctx, list); err == nil {
			s.send(ctx, list, owners, "", s.addr(list, "owner"), "Subscriber disabled: "+rcpt,
				fmt.Sprintf("%s bounced %d times and gets no more mail from %s.\nRe-enable with: patchwell sub add --list %s %s\n",
					rcpt, sub.Bounces, s.addr(list, ""), list, rcpt))
		}
	}
	return nil
}

// moderateByMail approves or rejects a held message on an owner's reply
// whose first body line is "approve" or "reject". The sender must be an
// owner or maintainer of the list and, when verification is on, pass
// DMARC through DKIM.
func (s *Server) moderateByMail(ctx context.Context, list, idText string, h header, raw []byte) error {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil {
		return errCommand
	}
	word := strings.ToLower(firstBodyLine(raw))
	reply := func(msg string) {
		s.send(ctx, list, []string{h.From.Email}, h.MessageID, s.addr(list, "owner"), "Re: "+h.Subject, msg+"\n")
	}
	if why := s.authorize(ctx, list, h, raw, access.Moderate); why != "" {
		reply("Not done: " + why)
		return nil
	}
	switch word {
	case "approve", "approved", "accept":
		err = s.Approve(ctx, id, h.From.Email)
	case "reject", "rejected", "discard":
		err = s.Reject(ctx, id, h.From.Email)
	default:
		reply(`Not done: the first line of your reply must be "approve" or "reject".`)
		return nil
	}
	if err != nil {
		reply(fmt.Sprintf("Not done: %v", err))
		return nil
	}
	done := "approved and sent to the list"
	if strings.HasPrefix(word, "reject") || word == "discard" {
		done = "rejected"
	}
	reply(fmt.Sprintf("Done: held message %d %s.", id, done))
	return nil
}

// authorize says why the sender of h may not act on list ("" when they
// may): they must have the role the action needs, and their mail must
// be authenticated as theirs.
func (s *Server) authorize(ctx context.Context, list string, h header, raw []byte, act access.Action) string {
	var a *Auth
	if s.cfg.Verify != nil {
		a = s.cfg.Verify(ctx, raw, Envelope{})
	}
	return s.authorizeWith(ctx, list, h, a, act)
}

// seriesCommand runs a maintainer's command on the series a reply
// belongs to (X-Patchwell-Status, X-Patchwell-Delegate): the reply must
// be to a series of list, and its sender may set status there with mail
// that is authenticated as theirs (authorizeWith); do gets the series
// and the sender's account and says what was done. The sender is
// answered; the answer is returned, kept with the message.
func (s *Server) seriesCommand(ctx context.Context, list string, h header, auth *Auth, do func(seriesID, userID int64) string) string {
	result := func(msg string) string {
		s.send(ctx, list, []string{h.From.Email}, h.MessageID, s.addr(list, "owner"), "Re: "+h.Subject, msg+"\n")
		return msg
	}
	seriesID := s.seriesOf(ctx, list, h)
	if seriesID == 0 {
		return result("Not done: this message does not reply to a patch series of " + list + ".")
	}
	if why := s.authorizeWith(ctx, list, h, auth, access.SetStatus); why != "" {
		return result("Not done: " + why + ".")
	}
	u, _ := s.st.UserByEmail(ctx, h.From.Email)
	return result(do(seriesID, u.ID))
}

// statusCommand obeys X-Patchwell-Status on a reply to a series.
func (s *Server) statusCommand(ctx context.Context, list string, h header, value string, auth *Auth) string {
	status, comment, _ := strings.Cut(strings.TrimSpace(value), " ")
	status = strings.ToLower(strings.TrimRight(status, ":;,"))
	return s.seriesCommand(ctx, list, h, auth, func(seriesID, userID int64) string {
		ch, err := s.acc.SetStatus(ctx, seriesID, userID, status, strings.TrimSpace(comment))
		if err != nil {
			return fmt.Sprintf("Not done: series %d: %v.", seriesID, err)
		}
		return fmt.Sprintf("Done: series %d is now %s (was %s).", seriesID, ch.To, ch.From)
	})
}

// delegateCommand obeys X-Patchwell-Delegate: ADDRESS (or none) on a
// reply to a series: its patches are delegated to the maintainer with
// that address (store.Delegate checks they have a role on the list). The
// sender needs what X-Patchwell-Status needs.
func (s *Server) delegateCommand(ctx context.Context, list string, h header, value string, auth *Auth) string {
	value = strings.TrimSpace(value)
	return s.seriesCommand(ctx, list, h, auth, func(seriesID, by int64) string {
		var who int64
		var addr string
		if !strings.EqualFold(value, "none") {
			a, err := mail.ParseAddress(value)
			if err != nil {
				return fmt.Sprintf("Not done: X-Patchwell-Delegate takes the address of a maintainer of %s, or none; %q is neither.", list, value)
			}
			addr = a.Address
			u, err := s.st.UserByEmail(ctx, addr)
			if err != nil {
				return fmt.Sprintf("Not done: %s has no account here, so cannot be a delegate.", addr)
			}
			who = u.ID
		}
		if err := s.st.Delegate(ctx, seriesID, 0, who, by, time.Now()); err != nil {
			if errors.Is(err, store.ErrInvalid) {
				return fmt.Sprintf("Not done: series %d: %s.", seriesID, strings.TrimPrefix(strings.TrimPrefix(err.Error(), store.ErrInvalid.Error()+": "), "delegate: "))
			}
			return fmt.Sprintf("Not done: series %d: %v.", seriesID, err)
		}
		s.log.Info("delegated by mail", "list", list, "series", seriesID, "delegate", addr, "from", h.From.Email)
		if who == 0 {
			return fmt.Sprintf("Done: series %d is delegated to nobody.", seriesID)
		}
		return fmt.Sprintf("Done: series %d is delegated to %s.", seriesID, addr)
	})
}

// authorizeWith is authorize with the verdict already computed.
func (s *Server) authorizeWith(ctx context.Context, list string, h header, a *Auth, act access.Action) string {
	if s.acc == nil {
		return "this server does not take commands by mail"
	}
	u, err := s.st.UserByEmail(ctx, h.From.Email)
	if err != nil {
		return fmt.Sprintf("%s has no account here", h.From.Email)
	}
	l, err := s.st.ListInfo(ctx, list)
	if err != nil {
		return "no such list"
	}
	role, _ := s.acc.Role(ctx, u.ID, list)
	if !access.Allowed(access.Subject{User: u, Admin: u.Admin, Role: role}, l, act) {
		return fmt.Sprintf("%s may not %s on %s", h.From.Email, act, list)
	}
	if a == nil {
		return "mail authentication is not configured, so commands by mail are off"
	}
	if !a.DKIMAligned || a.DMARC != "pass" {
		return fmt.Sprintf("the message is not signed (DKIM) by %s, so it cannot be told from a forgery", a.FromDomain)
	}
	return ""
}

// seriesOf finds the series a reply belongs to: the nearest message it
// references that is part of one.
func (s *Server) seriesOf(ctx context.Context, list string, h header) int64 {
	refs := append([]string{}, h.References...)
	if h.InReplyTo != "" {
		refs = append(refs, h.InReplyTo)
	}
	for i := len(refs) - 1; i >= 0; i-- {
		m, err := s.st.Message(ctx, list, refs[i])
		if err == nil && m.SeriesID != 0 {
			return m.SeriesID
		}
	}
	return 0
}

// firstBodyLine is the first non-blank, non-quoted line of the body.
func firstBodyLine(raw []byte) string {
	i := bytes.Index(raw, []byte("\n\n"))
	if j := bytes.Index(raw, []byte("\r\n\r\n")); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		return ""
	}
	sc := bufio.NewScanner(bytes.NewReader(raw[i:]))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line != "" && !strings.HasPrefix(line, ">") {
			return line
		}
	}
	return ""
}
