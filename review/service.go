package review

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/mailauth"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Service answers the read side: lists, series with the trailers their
// replies gave, threads and raw messages; with an Ingester it also posts
// what patchwell writes on a thread (web reviews, replies). It is the
// web's one road to the data of every area (archive, reviews, checks,
// the mailing list, repositories), so it holds the whole store; the web
// sees only the small interfaces of web/reader.go.
type Service struct {
	st          store.Store
	rangeDiffer RangeDiffer // nil: revision diffs are diffs of diffs
	// in and domain post web reviews and replies; nil: read only.
	in     *Ingester
	domain string
	c      *readCache // threadcache.go
	dc     *dashCache // dashboard.go
	// mailinfo canonicalises signed mail for the developer-signature
	// checks (devsig.go); nil: signatures are not checked.
	mailinfo mailauth.Mailinfo
}

// ServiceConfig is what a Service that writes needs (New).
type ServiceConfig struct {
	// Ingester posts web reviews and replies (the one road to a list);
	// Domain is the mail domain they are written under.
	Ingester *Ingester
	Domain   string
	// RangeDiffer, when set, gives revision diffs as git range-diff.
	RangeDiffer RangeDiffer
	// Mailinfo is git mailinfo (gitrepo.Mailinfo), for checking the
	// developer signatures (patatt) of series; nil shows none.
	Mailinfo mailauth.Mailinfo
}

// NewService returns a read-only Service on st.
func NewService(st store.Store) *Service { return New(st, ServiceConfig{}) }

// New returns a Service on st, posting through cfg.Ingester.
func New(st store.Store, cfg ServiceConfig) *Service {
	return &Service{st: st, in: cfg.Ingester, domain: cfg.Domain, rangeDiffer: cfg.RangeDiffer, mailinfo: cfg.Mailinfo, c: newReadCache(), dc: &dashCache{}}
}

// Lists returns every list with its counts.
func (s *Service) Lists(ctx context.Context) ([]store.List, error) { return s.st.Lists(ctx) }

// List returns one list; store.ErrNotFound if there is none.
func (s *Service) List(ctx context.Context, name string) (*store.List, error) {
	return s.st.List(ctx, name)
}

// SeriesList returns the series of a list, newest first.
func (s *Service) SeriesList(ctx context.Context, list, status string, p store.Page) ([]store.Series, error) {
	if _, err := s.st.List(ctx, list); err != nil {
		return nil, err
	}
	return s.st.SeriesList(ctx, list, status, p)
}

// Threads returns the threads of a list, most recently active first.
func (s *Service) Threads(ctx context.Context, list string, p store.Page) ([]store.Thread, error) {
	if _, err := s.st.List(ctx, list); err != nil {
		return nil, err
	}
	return s.st.Threads(ctx, list, p)
}

// Raw returns the stored bytes of a message.
func (s *Service) Raw(ctx context.Context, list, messageID string) ([]byte, error) {
	return s.st.Raw(ctx, list, messageID)
}

// Message returns a message's metadata (no raw bytes): a cheap existence
// check for the URLs b4 probes.
func (s *Service) Message(ctx context.Context, list, messageID string) (*store.Message, error) {
	return s.st.Message(ctx, list, messageID)
}

// ListOf returns the list holding a message, for the /all/ inbox that
// spans lists.
func (s *Service) ListOf(ctx context.Context, messageID string) (string, error) {
	m, err := s.st.FindMessage(ctx, messageID)
	if err != nil {
		return "", err
	}
	return m.List, nil
}

// ThreadMbox writes the whole thread of a message as mboxrd, in arrival
// order: what public-inbox serves as t.mbox.gz and b4 fetches. It returns
// store.ErrNotFound, before writing anything, for an unknown message.
func (s *Service) ThreadMbox(ctx context.Context, list, messageID string, w io.Writer) error {
	m, err := s.st.Message(ctx, list, messageID)
	if err != nil {
		return err
	}
	mw := archive.NewMboxWriter(w)
	return s.st.WalkThread(ctx, m.ThreadID, func(m *store.Message, raw []byte) error {
		return mw.Write(raw, "mboxrd@z", time.Time{})
	})
}

// Series returns a series and its patches, each patch carrying its own
// trailers followed by those collected from replies, as b4 collects them:
// a reply (at any depth) to patch i attaches to patch i, a reply to the
// cover letter to every patch.
func (s *Service) Series(ctx context.Context, id int64) (*store.Series, []store.Patch, error) {
	se, err := s.st.Series(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	patches, err := s.st.Patches(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := s.st.ThreadMessages(ctx, []int64{se.ThreadID})
	if err != nil {
		return nil, nil, err
	}
	CollectTrailers(se, patches, msgs)
	if err := s.carryTrailers(ctx, se, patches); err != nil {
		return nil, nil, err
	}
	return se, patches, nil
}

// carryTrailers adds to each patch the trailers replies gave the same
// change (the same patch-id) in earlier revisions, as b4 trailers -u
// does, marked with the version they were given on: a Reviewed-by on
// v2's patch 2 stays with v3's identical patch 2, on its page, in its
// mbox and in the commit apply makes. Up to maxCarry revisions back.
func (s *Service) carryTrailers(ctx context.Context, se *store.Series, patches []store.Patch) error {
	want := map[string][]int{} // patch-id -> indexes into patches
	for i, p := range patches {
		if p.PatchID != "" {
			want[p.PatchID] = append(want[p.PatchID], i)
		}
	}
	prevID := se.Previous
	for depth := 0; prevID != 0 && depth < maxCarry && len(want) > 0; depth++ {
		prev, err := s.st.Series(ctx, prevID)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		pps, err := s.st.Patches(ctx, prev.ID)
		if err != nil {
			return err
		}
		msgs, err := s.st.ThreadMessages(ctx, []int64{prev.ThreadID})
		if err != nil {
			return err
		}
		CollectTrailers(prev, pps, msgs)
		carryInto(patches, want, prev, pps)
		prevID = prev.Previous
	}
	return nil
}

// hasTrailer reports whether ts holds t's key and value (case aside).
func hasTrailer(ts []core.Trailer, t core.Trailer) bool {
	for _, x := range ts {
		if strings.EqualFold(x.Key, t.Key) && strings.EqualFold(x.Value, t.Value) {
			return true
		}
	}
	return false
}

// SeriesInfo returns a series' own row, without patches or trailers: what
// the web's access checks need.
func (s *Service) SeriesInfo(ctx context.Context, id int64) (*store.Series, error) {
	return s.st.Series(ctx, id)
}

// CollectTrailers adds to patches the trailers that replies among msgs
// (the messages of the series' thread, in arrival order) gave them.
func CollectTrailers(se *store.Series, patches []store.Patch, msgs []store.Message) {
	byID := make(map[string]*store.Message, len(msgs))
	for i := range msgs {
		if _, ok := byID[msgs[i].MessageID]; !ok {
			byID[msgs[i].MessageID] = &msgs[i]
		}
	}
	patchAt := map[string]int{}
	for i := range patches {
		patchAt[patches[i].MessageID] = i
	}
	type key struct{ k, v string }
	seen := make([]map[key]bool, len(patches))
	for i := range patches {
		seen[i] = map[key]bool{}
		for _, t := range patches[i].Trailers {
			seen[i][key{strings.ToLower(t.Key), strings.ToLower(t.Value)}] = true
		}
		if patches[i].Trailers == nil {
			patches[i].Trailers = []core.Trailer{}
		}
	}
	add := func(i int, t core.Trailer, from string) {
		if t.Key == patchmail.ChangesRequestedKey {
			return // a verdict (verdicts.go), never a commit's trailer
		}
		k := key{strings.ToLower(t.Key), strings.ToLower(t.Value)}
		if seen[i][k] {
			return
		}
		seen[i][k] = true
		t.FromMessageID = from
		patches[i].Trailers = append(patches[i].Trailers, t)
	}
	for i := range msgs {
		m := &msgs[i]
		if len(m.Trailers) == 0 || m.Kind != core.KindReply {
			continue
		}
		parent := m.InReplyTo
		for hops := 0; parent != "" && hops < 100; hops++ {
			if pi, ok := patchAt[parent]; ok {
				for _, t := range m.Trailers {
					add(pi, t, m.MessageID)
				}
				break
			}
			if se.CoverMessageID != "" && parent == se.CoverMessageID {
				for pi := range patches {
					for _, t := range m.Trailers {
						add(pi, t, m.MessageID)
					}
				}
				break
			}
			pm := byID[parent]
			if pm == nil || (pm.SeriesID != 0 && pm.SeriesID != se.ID) {
				break
			}
			parent = pm.InReplyTo
		}
	}
}

// ParseTitle returns a subject without its reply markers and [tags].
func ParseTitle(subject string) string { return patchmail.ParseSubject(subject).Title }

// SeriesTexts returns what a series page shows besides the metadata: the
// cover letter's text, and each patch's diff and commit message (as git
// mailinfo gives it: what git am makes the commit's body), by patch
// index.
func (s *Service) SeriesTexts(ctx context.Context, id int64) (string, map[int]string, map[int]string, error) {
	se, patches, err := s.Series(ctx, id)
	if err != nil {
		return "", nil, nil, err
	}
	var cover string
	if se.CoverMessageID != "" {
		if raw, err := s.st.Raw(ctx, se.List, se.CoverMessageID); err == nil {
			if t := s.c.mailTexts(raw); t.OK {
				cover = withoutGitSignature(t.Body)
			}
		}
	}
	diffs := make(map[int]string, len(patches))
	messages := make(map[int]string, len(patches))
	for _, p := range patches {
		raw, err := s.st.Raw(ctx, se.List, p.MessageID)
		if err != nil {
			return "", nil, nil, err
		}
		if t := s.c.mailTexts(raw); t.OK {
			diffs[p.Index], messages[p.Index] = t.Diff, t.Message
		}
	}
	return cover, diffs, messages, nil
}

// ThreadBodies returns the messages of a message's thread in arrival order
// with their decoded text bodies (cached: threadcache.go).
func (s *Service) ThreadBodies(ctx context.Context, list, messageID string) ([]store.Message, []string, error) {
	return s.threadBodies(ctx, list, messageID)
}

// ListInfo returns a list without its counts: what access checks need on
// every request, cheaply.
func (s *Service) ListInfo(ctx context.Context, name string) (*store.List, error) {
	return s.st.ListInfo(ctx, name)
}

// ListsOf names every list holding a message, in name order, for the
// /all/ inbox to pick one its reader may see.
func (s *Service) ListsOf(ctx context.Context, messageID string) ([]string, error) {
	return s.st.MessageLists(ctx, messageID)
}

// withoutGitSignature drops from a cover letter's text the signature git
// format-patch puts under it ("-- " and git's version, "2.39.5"): noise
// on a page. A signature a person wrote stays.
func withoutGitSignature(body string) string {
	t := strings.TrimRight(body, "\n")
	i := strings.LastIndex(t, "\n-- \n")
	if i < 0 {
		return body
	}
	if sig := strings.TrimSpace(t[i+len("\n-- \n"):]); gitVersion(sig) {
		return t[:i+1]
	}
	return body
}
