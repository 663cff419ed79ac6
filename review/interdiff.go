package review

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/review/patchmail"
	"patchwell/store"
)

// What changed between two revisions of a series. With a git repository
// configured for the list, git range-diff says it (RangeDiffer, the hook
// the repository work plugs in); without one, each patch of the older
// revision is paired with its counterpart in the newer one and the two
// patch texts are diffed (a diff of diffs, as interdiff shows it), by
// `git diff --no-index` on two files in a scratch directory.

// RangeDiffer runs git range-diff for lists that have a git repository.
type RangeDiffer interface {
	// RangeDiff returns git range-diff's output from the older revision
	// to the newer one; ok is false when the list has no repository, or
	// the series do not apply to it, and the diff of diffs is used.
	RangeDiff(ctx context.Context, older, newer *store.Series) (out string, ok bool, err error)
}

// maxRevisions bounds the walk along a revision chain.
const maxRevisions = 100

// Revisions returns the revision chain a series is part of, oldest first:
// the revisions before it (Previous links) and after it (SupersededBy),
// within its list. store.ErrNotFound for an unknown id.
func (s *Service) Revisions(ctx context.Context, id int64) ([]store.Series, error) {
	se, err := s.st.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	seen := map[int64]bool{id: true}
	var before, after []store.Series
	walk := func(next int64, dir func(*store.Series) int64, out *[]store.Series) error {
		for next != 0 && !seen[next] && len(before)+len(after) < maxRevisions {
			r, err := s.st.Series(ctx, next)
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			if r.List != se.List {
				return nil
			}
			seen[next] = true
			*out = append(*out, *r)
			next = dir(r)
		}
		return nil
	}
	if err := walk(se.Previous, func(r *store.Series) int64 { return r.Previous }, &before); err != nil {
		return nil, err
	}
	if err := walk(se.SupersededBy, func(r *store.Series) int64 { return r.SupersededBy }, &after); err != nil {
		return nil, err
	}
	chain := make([]store.Series, 0, len(before)+1+len(after))
	for i := len(before) - 1; i >= 0; i-- {
		chain = append(chain, before[i])
	}
	chain = append(chain, *se)
	return append(chain, after...), nil
}

// SeriesDiff returns what changed between two revisions of a series, the
// older one first whatever the argument order. store.ErrNotFound when a
// series is unknown; store.ErrInvalid when the two are not revisions of
// one series (other lists, or not in one revision chain).
func (s *Service) SeriesDiff(ctx context.Context, id, other int64) (*store.SeriesDiff, error) {
	if _, err := s.st.Series(ctx, other); err != nil {
		return nil, err
	}
	chain, err := s.Revisions(ctx, id)
	if err != nil {
		return nil, err
	}
	if id == other {
		return nil, fmt.Errorf("%w: a series compared with itself", store.ErrInvalid)
	}
	pos := map[int64]int{}
	for i, r := range chain {
		pos[r.ID] = i
	}
	i, ok1 := pos[id]
	j, ok2 := pos[other]
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%w: series %d and %d are not revisions of one series", store.ErrInvalid, id, other)
	}
	older, newer := chain[min(i, j)], chain[max(i, j)]
	d := &store.SeriesDiff{Old: older, New: newer}
	if s.rangeDiffer != nil {
		out, ok, err := s.rangeDiffer.RangeDiff(ctx, &older, &newer)
		if err != nil {
			return nil, err
		}
		if ok {
			d.Method, d.RangeDiff = "range-diff", out
			return d, nil
		}
	}
	d.Method = "diff-of-diffs"
	oldPatches, oldTexts, err := s.patchTexts(ctx, &older)
	if err != nil {
		return nil, err
	}
	newPatches, newTexts, err := s.patchTexts(ctx, &newer)
	if err != nil {
		return nil, err
	}
	pairs := pairPatches(oldPatches, newPatches)
	changed := map[int][2]string{}
	for k, p := range pairs {
		pd := store.PatchDiff{PairedBy: p.by}
		switch {
		case p.old < 0:
			pd.Status, pd.New = store.PatchAdded, &newPatches[p.new]
		case p.new < 0:
			pd.Status, pd.Old = store.PatchDropped, &oldPatches[p.old]
		default:
			pd.Old, pd.New = &oldPatches[p.old], &newPatches[p.new]
			a, b := oldTexts[p.old], newTexts[p.new]
			switch {
			case a == b:
				pd.Status = store.PatchUnchanged
			case len(a) > maxInterdiffText || len(b) > maxInterdiffText:
				pd.Status, pd.Note = store.PatchChanged, "too large to compare"
			default:
				pd.Status = store.PatchChanged
				changed[k] = [2]string{a, b}
			}
		}
		d.Patches = append(d.Patches, pd)
	}
	diffs, err := gitDiffPairs(ctx, changed)
	if errors.Is(err, exec.ErrNotFound) {
		for k := range changed {
			d.Patches[k].Note = "git is not installed on the server"
		}
		return d, nil
	}
	if err != nil {
		return nil, err
	}
	for k := range changed {
		d.Patches[k].Diff = diffs[k]
		if diffs[k] == "" {
			// Texts that differ in nothing git shows.
			d.Patches[k].Status = store.PatchUnchanged
		}
	}
	return d, nil
}

// maxInterdiffText bounds the patch texts SeriesDiff diffs.
const maxInterdiffText = 4 << 20

// patchTexts returns a series' patches (as stored, without trailers
// collected from replies) and, by position, each patch's text as it was
// sent: subject, commit message, "---", diff.
func (s *Service) patchTexts(ctx context.Context, se *store.Series) ([]store.Patch, []string, error) {
	patches, err := s.st.Patches(ctx, se.ID)
	if err != nil {
		return nil, nil, err
	}
	texts := make([]string, len(patches))
	for i, p := range patches {
		raw, err := s.st.Raw(ctx, se.List, p.MessageID)
		if err != nil {
			return nil, nil, err
		}
		m, err := patchmail.Parse(raw)
		if err != nil {
			texts[i] = string(raw)
			continue
		}
		texts[i] = patchText(m)
	}
	return patches, texts, nil
}

// patchText is what the diff of diffs compares of a patch: what a
// reviewer reads, in the order git range-diff shows it, without the
// diff's index lines.
func patchText(m *patchmail.Mail) string {
	var b strings.Builder
	b.WriteString("Subject: " + m.CommitSubject + "\n\n")
	if msg := strings.TrimSpace(m.CommitMessage); msg != "" {
		b.WriteString(msg + "\n")
	}
	b.WriteString("---\n")
	for _, l := range strings.SplitAfter(m.Diff, "\n") {
		// Blob names change with anything before the patch; git
		// range-diff leaves them out too.
		if !indexLine.MatchString(l) {
			b.WriteString(l)
		}
	}
	if !strings.HasSuffix(m.Diff, "\n") {
		b.WriteString("\n")
	}
	return b.String()
}

// indexLine is a diff's "index <blob>..<blob> [mode]" header line (a line
// inside a hunk starts with a space, + or -).
var indexLine = regexp.MustCompile(`^index [0-9a-f]+\.\.[0-9a-f]+( [0-7]+)?\n?$`)

// pair is one entry of pairPatches: indexes into the older and newer
// revision's patches, -1 for none.
type pair struct {
	old, new int
	by       string
}

// pairPatches pairs the patches of two revisions: first by equal patch-id,
// then by equal commit subject, then by equal index when the two touch a
// file in common (a reworded patch, not one dropped and another added at
// its place); what is left was added or dropped. The result follows the newer revision's order, each
// dropped patch after the pair that precedes it in the older revision.
func pairPatches(older, newer []store.Patch) []pair {
	oldTaken := make([]bool, len(older))
	newPair := make([]pair, len(newer))
	for j := range newPair {
		newPair[j] = pair{old: -1, new: j}
	}
	match := func(by string, same func(o, n *store.Patch) bool) {
		for j := range newer {
			if newPair[j].old >= 0 {
				continue
			}
			for i := range older {
				if !oldTaken[i] && same(&older[i], &newer[j]) {
					oldTaken[i], newPair[j].old, newPair[j].by = true, i, by
					break
				}
			}
		}
	}
	match("patch-id", func(o, n *store.Patch) bool { return o.PatchID != "" && o.PatchID == n.PatchID })
	match("subject", func(o, n *store.Patch) bool {
		return normSubject(o.CommitSubject) != "" && normSubject(o.CommitSubject) == normSubject(n.CommitSubject)
	})
	match("index", func(o, n *store.Patch) bool { return o.Index == n.Index && shareFile(o, n) })
	out := newPair
	for i := range older {
		if oldTaken[i] {
			continue
		}
		at := 0
		for k, p := range out {
			if p.old >= 0 && older[p.old].Index < older[i].Index {
				at = k + 1
			}
		}
		out = slices.Insert(out, at, pair{old: i, new: -1})
	}
	return out
}

// shareFile tells whether two patches touch a file in common.
func shareFile(a, b *store.Patch) bool {
	for _, f := range a.Files {
		for _, g := range b.Files {
			if f.Path == g.Path || (g.OldPath != "" && f.Path == g.OldPath) || (f.OldPath != "" && f.OldPath == g.Path) {
				return true
			}
		}
	}
	return false
}

func normSubject(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// gitDiffPairs returns, for each pair of texts, the unified diff from the
// first to the second (hunks only, 3 lines of context) as git computes it,
// "" when git finds no difference. One `git diff --no-index` compares two
// directories in a scratch directory, old/K and new/K for each pair K, so
// a series costs one git run; git runs without user or system
// configuration.
func gitDiffPairs(ctx context.Context, pairs map[int][2]string) (map[int]string, error) {
	if len(pairs) == 0 {
		return nil, nil
	}
	scratch, err := os.MkdirTemp("", "patchwell-interdiff-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(scratch)
	for _, dir := range []string{"old", "new"} {
		if err := os.Mkdir(filepath.Join(scratch, dir), 0o700); err != nil {
			return nil, err
		}
	}
	for k, p := range pairs {
		name := strconv.Itoa(k)
		if err := os.WriteFile(filepath.Join(scratch, "old", name), []byte(p[0]), 0o600); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(scratch, "new", name), []byte(p[1]), 0o600); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "git", "diff", "--no-index", "--no-color", "--no-ext-diff", "--no-textconv",
		"--no-renames", "--text", "--histogram", "-U3", "--", "old", "new")
	cmd.Dir = scratch
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL="+os.DevNull, "HOME="+scratch, "LC_ALL=C")
	out, err := cmd.Output()
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 1 {
		err = nil // differences found
	}
	if err != nil {
		var stderr string
		if exit != nil {
			stderr = strings.TrimSpace(string(exit.Stderr))
		}
		return nil, fmt.Errorf("git diff --no-index: %w %s", err, stderr)
	}
	// Each pair's part starts with "diff --git a/old/K b/new/K" at the
	// start of a line, where no line of a hunk (" ", "+", "-", "\\")
	// can start; its hunks start at its first "@@ ".
	diffs := map[int]string{}
	for _, part := range strings.Split("\n"+string(out), "\ndiff --git ")[1:] {
		head, _, _ := strings.Cut(part, "\n")
		i := strings.LastIndex(head, " b/new/")
		if i < 0 {
			return nil, fmt.Errorf("git diff --no-index: unexpected header %q", head)
		}
		k, err := strconv.Atoi(head[i+len(" b/new/"):])
		if _, ok := pairs[k]; err != nil || !ok {
			return nil, fmt.Errorf("git diff --no-index: unexpected header %q", head)
		}
		if j := strings.Index(part, "\n@@ "); j >= 0 {
			diffs[k] = strings.TrimSuffix(part[j+1:], "\n") + "\n"
		}
	}
	return diffs, nil
}
