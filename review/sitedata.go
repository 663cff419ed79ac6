package review

import (
	"context"

	"patchwell/store"
)

// What the web shows beside the archive: CI results, the mailing list's
// subscribers and held messages, lists' repositories. The Service reads
// them for the web as it reads the archive, so that the web has one road
// to its data; each method is its store's.

// SetCheck records a CI result on a series (or one of its patches),
// replacing the earlier result of the same context; store.ErrInvalid for
// a bad state or context, store.ErrNotFound for an unknown series.
func (s *Service) SetCheck(ctx context.Context, c *store.Check) (*store.Check, error) {
	return s.st.SetCheck(ctx, c)
}

// Checks returns a series' checks, by patch then context.
func (s *Service) Checks(ctx context.Context, seriesID int64) ([]store.Check, error) {
	return s.st.Checks(ctx, seriesID)
}

// CheckByID returns one check; store.ErrNotFound for an unknown id.
func (s *Service) CheckByID(ctx context.Context, id int64) (*store.Check, error) {
	return s.st.CheckByID(ctx, id)
}

// Subscribers lists a list's subscribers in state ("" for all).
func (s *Service) Subscribers(ctx context.Context, list, state string) ([]store.Subscriber, error) {
	return s.st.Subscribers(ctx, list, state)
}

// HeldMessages lists a list's held messages in state ("" for all).
func (s *Service) HeldMessages(ctx context.Context, list, state string) ([]store.Held, error) {
	return s.st.HeldMessages(ctx, list, state)
}

// HeldMessage returns a held message with its raw bytes;
// store.ErrNotFound for an unknown id.
func (s *Service) HeldMessage(ctx context.Context, id int64) (*store.Held, error) {
	return s.st.HeldMessage(ctx, id)
}

// MessageAuth returns the JSON package lists keeps with a message about
// its authentication and any maintainer command it carried;
// store.ErrNotFound when there is none.
func (s *Service) MessageAuth(ctx context.Context, list, messageID string) (string, error) {
	return s.st.MessageAuth(ctx, list, messageID)
}

// ListRepo returns a list's repository; store.ErrNotFound when it has
// none.
func (s *Service) ListRepo(ctx context.Context, list string) (*store.ListRepo, error) {
	return s.st.ListRepo(ctx, list)
}

// AppliedSeries returns the commits a series was applied as;
// store.ErrNotFound when it was not.
func (s *Service) AppliedSeries(ctx context.Context, seriesID int64) (*store.Applied, error) {
	return s.st.AppliedSeries(ctx, seriesID)
}
