package review

import (
	"context"
	"fmt"

	"patchwell/access"
	"patchwell/store"
)

// "Needs me": the open series that wait for one user (store.NeedsMe
// says which and why), on the lists they may read, with their checks;
// and the per-user feed token that lets a feed reader fetch them
// without signing in.

// feedTokenPrefix starts every feed token, as pwt_ starts API tokens.
const feedTokenPrefix = "pwf_"

// NeedsMe returns the series that need u (store.NeedsMe), only on the
// lists u may read (access.Allowed), each with its check counts.
func (s *Service) NeedsMe(ctx context.Context, u *store.User) ([]store.NeedItem, error) {
	if u == nil {
		return nil, nil
	}
	lists, err := s.st.Lists(ctx)
	if err != nil {
		return nil, err
	}
	roles, err := s.st.Roles(ctx, u.ID)
	if err != nil {
		return nil, err
	}
	q := store.NeedsMeQuery{UserID: u.ID, Emails: []string{u.Email}}
	for i := range lists {
		sub := access.Subject{User: u, Admin: u.Admin, Role: roles[lists[i].Name]}
		if access.Allowed(sub, &lists[i], access.Read) {
			q.Lists = append(q.Lists, lists[i].Name)
		}
	}
	items, err := s.st.NeedsMe(ctx, q)
	if err != nil || len(items) == 0 {
		return items, err
	}
	ids := make([]int64, len(items))
	for i := range items {
		ids[i] = items[i].ID
	}
	checks, err := s.st.CheckCounts(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range items {
		items[i].Stats.Checks = checks[items[i].ID]
	}
	return items, nil
}

// NewFeedToken gives a user a new feed token and returns it (shown
// once: only its hash is kept); the old one stops working.
func (s *Service) NewFeedToken(ctx context.Context, userID int64) (string, error) {
	tok, h := secret(feedTokenPrefix)
	if err := s.st.SetFeedToken(ctx, userID, h); err != nil {
		return "", fmt.Errorf("feed token: %w", err)
	}
	return tok, nil
}

// FeedUser is the owner of a feed token; store.ErrNotFound for an
// unknown (or replaced) token or a disabled account.
func (s *Service) FeedUser(ctx context.Context, token string) (*store.User, error) {
	return usable(s.st.FeedTokenUser(ctx, hashSecret(token)))
}

// HasFeedToken says whether a user has made a feed token.
func (s *Service) HasFeedToken(ctx context.Context, userID int64) (bool, error) {
	return s.st.HasFeedToken(ctx, userID)
}

// FetchMessages reads messages by row id, for the "Needs me" IMAP
// mailbox (store.DB.FetchMessages).
func (s *Service) FetchMessages(ctx context.Context, ids []int64, withRaw bool, fn func(m *store.MailboxMessage, raw []byte) error) error {
	return s.st.FetchMessages(ctx, ids, withRaw, fn)
}
