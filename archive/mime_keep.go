package archive

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"

	"github.com/emersion/go-message/textproto"
)

// A big message's MIME structure is worked out once, when it arrives,
// and kept beside it (Structure), so that serving a part of it (an IMAP
// FETCH of BODYSTRUCTURE or BODY[1.2]) reads the headers of its parts
// and nothing else: parsing a 32 MiB body costs tens of milliseconds,
// more when every line looks like a delimiter. Smaller messages are
// parsed when asked (ParseMIME), which costs less than reading a kept
// structure would save.

// KeepStructureFrom is the size as sent (CRLF line ends) from which a
// message's structure is kept.
const KeepStructureFrom = 256 << 10

// errBadStructure is a kept structure that does not fit its message.
var errBadStructure = errors.New("archive: kept MIME structure does not fit the message")

// errHeader stands for the error a part's header ended in when it was
// parsed (a kept structure records that there was one, not its text).
var errHeader = errors.New("malformed MIME header line")

// ToCRLF appends raw to buf with every bare LF made CRLF, the form a
// message is sent in over IMAP; it returns raw itself when raw has no
// bare LF.
func ToCRLF(raw, buf []byte) []byte {
	bare := false
	for i := bytes.IndexByte(raw, '\n'); i >= 0; {
		if i == 0 || raw[i-1] != '\r' {
			bare = true
			break
		}
		j := bytes.IndexByte(raw[i+1:], '\n')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	if !bare {
		return raw
	}
	if need := len(raw) + len(raw)/16; cap(buf) < need {
		buf = make([]byte, 0, need)
	}
	prev := byte(0)
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		if i < 0 {
			return append(buf, raw...)
		}
		buf = append(buf, raw[:i]...)
		if i > 0 {
			prev = raw[i-1]
		}
		if prev != '\r' {
			buf = append(buf, '\r')
		}
		buf = append(buf, '\n')
		prev = '\n'
		raw = raw[i+1:]
	}
	return buf
}

// Structure is what is kept of the message raw (as stored: its size
// is decided as sent, with CRLF line ends) for ReadStructure: nil for a
// message smaller than KeepStructureFrom.
func Structure(ctx context.Context, raw []byte) ([]byte, error) {
	if 2*len(raw) < KeepStructureFrom {
		return nil, nil // even all bare LF would not make it big: no count
	}
	size := len(raw) + bytes.Count(raw, []byte("\n")) - bytes.Count(raw, []byte("\r\n"))
	if size < KeepStructureFrom {
		return nil, nil
	}
	wire := ToCRLF(raw, nil)
	root, err := ParseMIME(ctx, wire)
	if err != nil {
		return nil, err
	}
	CountLines(wire, root)
	return EncodeStructure(root), nil
}

// CountLines sets the Lines of every part of the tree root, parsed from
// wire, in one pass over it: a message nested in another is counted
// once, not once for each message that holds it.
func CountLines(wire []byte, root *Part) {
	var at []int
	var walk func(p *Part)
	walk = func(p *Part) {
		at = append(at, p.BodyStart, p.End)
		for _, c := range p.Parts {
			walk(c)
		}
		if p.Message != nil {
			walk(p.Message)
		}
	}
	walk(root)
	slices.Sort(at)
	at = slices.Compact(at)
	lines := make([]int64, len(at))
	for i := 1; i < len(at); i++ {
		lines[i] = lines[i-1] + int64(bytes.Count(wire[at[i-1]:at[i]], []byte("\n")))
	}
	var set func(p *Part)
	set = func(p *Part) {
		i, _ := slices.BinarySearch(at, p.BodyStart)
		j, _ := slices.BinarySearch(at, p.End)
		p.Lines = lines[j] - lines[i]
		for _, c := range p.Parts {
			set(c)
		}
		if p.Message != nil {
			set(p.Message)
		}
	}
	set(root)
}

// The kept form: a version byte, then each part in depth-first order
// (a part, its parts, then the message it encloses): a flags byte, then
// as unsigned varints Start, BodyStart-Start, End-BodyStart, Lines and
// the number of parts.
const (
	structureVersion = 1

	keptOpaque = 1 << iota
	keptHeaderOpen
	keptCut
	keptHeaderErr
	keptMessage
)

// EncodeStructure is the kept form of a parsed tree whose Lines are
// counted (CountLines).
func EncodeStructure(root *Part) []byte {
	b := []byte{structureVersion}
	var walk func(p *Part)
	walk = func(p *Part) {
		var f byte
		for _, x := range []struct {
			on   bool
			flag byte
		}{{p.Opaque, keptOpaque}, {p.HeaderOpen, keptHeaderOpen}, {p.Cut, keptCut}, {p.HeaderErr != nil, keptHeaderErr}, {p.Message != nil, keptMessage}} {
			if x.on {
				f |= x.flag
			}
		}
		b = append(b, f)
		for _, v := range []int64{int64(p.Start), int64(p.BodyStart - p.Start), int64(p.End - p.BodyStart), p.Lines, int64(len(p.Parts))} {
			b = binary.AppendUvarint(b, uint64(v))
		}
		for _, c := range p.Parts {
			walk(c)
		}
		if p.Message != nil {
			walk(p.Message)
		}
	}
	walk(root)
	return b
}

// ReadStructure rebuilds the tree kept in enc (EncodeStructure) for the
// message as sent, wire, reading only its parts' headers; an error when
// enc is damaged or belongs to other bytes (the caller parses instead).
func ReadStructure(wire, enc []byte) (*Part, error) {
	if len(enc) == 0 || enc[0] != structureVersion {
		return nil, errBadStructure
	}
	r := &structureReader{wire: wire, enc: enc[1:]}
	r.br = bufio.NewReaderSize(&r.rd, 4096)
	root, err := r.part(0)
	if err != nil || len(r.enc) != 0 {
		return nil, errBadStructure
	}
	return root, nil
}

type structureReader struct {
	wire, enc []byte
	parts     int
	rd        bytes.Reader
	br        *bufio.Reader
}

func (r *structureReader) uvarint() (int, bool) {
	v, n := binary.Uvarint(r.enc)
	if n <= 0 || v > uint64(len(r.wire)) {
		return 0, false
	}
	r.enc = r.enc[n:]
	return int(v), true
}

func (r *structureReader) part(depth int) (*Part, error) {
	if r.parts++; r.parts > MaxParts+1 || depth > 2*MaxDepth+2 || len(r.enc) == 0 {
		return nil, errBadStructure
	}
	f := r.enc[0]
	r.enc = r.enc[1:]
	var v [5]int
	for i := range v {
		var ok bool
		if v[i], ok = r.uvarint(); !ok {
			return nil, errBadStructure
		}
	}
	p := &Part{Start: v[0], Opaque: f&keptOpaque != 0, HeaderOpen: f&keptHeaderOpen != 0, Cut: f&keptCut != 0, Lines: int64(v[3])}
	p.BodyStart = p.Start + v[1]
	p.End = p.BodyStart + v[2]
	if p.End > len(r.wire) || p.BodyStart > p.End {
		return nil, errBadStructure
	}
	r.rd.Reset(r.wire[p.Start:p.BodyStart])
	r.br.Reset(&r.rd)
	p.Header, _ = textproto.ReadHeader(r.br)
	if f&keptHeaderErr != 0 {
		p.HeaderErr = errHeader
	}
	for range v[4] {
		c, err := r.part(depth + 1)
		if err != nil {
			return nil, err
		}
		p.Parts = append(p.Parts, c)
	}
	if f&keptMessage != 0 {
		m, err := r.part(depth + 1)
		if err != nil {
			return nil, err
		}
		p.Message = m
	}
	return p, nil
}
