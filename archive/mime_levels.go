package archive

import (
	"context"
	"strings"
)

// parseLevels is ParseMIME level by level, as the multipart reader of
// go-message reads a message: each multipart's parts are found before
// what they hold is parsed, so a message costs one pass over its bytes
// per nesting level, at most MaxDepth+1 passes. ParseMIME falls back on
// it for the few messages its one pass cannot settle, and the tests
// hold the one pass to it.
func parseLevels(ctx context.Context, raw []byte) (*Part, error) {
	p := &mimeParser{limits: limits{ctx: ctx}, h: newHeaderReader(raw), raw: raw}
	root := p.message(0, len(raw), 0, "", false)
	return root, p.err
}

type mimeParser struct {
	limits
	h   *headerReader
	raw []byte
}

// limits is what both parsers count against MaxDepth and MaxParts, and
// the first error (the context's end).
type limits struct {
	ctx   context.Context
	parts int
	err   error
}

// descend returns part's media type and parameters, whether it is an
// enclosed message, and whether to parse its content: a multipart or a
// message within the limits while the context lasts. A part past a limit
// is marked Opaque.
func (l *limits) descend(part *Part, depth int, parentType string) (t string, params map[string]string, isMsg, ok bool) {
	t, params = part.MediaType()
	primary, _, _ := strings.Cut(t, "/")
	isMsg = part.isMessage(t, parentType)
	if primary != "multipart" && !isMsg {
		return t, params, isMsg, false
	}
	if l.err == nil {
		l.err = l.ctx.Err()
	}
	if depth >= MaxDepth || l.parts >= MaxParts || l.err != nil {
		part.Opaque = true
		return t, params, isMsg, false
	}
	return t, params, isMsg, true
}

// message parses the message in raw[start:limit] at depth. parentType
// is that of the multipart holding the part that encloses it: go-message
// (and so go-imap's section lookup) takes a message without Content-Type
// enclosed in a multipart/digest part to enclose a message itself.
func (p *mimeParser) message(start, limit, depth int, parentType string, cut bool) *Part {
	m := &Part{Start: start, End: limit, Cut: cut}
	m.HeaderErr = p.h.read(m, limit)
	p.parts++
	p.content(m, depth, parentType)
	return m
}

// content parses what a part holds, when it is a multipart or a message.
func (p *mimeParser) content(part *Part, depth int, parentType string) {
	t, params, isMsg, ok := p.descend(part, depth, parentType)
	if !ok {
		return
	}
	if isMsg {
		part.Message = p.message(part.BodyStart, part.End, depth+1, parentType, part.Cut)
		return
	}
	p.multipart(part, t, params["boundary"], depth)
}

// multipart splits the body of part into its parts, as go-message's
// textproto.MultipartReader does (RFC 2046 section 5.1.1, with its
// tolerance of bare LF and of white space after a boundary): lines
// before the first delimiter line are skipped, each part runs to the
// next delimiter, and the close delimiter, a malformed part header or
// anything else between parts ends it.
func (p *mimeParser) multipart(part *Part, mediaType, boundary string, depth int) {
	if boundary == "" {
		return
	}
	body := p.raw[part.BodyStart:part.End]
	b := []byte("\r\n--" + boundary + "--")
	s := splitter{nl: b[:2], nlDash: b[:len(b)-2], dashDash: b[2:], dash: b[2 : len(b)-2]}
	pos, read := 0, 0
	for {
		start, ok := s.next(body, &pos, read)
		if !ok {
			return
		}
		if p.parts >= MaxParts || p.err != nil {
			return
		}
		if p.parts%64 == 0 {
			if p.err = p.ctx.Err(); p.err != nil {
				return
			}
		}
		c := &Part{Start: part.BodyStart + start}
		if err := p.h.read(c, part.End); err != nil {
			return
		}
		n, cut := s.partLen(p.raw[c.BodyStart:part.End])
		c.End, c.Cut = c.BodyStart+n, cut
		p.parts++
		read++
		part.Parts = append(part.Parts, c)
		p.content(c, depth+1, mediaType)
		pos = c.End - part.BodyStart
	}
}
