package patchmail

import (
	"patchwell/core"
	"strings"
)

// info is the result of splitting a mail's text the way git mailinfo
// does (without --scissors, with in-body headers).
type info struct {
	from, date, subject          string
	hasFrom, hasDate, hasSubject bool
	message                      string // commit message
	rest                         string // text from the patch break on
}

// maxInbodyHeader bounds an in-body header with its continuation lines.
const maxInbodyHeader = 8 << 10

// mailinfo splits text into in-body headers, commit message and the rest.
// In-body "From:", "Date:" and "Subject:" lines (with continuation lines)
// at the top of the body override the mail header; a "[PATCH] foo" line
// there is a subject; a ">From <sha> Mon Sep 17 00:00:00 2001" line is a
// format-patch separator and skipped. The commit message ends at the
// first patch break (see isPatchBreak).
func mailinfo(text string) info {
	var in info
	var msg strings.Builder
	headerStage := true
	var accum strings.Builder
	flush := func() {
		if accum.Len() == 0 {
			return
		}
		in.setHeader(accum.String())
		accum.Reset()
	}
	rest := text
	for rest != "" {
		var line string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			line, rest = rest+"\n", ""
		}
		if headerStage {
			if line == "\n" {
				if accum.Len() > 0 {
					flush()
					headerStage = false
				}
				continue
			}
			if accum.Len() > 0 && (line[0] == ' ' || line[0] == '\t') {
				if accum.Len() < maxInbodyHeader {
					accum.WriteString(strings.TrimSuffix(line, "\n"))
				}
				continue
			}
			flush()
			if after, ok := strings.CutPrefix(line, ">From"); ok && len(after) > 0 && isSpace(after[0]) && isFormatPatchSeparator(line[1:]) {
				continue
			}
			if after, ok := strings.CutPrefix(line, "[PATCH]"); ok && len(after) > 0 && isSpace(after[0]) {
				in.subject, in.hasSubject = strings.TrimSpace(line), true
				continue
			}
			if isInbodyHeader(line) {
				accum.WriteString(strings.TrimSuffix(line, "\n"))
				continue
			}
			headerStage = false
		}
		if isPatchBreak(line) {
			in.rest = line + rest
			break
		}
		msg.WriteString(line)
	}
	flush()
	in.message = strings.TrimRight(msg.String(), " \t\n") // git am strips trailing blank lines
	if in.message != "" {
		in.message += "\n"
	}
	return in
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

var inbodyHeaders = []string{"from", "subject", "date"}

// isInbodyHeader reports whether line is "From:", "Subject:" or "Date:"
// (any case).
func isInbodyHeader(line string) bool {
	for _, h := range inbodyHeaders {
		if len(line) > len(h) && line[len(h)] == ':' && strings.EqualFold(line[:len(h)], h) {
			return true
		}
	}
	return false
}

func (in *info) setHeader(h string) {
	key, val, _ := strings.Cut(h, ":")
	val = strings.TrimSpace(val)
	switch strings.ToLower(key) {
	case "from":
		in.from, in.hasFrom = val, true
	case "date":
		in.date, in.hasDate = val, true
	case "subject":
		in.subject, in.hasSubject = val, true
	}
}

// isFormatPatchSeparator reports whether line is the first line of a git
// format-patch mail: "From <40 hex> Mon Sep 17 00:00:00 2001".
func isFormatPatchSeparator(line string) bool {
	s, ok := strings.CutPrefix(line, "From ")
	if !ok || !isHexOID(s) {
		return false
	}
	return strings.HasPrefix(s[40:], " Mon Sep 17 00:00:00 2001")
}

// isPatchBreak is git mailinfo's patchbreak(): a "diff -" or CVS "Index: "
// line, "--- <filename>", or "---" followed only by white space.
func isPatchBreak(line string) bool {
	if strings.HasPrefix(line, "diff -") || strings.HasPrefix(line, "Index: ") {
		return true
	}
	if len(line) < 4 || !strings.HasPrefix(line, "---") {
		return false
	}
	if line[3] == ' ' && !isSpace(line[4]) {
		return true
	}
	for i := 3; i < len(line); i++ {
		if line[i] == '\n' {
			return true
		}
		if !isSpace(line[i]) {
			return false
		}
	}
	return false
}

// findDiff returns the diff in text: from its first file header ("diff
// -", "Index: ", or a "--- " line followed by "+++ ") to the end, without
// a trailing "-- " signature (git format-patch's version line, a list
// footer). It returns "" when there is no diff.
func findDiff(text string) string {
	start := -1
	pos := 0
	for pos < len(text) {
		end := strings.IndexByte(text[pos:], '\n')
		next := len(text)
		if end >= 0 {
			next = pos + end + 1
		}
		line := text[pos:next]
		if strings.HasPrefix(line, "diff -") || strings.HasPrefix(line, "Index: ") ||
			(strings.HasPrefix(line, "--- ") && strings.HasPrefix(text[next:], "+++ ")) {
			start = pos
			break
		}
		pos = next
	}
	if start < 0 {
		return ""
	}
	diff := text[start:]
	if i := strings.LastIndex(diff, "\n-- \n"); i >= 0 {
		tail := diff[i+5:]
		if !strings.Contains(tail, "\ndiff ") && !strings.HasPrefix(tail, "diff ") &&
			!strings.Contains(tail, "\n@@ ") && !strings.HasPrefix(tail, "@@ ") {
			diff = diff[:i+1]
		}
	}
	return diff
}

// findBaseAndChangeID finds the "base-commit: <sha>" and "change-id: <id>"
// lines (outside quotes) that git format-patch --base and b4 write.
func findBaseAndChangeID(text string) (base, changeID string) {
	for line := range strings.Lines(text) {
		line = strings.TrimRight(line, " \t\r\n")
		if v, ok := strings.CutPrefix(line, "base-commit: "); ok && base == "" {
			v = strings.TrimSpace(v)
			if isHexOID(v) || (len(v) >= 7 && len(v) <= 64 && isHex(v)) {
				base = v
			}
		}
		if v, ok := strings.CutPrefix(line, "change-id: "); ok && changeID == "" {
			v = strings.TrimSpace(v)
			if v != "" && len(v) <= 200 && !strings.ContainsAny(v, " \t") {
				changeID = v
			}
		}
	}
	return base, changeID
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return s != ""
}

// parseFrom turns a decoded From value into a Person the way git
// mailinfo's handle_from does: quoted pairs and quoted strings are
// unquoted, comments are kept; the e-mail is the word around the '@'
// (without <>); what remains, trimmed and without one pair of enclosing
// parentheses, is the name; a missing, too long or odd name is replaced by
// the e-mail.
func parseFrom(s string) core.Person {
	s = unquotePairs(s)
	at := strings.IndexByte(s, '@')
	if at < 0 {
		return bogusFrom(s)
	}
	start := at
	for start > 0 {
		c := s[start-1]
		if isSpace(c) {
			break
		}
		if c == '<' {
			s = s[:start-1] + " " + s[start:]
			break
		}
		start--
	}
	el := strings.IndexAny(s[start:], " \n\t\r\v\f>")
	if el < 0 {
		el = len(s) - start
	}
	email := s[start : start+el]
	cut := start + el
	if cut < len(s) {
		cut++
	}
	name := collapseSpace(s[:start] + s[cut:])
	if len(name) >= 2 && name[0] == '(' && name[len(name)-1] == ')' {
		name = name[1 : len(name)-1]
	}
	return core.Person{Name: saneName(name, email), Email: email}
}

// bogusFrom handles "John Doe <johndoe>" (no '@').
func bogusFrom(s string) core.Person {
	bra := strings.IndexByte(s, '<')
	if bra < 0 {
		return core.Person{}
	}
	ket := strings.IndexByte(s[bra:], '>')
	if ket < 0 {
		return core.Person{}
	}
	email := s[bra+1 : bra+ket]
	name := strings.TrimSpace(s[:bra])
	return core.Person{Name: saneName(name, email), Email: email}
}

func saneName(name, email string) string {
	if name == "" || len(name) > 60 || strings.ContainsAny(name, "@<>") {
		return email
	}
	return name
}

// unquotePairs removes the quotes of quoted strings and the backslashes of
// quoted pairs; comments keep their parentheses (git's unquote_quoted_pair).
func unquotePairs(s string) string {
	if !strings.ContainsAny(s, "\"(") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			for i++; i < len(s); i++ {
				if s[i] == '\\' && i+1 < len(s) {
					i++
					b.WriteByte(s[i])
					continue
				}
				if s[i] == '"' {
					break
				}
				b.WriteByte(s[i])
			}
		case '(':
			b.WriteByte('(')
			depth := 1
			for i++; i < len(s) && depth > 0; i++ {
				c := s[i]
				switch c {
				case '\\':
					if i+1 < len(s) {
						i++
						c = s[i]
					}
				case '(':
					depth++
				case ')':
					depth--
				}
				b.WriteByte(c)
			}
			i--
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
