package patchmail

import (
	"patchwell/core"
	"regexp"
	"strings"
)

// Limits on trailer collection.
const (
	maxTrailers       = 100
	maxTrailerLineLen = 1000
)

// knownTrailers are the trailer keys accepted besides any "*-by" key,
// spelled as they are returned.
var knownTrailers = []string{
	"Fixes", "Link", "Closes", "Cc", "Message-ID", "Change-Id", "Bug",
	"Signed-off-by", "Reviewed-by", "Acked-by", "Tested-by", "Reported-by",
	"Suggested-by", "Co-developed-by", "Reported-and-tested-by",
}

var (
	trailerLineRE = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*):[ \t]+(\S.*?)[ \t]*$`)
	byKeyRE       = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*-[Bb][Yy]$`)
	// emailRE finds an address in a person trailer value.
	emailRE = regexp.MustCompile(`[^\s<>()\[\],;:"]+@[^\s<>()\[\],;:"]+\.[^\s<>()\[\],;:"]+`)
	// mailtoRE is the junk HTML mailers leave in addresses.
	mailtoRE = regexp.MustCompile(`<mailto:[^<>]*>`)
)

// parseTrailer parses one line as a trailer: a known key or a "-by" key,
// and for person trailers (keys ending in -by, and Cc) a value holding an
// e-mail address ("Name <addr>" or a bare addr). Known keys are returned
// in their usual spelling ("reviewed-by" -> "Reviewed-by").
func parseTrailer(line string) (core.Trailer, bool) {
	if len(line) > maxTrailerLineLen {
		return core.Trailer{}, false
	}
	m := trailerLineRE.FindStringSubmatch(line)
	if m == nil {
		return core.Trailer{}, false
	}
	key, value := m[1], m[2]
	known := false
	for _, k := range knownTrailers {
		if strings.EqualFold(k, key) {
			key, known = k, true
			break
		}
	}
	person := byKeyRE.MatchString(key) || key == "Cc"
	if !known && !person {
		return core.Trailer{}, false
	}
	if person {
		value = mailtoRE.ReplaceAllString(value, "")
		if !emailRE.MatchString(value) {
			return core.Trailer{}, false
		}
	}
	return core.Trailer{Key: key, Value: value}, true
}

// ReplyTrailers returns the trailer lines of a reply body in order, as b4
// collects follow-up trailers: quoted (">") lines are ignored, and so is
// everything after a signature delimiter ("-- ", or "--" as some mailers
// strip the space). Leading white space before a trailer is allowed.
func ReplyTrailers(body string) []core.Trailer {
	var out []core.Trailer
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		if line == "-- " || line == "--" {
			break
		}
		trimmed := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(trimmed, ">") {
			continue
		}
		if t, ok := parseTrailer(trimmed); ok {
			out = append(out, t)
			if len(out) >= maxTrailers {
				break
			}
		}
	}
	return out
}

// messageTrailers returns the trailers of a commit message: its last
// paragraph, when every line of it is a trailer, a continuation line
// (starting with white space) or a bracketed note ("[ukl: fixed typo]"),
// or when at least a quarter of its lines are trailers and one of them is
// Signed-off-by (git interpret-trailers' rule, simplified).
func messageTrailers(msg string) []core.Trailer {
	msg = strings.TrimRight(msg, " \t\n")
	para := msg
	if i := strings.LastIndex(msg, "\n\n"); i >= 0 {
		para = msg[i+2:]
	}
	var (
		out           []core.Trailer
		lines, others int
		sob           bool
	)
	for line := range strings.Lines(para) {
		line = strings.TrimRight(line, "\n")
		if strings.TrimSpace(line) == "" {
			continue
		}
		lines++
		if t, ok := parseTrailer(line); ok {
			if len(out) < maxTrailers {
				out = append(out, t)
			}
			sob = sob || t.Key == "Signed-off-by"
			continue
		}
		if line[0] == ' ' || line[0] == '\t' || (line[0] == '[' && strings.HasSuffix(line, "]")) {
			continue
		}
		others++
	}
	if len(out) == 0 {
		return nil
	}
	if others == 0 || (sob && len(out)*4 >= lines) {
		return out
	}
	return nil
}

// FromSender reports whether a person trailer names the sender of the
// mail it was found in (same address, or same name, case-insensitively),
// as b4 requires before it applies a follow-up trailer. Trailers that do
// not name a person (Fixes, Link, ...) always match.
func FromSender(t core.Trailer, from core.Person) bool {
	if !byKeyRE.MatchString(t.Key) {
		return true
	}
	p := parseFrom(t.Value)
	if p.Email != "" && strings.EqualFold(p.Email, from.Email) {
		return true
	}
	return p.Name != "" && p.Name != p.Email && strings.EqualFold(p.Name, from.Name)
}

// WithoutTrailers is a commit message without its trailer block (the
// last paragraph, when every line of it is a trailer): what a page shows
// above the trailers it lists apart.
func WithoutTrailers(msg string) string {
	t := strings.TrimRight(msg, "\n")
	i := strings.LastIndex(t, "\n\n")
	last := t[i+1:]
	if i < 0 {
		last = t
	}
	lines := strings.Split(strings.TrimSpace(last), "\n")
	for _, l := range lines {
		if _, ok := parseTrailer(l); !ok {
			return msg
		}
	}
	if i < 0 {
		return ""
	}
	return t[:i+1]
}

// ChangesRequestedKey is the line by which a reply asks for changes to
// the patch or series it answers (review.Service.Verdicts shows it as
// the sender's verdict, as GitHub's "Request changes"):
//
//	Changes-requested: yes
//
// on a line of its own, outside quoted text and above the signature,
// anywhere in the body; the value is free text (the web writes "yes").
// It is a body line, not a header, so that anyone can type it in any
// mail client (most cannot add headers) and it survives list footers
// and forwarding, and a reader sees it in the mail. Its value names no
// person, unlike Reviewed-by: b4 and the trailer collection here take
// "Key: Name <addr>" lines from replies into the commits they apply,
// and a request for changes must never end up in a commit message. The
// sender is who asks (as with follow-up trailers, whose person must be
// the sender); a later Reviewed-, Acked- or Tested-by from them takes
// it back, as a later request takes back their approval.
const ChangesRequestedKey = "Changes-requested"

// ChangesRequested reports whether a reply body holds a
// ChangesRequestedKey line outside quotes and above the signature, and
// returns its value.
func ChangesRequested(body string) (string, bool) {
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		if line == "-- " || line == "--" {
			break
		}
		t := strings.TrimLeft(line, " \t")
		if len(t) > maxTrailerLineLen || len(t) < len(ChangesRequestedKey)+1 {
			continue
		}
		if strings.EqualFold(t[:len(ChangesRequestedKey)], ChangesRequestedKey) && t[len(ChangesRequestedKey)] == ':' {
			return strings.TrimSpace(t[len(ChangesRequestedKey)+1:]), true
		}
	}
	return "", false
}
