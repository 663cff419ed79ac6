package imapd

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"

	"patchwell/archive"
)

// The MIME side of FETCH: BODYSTRUCTURE, BODY[part...] and BINARY[...]
// built on archive.ParseMIME, which caps nesting (archive.MaxDepth) and
// parts (archive.MaxParts) and reads a message in one pass whatever its
// nesting; line counts take one more (archive.CountLines). A big
// message's structure was kept when it arrived (archive.Structure) and
// is read back instead, its body not read at all. What they give
// for a message within the caps is what go-imap's extractors
// (imapserver.ExtractBodyStructure and friends) give, which this server
// used before; past the caps, an opaque part is an
// application/octet-stream leaf holding all it contains.

// bodyStructure is the BODYSTRUCTURE of the message wire, whose MIME
// structure is root with its lines counted (archive.CountLines) (RFC
// 3501 section 7.4.2, RFC 9051 section 7.5.2).
func bodyStructure(wire []byte, p *archive.Part) imap.BodyStructure {
	h := message.Header{Header: p.Header}
	t, params := p.MediaType()
	typ, sub, _ := strings.Cut(t, "/")
	if typ == "multipart" && !p.Opaque {
		bs := &imap.BodyStructureMultiPart{Subtype: sub, Extended: &imap.BodyStructureMultiPartExt{
			Params: params, Disposition: disposition(h), Language: language(h), Location: h.Get("Content-Location"),
		}}
		for _, c := range p.Parts {
			bs.Children = append(bs.Children, bodyStructure(wire, c))
		}
		if len(bs.Children) == 0 {
			// The grammar wants a part at least (body-type-mpart); a
			// multipart without one (no boundary, no delimiter line)
			// gets an empty text/plain one, as Dovecot gives it.
			// go-imap's writer panics on a multipart without parts.
			bs.Children = []imap.BodyStructure{&imap.BodyStructureSinglePart{
				Type: "text", Subtype: "plain", Text: &imap.BodyStructureText{}, Extended: &imap.BodyStructureSinglePartExt{},
			}}
		}
		return bs
	}
	body := p.Body(wire)
	bs := &imap.BodyStructureSinglePart{
		Type: typ, Subtype: sub, Params: params,
		ID: h.Get("Content-Id"), Description: h.Get("Content-Description"),
		Encoding: h.Get("Content-Transfer-Encoding"),
		Size:     uint32(len(body)),
		Extended: &imap.BodyStructureSinglePartExt{
			Disposition: disposition(h), Language: language(h), Location: h.Get("Content-Location"),
		},
	}
	switch {
	case p.Opaque:
		bs.Type, bs.Subtype, bs.Params = "application", "octet-stream", nil
	case t == "message/rfc822" || t == "message/global":
		bs.MessageRFC822 = &imap.BodyStructureMessageRFC822{
			Envelope:      imapserver.ExtractEnvelope(p.Message.Header),
			BodyStructure: bodyStructure(wire, p.Message),
			NumLines:      p.Lines,
		}
	}
	if bs.Type == "text" {
		bs.Text = &imap.BodyStructureText{NumLines: p.Lines}
	}
	return bs
}

func disposition(h message.Header) *imap.BodyStructureDisposition {
	d, params, _ := h.ContentDisposition()
	if d == "" {
		return nil
	}
	return &imap.BodyStructureDisposition{Value: d, Params: params}
}

func language(h message.Header) []string {
	v := h.Get("Content-Language")
	if v == "" {
		return nil
	}
	l := strings.Split(v, ",")
	for i := range l {
		l[i] = strings.TrimSpace(l[i])
	}
	return l
}

func isMultipart(p *archive.Part) bool {
	t, _ := p.MediaType()
	return strings.HasPrefix(t, "multipart/") && !p.Opaque
}

// opened is the message p encloses (nil when it encloses none), given
// the media type of the multipart that holds p.
func opened(p *archive.Part, parentType string) *archive.Part {
	if p.Opaque || !p.IsMessage(parentType) {
		return nil
	}
	return p.Message
}

// findPart follows a section path (RFC 3501 section 6.4.5): part 1 of a
// message that is not multipart is the message itself; a part that
// encloses a message stands for that message on the way down. It returns
// the part and the media type of the multipart holding it, or nil when
// the path leads nowhere. An opaque part stands for everything below it.
func findPart(root *archive.Part, path []int) (*archive.Part, string) {
	if !isMultipart(root) && len(path) > 0 && path[0] == 1 {
		path = path[1:]
	}
	p, parentType := root, ""
	for _, n := range path {
		if m := opened(p, parentType); m != nil {
			p = m
		}
		if !isMultipart(p) {
			if n != 1 {
				return nil, ""
			}
			continue
		}
		if n < 1 || n > len(p.Parts) {
			return nil, ""
		}
		c := p.Parts[n-1]
		if p.Cut && c.HeaderOpen {
			// go-message fails on a header cut short by the end of
			// a cut-short part (the error is an unexpected end of
			// input, where the end of a message is fine).
			return nil, ""
		}
		parentType, _ = p.MediaType()
		p = c
	}
	return p, parentType
}

// partSection is BODY[part...] (a section with a part number) of the
// message wire.
func partSection(wire []byte, root *archive.Part, bs *imap.FetchItemBodySection) []byte {
	if root.HeaderErr != nil {
		return nil // as go-imap: a message whose header does not parse has no parts
	}
	p, parentType := findPart(root, bs.Part)
	if p == nil {
		return nil
	}
	if bs.Specifier == imap.PartSpecifierHeader || bs.Specifier == imap.PartSpecifierText {
		if m := opened(p, parentType); m != nil {
			p = m
		}
	}
	hdr, body := p.Header, p.Body(wire)
	if bs.Specifier != imap.PartSpecifierHeader && bs.Specifier != imap.PartSpecifierMIME {
		if p.Cut {
			return nil // as go-imap, which fails to read it to its end
		}
		return partial(body, bs.Partial) // a slice of the message, not a copy
	}
	var buf bytes.Buffer
	hdr = hdr.Copy()
	if len(bs.HeaderFields) > 0 {
		keep := map[string]bool{}
		for _, k := range bs.HeaderFields {
			keep[strings.ToLower(k)] = true
		}
		for f := hdr.Fields(); f.Next(); {
			if !keep[strings.ToLower(f.Key())] {
				f.Del()
			}
		}
	}
	for _, k := range bs.HeaderFieldsNot {
		hdr.Del(k)
	}
	if err := textproto.WriteHeader(&buf, hdr); err != nil {
		return nil
	}
	return partial(buf.Bytes(), bs.Partial)
}

// binarySection is BINARY[part...] (RFC 3516): the part with its
// content transfer encoding undone; nil when that fails. Only the
// transfer encoding: a text part keeps its charset (RFC 3516 section
// 4.2; go-imap also converts it to UTF-8, as Dovecot does not). It is
// written in *scratch, which keeps the buffer for the next.
func binarySection(wire []byte, root *archive.Part, part []int, p *imap.SectionPartial, scratch *[]byte) []byte {
	if root.HeaderErr != nil {
		return nil
	}
	found, _ := findPart(root, part)
	if found == nil || found.Cut {
		return nil
	}
	out := bytes.NewBuffer((*scratch)[:0])
	if len(part) == 0 {
		if err := textproto.WriteHeader(out, found.Header); err != nil {
			return nil
		}
	}
	b, ok := decodeBody(out.Bytes(), found.Header, found.Body(wire))
	*scratch = b
	if !ok {
		return nil
	}
	return partial(b, p)
}

// decodeBody appends to out the body of an entity with header hdr with
// its transfer encoding undone as go-message's readers undo it (false
// where they fail; a multipart's encoding is ignored, as go-message
// ignores it). Base64 and quoted-printable are decoded in one pass over
// the bytes instead of through the readers, with the same result; what
// that pass is unsure of goes to the readers.
func decodeBody(out []byte, hdr textproto.Header, body []byte) ([]byte, bool) {
	h := message.Header{Header: hdr}
	t, _, _ := h.ContentType()
	enc := strings.ToLower(h.Get("Content-Transfer-Encoding"))
	if strings.HasPrefix(t, "multipart/") {
		enc = ""
	}
	var dec io.Reader
	switch enc {
	case "7bit", "8bit", "binary", "":
		return append(out, body...), true
	case "base64":
		if b, ok := decodeBase64(out, body); ok {
			return b, true
		}
		dec = base64Reader(body)
	case "quoted-printable":
		if b, ok := decodeQP(out, body); ok {
			return b, true
		}
		dec = quotedprintable.NewReader(bytes.NewReader(body))
	default:
		return out, false
	}
	buf := bytes.NewBuffer(out)
	buf.Grow(len(body))
	_, err := buf.ReadFrom(dec)
	return buf.Bytes(), err == nil
}

// base64Reader decodes as go-message does: spaces and tabs are ignored
// (taken as line ends), as are CR and LF.
func base64Reader(body []byte) io.Reader {
	spaced := bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' {
			return '\n'
		}
		return r
	}, body)
	return base64.NewDecoder(base64.StdEncoding, bytes.NewReader(spaced))
}

// decodeQP appends a quoted-printable body to out, decoded as Go's
// quotedprintable.Reader decodes it (go-message's): line by line, white
// space at the end of a line dropped, "=" at its end a soft line break,
// "=XY" a byte (lower-case hex taken), "=" not followed by two hex
// digits a literal "=" unless a line end follows, a line's CRLF or LF
// kept. false where the reader would fail (a control character, a bad
// soft break, a line longer than its 4 KiB buffer), for it to say.
func decodeQP(out, body []byte) ([]byte, bool) {
	out = slices.Grow(out, len(body))
	for len(body) > 0 {
		whole := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			whole, body = body[:i+1], body[i+1:]
		} else {
			body = nil
		}
		if len(whole) > 4000 {
			return out, false
		}
		hasLF := whole[len(whole)-1] == '\n'
		hasCR := hasLF && len(whole) > 1 && whole[len(whole)-2] == '\r'
		line := bytes.TrimRight(whole, "\n\r \t")
		var end string // the line end the reader puts back
		if len(line) > 0 && line[len(line)-1] == '=' {
			rest := bytes.TrimLeft(whole[len(line):], " \t")
			line = line[:len(line)-1]
			if !bytes.HasPrefix(rest, []byte("\n")) && !bytes.HasPrefix(rest, []byte("\r\n")) && !(len(rest) == 0 && len(line) > 0 && !hasLF) {
				return out, false
			}
		} else if hasCR {
			end = "\r\n"
		} else if hasLF {
			end = "\n"
		}
		// The line end put back never completes an escape: the last
		// byte of line is no "=", so an "=" followed by it has one byte
		// of line after it, and that and the CR or LF are no hex pair.
		for len(line) > 0 {
			// A run of bytes that stand for themselves, copied at once.
			i := 0
			for i < len(line) && qpPlain[line[i]] {
				i++
			}
			out = append(out, line[:i]...)
			if line = line[i:]; len(line) == 0 {
				break
			}
			c := line[0]
			if c != '=' {
				return out, false // a control character
			}
			switch {
			case len(line) >= 3 && isHex(line[1]) && isHex(line[2]):
				out = append(out, unhex(line[1])<<4|unhex(line[2]))
				line = line[3:]
			case len(line) >= 2 && line[1] != '\r' && line[1] != '\n':
				out = append(out, '=') // a literal "="
				line = line[1:]
			default:
				return out, false
			}
		}
		out = append(out, end...)
	}
	return out, true
}

// qpPlain are the bytes quoted-printable's reader passes as they are:
// printable ASCII but "=", tab, CR, LF and every byte from 0x80.
var qpPlain = func() (t [256]bool) {
	for c := range t {
		t[c] = c >= ' ' && c <= '~' && c != '=' || c == '\t' || c == '\r' || c == '\n' || c >= 0x80
	}
	return t
}()

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// decodeBase64 appends a base64 body to out, decoded as go-message
// decodes it, when its padding is only at its end; false otherwise
// (also where it is not base64: a space or tab, which go-message
// ignores, or anything else not of the alphabet), for the reader to
// decide: stream decoding treats padding inside the data in its own way.
// The decoder ignores CR and LF, as go-message does.
func decodeBase64(out, body []byte) ([]byte, bool) {
	if i := bytes.IndexByte(body, '='); i >= 0 {
		pad := 0
		for _, c := range body[i:] {
			switch c {
			case '=':
				pad++
			case '\r', '\n':
			default:
				return out, false
			}
		}
		if pad > 2 {
			return out, false
		}
	}
	n := base64.StdEncoding.DecodedLen(len(body))
	out = slices.Grow(out, n)
	m, err := base64.StdEncoding.Decode(out[len(out):len(out)+n], body)
	if err != nil {
		return out, false
	}
	return out[:len(out)+m], true
}

// partial cuts <offset.size> out of b.
func partial(b []byte, p *imap.SectionPartial) []byte {
	if p == nil {
		return b
	}
	if p.Offset >= int64(len(b)) {
		return nil
	}
	b = b[p.Offset:]
	if p.Size < int64(len(b)) {
		b = b[:p.Size]
	}
	return b
}
