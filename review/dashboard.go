package review

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"

	"patchwell/store"
)

// Dashboard returns a page of series as f selects (store.DashboardSeries)
// with the counts the list page and "my reviews" show: checks by state,
// the people who gave Acked-by, Reviewed-by and Tested-by (collected
// from replies as Series collects them, carried ones included), open
// line comments of people, and last activity. The counts are made for
// the whole page at once: a few queries, not a few per series.
// store.ErrNotFound for an unknown list.
func (s *Service) Dashboard(ctx context.Context, list string, f store.SeriesFilter) ([]store.SeriesRow, error) {
	if list != "" {
		if _, err := s.st.ListInfo(ctx, list); err != nil {
			return nil, err
		}
	}
	rows, err := s.st.DashboardSeries(ctx, list, f)
	if err != nil || len(rows) == 0 {
		return rows, err
	}
	ids := make([]int64, len(rows))
	ses := make([]store.Series, len(rows))
	for i := range rows {
		ids[i], ses[i] = rows[i].ID, rows[i].Series
	}
	checks, err := s.st.CheckCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	patches, err := s.pageTrailers(ctx, ses)
	if err != nil {
		return nil, err
	}
	open, err := s.openComments(ctx, ids)
	if err != nil {
		return nil, err
	}
	verdicts, err := s.VerdictsOf(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := rows[:0]
	for _, r := range rows {
		r.Stats.Checks = checks[r.ID]
		r.Stats.Acked, r.Stats.Reviewed, r.Stats.Tested = countReviews(patches[r.ID])
		r.Stats.OpenComments = open[r.ID]
		for _, v := range verdicts[r.ID] {
			if v.Kind == store.VerdictChangesRequested {
				r.Stats.ChangesRequested++
			}
		}
		if f.ChangesRequested && r.Stats.ChangesRequested == 0 {
			continue // asked for changes, then approved
		}
		// The store tells reviewed series by their thread's replies; a
		// trailer carried from an earlier revision it does not see.
		if f.NeedsReview && r.Stats.Acked+r.Stats.Reviewed > 0 {
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

// countReviews counts the people (trailer values, case aside) who gave
// the patches Acked-by, Reviewed-by and Tested-by.
func countReviews(patches []store.Patch) (acked, reviewed, tested int) {
	seen := map[[2]string]bool{}
	for _, p := range patches {
		for _, t := range p.Trailers {
			k := [2]string{strings.ToLower(t.Key), strings.ToLower(strings.TrimSpace(t.Value))}
			if seen[k] {
				continue
			}
			seen[k] = true
			switch k[0] {
			case "acked-by":
				acked++
			case "reviewed-by":
				reviewed++
			case "tested-by":
				tested++
			}
		}
	}
	return acked, reviewed, tested
}

// pageTrailers returns the patches of ses with their trailers as Series
// gives them (their own, those of replies, those carried from earlier
// revisions), by series id: for each level of revisions, one query for
// the series, one for their patches and one for their threads' messages.
func (s *Service) pageTrailers(ctx context.Context, ses []store.Series) (map[int64][]store.Patch, error) {
	threads := map[int64][]store.Message{} // loaded threads' messages
	load := func(ses []store.Series) (map[int64][]store.Patch, error) {
		ids := make([]int64, 0, len(ses))
		var tids []int64
		for _, se := range ses {
			ids = append(ids, se.ID)
			if _, ok := threads[se.ThreadID]; !ok && !slices.Contains(tids, se.ThreadID) {
				tids = append(tids, se.ThreadID)
			}
		}
		ps, err := s.st.PatchesOf(ctx, ids)
		if err != nil {
			return nil, err
		}
		msgs, err := s.st.MessagesOfThreads(ctx, tids)
		if err != nil {
			return nil, err
		}
		for _, tid := range tids {
			threads[tid] = nil
		}
		for _, m := range msgs {
			threads[m.ThreadID] = append(threads[m.ThreadID], m)
		}
		for i := range ses {
			CollectTrailers(&ses[i], ps[ses[i].ID], threads[ses[i].ThreadID])
		}
		return ps, nil
	}
	out, err := load(ses)
	if err != nil {
		return nil, err
	}
	// Carry, as carryTrailers does for one series: follow each series'
	// chain of previous revisions, a level at a time for the page.
	type chain struct {
		id   int64            // the page's series
		want map[string][]int // patch-id -> indexes into out[id]
		prev int64
	}
	var chains []*chain
	for _, se := range ses {
		c := &chain{id: se.ID, want: map[string][]int{}, prev: se.Previous}
		for i, p := range out[se.ID] {
			if p.PatchID != "" {
				c.want[p.PatchID] = append(c.want[p.PatchID], i)
			}
		}
		if c.prev != 0 && len(c.want) > 0 {
			chains = append(chains, c)
		}
	}
	for depth := 0; depth < maxCarry && len(chains) > 0; depth++ {
		var ids []int64
		for _, c := range chains {
			if !slices.Contains(ids, c.prev) {
				ids = append(ids, c.prev)
			}
		}
		prevs, err := s.st.SeriesByIDs(ctx, ids)
		if err != nil {
			return nil, err
		}
		pps, err := load(prevs)
		if err != nil {
			return nil, err
		}
		byID := map[int64]*store.Series{}
		for i := range prevs {
			byID[prevs[i].ID] = &prevs[i]
		}
		next := chains[:0]
		for _, c := range chains {
			prev := byID[c.prev]
			if prev == nil {
				continue
			}
			carryInto(out[c.id], c.want, prev, pps[prev.ID])
			if c.prev = prev.Previous; c.prev != 0 {
				next = append(next, c)
			}
		}
		chains = next
	}
	return out, nil
}

// openComments counts the unresolved review comments of people on each
// series (SeriesComments, less those of programs: what the series page
// counts as unresolved), keeping the counts
// until the store changes: they come from parsing the replies and the
// patches they quote.
func (s *Service) openComments(ctx context.Context, ids []int64) (map[int64]int, error) {
	gen, err := s.st.Generation(ctx)
	if err != nil {
		return nil, err
	}
	dc := s.dc
	out := make(map[int64]int, len(ids))
	var miss []int64
	dc.mu.Lock()
	dc.turn(gen)
	for _, id := range ids {
		if n, ok := dc.open[id]; ok {
			out[id] = n
		} else {
			miss = append(miss, id)
		}
	}
	dc.mu.Unlock()
	cache := s.newThreadCache()
	got := make(map[int64]int, len(miss))
	for _, id := range miss {
		cs, _, err := s.seriesComments(ctx, id, 0, cache)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		n := 0
		for _, c := range cs {
			if !c.Bot && !c.Resolved {
				n++
			}
		}
		got[id], out[id] = n, n
	}
	dc.mu.Lock()
	if dc.gen == gen {
		for id, n := range got {
			dc.open[id] = n
		}
		if len(dc.open) > maxDashCache {
			dc.open = map[int64]int{}
		}
	}
	dc.mu.Unlock()
	return out, nil
}

// maxDashCache bounds how many series' open comment counts are kept.
const maxDashCache = 100000

// dashCache keeps, for one store generation, the open comment counts of
// series (the dashboard) and their comments (SeriesComments: the series
// page asks for them, and again for its issues).
type dashCache struct {
	mu       sync.Mutex
	gen      uint64
	open     map[int64]int
	comments map[int64][]store.LineComment
}

// maxCommentsCache bounds how many series' comments are kept.
const maxCommentsCache = 2000

// turn empties the cache when the generation is not its own; the caller
// holds mu.
func (dc *dashCache) turn(gen uint64) {
	if dc.gen != gen || dc.open == nil {
		dc.gen, dc.open, dc.comments = gen, map[int64]int{}, map[int64][]store.LineComment{}
	}
}

// carryInto adds to patches (wanted by patch-id in want) the trailers
// replies gave the same change in prev (its patches pps, with their
// collected trailers), marked with prev's version: the author's own
// trailers and those carried there themselves stay behind.
func carryInto(patches []store.Patch, want map[string][]int, prev *store.Series, pps []store.Patch) {
	for _, pp := range pps {
		for _, i := range want[pp.PatchID] {
			for _, t := range pp.Trailers {
				if t.FromMessageID == pp.MessageID || t.CarriedFrom != 0 {
					continue
				}
				if hasTrailer(patches[i].Trailers, t) {
					continue
				}
				t.CarriedFrom = max(prev.Version, 1)
				patches[i].Trailers = append(patches[i].Trailers, t)
			}
		}
	}
}
