package imapd

import (
	"bufio"
	"bytes"
	"context"
	"io"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"patchwell/archive"
	"patchwell/store"
)

// Fetch streams the requested items from the store a batch at a time:
// a session never holds more than one batch of messages, whatever the
// size of the mailbox.
//
// Bodies are the stored bytes as received, with bare LF line ends sent
// as CRLF, the form IMAP requires (public-inbox-imapd does the same);
// RFC822.SIZE counts what is sent.
func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) (err error) {
	defer ss.fault("FETCH", &err)
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
	// RFC822.SIZE comes from the store; only old rows without it need
	// the bytes (see fetchOne).
	withRaw := options.Envelope || options.BodyStructure != nil ||
		len(options.BodySection) > 0 || len(options.BinarySection) > 0 || len(options.BinarySectionSize) > 0
	markSeen := false
	if !ss.readOnly {
		for _, bs := range options.BodySection {
			markSeen = markSeen || !bs.Peek
		}
		for _, bs := range options.BinarySection {
			markSeen = markSeen || !bs.Peek
		}
	}
	ctx := ss.ctx
	if withRaw {
		// Work on bodies can be long: it stops when the client leaves.
		var stop func()
		ctx, stop = ss.watchPeer()
		defer stop()
		if lc := corkable(ss.conn.NetConn()); lc != nil {
			lc.cork()
			defer lc.uncork()
		}
	}
	mb := msgBytes{ctx: ctx}
	for _, r := range idx {
		lo, hi := ss.uids[r[0]], ss.uids[r[1]]
		err = ss.fetchRange(ctx, lo, hi, withRaw, func(m *store.MailboxMessage, raw []byte) error {
			if err := ctx.Err(); err != nil {
				return err
			}
			seq := ss.seqOf(m.UID)
			if seq == 0 {
				return nil
			}
			if options.RFC822Size && m.WireSize == 0 && raw == nil {
				if err := ss.fetchRange(ctx, m.UID, m.UID, true, func(_ *store.MailboxMessage, r []byte) error {
					m.WireSize = store.WireSize(r)
					return nil
				}); err != nil {
					return err
				}
			}
			mb.reset(raw, m.WireSize, m.Structure)
			return ss.fetchOne(w, seq, m, &mb, options, markSeen)
		})
		if err != nil {
			if ctx.Err() != nil {
				return errGone
			}
			return err
		}
	}
	return nil
}

// errGone ends a command whose client left (or whose server is closing):
// nobody reads the answer.
var errGone = &imap.Error{Type: imap.StatusResponseTypeNo, Text: "Connection closing"}

// msgBytes gives a message as sent (CRLF), converting only what a FETCH
// asks for: a header-only fetch never touches the body.
type msgBytes struct {
	ctx        context.Context // for the MIME parse
	raw        []byte
	full, head []byte // converted, when done
	fullBuf    []byte // our own buffers: raw belongs to the store
	headBuf    []byte
	fullOK     bool
	headOK     bool
	tree       *archive.Part // the MIME structure with its lines counted, when parsed
	kept       []byte        // the structure kept for the message (archive.Structure), if any
	bin        []byte        // BINARY's buffer
}

// reset starts on the message raw, whose size as sent is wireSize (0
// when unknown): when that is its size, its lines all end in CRLF and
// it is sent as it is, without a look for bare LF.
func (b *msgBytes) reset(raw []byte, wireSize int, kept []byte) {
	b.raw, b.full, b.head, b.fullOK, b.headOK, b.tree, b.kept = raw, nil, nil, false, false, nil, kept
	if raw != nil && wireSize == len(raw) {
		b.full, b.fullOK = raw, true
	}
}

// mime is the MIME structure of the message as sent, with its lines
// counted: the kept one when there is one (a damaged one is ignored),
// else parsed.
func (b *msgBytes) mime() (*archive.Part, error) {
	if b.tree == nil && b.kept != nil {
		b.tree, _ = archive.ReadStructure(b.whole(), b.kept)
	}
	if b.tree == nil {
		t, err := archive.ParseMIME(b.ctx, b.whole())
		if err != nil {
			return nil, err
		}
		archive.CountLines(b.whole(), t)
		b.tree = t
	}
	return b.tree, nil
}

// whole is the message as sent.
func (b *msgBytes) whole() []byte {
	if !b.fullOK {
		b.full = archive.ToCRLF(b.raw, b.fullBuf[:0])
		if len(b.full) > 0 && len(b.raw) > 0 && &b.full[0] != &b.raw[0] {
			b.fullBuf = b.full
		}
		b.fullOK = true
	}
	return b.full
}

// header is the header as sent, with the blank line that ends it.
func (b *msgBytes) header() []byte {
	if b.fullOK {
		return b.full[:headerEnd(b.full)]
	}
	if !b.headOK {
		raw := b.raw[:rawHeaderEnd(b.raw)]
		b.head = archive.ToCRLF(raw, b.headBuf[:0])
		if len(b.head) > 0 && len(raw) > 0 && &b.head[0] != &raw[0] {
			b.headBuf = b.head
		}
		b.headOK = true
	}
	return b.head
}

// size is the length of the message as sent, counted without converting.
func (b *msgBytes) size() int {
	if b.fullOK {
		return len(b.full)
	}
	return len(b.raw) + bytes.Count(b.raw, []byte("\n")) - bytes.Count(b.raw, []byte("\r\n"))
}

// rawHeaderEnd is the offset past the blank line that ends the header of
// a message with LF or CRLF line ends (the whole message without one).
func rawHeaderEnd(raw []byte) int {
	for i := 0; i < len(raw); {
		j := bytes.IndexByte(raw[i:], '\n')
		if j < 0 {
			break
		}
		line := raw[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i + j + 1
		}
		i += j + 1
	}
	return len(raw)
}

func (ss *session) fetchOne(w *imapserver.FetchWriter, seq uint32, m *store.MailboxMessage, mb *msgBytes,
	options *imap.FetchOptions, markSeen bool) error {
	rw := w.CreateMessage(seq)
	if options.UID {
		rw.WriteUID(imap.UID(m.UID))
	}
	if markSeen && !ss.flags.has(m.UID, imap.FlagSeen) {
		ss.flags.apply(imap.StoreFlagsAdd, []imap.Flag{imap.FlagSeen}, []span{{m.UID, m.UID}})
		options = withFlags(options)
	}
	if options.Flags {
		rw.WriteFlags(ss.flags.of(m.UID))
	}
	if options.InternalDate {
		rw.WriteInternalDate(m.Arrived)
	}
	if options.RFC822Size {
		size := m.WireSize
		if size == 0 {
			size = mb.size()
		}
		rw.WriteRFC822Size(int64(size))
	}
	if options.Envelope {
		rw.WriteEnvelope(envelope(mb.header()))
	}
	if options.BodyStructure != nil {
		t, err := mb.mime()
		if err != nil {
			return err
		}
		rw.WriteBodyStructure(bodyStructure(mb.whole(), t))
	}
	for _, bs := range options.BodySection {
		var b []byte
		switch {
		case len(bs.Part) > 0:
			t, err := mb.mime()
			if err != nil {
				return err
			}
			b = partSection(mb.whole(), t, bs)
		case bs.Specifier == imap.PartSpecifierHeader:
			b = bodySection(mb.header(), bs)
		default:
			b = bodySection(mb.whole(), bs)
		}
		if err := writeLiteral(rw.WriteBodySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bs := range options.BinarySection {
		t, err := mb.mime()
		if err != nil {
			return err
		}
		b := binarySection(mb.whole(), t, bs.Part, bs.Partial, &mb.bin)
		if err := writeLiteral(rw.WriteBinarySection(bs, int64(len(b))), b); err != nil {
			return err
		}
	}
	for _, bss := range options.BinarySectionSize {
		t, err := mb.mime()
		if err != nil {
			return err
		}
		rw.WriteBinarySectionSize(bss, uint32(len(binarySection(mb.whole(), t, bss.Part, nil, &mb.bin))))
	}
	return rw.Close()
}

func writeLiteral(wc io.WriteCloser, b []byte) error {
	_, err := wc.Write(b)
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	return err
}

// withFlags returns options asking for FLAGS too (a fetch that set
// \Seen reports the new flags, RFC 3501 6.4.5).
func withFlags(o *imap.FetchOptions) *imap.FetchOptions {
	if o.Flags {
		return o
	}
	c := *o
	c.Flags = true
	return &c
}

// bodySection cuts a section without a part number out of the message
// as sent. The whole message, its header and its text are slices of the
// stored bytes; header fields go through go-imap's extractor (which
// reads the header only). Sections of parts are partSection's.
func bodySection(wire []byte, bs *imap.FetchItemBodySection) []byte {
	var b []byte
	switch {
	case len(bs.HeaderFields) > 0 || len(bs.HeaderFieldsNot) > 0:
		b = imapserver.ExtractBodySection(bytes.NewReader(wire), &imap.FetchItemBodySection{
			Specifier: bs.Specifier, HeaderFields: bs.HeaderFields, HeaderFieldsNot: bs.HeaderFieldsNot})
	case bs.Specifier == imap.PartSpecifierHeader:
		b = wire[:headerEnd(wire)]
	case bs.Specifier == imap.PartSpecifierText:
		b = wire[headerEnd(wire):]
	default:
		b = wire
	}
	return partial(b, bs.Partial)
}

// headerEnd is the offset just past the blank line that ends the header
// (the whole message when there is none).
func headerEnd(wire []byte) int {
	if bytes.HasPrefix(wire, []byte("\r\n")) {
		return 2
	}
	if i := bytes.Index(wire, []byte("\r\n\r\n")); i >= 0 {
		return i + 4
	}
	return len(wire)
}

// envelope parses the header for ENVELOPE.
func envelope(head []byte) *imap.Envelope {
	h, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(head)))
	if err != nil {
		return &imap.Envelope{}
	}
	return imapserver.ExtractEnvelope(h)
}
