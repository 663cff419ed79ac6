package review

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// A pending review is a GitHub-style review on the mail side: the line
// comments a reviewer collects on the web are kept server-side as a
// draft (store.Reviews.DraftComments) until they submit it. Submitting
// sends one ordinary e-mail reply per commented patch, with that patch's
// comments quoted as a mail client would, and the summary and verdict in
// reply to the cover letter, each through SubmitReview and so through
// Ingester.Post; the comments sent leave the draft patch by patch, so
// that a failure half-way sends nothing twice when tried again.

// DraftComments returns a user's pending review of a series.
func (s *Service) DraftComments(ctx context.Context, userID, seriesID int64) ([]store.DraftComment, error) {
	return s.st.DraftComments(ctx, userID, seriesID)
}

// SaveDraftComment adds a comment to a user's pending review (c.ID 0) or
// changes one; store.ErrInvalid for a comment on no line of the series'
// patches.
func (s *Service) SaveDraftComment(ctx context.Context, userID, seriesID int64, c store.DraftComment) (*store.DraftComment, error) {
	patches, err := s.st.Patches(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(patches, func(p store.Patch) bool { return p.MessageID == c.PatchMessageID }) {
		return nil, fmt.Errorf("comment on %q, which is no patch of this series: %w", c.PatchMessageID, store.ErrInvalid)
	}
	return s.st.SaveDraftComment(ctx, userID, seriesID, c)
}

// DeleteDraftComments drops comments (nil: all) from a pending review.
func (s *Service) DeleteDraftComments(ctx context.Context, userID, seriesID int64, ids []int64) error {
	return s.st.DeleteDraftComments(ctx, userID, seriesID, ids)
}

// verdictLine is the line a verdict adds to a reply: the trailer as b4
// users give it ("Reviewed-by: Name <addr>"), or the request for changes.
func verdictLine(kind string, from core.Person) (string, error) {
	switch kind {
	case "":
		return "", nil
	case store.VerdictReviewed, store.VerdictAcked, store.VerdictTested:
		who := from.Email
		if n := strings.TrimSpace(from.Name); n != "" && !strings.ContainsAny(n, "<>\n\r") {
			who = n + " <" + from.Email + ">"
		}
		return kind + ": " + who, nil
	case store.VerdictChangesRequested:
		return store.VerdictChangesRequested + ": yes", nil
	}
	return "", fmt.Errorf("verdict %q: want Reviewed-by, Acked-by, Tested-by or Changes-requested: %w", kind, store.ErrInvalid)
}

// SubmitPending sends p: one reply per patch its draft comments, then
// the summary and verdict in reply to the cover letter (without one: to
// the only patch; a series of several patches without a cover letter
// gets the verdict's trailer in a reply to each patch, where the trailer
// collection finds it, and the summary with the first). The draft is
// empty afterwards. It returns the Message-IDs of the replies sent.
// Errors wrapping store.ErrInvalid are the reviewer's to fix (nothing
// to send, a request for changes without a summary).
func (s *Service) SubmitPending(ctx context.Context, p store.PendingReview) ([]string, error) {
	if s.in == nil {
		return nil, fmt.Errorf("web reviews are not enabled on this server: %w", store.ErrReadOnly)
	}
	line, err := verdictLine(p.Verdict, p.From)
	if err != nil {
		return nil, err
	}
	summary := strings.TrimSpace(strings.ReplaceAll(p.Summary, "\r\n", "\n"))
	if p.Verdict == store.VerdictChangesRequested && summary == "" {
		return nil, fmt.Errorf("say which changes you request: the summary is empty: %w", store.ErrInvalid)
	}
	se, err := s.st.Series(ctx, p.SeriesID)
	if err != nil {
		return nil, err
	}
	patches, err := s.st.Patches(ctx, p.SeriesID)
	if err != nil {
		return nil, err
	}
	draft, err := s.st.DraftComments(ctx, p.UserID, p.SeriesID)
	if err != nil {
		return nil, err
	}
	if len(draft) == 0 && summary == "" && line == "" {
		return nil, fmt.Errorf("nothing to send: no pending comments, summary or verdict: %w", store.ErrInvalid)
	}
	if len(patches) == 0 {
		return nil, fmt.Errorf("series has no patches: %w", store.ErrInvalid)
	}
	// The text of the summary reply.
	var top strings.Builder
	if p.Verdict == store.VerdictChangesRequested {
		top.WriteString("I am requesting changes to this series before it is applied:\n\n")
	}
	top.WriteString(summary)
	if line != "" {
		if top.Len() > 0 {
			top.WriteString("\n\n")
		}
		top.WriteString(line)
	}
	// Where each part goes.
	everyPatch := se.CoverMessageID == "" && len(patches) > 1
	parts := map[string]*store.ReviewDraft{} // by the message answered
	var order []string
	part := func(parent string) *store.ReviewDraft {
		if d, ok := parts[parent]; ok {
			return d
		}
		d := &store.ReviewDraft{SeriesID: p.SeriesID, From: p.From, InReplyTo: parent}
		parts[parent] = d
		order = append(order, parent)
		return d
	}
	ids := map[string][]int64{} // draft comment ids by part
	for _, pt := range patches {
		for _, c := range draft {
			if c.PatchMessageID == pt.MessageID {
				d := part(pt.MessageID)
				d.Comments = append(d.Comments, c)
				ids[pt.MessageID] = append(ids[pt.MessageID], c.ID)
			}
		}
	}
	for _, c := range draft {
		if !slices.ContainsFunc(patches, func(pt store.Patch) bool { return pt.MessageID == c.PatchMessageID }) {
			return nil, fmt.Errorf("pending comment on %q, which is no patch of this series: %w", c.PatchMessageID, store.ErrInvalid)
		}
	}
	switch {
	case top.Len() == 0:
	case se.CoverMessageID != "":
		part(se.CoverMessageID).Summary = top.String()
	case !everyPatch:
		part(patches[0].MessageID).Summary = top.String()
	case line == "" || p.Verdict == store.VerdictChangesRequested:
		part(patches[0].MessageID).Summary = top.String()
	default: // several patches, no cover letter: the trailer on each
		part(patches[0].MessageID).Summary = summary
		for _, pt := range patches {
			d := part(pt.MessageID)
			d.Summary = strings.TrimSpace(d.Summary + "\n\n" + line)
		}
	}
	// Patches in order, the cover letter last.
	slices.SortStableFunc(order, func(a, b string) int {
		ia := slices.IndexFunc(patches, func(pt store.Patch) bool { return pt.MessageID == a })
		ib := slices.IndexFunc(patches, func(pt store.Patch) bool { return pt.MessageID == b })
		if ia < 0 {
			ia = len(patches)
		}
		if ib < 0 {
			ib = len(patches)
		}
		return ia - ib
	})
	var sent []string
	for _, parent := range order {
		msgid, _, err := s.SubmitReview(ctx, *parts[parent])
		if err != nil {
			return sent, err
		}
		sent = append(sent, msgid)
		if len(ids[parent]) > 0 {
			if err := s.st.DeleteDraftComments(ctx, p.UserID, p.SeriesID, ids[parent]); err != nil {
				return sent, err
			}
		}
	}
	return sent, s.st.DeleteDraftComments(ctx, p.UserID, p.SeriesID, nil)
}

// openIssues marks the comments of d that ask for it as open issues on
// reply msgid, the review just posted.
func (s *Service) openIssues(ctx context.Context, d store.ReviewDraft, msgid string) error {
	var rs []store.Resolution
	now := time.Now().UTC()
	for _, c := range d.Comments {
		if c.Issue && strings.TrimSpace(c.Body) != "" {
			rs = append(rs, store.Resolution{ReplyMessageID: msgid, PatchMessageID: c.PatchMessageID,
				File: c.File, Side: c.Side, Line: c.Line, By: d.From.Email, At: now})
		}
	}
	if len(rs) == 0 {
		return nil
	}
	return s.st.SetIssues(ctx, rs, true)
}
