package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"

	"patchwell/store"
)

// Limits on what ParseHeader reads, so that hostile headers (a 10,000-line
// Subject) cost linear time and bounded memory.
const (
	maxHeaderBlock = 1 << 20 // bytes of header looked at
	maxFieldValue  = 64 << 10
	maxSubject     = 1000
	maxIDLen       = 500
	maxRefs        = 100
	maxAddrs       = 100
)

// Header is what the archive needs from a message header. All strings are
// sanitised: valid UTF-8, no control characters, bounded length.
type Header struct {
	MessageID  string // without angle brackets; "" if none
	InReplyTo  string // the parent's Message-ID
	References []string
	Subject    string
	From       store.Person
	To, Cc     []string
	Date       time.Time // zero when missing or unparsable
	ListID     string
	Unparsable bool
}

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// ParseHeader reads the header block of raw. It never fails: what cannot
// be parsed is left empty and Unparsable is set when the block itself is
// broken.
func ParseHeader(raw []byte) Header {
	var h Header
	block := raw
	if len(block) > maxHeaderBlock {
		block = block[:maxHeaderBlock]
	}
	end := headerEnd(block)
	if end < 0 {
		// No empty line. A message that is only a header is fine (the
		// body and the empty line before it are optional, RFC 5322
		// section 3.5, and mbox eats that empty line before the next
		// separator); a cut or unterminated block, or body lines glued
		// to the header (caught below), is not.
		if len(raw) > len(block) || len(block) == 0 || block[len(block)-1] != '\n' {
			h.Unparsable = true
		}
		end = len(block)
	}
	block = block[:end]
	var refs, irt string
	sawField := false
	for len(block) > 0 {
		line, rest := nextLine(block)
		block = rest
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		var rawName []byte
		if colon > 0 {
			// RFC 5322 section 4.5.2 (obsolete syntax): white space
			// may come before the colon.
			rawName = bytes.TrimRight(line[:colon], " \t")
		}
		if len(rawName) == 0 || line[0] == ' ' || line[0] == '\t' || bytes.ContainsAny(rawName, " \t") {
			// Not a field: garbage, unless it is the mbox separator
			// some tools leave in front of a message.
			if sawField || !bytes.HasPrefix(line, []byte("From ")) {
				h.Unparsable = true
			}
			continue
		}
		if bytes.IndexByte(line, 0) >= 0 {
			h.Unparsable = true
		}
		sawField = true
		name := string(bytes.ToLower(rawName))
		value := line[colon+1:]
		var folded []byte
		for len(block) > 0 && (block[0] == ' ' || block[0] == '\t') {
			var cont []byte
			cont, block = nextLine(block)
			if len(value)+len(folded) < maxFieldValue {
				if folded == nil {
					folded = append([]byte{}, value...)
				}
				folded = append(folded, ' ')
				folded = append(folded, cont...)
			}
		}
		if folded != nil {
			value = folded
		}
		switch name {
		case "message-id":
			if h.MessageID == "" {
				h.MessageID = firstID(string(value))
			}
		case "in-reply-to":
			if irt == "" {
				irt = string(value)
			}
		case "references":
			if refs == "" {
				refs = string(value)
			}
		case "subject":
			if h.Subject == "" {
				h.Subject = clean(decodeWords(string(value)), maxSubject)
			}
		case "from":
			if h.From.Email == "" && h.From.Name == "" {
				h.From = parsePerson(string(value))
			}
		case "to":
			h.To = appendAddrs(h.To, string(value))
		case "cc":
			h.Cc = appendAddrs(h.Cc, string(value))
		case "date":
			if h.Date.IsZero() {
				h.Date = parseDate(string(value))
			}
		case "list-id":
			if h.ListID == "" {
				h.ListID = listID(string(value))
			}
		}
	}
	if !sawField {
		h.Unparsable = true
	}
	seen := map[string]bool{}
	for _, id := range allIDs(stripComments(refs)) {
		if !seen[id] && id != h.MessageID {
			seen[id] = true
			h.References = append(h.References, id)
		}
	}
	if ids := allIDs(stripComments(irt)); len(ids) > 0 {
		h.InReplyTo = ids[len(ids)-1]
	} else if len(h.References) > 0 {
		h.InReplyTo = h.References[len(h.References)-1]
	}
	if h.InReplyTo == h.MessageID {
		h.InReplyTo = ""
	}
	if h.InReplyTo != "" && !seen[h.InReplyTo] {
		h.References = append(h.References, h.InReplyTo)
	}
	if len(h.References) > maxRefs {
		h.References = h.References[len(h.References)-maxRefs:]
	}
	return h
}

// headerEnd returns the offset of the blank line that ends the header, or
// -1 when there is none.
func headerEnd(b []byte) int {
	for i := 0; i < len(b); {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return -1
		}
		line := b[i : i+j]
		if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
			return i
		}
		i += j + 1
	}
	return -1
}

// nextLine splits off the first line without its line ending.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:i], b[i+1:]
	}
	return bytes.TrimSuffix(line, []byte("\r")), rest
}

var idRE = regexp.MustCompile(`<([^<>\s]{1,500})>`)

// NormalizeMessageID strips angle brackets and white space.
func NormalizeMessageID(s string) string {
	s = strings.TrimSpace(s)
	if m := idRE.FindStringSubmatch(s); m != nil {
		return sanitizeID(m[1])
	}
	return sanitizeID(strings.Trim(s, "<>"))
}

func sanitizeID(s string) string {
	if len(s) > maxIDLen || !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
		if len(s) > maxIDLen {
			s = s[:maxIDLen]
		}
	}
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '<' || r == '>' }) >= 0 {
		return ""
	}
	return s
}

func firstID(v string) string {
	if m := idRE.FindStringSubmatch(v); m != nil {
		return sanitizeID(m[1])
	}
	v = strings.TrimSpace(v)
	if strings.Contains(v, "@") && !strings.ContainsAny(v, " \t") {
		return sanitizeID(v)
	}
	return ""
}

func allIDs(v string) []string {
	var out []string
	for _, m := range idRE.FindAllStringSubmatch(v, -1) {
		if id := sanitizeID(m[1]); id != "" {
			out = append(out, id)
		}
	}
	if len(out) == 0 {
		// Bare ids without brackets, as some mailers write.
		for _, f := range strings.Fields(v) {
			if strings.Count(f, "@") == 1 && !strings.ContainsAny(f, "()\"") {
				if id := sanitizeID(f); id != "" {
					out = append(out, id)
				}
			}
		}
	}
	return out
}

// listID returns the identifier of a List-Id value, the part in angle
// brackets (RFC 2919), lower-cased; the whole value when it has none.
func listID(v string) string {
	if i := strings.LastIndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	return strings.ToLower(clean(decodeWords(v), 300))
}

// stripComments removes RFC 5322 comments and quoted strings, so that an
// address in "In-Reply-To: <id> (message from Joe <joe@x>)" is not taken
// for an id. Unbalanced parentheses swallow the rest of the value.
func stripComments(v string) string {
	if !strings.ContainsAny(v, "(\"") {
		return v
	}
	var b strings.Builder
	depth := 0
	quoted := false
	for i := 0; i < len(v); i++ {
		c := v[i]
		switch {
		case c == '\\' && (depth > 0 || quoted):
			i++
		case quoted:
			quoted = c != '"'
		case c == '(':
			depth++
		case c == ')' && depth > 0:
			depth--
		case depth > 0:
		case c == '"':
			quoted = true
		default:
			b.WriteByte(c)
			continue
		}
		b.WriteByte(' ')
	}
	return b.String()
}

func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return s
	}
	d, err := wordDecoder.DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// clean makes s valid UTF-8 without control characters (CR and LF
// included), collapses white space and caps its length.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
		if b.Len() >= max {
			break
		}
	}
	out := b.String()
	if len(out) > max {
		out = strings.ToValidUTF8(out[:max], "")
	}
	return out
}

var addrRE = regexp.MustCompile(`[^\s<>"(),;:]+@[^\s<>"(),;:]+`)

func parsePerson(v string) store.Person {
	if a, err := (&mail.AddressParser{WordDecoder: wordDecoder}).Parse(strings.TrimSpace(v)); err == nil {
		return store.Person{Name: clean(a.Name, 200), Email: clean(strings.ToLower(a.Address), 254)}
	}
	d := decodeWords(v)
	email := addrRE.FindString(d)
	name := d
	if i := strings.IndexByte(d, '<'); i >= 0 {
		name = d[:i]
	} else if email != "" {
		name = strings.Replace(d, email, "", 1)
	}
	name = strings.Trim(clean(name, 200), ` "'()`)
	return store.Person{Name: name, Email: clean(strings.ToLower(email), 254)}
}

// appendAddrs appends the addresses found in a To or Cc value: every
// maximal run of address characters around an "@" (what addrRE matches,
// found in linear time).
func appendAddrs(dst []string, v string) []string {
	if strings.Contains(v, "=?") {
		v = decodeWords(v)
	}
	for i := 0; len(dst) < maxAddrs; {
		at := strings.IndexByte(v[i:], '@')
		if at < 0 {
			break
		}
		at += i
		start := at
		for start > i && isAddrByte(v[start-1]) {
			start--
		}
		end := at + 1
		for end < len(v) && isAddrByte(v[end]) {
			end++
		}
		if start < at && end > at+1 {
			dst = append(dst, clean(strings.ToLower(v[start:end]), 254))
		}
		i = end
	}
	return dst
}

func isAddrByte(c byte) bool {
	switch c {
	case ' ', '\t', '\r', '\n', '\v', '\f', '<', '>', '"', '(', ')', ',', ';', ':':
		return false
	}
	return true
}

var dateLayouts = []string{
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04 -0700",
	"Mon, 2 Jan 06 15:04:05 -0700",
	"Mon Jan 2 15:04:05 2006 -0700",
	"Mon Jan 2 15:04:05 2006",
	"Mon, 2 Jan 2006 15:04:05",
	time.RFC3339,
}

var dateComment = regexp.MustCompile(`\([^()]*\)`)

func parseDate(v string) time.Time {
	v = strings.Join(strings.Fields(dateComment.ReplaceAllString(v, " ")), " ")
	if len(v) > 200 {
		return time.Time{}
	}
	if t, err := mail.ParseDate(v); err == nil && plausible(t) {
		return t
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil && plausible(t) {
			return t
		}
	}
	return time.Time{}
}

func plausible(t time.Time) bool {
	return t.Year() >= 1970 && t.Year() <= 9999
}

// GenerateMessageID returns the stable Message-ID given to a message that
// has none: derived from its bytes, so a re-delivery gets the same one.
func GenerateMessageID(raw []byte) string {
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16]) + "@generated.patchwell.invalid"
}
