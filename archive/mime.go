package archive

import (
	"bufio"
	"bytes"
	"context"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
)

// Limits on ParseMIME: every consumer of a message's MIME structure (the
// IMAP server, the patch extractor behind the web pages and search) goes
// through it, so these are the only MIME limits.
const (
	// MaxDepth is how deep parts nest: a multipart or message/rfc822
	// part at this depth (the message itself is at 0) is opaque, its
	// content not parsed. Dovecot does the same past its own limit.
	MaxDepth = 20
	// MaxParts is how many parts a message has at most (counting the
	// message and enclosed messages); multipart and message parts met
	// after that are opaque, as are those past MaxDepth.
	MaxParts = 10000
)

// Part is one MIME entity of a message (RFC 2045, 2046), as offsets into
// the raw bytes ParseMIME was given.
type Part struct {
	// Header holds the entity's header fields, as go-message reads them.
	Header textproto.Header
	// HeaderErr is set when the header ends in a malformed line: what
	// follows that line is the body. Only the message and enclosed
	// messages have one; a part with a malformed header ends the
	// multipart that holds it, as in go-message.
	HeaderErr error
	// Start is where the header begins, BodyStart where the body
	// begins (past the blank line) and End where it ends.
	Start, BodyStart, End int
	// Parts are the parts of a multipart (primary type "multipart").
	Parts []*Part
	// Message is the message enclosed in a message/rfc822 or
	// message/global part, or in a part without Content-Type in a
	// multipart/digest (RFC 2046 section 5.1.5).
	Message *Part
	// Opaque is set on a multipart or message part nested past
	// MaxDepth or met past MaxParts: its content was not parsed, and it
	// stands for all it holds.
	Opaque bool
	// HeaderOpen is set when the header runs to the end of the part's
	// data, no blank line after it.
	HeaderOpen bool
	// Lines is how many lines the body has, once counted (CountLines;
	// a kept structure has them).
	Lines int64
	// Cut is set on a part that runs to the end of its multipart, no
	// delimiter after it (the message was cut short), and on the
	// messages it encloses. go-message reports an unexpected end of
	// input when it reads such a part to its end.
	Cut bool
}

// Body is the part's body in raw, the bytes ParseMIME was given.
func (p *Part) Body(raw []byte) []byte { return raw[p.BodyStart:p.End] }

// MediaType is the part's media type and parameters as go-message gives
// them (text/plain when there is no Content-Type; the raw field value
// when it does not parse).
func (p *Part) MediaType() (string, map[string]string) {
	h := message.Header{Header: p.Header}
	t, params, _ := h.ContentType()
	return t, params
}

// IsMessage reports whether the part encloses a message, given the media
// type of the multipart that holds it ("" for none).
func (p *Part) IsMessage(parentType string) bool {
	t, _ := p.MediaType()
	return p.isMessage(t, parentType)
}

func (p *Part) isMessage(t, parentType string) bool {
	return t == "message/rfc822" || t == "message/global" ||
		(parentType == "multipart/digest" && !p.Header.Has("Content-Type"))
}

// ParseMIME parses the MIME structure of a raw message in one pass over
// its bytes, whatever their nesting (see scanner). It splits multiparts
// exactly as go-message's multipart reader does (which go-imap and our
// patch extractor used before): the same boundary rules, the same
// tolerance of bare LF, the same end for a part or a multipart cut
// short. It fails only when ctx ends.
func ParseMIME(ctx context.Context, raw []byte) (*Part, error) {
	p := newScanner(ctx, raw)
	root := p.parse()
	if p.err != nil || !p.reread {
		return root, p.err
	}
	// The one pass read past the end of a multipart that was cut short
	// (see scanner.reread): the level-by-level parse gives the answer.
	return parseLevels(ctx, raw)
}

// headerReader reads the headers of parts of one message, as go-message
// reads them.
type headerReader struct {
	raw []byte
	rd  bytes.Reader
	br  *bufio.Reader // reused for every header
}

func newHeaderReader(raw []byte) *headerReader {
	h := &headerReader{raw: raw}
	// The size of go-message's buffers (bufio's default), which
	// decides some of its edge cases.
	h.br = bufio.NewReaderSize(&h.rd, 4096)
	return h
}

// read reads the header of part, which starts at part.Start, in
// raw[part.Start:limit].
func (h *headerReader) read(part *Part, limit int) error {
	h.rd.Reset(h.raw[part.Start:limit])
	h.br.Reset(&h.rd)
	hd, err := textproto.ReadHeader(h.br)
	part.Header = hd
	part.BodyStart = part.Start + int(h.rd.Size()) - h.rd.Len() - h.br.Buffered()
	head := h.raw[part.Start:part.BodyStart]
	blank := bytes.Equal(head, []byte("\n")) || bytes.Equal(head, []byte("\r\n")) ||
		bytes.HasSuffix(head, []byte("\n\n")) || bytes.HasSuffix(head, []byte("\n\r\n"))
	part.HeaderOpen = part.BodyStart == limit && !blank
	return err
}

// lineMax is the longest line go-message's multipart reader reads
// between parts (its buffer): a longer one ends the multipart.
const lineMax = 4096

// splitter holds one multipart's delimiters: nl is the line end its
// first delimiter line set (CRLF, or LF when that line ends in a bare
// LF), nlDash is nl+"--"+boundary, dash "--"+boundary and dashDash the
// close delimiter.
type splitter struct {
	nl, nlDash, dash, dashDash []byte
}

// next reads lines of body from *pos up to the next delimiter line and
// returns where the part after it starts; false at the close delimiter,
// at the end, or at a line that has no place between parts. read is how
// many parts came before.
func (s *splitter) next(body []byte, pos *int, read int) (int, bool) {
	expectPart := false
	for {
		rest := body[*pos:]
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		eof := false
		switch {
		case i >= 0 && i < lineMax:
			line = rest[:i+1]
		case i < 0 && len(rest) < lineMax:
			line, eof = rest, true
		default:
			return 0, false // longer than the reader's buffer
		}
		*pos += len(line)
		if eof {
			return 0, false // the close delimiter or not, the end
		}
		if s.isDelimiter(line, read) {
			return *pos, true
		}
		if s.isClose(line) || expectPart {
			return 0, false
		}
		if read == 0 {
			continue // preamble
		}
		if bytes.Equal(line, s.nl) {
			expectPart = true // the line end before a delimiter
			continue
		}
		return 0, false
	}
}

// isDelimiter reports whether line is "--boundary" with optional white
// space and the line end; the first one sets the line end.
func (s *splitter) isDelimiter(line []byte, read int) bool {
	rest, ok := bytes.CutPrefix(line, s.dash)
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	if read == 0 && len(rest) == 1 && rest[0] == '\n' {
		s.nl, s.nlDash = s.nl[1:], s.nlDash[1:]
	}
	return bytes.Equal(rest, s.nl)
}

// isClose reports whether line is the close delimiter "--boundary--".
func (s *splitter) isClose(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, s.dashDash)
	if !ok {
		return false
	}
	rest = bytes.TrimLeft(rest, " \t")
	return len(rest) == 0 || bytes.Equal(rest, s.nl)
}

// partLen is the length of the part body at the start of data (which
// runs to the end of the enclosing body): up to the line end before the
// next delimiter, where a delimiter is the boundary at the start of a
// line followed by white space, a line end, "-" or the end of data (or,
// right at the start of the body, without a line end before it). At the
// end of data, a last line that is the start of a delimiter is left
// out, as go-message leaves it. cut is set when no delimiter ends it.
func (s *splitter) partLen(data []byte) (n int, cut bool) {
	total := 0
	if rest, ok := bytes.CutPrefix(data, s.dash); ok {
		if len(rest) == 0 || endsDelimiter(rest[0]) {
			return 0, false
		}
		total, data = len(s.dash), rest
	} else if bytes.HasPrefix(s.dash, data) {
		return 0, true
	}
	for {
		i := bytes.Index(data, s.nlDash)
		if i < 0 {
			break
		}
		j := i + len(s.nlDash)
		if j == len(data) || endsDelimiter(data[j]) {
			return total + i, false
		}
		total, data = total+j, data[j:]
	}
	return total + s.tailLen(data), true
}

// tailLen is where a part cut short ends in data, what is left of it
// after its last line that starts like a delimiter but is none: before
// a last line that is the start of a delimiter, if any.
func (s *splitter) tailLen(data []byte) int {
	if bytes.HasPrefix(s.nlDash, data) {
		return 0
	}
	if i := bytes.LastIndexByte(data, s.nlDash[0]); i >= 0 && bytes.HasPrefix(s.nlDash, data[i:]) {
		return i
	}
	return len(data)
}

// tailEnd is tailLen of raw[r:end] as an offset in raw, looking at the
// last len(nlDash) bytes only (what can be the start of a delimiter).
func (s *splitter) tailEnd(raw []byte, r, end int) int {
	if end-r <= len(s.nlDash) {
		return r + s.tailLen(raw[r:end])
	}
	w := end - len(s.nlDash)
	if i := bytes.LastIndexByte(raw[w:end], s.nlDash[0]); i >= 0 && bytes.HasPrefix(s.nlDash, raw[w+i:end]) {
		return w + i
	}
	return end
}

func endsDelimiter(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '-'
}
