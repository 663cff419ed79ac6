package review

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"patchwell/core"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Verdicts are what reviewers decided about a series, as GitHub's review
// states and Review Board's "Ship It": each person's standing
// Reviewed-by, Acked-by and Tested-by, or their request for changes
// (patchmail.ChangesRequestedKey). They are read from the replies'
// trailers, which the store keeps with each message: no mail is parsed
// again, and one query (ThreadMessages) serves many series at once.
//
// A reply counts for the revision whose cover letter or patch it
// answers (the first message up its In-Reply-To chain that belongs to a
// series). Replies to earlier revisions count too, marked with the
// version they were given on; for each person the newest verdict wins: a
// request for changes takes back their approvals, an approval takes back
// their request, and a trailer given again replaces the older one.

// verdictKinds are the trailers that approve.
var verdictKinds = []string{store.VerdictReviewed, store.VerdictAcked, store.VerdictTested}

// Verdicts returns the standing verdicts on series id, the oldest first;
// store.ErrNotFound for an unknown series.
func (s *Service) Verdicts(ctx context.Context, id int64) ([]store.Verdict, error) {
	m, err := s.VerdictsOf(ctx, []int64{id})
	if err != nil {
		return nil, err
	}
	return m[id], nil
}

// VerdictsOf is Verdicts for many series (a list page), by series id,
// with one read of their threads; store.ErrNotFound when one of ids is
// unknown.
func (s *Service) VerdictsOf(ctx context.Context, ids []int64) (map[int64][]store.Verdict, error) {
	// The series and their earlier revisions, a level at a time.
	series := map[int64]*store.Series{}
	fetch := func(want []int64) error {
		var missing []int64
		for _, id := range want {
			if _, ok := series[id]; !ok && !slices.Contains(missing, id) {
				missing = append(missing, id)
			}
		}
		if len(missing) == 0 {
			return nil
		}
		ss, err := s.st.SeriesByIDs(ctx, missing)
		for i := range ss {
			series[ss[i].ID] = &ss[i]
		}
		return err
	}
	if err := fetch(ids); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if series[id] == nil {
			return nil, fmt.Errorf("series %d: %w", id, store.ErrNotFound)
		}
	}
	for level, depth := ids, 0; len(level) > 0 && depth < maxCarry; depth++ {
		var prevs []int64
		for _, id := range level {
			if se := series[id]; se != nil && se.Previous != 0 {
				prevs = append(prevs, se.Previous)
			}
		}
		if err := fetch(prevs); err != nil {
			return nil, err
		}
		level = prevs
	}
	chains := make(map[int64][]*store.Series, len(ids))
	var threads []int64
	for _, id := range ids {
		se := series[id]
		chain := []*store.Series{se}
		for prev := se.Previous; prev != 0 && len(chain) <= maxCarry; {
			p := series[prev]
			if p == nil {
				break
			}
			chain = append(chain, p)
			prev = p.Previous
		}
		chains[id] = chain
		for _, c := range chain {
			if !slices.Contains(threads, c.ThreadID) {
				threads = append(threads, c.ThreadID)
			}
		}
	}
	msgs, err := s.st.ThreadMessages(ctx, threads)
	if err != nil {
		return nil, err
	}
	// In the order they were stored (arrival times tie within a second).
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].ID < msgs[j].ID })
	byThread := map[int64][]int{} // indexes into msgs
	for i := range msgs {
		byThread[msgs[i].ThreadID] = append(byThread[msgs[i].ThreadID], i)
	}
	type msgKey struct{ list, id string }
	byID := make(map[msgKey]*store.Message, len(msgs))
	for i := range msgs {
		k := msgKey{msgs[i].List, msgs[i].MessageID}
		if _, ok := byID[k]; !ok {
			byID[k] = &msgs[i]
		}
	}
	// anchor is the message of a series m answers: its nearest ancestor
	// that belongs to one.
	anchor := func(m *store.Message) *store.Message {
		parent := m.InReplyTo
		for hops := 0; parent != "" && hops < 100; hops++ {
			pm := byID[msgKey{m.List, parent}]
			if pm == nil {
				return nil
			}
			if pm.SeriesID != 0 {
				return pm
			}
			parent = pm.InReplyTo
		}
		return nil
	}
	out := make(map[int64][]store.Verdict, len(ids))
	for _, id := range ids {
		chain := chains[id]
		in := make(map[int64]*store.Series, len(chain))
		for _, c := range chain {
			in[c.ID] = c
		}
		vs := &verdictSet{series: chain[0], on: in, by: map[string]*personVerdicts{}}
		var mine []int
		for _, c := range chain {
			if !slices.ContainsFunc(chain[:slices.Index(chain, c)], func(o *store.Series) bool { return o.ThreadID == c.ThreadID }) {
				mine = append(mine, byThread[c.ThreadID]...)
			}
		}
		slices.Sort(mine)
		for _, i := range mine {
			m := &msgs[i]
			if m.Kind != core.KindReply || m.List != chain[0].List || len(m.Trailers) == 0 {
				continue
			}
			a := anchor(m)
			if a == nil || in[a.SeriesID] == nil {
				continue
			}
			patch := 0
			if a.Kind == core.KindPatch {
				patch = max(patchmail.ParseSubject(a.Subject).Index, 1)
			}
			vs.add(m, in[a.SeriesID], patch)
		}
		out[id] = vs.list()
	}
	return out, nil
}

// verdictSet folds the verdicts of one series' replies, in arrival
// order.
type verdictSet struct {
	series *store.Series
	on     map[int64]*store.Series    // the revisions replies may answer
	by     map[string]*personVerdicts // by lower-case address
	order  []string
}

type personVerdicts struct {
	changes   *store.Verdict
	approvals map[string]*store.Verdict // by kind
}

func (vs *verdictSet) add(m *store.Message, on *store.Series, patch int) {
	var kinds []string
	changes := false
	for _, t := range m.Trailers {
		switch {
		case t.Key == patchmail.ChangesRequestedKey:
			changes = true
		case slices.Contains(verdictKinds, t.Key) && !slices.Contains(kinds, t.Key):
			kinds = append(kinds, t.Key)
		}
	}
	if !changes && len(kinds) == 0 {
		return
	}
	who := strings.ToLower(m.From.Email)
	p := vs.by[who]
	if p == nil {
		p = &personVerdicts{approvals: map[string]*store.Verdict{}}
		vs.by[who] = p
		vs.order = append(vs.order, who)
	}
	v := func(kind string) *store.Verdict {
		nv := &store.Verdict{SeriesID: vs.series.ID, Reviewer: m.From, Kind: kind, OnSeries: on.ID,
			Version: max(on.Version, 1), Patches: []int{}, MessageID: m.MessageID, Date: m.Date}
		if patch > 0 {
			nv.Patches = []int{patch}
		}
		return nv
	}
	if changes {
		// Asking for changes takes back one's approvals (and a request
		// in the same mail as a trailer wins over it).
		p.changes, p.approvals = v(patchmail.ChangesRequestedKey), map[string]*store.Verdict{}
		return
	}
	p.changes = nil
	for _, k := range kinds {
		old := p.approvals[k]
		switch {
		case old == nil || old.OnSeries != on.ID || patch == 0:
			p.approvals[k] = v(k)
		case len(old.Patches) > 0:
			// More patches of the same revision.
			if !slices.Contains(old.Patches, patch) {
				old.Patches = append(old.Patches, patch)
				slices.Sort(old.Patches)
			}
			old.MessageID, old.Date = m.MessageID, m.Date
		}
	}
}

// list returns the verdicts, by person in the order they first gave one,
// approvals in verdictKinds order; a trailer given to every patch of a
// revision one by one counts as given to the whole series.
func (vs *verdictSet) list() []store.Verdict {
	out := []store.Verdict{}
	for _, who := range vs.order {
		p := vs.by[who]
		if p.changes != nil {
			out = append(out, *p.changes)
		}
		for _, k := range verdictKinds {
			if v := p.approvals[k]; v != nil {
				out = append(out, *v)
			}
		}
	}
	for i := range out {
		v := &out[i]
		if on := vs.on[v.OnSeries]; on != nil && on.Total > 0 && len(v.Patches) >= on.Total {
			v.Patches = []int{}
		}
	}
	return out
}
