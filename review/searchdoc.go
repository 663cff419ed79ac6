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
func searchDoc(to, cc []string, mail *patchmail.Mail) *store.SearchDoc {
	d := &store.SearchDoc{To: strings.Join(to, " "), Cc: strings.Join(cc, " ")}
	if mail == nil {
		return d
	}
	var nq, q, dfa, dfb strings.Builder
	split := func(text string) {
		var left, right int // lines still due in the current hunk
		inDiff := false     // between a diff header and its first hunk
		for line := range strings.Lines(text) {
			line = strings.TrimRight(line, "\r\n")
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
			if strings.HasPrefix(strings.TrimLeft(line, " \t"), ">") {
				addLine(&q, line)
			} else {
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
