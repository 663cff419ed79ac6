package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	"patchwell/core"
)

// On PostgreSQL, an import tells the transaction the messages it is about
// to add (Tx.Expect), and one query asks, for all of them at once, what
// AddMessage asks about each: which of their bytes the list holds, which
// of their Message-IDs it has seen, and the threads of the ids they name.
// The transaction then keeps those answers up to date with its own
// writes (a message added, threads merged: the only writes to messages'
// Message-IDs and hashes and to refs, all by the list's one writer), so
// AddMessage answers a reply without a round trip. The same query asks
// what series assembly asks of a patch or a cover letter: the series of
// the first message with each of those ids (MessageSeries), and how many
// series each sender has with each stem (SeriesByStem), which the
// transaction keeps current as it sets messages' series and creates
// series (SetMessageSeries, CreateSeries: the only writers of those
// facts). A patch or a cover letter asks (lookUp) only when the batch's
// answers do not cover it.

// expected is what the transaction knows of the messages it expects.
type expected struct {
	list  int64
	sums  map[string]int64 // the asked hashes (string of the bytes) -> the list's message with them, 0 if none
	taken map[string]bool  // the asked ids -> whether a message of the list has it as Message-ID
	refs  map[string]int64 // the asked ids -> their thread, 0 if the list has not seen them

	// What series assembly asks (MessageSeries, SeriesByStem), kept
	// current by SetMessageSeries and CreateSeries, the only writers of
	// messages' series and of series' stems.
	series map[string]firstSeries // the asked ids -> their first message that has a series; nil once unknown
	rows   map[int64]string       // the messages the transaction added -> their Message-IDs
	stems  map[stemKey]int        // the batch's (sender, stem) pairs -> how many series of the list have them

	// What Revisions and FindSeries ask (expect_series.go); nil once
	// unknown.
	index *seriesIndex
}

// firstSeries is, for a Message-ID, the first of the list's messages
// with that Message-ID that belongs to a series (MessageSeries's answer),
// row 0 if none.
type firstSeries struct{ row, series int64 }

type stemKey struct{ submitter, stem string }

// Expect implements Tx: on PostgreSQL it looks up what AddMessage will
// ask about ms, all messages of listID, in one round trip; on SQLite,
// whose lookups cost no round trip, nothing.
func (t *writeTx) Expect(ctx context.Context, listID int64, ms []*NewMessage) error {
	if !t.pg || len(ms) == 0 {
		return nil
	}
	if err := t.lockList(ctx, listID); err != nil {
		return err
	}
	e := &expected{list: listID, sums: map[string]int64{}, taken: map[string]bool{}, refs: map[string]int64{},
		series: map[string]firstSeries{}, rows: map[int64]string{}, stems: map[stemKey]int{}}
	var sums, ids []string
	var stems [][2]string
	for _, m := range ms {
		if m.ListID != listID || m.MessageID == "" {
			continue
		}
		m.Prepare()
		if _, ok := e.sums[string(m.sum)]; !ok {
			e.sums[string(m.sum)] = 0
			sums = append(sums, hex.EncodeToString(m.sum))
		}
		for _, id := range append([]string{m.MessageID}, m.References...) {
			if _, ok := e.refs[id]; !ok && id != "" {
				e.refs[id] = 0
				e.taken[id] = false
				ids = append(ids, id)
				e.series[id] = firstSeries{}
			}
		}
		if m.Stem != "" {
			k := stemKey{strings.ToLower(m.From.Email), m.Stem}
			if _, ok := e.stems[k]; !ok {
				e.stems[k] = 0
				stems = append(stems, [2]string{k.submitter, k.stem})
			}
		}
	}
	jsums, _ := json.Marshal(sums)
	jids, _ := json.Marshal(ids)
	jstems, _ := json.Marshal(stems)
	if stems == nil {
		jstems = []byte("[]")
	}
	// Ids for the batch's messages and patches (at most), in the same
	// round trip, unless the transaction has some already (newID).
	var nm, np int64
	mkey, pkey := idKey{"messages", listID}, idKey{"patches", 0}
	if b := t.ids[mkey]; b == nil || len(b.free) == 0 {
		for _, m := range ms {
			if m.ListID == listID {
				nm++
			}
		}
	}
	if b := t.ids[pkey]; b == nil || len(b.free) == 0 {
		for _, m := range ms {
			if m.ListID == listID && m.Kind == core.KindPatch {
				np++
			}
		}
	}
	var mids, pids []int64
	rows, err := t.query(ctx, `WITH ids AS (SELECT json_array_elements_text(CAST(?2 AS json)) AS id),
		sums AS (SELECT decode(x, 'hex') AS sum FROM json_array_elements_text(CAST(?3 AS json)) AS x),
		stems AS (SELECT p->>0 AS email, p->>1 AS stem FROM json_array_elements(CAST(?4 AS json)) AS p)
		SELECT 0, encode(sha256, 'hex'), '', id, 0 FROM messages WHERE list_id = ?1 AND sha256 IN (SELECT sum FROM sums)
		UNION ALL
		SELECT DISTINCT 1, message_id, '', 0, 0 FROM messages WHERE list_id = ?1 AND message_id IN (SELECT id FROM ids)
		UNION ALL
		SELECT 2, message_id, '', thread_id, 0 FROM refs WHERE list_id = ?1 AND message_id IN (SELECT id FROM ids)
		UNION ALL
		SELECT 3, '', '', next_uid, 0 FROM lists WHERE id = ?1
		UNION ALL
		SELECT 4, message_id, '', series_id, id FROM messages
			WHERE list_id = ?1 AND series_id IS NOT NULL AND message_id IN (SELECT id FROM ids)
		UNION ALL
		SELECT 5, s.submitter_email, s.stem, count(*), 0 FROM series s JOIN stems p ON s.submitter_email = p.email AND s.stem = p.stem
			WHERE s.list_id = ?1 AND s.stem != '' GROUP BY s.submitter_email, s.stem
		UNION ALL
		SELECT 6, '', '', nextval(pg_get_serial_sequence('messages', 'id')), 0 FROM generate_series(1, ?5)
		UNION ALL
		SELECT 7, '', '', nextval(pg_get_serial_sequence('patches', 'id')), 0 FROM generate_series(1, ?6)`,
		listID, string(jids), string(jsums), string(jstems), nm, np)
	if err != nil {
		return fmt.Errorf("look up messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var key, key2 string
		var v, w int64
		if err := rows.Scan(&kind, &key, &key2, &v, &w); err != nil {
			return fmt.Errorf("look up messages: %w", err)
		}
		switch kind {
		case 0:
			b, err := hex.DecodeString(key)
			if err != nil {
				return fmt.Errorf("look up messages: %w", err)
			}
			e.sums[string(b)] = v
		case 1:
			e.taken[key] = true
		case 2:
			e.refs[key] = v
		case 3:
			if _, ok := t.uids[listID]; !ok {
				t.uids[listID] = uint32(v)
			}
		case 4:
			if f := e.series[key]; f.row == 0 || w < f.row {
				e.series[key] = firstSeries{row: w, series: v}
			}
		case 5:
			e.stems[stemKey{key, key2}] = int(v)
		case 6:
			mids = append(mids, v)
		case 7:
			pids = append(pids, v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up messages: %w", err)
	}
	rows.Close()
	t.expect = e
	t.addIDs(mkey, mids)
	t.addIDs(pkey, pids)
	for _, m := range ms {
		if m.ListID == listID && m.Clues != nil {
			threads := []int64{}
			seen := map[int64]bool{0: true}
			for _, tid := range e.refs {
				if !seen[tid] {
					seen[tid] = true
					threads = append(threads, tid)
				}
			}
			return t.expectSeries(ctx, e, ms, threads)
		}
	}
	return nil
}

// answer is lookUp's answer about m and ids (m's Message-ID and
// references) from what the transaction knows, when it knows all of it
// (lookUp still asks the series questions about a patch or a cover
// letter).
func (e *expected) answer(m *NewMessage, ids []string) (dupID sql.NullInt64, taken bool, known map[string]int64, ok bool) {
	if e == nil || m.ListID != e.list {
		return dupID, false, nil, false
	}
	dup, ok := e.sums[string(m.sum)]
	if !ok {
		return dupID, false, nil, false
	}
	taken, ok = e.taken[m.MessageID]
	if !ok {
		return dupID, false, nil, false
	}
	known = make(map[string]int64, len(ids))
	for _, id := range ids {
		tid, ok := e.refs[id]
		if !ok {
			return dupID, false, nil, false
		}
		if tid != 0 {
			known[id] = tid
		}
	}
	return sql.NullInt64{Int64: dup, Valid: dup != 0}, taken, known, true
}

// added notes a message the transaction stored: message row id, in
// thread tid, whose ids (its Message-ID and references) all are in
// tid's thread now.
func (e *expected) added(m *NewMessage, id, tid int64, ids []string) {
	if e == nil || m.ListID != e.list {
		return
	}
	e.sums[string(m.sum)] = id
	e.taken[m.MessageID] = true
	e.rows[id] = m.MessageID
	for _, r := range ids {
		e.refs[r] = tid
	}
}

// knowsSeries reports whether the transaction can answer, without a
// round trip, what series assembly asks about m, a patch or a cover
// letter naming ids: MessageSeries of ids and SeriesByStem of m's stem.
func (e *expected) knowsSeries(m *NewMessage, ids []string) bool {
	if e == nil || m.ListID != e.list || e.series == nil {
		return false
	}
	for _, id := range ids {
		if _, ok := e.series[id]; !ok && id != "" {
			return false
		}
	}
	if m.Stem != "" {
		if _, ok := e.stems[stemKey{strings.ToLower(m.From.Email), m.Stem}]; !ok {
			return false
		}
	}
	return true
}

// messageSeries is MessageSeries(list, ids), when the transaction knows
// every id.
func (e *expected) messageSeries(list int64, ids []string) (map[string]int64, bool) {
	if e == nil || e.list != list || e.series == nil {
		return nil, false
	}
	out := make(map[string]int64, len(ids))
	for _, id := range ids {
		f, ok := e.series[id]
		if !ok {
			if id == "" {
				continue // no message has an empty Message-ID
			}
			return nil, false
		}
		if f.row != 0 {
			out[id] = f.series
		}
	}
	return out, true
}

// stemCount is how many series of list SeriesByStem(submitter, stem)
// would find, when the transaction knows.
func (e *expected) stemCount(list int64, submitter, stem string) (int, bool) {
	if e == nil || e.list != list {
		return 0, false
	}
	n, ok := e.stems[stemKey{submitter, stem}]
	return n, ok
}

// setSeries notes that message row belongs to series sid now (none when
// 0).
func (e *expected) setSeries(row, sid int64) {
	if e == nil || e.series == nil {
		return
	}
	id, ok := e.rows[row]
	if !ok {
		e.series = nil // a message whose Message-ID it does not know
		return
	}
	f, ok := e.series[id]
	switch {
	case !ok:
	case sid != 0 && (f.row == 0 || row <= f.row):
		e.series[id] = firstSeries{row: row, series: sid}
	case sid == 0 && row == f.row:
		delete(e.series, id) // the next message with a series, if any, is not known
	}
}

// created notes a series of list, by submitter with stem.
func (e *expected) created(list int64, submitter, stem string) {
	if e == nil || e.list != list || stem == "" {
		return
	}
	k := stemKey{submitter, stem}
	if n, ok := e.stems[k]; ok {
		e.stems[k] = n + 1
	}
}

// merged notes that thread from was merged into thread into.
func (e *expected) merged(into, from int64) {
	if e == nil {
		return
	}
	e.index.mergedThreads(into, from)
	for id, tid := range e.refs {
		if tid == from {
			e.refs[id] = into
		}
	}
}

// writeRefs sends the refs rows AddMessage kept (t.refRows), in
// multi-row INSERTs deferred (later), before a statement that reads or
// changes refs and at flush: a statement for many messages' ids instead
// of one per id.
func (t *writeTx) writeRefs(ctx context.Context) error {
	for len(t.refRows) > 0 {
		n := min(len(t.refRows), 3*pgRefRows)
		q := `INSERT INTO refs(list_id, message_id, thread_id) VALUES (?, ?, ?)` + strings.Repeat(`, (?, ?, ?)`, n/3-1)
		if err := t.later(ctx, q, t.refRows[:n]...); err != nil {
			return fmt.Errorf("store refs: %w", err)
		}
		t.refRows = t.refRows[n:]
	}
	t.refRows = nil
	return nil
}

// pgRefRows is the most rows of one INSERT INTO refs.
const pgRefRows = 1000
