package imapd

import (
	"context"
	"slices"

	"patchwell/archive"
	"patchwell/store"
)

// The "Needs me" mailbox: for a signed-in user, the cover letter (or the
// first patch) of each series that needs them (review.Service.NeedsMe,
// on the lists they may read), across lists. Its UIDs are the messages'
// row ids, the same for a message whatever mailbox of whichever user
// shows it, so a client fetches each once; its UIDVALIDITY is constant.
// The set is read at SELECT (and STATUS): a series that leaves is gone at
// the next SELECT, one that comes may have a UID below UIDNEXT as last
// seen (an older series newly delegated), which a client that re-reads
// the mailbox's UIDs (mbsync does) finds. Read-only like the others;
// SEARCH reads its few messages.

// needsMeBox is the mailbox's name: ASCII, so modified UTF-7 leaves it
// as it is.
const needsMeBox = "Needs me"

// needsMeValidity is its UIDVALIDITY.
const needsMeValidity = 1

// NeedsMe is what the "Needs me" mailbox reads (review.Service).
type NeedsMe interface {
	// NeedsMe returns the series that need u on the lists u may read.
	NeedsMe(ctx context.Context, u *store.User) ([]store.NeedItem, error)
	// FetchMessages reads messages by row id, in id order (m.UID is
	// the row id).
	FetchMessages(ctx context.Context, ids []int64, withRaw bool, fn func(m *store.MailboxMessage, raw []byte) error) error
}

// hasNeedsMe says whether the session shows "Needs me": signed in to an
// account, on a server that has it.
func (ss *session) hasNeedsMe() bool { return ss.user != nil && ss.s.cfg.NeedsMe != nil }

// isNeedsMe says whether name is the "Needs me" mailbox of this session.
func (ss *session) isNeedsMe(name string) bool { return name == needsMeBox && ss.hasNeedsMe() }

// openNeedsMe reads the mailbox as it is now: a mailbox of its own,
// never shared (it is the user's).
func (ss *session) openNeedsMe() (*mailbox, error) {
	items, err := ss.s.cfg.NeedsMe.NeedsMe(ss.ctx, ss.user)
	if err != nil {
		return nil, err
	}
	uids := make([]uint32, 0, len(items))
	for _, it := range items {
		if it.Head > 0 && it.Head <= int64(^uint32(0)) {
			uids = append(uids, uint32(it.Head))
		}
	}
	slices.Sort(uids)
	uids = slices.Compact(uids)
	return &mailbox{name: needsMeBox, virtual: true, uids: uids, changed: make(chan struct{})}, nil
}

// fetchRange reads the selected mailbox's messages with UIDs in [lo, hi]
// (FetchMailbox for a list's mailbox).
func (ss *session) fetchRange(ctx context.Context, lo, hi uint32, withRaw bool, fn func(m *store.MailboxMessage, raw []byte) error) error {
	if !ss.box.virtual {
		return ss.s.st.FetchMailbox(ctx, ss.box.listID, lo, hi, ss.box.kinds(), withRaw, fn)
	}
	var ids []int64
	for _, u := range ss.uids {
		if u >= lo && u <= hi {
			ids = append(ids, int64(u))
		}
	}
	return ss.s.cfg.NeedsMe.FetchMessages(ctx, ids, withRaw, fn)
}

// searchCond is the UIDs, ascending, of the selected mailbox's messages
// matching c (MailboxSearch for a list's mailbox; "Needs me" reads its
// messages).
func (ss *session) searchCond(c store.MailboxCond) ([]uint32, error) {
	if !ss.box.virtual {
		return ss.s.st.MailboxSearch(ss.ctx, ss.box.listID, ss.box.kinds(), c)
	}
	match := condMatcher(c)
	var out []uint32
	if len(ss.uids) == 0 {
		return nil, nil
	}
	err := ss.fetchRange(ss.ctx, ss.uids[0], ss.uids[len(ss.uids)-1], true, func(m *store.MailboxMessage, raw []byte) error {
		if match(m, archive.ToCRLF(raw, nil)) {
			out = append(out, m.UID)
		}
		return nil
	})
	return out, err
}

// condMatcher is c as a test of one message, for "Needs me": dates and
// sizes from the row, From, Subject and Message-ID as header substrings,
// and each word of a text condition as a substring of its field (To, Cc:
// the header field; others the whole message), as IMAP asks.
func condMatcher(c store.MailboxCond) func(m *store.MailboxMessage, wire []byte) bool {
	switch {
	case c.Expr != nil:
		var tests []func([]byte) bool
		for _, w := range c.Expr.Words {
			switch {
			case slices.Equal(c.Expr.Fields, []string{store.FieldTo}):
				tests = append(tests, headerMatcher("To", w))
			case slices.Equal(c.Expr.Fields, []string{store.FieldCc}):
				tests = append(tests, headerMatcher("Cc", w))
			default:
				tests = append(tests, substringMatcher(w, slices.Contains(c.Expr.Fields, store.FieldSubject)))
			}
		}
		return func(_ *store.MailboxMessage, wire []byte) bool {
			for _, t := range tests {
				if !t(wire) {
					return false
				}
			}
			return true
		}
	case c.Arrived || c.Date:
		return func(m *store.MailboxMessage, _ []byte) bool {
			t := m.Arrived
			if c.Date {
				if m.Date.IsZero() {
					return false
				}
				t = m.Date
			}
			return (c.Since.IsZero() || !t.Before(c.Since)) && (c.Before.IsZero() || t.Before(c.Before))
		}
	case c.Column != "":
		key := map[string]string{"subject": "Subject", "from": "From", "message-id": "Message-ID"}[c.Column]
		h := headerMatcher(key, c.Value)
		return func(_ *store.MailboxMessage, wire []byte) bool { return h(wire) }
	case c.Larger > 0 || c.Smaller > 0:
		return func(_ *store.MailboxMessage, wire []byte) bool {
			n := int64(len(wire))
			return (c.Larger == 0 || n > c.Larger) && (c.Smaller == 0 || n < c.Smaller)
		}
	}
	return func(*store.MailboxMessage, []byte) bool { return true }
}

// needsMeSize is the size of the mailbox's messages as sent.
func (ss *session) needsMeSize(box *mailbox) (int64, error) {
	uids, _ := box.view()
	ids := make([]int64, len(uids))
	for i, u := range uids {
		ids[i] = int64(u)
	}
	var n int64
	err := ss.s.cfg.NeedsMe.FetchMessages(ss.ctx, ids, false, func(m *store.MailboxMessage, _ []byte) error {
		n += int64(max(m.WireSize, m.Size))
		return nil
	})
	return n, err
}
