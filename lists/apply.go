package lists

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"patchwell/access"
	"patchwell/store"
)

// Applier applies a series to its list's repository for the
// X-Patchwell-Apply command. cmd wires the one applier the web page and
// the API use, so a series applied by mail is applied exactly as from
// the web: git am -3 with the collected trailers, pushed, recorded,
// status applied, and the "Applied to BRANCH, thanks" reply archived in
// the thread and sent to the list (the Applier's business, not ours).
type Applier interface {
	// ApplySeries applies series seriesID as by (an address, the
	// commits' committer) and returns the text of the "Applied, thanks"
	// reply, which lists the commits. A refusal (worded for the sender)
	// is an error that is store.ErrConflict, store.ErrInvalid or
	// store.ErrNotFound (gitrepo.Refusal); any other error is a server
	// fault.
	ApplySeries(ctx context.Context, seriesID int64, by string) (string, error)
}

// refused reports whether err is an applier's refusal, worded for the
// person who asked.
func refused(err error) bool {
	return errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrNotFound)
}

// maxKeptResult bounds the result kept with a message (the answer mail
// carries all of it; a conflict's output can be long).
const maxKeptResult = 4 << 10

// applyCommand obeys X-Patchwell-Apply on a reply to a series: the
// sender must have the Apply role on the list (maintainer, owner, site
// admin) and the message must pass DMARC through an aligned DKIM
// signature, as for X-Patchwell-Status. The sender is always answered;
// the result is returned to be kept with the message.
func (s *Server) applyCommand(ctx context.Context, list string, h header, value string, auth *Auth) string {
	result := func(msg string) string {
		s.send(ctx, list, []string{h.From.Email}, h.MessageID, s.addr(list, "owner"), "Re: "+h.Subject, msg+"\n")
		if len(msg) > maxKeptResult {
			msg = msg[:maxKeptResult] + "\n[cut]"
		}
		return msg
	}
	seriesID := s.seriesOf(ctx, list, h)
	if seriesID == 0 {
		return result("Not done: this message does not reply to a patch series of " + list + ".")
	}
	if why := s.authorizeWith(ctx, list, h, auth, access.Apply); why != "" {
		return result("Not done: " + why + ".")
	}
	if word, _, _ := strings.Cut(strings.TrimSpace(value), " "); !strings.EqualFold(strings.TrimRight(word, ".;,"), "yes") {
		return result(`Not done: X-Patchwell-Apply takes "yes" (X-Patchwell-Apply: yes).`)
	}
	if s.cfg.Apply == nil {
		return result("Not done: this server does not apply series by mail.")
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ApplyTimeout)
	defer cancel()
	reply, err := s.cfg.Apply.ApplySeries(ctx, seriesID, strings.ToLower(h.From.Email))
	switch {
	case refused(err):
		return result(fmt.Sprintf("Not done: series %d: %s", seriesID, err.Error()))
	case err != nil:
		s.log.Error("apply by mail", "list", list, "series", seriesID, "from", h.From.Email, "err", err)
		return result(fmt.Sprintf("Not done: series %d could not be applied because of a server error; the operators have the details in the log.", seriesID))
	}
	s.log.Info("applied by mail", "list", list, "series", seriesID, "by", h.From.Email)
	return result(fmt.Sprintf("Done: series %d is applied.\n\n%s", seriesID, reply))
}

// defaultApplyTimeout bounds an apply by mail (fetch, git am, push):
// the sender's SMTP client waits for it before its 250.
const defaultApplyTimeout = 5 * time.Minute
