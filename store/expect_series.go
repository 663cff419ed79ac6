package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"patchwell/core"
)

// On PostgreSQL, Expect also asks, in a second query, about the series
// that series assembly will look for when it links a batch's patches and
// cover letters to older revisions (Revisions) and finds the series of a
// thread (FindSeries), from the clues the import gives (NewMessage.Clues)
// and the threads of the ids the batch names: the list's series with
// each submitter and subject, with each change-id, in each of those
// threads, and the series of its patches with each commit subject and
// patch-id. The transaction keeps what it learnt current with its own
// writes to series and patches (CreateSeries, UpdateSeries, AddPatch,
// thread merges: the only ones), so those lookups, and Series of a
// series it knows, cost no round trip. A lookup whose clue it was not
// told, or whose answer a LIMIT of the query would cut, still asks.

// seriesIndex is what a transaction knows of its list's series. A key
// present in one of the maps is known: it maps to every series (or, for
// patch keys, the series of every patch) of the list that has it now.
type seriesIndex struct {
	listID   int64
	rows     map[int64]*knownSeries // series whose row the transaction knows as it is now
	names    map[nameKey][]int64    // (submitter, normalised subject) -> series
	changes  map[string][]int64     // change-id -> series
	threads  map[int64][]int64      // thread -> series
	subjects map[string][]int64     // commit subject -> the series of each patch with it
	pids     map[string][]int64     // patch-id -> the series of each patch with it
	patches  map[int64][]patchKey   // series the transaction created -> all their patches
	// submitter -> every series of the list with a date in the window
	// (and maybe others): FindSeries without a thread.
	dated map[string]*window

	answered int // lookups answered without a round trip (for tests)
}

// window is a date range (Unix seconds) and series.
type window struct {
	lo, hi int64
	ids    []int64
}

// knownSeries is a series' row: as Tx's reads return it, its list, and
// its normalised subject when known.
type knownSeries struct {
	s     Series
	list  int64
	norm  string
	named bool // norm is known
}

type nameKey struct{ submitter, norm string }

type patchKey struct {
	idx int
	pid string
}

// Revisions' LIMITs: more rows than these and the query's answer depends
// on which it returns, so the transaction asks.
const (
	revisionsLimit = 200 // series by name, change-id, commit subject
	patchIDLimit   = 50  // patches per patch-id
	findLimit      = 200 // FindSeries
)

// askable reports whether a key can be sent in Expect's JSON arrays and
// compared as sent (valid UTF-8 without NUL, as the database's text).
func askable(s string) bool {
	return s != "" && utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// expectSeries is Expect's second query (see above); threads are those
// of the ids the batch names.
func (t *writeTx) expectSeries(ctx context.Context, e *expected, ms []*NewMessage, threads []int64) error {
	x := &seriesIndex{listID: e.list, rows: map[int64]*knownSeries{}, names: map[nameKey][]int64{}, changes: map[string][]int64{},
		threads: map[int64][]int64{}, subjects: map[string][]int64{}, pids: map[string][]int64{}, patches: map[int64][]patchKey{},
		dated: map[string]*window{}}
	var names [][2]string
	var changes, subjects, pids []string
	for _, m := range ms {
		c := m.Clues
		if m.ListID != e.list || c == nil {
			continue
		}
		if k := (nameKey{strings.ToLower(m.From.Email), c.Subject}); askable(k.submitter) && utf8.ValidString(k.norm) &&
			strings.IndexByte(k.norm, 0) < 0 {
			if _, ok := x.names[k]; !ok {
				x.names[k] = []int64{}
				names = append(names, [2]string{k.submitter, k.norm})
			}
		}
		add := func(m map[string][]int64, list *[]string, k string) {
			if _, ok := m[k]; !ok && askable(k) {
				m[k] = []int64{}
				*list = append(*list, k)
			}
		}
		add(x.changes, &changes, c.ChangeID)
		add(x.subjects, &subjects, c.CommitSubject)
		add(x.pids, &pids, c.PatchID)
		if d := unixOrZero(m.Date); len(m.References) == 0 && d != 0 && askable(strings.ToLower(m.From.Email)) {
			k := strings.ToLower(m.From.Email)
			if w := x.dated[k]; w == nil {
				x.dated[k] = &window{lo: d - datedMargin, hi: d + datedMargin, ids: []int64{}}
			} else {
				w.lo, w.hi = min(w.lo, d-datedMargin), max(w.hi, d+datedMargin)
			}
		}
	}
	var dated [][3]any
	for k, w := range x.dated {
		dated = append(dated, [3]any{k, w.lo, w.hi})
	}
	for _, tid := range threads {
		x.threads[tid] = []int64{}
	}
	arg := func(v any) string {
		b, _ := json.Marshal(v)
		if string(b) == "null" {
			return "[]"
		}
		return string(b)
	}
	// Columns: the part, the patch key (parts 2 and 3), then the
	// series' norm_subject and row.
	rows, err := t.query(ctx, `WITH names AS (SELECT p->>0 AS email, p->>1 AS norm FROM json_array_elements(CAST(?2 AS json)) AS p),
		changes AS (SELECT json_array_elements_text(CAST(?3 AS json)) AS k),
		subjects AS (SELECT json_array_elements_text(CAST(?4 AS json)) AS k),
		pids AS (SELECT json_array_elements_text(CAST(?5 AS json)) AS k),
		threads AS (SELECT CAST(json_array_elements_text(CAST(?6 AS json)) AS bigint) AS t),
		dated AS (SELECT p->>0 AS email, CAST(p->>1 AS bigint) AS lo, CAST(p->>2 AS bigint) AS hi FROM json_array_elements(CAST(?7 AS json)) AS p)
		SELECT 0, '', s.norm_subject, `+txSeriesCols+` FROM series s JOIN names n ON s.submitter_email = n.email AND s.norm_subject = n.norm
			WHERE s.list_id = ?1
		UNION ALL
		SELECT 1, '', s.norm_subject, `+txSeriesCols+` FROM series s WHERE s.list_id = ?1 AND s.change_id != '' AND s.change_id IN (SELECT k FROM changes)
		UNION ALL
		SELECT 2, p.commit_subject, s.norm_subject, `+txSeriesCols+` FROM patches p JOIN series s ON s.id = p.series_id
			WHERE s.list_id = ?1 AND p.commit_subject IN (SELECT k FROM subjects)
		UNION ALL
		SELECT 3, p.patch_id, s.norm_subject, `+txSeriesCols+` FROM patches p JOIN series s ON s.id = p.series_id
			WHERE s.list_id = ?1 AND p.patch_id != '' AND p.patch_id IN (SELECT k FROM pids)
		UNION ALL
		SELECT 4, '', s.norm_subject, `+txSeriesCols+` FROM series s WHERE s.list_id = ?1 AND s.thread_id IN (SELECT t FROM threads)
		UNION ALL
		SELECT 5, '', s.norm_subject, `+txSeriesCols+` FROM series s JOIN dated d ON s.submitter_email = d.email
			WHERE s.list_id = ?1 AND s.date >= d.lo AND s.date <= d.hi`,
		e.list, arg(names), arg(changes), arg(subjects), arg(pids), arg(threads), arg(dated))
	if err != nil {
		return fmt.Errorf("look up series: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var part int
		var key, norm string
		s, err := scanSeries(scanWith{rows, []any{&part, &key, &norm}})
		if err != nil {
			return fmt.Errorf("look up series: %w", err)
		}
		x.rows[s.ID] = &knownSeries{s: *s, list: e.list, norm: norm, named: true}
		x.addDated(s)
		switch part {
		case 0:
			addOnce(x.names, nameKey{s.Submitter.Email, norm}, s.ID)
		case 1:
			addOnce(x.changes, s.ChangeID, s.ID)
		case 2:
			if l, ok := x.subjects[key]; ok {
				x.subjects[key] = append(l, s.ID)
			}
		case 3:
			if l, ok := x.pids[key]; ok {
				x.pids[key] = append(l, s.ID)
			}
		case 4:
			addOnce(x.threads, s.ThreadID, s.ID)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up series: %w", err)
	}
	e.index = x
	return nil
}

// datedMargin widens the window asked about around the date of each
// patch or cover letter without references.
const datedMargin = 3600

// addDated adds s, a series of x's list, to its submitter's window
// when there is one.
func (x *seriesIndex) addDated(s *Series) {
	if w := x.dated[s.Submitter.Email]; w != nil && !slices.Contains(w.ids, s.ID) {
		w.ids = append(w.ids, s.ID)
	}
}

// addOnce adds id to the known key k of m (a key not known stays so).
func addOnce[K comparable](m map[K][]int64, k K, id int64) {
	if l, ok := m[k]; ok && !slices.Contains(l, id) {
		m[k] = append(l, id)
	}
}

// remove takes id out of key k of m.
func remove[K comparable](m map[K][]int64, k K, id int64) {
	if l, ok := m[k]; ok {
		m[k] = slices.DeleteFunc(l, func(x int64) bool { return x == id })
	}
}

// index is what the transaction knows of its list's series, nil when
// nothing.
func (e *expected) seriesIndex() *seriesIndex {
	if e == nil {
		return nil
	}
	return e.index
}

// row is series id as the transaction knows it now.
func (x *seriesIndex) row(id int64) (*knownSeries, bool) {
	if x == nil {
		return nil, false
	}
	r, ok := x.rows[id]
	if ok {
		x.answered++
	}
	return r, ok
}

// seriesRow is s as a read of its row returns it (txSeriesCols).
func seriesRow(s *Series) Series {
	r := Series{ID: s.ID, Subject: s.Subject, Version: s.Version, Status: s.Status,
		Submitter: core.Person{Name: s.Submitter.Name, Email: strings.ToLower(s.Submitter.Email)}, Total: s.Total,
		Received: s.Received, MessageID: s.MessageID, CoverMessageID: s.CoverMessageID, Date: timeOrZero(unixOrZero(s.Date)),
		Previous: s.Previous, SupersededBy: s.SupersededBy, RFC: s.RFC, Resend: s.Resend, Prefix: s.Prefix,
		ChangeID: s.ChangeID, BaseCommit: s.BaseCommit, ThreadID: s.ThreadID, PullURL: s.PullURL, PullRef: s.PullRef}
	r.Complete = r.Received >= r.Total
	return r
}

// saw notes series rows of list the transaction read from the database
// (as they are now); norm is known only for one.
func (x *seriesIndex) saw(list int64, rows []Series) {
	if x == nil {
		return
	}
	for _, s := range rows {
		if _, ok := x.rows[s.ID]; !ok {
			x.rows[s.ID] = &knownSeries{s: s, list: list}
			if list == x.listID {
				x.addDated(&s)
			}
		}
	}
}

// sawNamed notes a series row of list with its normalised subject.
func (x *seriesIndex) sawNamed(list int64, norm string, s Series) {
	if x == nil {
		return
	}
	if _, ok := x.rows[s.ID]; !ok {
		x.rows[s.ID] = &knownSeries{s: s, list: list, norm: norm, named: true}
		if list == x.listID {
			x.addDated(&s)
		}
	}
}

// createdSeries notes a series the transaction created (CreateSeries).
func (x *seriesIndex) createdSeries(list int64, s *Series, norm string) {
	if x == nil {
		return
	}
	r := &knownSeries{s: seriesRow(s), list: list, norm: norm, named: true}
	x.rows[s.ID] = r
	x.patches[s.ID] = []patchKey{}
	if list != x.listID {
		return
	}
	addOnce(x.names, nameKey{r.s.Submitter.Email, norm}, s.ID)
	if r.s.ChangeID != "" {
		addOnce(x.changes, r.s.ChangeID, s.ID)
	}
	addOnce(x.threads, r.s.ThreadID, s.ID)
	x.addDated(&r.s)
}

// updatedSeries notes UpdateSeries(s, norm). It reports false when the
// transaction did not know the series' row: it then knows no key for
// sure (the series may have joined any), and forgets them all.
func (x *seriesIndex) updatedSeries(s *Series, norm string) bool {
	if x == nil {
		return true
	}
	r, ok := x.rows[s.ID]
	if !ok {
		return false
	}
	n := seriesRow(s)
	if r.list == x.listID {
		if r.named && r.norm != norm {
			remove(x.names, nameKey{r.s.Submitter.Email, r.norm}, s.ID)
		}
		addOnce(x.names, nameKey{r.s.Submitter.Email, norm}, s.ID)
		if r.s.ChangeID != n.ChangeID {
			remove(x.changes, r.s.ChangeID, s.ID)
			if n.ChangeID != "" {
				addOnce(x.changes, n.ChangeID, s.ID)
			}
		}
	}
	// What UpdateSeries writes; the rest stays.
	n.ID, n.Version, n.Submitter, n.ThreadID = r.s.ID, r.s.Version, r.s.Submitter, r.s.ThreadID
	r.s, r.norm, r.named = n, norm, true
	return true
}

// addedPatch notes AddPatch(p).
func (x *seriesIndex) addedPatch(p *Patch) {
	if x == nil {
		return
	}
	r, ok := x.rows[p.SeriesID]
	if !ok || r.list != x.listID {
		// A series it does not know: which submitter and list this
		// patch counts for is not known.
		delete(x.subjects, p.CommitSubject)
		if p.PatchID != "" {
			delete(x.pids, p.PatchID)
		}
		delete(x.patches, p.SeriesID)
		return
	}
	if l, ok := x.subjects[p.CommitSubject]; ok {
		x.subjects[p.CommitSubject] = append(l, p.SeriesID)
	}
	if l, ok := x.pids[p.PatchID]; ok && p.PatchID != "" {
		x.pids[p.PatchID] = append(l, p.SeriesID)
	}
	if l, ok := x.patches[p.SeriesID]; ok {
		x.patches[p.SeriesID] = append(l, patchKey{p.Index, p.PatchID})
	}
}

// newThread notes a thread the transaction created: no series has it.
func (x *seriesIndex) newThread(list, tid int64) {
	if x != nil && list == x.listID {
		x.threads[tid] = []int64{}
	}
}

// mergedThreads notes that thread from was merged into thread into.
func (x *seriesIndex) mergedThreads(into, from int64) {
	if x == nil {
		return
	}
	for _, r := range x.rows {
		if r.s.ThreadID == from {
			r.s.ThreadID = into
		}
	}
	a, aok := x.threads[into]
	b, bok := x.threads[from]
	delete(x.threads, from)
	if aok && bok {
		x.threads[into] = append(a, b...)
	} else {
		delete(x.threads, into)
	}
}

// revisions is Revisions(list, s, norm, commitSubject) from what the
// transaction knows, when it knows all of it.
func (x *seriesIndex) revisions(list int64, s *Series, norm, commitSubject string) (*Revisions, bool) {
	if x == nil || list != x.listID {
		return nil, false
	}
	var byName, bySubject []Series
	take := func(ids []int64, keep func(r *knownSeries) bool, into *[]Series, limit int) bool {
		n := 0
		for _, id := range ids {
			r, ok := x.rows[id]
			if !ok {
				return false
			}
			if keep(r) {
				n++
				*into = append(*into, r.s)
			}
		}
		return n <= limit
	}
	older := func(r *knownSeries) bool { return r.s.ID < s.ID }
	ids, ok := x.names[nameKey{s.Submitter.Email, norm}]
	if !ok || !take(ids, older, &byName, revisionsLimit) {
		return nil, false
	}
	if s.ChangeID != "" {
		ids, ok := x.changes[s.ChangeID]
		if !ok || !take(ids, older, &byName, revisionsLimit) {
			return nil, false
		}
	}
	if commitSubject != "" {
		ids, ok := x.subjects[commitSubject]
		if !ok || !take(ids, func(r *knownSeries) bool { return r.s.Submitter.Email == s.Submitter.Email }, &bySubject, revisionsLimit) {
			return nil, false
		}
	}
	own, ok := x.patches[s.ID]
	if !ok {
		return nil, false
	}
	r := &Revisions{ByPatchIDs: map[int64]int{}, PatchIDs: len(own)}
	seen := map[[2]int64]bool{} // (patch of s, series), as revisionsPG counts
	for _, p := range own {
		if p.pid == "" {
			continue
		}
		ids, ok := x.pids[p.pid]
		if !ok || len(ids) > patchIDLimit {
			return nil, false
		}
		for _, id := range ids {
			if k := [2]int64{int64(p.idx), id}; !seen[k] {
				seen[k] = true
				r.ByPatchIDs[id]++
			}
		}
	}
	r.ByName, _ = newestFirst(byName, nil)
	r.ByPatchSubject, _ = newestFirst(bySubject, nil)
	x.answered++
	return r, true
}

// findSeries is FindSeries(q) from what the transaction knows, when it
// knows all of it (the series of a thread).
func (x *seriesIndex) findSeries(q SeriesQuery) ([]Series, bool) {
	if x == nil || q.ListID != x.listID {
		return nil, false
	}
	since, until := unixOrZero(q.Since), unixOrZero(q.Until)
	var ids []int64
	if q.ThreadID != 0 {
		var ok bool
		if ids, ok = x.threads[q.ThreadID]; !ok {
			return nil, false
		}
	} else {
		w := x.dated[q.Submitter]
		if w == nil || since < w.lo || until > w.hi {
			return nil, false
		}
		ids = w.ids
	}
	var out []Series
	for _, id := range ids {
		r, ok := x.rows[id]
		if !ok {
			return nil, false
		}
		s := r.s
		if s.Submitter.Email != q.Submitter || s.Version != q.Version || s.Total != q.Total {
			continue
		}
		if d := unixOrZero(s.Date); q.ThreadID == 0 && (d < since || d > until) {
			continue
		}
		out = append(out, s)
	}
	if len(out) > findLimit {
		return nil, false
	}
	out, _ = byIDDesc(out, nil)
	x.answered++
	return out, true
}
