package imapd

import (
	"bytes"
	"io"
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
// content transfer encoding undone (and a text part's charset made
// UTF-8, as go-imap does); nil when that fails.
func binarySection(wire []byte, root *archive.Part, part []int, p *imap.SectionPartial) []byte {
	if root.HeaderErr != nil {
		return nil
	}
	found, _ := findPart(root, part)
	if found == nil || found.Cut {
		return nil
	}
	ent, err := message.New(message.Header{Header: found.Header}, bytes.NewReader(found.Body(wire)))
	if err != nil {
		return nil
	}
	var buf bytes.Buffer
	if len(part) == 0 {
		if err := textproto.WriteHeader(&buf, found.Header); err != nil {
			return nil
		}
	}
	if _, err := io.Copy(&buf, ent.Body); err != nil {
		return nil
	}
	return partial(buf.Bytes(), p)
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
