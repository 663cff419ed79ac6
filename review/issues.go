package review

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"patchwell/store"
)

// Open issues are review comments marked as something to fix (the web's
// "Open an issue" box: store.Reviews.SetIssues); resolving the comment
// closes its issue. A series shows its own issues and those raised on
// its previous revision, with whether this revision addressed them: the
// commented line changed. The patch an issue was raised on is matched
// to this revision's by patch-id (unchanged: not addressed; an unresolved
// comment is then carried, as SeriesComments carries it) or else by its
// commit subject, and the diffs compared: an added or removed line
// commented on is addressed when the new patch no longer has it in that
// file, a context line when any changed line of its hunk is gone. An
// issue whose patch is gone from the new revision counts as addressed.

// Issues returns the issues of series id: its own comments marked as
// issues (carried ones included), then those of its previous revision,
// with Addressed and Where set; store.ErrNotFound for an unknown series.
func (s *Service) Issues(ctx context.Context, id int64) ([]store.Issue, error) {
	se, err := s.st.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	cs, err := s.SeriesComments(ctx, id)
	if err != nil {
		return nil, err
	}
	out := []store.Issue{}
	have := map[store.Resolution]bool{}
	for _, c := range cs {
		if !c.Issue || c.Bot {
			continue
		}
		is := store.Issue{LineComment: c, Version: max(se.Version, 1), OnSeries: se.ID}
		if c.CarriedFrom != 0 {
			is.Version, is.OnSeries = c.CarriedFrom, 0
			is.Where = fmt.Sprintf("unchanged since v%d", c.CarriedFrom)
		}
		out = append(out, is)
		have[c.Key()] = true
	}
	if se.Previous == 0 {
		return out, nil
	}
	prev, err := s.st.Series(ctx, se.Previous)
	if errors.Is(err, store.ErrNotFound) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	pcs, err := s.SeriesComments(ctx, prev.ID)
	if err != nil {
		return nil, err
	}
	var raised []store.LineComment
	for _, c := range pcs {
		if c.Issue && !c.Bot && !have[c.Key()] {
			raised = append(raised, c)
		}
	}
	if len(raised) == 0 {
		return out, nil
	}
	oldPatches, oldDiffs, err := s.patchDiffs(ctx, prev)
	if err != nil {
		return nil, err
	}
	newPatches, newDiffs, err := s.patchDiffs(ctx, se)
	if err != nil {
		return nil, err
	}
	v := max(se.Version, 1)
	for _, c := range raised {
		is := store.Issue{LineComment: c, Version: max(prev.Version, 1), OnSeries: prev.ID}
		if c.CarriedFrom != 0 {
			is.Version = c.CarriedFrom
		}
		var old *store.Patch
		for i := range oldPatches {
			if oldPatches[i].MessageID == c.PatchMessageID {
				old = &oldPatches[i]
			}
		}
		var now *store.Patch
		for i := range newPatches {
			if old != nil && old.PatchID != "" && newPatches[i].PatchID == old.PatchID {
				now = &newPatches[i]
				break
			}
		}
		if now == nil && old != nil {
			for i := range newPatches {
				if NormalizeSubject(newPatches[i].CommitSubject) == NormalizeSubject(old.CommitSubject) {
					now = &newPatches[i]
					break
				}
			}
		}
		switch {
		case old == nil || now == nil:
			is.Addressed, is.Where = true, fmt.Sprintf("patch dropped in v%d", v)
		case now.PatchID != "" && now.PatchID == old.PatchID:
			is.Where = fmt.Sprintf("patch unchanged in v%d", v)
		case c.File != "" && c.Line > 0 && lineChanged(oldDiffs[old.MessageID], newDiffs[now.MessageID], c.File, c.Side, c.Line):
			is.Addressed, is.Where = true, fmt.Sprintf("line changed in v%d", v)
		default:
			is.Where = fmt.Sprintf("line unchanged in v%d", v)
		}
		out = append(out, is)
	}
	return out, nil
}

// patchDiffs returns a series' patches and their diffs by Message-ID.
func (s *Service) patchDiffs(ctx context.Context, se *store.Series) ([]store.Patch, map[string]string, error) {
	patches, err := s.st.Patches(ctx, se.ID)
	if err != nil {
		return nil, nil, err
	}
	diffs := make(map[string]string, len(patches))
	for _, p := range patches {
		raw, err := s.st.Raw(ctx, se.List, p.MessageID)
		if err != nil {
			return nil, nil, err
		}
		if t := s.c.mailTexts(raw); t.OK {
			diffs[p.MessageID] = t.Diff
		}
	}
	return patches, diffs, nil
}

// lineChanged reports whether the diff line at file/side/line of oldDiff
// is gone from newDiff's same file: the line itself for an added or
// removed line, any added or removed line of its hunk for a context line.
func lineChanged(oldDiff, newDiff, file, side string, line int) bool {
	oix := newDiffIndex([]Target{{Diff: oldDiff}})
	pos := oix.find(file, side, line)
	if pos < 0 {
		return false // nothing to compare: not known to be addressed
	}
	nix := newDiffIndex([]Target{{Diff: newDiff}})
	has := map[string]int{}
	for _, d := range nix.lines {
		if d.file == file && strings.IndexByte("+- ", d.kind) >= 0 {
			has[string(d.kind)+d.norm]++
		}
	}
	gone := func(d *dline) bool { return has[string(d.kind)+d.norm] == 0 }
	d := &oix.lines[pos]
	if gone(d) {
		return true
	}
	if d.kind != ' ' {
		return false
	}
	start, end := pos, pos
	for start > 0 && strings.IndexByte("+- ", oix.lines[start-1].kind) >= 0 {
		start--
	}
	for end+1 < len(oix.lines) && strings.IndexByte("+- ", oix.lines[end+1].kind) >= 0 {
		end++
	}
	for i := start; i <= end; i++ {
		if l := &oix.lines[i]; l.kind != ' ' && gone(l) {
			return true
		}
	}
	return false
}
