package review

import (
	"strconv"
	"strings"

	"patchwell/review/patchmail"
	"patchwell/store"
)

// searchDoc splits a parsed mail into the fields of the search index:
// To/Cc, the body's unquoted and quoted lines, and a diff's file names,
// removed and added lines (context lines and hunk headers are left out).
// Lines after a diff (b4's "change-id:", a signature) are body text again.
//
// Lines that only repeat what the diff says are left out too, as the
// diff's own headers are: a diffstat (" path | 3 ++-" and " 1 file
// changed, ..."; the names are in dfn:), the git version format-patch
// puts under "-- ", and a quoted diff's headers in a reply ("> diff
// --git", "> index", "> --- a/", "> +++ b/", "> @@ ... @@"); the quoted
// diff lines themselves stay in q:. They were one word in eight of the
// bench corpus, for nothing anyone searches.
func searchDoc(to, cc []string, mail *patchmail.Mail) *store.SearchDoc {
	d := &store.SearchDoc{To: strings.Join(to, " "), Cc: strings.Join(cc, " ")}
	if mail == nil {
		return d
	}
	var nq, q, dfa, dfb strings.Builder
	split := func(text string) {
		var left, right int // lines still due in the current hunk
		inDiff := false     // between a diff header and its first hunk
		afterSig := false   // the line before was the signature separator
		for line := range strings.Lines(text) {
			line = strings.TrimRight(line, "\r\n")
			sig := afterSig
			afterSig = line == "-- "
			if left > 0 || right > 0 {
				switch {
				case strings.HasPrefix(line, "-"):
					addLine(&dfa, line[1:])
					left--
					continue
				case strings.HasPrefix(line, "+"):
					addLine(&dfb, line[1:])
					right--
					continue
				case strings.HasPrefix(line, " ") || line == "":
					left--
					right--
					continue
				case strings.HasPrefix(line, `\`):
					continue
				}
				left, right = 0, 0 // a short hunk: what follows is text
			}
			if strings.HasPrefix(line, "@@ ") {
				if l, r, ok := hunkHeader(line); ok {
					left, right = l, r
					inDiff = false
					continue
				}
			}
			if strings.HasPrefix(line, "diff --git ") {
				inDiff = true
				continue
			}
			if inDiff || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ ") {
				continue // file headers: the names come from mail.Files
			}
			switch {
			case strings.HasPrefix(strings.TrimLeft(line, " \t"), ">"):
				if !quotedDiffHeader(line) {
					addLine(&q, line)
				}
			case diffstatLine(line) || sig && gitVersion(line):
			default:
				addLine(&nq, line)
			}
		}
	}
	split(mail.Body)
	if mail.Diff != "" && !strings.Contains(mail.Body, mail.Diff) {
		split(mail.Diff) // a patch in an attachment
	}
	var files strings.Builder
	for _, f := range mail.Files {
		addLine(&files, f.Path)
		if f.OldPath != "" && f.OldPath != f.Path {
			addLine(&files, f.OldPath)
		}
	}
	d.NQ, d.Q = nq.String(), q.String()
	d.DiffRemoved, d.DiffAdded = dfa.String(), dfb.String()
	d.DiffFiles = files.String()
	d.PatchID = mail.PatchID
	return d
}

func addLine(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	b.WriteString(s)
	b.WriteByte('\n')
}

// hunkHeader parses "@@ -a,b +c,d @@ context" into the line counts of the
// two sides.
func hunkHeader(line string) (left, right int, ok bool) {
	rest := line[3:]
	end := strings.Index(rest, " @@")
	if end < 0 {
		return 0, 0, false
	}
	old, nw, ok := strings.Cut(rest[:end], " ")
	if !ok || !strings.HasPrefix(old, "-") || !strings.HasPrefix(nw, "+") {
		return 0, 0, false
	}
	count := func(r string) (int, bool) {
		_, n, has := strings.Cut(r[1:], ",")
		if !has {
			return 1, true
		}
		v, err := strconv.Atoi(n)
		return v, err == nil && v >= 0
	}
	l, ok1 := count(old)
	r, ok2 := count(nw)
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	return l, r, true
}

// diffstatLine tells a line of a diffstat: " path | 12 +++--",
// " path | Bin 0 -> 12 bytes" or " 3 files changed, 4 insertions(+)".
func diffstatLine(line string) bool {
	if !strings.HasPrefix(line, " ") {
		return false
	}
	rest := strings.TrimLeft(line, " ")
	if n := leadingDigits(rest); n > 0 {
		s, ok := strings.CutPrefix(rest[n:], " file changed")
		if !ok {
			s, ok = strings.CutPrefix(rest[n:], " files changed")
		}
		if ok {
			return diffstatCounts(s)
		}
	}
	i := strings.LastIndex(line, " | ")
	if i < 0 {
		return false
	}
	rest = strings.TrimLeft(line[i+3:], " ")
	if strings.HasPrefix(rest, "Bin ") {
		return true
	}
	n := leadingDigits(rest)
	return n > 0 && strings.Trim(strings.TrimLeft(rest[n:], " "), "+-") == ""
}

// diffstatCounts tells the end of a diffstat's last line: ", 1
// insertion(+), 2 deletions(-)", either part optional.
func diffstatCounts(s string) bool {
	for _, part := range [...]struct{ word, sign string }{{" insertion", "(+)"}, {" deletion", "(-)"}} {
		rest, ok := strings.CutPrefix(s, ", ")
		if !ok {
			break
		}
		n := leadingDigits(rest)
		rest, ok = strings.CutPrefix(rest[n:], part.word)
		if n == 0 || !ok {
			continue
		}
		if rest, ok = strings.CutPrefix(strings.TrimPrefix(rest, "s"), part.sign); ok {
			s = rest
		}
	}
	return s == ""
}

func leadingDigits(s string) int {
	n := 0
	for n < len(s) && '0' <= s[n] && s[n] <= '9' {
		n++
	}
	return n
}

// gitVersion tells the "2.45.2" (or "2.45.2.windows.1") that git
// format-patch writes under the "-- " signature separator.
func gitVersion(line string) bool {
	if leadingDigits(line) == 0 || !strings.Contains(line, ".") {
		return false
	}
	for _, r := range line {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'z' || r == '.' || r == '-') {
			return false
		}
	}
	return true
}

// quotedDiffHeader tells a quoted line that is a diff's header: "diff
// --git", "index a..b", "--- a/...", "+++ b/...", /dev/null, or a hunk
// header. The quoted diff lines themselves are text like any other.
func quotedDiffHeader(line string) bool {
	for {
		t := strings.TrimLeft(line, " \t")
		if !strings.HasPrefix(t, ">") {
			break
		}
		line = t[1:]
	}
	line = strings.TrimPrefix(line, " ")
	switch {
	case strings.HasPrefix(line, "diff --git "), strings.HasPrefix(line, "--- a/"), strings.HasPrefix(line, "+++ b/"),
		strings.HasPrefix(line, "--- /dev/null"), strings.HasPrefix(line, "+++ /dev/null"):
		return true
	case strings.HasPrefix(line, "index "):
		ids, _, _ := strings.Cut(line[len("index "):], " ")
		a, b, ok := strings.Cut(ids, "..")
		return ok && isHex(a) && isHex(b)
	case strings.HasPrefix(line, "@@ "):
		_, _, ok := hunkHeader(line)
		return ok
	}
	return false
}

func isHex(s string) bool {
	if len(s) < 4 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
