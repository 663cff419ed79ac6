package web

import (
	"strconv"
	"strings"
)

// The diff view: a patch's diff cut into files, each line classified and
// numbered on both sides, so that pages can link to a line
// (p{patch}-f{file}-n{line} / -o{line}) and review comments can be matched
// to it by (file path, side, line number).

// lineID is the stable anchor of a diff line: prefix (p{patch index}),
// file index within the patch, side (o: old, n: new) and line number.
// Lines that exist on the new side (added, context) are named by their new
// number, deleted lines by their old one.
func lineID(prefix string, file int, side byte, no int) string {
	return prefix + "-f" + strconv.Itoa(file) + "-" + string(side) + strconv.Itoa(no)
}

// splitDiff cuts a diff into files and classifies its lines. Line numbers
// come from the hunk headers and hunk line counts, so a deleted line that
// reads "--- x" inside a hunk stays a deleted line, and text after the last
// hunk of a file (a mail signature, say) is not numbered. prefix names the
// anchors (see lineID); diff is untrusted and may be malformed: every input
// gives some rendering, never a panic.
func splitDiff(prefix string, diff string) []diffFile {
	if strings.TrimSpace(diff) == "" {
		return nil
	}
	var files []diffFile
	var f *diffFile
	oldNo, newNo := 0, 0     // next line number on each side
	oldLeft, newLeft := 0, 0 // lines the current hunk still has on each side
	newFile := func() {
		files = append(files, diffFile{})
		f = &files[len(files)-1]
	}
	for _, raw := range strings.Split(strings.TrimRight(diff, "\n"), "\n") {
		raw = strings.TrimSuffix(raw, "\r")
		ln := line{Text: visible(raw), raw: raw}
		if f == nil {
			newFile()
		}
		if oldLeft > 0 || newLeft > 0 {
			c := byte(' ')
			if raw != "" {
				c = raw[0]
			}
			switch {
			// An empty line in a hunk is a context line whose space a
			// mailer trimmed; git apply takes it so too.
			case c == ' ' && oldLeft > 0 && newLeft > 0:
				ln.Class, ln.Old, ln.New = "ctx", oldNo, newNo
				oldNo, newNo, oldLeft, newLeft = oldNo+1, newNo+1, oldLeft-1, newLeft-1
			case c == '-' && oldLeft > 0:
				ln.Class, ln.Old = "del", oldNo
				oldNo, oldLeft = oldNo+1, oldLeft-1
				f.Deleted++
			case c == '+' && newLeft > 0:
				ln.Class, ln.New = "add", newNo
				newNo, newLeft = newNo+1, newLeft-1
				f.Added++
			case c == '\\':
				ln.Class = "nonl"
			default:
				// The hunk is shorter than its header said: read the
				// line as a header.
				oldLeft, newLeft = 0, 0
			}
			if ln.Class != "" {
				numberLine(&ln, prefix, len(files)-1)
				f.Lines = append(f.Lines, ln)
				continue
			}
		}
		switch {
		case strings.HasPrefix(raw, "diff --git "), strings.HasPrefix(raw, "diff --cc "), strings.HasPrefix(raw, "diff --combined "):
			if len(f.Lines) > 0 {
				newFile()
			}
			ln.Class = "file"
			f.OldPath, f.NewPath = gitHeaderPaths(raw)
		case strings.HasPrefix(raw, "@@ "):
			ln.Class = "hunk"
			if o, ol, n, nl, ok := parseHunk(raw); ok {
				oldNo, oldLeft, newNo, newLeft = o, ol, n, nl
				// A side with no lines ("-0,0") starts after line 0.
				if oldNo == 0 {
					oldNo = 1
				}
				if newNo == 0 {
					newNo = 1
				}
			}
			f.hunks++
		case strings.HasPrefix(raw, "--- "):
			// A plain (not git) diff has no "diff" line: "---" after a
			// file's hunks starts the next file.
			if f.hunks > 0 || f.sawMinus {
				newFile()
			}
			ln.Class = "file"
			f.sawMinus = true
			if p, ok := headerPath(raw[4:], "a/"); ok {
				f.OldPath = p
			} else {
				f.Status = "added"
			}
		case strings.HasPrefix(raw, "+++ "):
			ln.Class = "file"
			if p, ok := headerPath(raw[4:], "b/"); ok {
				f.NewPath = p
			} else {
				f.Status = "deleted"
			}
		case strings.HasPrefix(raw, "rename from "), strings.HasPrefix(raw, "copy from "):
			ln.Class = "file"
			f.OldPath = unquotePath(raw[strings.Index(raw, " from ")+6:])
			f.Status = strings.Fields(raw)[0] + "d" // renamed, copied
		case strings.HasPrefix(raw, "rename to "), strings.HasPrefix(raw, "copy to "):
			ln.Class = "file"
			f.NewPath = unquotePath(raw[strings.Index(raw, " to ")+4:])
		case strings.HasPrefix(raw, "new file mode "):
			ln.Class, f.Status = "file", "added"
		case strings.HasPrefix(raw, "deleted file mode "):
			ln.Class, f.Status = "file", "deleted"
		case strings.HasPrefix(raw, "Binary files "), strings.HasPrefix(raw, "GIT binary patch"):
			ln.Class, f.Binary = "file", true
		case strings.HasPrefix(raw, "index "), strings.HasPrefix(raw, "old mode "), strings.HasPrefix(raw, "new mode "),
			strings.HasPrefix(raw, "similarity index "), strings.HasPrefix(raw, "dissimilarity index "):
			ln.Class = "file"
		case strings.HasPrefix(raw, "\\"):
			ln.Class = "nonl"
		}
		f.Lines = append(f.Lines, ln)
	}
	for i := range files {
		f := &files[i]
		f.Anchor = prefix + "-f" + strconv.Itoa(i)
		switch f.Status {
		case "added":
			f.OldPath = ""
		case "deleted":
			f.NewPath = ""
		}
		f.Name = f.NewPath
		if f.Name == "" {
			f.Name = f.OldPath
		}
		if f.OldPath != "" && f.NewPath != "" && f.OldPath != f.NewPath {
			f.Name = f.OldPath + " → " + f.NewPath
		}
		f.Name = visible(f.Name)
	}
	return files
}

// numberLine sets the anchors of a numbered line.
func numberLine(ln *line, prefix string, file int) {
	switch {
	case ln.New > 0:
		ln.ID = lineID(prefix, file, 'n', ln.New)
		if ln.Old > 0 {
			ln.OldID = lineID(prefix, file, 'o', ln.Old)
		}
	case ln.Old > 0:
		ln.ID = lineID(prefix, file, 'o', ln.Old)
	}
}

// parseHunk reads "@@ -o[,ol] +n[,nl] @@ ..."; a missing count is 1.
func parseHunk(s string) (o, ol, n, nl int, ok bool) {
	f := strings.Fields(s)
	if len(f) < 3 || !strings.HasPrefix(f[1], "-") || !strings.HasPrefix(f[2], "+") {
		return 0, 0, 0, 0, false
	}
	o, ol, ok1 := hunkRange(f[1][1:])
	n, nl, ok2 := hunkRange(f[2][1:])
	return o, ol, n, nl, ok1 && ok2
}

// maxHunkLines bounds a hunk's line count taken from a header, so a
// hostile header cannot make numbers overflow.
const maxHunkLines = 1 << 30

func hunkRange(s string) (start, count int, ok bool) {
	count = 1
	if i := strings.IndexByte(s, ','); i >= 0 {
		c, err := strconv.Atoi(s[i+1:])
		if err != nil || c < 0 || c > maxHunkLines {
			return 0, 0, false
		}
		count, s = c, s[:i]
	}
	start, err := strconv.Atoi(s)
	if err != nil || start < 0 || start > maxHunkLines {
		return 0, 0, false
	}
	return start, count, true
}

// headerPath reads the path of a "---"/"+++" line without its a/ or b/
// prefix and any trailing tab and timestamp; ok is false for /dev/null.
func headerPath(s, prefix string) (string, bool) {
	if i := strings.IndexByte(s, '\t'); i >= 0 && !strings.HasPrefix(s, `"`) {
		s = s[:i]
	}
	s = unquotePath(s)
	if s == "/dev/null" {
		return "", false
	}
	return strings.TrimPrefix(s, prefix), true
}

// gitHeaderPaths reads "diff --git a/X b/Y". With spaces in names this is
// ambiguous; the ---/+++ and rename lines, when present, override it.
func gitHeaderPaths(s string) (old, new string) {
	s = s[strings.Index(s, " ")+1:]
	s = s[strings.Index(s, " ")+1:] // after "diff --git "
	if strings.HasPrefix(s, `"`) {
		if a, rest, ok := cutQuoted(s); ok {
			return strings.TrimPrefix(a, "a/"), strings.TrimPrefix(unquotePath(strings.TrimSpace(rest)), "b/")
		}
	}
	if i := strings.LastIndex(s, " b/"); i >= 0 {
		return strings.TrimPrefix(s[:i], "a/"), s[i+3:]
	}
	if i := strings.LastIndex(s, ` "b/`); i >= 0 {
		return strings.TrimPrefix(s[:i], "a/"), strings.TrimPrefix(unquotePath(s[i+1:]), "b/")
	}
	return "", ""
}

// cutQuoted splits a leading C-quoted string off s.
func cutQuoted(s string) (string, string, bool) {
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			u, err := strconv.Unquote(s[:i+1])
			return u, s[i+1:], err == nil
		}
	}
	return "", "", false
}

// unquotePath undoes git's C quoting of unusual file names ("a/t\303\244st").
func unquotePath(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		if u, _, ok := cutQuoted(s); ok {
			return u
		}
	}
	return s
}
