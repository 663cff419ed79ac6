package review

import (
	"context"
	"fmt"
	"net/mail"
	"sort"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// A review written on the web becomes one ordinary e-mail reply, the one a
// reviewer would write in mutt: the summary on top, an attribution line,
// then for each commented hunk its quoted file header and hunk header, the
// quoted lines up to each commented line and the comment under it. The
// reply goes to the patch commented on; when the comments span several
// patches it goes to the cover letter (a reply under the cover letter is
// matched against every patch, so FindComments reads it back at the same
// lines, and trailers in it apply to the whole series as b4 applies them).
// A multi-patch review of a series without a cover letter is refused:
// the reviewer sends one per patch, as on the list.

// Limits on a web review (untrusted input).
const (
	maxDraftComments = 500
	maxDraftBytes    = 256 << 10
	// contextBefore is how many diff lines are quoted above a comment.
	contextBefore = 3
)

// quoteGap: a gap longer than this between two comments of one hunk is
// cut with "[...]".
const quoteGap = 8

// ComposeReview writes the e-mail reply for d, dated now, with a
// Message-ID under domain. It returns the raw message (CRLF line ends),
// its Message-ID and the list it belongs to. Errors wrapping
// store.ErrInvalid are the reviewer's to fix; store.ErrNotFound means no
// such series.
func (s *Service) ComposeReview(ctx context.Context, d store.ReviewDraft, domain string, now time.Time) ([]byte, string, string, error) {
	se, err := s.st.Series(ctx, d.SeriesID)
	if err != nil {
		return nil, "", "", err
	}
	patches, err := s.st.Patches(ctx, d.SeriesID)
	if err != nil {
		return nil, "", "", err
	}
	if d.From.Email == "" {
		return nil, "", "", fmt.Errorf("review without a sender: %w", store.ErrInvalid)
	}
	size := len(d.Summary)
	for _, c := range d.Comments {
		size += len(c.Body)
	}
	if size > maxDraftBytes || len(d.Comments) > maxDraftComments {
		return nil, "", "", fmt.Errorf("review larger than %d bytes or %d comments: %w", maxDraftBytes, maxDraftComments, store.ErrInvalid)
	}
	patchAt := map[string]int{}
	for i, p := range patches {
		patchAt[p.MessageID] = i
	}
	// Group the comments by patch, merging those on the same line.
	type lineKey struct {
		patch, file, side string
		line              int
	}
	merged := map[lineKey]string{}
	var order []lineKey
	for _, c := range d.Comments {
		body := strings.TrimSpace(strings.ReplaceAll(c.Body, "\r\n", "\n"))
		if body == "" {
			continue
		}
		if _, ok := patchAt[c.PatchMessageID]; !ok {
			return nil, "", "", fmt.Errorf("comment on %q, which is no patch of this series: %w", c.PatchMessageID, store.ErrInvalid)
		}
		if c.Side != store.SideOld && c.Side != store.SideNew || c.Line <= 0 {
			return nil, "", "", fmt.Errorf("comment on %s side %q line %d: want side old or new and a line number: %w", c.File, c.Side, c.Line, store.ErrInvalid)
		}
		k := lineKey{c.PatchMessageID, c.File, c.Side, c.Line}
		if prev, ok := merged[k]; ok {
			merged[k] = prev + "\n\n" + body
			continue
		}
		merged[k] = body
		order = append(order, k)
	}
	summary := strings.TrimSpace(strings.ReplaceAll(d.Summary, "\r\n", "\n"))
	if summary == "" && len(order) == 0 {
		return nil, "", "", fmt.Errorf("empty review: write a summary or a comment: %w", store.ErrInvalid)
	}
	commented := map[string]bool{}
	for _, k := range order {
		commented[k.patch] = true
	}
	// The message to answer.
	var parent string
	switch {
	case len(commented) > 1:
		if se.CoverMessageID == "" {
			return nil, "", "", fmt.Errorf("comments on %d patches of a series without a cover letter: review each patch on its own: %w", len(commented), store.ErrInvalid)
		}
		parent = se.CoverMessageID
	case len(commented) == 1:
		for p := range commented {
			parent = p
		}
	case d.InReplyTo != "":
		if _, ok := patchAt[d.InReplyTo]; !ok && d.InReplyTo != se.CoverMessageID {
			return nil, "", "", fmt.Errorf("%q is no patch or cover letter of this series: %w", d.InReplyTo, store.ErrInvalid)
		}
		parent = d.InReplyTo
	case se.CoverMessageID != "":
		parent = se.CoverMessageID
	case len(patches) > 0:
		parent = patches[0].MessageID
	default:
		return nil, "", "", fmt.Errorf("series has no message to answer: %w", store.ErrInvalid)
	}
	praw, err := s.st.Raw(ctx, se.List, parent)
	if err != nil {
		return nil, "", "", err
	}
	ph := archive.ParseHeader(praw)

	var body strings.Builder
	if summary != "" {
		body.WriteString(escapeComment(summary))
		body.WriteString("\n\n")
	}
	if len(order) > 0 {
		who := ph.From.Name
		if who == "" {
			who = ph.From.Email
		}
		if ph.Date.IsZero() {
			fmt.Fprintf(&body, "%s wrote:\n", who)
		} else {
			fmt.Fprintf(&body, "On %s, %s wrote:\n", ph.Date.Format("Mon, Jan 2, 2006 at 15:04:05 -0700"), who)
		}
		// Comments in patch order, then by their place in the diff.
		byPatch := map[string][]lineKey{}
		for _, k := range order {
			byPatch[k.patch] = append(byPatch[k.patch], k)
		}
		for _, p := range patches {
			keys := byPatch[p.MessageID]
			if len(keys) == 0 {
				continue
			}
			raw, err := s.st.Raw(ctx, se.List, p.MessageID)
			if err != nil {
				return nil, "", "", err
			}
			pm, err := patchmail.Parse(raw)
			if err != nil {
				return nil, "", "", fmt.Errorf("parse patch %s: %w", p.MessageID, err)
			}
			ix := newDiffIndex([]Target{{MessageID: p.MessageID, Diff: pm.Diff}})
			at := map[int]string{} // diff line -> comment
			for _, k := range keys {
				pos := ix.find(k.file, k.side, k.line)
				if pos < 0 {
					return nil, "", "", fmt.Errorf("patch %d has no %s line %d in %s: %w", p.Index, k.side, k.line, k.file, store.ErrInvalid)
				}
				at[pos] = merged[k]
			}
			writeQuotedReview(&body, ix, at)
		}
	}

	subject := ph.Subject
	if !patchmail.ParseSubject(subject).Reply {
		subject = "Re: " + subject
	}
	m := archive.Outgoing{
		From:    (&mail.Address{Name: d.From.Name, Address: d.From.Email}).String(),
		To:      []string{se.List + "@" + domain},
		Subject: subject, Domain: domain, Date: now,
		InReplyTo: ph.MessageID, References: ph.References,
		Extra: []core.Header{{Name: "User-Agent", Value: "patchwell (web review)"}},
		Body:  body.String(),
	}
	// Cc as a mail client's reply-all: the author, and the people the
	// patch went to besides the list (not the reviewer), at most
	// maxReviewCc of them.
	seen := map[string]bool{strings.ToLower(d.From.Email): true, strings.ToLower(se.List + "@" + domain): true}
	cc := func(name, addr string) {
		k := strings.ToLower(addr)
		if addr == "" || seen[k] || len(m.Cc) >= maxReviewCc {
			return
		}
		seen[k] = true
		m.Cc = append(m.Cc, (&mail.Address{Name: name, Address: addr}).String())
	}
	cc(ph.From.Name, ph.From.Email)
	for _, f := range archive.Fields(praw) {
		if strings.EqualFold(f.Name, "To") || strings.EqualFold(f.Name, "Cc") {
			if as, err := mail.ParseAddressList(f.Value); err == nil {
				for _, a := range as {
					cc(a.Name, a.Address)
				}
			}
		}
	}
	raw, msgid := archive.Compose(m)
	return raw, msgid, se.List, nil
}

// find returns the diff line at file/side/line; -1 if there is none.
func (ix *diffIndex) find(file, side string, line int) int {
	for i := range ix.lines {
		d := &ix.lines[i]
		if d.file != file {
			continue
		}
		switch {
		case side == store.SideOld && d.kind == '-' && d.old == line,
			side == store.SideNew && (d.kind == '+' || d.kind == ' ') && d.new == line:
			return i
		}
	}
	return -1
}

// writeQuotedReview quotes, for each file with comments, its header and
// the hunks commented on: the hunk header, a few lines of context above
// each comment and the lines between comments, each comment under its
// line.
func writeQuotedReview(b *strings.Builder, ix *diffIndex, at map[int]string) {
	pos := make([]int, 0, len(at))
	for p := range at {
		pos = append(pos, p)
	}
	sort.Ints(pos)
	quote := func(i int) {
		b.WriteString("> ")
		b.WriteString(ix.lines[i].text)
		b.WriteString("\n")
	}
	file, hunk, next := "", -1, 0 // next: first diff line not yet quoted
	for _, p := range pos {
		d := &ix.lines[p]
		// The file's header lines, as they are in the patch.
		if d.file != file {
			file, hunk = d.file, -1
			for i := p; i >= 0; i-- {
				if strings.HasPrefix(ix.lines[i].text, "diff --git ") {
					for ; i < p && ix.lines[i].kind == 'h'; i++ {
						quote(i)
					}
					break
				}
			}
		}
		h := p
		for h > 0 && ix.lines[h].kind != '@' {
			h--
		}
		from := max(h+1, p-contextBefore)
		switch {
		case h != hunk:
			quote(h)
			hunk = h
		case p-next > quoteGap:
			b.WriteString("[...]\n\n")
		default:
			from = next
		}
		for i := max(from, h+1); i <= p; i++ {
			quote(i)
		}
		b.WriteString("\n")
		b.WriteString(escapeComment(at[p]))
		b.WriteString("\n\n")
		next = p + 1
	}
}

// escapeComment keeps a comment from reading as quoted text or a
// signature when parsed back: lines starting with ">" and "--" or "-- "
// lines get a leading space.
func escapeComment(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, ">") {
			lines[i] = " " + l
		}
		if l == "-- " || l == "--" {
			lines[i] = " " + l
		}
	}
	return strings.Join(lines, "\n")
}

// SubmitReview composes the reply for d, archives it in the series' thread
// through the Ingester, as if it had arrived by mail, and queues it in the
// outbox for delivery to the list's subscribers, all in one transaction.
// It returns the reply's Message-ID and list.
func (s *Service) SubmitReview(ctx context.Context, d store.ReviewDraft) (string, string, error) {
	if s.in == nil {
		return "", "", fmt.Errorf("web reviews are not enabled on this server: %w", store.ErrReadOnly)
	}
	raw, msgid, list, err := s.ComposeReview(ctx, d, s.domain, time.Now())
	if err != nil {
		return "", "", err
	}
	// The people the review names (the patch's author, in Cc) get it
	// too, as a reply-all from a mail client would reach them, once
	// each with the subscribers.
	var also []string
	for _, f := range archive.Fields(raw) {
		if strings.EqualFold(f.Name, "Cc") {
			if as, err := mail.ParseAddressList(f.Value); err == nil {
				for _, a := range as {
					also = append(also, a.Address)
				}
			}
		}
	}
	if err := s.in.Post(ctx, Post{Lists: []string{list}, Raw: raw, Distribute: true, Also: also}); err != nil {
		return "", "", fmt.Errorf("archive review: %w", err)
	}
	if err := s.openIssues(ctx, d, msgid); err != nil {
		return msgid, list, fmt.Errorf("open issues: %w", err)
	}
	return msgid, list, nil
}

// maxReviewCc bounds the people a web review is sent to besides the
// list: a patch that names many addresses must not make each review of
// it a mailing to them.
const maxReviewCc = 10

// Reply is a message patchwell writes on a series' thread: the
// "Applied, thanks" reply, the CI summary.
type Reply struct {
	Series *store.Series
	From   string // an address; "" is "LIST maintainers <LIST@DOMAIN>"
	Tag    string // names the kind in the Message-ID: "applied", "ci"
	Body   string
}

// PostReply posts r in the series' thread (In-Reply-To its cover letter,
// else its first patch) through the Ingester, like any post: archived
// and queued to the list's subscribers in one transaction, the commit
// hooks told. It returns the reply's Message-ID.
func (s *Service) PostReply(ctx context.Context, r Reply) (string, error) {
	if s.in == nil {
		return "", fmt.Errorf("replies are not enabled on this server: %w", store.ErrReadOnly)
	}
	se := r.Series
	parent := se.CoverMessageID
	if parent == "" {
		parent = se.MessageID
	}
	from := r.From
	if from == "" {
		from = (&mail.Address{Name: se.List + " maintainers", Address: se.List + "@" + s.domain}).String()
	}
	now := time.Now()
	raw, msgid := archive.Compose(archive.Outgoing{From: from, To: []string{se.List + "@" + s.domain},
		Subject: "Re: " + se.Subject, MessageID: fmt.Sprintf("%s.%d.%d@%s", r.Tag, se.ID, now.UnixNano(), s.domain),
		Date: now, InReplyTo: parent, Body: r.Body,
		// Written by patchwell, not a reviewer (RFC 3834): counted apart
		// from review, and no vacation reply answers it.
		Extra: []core.Header{{Name: "Auto-Submitted", Value: "auto-generated"}}})
	if err := s.in.Post(ctx, Post{Lists: []string{se.List}, Raw: raw, Distribute: true}); err != nil {
		return "", err
	}
	return msgid, nil
}
