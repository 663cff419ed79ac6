package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"

	"patchwell/archive"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Read caches. They hold data, never authorization decisions: whoever
// calls a Service method has already been allowed to read the list, and
// every key names the list, so nothing cached for one list is answered
// for another.
//
//   - Thread mboxes (t.mbox.gz, what b4 fetches) are cached gzipped, keyed
//     by list and store.ThreadVersion: a message added to the thread, or a
//     thread merged into it, changes the version, so the next request
//     builds a new mbox. An entry is kept only when the walk saw as many
//     messages as the version says.
//   - Decoded message bodies (the thread and message pages) and parsed
//     texts (cover letters and diffs of the series page) are keyed by the
//     message's sha256: the stored bytes never change.
//
// Both are bounded by bytes (otter, frequency- and recency-based
// eviction); concurrent misses of one key build it once (singleflight).
const (
	mboxCacheBytes = 64 << 20
	bodyCacheBytes = 32 << 20
	// maxCachedMbox: bigger gzipped threads are built per request.
	maxCachedMbox = 8 << 20
)

type mboxKey struct {
	list string
	v    store.ThreadVersion
}

type readCache struct {
	mbox   *otter.Cache[mboxKey, []byte]
	bodies *otter.Cache[string, string]     // sha256 hex -> messageBody
	texts  *otter.Cache[[32]byte, mailText] // sha256 -> parsed texts (series page)
	group  singleflight.Group
}

// mailText is what the series page shows of a parsed message.
type mailText struct {
	Body, Diff string
	Message    string // a patch's commit message, without its trailer block
	Automatic  bool   // a program wrote it (Auto-Submitted)
	OK         bool   // it parsed
}

func newReadCache() *readCache {
	return &readCache{
		mbox: otter.Must(&otter.Options[mboxKey, []byte]{
			MaximumWeight: mboxCacheBytes,
			Weigher:       func(k mboxKey, v []byte) uint32 { return uint32(len(v) + len(k.list) + 64) },
		}),
		bodies: otter.Must(&otter.Options[string, string]{
			MaximumWeight: bodyCacheBytes,
			Weigher:       func(k, v string) uint32 { return uint32(len(k) + len(v) + 32) },
		}),
		texts: otter.Must(&otter.Options[[32]byte, mailText]{
			MaximumWeight: bodyCacheBytes,
			Weigher:       func(_ [32]byte, v mailText) uint32 { return uint32(len(v.Body) + len(v.Diff) + 64) },
		}),
	}
}

// mailTexts parses raw, or finds it parsed already (by content hash).
func (c *readCache) mailTexts(raw []byte) mailText {
	sum := sha256.Sum256(raw)
	if t, ok := c.texts.GetIfPresent(sum); ok {
		return t
	}
	var t mailText
	if pm, err := patchmail.Parse(raw); err == nil {
		t = mailText{Body: pm.Body, Diff: pm.Diff, Message: patchmail.WithoutTrailers(pm.CommitMessage), Automatic: pm.Automatic, OK: true}
	}
	c.texts.Set(sum, t)
	return t
}

// ThreadMboxGz returns the whole thread of a message as gzipped mboxrd
// (public-inbox's t.mbox.gz) and an entity tag that changes with the
// thread; store.ErrNotFound for an unknown list or message.
func (s *Service) ThreadMboxGz(ctx context.Context, list, messageID string) ([]byte, string, error) {
	v, err := s.st.ThreadVersion(ctx, list, messageID)
	if err != nil {
		return nil, "", err
	}
	key := mboxKey{list: list, v: *v}
	etag := fmt.Sprintf(`"t%d-%d-%d"`, v.ThreadID, v.Messages, v.LastUID)
	if b, ok := s.c.mbox.GetIfPresent(key); ok {
		return b, etag, nil
	}
	sfKey := fmt.Sprintf("mbox\x00%s\x00%d\x00%d\x00%d", list, v.ThreadID, v.Messages, v.LastUID)
	b, err, _ := s.c.group.Do(sfKey, func() (any, error) {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		mw := archive.NewMboxWriter(zw)
		n := 0
		// Not the request's context: other requests may wait for this one.
		err := s.st.WalkThread(context.WithoutCancel(ctx), v.ThreadID, func(m *store.Message, raw []byte) error {
			n++
			return mw.Write(raw, "mboxrd@z", time.Time{})
		})
		if err == nil {
			err = zw.Close()
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("thread of %q: %w", messageID, store.ErrNotFound)
		}
		out := buf.Bytes()
		if n == v.Messages && len(out) <= maxCachedMbox {
			s.c.mbox.Set(key, out)
		}
		return out, nil
	})
	if err != nil {
		return nil, "", err
	}
	return b.([]byte), etag, nil
}

// threadBodies is ThreadBodies with the decoded bodies cached: when every
// message of the thread is cached, no raw message is read or parsed.
func (s *Service) threadBodies(ctx context.Context, list, messageID string) ([]store.Message, []string, error) {
	v, err := s.st.ThreadVersion(ctx, list, messageID)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.st.ThreadMessages(ctx, []int64{v.ThreadID})
	if err != nil {
		return nil, nil, err
	}
	bodies := make([]string, len(msgs))
	all := len(msgs) > 0
	for i := range msgs {
		b, ok := s.c.bodies.GetIfPresent(msgs[i].SHA256)
		if !ok {
			all = false
			break
		}
		bodies[i] = b
	}
	if all {
		return msgs, bodies, nil
	}
	msgs, bodies = msgs[:0], bodies[:0]
	err = s.st.WalkThread(ctx, v.ThreadID, func(m *store.Message, raw []byte) error {
		b, ok := s.c.bodies.GetIfPresent(m.SHA256)
		if !ok {
			b = messageBody(raw)
			s.c.bodies.Set(m.SHA256, b)
		}
		msgs = append(msgs, *m)
		bodies = append(bodies, b)
		return nil
	})
	if err == nil && len(msgs) == 0 {
		err = fmt.Errorf("thread of %q: %w", messageID, store.ErrNotFound)
	}
	return msgs, bodies, err
}

// messageBody is the text a page shows of a message: its decoded text
// body, with the diff when the body does not hold it; the raw bytes when
// the message does not parse.
func messageBody(raw []byte) string {
	pm, err := patchmail.Parse(raw)
	if err != nil {
		return string(raw)
	}
	body := pm.Body
	if pm.Diff != "" && !strings.Contains(body, pm.Diff) {
		body += "\n" + pm.Diff
	}
	return body
}

// Generation changes whenever the stored data changes; the web layer keys
// its page cache on it.
func (s *Service) Generation(ctx context.Context) (uint64, error) { return s.st.Generation(ctx) }
