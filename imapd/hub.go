package imapd

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// patchKinds are the kinds of message a NAME/patches mailbox holds.
var patchKinds = []string{core.KindPatch, core.KindCover}

// mailbox is the shared, append-only index of one mailbox: the UIDs of
// its messages in order. Sequence number n is uids[n-1] for every
// session (the archive never expunges), so a session keeps only how many
// it has been told about. Slices handed out are never written again:
// appends past their length do not touch them.
type mailbox struct {
	name    string
	listID  int64
	patches bool // only patch mail (NAME/patches)
	// virtual: a "Needs me" mailbox (needsme.go), one session's, not
	// the hub's: its UIDs are row ids across lists.
	virtual bool

	mu      sync.Mutex
	uids    []uint32
	changed chan struct{} // closed (and replaced) when uids grows
}

// view returns the UIDs as they are now and a channel closed when more
// arrive.
func (m *mailbox) view() ([]uint32, <-chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.uids[:len(m.uids):len(m.uids)], m.changed
}

func (m *mailbox) kinds() []string {
	if m.patches {
		return patchKinds
	}
	return nil
}

func (m *mailbox) wants(kind string) bool {
	if !m.patches {
		return true
	}
	for _, k := range patchKinds {
		if k == kind {
			return true
		}
	}
	return false
}

// hub keeps the mailbox indexes that sessions have opened and brings them
// up to date: one watcher for every session, woken by Notify (a commit in
// this process) or by its poll of the store's generation (a commit by
// another process, such as `patchwell import`).
type hub struct {
	st       Store
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	boxes  map[string]*mailbox // by mailbox name
	byList map[int64][]*mailbox
	// heads maps each list with loaded boxes to its next UID as they
	// know it: every message with a UID below it is in them. (A list's
	// UIDs are dense and follow commit order on every store, as row ids
	// across lists are not on PostgreSQL.)
	heads map[int64]uint32
	gen   uint64

	kick chan struct{}
}

func newHub(st Store, log *slog.Logger, interval time.Duration) *hub {
	return &hub{st: st, log: log, interval: interval, boxes: map[string]*mailbox{},
		byList: map[int64][]*mailbox{}, heads: map[int64]uint32{}, kick: make(chan struct{}, 1)}
}

// start reads where the archive is and runs the watcher until ctx ends.
func (h *hub) start(ctx context.Context) error {
	gen, err := h.st.Generation(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	h.gen = gen
	h.mu.Unlock()
	go h.watch(ctx)
	go h.preload(ctx)
	return nil
}

// preload loads every list's mailboxes in the background, so that even
// the first SELECT of a list finds its index ready.
func (h *hub) preload(ctx context.Context) {
	lists, err := h.st.Lists(ctx)
	if err != nil {
		return
	}
	for i := range lists {
		for _, patches := range []bool{false, true} {
			if _, err := h.open(ctx, &lists[i], patches); err != nil {
				if ctx.Err() == nil {
					h.log.Warn("imap preload", "list", lists[i].Name, "err", err)
				}
				return
			}
		}
	}
}

// notify wakes the watcher now.
func (h *hub) notify() {
	select {
	case h.kick <- struct{}{}:
	default:
	}
}

// changeNotifier is a store that signals commits of every process, as
// the PostgreSQL store does with LISTEN/NOTIFY: the watcher then hears of
// another node's mail at once rather than at its next poll.
type changeNotifier interface {
	Changes() <-chan struct{}
}

func (h *hub) watch(ctx context.Context) {
	t := time.NewTicker(h.interval)
	defer t.Stop()
	var changes <-chan struct{}
	if cn, ok := h.st.(changeNotifier); ok {
		changes = cn.Changes()
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.kick:
		case <-changes:
		}
		if err := h.refresh(ctx); err != nil && ctx.Err() == nil {
			h.log.Warn("imap watcher", "err", err)
		}
	}
}

// refresh appends what was committed since the last look to the loaded
// mailboxes and wakes their sessions.
func (h *hub) refresh(ctx context.Context) error {
	gen, err := h.st.Generation(ctx)
	if err != nil {
		return err
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen == h.gen {
		return nil
	}
	heads, err := h.st.ListHeads(ctx)
	if err != nil {
		return err
	}
	grown := map[*mailbox]bool{}
	for list, boxes := range h.byList {
		from, to := h.heads[list], heads[list]
		if to <= from {
			continue
		}
		es, err := h.st.MailboxEntries(ctx, list, from, to)
		if err != nil {
			return err
		}
		for _, e := range es {
			for _, m := range boxes {
				if m.wants(e.Kind) {
					m.mu.Lock()
					if n := len(m.uids); n == 0 || m.uids[n-1] < e.UID {
						m.uids = append(m.uids, e.UID)
						grown[m] = true
					}
					m.mu.Unlock()
				}
			}
		}
		h.heads[list] = to
	}
	for m := range grown {
		m.mu.Lock()
		close(m.changed)
		m.changed = make(chan struct{})
		m.mu.Unlock()
	}
	h.gen = gen
	return nil
}

// open returns the index of a list's mailbox, loading it on first use.
func (h *hub) open(ctx context.Context, l *store.List, patches bool) (*mailbox, error) {
	name := l.Name
	if patches {
		name += "/patches"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if m := h.boxes[name]; m != nil && m.listID == l.ID {
		return m, nil
	}
	// Up to the list's head as the other boxes know it, or as it is now
	// for the first: refresh brings what comes after.
	head, ok := h.heads[l.ID]
	if !ok {
		heads, err := h.st.ListHeads(ctx)
		if err != nil {
			return nil, err
		}
		head = max(heads[l.ID], 1)
	}
	es, err := h.st.MailboxEntries(ctx, l.ID, 1, head)
	if err != nil {
		return nil, err
	}
	m := &mailbox{name: name, listID: l.ID, patches: patches, changed: make(chan struct{})}
	for _, e := range es {
		if m.wants(e.Kind) {
			m.uids = append(m.uids, e.UID)
		}
	}
	sort.Slice(m.uids, func(i, j int) bool { return m.uids[i] < m.uids[j] })
	h.boxes[name] = m
	h.byList[l.ID] = append(h.byList[l.ID], m)
	h.heads[l.ID] = head
	return m, nil
}
