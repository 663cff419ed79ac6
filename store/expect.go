package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// On PostgreSQL, an import tells the transaction the messages it is about
// to add (Tx.Expect), and one query asks, for all of them at once, what
// AddMessage asks about each: which of their bytes the list holds, which
// of their Message-IDs it has seen, and the threads of the ids they name.
// The transaction then keeps those answers up to date with its own
// writes (a message added, threads merged: the only writes to messages'
// Message-IDs and hashes and to refs, all by the list's one writer), so
// AddMessage answers a reply without a round trip. A patch or a cover
// letter still asks (lookUp), for the series questions that go with it.

// expected is what the transaction knows of the messages it expects.
type expected struct {
	list  int64
	sums  map[string]int64 // the asked hashes (string of the bytes) -> the list's message with them, 0 if none
	taken map[string]bool  // the asked ids -> whether a message of the list has it as Message-ID
	refs  map[string]int64 // the asked ids -> their thread, 0 if the list has not seen them
}

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
	e := &expected{list: listID, sums: map[string]int64{}, taken: map[string]bool{}, refs: map[string]int64{}}
	var sums, ids []string
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
			}
		}
	}
	jsums, _ := json.Marshal(sums)
	jids, _ := json.Marshal(ids)
	rows, err := t.query(ctx, `WITH ids AS (SELECT json_array_elements_text(CAST(?2 AS json)) AS id),
		sums AS (SELECT decode(x, 'hex') AS sum FROM json_array_elements_text(CAST(?3 AS json)) AS x)
		SELECT 0, encode(sha256, 'hex'), id FROM messages WHERE list_id = ?1 AND sha256 IN (SELECT sum FROM sums)
		UNION ALL
		SELECT DISTINCT 1, message_id, 0 FROM messages WHERE list_id = ?1 AND message_id IN (SELECT id FROM ids)
		UNION ALL
		SELECT 2, message_id, thread_id FROM refs WHERE list_id = ?1 AND message_id IN (SELECT id FROM ids)
		UNION ALL
		SELECT 3, '', next_uid FROM lists WHERE id = ?1`, listID, string(jids), string(jsums))
	if err != nil {
		return fmt.Errorf("look up messages: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var kind int
		var key string
		var v int64
		if err := rows.Scan(&kind, &key, &v); err != nil {
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
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("look up messages: %w", err)
	}
	t.expect = e
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
	for _, r := range ids {
		e.refs[r] = tid
	}
}

// merged notes that thread from was merged into thread into.
func (e *expected) merged(into, from int64) {
	if e == nil {
		return
	}
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
