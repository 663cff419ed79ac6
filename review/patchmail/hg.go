package patchmail

import (
	"strconv"
	"strings"
	"time"

	"patchwell/core"
)

// Mercurial's patchbomb extension (`hg email`) sends each changeset as
// `hg export` writes it: a header of "# " lines, the description, then
// the diff, either plain ("diff -r <node> -r <node> path" with dated
// ---/+++ lines) or git-style (diff.git=True):
//
//	# HG changeset patch
//	# User Ann Dev <ann@example.org>
//	# Date 1700000100 -3600
//	#      Tue Nov 14 23:15:00 2023 +0100
//	# Branch stable
//	# Node ID df77cbded5c7acd1f45cd07f170e8a75d731cdfc
//	# Parent  29139b0729ad8bfab00c78379f4475719cdf96ee
//	calc: comment add
//
//	Explain the sum.
//
//	diff -r 29139b0729ad -r df77cbded5c7 calc.py
//	--- a/calc.py	Tue Nov 14 22:13:20 2023 +0000
//	+++ b/calc.py	Tue Nov 14 23:15:00 2023 +0100
//
// The header takes the place of git's in-body From:/Date: (# User is
// the author, as `git am --patch-format=hg` reads it) and of
// base-commit: (# Parent of the first patch is the series' base).

// hgMagic is the first line of an `hg export` patch.
const hgMagic = "# HG changeset patch"

// hgHeader is the "# " header of a Mercurial changeset patch.
type hgHeader struct {
	user    string    // "# User", as written ("Name <email>", or just a name)
	date    time.Time // "# Date <unix seconds> <offset west of UTC>"; zero when absent or malformed
	branch  string    // "# Branch"
	node    string    // "# Node ID"
	parents []string  // "# Parent" lines, first parent first
}

// maxHgHeaderLines bounds the "# " lines read; hg writes fewer than ten.
const maxHgHeaderLines = 64

// hgExport finds a Mercurial changeset patch in the text parts: the
// first part whose text starts (after blank lines) with "# HG changeset
// patch". It returns the header and the text after it, the description
// and diff of that part and the parts after it. Inline (hg email's
// default) that is the body; with --attach or --inline the exported
// patch is the attached part, and the text before it is left out.
func hgExport(parts []textPart) (hgHeader, string, bool) {
	for i, p := range parts {
		t := strings.TrimLeft(p.text, "\n")
		if !strings.HasPrefix(t, hgMagic+"\n") {
			continue
		}
		var rest strings.Builder
		rest.WriteString(t)
		for _, q := range parts[i+1:] {
			joinText(&rest, q.text)
		}
		h, body := parseHgHeader(rest.String())
		return h, body, true
	}
	return hgHeader{}, "", false
}

// parseHgHeader reads the "# " lines at the start of t (which begins with
// hgMagic) and returns them with the text after them. Like hg import it
// stops at the first line not starting with "#".
func parseHgHeader(t string) (hgHeader, string) {
	var h hgHeader
	rest := t
	for n := 0; rest != "" && n < maxHgHeaderLines; n++ {
		line, after, _ := strings.Cut(rest, "\n")
		if !strings.HasPrefix(line, "#") {
			break
		}
		rest = after
		switch {
		case strings.HasPrefix(line, "# User "):
			h.user = strings.TrimSpace(line[len("# User "):])
		case strings.HasPrefix(line, "# Date "):
			h.date, _ = parseHgDate(line[len("# Date "):])
		case strings.HasPrefix(line, "# Branch "):
			h.branch = strings.TrimSpace(line[len("# Branch "):])
		case strings.HasPrefix(line, "# Node ID "):
			h.node = strings.TrimSpace(line[len("# Node ID "):])
		case strings.HasPrefix(line, "# Parent "):
			if p := strings.TrimSpace(line[len("# Parent "):]); isHexOID(p) && len(p) == 40 {
				h.parents = append(h.parents, strings.ToLower(p))
			}
		}
	}
	return h, rest
}

// parseHgDate reads Mercurial's "<unix seconds> <offset>" date, whose
// offset is in seconds west of UTC (so -3600 is +0100).
func parseHgDate(s string) (time.Time, bool) {
	f := strings.Fields(s)
	if len(f) != 2 {
		return time.Time{}, false
	}
	sec, err1 := strconv.ParseInt(f[0], 10, 64)
	west, err2 := strconv.Atoi(f[1])
	// Mercurial itself refuses offsets beyond 14 hours and negative dates.
	if err1 != nil || err2 != nil || sec < 0 || sec > 1<<40 || west < -14*3600 || west > 14*3600 {
		return time.Time{}, false
	}
	return time.Unix(sec, 0).In(time.FixedZone("", -west)), true
}

// hgUser turns "# User" into a Person; a user without an e-mail address
// (hg allows any string) gives none.
func hgUser(s string) core.Person {
	if s == "" {
		return core.Person{}
	}
	return parseFrom(s)
}

// base is the series' base the header names: the first parent, unless
// it is Mercurial's null revision (the changeset is a root).
func (h hgHeader) base() string {
	if len(h.parents) == 0 || strings.Trim(h.parents[0], "0") == "" {
		return ""
	}
	return h.parents[0]
}

// splitDescription splits an hg description as Mercurial does: the first
// line is the summary (the commit subject), the rest, without the blank
// lines that follow the summary, is the message.
func splitDescription(desc string) (subject, message string) {
	first, rest, _ := strings.Cut(desc, "\n")
	rest = strings.TrimLeft(rest, " \t\n")
	if rest != "" && !strings.HasSuffix(rest, "\n") {
		rest += "\n"
	}
	return strings.TrimSpace(first), rest
}

// hgDiffToGit rewrites the plain (non-git) Mercurial diff sections of a
// diff into the form git writes for the same change, for the patch-id and
// the file list; it returns diff unchanged when it has none:
//   - "diff -r <node> [-r <node>] path" becomes "diff --git a/path b/path";
//   - the "\t<date>" after the names of "---"/"+++" lines is dropped;
//   - an added (--- /dev/null) or removed (+++ /dev/null) file gets git's
//     "new file mode 100644" / "deleted file mode 100644" line (a plain
//     hg diff does not say whether the file is executable).
//
// git patch-id hashes those header lines, so without this a change
// exported by hg would have a patch-id that depends on its node ids and
// dates, and never equals the git export's.
func hgDiffToGit(diff string) string {
	if !strings.HasPrefix(diff, "diff -r ") && !strings.Contains(diff, "\ndiff -r ") {
		return diff
	}
	var b strings.Builder
	b.Grow(len(diff) + 64)
	inHeader := false // in the header of an hg plain section, before its first hunk
	rest := diff
	for rest != "" {
		var line string
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			line, rest = rest, ""
		}
		if path, ok := hgDiffPath(line); ok {
			inHeader = true
			b.WriteString("diff --git a/" + path + " b/" + path + "\n")
			continue
		}
		if strings.HasPrefix(line, "diff ") || strings.HasPrefix(line, "@@ ") {
			inHeader = false
		}
		if inHeader && (strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "+++ ")) {
			name := strings.TrimSuffix(line[4:], "\n")
			if i := strings.IndexByte(name, '\t'); i >= 0 {
				name = name[:i]
			}
			switch {
			case line[0] == '-' && name == "/dev/null":
				b.WriteString("new file mode 100644\n")
			case line[0] == '-' && strings.HasPrefix(rest, "+++ /dev/null"):
				b.WriteString("deleted file mode 100644\n")
			}
			b.WriteString(line[:4] + name + "\n")
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// hgDiffPath returns the path of a plain Mercurial diff header,
// "diff -r 29139b0729ad -r df77cbded5c7 calc.py" (or with one -r, as hg
// diff writes against the working directory). The node ids must be hex
// (12 digits, or 40 with --debug), which tells it from GNU "diff -r a b".
func hgDiffPath(line string) (string, bool) {
	s, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "diff -r ")
	if !ok {
		return "", false
	}
	for n := 0; ; n++ {
		node, after, ok := strings.Cut(s, " ")
		if !ok || (len(node) != 12 && len(node) != 40) || !isHex(node) {
			return "", false
		}
		s = after
		next, more := strings.CutPrefix(s, "-r ")
		if !more {
			break
		}
		if n == 1 {
			return "", false
		}
		s = next
	}
	if s == "" || strings.ContainsAny(s, "\r\n") {
		return "", false
	}
	return s, true
}
