package imapd

import (
	"bufio"
	"bytes"
	"math/bits"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"patchwell/archive"
	"patchwell/store"
)

// SEARCH runs each condition where it is cheapest and combines the
// results as bit sets over the session's view (one bit per message):
//   - dates, sizes, From, Subject and Message-ID are SQL over the message
//     table (From and Subject as case-insensitive substrings, as IMAP
//     asks);
//   - TEXT, BODY, TO and CC go to the full-text index: each of their
//     words must appear, the last one as a prefix, so "TEXT quot" finds
//     "quoting" but "TEXT uoting" does not (IMAP's substring match would);
//   - other header fields, and strings with no letters or digits, are
//     matched by reading the messages;
//   - flags are the session's own.
func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (_ *imap.SearchData, err error) {
	defer ss.fault("SEARCH", &err)
	if err := ss.live(); err != nil {
		return nil, err
	}
	var res bitset
	if ss.box != nil {
		if res, err = ss.eval(criteria); err != nil {
			return nil, err
		}
	}
	data := &imap.SearchData{}
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for i := range res.ones(len(ss.uids)) {
		n := uint32(i + 1)
		uid := ss.uids[i]
		if kind == imapserver.NumKindUID {
			n = uid
			uids.AddNum(imap.UID(uid))
		} else {
			seqs.AddNum(n)
		}
		if data.Count == 0 {
			data.Min = n
		}
		data.Max = n
		data.Count++
	}
	if kind == imapserver.NumKindUID {
		data.All = uids
	} else {
		data.All = seqs
	}
	return data, nil
}

// bitset has one bit per message of the view, by index.
type bitset []uint64

func newBitset(n int, all bool) bitset {
	b := make(bitset, (n+63)/64)
	if all {
		for i := range b {
			b[i] = ^uint64(0)
		}
		if r := n % 64; r != 0 {
			b[len(b)-1] = 1<<r - 1
		}
	}
	return b
}

func (b bitset) set(i int)      { b[i/64] |= 1 << (i % 64) }
func (b bitset) has(i int) bool { return b[i/64]&(1<<(i%64)) != 0 }
func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}
func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

// not flips the first n bits.
func (b bitset) not(n int) {
	all := newBitset(n, true)
	for i := range b {
		b[i] = ^b[i] & all[i]
	}
}

// ones yields the indexes of the set bits below n, ascending.
func (b bitset) ones(n int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for w, v := range b {
			for v != 0 {
				i := w*64 + bits.TrailingZeros64(v)
				if i >= n || !yield(i) {
					return
				}
				v &= v - 1
			}
		}
	}
}

// fromUIDs marks the view's messages whose UIDs are in uids (ascending).
func (ss *session) fromUIDs(uids []uint32) bitset {
	b := newBitset(len(ss.uids), false)
	j := 0
	for _, u := range uids {
		for j < len(ss.uids) && ss.uids[j] < u {
			j++
		}
		if j < len(ss.uids) && ss.uids[j] == u {
			b.set(j)
		}
	}
	return b
}

// day is the start (UTC) of t's date: IMAP dates have no time.
func day(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// textFields are where TEXT looks: the bare search fields plus To and Cc.
var textFields = []string{store.FieldSubject, store.FieldFrom, store.FieldTo, store.FieldCc,
	store.FieldNQ, store.FieldQ, store.FieldDFN, store.FieldDFA, store.FieldDFB}

// bodyFields are where BODY looks: the body text and the diff.
var bodyFields = []string{store.FieldNQ, store.FieldQ, store.FieldDFN, store.FieldDFA, store.FieldDFB}

func (ss *session) eval(c *imap.SearchCriteria) (bitset, error) {
	n := len(ss.uids)
	res := newBitset(n, true)
	for _, set := range c.SeqNum {
		b := newBitset(n, false)
		for _, r := range set {
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
			for i := max(lo, 1); i <= min(hi, uint32(n)); i++ {
				b.set(int(i) - 1)
			}
		}
		res.and(b)
	}
	for _, set := range c.UID {
		idx, err := ss.spans(set)
		if err != nil {
			return nil, err
		}
		b := newBitset(n, false)
		for _, r := range idx {
			for i := r[0]; i <= r[1]; i++ {
				b.set(i)
			}
		}
		res.and(b)
	}
	var conds []store.MailboxCond
	if !c.Since.IsZero() || !c.Before.IsZero() {
		conds = append(conds, store.MailboxCond{Arrived: true, Since: zeroOr(c.Since, day), Before: zeroOr(c.Before, day)})
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		conds = append(conds, store.MailboxCond{Date: true, Since: zeroOr(c.SentSince, day), Before: zeroOr(c.SentBefore, day)})
	}
	if c.Larger > 0 || c.Smaller > 0 {
		conds = append(conds, store.MailboxCond{Larger: c.Larger, Smaller: c.Smaller})
	}
	var scans []func(wire []byte) bool
	for _, h := range c.Header {
		key := strings.ToLower(h.Key)
		words := store.SearchWords(h.Value)
		switch {
		case h.Value != "" && (key == "from" || key == "subject" || key == "message-id"):
			conds = append(conds, store.MailboxCond{Column: key, Value: h.Value})
		case (key == "to" || key == "cc") && len(words) > 0:
			conds = append(conds, textCond(words, []string{key[:1]}))
		default:
			scans = append(scans, headerMatcher(h.Key, h.Value))
		}
	}
	for _, s := range c.Body {
		if words := store.SearchWords(s); len(words) > 0 {
			conds = append(conds, textCond(words, bodyFields))
		} else {
			scans = append(scans, substringMatcher(s, false))
		}
	}
	for _, s := range c.Text {
		if words := store.SearchWords(s); len(words) > 0 {
			conds = append(conds, textCond(words, textFields))
		} else {
			scans = append(scans, substringMatcher(s, true))
		}
	}
	for _, cond := range conds {
		uids, err := ss.searchCond(cond)
		if err != nil {
			return nil, err
		}
		res.and(ss.fromUIDs(uids))
	}
	if len(scans) > 0 {
		b, err := ss.scan(res, scans)
		if err != nil {
			return nil, err
		}
		res.and(b)
	}
	for _, fl := range c.Flag {
		res.and(ss.flagBits(fl))
	}
	for _, fl := range c.NotFlag {
		b := ss.flagBits(fl)
		b.not(n)
		res.and(b)
	}
	for i := range c.Not {
		b, err := ss.eval(&c.Not[i])
		if err != nil {
			return nil, err
		}
		b.not(n)
		res.and(b)
	}
	for _, pair := range c.Or {
		a, err := ss.eval(&pair[0])
		if err != nil {
			return nil, err
		}
		b, err := ss.eval(&pair[1])
		if err != nil {
			return nil, err
		}
		a.or(b)
		res.and(a)
	}
	return res, nil
}

func zeroOr(t time.Time, f func(time.Time) time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return f(t)
}

func textCond(words, fields []string) store.MailboxCond {
	return store.MailboxCond{Expr: &store.SearchExpr{Op: store.SearchText, Words: words, Fields: fields, Prefix: true}}
}

func (ss *session) flagBits(fl imap.Flag) bitset {
	b := newBitset(len(ss.uids), false)
	for i, uid := range ss.uids {
		if ss.flags.has(uid, fl) {
			b.set(i)
		}
	}
	return b
}

// scan reads the messages still in res and keeps those every matcher
// accepts.
func (ss *session) scan(res bitset, match []func([]byte) bool) (bitset, error) {
	n := len(ss.uids)
	out := newBitset(n, false)
	var conv []byte
	for i := 0; i < n; i++ {
		if !res.has(i) {
			continue
		}
		// A run of candidates goes to the store as one UID range.
		j := i
		for j+1 < n && res.has(j+1) {
			j++
		}
		err := ss.fetchRange(ss.ctx, ss.uids[i], ss.uids[j], true, func(m *store.MailboxMessage, raw []byte) error {
			seq := ss.seqOf(m.UID)
			if seq == 0 {
				return nil
			}
			wire := archive.ToCRLF(raw, conv[:0])
			if len(wire) > 0 && &wire[0] != &raw[0] {
				conv = wire
			}
			for _, f := range match {
				if !f(wire) {
					return nil
				}
			}
			out.set(int(seq) - 1)
			return nil
		})
		if err != nil {
			return nil, err
		}
		i = j
	}
	return out, nil
}

// headerMatcher matches messages whose header key contains value (case
// insensitively); an empty value matches any message with the field.
func headerMatcher(key, value string) func([]byte) bool {
	v := strings.ToLower(value)
	return func(wire []byte) bool {
		h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(wire[:headerEnd(wire)])))
		if err != nil {
			return false
		}
		for f := h.FieldsByKey(key); f.Next(); {
			if strings.Contains(strings.ToLower(f.Value()), v) {
				return true
			}
		}
		return false
	}
}

// substringMatcher matches value in the text (with the header when
// withHeader) of the raw message, case-insensitively.
func substringMatcher(value string, withHeader bool) func([]byte) bool {
	v := bytes.ToLower([]byte(value))
	return func(wire []byte) bool {
		if !withHeader {
			wire = wire[headerEnd(wire):]
		}
		return bytes.Contains(bytes.ToLower(wire), v)
	}
}
