package archive

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"mime"
	"net/mail"
	"patchwell/core"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
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
	From       core.Person
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

func parsePerson(v string) core.Person {
	if a, err := (&mail.AddressParser{WordDecoder: wordDecoder}).Parse(strings.TrimSpace(v)); err == nil {
		return core.Person{Name: clean(a.Name, 200), Email: clean(strings.ToLower(a.Address), 254)}
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
	return core.Person{Name: name, Email: clean(strings.ToLower(email), 254)}
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
		return fixZone(t)
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, v); err == nil && plausible(t) {
			return fixZone(t)
		}
	}
	if t, ok := parseDateLoose(v); ok && plausible(t) {
		return t
	}
	return time.Time{}
}

// zoneOffsets are the zone names RFC 5322 section 4.3 defines, plus a few
// unambiguous ones senders use; time.Parse gives them a zero offset.
var zoneOffsets = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5, "MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
	"CET": 1, "CEST": 2, "MET": 1, "MEST": 2, "EET": 2, "EEST": 3, "WET": 0, "WEST": 1,
	"BST": 1, "MSK": 3, "JST": 9, "KST": 9, "HKT": 8, "SGT": 8, "AEST": 10, "AEDT": 11, "NZST": 12, "NZDT": 13,
}

// fixZone gives a time parsed with a zone name its real offset.
func fixZone(t time.Time) time.Time {
	name, off := t.Zone()
	if h, ok := zoneOffsets[strings.ToUpper(name)]; ok && off == 0 && h != 0 {
		return time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(name, h*3600))
	}
	return t
}

// parseDateLoose reads the broken dates real mail carries ("Tuesday,23 May
// 2017 13:21:05 GMT+08:00", "1 Jun 2016 22:00:54+0200", ISO 8601 with a
// space) by picking tokens: a month name, a day, a year, a time and a
// zone, in any order. Every token must be understood, so garbage gives
// false rather than a wrong date.
func parseDateLoose(v string) (time.Time, bool) {
	var year, month, day, hour, min, sec int
	haveTime := false
	zone := 0
	haveZone := false
	fields := strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
	if len(fields) > 10 {
		return time.Time{}, false
	}
	for i := 0; i < len(fields); i++ {
		f := fields[i]
		// ISO 8601: 2017-05-23 or 2017-05-23T13:21:05Z.
		if len(f) >= 10 && f[4] == '-' && f[7] == '-' && year == 0 {
			y, ok1 := atoiN(f[0:4])
			mo, ok2 := atoiN(f[5:7])
			d, ok3 := atoiN(f[8:10])
			if !ok1 || !ok2 || !ok3 {
				return time.Time{}, false
			}
			year, month, day = y, mo, d
			f = strings.TrimPrefix(f[10:], "T")
			if f == "" {
				continue
			}
		}
		// A time, perhaps with a zone glued on: 22:00:54+0200, 13:21:05Z.
		if c := strings.IndexByte(f, ':'); c > 0 && !haveTime && isDigits(f[:c]) {
			end := strings.IndexAny(f, "+-Zz")
			tz := ""
			if end > 0 {
				f, tz = f[:end], f[end:]
			}
			if dot := strings.IndexByte(f, '.'); dot > 0 && isDigits(f[dot+1:]) {
				f = f[:dot]
			}
			parts := strings.Split(f, ":")
			if len(parts) < 2 || len(parts) > 3 {
				return time.Time{}, false
			}
			var ok bool
			if hour, ok = atoiN(parts[0]); !ok || len(parts[0]) > 2 {
				return time.Time{}, false
			}
			if min, ok = atoiN(parts[1]); !ok || len(parts[1]) != 2 {
				return time.Time{}, false
			}
			if len(parts) == 3 {
				if sec, ok = atoiN(parts[2]); !ok || len(parts[2]) != 2 {
					return time.Time{}, false
				}
			}
			haveTime = true
			if tz != "" {
				if zone, ok = parseZone(tz); !ok {
					return time.Time{}, false
				}
				haveZone = true
			}
			continue
		}
		if n, ok := atoiN(f); ok {
			switch {
			case day == 0 && len(f) <= 2 && n >= 1:
				day = n
			case year == 0 && (len(f) == 4 || len(f) == 2):
				year = n
				if len(f) == 2 {
					year += 1900
					if n < 50 {
						year += 100
					}
				}
			default:
				return time.Time{}, false
			}
			continue
		}
		if len(f) >= 3 {
			if m := monthIndex(f); m > 0 && month == 0 {
				month = m
				continue
			}
			if isWeekday(f) {
				continue
			}
		}
		if !haveZone {
			if z, ok := parseZone(f); ok {
				zone, haveZone = z, true
				continue
			}
		}
		return time.Time{}, false
	}
	if year == 0 || month < 1 || month > 12 || day < 1 || hour > 23 || min > 59 || sec > 60 {
		return time.Time{}, false
	}
	if sec == 60 {
		sec = 59
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, time.FixedZone("", zone))
	if t.Day() != day {
		return time.Time{}, false // 31 Feb
	}
	return t, true
}

// parseZone reads +0800, -08:00, +08, GMT+0800, UTC-3 or a zone name and
// returns the offset in seconds.
func parseZone(z string) (int, bool) {
	u := strings.ToUpper(z)
	if h, ok := zoneOffsets[u]; ok {
		return h * 3600, true
	}
	for _, p := range []string{"GMT", "UTC", "UT"} {
		if strings.HasPrefix(u, p) && len(u) > len(p) {
			u = u[len(p):]
			break
		}
	}
	if len(u) < 2 || (u[0] != '+' && u[0] != '-') {
		return 0, false
	}
	sign := 1
	if u[0] == '-' {
		sign = -1
	}
	d := strings.ReplaceAll(u[1:], ":", "")
	if !isDigits(d) {
		return 0, false
	}
	var h, m int
	switch len(d) {
	case 1, 2:
		h, _ = atoiN(d)
	case 4:
		h, _ = atoiN(d[:2])
		m, _ = atoiN(d[2:])
	default:
		return 0, false
	}
	if h > 14 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoiN parses a short unsigned decimal number.
func atoiN(s string) (int, bool) {
	if !isDigits(s) || len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func monthIndex(f string) int {
	f = strings.ToLower(f)
	for i, m := range []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		if strings.HasPrefix(f, m) {
			return i + 1
		}
	}
	return 0
}

func isWeekday(f string) bool {
	f = strings.ToLower(f)
	for _, d := range []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"} {
		if strings.HasPrefix(f, d) {
			return true
		}
	}
	return false
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
