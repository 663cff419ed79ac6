package webhook

import (
	"context"
	"fmt"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// The helpers below build the events patchwell emits and queue them. Each
// has a key that makes a repeat harmless: call them after the change
// commits, every time it may have happened (they dedupe), and log an
// error rather than failing the change (the change is already durable).
//
// Where they are called:
//   - SeriesChanged: review ingest, after each transaction that touched
//     a series commits, with the series as stored (and again with the
//     previous revision when a new one superseded it). It emits
//     series.created, series.updated "complete" and "revision" as the
//     series' state says, each once.
//   - SeriesCreated, SeriesUpdated: the same events one at a time.
//   - StatusChanged: web's status routes (wired, see web.Notifier) and
//     any other place that sets a status (apply, the CLI).
//   - CheckCreated: web's POST /api/v1/series/{id}/checks (wired), and
//     the CI runner when it records a result.

// seriesPayload is the "series" object of every event.
type seriesPayload struct {
	ID           int64       `json:"id"`
	List         string      `json:"list"`
	Subject      string      `json:"subject"`
	Version      int         `json:"version"`
	Status       string      `json:"status"`
	Submitter    core.Person `json:"submitter"`
	Total        int         `json:"total"`
	Received     int         `json:"received"`
	Complete     bool        `json:"complete"`
	MessageID    string      `json:"message_id"`
	BaseCommit   string      `json:"base_commit"`
	Previous     *int64      `json:"previous"`
	SupersededBy *int64      `json:"superseded_by"`
	URL          *string     `json:"url"`
	APIURL       *string     `json:"api_url"`
	MboxURL      *string     `json:"mbox_url"`
}

func optID(id int64) *int64 {
	if id == 0 {
		return nil
	}
	return &id
}

func (d *Dispatcher) series(s *store.Series) seriesPayload {
	p := seriesPayload{ID: s.ID, List: s.List, Subject: s.Subject, Version: s.Version, Status: s.Status, Submitter: s.Submitter,
		Total: s.Total, Received: s.Received, Complete: s.Complete, MessageID: s.MessageID, BaseCommit: s.BaseCommit,
		Previous: optID(s.Previous), SupersededBy: optID(s.SupersededBy)}
	if d.baseURL != "" {
		u := fmt.Sprintf("%s/series/%d/", d.baseURL, s.ID)
		a := fmt.Sprintf("%s/api/v1/series/%d", d.baseURL, s.ID)
		m := a + "/mbox"
		p.URL, p.APIURL, p.MboxURL = &u, &a, &m
	}
	return p
}

// SeriesCreated queues series.created, once per series.
func (d *Dispatcher) SeriesCreated(ctx context.Context, s *store.Series) error {
	return d.Emit(ctx, Event{Key: fmt.Sprintf("%s:%d", SeriesCreated, s.ID), Type: SeriesCreated, List: s.List,
		Data: map[string]any{"series": d.series(s)}})
}

// SeriesChanged emits what a series' stored state calls for, each event
// once however often it is called: series.created; series.updated
// "complete" once every patch is in; series.updated "revision" once a
// newer revision superseded it.
func (d *Dispatcher) SeriesChanged(ctx context.Context, s *store.Series) error {
	err := d.SeriesCreated(ctx, s)
	if err == nil && s.Complete {
		err = d.SeriesUpdated(ctx, s, "complete")
	}
	if err == nil && s.SupersededBy != 0 {
		err = d.SeriesUpdated(ctx, s, "revision")
	}
	return err
}

// SeriesUpdated queues series.updated with a reason: "complete" (every
// patch arrived; once per series) or "revision" (a newer revision
// superseded it; once per newer revision).
func (d *Dispatcher) SeriesUpdated(ctx context.Context, s *store.Series, reason string) error {
	key := fmt.Sprintf("%s:%d:%s", SeriesUpdated, s.ID, reason)
	if reason == "revision" {
		key += fmt.Sprintf(":%d", s.SupersededBy)
	}
	return d.Emit(ctx, Event{Key: key, Type: SeriesUpdated, List: s.List,
		Data: map[string]any{"series": d.series(s), "reason": reason}})
}

// statusPayload is the "change" object of series.status_changed.
type statusPayload struct {
	From    string       `json:"from"`
	To      string       `json:"to"`
	User    *core.Person `json:"user"`
	At      time.Time    `json:"at"`
	Comment string       `json:"comment"`
}

// StatusChanged queues series.status_changed, once per recorded change.
func (d *Dispatcher) StatusChanged(ctx context.Context, s *store.Series, c *store.StatusChange) error {
	key := fmt.Sprintf("%s:%d:%d:%s:%d", SeriesStatusChanged, s.ID, c.ID, c.To, c.At.UnixNano())
	return d.Emit(ctx, Event{Key: key, Type: SeriesStatusChanged, List: s.List, Data: map[string]any{
		"series": d.series(s),
		"change": statusPayload{From: c.From, To: c.To, User: c.User, At: c.At.UTC(), Comment: c.Comment},
	}})
}

// checkPayload is the "check" object of check.created.
type checkPayload struct {
	ID          int64     `json:"id"`
	PatchIndex  int       `json:"patch_index"`
	Context     string    `json:"context"`
	State       string    `json:"state"`
	Description string    `json:"description"`
	URL         *string   `json:"url"`
	Updated     time.Time `json:"updated"`
}

// CheckCreated queues check.created each time a check is reported (a
// context reported again is a new event, with the new state), once per
// report.
func (d *Dispatcher) CheckCreated(ctx context.Context, s *store.Series, c *store.Check) error {
	key := fmt.Sprintf("%s:%d:%s:%s:%d", CheckCreated, c.ID, c.State, c.Updated.UTC().Format(time.RFC3339), len(c.Description))
	var u *string
	if c.URL != "" {
		u = &c.URL
	}
	return d.Emit(ctx, Event{Key: key, Type: CheckCreated, List: s.List, Data: map[string]any{
		"series": d.series(s),
		"check": checkPayload{ID: c.ID, PatchIndex: c.PatchIndex, Context: c.Context, State: c.State,
			Description: c.Description, URL: u, Updated: c.Updated.UTC()},
	}})
}
