package review

import (
	"context"
	"fmt"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/store"
)

// ListsByActivity returns every list with its counts, the most recently
// active first.
func (s *Service) ListsByActivity(ctx context.Context) ([]store.List, error) {
	return s.st.ListsByActivity(ctx)
}

// FilterSeries returns a page of a list's series as f selects, newest
// first; store.ErrNotFound for an unknown list.
func (s *Service) FilterSeries(ctx context.Context, list string, f store.SeriesFilter) ([]store.Series, error) {
	if _, err := s.st.List(ctx, list); err != nil {
		return nil, err
	}
	return s.st.FilterSeries(ctx, list, f)
}

// ThreadSummaries returns a page of a list's threads, the most recently
// active first, with who started each.
func (s *Service) ThreadSummaries(ctx context.Context, list string, before, after uint32, limit int) ([]store.ThreadSummary, error) {
	return s.st.ThreadSummaries(ctx, list, before, after, limit)
}

// RecentMessages returns the newest messages of a list, or of every list
// for "", for the new.atom feeds.
func (s *Service) RecentMessages(ctx context.Context, list string, limit int) ([]store.Message, error) {
	return s.st.RecentMessages(ctx, list, limit)
}

// ThreadHeaders returns, by UID, the header fields a thread page shows on
// demand for each message of a message's thread: From, To, Cc, Subject,
// Date, Message-ID, In-Reply-To, References, decoded and one per line.
func (s *Service) ThreadHeaders(ctx context.Context, list, messageID string) (map[uint32]string, error) {
	m, err := s.st.Message(ctx, list, messageID)
	if err != nil {
		return nil, err
	}
	out := map[uint32]string{}
	err = s.st.WalkThread(ctx, m.ThreadID, func(m *store.Message, raw []byte) error {
		out[m.UID] = displayHeader(archive.ParseHeader(raw))
		return nil
	})
	return out, err
}

// displayHeader formats the fields of h a reader wants to see.
func displayHeader(h archive.Header) string {
	var b strings.Builder
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, value)
		}
	}
	from := h.From.Email
	if h.From.Name != "" {
		from = fmt.Sprintf("%s <%s>", h.From.Name, h.From.Email)
	}
	field("From", from)
	field("To", strings.Join(h.To, ", "))
	field("Cc", strings.Join(h.Cc, ", "))
	field("Subject", h.Subject)
	if !h.Date.IsZero() {
		field("Date", h.Date.Format(time.RFC1123Z))
	}
	if h.MessageID != "" {
		field("Message-ID", "<"+h.MessageID+">")
	}
	if h.InReplyTo != "" {
		field("In-Reply-To", "<"+h.InReplyTo+">")
	}
	if len(h.References) > 0 {
		field("References", "<"+strings.Join(h.References, ">\n  <")+">")
	}
	return b.String()
}
