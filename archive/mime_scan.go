package archive

import (
	"bytes"
	"context"
	"encoding/binary"
	"math/bits"
)

// The one pass of ParseMIME.
//
// Read level by level (parseLevels), a message nested d deep costs d+1
// passes: each multipart looks for its delimiters through everything
// its parts hold before those are parsed. The scanner reads the message
// once, front to back, with a stack of the multiparts it is in (frames).
// Every line that starts with "--" is looked up at once in a trie of
// their boundaries; the outermost multipart whose delimiter it is ends
// its part there, and with it every multipart and part inside, which
// end as go-message ends a part cut short (splitter.tailEnd). Headers,
// and the lines between parts, are read as go-message reads them.
//
// That costs one pass over the message, and a walk in the trie for each
// line that starts with "--" and what all the boundaries start with:
// linear in its size, whatever its nesting.
//
// What go-message decides inside a multipart depends only on the bytes
// before the multipart's end, which the scanner learns later, when an
// enclosing multipart's delimiter comes. So each frame notes how far its
// reads went (headers, delimiter lines, delimiters, and those of the
// frames inside); when its end comes before that, the pass read past
// it. The headers of messages a part encloses are then read again
// within the part (chainAgain: a multipart/digest's parts often run
// into their end so); a delimiter line followed by a malformed header
// ends the multipart either way (alt); otherwise the answer may differ
// (a header or a delimiter line cut in two by the end of a multipart
// cut short), and the scanner gives up: ParseMIME parses level by
// level. Messages that do that are made to (see TestParseMIMECases);
// the tests hold the one pass to the level-by-level parse, and both to
// go-message.
type scanner struct {
	limits
	raw    []byte
	h      *headerReader
	reread bool // a frame read past its end: parse level by level

	frames []*frame // the multiparts the scan is in, outermost first
	trie   trie     // their boundaries
	// dash is the next line at or after from that starts with the
	// needle, "--" and what every boundary of the frames starts with
	// (-1 when the frames changed).
	dash, from int
	needle     []byte
	node       int32 // the trie's node for what follows "--" in needle
	dense      bool  // such lines came close together
	last       int   // the last one
	lines      int   // lines looked at, for the context checks
	hits       []hit
}

// frame is a multipart the scan is in.
type frame struct {
	part      *Part // the multipart
	mediaType string
	depth     int
	s         splitter
	read      int // parts read
	// lineAt is the next line of the preamble to read, before the
	// first delimiter line.
	lineAt int
	// cur is the part being read (nil in the preamble). Its body is
	// searched for a delimiter from from (past "--boundary" when it
	// starts with one that is no delimiter); false1 and false2 are the
	// ends of its last two "<nl>--boundary" that had no delimiter's end
	// (-1 for none), for its end if it is cut short.
	cur            *Part
	from           int
	false1, false2 int
	// used is how far the frame's own reads went (part headers,
	// delimiter lines, delimiters): they must lie within the part that
	// holds the multipart. inPart is how far the frames inside cur that
	// are done read: within cur. chain is how far the headers of the
	// messages cur encloses went, if any: when that is past the end of
	// cur, they are read again within it (chainAgain).
	used, inPart, chain int
	// alt is what the frame read that lies within the part holding the
	// multipart or not at all; inAlt is the same for frames inside cur
	// that are done.
	alt, inAlt []alt
	// partsAt is how many parts there were with cur.
	partsAt int
}

// alt is a read that gives the same answer when end, the end of what
// holds it, is before line or not before read: the end of a delimiter
// line and how far the header after it was read.
type alt struct{ line, read int }

// within reports whether reads up to used, and alts, give the answers
// they give within end.
func within(used int, alts []alt, end int) bool {
	for _, a := range alts {
		if a.line <= end && a.read > end {
			return false
		}
	}
	return used <= end
}

func newScanner(ctx context.Context, raw []byte) *scanner {
	return &scanner{limits: limits{ctx: ctx}, raw: raw, h: newHeaderReader(raw), dash: -1}
}

// parse parses the message; see reread and err.
func (p *scanner) parse() *Part {
	root := &Part{Start: 0, End: len(p.raw)}
	root.HeaderErr = p.h.read(root, len(p.raw))
	p.parts++
	p.content(root, 0, "", nil)
	p.run(root.BodyStart)
	return root
}

// headerUsed is how far reading part's header (with err) looked.
func (p *scanner) headerUsed(part *Part, err error) int {
	if err == nil && !part.HeaderOpen {
		return part.BodyStart // its blank line
	}
	// The line after a malformed one was peeked at; a header without
	// a blank line ran to the end.
	return min(part.BodyStart+1, len(p.raw))
}

// content parses what part holds, when it is a multipart or a message,
// as mimeParser.content does. owner is the frame part is the current
// part of (nil for the message and the messages it encloses).
func (p *scanner) content(part *Part, depth int, parentType string, owner *frame) {
	for {
		t, params, isMsg, ok := p.descend(part, depth, parentType)
		if !ok {
			return
		}
		if !isMsg {
			if b := params["boundary"]; b != "" {
				p.push(part, t, b, depth)
			}
			return
		}
		m := &Part{Start: part.BodyStart, End: part.End, Cut: part.Cut}
		m.HeaderErr = p.h.read(m, len(p.raw))
		if owner != nil {
			owner.chain = max(owner.chain, p.headerUsed(m, m.HeaderErr))
		}
		p.parts++
		part.Message = m
		part, depth = m, depth+1
	}
}

func (p *scanner) push(part *Part, mediaType, boundary string, depth int) {
	b := []byte("\r\n--" + boundary + "--")
	f := &frame{part: part, mediaType: mediaType, depth: depth, lineAt: part.BodyStart,
		s: splitter{nl: b[:2], nlDash: b[:len(b)-2], dashDash: b[2:], dash: b[2 : len(b)-2]}}
	p.frames = append(p.frames, f)
	p.trie.add(f.s.dash[2:], len(p.frames)-1)
	p.dash = -1
}

// pop leaves the innermost frame, whose multipart has no more parts.
func (p *scanner) pop() {
	n := len(p.frames) - 1
	f := p.frames[n]
	p.trie.remove(f.s.dash[2:], n)
	p.frames = p.frames[:n]
	p.dash = -1
	if n > 0 {
		par := p.frames[n-1]
		par.inPart = max(par.inPart, f.used)
		par.inAlt = append(par.inAlt, f.alt...)
	}
}

// newline is the index of the first '\n' in raw at or after k, -1 for
// none. Lines are short where it is used: it reads eight bytes at a time
// (the lowest byte the test finds is exact; only bytes above a match
// can be false), then leaves long lines to IndexByte.
func newline(raw []byte, k int) int {
	for e := min(len(raw), k+64); k+8 <= e; k += 8 {
		v := binary.LittleEndian.Uint64(raw[k:]) ^ 0x0a0a0a0a0a0a0a0a
		if m := (v - 0x0101010101010101) &^ v & 0x8080808080808080; m != 0 {
			return k + bits.TrailingZeros64(m)>>3
		}
	}
	if i := bytes.IndexByte(raw[k:], '\n'); i >= 0 {
		return k + i
	}
	return -1
}

// hasPrefix is bytes.HasPrefix for short prefixes, without a call.
func hasPrefix(b, prefix []byte) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i, c := range prefix {
		if b[i] != c {
			return false
		}
	}
	return true
}

// nextDash is the next line at or after at that may hold a delimiter
// (len(raw) for none): it starts with "--" and what the boundaries of
// all frames start with, and then with one of them (trie.mayStart). Where
// such lines are rare, bytes.Index finds them; where they come close
// together, looking at each line costs less.
func (p *scanner) nextDash(at int) int {
	if p.dash >= at && p.from <= at {
		return p.dash
	}
	if p.dash < 0 {
		var prefix []byte
		prefix, p.node = p.trie.prefix(32)
		p.needle = append(append(p.needle[:0], "\n--"...), prefix...)
	}
	p.from = at
	raw, nd := p.raw, p.needle[1:]
	// A needle of up to 8 bytes is compared as one word.
	var word, mask uint64
	if len(nd) <= 8 {
		var w [8]byte
		copy(w[:], nd)
		word = binary.LittleEndian.Uint64(w[:])
		mask = ^uint64(0) >> (64 - 8*len(nd))
	}
	node := &p.trie.nodes[p.node]
	for pos := max(at, 1); pos < len(raw); {
		var x int
		if p.dense {
			// Lines are short here: look at bytes before calling
			// IndexByte.
			k := newline(raw, pos-1)
			if k < 0 {
				break
			}
			x = k + 1
			var has bool
			if mask != 0 && x+8 <= len(raw) {
				has = binary.LittleEndian.Uint64(raw[x:])&mask == word
			} else {
				has = hasPrefix(raw[x:], nd)
			}
			if !has {
				p.dense = x-p.last < 4096
				pos = x + 1
				continue
			}
		} else {
			i := bytes.Index(raw[pos-1:], p.needle)
			if i < 0 {
				break
			}
			x = pos + i
		}
		p.dense, p.last = x-p.last < 256, x
		// What follows the needle leaves the trie at once, mostly.
		if j := x + len(nd); len(node.ends) == 0 && j < len(raw) && node.has[raw[j]>>6]&(1<<(raw[j]&63)) == 0 {
			pos = x + 2
			continue
		}
		if p.trie.mayStart(p.node, raw[x+len(nd):]) {
			p.dash = x
			return x
		}
		pos = x + 2
	}
	p.dash = len(raw)
	return p.dash
}

func (p *scanner) run(at int) {
	for len(p.frames) > 0 && p.err == nil && !p.reread {
		p.lines++
		if p.lines%1024 == 0 {
			if p.err = p.ctx.Err(); p.err != nil {
				return
			}
		}
		f := p.frames[len(p.frames)-1]
		x := p.nextDash(at)
		if f.cur == nil && f.lineAt <= x {
			y := f.lineAt
			if bytes.HasPrefix(p.raw[y:], []byte("--")) {
				at = max(at, y+2)
				if p.dashLine(y) {
					continue // an enclosing part ended: f with it
				}
			}
			at = max(at, y+1)
			p.preambleLine(f, y)
			continue
		}
		if x == len(p.raw) {
			break
		}
		at = x + 2
		p.dashLine(x)
	}
	if p.err == nil && !p.reread {
		// The end of the message ends what is still open.
		p.cascade(-1, len(p.raw))
	}
}

// preambleLine reads line y of the preamble of f, the innermost frame,
// as splitter.next does before the first part.
func (p *scanner) preambleLine(f *frame, y int) {
	rest := p.raw[y:]
	i := bytes.IndexByte(rest[:min(len(rest), lineMax)], '\n')
	if i < 0 {
		p.pop() // the end, or a line too long: the multipart ends
		return
	}
	line := rest[:i+1]
	switch {
	case f.s.isDelimiter(line, 0):
		p.newPart(f, y+i+1)
	case f.s.isClose(line):
		p.pop()
	default:
		f.lineAt = y + i + 1
	}
}

// newPart reads the header of a part of f, the innermost frame, at
// start, past its delimiter line, as mimeParser.multipart does.
func (p *scanner) newPart(f *frame, start int) {
	if p.parts >= MaxParts || p.err != nil {
		p.pop()
		return
	}
	if p.parts%64 == 0 {
		if p.err = p.ctx.Err(); p.err != nil {
			return
		}
	}
	c := &Part{Start: start}
	err := p.h.read(c, len(p.raw))
	if err != nil {
		// The multipart ends here as it does when the delimiter line
		// is past its end; not when the header it reads is cut short
		// by that end and so has no error.
		f.alt = append(f.alt, alt{start, p.headerUsed(c, err)})
		p.pop()
		return
	}
	f.used = max(f.used, p.headerUsed(c, err))
	p.parts++
	f.read++
	f.part.Parts = append(f.part.Parts, c)
	f.cur, f.from, f.false1, f.false2, f.inPart, f.inAlt, f.chain, f.partsAt = c, c.BodyStart, -1, -1, 0, f.inAlt[:0], 0, p.parts
	p.content(c, f.depth+1, f.mediaType, f)
}

// A candidate delimiter on a line: for frame i, the part ends at end and
// the delimiter ("--boundary") at j.
type hit struct{ i, end, j int }

// dashLine looks at line x, which starts with "--", for a delimiter of
// the frames that search their parts; it reports whether a part ended.
func (p *scanner) dashLine(x int) bool {
	other := p.hits[:0] // no delimiter, or the start of a body moved
	best := hit{i: -1}
	t, s := &p.trie, p.raw[x+2:]
	if len(t.nodes) == 0 {
		return false
	}
	for node, n := int32(0), 0; ; n++ {
		p.hitsAt(x, n, t.nodes[node].ends, &best, &other)
		if n == len(s) {
			break
		}
		if node = t.kid(node, s[n]); node < 0 {
			break
		}
	}
	p.hits = other
	for _, h := range other {
		if best.i >= 0 && h.i >= best.i {
			continue // inside the part that ends here
		}
		f := p.frames[h.i]
		if h.end < 0 {
			f.from = h.j
		} else {
			f.false2, f.false1 = f.false1, h.j
		}
	}
	if best.i < 0 {
		return false
	}
	p.endPart(best)
	return true
}

// hitsAt looks at the frames whose boundary of n bytes starts line x.
func (p *scanner) hitsAt(x, n int, frames []int, best *hit, other *[]hit) {
	for _, i := range frames {
		f := p.frames[i]
		if f.cur == nil {
			continue
		}
		j := x + 2 + n
		end := j == len(p.raw) || endsDelimiter(p.raw[j])
		nl := len(f.s.nl)
		switch {
		case x == f.cur.BodyStart && f.from == x:
			// "--boundary" right at the start of the body.
			if end && (best.i < 0 || i < best.i) {
				*best = hit{i, x, j}
			} else if !end {
				*other = append(*other, hit{i, -1, j})
			}
		case x-nl >= f.from && bytes.Equal(p.raw[x-nl:x], f.s.nl):
			if end && (best.i < 0 || i < best.i) {
				*best = hit{i, x - nl, j}
			} else if !end {
				*other = append(*other, hit{i, 0, j})
			}
		}
	}
}

// endPart ends the current part of frame h.i at h.end, at its delimiter
// h.j, and reads on to the next part.
func (p *scanner) endPart(h hit) {
	f := p.frames[h.i]
	if !p.chainAgain(h.i, h.end, false) {
		p.cascade(h.i, h.end)
		if p.reread {
			return
		}
		if !within(f.inPart, f.inAlt, h.end) {
			p.reread = true
			return
		}
		f.cur.End, f.cur.Cut = h.end, false
		setChain(f.cur)
	}
	f.used = max(f.used, h.j)
	f.cur = nil
	pos := h.end - f.part.BodyStart
	start, ok := f.s.next(p.raw[f.part.BodyStart:], &pos, f.read)
	if !ok {
		p.pop()
		return
	}
	p.newPart(f, f.part.BodyStart+start)
}

// cascade ends the frames inside frame k (all with k = -1), whose
// innermost part ends at end: each one's current part is cut short
// there, as go-message cuts it (splitter.partLen), and ends the frames
// inside it.
func (p *scanner) cascade(k, end int) {
	for i := k + 1; i < len(p.frames); i++ {
		f := p.frames[i]
		if !within(f.used, f.alt, end) {
			p.reread = true
			return
		}
		if f.cur == nil {
			continue // in its preamble: the innermost
		}
		e, cut, ok := p.cutShort(f, end)
		if !ok {
			p.reread = true
			return
		}
		if p.chainAgain(i, e, cut) {
			break
		}
		if !within(f.inPart, f.inAlt, e) {
			p.reread = true
			return
		}
		f.cur.End, f.cur.Cut = e, cut
		setChain(f.cur)
		end = e
	}
	p.drop(k)
}

// drop leaves the frames inside frame k.
func (p *scanner) drop(k int) {
	for len(p.frames) > k+1 {
		n := len(p.frames) - 1
		p.trie.remove(p.frames[n].s.dash[2:], n)
		p.frames = p.frames[:n]
		p.dash = -1
	}
}

// chainAgain ends the current part of frame i at end when the headers
// of the messages it encloses were read past there: what it holds is
// parsed again within it, level by level (cheap: past the end of the
// part, the message whose header was cut short by it is empty, and so
// are those it encloses), and the frames inside are dropped. It reports
// whether it did.
func (p *scanner) chainAgain(i, end int, cut bool) bool {
	f := p.frames[i]
	if f.cur.Message == nil || f.chain <= end {
		return false
	}
	p.drop(i)
	c := f.cur
	c.End, c.Cut, c.Message = end, cut, nil
	lp := &mimeParser{limits: limits{ctx: p.ctx, parts: f.partsAt}, h: p.h, raw: p.raw}
	lp.content(c, f.depth+1, f.mediaType)
	p.parts, f.inPart, f.inAlt = lp.parts, 0, f.inAlt[:0]
	if p.err == nil {
		p.err = lp.err
	}
	return true
}

// cutShort is where the current part of f ends when what holds it ends
// at end, and whether it is cut short; false when the scan read past end.
func (p *scanner) cutShort(f *frame, end int) (int, bool, bool) {
	start := f.cur.BodyStart
	if end < start {
		return 0, false, false
	}
	if end-start <= len(f.s.dash) {
		n, cut := f.s.partLen(p.raw[start:end])
		return start + n, cut, true
	}
	r := f.from
	switch {
	case f.false1 >= 0 && f.false1 <= end:
		r = max(r, f.false1)
	case f.false1 > end && f.false2 > end:
		return 0, false, false
	case f.false1 > end && f.false2 >= 0:
		r = max(r, f.false2)
	}
	if r > end {
		return 0, false, false
	}
	return f.s.tailEnd(p.raw, r, end), true, true
}

// setChain gives the messages that part encloses its end.
func setChain(part *Part) {
	for m := part.Message; m != nil; m = m.Message {
		m.End, m.Cut = part.End, part.Cut
	}
}

// trie holds the boundaries of the frames, to find in one walk along a
// line which of them it starts with.
type trie struct {
	nodes []trieNode // nodes[0] is the root
	free  []int32
}

type trieNode struct {
	kids []trieKid
	has  [4]uint64 // the bytes of kids
	ends []int     // frames whose boundary ends here
	n    int       // boundaries through here
}

type trieKid struct {
	c byte
	i int32
}

func (t *trie) kid(i int32, c byte) int32 {
	if t.nodes[i].has[c>>6]&(1<<(c&63)) == 0 {
		return -1
	}
	for _, k := range t.nodes[i].kids {
		if k.c == c {
			return k.i
		}
	}
	return -1
}

func (t *trie) add(b []byte, frame int) {
	if len(t.nodes) == 0 {
		t.nodes = append(t.nodes, trieNode{})
	}
	i := int32(0)
	t.nodes[0].n++
	for _, c := range b {
		k := t.kid(i, c)
		if k < 0 {
			if n := len(t.free); n > 0 {
				k, t.free = t.free[n-1], t.free[:n-1]
			} else {
				k = int32(len(t.nodes))
				t.nodes = append(t.nodes, trieNode{})
			}
			t.nodes[i].kids = append(t.nodes[i].kids, trieKid{c, k})
			t.nodes[i].has[c>>6] |= 1 << (c & 63)
		}
		i = k
		t.nodes[i].n++
	}
	t.nodes[i].ends = append(t.nodes[i].ends, frame)
}

func (t *trie) remove(b []byte, frame int) {
	i := int32(0)
	t.nodes[0].n--
	for _, c := range b {
		k := t.kid(i, c)
		t.nodes[k].n--
		if t.nodes[k].n == 0 {
			kids := t.nodes[i].kids
			for j := range kids {
				if kids[j].c == c {
					t.nodes[i].kids = append(kids[:j], kids[j+1:]...)
					t.nodes[i].has[c>>6] &^= 1 << (c & 63)
					break
				}
			}
			t.release(k) // what hangs below held only this boundary
			return
		}
		i = k
	}
	ends := t.nodes[i].ends
	for j := range ends {
		if ends[j] == frame {
			t.nodes[i].ends = append(ends[:j], ends[j+1:]...)
			break
		}
	}
}

// release frees node i and the nodes below it.
func (t *trie) release(i int32) {
	for _, k := range t.nodes[i].kids {
		t.release(k.i)
	}
	t.nodes[i] = trieNode{kids: t.nodes[i].kids[:0], ends: t.nodes[i].ends[:0]}
	t.free = append(t.free, i)
}

// mayStart reports whether s, which follows the path to node i, starts
// a boundary: false when it leaves the trie before one ends.
func (t *trie) mayStart(i int32, s []byte) bool {
	for n := 0; ; n++ {
		if len(t.nodes[i].ends) > 0 {
			return true
		}
		if n == len(s) {
			return false
		}
		if i = t.kid(i, s[n]); i < 0 {
			return false
		}
	}
}

// prefix is what every boundary starts with, up to max bytes, and the
// node it leads to.
func (t *trie) prefix(max int) ([]byte, int32) {
	var b []byte
	i := int32(0)
	for len(t.nodes) > 0 && len(b) < max {
		n := &t.nodes[i]
		if len(n.kids) != 1 || len(n.ends) > 0 {
			break
		}
		b = append(b, n.kids[0].c)
		i = n.kids[0].i
	}
	return b, i
}
