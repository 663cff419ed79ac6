package patchmail

import "strings"

// parsePull finds a git request-pull in text: the line "are available in
// the Git repository at:" (any case, trailing space allowed), then after
// blank lines "<url> [<ref>]". A URL wrapped onto two lines (the ref alone
// on the next line) is handled. "for you to fetch changes up to <sha>:"
// gives Commit. Quoted lines are ignored. It returns nil when text is not
// a pull request.
func parsePull(text string) *Pull {
	lines := unquotedLines(text)
	for i, l := range lines {
		if !strings.Contains(strings.ToLower(l), "are available in the git repository at") {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.TrimSpace(lines[j]) == "" {
			j++
		}
		if j >= len(lines) {
			return nil
		}
		f := strings.Fields(lines[j])
		if len(f) == 0 || !looksLikeRepoURL(f[0]) {
			return nil
		}
		p := &Pull{URL: f[0]}
		if len(f) > 1 {
			p.Ref = f[1]
		} else if j+1 < len(lines) {
			next := strings.Fields(lines[j+1])
			if len(next) == 1 && !strings.Contains(next[0], "://") && !strings.HasSuffix(next[0], ":") {
				p.Ref = next[0]
			}
		}
		for _, l := range lines[j:] {
			if v, ok := strings.CutPrefix(strings.TrimSpace(l), "for you to fetch changes up to "); ok {
				v = strings.TrimSuffix(strings.TrimSpace(v), ":")
				if isHex(v) && len(v) <= 64 {
					p.Commit = v
				}
				break
			}
		}
		return p
	}
	return nil
}

// looksLikeRepoURL accepts scheme://host/path and scp-like user@host:path.
func looksLikeRepoURL(s string) bool {
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		return scheme != "" && rest != ""
	}
	host, path, ok := strings.Cut(s, ":")
	return ok && host != "" && path != "" && !strings.ContainsAny(host, "/ ")
}

// unquotedLines splits text into lines, dropping quoted (">") lines.
func unquotedLines(text string) []string {
	var out []string
	for l := range strings.Lines(text) {
		l = strings.TrimRight(l, "\n")
		if strings.HasPrefix(strings.TrimLeft(l, " "), ">") {
			continue
		}
		out = append(out, l)
	}
	return out
}
