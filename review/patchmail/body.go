package patchmail

import (
	"net/mail"
	"regexp"
	"strings"

	"patchwell/store"
)

// mailInfo is a mail body split the way git mailinfo splits it: in-body
// headers, the commit message, and the rest (from the "---" line or the
// first diff header on).
type mailInfo struct {
	from, date, subject          string
	hasFrom, hasDate, hasSubject bool
	message                      string
	rest                         string
}

// mailinfo splits text. In-body "From:", "Date:" and "Subject:" lines are
// taken from the top of the body (after blank lines), up to the first line
// that is not one of them; the commit message runs to a line that is
// "---" (or starts with "--- " not followed by "+++"), or to a diff header.
func mailinfo(text string) mailInfo {
	var mi mailInfo
	lines := strings.SplitAfter(text, "\n")
	i := 0
	for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
		i++
	}
	inBody := false
	for i < len(lines) {
		l := strings.TrimRight(lines[i], "\n")
		key, val, ok := strings.Cut(l, ":")
		if !ok {
			break
		}
		switch strings.ToLower(key) {
		case "from":
			mi.from, mi.hasFrom = strings.TrimSpace(val), true
		case "date":
			mi.date, mi.hasDate = strings.TrimSpace(val), true
		case "subject":
			mi.subject, mi.hasSubject = strings.TrimSpace(val), true
		default:
			ok = false
		}
		if !ok {
			break
		}
		inBody = true
		i++
	}
	if inBody {
		// A blank line ends the in-body header block.
		for i < len(lines) && strings.TrimSpace(lines[i]) == "" {
			i++
		}
	}
	var msg strings.Builder
	for ; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r\n")
		if l == "---" || strings.HasPrefix(l, "--- ") && !(i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ ")) && strings.TrimSpace(l[4:]) == "" {
			break
		}
		if isDiffStart(lines, i) {
			break
		}
		msg.WriteString(lines[i])
	}
	mi.message = strings.TrimRight(msg.String(), " \t\n") + "\n"
	if strings.TrimSpace(mi.message) == "" {
		mi.message = ""
	}
	mi.rest = strings.Join(lines[i:], "")
	return mi
}

// isDiffStart reports whether lines[i] starts a diff: "diff --git",
// "Index: " (CVS/SVN), or a "--- " line followed by "+++ ".
func isDiffStart(lines []string, i int) bool {
	l := lines[i]
	switch {
	case strings.HasPrefix(l, "diff --git "), strings.HasPrefix(l, "diff -"), strings.HasPrefix(l, "Index: "):
		return true
	case strings.HasPrefix(l, "--- ") && i+1 < len(lines) && strings.HasPrefix(lines[i+1], "+++ "):
		return true
	}
	return false
}

// findDiff returns the diff in text, from its first file header to the end,
// without a trailing "-- " signature; "" when there is none.
func findDiff(text string) string {
	lines := strings.SplitAfter(text, "\n")
	for i := range lines {
		if !isDiffStart(lines, i) {
			continue
		}
		diff := lines[i:]
		for j, l := range diff {
			if l == "-- \n" || l == "-- " {
				diff = diff[:j]
				break
			}
		}
		return strings.Join(diff, "")
	}
	return ""
}

var addrRE = regexp.MustCompile(`[^\s<>"(),;:]+@[^\s<>"(),;:]+`)

// parseFrom parses a From value (already RFC 2047-decoded) leniently.
func parseFrom(v string) store.Person {
	v = strings.TrimSpace(v)
	if v == "" {
		return store.Person{}
	}
	if a, err := mail.ParseAddress(v); err == nil {
		return store.Person{Name: a.Name, Email: strings.ToLower(a.Address)}
	}
	email := addrRE.FindString(v)
	name := v
	if i := strings.IndexByte(v, '<'); i >= 0 {
		name = v[:i]
	} else if email != "" {
		name = strings.Replace(v, email, "", 1)
	}
	name = strings.Trim(strings.Join(strings.Fields(name), " "), ` "'()`)
	return store.Person{Name: name, Email: strings.ToLower(email)}
}

var (
	baseRE   = regexp.MustCompile(`(?m)^base-commit: ([0-9a-f]{7,64})[ \t]*$`)
	changeRE = regexp.MustCompile(`(?m)^change-id: (\S{1,200})[ \t]*$`)
)

func findBaseAndChangeID(text string) (base, change string) {
	if m := baseRE.FindStringSubmatch(text); m != nil {
		base = m[1]
	}
	if m := changeRE.FindStringSubmatch(text); m != nil {
		change = m[1]
	}
	return base, change
}

var (
	pullSinceRE = regexp.MustCompile(`(?i)the following changes since commit`)
	pullAtRE    = regexp.MustCompile(`(?i)are available in the git repository at:?[ \t]*\n`)
	pullUpToRE  = regexp.MustCompile(`(?i)for you to fetch changes up to ([0-9a-f]{7,64})`)
)

// parsePull finds what a git request-pull body asks to pull: the URL (and
// ref) on the first non-blank line after "are available in the Git
// repository at:"; a line wrapped by a mail client continues on the next
// non-blank line unless that starts the "for you to fetch" paragraph.
func parsePull(body string) *Pull {
	if !pullSinceRE.MatchString(body) {
		return nil
	}
	loc := pullAtRE.FindStringIndex(body)
	if loc == nil {
		return nil
	}
	var words []string
	for _, l := range strings.Split(body[loc[1]:], "\n") {
		l = strings.TrimSpace(l)
		if l == "" {
			if len(words) > 0 {
				break
			}
			continue
		}
		if pullUpToRE.MatchString(l) || len(words) >= 2 {
			break
		}
		words = append(words, strings.Fields(l)...)
	}
	if len(words) == 0 {
		return nil
	}
	p := &Pull{URL: words[0]}
	if len(words) > 1 {
		p.Ref = words[1]
	}
	if m := pullUpToRE.FindStringSubmatch(body); m != nil {
		p.Commit = m[1]
	}
	return p
}

// trailerRE is one "Key: value" line; keys are git's trailer tokens.
var trailerRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]{1,40}):[ \t]+(\S.*?)[ \t]*$`)

var knownTrailers = map[string]string{}

func init() {
	for _, k := range []string{"Signed-off-by", "Reviewed-by", "Acked-by", "Tested-by", "Reported-by", "Suggested-by",
		"Co-developed-by", "Reported-and-tested-by", "Requested-by", "Debugged-by", "Cc", "Fixes", "Link", "Closes",
		"Message-ID", "Message-Id", "Change-Id", "Bisected-by", "Regression-by", "Helped-by", "Mentored-by", "Based-on-patch-by"} {
		knownTrailers[strings.ToLower(k)] = k
	}
}

// trailerAt parses one line as a trailer; person trailers ("-by") need an
// e-mail address in their value.
func trailerAt(line string) (store.Trailer, bool) {
	m := trailerRE.FindStringSubmatch(line)
	if m == nil {
		return store.Trailer{}, false
	}
	key := m[1]
	lk := strings.ToLower(key)
	if canon, ok := knownTrailers[lk]; ok {
		key = canon
	} else if !strings.HasSuffix(lk, "-by") {
		return store.Trailer{}, false
	}
	if strings.HasSuffix(lk, "-by") && !strings.Contains(m[2], "@") {
		return store.Trailer{}, false
	}
	return store.Trailer{Key: key, Value: m[2]}, true
}

// messageTrailers returns the trailers of a commit message: the lines of
// its last paragraph that are trailers.
func messageTrailers(msg string) []store.Trailer {
	paras := strings.Split(strings.TrimSpace(msg), "\n\n")
	last := paras[len(paras)-1]
	var out []store.Trailer
	for _, l := range strings.Split(last, "\n") {
		if t, ok := trailerAt(l); ok {
			out = append(out, t)
		}
	}
	if len(paras) == 1 && len(out) == 0 {
		return nil
	}
	return out
}

// ReplyTrailers returns the trailer lines of a reply body, as b4 collects
// them from follow-ups: lines outside quotes (">") and before a "-- "
// signature, in order.
func ReplyTrailers(body string) []store.Trailer {
	var out []store.Trailer
	n := 0
	for _, l := range strings.Split(body, "\n") {
		if n++; n > 100000 {
			break
		}
		l = strings.TrimRight(l, "\r")
		if l == "-- " {
			break
		}
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			continue
		}
		if t, ok := trailerAt(strings.TrimSpace(l)); ok {
			out = append(out, t)
		}
	}
	return out
}
