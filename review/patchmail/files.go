package patchmail

import (
	"patchwell/core"
	"strings"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
)

// maxFiles bounds the files listed for one diff.
const maxFiles = 10000

// diffFiles lists the files of a diff. The diff is first repaired for
// what mailers commonly break (see repairDiff) and parsed whole with
// go-gitdiff; when that fails, each "diff " section is parsed on its own
// and a section go-gitdiff rejects is described from its header lines and
// counted leniently, so one bad hunk does not hide the other files.
func diffFiles(diff string) []core.File {
	diff = repairDiff(diff)
	files, _, err := gitdiff.Parse(strings.NewReader(diff))
	if err == nil && len(files) > 0 {
		return convertFiles(files)
	}
	var out []core.File
	for _, sec := range splitSections(diff) {
		files, _, err := gitdiff.Parse(strings.NewReader(sec))
		if err == nil && len(files) > 0 {
			out = append(out, convertFiles(files)...)
		} else if f, ok := lenientFile(sec); ok {
			out = append(out, f)
		}
		if len(out) >= maxFiles {
			break
		}
	}
	return out
}

func convertFiles(files []*gitdiff.File) []core.File {
	var out []core.File
	for _, f := range files {
		if f == nil {
			continue
		}
		sf := core.File{Path: f.NewName, Binary: f.IsBinary}
		if f.IsDelete || sf.Path == "" {
			sf.Path = f.OldName
		}
		if f.IsRename || f.IsCopy {
			sf.OldPath = f.OldName
		}
		for _, frag := range f.TextFragments {
			sf.Added += int(frag.LinesAdded)
			sf.Deleted += int(frag.LinesDeleted)
		}
		out = append(out, sf)
		if len(out) >= maxFiles {
			break
		}
	}
	return out
}

// repairDiff fixes two things mail breaks and git apply tolerates:
//   - an empty line inside a hunk is a context line whose leading space
//     was stripped (by a mailer or an editor);
//   - "diff --git name name" (format-patch --no-prefix) gets a/ and b/
//     prefixes, which go-gitdiff needs to find names in a header without
//     ---/+++ lines (binary files, mode changes).
func repairDiff(diff string) string {
	var b strings.Builder
	b.Grow(len(diff) + 64)
	before, after := 0, 0 // lines left in the current hunk
	for line := range strings.Lines(diff) {
		switch {
		case before > 0 || after > 0:
			switch {
			case line == "\n":
				line = " \n"
				before--
				after--
			case line[0] == ' ':
				before--
				after--
			case line[0] == '-':
				before--
			case line[0] == '+':
				after--
			case line[0] == '\\':
			default:
				before, after = 0, 0
			}
		case strings.HasPrefix(line, "@@ -"):
			before, after = scanHunkHeader(line, 0)
		case strings.HasPrefix(line, "diff --git "):
			line = addPrefixes(line)
		}
		b.WriteString(line)
	}
	return b.String()
}

// addPrefixes turns "diff --git x x" into "diff --git a/x b/x" when the
// names have no a/ b/ prefixes and both halves are the same name.
func addPrefixes(line string) string {
	names := strings.TrimSuffix(strings.TrimPrefix(line, "diff --git "), "\n")
	if strings.HasPrefix(names, "a/") || strings.HasPrefix(names, "\"") || len(names)%2 == 0 {
		return line
	}
	half := len(names) / 2
	if names[half] != ' ' || names[:half] != names[half+1:] {
		return line
	}
	return "diff --git a/" + names[:half] + " b/" + names[:half] + "\n"
}

// splitSections splits a diff before each line starting with "diff ".
func splitSections(diff string) []string {
	var out []string
	start := 0
	pos := 0
	for line := range strings.Lines(diff) {
		if pos > start && strings.HasPrefix(line, "diff ") {
			out = append(out, diff[start:pos])
			start = pos
		}
		pos += len(line)
	}
	if start < len(diff) {
		out = append(out, diff[start:])
	}
	return out
}

// lenientFile describes one diff section from its header lines ("rename
// from/to", "---"/"+++" names, or the "diff --git" line) and counts its
// +/- lines.
func lenientFile(sec string) (core.File, bool) {
	var f core.File
	var oldName, newName, from, to string
	gitHeader, hunk := false, false
	for line := range strings.Lines(sec) {
		line = strings.TrimRight(line, "\n")
		switch {
		case strings.HasPrefix(line, "@@"):
			hunk = true
		case strings.HasPrefix(line, "diff --git "):
			gitHeader = true
			names := strings.TrimPrefix(line, "diff --git ")
			if i := strings.Index(names, " b/"); i >= 0 && strings.HasPrefix(names, "a/") {
				oldName, newName = names[2:i], names[i+3:]
			}
		case strings.HasPrefix(line, "rename from "), strings.HasPrefix(line, "copy from "):
			from = line[strings.Index(line, "from ")+5:]
		case strings.HasPrefix(line, "rename to "), strings.HasPrefix(line, "copy to "):
			to = line[strings.Index(line, "to ")+3:]
		case strings.HasPrefix(line, "--- "):
			if n := stripDiffName(line[4:], "a/"); n != "" {
				oldName = n
			}
		case strings.HasPrefix(line, "+++ "):
			if n := stripDiffName(line[4:], "b/"); n != "" {
				newName = n
			}
		case strings.HasPrefix(line, "GIT binary patch"), strings.HasPrefix(line, "Binary files "):
			f.Binary = true
		case strings.HasPrefix(line, "+"):
			f.Added++
		case strings.HasPrefix(line, "-"):
			f.Deleted++
		}
	}
	if from != "" && to != "" {
		oldName, newName = from, to
		f.OldPath = from
	}
	f.Path = newName
	if f.Path == "" {
		f.Path = oldName
	}
	if f.OldPath == f.Path {
		f.OldPath = ""
	}
	return f, f.Path != "" && (gitHeader || hunk)
}

// stripDiffName returns the file name of a ---/+++ line: without the
// a/ or b/ prefix and a trailing tab and timestamp; "" for /dev/null.
func stripDiffName(s, prefix string) string {
	if i := strings.IndexByte(s, '\t'); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if s == "/dev/null" {
		return ""
	}
	return strings.TrimPrefix(s, prefix)
}
