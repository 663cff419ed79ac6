package gitrepo

import (
	"context"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/bluekeyes/go-gitdiff/gitdiff"

	"patchwell/review/patchmail"
	"patchwell/store"
)

// PathError is a patch refused before git sees it: a path that could
// leave the worktree or write into git's own files.
type PathError struct {
	Patch  int    // 1-based
	Path   string // as written in the patch (quoted when shown)
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("patch %d: refused path %q: %s", e.Patch, e.Path, e.Reason)
}

// Flag marks a file of a patch that deserves a reviewer's eye: it
// changes how git or CI treats the tree, or its name may mislead.
type Flag struct {
	Patch  int    `json:"patch"`
	Path   string `json:"path"`
	Reason string `json:"reason"`
}

// CheckPatches checks the diffs of a series' patches, in order, against
// the base tree's symlinks (Worktree.Symlinks; nil for none). It returns
// the first refused path as a *PathError, or the flags.
//
// Refused: empty, absolute or non-normalised paths ("", "//", "." or
// ".." components), any component that git would take for its own
// directory (".git", in any case, with trailing dots or spaces), control
// characters (newlines included) or invalid UTF-8, and paths under a
// symbolic link, in the base tree or made by an earlier file of the
// series. Flagged, not refused: .gitmodules and .gitattributes (any
// directory), .patchwell.yml, .gitlab-ci.yml, .github/, submodules
// (gitlinks), symbolic links made or retargeted (linkFlag: the flag
// names the target and says when it leaves the tree), and
// bidirectional-text controls such as U+202E in a name: git writes such
// a file where it says, so it cannot escape, but the name may display
// as another (Trojan Source), which a reviewer must see.
func CheckPatches(diffs []string, symlinks map[string]bool) ([]Flag, error) {
	links := map[string]bool{}
	for p := range symlinks {
		links[p] = true
	}
	var flags []Flag
	for i, d := range diffs {
		n := i + 1
		files, _, err := gitdiff.Parse(strings.NewReader(d))
		if err != nil {
			return nil, fmt.Errorf("patch %d: cannot parse its diff: %v", n, err)
		}
		// go-gitdiff returns the names of a traditional diff ("--- a/x",
		// "+++ b/x" without a "diff --git" header) as written, where git
		// am strips their first component: then both forms are checked.
		headers := strings.Count("\n"+d, "\ndiff --git ")
		traditional := len(files) > headers
		for _, f := range files {
			for _, p := range []string{f.OldName, f.NewName} {
				if p == "" {
					continue
				}
				forms := []string{p}
				if traditional {
					if _, rest, ok := strings.Cut(strings.TrimLeft(p, "/"), "/"); ok {
						forms = append(forms, rest)
					}
				}
				for _, q := range forms {
					if why := badPath(q); why != "" {
						return nil, &PathError{Patch: n, Path: p, Reason: why}
					}
					if l := underLink(q, links); l != "" {
						return nil, &PathError{Patch: n, Path: p, Reason: fmt.Sprintf("it goes through the symbolic link %q", l)}
					}
				}
				flags = append(flags, flagsFor(n, forms[len(forms)-1])...)
			}
			if fl, ok := linkFlag(n, f); ok {
				flags = append(flags, fl)
			}
			if f.IsRename && links[f.OldName] {
				links[f.NewName] = true
			}
			if f.IsDelete || (f.OldName != "" && f.IsRename) {
				delete(links, f.OldName)
			}
			if f.NewName != "" {
				if f.NewMode == 0o120000 {
					links[f.NewName] = true
				} else if f.NewMode != 0 {
					delete(links, f.NewName)
				}
				if f.NewMode == 0o160000 {
					flags = append(flags, Flag{n, f.NewName, "changes a submodule"})
				}
			}
		}
	}
	return flags, nil
}

// linkFlag flags a file the patch makes a symbolic link, or whose link
// target it changes, naming the target (a symlink's content) and saying
// when it leaves the tree.
//
// A link within the tree is flagged too, as a note: it reads like a
// one-line text file in a diff, and though git writes nothing through
// it, whatever later reads the tree (a build, a CI check) follows it,
// and a target is resolved by the letter only: through another link
// it may still lead anywhere.
func linkFlag(n int, f *gitdiff.File) (Flag, bool) {
	mode := f.NewMode
	if mode == 0 && !f.IsDelete {
		mode = f.OldMode // "index a..b 120000": the mode is unchanged
	}
	if mode != 0o120000 || f.NewName == "" {
		return Flag{}, false
	}
	var what string
	switch {
	case f.IsNew:
		what = "adds a symbolic link"
	case f.OldMode != 0o120000 && f.NewMode == 0o120000:
		what = "turns a file into a symbolic link"
	case len(f.TextFragments) == 0:
		return Flag{}, false // a rename that keeps the target
	default:
		what = "changes the symbolic link's target"
	}
	if len(f.TextFragments) == 0 {
		return Flag{n, f.NewName, what + " (its target is not in the patch)"}, true
	}
	// The link's new content (its target), whole: git shows it as one
	// line without a newline.
	var target strings.Builder
	for _, frag := range f.TextFragments {
		for _, l := range frag.Lines {
			if l.Op != gitdiff.OpDelete {
				target.WriteString(l.Line)
			}
		}
	}
	t := target.String()
	return Flag{n, f.NewName, fmt.Sprintf("%s to %q%s", what, t, linkLeaves(f.NewName, t))}, true
}

// linkLeaves says how the target of the symbolic link at path p leaves
// the tree, resolved by the letter from the link's directory: an
// absolute path, a ".." above the top (even if the path comes back in
// later: it then depends on the directory the tree is checked out in),
// or into git's own directory. Otherwise it notes that the target stays
// within the tree.
func linkLeaves(p, target string) string {
	if strings.HasPrefix(target, "/") {
		return ": an absolute path, outside the tree"
	}
	depth := strings.Count(p, "/") // the directories above the link
	for _, c := range strings.Split(target, "/") {
		switch {
		case c == "" || c == ".":
		case c == "..":
			if depth--; depth < 0 {
				return ": it climbs out of the tree"
			}
		case strings.EqualFold(strings.TrimRight(c, ". "), ".git"):
			return ": into git's own directory (.git)"
		default:
			depth++
		}
	}
	return " (within the tree)"
}

func badPath(p string) string {
	if !utf8.ValidString(p) {
		return "not valid UTF-8"
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return "it contains a control character"
		}
	}
	if strings.HasPrefix(p, "/") {
		return "it is absolute"
	}
	if strings.Contains(p, `\`) {
		return "it contains a backslash"
	}
	for _, c := range strings.Split(p, "/") {
		switch c {
		case "":
			return "it has an empty component"
		case ".", "..":
			return "it has a '" + c + "' component"
		}
		switch strings.ToLower(strings.TrimRight(c, ". ")) {
		case ".git":
			return "it names git's own directory (.git)"
		case ".hg":
			return "it names Mercurial's own directory (.hg)"
		}
	}
	return ""
}

// underLink returns the symlink a path goes through ("" for none).
func underLink(p string, links map[string]bool) string {
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && links[p[:i]] {
			return p[:i]
		}
	}
	return ""
}

func flagsFor(n int, p string) []Flag {
	var fl []Flag
	base := p[strings.LastIndex(p, "/")+1:]
	switch {
	case base == ".gitmodules":
		fl = append(fl, Flag{n, p, "changes submodules (.gitmodules)"})
	case p == ".hgsub" || p == ".hgsubstate":
		fl = append(fl, Flag{n, p, "changes Mercurial subrepositories (" + p + ")"})
	case p == ".hgtags":
		fl = append(fl, Flag{n, p, "changes Mercurial tags (.hgtags)"})
	case base == ".gitattributes":
		fl = append(fl, Flag{n, p, "changes git attributes (.gitattributes: filters, diff and merge drivers)"})
	case p == ".patchwell.yml":
		fl = append(fl, Flag{n, p, "changes the CI check definition (.patchwell.yml)"})
	case p == ".gitlab-ci.yml" || strings.HasPrefix(p, ".github/"):
		fl = append(fl, Flag{n, p, "changes a CI definition"})
	}
	for _, r := range p {
		if unicode.Is(unicode.Bidi_Control, r) || r == '\u200b' || r == '\ufeff' {
			fl = append(fl, Flag{n, p, fmt.Sprintf("its name contains the invisible or direction-changing character U+%04X", r)})
			break
		}
	}
	return fl
}

// VerifyCommits re-checks what git actually committed (commits: the ids
// Am returned, in order) with the rules of CheckPatches, so that a mail
// git decodes differently from patchwell (MIME tricks) cannot slip a
// path past the check made before git am. A refused path is a
// *PathError naming the commit's position.
func (w *Worktree) VerifyCommits(ctx context.Context, commits []string) error {
	links, err := w.Symlinks(ctx)
	if err != nil {
		return err
	}
	parent := w.base
	for i, c := range commits {
		out, err := w.m.git(ctx, w.dir, nil, "diff-tree", "-r", "-z", "--no-renames", "--no-abbrev", parent, c)
		if err != nil {
			return err
		}
		f := strings.Split(string(out), "\x00")
		for j := 0; j+1 < len(f); j += 2 {
			meta, p := strings.Fields(f[j]), f[j+1]
			if len(meta) < 5 {
				return fmt.Errorf("commit %s: unexpected git diff-tree output %q", c, f[j])
			}
			if why := badPath(p); why != "" {
				return &PathError{Patch: i + 1, Path: p, Reason: why}
			}
			if l := underLink(p, links); l != "" {
				return &PathError{Patch: i + 1, Path: p, Reason: fmt.Sprintf("it goes through the symbolic link %q", l)}
			}
			switch {
			case meta[1] == "120000":
				links[p] = true
			default:
				delete(links, p)
			}
		}
		parent = c
	}
	return nil
}

// ParseError is a patch of a series that does not parse.
type ParseError struct {
	Patch int // 1-based
	Err   error
}

func (e *ParseError) Error() string { return fmt.Sprintf("patch %d: %v", e.Patch, e.Err) }
func (e *ParseError) Unwrap() error { return e.Err }

// RawReader reads the stored bytes of a message (store.Archive.Raw).
type RawReader interface {
	Raw(ctx context.Context, list, messageID string) ([]byte, error)
}

// SeriesDiffs returns the diffs of a series' patches, in order, for
// CheckPatches; a *ParseError for a patch that does not parse.
func SeriesDiffs(ctx context.Context, st RawReader, list string, patches []store.Patch) ([]string, error) {
	diffs := make([]string, len(patches))
	for i, p := range patches {
		raw, err := st.Raw(ctx, list, p.MessageID)
		if err != nil {
			return nil, err
		}
		pm, err := patchmail.Parse(raw)
		if err != nil {
			return nil, &ParseError{Patch: i + 1, Err: err}
		}
		diffs[i] = pm.Diff
	}
	return diffs, nil
}
