package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// This file holds the reads of the list page as a dashboard and of "my
// reviews": a page of series with their last activity, then the checks,
// patches and thread messages of that page's series, each in one query
// for the whole page (never one per row).

// Orders of SeriesFilter.Sort. SortDate (the default) pages by key
// (Before, After); the others by Offset.
const (
	SortDate     = "date"     // newest series first
	SortActivity = "activity" // the newest message of the series' thread first, by date
	SortChecks   = "checks"   // most failing, then warning, checks first
	SortReviews  = "reviews"  // most replies giving review trailers first
)

// Sorts are the orders SeriesFilter.Sort accepts besides "".
var Sorts = []string{SortActivity, SortDate, SortChecks, SortReviews}

// Dashboard is the dashboard's reads: a page of series with their last
// activity, and the data their counts are made of, for the whole page
// at once.
type Dashboard interface {
	// DashboardSeries returns a page of series as f selects and orders,
	// each with the date of its thread's newest message. With list
	// "", the series of f.Lists (none without). ErrInvalid for an
	// unknown f.Sort.
	DashboardSeries(ctx context.Context, list string, f SeriesFilter) ([]SeriesRow, error)
	// CheckCounts counts the checks of these series by state.
	CheckCounts(ctx context.Context, seriesIDs []int64) (map[int64]CheckCounts, error)
	// PatchesOf returns the patches of these series, by series, in
	// index order, without their files (what the counts need).
	PatchesOf(ctx context.Context, seriesIDs []int64) (map[int64][]Patch, error)
	// SeriesByIDs returns these series (unknown ids are left out).
	SeriesByIDs(ctx context.Context, ids []int64) ([]Series, error)
	// MessagesOfThreads returns the messages of these threads, without
	// their bytes, in arrival order (row id).
	MessagesOfThreads(ctx context.Context, threadIDs []int64) ([]Message, error)
}

// CheckCounts is how many checks of a series are in each state.
type CheckCounts struct {
	Success int `json:"success"`
	Warning int `json:"warning"`
	Fail    int `json:"fail"`
	Pending int `json:"pending"`
}

// Total is the number of checks.
func (c CheckCounts) Total() int { return c.Success + c.Warning + c.Fail + c.Pending }

// SeriesStats is what the dashboard shows of a series besides its row.
type SeriesStats struct {
	Checks CheckCounts `json:"checks"`
	// Acked, Reviewed and Tested count the people who gave the series
	// (any of its patches, or the cover letter) Acked-by, Reviewed-by
	// and Tested-by, carried trailers included.
	Acked    int `json:"acked"`
	Reviewed int `json:"reviewed"`
	Tested   int `json:"tested"`
	// OpenComments counts the unresolved review comments of people (not
	// of programs: CI, "applied") on the series, as its page does.
	OpenComments int `json:"open_comments"`
	// LastActivity is the date of the newest message of the series'
	// thread (its Date: an imported archive arrived all at once).
	LastActivity time.Time `json:"last_activity"`
	// ChangesRequested counts the reviewers whose verdict on the series
	// is "changes requested". Verdicts fill it; until they exist it is 0.
	ChangesRequested int `json:"changes_requested"`
}

// SeriesRow is a series on the dashboard.
type SeriesRow struct {
	Series
	Stats SeriesStats `json:"stats"`
}

// reviewKeysLike matches the stored trailers (JSON) of a message giving
// Reviewed-by or Acked-by; Tested-by is added for the reviews order.
// Keys are stored in their usual spelling (patchmail normalises them).
const (
	likeReviewed = `'%"key":"Reviewed-by"%'`
	likeAcked    = `'%"key":"Acked-by"%'`
	likeTested   = `'%"key":"Tested-by"%'`
	likeChanges  = `'%"key":"Changes-requested"%'`
)

// reviewReplies is the condition on m (a message) of a reply in the
// thread of series se (an alias), after se's first patch, whose trailers
// match one of likes: how SQL tells a reviewed series, close to (not
// exactly) what review.CollectTrailers collects, which walks each
// reply's parents.
func reviewReplies(se string, likes ...string) string {
	var or []string
	for _, l := range likes {
		or = append(or, `m.trailers LIKE `+l)
	}
	return `m.thread_id = ` + se + `.thread_id AND m.kind = 'reply' AND m.trailers IS NOT NULL
		AND m.id > COALESCE((SELECT min(p.message) FROM patches p WHERE p.series_id = ` + se + `.id), 0)
		AND (` + strings.Join(or, " OR ") + `)`
}

// DashboardSeries implements Dashboard.
func (s *DB) DashboardSeries(ctx context.Context, list string, f SeriesFilter) ([]SeriesRow, error) {
	p := Page{Limit: f.Limit}.Normalize()
	var where []string
	var args []any
	if list != "" {
		where = append(where, `l.name = ?`)
		args = append(args, list)
	} else {
		if len(f.Lists) == 0 {
			return nil, nil
		}
		where = append(where, `l.name IN (`+placeholders(len(f.Lists))+`)`)
		for _, n := range f.Lists {
			args = append(args, n)
		}
	}
	where, args = f.conditions(where, args)
	if f.Current {
		where = append(where, `s.status <> 'superseded'`)
	}
	if f.HideArchived {
		// patchwork's archived flag: a series whose patches are all
		// archived (one without patches stays).
		where = append(where, `(NOT EXISTS (SELECT 1 FROM patches p WHERE p.series_id = s.id AND p.archived != 0)
			OR EXISTS (SELECT 1 FROM patches p WHERE p.series_id = s.id AND p.archived = 0))`)
	}
	if f.NeedsReview {
		// Given to this revision, or to the previous one on a patch this
		// one carries unchanged (one revision back: review.Dashboard
		// leaves out what a longer carry brings).
		where = append(where, `NOT EXISTS (SELECT 1 FROM messages m WHERE `+reviewReplies("s", likeReviewed, likeAcked)+`)`,
			`NOT EXISTS (SELECT 1 FROM series pv JOIN messages m ON m.thread_id = pv.thread_id WHERE pv.id = s.previous
				AND `+reviewReplies("pv", likeReviewed, likeAcked)+`
				AND EXISTS (SELECT 1 FROM patches a JOIN patches b ON b.patch_id = a.patch_id
					WHERE a.series_id = s.id AND b.series_id = pv.id AND a.patch_id <> ''))`,
			`NOT EXISTS (SELECT 1 FROM patches p WHERE p.series_id = s.id AND p.trailers IS NOT NULL
				AND (p.trailers LIKE `+likeReviewed+` OR p.trailers LIKE `+likeAcked+`))`)
	}
	if f.ChangesRequested {
		where = append(where, `(EXISTS (SELECT 1 FROM messages m WHERE `+reviewReplies("s", likeChanges)+`)
			OR EXISTS (SELECT 1 FROM series pv JOIN messages m ON m.thread_id = pv.thread_id WHERE pv.id = s.previous
				AND `+reviewReplies("pv", likeChanges)+`))`)
	}
	if len(f.RepliedBy) > 0 {
		where = append(where, `EXISTS (SELECT 1 FROM messages m WHERE m.thread_id = s.thread_id AND m.kind = 'reply'
			AND lower(m.from_email) IN (`+placeholders(len(f.RepliedBy))+`))`)
		for _, e := range f.RepliedBy {
			args = append(args, strings.ToLower(e))
		}
	}
	var order string
	reverse := false
	switch f.Sort {
	case "", SortDate:
		order = `s.id DESC`
		switch {
		case f.Before > 0:
			where = append(where, `s.id < ?`)
			args = append(args, f.Before)
		case f.After > 0:
			where = append(where, `s.id > ?`)
			args = append(args, f.After)
			order, reverse = `s.id ASC`, true
		}
	case SortActivity:
		order = `COALESCE(t.last_date, 0) DESC, s.id DESC`
	case SortChecks:
		order = `(SELECT count(*) FROM checks c WHERE c.series_id = s.id AND c.state = 'fail') DESC,
			(SELECT count(*) FROM checks c WHERE c.series_id = s.id AND c.state = 'warning') DESC,
			(SELECT count(*) FROM checks c WHERE c.series_id = s.id) DESC, s.id DESC`
	case SortReviews:
		order = `(SELECT count(*) FROM messages m WHERE ` + reviewReplies("s", likeReviewed, likeAcked, likeTested) + `) DESC, s.id DESC`
	default:
		return nil, fmt.Errorf("sort %q: %w", f.Sort, ErrInvalid)
	}
	q := `SELECT ` + seriesCols + `, COALESCE(t.last_date, 0) FROM series s JOIN lists l ON l.id = s.list_id
		LEFT JOIN threads t ON t.id = s.thread_id
		WHERE ` + strings.Join(where, " AND ") + ` ORDER BY ` + order + ` LIMIT ?`
	args = append(args, p.Limit)
	if f.Sort != "" && f.Sort != SortDate && f.Offset > 0 {
		q += ` OFFSET ?`
		args = append(args, f.Offset)
	}
	rows, err := s.r.QueryContext(ctx, q, args...)
	out, err := collect(rows, err, "dashboard", func(sc scanner) (*SeriesRow, error) {
		var r SeriesRow
		var se Series
		var date, last int64
		if err := sc.Scan(&se.ID, &se.List, &se.Subject, &se.Version, &se.Status, &se.Submitter.Name, &se.Submitter.Email, &se.Total,
			&se.Received, &se.MessageID, &se.CoverMessageID, &date, &se.Previous, &se.SupersededBy, &se.RFC, &se.Resend, &se.Prefix,
			&se.ChangeID, &se.BaseCommit, &se.ThreadID, &se.PullURL, &se.PullRef, &last); err != nil {
			return nil, err
		}
		se.Date = timeOrZero(date)
		se.Complete = se.Received >= se.Total
		r.Series, r.Stats.LastActivity = se, timeOrZero(last)
		return &r, nil
	})
	if reverse {
		slices.Reverse(out)
	}
	return out, err
}

// int64Args makes bind arguments of ids.
func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// CheckCounts implements Dashboard.
func (s *DB) CheckCounts(ctx context.Context, seriesIDs []int64) (map[int64]CheckCounts, error) {
	out := make(map[int64]CheckCounts, len(seriesIDs))
	if len(seriesIDs) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT series_id, state, count(*) FROM checks WHERE series_id IN (`+
		placeholders(len(seriesIDs))+`) GROUP BY series_id, state`, int64Args(seriesIDs)...)
	if err != nil {
		return nil, fmt.Errorf("check counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var state string
		var n int
		if err := rows.Scan(&id, &state, &n); err != nil {
			return nil, fmt.Errorf("check counts: %w", err)
		}
		c := out[id]
		switch state {
		case CheckSuccess:
			c.Success += n
		case CheckWarning:
			c.Warning += n
		case CheckFail:
			c.Fail += n
		case CheckPending:
			c.Pending += n
		}
		out[id] = c
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check counts: %w", err)
	}
	return out, nil
}

// PatchesOf implements Dashboard.
func (s *DB) PatchesOf(ctx context.Context, seriesIDs []int64) (map[int64][]Patch, error) {
	out := make(map[int64][]Patch, len(seriesIDs))
	if len(seriesIDs) == 0 {
		return out, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT p.id, p.series_id, p.idx, p.subject, m.message_id, p.author_name, p.author_email,
		p.date, p.commit_subject, p.patch_id, p.trailers FROM patches p JOIN messages m ON m.id = p.message
		WHERE p.series_id IN (`+placeholders(len(seriesIDs))+`) ORDER BY p.series_id, p.idx`, int64Args(seriesIDs)...)
	if err != nil {
		return nil, fmt.Errorf("patches: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var p Patch
		var date int64
		var trailers sql.NullString
		if err := rows.Scan(&p.ID, &p.SeriesID, &p.Index, &p.Subject, &p.MessageID, &p.Author.Name, &p.Author.Email, &date,
			&p.CommitSubject, &p.PatchID, &trailers); err != nil {
			return nil, fmt.Errorf("patches: %w", err)
		}
		p.Date = timeOrZero(date)
		if trailers.Valid {
			json.Unmarshal([]byte(trailers.String), &p.Trailers)
		}
		out[p.SeriesID] = append(out[p.SeriesID], p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("patches: %w", err)
	}
	return out, nil
}

// SeriesByIDs implements Dashboard.
func (s *DB) SeriesByIDs(ctx context.Context, ids []int64) ([]Series, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	return collectSeries(s.r.QueryContext(ctx, `SELECT `+seriesCols+` FROM series s JOIN lists l ON l.id = s.list_id
		WHERE s.id IN (`+placeholders(len(ids))+`) ORDER BY s.id`, int64Args(ids)...))
}

// MessagesOfThreads implements Dashboard.
func (s *DB) MessagesOfThreads(ctx context.Context, threadIDs []int64) ([]Message, error) {
	if len(threadIDs) == 0 {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+messageCols+` FROM messages m JOIN lists l ON l.id = m.list_id
		WHERE m.thread_id IN (`+placeholders(len(threadIDs))+`) ORDER BY m.id`, int64Args(threadIDs)...)
	return collect(rows, err, "thread messages", func(sc scanner) (*Message, error) { return scanMessage(sc) })
}
