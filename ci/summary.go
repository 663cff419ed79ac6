package ci

import (
	"context"
	"fmt"
	"net/mail"
	"strings"

	"patchwell/archive"
	"patchwell/review"
	"patchwell/store"
)

// finished tells the Notifier about the checks a job recorded and, with
// Mail, replies on the series' thread with their summary.
func (s *Scheduler) finished(j *store.Job, state string, checks []store.Check) {
	ctx := context.Background()
	se, err := s.cfg.Store.Series(ctx, j.SeriesID)
	if err != nil {
		return
	}
	if s.cfg.Notify != nil {
		for i := range checks {
			s.cfg.Notify.CheckCreated(ctx, se, &checks[i])
		}
	}
	// Only a result is worth a mail to the list: not a held job (the
	// series page says it waits), not a runner's failure (the log
	// says why, for the operator).
	if s.cfg.Mail && state == store.JobDone {
		if err := s.sendSummary(ctx, se, checks); err != nil {
			s.log.Error("ci: summary reply not queued", "series", se.ID, "job", j.ID, "err", err)
		}
	}
}

// sendSummary posts the summary reply in the series' thread (archived
// and queued to the list), as the "Applied, thanks" reply is.
func (s *Scheduler) sendSummary(ctx context.Context, se *store.Series, checks []store.Check) error {
	// The stored checks carry the ids the log URLs need.
	stored, err := s.cfg.Store.Checks(ctx, se.ID)
	if err != nil {
		return err
	}
	byKey := map[string]store.Check{}
	for _, c := range stored {
		byKey[fmt.Sprintf("%d/%s", c.PatchIndex, c.Context)] = c
	}
	for i, c := range checks {
		if sc, ok := byKey[fmt.Sprintf("%d/%s", c.PatchIndex, c.Context)]; ok {
			checks[i].ID = sc.ID
		}
	}
	from := (&mail.Address{Name: se.List + " CI", Address: se.List + "@" + s.cfg.Domain}).String()
	_, err = s.cfg.Replies.PostReply(ctx, review.Reply{Series: se, From: from, Tag: "ci", Body: summaryBody(se, checks, s.cfg.WebURL)})
	return err
}

// summaryBody is the body of the CI reply: each check's context, state,
// description and log URL, and the series page. Checks on single
// patches are listed only when they did not pass (the series page has
// them all).
func summaryBody(se *store.Series, checks []store.Check, webURL string) string {
	var b strings.Builder
	worst := store.CheckSuccess
	rank := map[string]int{store.CheckSuccess: 0, store.CheckPending: 1, store.CheckWarning: 2, store.CheckFail: 3}
	for _, c := range checks {
		if rank[c.State] > rank[worst] {
			worst = c.State
		}
	}
	fmt.Fprintf(&b, "CI result for this series (v%d, %d of %d patches): %s\n\n", max(se.Version, 1), se.Received, se.Total, worst)
	for _, c := range checks {
		if c.PatchIndex > 0 && c.State == store.CheckSuccess {
			continue
		}
		name := c.Context
		if c.PatchIndex > 0 {
			name = fmt.Sprintf("%s (patch %d)", c.Context, c.PatchIndex)
		}
		fmt.Fprintf(&b, "%s: %s\n", name, c.State)
		if c.Description != "" {
			fmt.Fprintf(&b, "  %s\n", archive.OneLine(c.Description))
		}
		if c.ID > 0 && c.Log != "" {
			fmt.Fprintf(&b, "  log: %s/api/v1/checks/%d/log\n", webURL, c.ID)
		}
	}
	fmt.Fprintf(&b, "\nSeries: %s/series/%d/#checks\n", webURL, se.ID)
	b.WriteString("\n-- \npatchwell CI\n")
	return b.String()
}
