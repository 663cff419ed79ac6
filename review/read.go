package review

import (
	"context"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/store"
)

// Thread returns the thread of a message: its summary and its messages in
// arrival order, without bodies; store.ErrNotFound for an unknown list or
// message.
func (s *Service) Thread(ctx context.Context, list, messageID string) (*store.Thread, []store.Message, error) {
	v, err := s.st.ThreadVersion(ctx, list, messageID)
	if err != nil {
		return nil, nil, err
	}
	th, err := s.st.Thread(ctx, v.ThreadID)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.st.ThreadMessages(ctx, []int64{v.ThreadID})
	if err != nil {
		return nil, nil, err
	}
	return th, msgs, nil
}

// MessageDetail returns one message's metadata, its header fields in order
// and its decoded text body (as the pages show it); store.ErrNotFound for
// an unknown list or message.
func (s *Service) MessageDetail(ctx context.Context, list, messageID string) (*store.Message, []core.Header, string, error) {
	m, err := s.st.Message(ctx, list, messageID)
	if err != nil {
		return nil, nil, "", err
	}
	raw, err := s.st.Raw(ctx, list, messageID)
	if err != nil {
		return nil, nil, "", err
	}
	body, ok := s.c.bodies.GetIfPresent(m.SHA256)
	if !ok {
		body = messageBody(raw)
		s.c.bodies.Set(m.SHA256, body)
	}
	return m, archive.Fields(raw), body, nil
}

// MessageExists returns nil when list has a message with that Message-ID,
// store.ErrNotFound when not: one indexed lookup of few columns.
func (s *Service) MessageExists(ctx context.Context, list, messageID string) error {
	_, err := s.st.ThreadVersion(ctx, list, messageID)
	return err
}
