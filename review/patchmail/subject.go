package patchmail

import (
	"strings"
	"unicode"
)

// Subject is what a mail subject says about a patch: its tags and title.
type Subject struct {
	Title    string   // subject without Re:/Fwd:/[...] tags, whitespace collapsed (the commit subject for a patch)
	Reply    bool     // begins with Re:, RE:, Aw:, Fwd: ... (possibly repeated, possibly after a [tag])
	Patch    bool     // a bracket tag contains PATCH (or RFC alone as in "[RFC 1/3]")
	Version  int      // vN / VN / "v2"; 1 when absent
	Index    int      // i in i/n ; 0 when unnumbered
	Total    int      // n in i/n ; 0 when unnumbered
	RFC      bool     // RFC appears in a bracket tag
	Resend   bool     // RESEND appears in a bracket tag
	Prefixes []string // other words inside the bracket tags, e.g. "net-next", "bpf-next" (as written, in order)
}

// Limits for subject parsing; subjects are untrusted.
const (
	maxSubjectLen = 4096 // longer subjects are cut before parsing
	maxTags       = 32   // bracket tags and reply prefixes looked at
	maxNumber     = 1_000_000
)

// replyWords are the reply and forward markers recognised before a ':'
// (compared case-insensitively), in the languages mail clients commonly use.
var replyWords = []string{"re", "aw", "fwd", "fw", "sv", "antw", "wg", "odp"}

// ParseSubject parses the tags at the start of a subject line: any mix of
// reply markers ("Re:", "Fwd:", "Aw:", "Re[2]:") and bracket tags
// ("[PATCH net-next v2 1/3]", "[RFC][PATCH]"). The words of every leading
// bracket tag are interpreted the same way: PATCH (also fused as PATCHv2),
// RFC, RESEND, vN and i/n are recognised, anything else goes to Prefixes.
// Bracket tags or markers after the title starts are part of the title.
func ParseSubject(s string) Subject {
	if len(s) > maxSubjectLen {
		s = s[:maxSubjectLen]
	}
	sub := Subject{Version: 1}
	rest := strings.TrimSpace(s)
	for range maxTags {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if n := replyPrefixLen(rest); n > 0 {
			sub.Reply = true
			rest = rest[n:]
			continue
		}
		if strings.HasPrefix(rest, "[") {
			end := strings.IndexByte(rest, ']')
			if end < 0 {
				break
			}
			sub.tag(rest[1:end])
			rest = rest[end+1:]
			continue
		}
		break
	}
	// git mailinfo also drops the ':' of "[Patch]: foo".
	sub.Title = collapseSpace(strings.TrimLeft(rest, ": \t"))
	return sub
}

// replyPrefixLen returns the length of a reply marker such as "Re:",
// "RE :", "Re[2]:" or "Fwd:" at the start of s, or 0.
func replyPrefixLen(s string) int {
	i := 0
	for i < len(s) && i < 8 && isASCIILetter(s[i]) {
		i++
	}
	if i == 0 || i == 8 {
		return 0
	}
	word := strings.ToLower(s[:i])
	found := false
	for _, w := range replyWords {
		if w == word {
			found = true
			break
		}
	}
	if !found {
		return 0
	}
	// Optional counter: Re[2]: or Re(2):
	if i < len(s) && (s[i] == '[' || s[i] == '(') {
		closer := byte(']')
		if s[i] == '(' {
			closer = ')'
		}
		j := i + 1
		for j < len(s) && j < i+8 && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j > i+1 && j < len(s) && s[j] == closer {
			i = j + 1
		}
	}
	// "Re :" as French mailers write it.
	if i < len(s) && s[i] == ' ' && i+1 < len(s) && s[i+1] == ':' {
		i++
	}
	if i < len(s) && s[i] == ':' {
		return i + 1
	}
	return 0
}

func isASCIILetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// tag interprets the words of one bracket tag.
func (sub *Subject) tag(content string) {
	words := strings.FieldsFunc(content, func(r rune) bool {
		return unicode.IsSpace(r) || r == ','
	})
	for k := 0; k < len(words); k++ {
		w := words[k]
		upper := strings.ToUpper(w)
		switch {
		case k+2 < len(words) && isDigits(w) && strings.EqualFold(words[k+1], "of") && isCounter(w+"/"+words[k+2]):
			// Mercurial's patchbomb: "[PATCH 1 of 2]".
			sub.Index, sub.Total = atoi(w), atoi(words[k+2])
			k += 2
		case upper == "PATCH" || upper == "PATCHES":
			sub.Patch = true
		case strings.HasPrefix(upper, "PATCH") && isVersion(w[len("PATCH"):]):
			sub.Patch = true
			sub.Version = parseVersion(w[len("PATCH"):])
		case upper == "RFC":
			sub.RFC = true
			sub.Patch = true
		case upper == "RESEND":
			sub.Resend = true
		case isVersion(w):
			sub.Version = parseVersion(w)
		case isCounter(w):
			i, n, _ := strings.Cut(w, "/")
			sub.Index = atoi(i)
			sub.Total = atoi(n)
		default:
			sub.Prefixes = append(sub.Prefixes, w)
		}
	}
}

// isVersion reports whether w is "v2", "V2", "-v2" or "v02".
func isVersion(w string) bool {
	w = strings.TrimPrefix(w, "-")
	if len(w) < 2 || (w[0] != 'v' && w[0] != 'V') {
		return false
	}
	return isDigits(w[1:]) && atoi(w[1:]) > 0
}

func parseVersion(w string) int {
	w = strings.TrimPrefix(w, "-")
	return atoi(w[1:])
}

// isCounter reports whether w is "i/n", zero padding allowed. i may exceed
// n: "[PATCH 3/2]" is an extra patch sent after a series.
func isCounter(w string) bool {
	i, n, ok := strings.Cut(w, "/")
	if !ok || !isDigits(i) || !isDigits(n) {
		return false
	}
	return atoi(n) > 0
}

func isDigits(s string) bool {
	if s == "" || len(s) > 7 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi parses a short run of digits (checked by isDigits), capped at maxNumber.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > maxNumber {
			return maxNumber
		}
	}
	return n
}

// collapseSpace trims s and replaces every run of white space by one space.
func collapseSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
