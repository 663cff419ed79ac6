package review

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"patchwell/access"
	"patchwell/archive"
	"patchwell/core"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// Prepared is one message parsed and compressed, ready to be stored.
// Preparing is the CPU-heavy part of ingest and runs outside the write
// transaction, in parallel.
type Prepared struct {
	msg  store.NewMessage
	mail *patchmail.Mail // nil when the body could not be parsed
}

// Prepare parses raw (header, MIME, patch) and compresses it.
func Prepare(raw []byte, arrived time.Time) *Prepared { return prepare(raw, arrived, nil) }

// prepare is Prepare with the sender taken from submitter, when not nil
// (Post.Submitter), rather than From:.
func prepare(raw []byte, arrived time.Time, submitter *core.Person) *Prepared {
	h := archive.ParseHeader(raw)
	if submitter != nil {
		h.From = *submitter
	}
	p := &Prepared{msg: store.NewMessage{
		Raw:        raw,
		MessageID:  h.MessageID,
		InReplyTo:  h.InReplyTo,
		References: h.References,
		Subject:    h.Subject,
		From:       h.From,
		Date:       h.Date,
		Arrived:    arrived,
	}}
	if p.msg.Date.IsZero() {
		// No (or no readable) Date: the arrival dates it everywhere.
		p.msg.Date = arrived
	}
	p.msg.From.Email = strings.ToLower(p.msg.From.Email)
	if h.Unparsable {
		p.msg.Flags |= store.FlagUnparsable
	}
	if p.msg.MessageID == "" {
		p.msg.MessageID = archive.GenerateMessageID(raw)
		p.msg.Flags |= store.FlagNoMessageID
	}
	if !h.Unparsable {
		mail, err := patchmail.Parse(raw)
		if err != nil {
			p.msg.Flags |= store.FlagUnparsable
		} else {
			p.mail = mail
			if mail.TooDeep {
				p.msg.Flags |= store.FlagTooDeep
			}
		}
	}
	p.msg.Kind = kindOf(p)
	if p.msg.Kind == core.KindPatch || p.msg.Kind == core.KindCover {
		p.msg.Stem = stemOf(p.msg.MessageID)
		if p.mail != nil {
			p.msg.Clues = &store.SeriesClues{Subject: NormalizeSubject(p.mail.Subject.Title), ChangeID: p.mail.ChangeID,
				CommitSubject: p.mail.CommitSubject, PatchID: p.mail.PatchID}
		}
	}
	if p.mail != nil && p.msg.Kind == core.KindReply {
		// As b4 does, a reply's person trailers count only when they name
		// its sender (a quoted-without-">" trailer of someone else does not).
		for _, t := range p.mail.Trailers {
			if patchmail.FromSender(t, p.msg.From) {
				p.msg.Trailers = append(p.msg.Trailers, t)
			}
		}
		// A request for changes is kept with them (verdicts.go); the
		// trailers collected into commits leave it out.
		if v, ok := patchmail.ChangesRequested(p.mail.Body); ok && !p.mail.Automatic {
			p.msg.Trailers = append(p.msg.Trailers, core.Trailer{Key: patchmail.ChangesRequestedKey, Value: v})
		}
	}
	p.msg.Search = searchDoc(h.To, h.Cc, p.mail)
	if p.msg.Kind == core.KindPatch || p.msg.Kind == core.KindCover {
		p.msg.Rcpts = append(append([]string(nil), h.To...), h.Cc...)
	}
	// A big message's MIME structure is kept, for IMAP to serve its parts
	// without parsing it (nil for the others). It fails only on a
	// cancelled context, which this one is not.
	p.msg.Structure, _ = archive.Structure(context.Background(), raw)
	p.msg.Prepare()
	return p
}

func kindOf(p *Prepared) string {
	if p.mail != nil {
		switch p.mail.Kind {
		case patchmail.KindPatch:
			return core.KindPatch
		case patchmail.KindCover:
			return core.KindCover
		case patchmail.KindPull:
			return core.KindPull
		}
		if p.mail.Subject.Reply {
			return core.KindReply
		}
	}
	if p.msg.InReplyTo != "" {
		return core.KindReply
	}
	return core.KindOther
}

// MessageID is the (possibly generated) Message-ID of the prepared message.
func (p *Prepared) MessageID() string { return p.msg.MessageID }

// Flags are the flags the message will be stored with.
func (p *Prepared) Flags() store.Flags { return p.msg.Flags }

// IngestStore is what the Ingester asks of the store: the lists (and
// who may post to a private one) to check a post, and Update for the
// write transaction everything else happens in.
type IngestStore interface {
	List(ctx context.Context, name string) (*store.List, error)
	ListInfo(ctx context.Context, name string) (*store.List, error)
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	Role(ctx context.Context, userID int64, list string) (string, error)
	Update(ctx context.Context, fn func(store.Tx) error) error
}

// Ingester is the one road by which a message reaches a list, whatever
// its source: SMTP and LMTP (through package lists, which applies the
// list's policy first), web reviews, CI summaries, "Applied, thanks"
// replies (Post), and imports (Import, the batch path). In one
// transaction it archives the message, threads it, assembles series and
// revisions and queues it to the list's subscribers (Config.Distribute);
// after the commit it tells the commit hooks (Subscribe): IMAP IDLE, CI,
// metrics. Concurrent Posts share one transaction (group commit).
type Ingester struct {
	st         IngestStore
	log        *slog.Logger
	distribute Distributor

	mu    sync.RWMutex
	lists map[string]int64

	queue chan *delivery
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	hooksMu sync.RWMutex
	hooks   []func(Committed) // Subscribe
}

// delivery is one call's posts, stored in one transaction or not at all.
type delivery struct {
	posts []Post
	ps    []*Prepared
	err   chan error
	// outcomes are what storeAll did with each post in each of its lists
	// ("stored", "flagged", "duplicate"), in order, told to the hooks
	// once the transaction commits.
	outcomes []string
}

// Committed is what one commit of the Ingester stored, as its hooks are
// told after the transaction committed.
type Committed struct {
	// Lists are the lists the commit added messages to (each once).
	Lists []string
	// Outcomes are, for each list a posted message went to, what became
	// of it: "stored", "flagged" (stored with a flag: unparsable, no or
	// reused Message-ID) or "duplicate" (for metrics). An import's batch
	// has none: it is not counted as posts are.
	Outcomes []string
}

// Subscribe has fn told of every commit, after it (the commit hook):
// fn runs on the committing goroutine and must not block.
func (in *Ingester) Subscribe(fn func(Committed)) {
	in.hooksMu.Lock()
	in.hooks = append(in.hooks, fn)
	in.hooksMu.Unlock()
}

func (in *Ingester) publish(c Committed) {
	if len(c.Lists) == 0 && len(c.Outcomes) == 0 {
		return
	}
	in.hooksMu.RLock()
	defer in.hooksMu.RUnlock()
	for _, fn := range in.hooks {
		fn(c)
	}
}

// Post is a message on its way to lists.
type Post struct {
	Lists []string
	Raw   []byte
	// Distribute queues the message to each list's subscribers in the
	// archiving transaction (not for automatic mail: auto-replies,
	// bounces, bulk).
	Distribute bool
	// RewriteFrom sends it "From: NAME via LIST" (its author's domain
	// publishes a DMARC policy that would make receivers refuse it).
	RewriteFrom bool
	// Also are addresses it goes to besides the subscribers (a web
	// review's To and Cc), once each.
	Also []string
	// Submitter is who sent it, when its source authenticated them and
	// its From: names someone else (a series sent from the browser is
	// "NAME via LIST" for DMARC's sake): the message, its series and
	// their revisions are theirs. nil takes From:.
	Submitter *core.Person
}

// Distributor queues an archived message to a list's subscribers, in the
// transaction that archived it (outbound.Queue.Distribute).
// also are more recipients than the list's subscribers, each sent one
// copy at most.
type Distributor func(ctx context.Context, tx store.Tx, list *store.List, a *store.Added, raw []byte, rewriteFrom bool, also []string) error

// Config is what an Ingester needs besides its store.
type Config struct {
	Log *slog.Logger
	// Distribute queues posts to subscribers; nil leaves them archived
	// only (import, reindex, commands that post no mail).
	Distribute Distributor
}

// NewIngester starts an Ingester on st; Close stops it.
func NewIngester(st IngestStore, cfg Config) *Ingester {
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Ingester{
		st:         st,
		log:        log,
		distribute: cfg.Distribute,
		lists:      map[string]int64{},
		queue:      make(chan *delivery, 1024),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	go in.commitLoop()
	return in
}

// Close waits for queued deliveries to be committed and stops.
func (in *Ingester) Close() error {
	in.once.Do(func() { close(in.stop) })
	<-in.done
	return nil
}

// ListID resolves a list name; store.ErrNotFound if there is none.
func (in *Ingester) ListID(ctx context.Context, name string) (int64, error) {
	in.mu.RLock()
	id, ok := in.lists[name]
	in.mu.RUnlock()
	if ok {
		return id, nil
	}
	l, err := in.st.List(ctx, name)
	if err != nil {
		return 0, err
	}
	in.mu.Lock()
	in.lists[name] = l.ID
	in.mu.Unlock()
	return l.ID, nil
}

// ListExists reports whether name is a list.
func (in *Ingester) ListExists(ctx context.Context, name string) (bool, error) {
	_, err := in.ListID(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// MayPost decides, with access.Allowed, whether mail from the envelope
// sender mailFrom may be posted to list (the SMTP server asks at RCPT
// time). The subject is the user whose address is mailFrom, with their
// role on the list; an unknown address, the null sender "" and anything
// else are anonymous. So a public or unlisted list takes mail from
// anyone, a private one only from its members and site admins. The
// envelope sender is only a claim (see the access package doc): this
// keeps outsiders' mail off a private list, it does not authenticate
// members. store.ErrNotFound for an unknown list.
func (in *Ingester) MayPost(ctx context.Context, list, mailFrom string) (bool, error) {
	l, err := in.st.ListInfo(ctx, list)
	if err != nil {
		return false, err
	}
	if anyone := access.Allowed(access.Subject{}, l, access.Post); anyone || mailFrom == "" {
		return anyone, nil
	}
	// Accounts' addresses compare without regard to case (the store's
	// users.email is COLLATE NOCASE).
	u, err := in.st.UserByEmail(ctx, mailFrom)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	role, err := in.st.Role(ctx, u.ID, l.Name)
	if err != nil {
		return false, err
	}
	return access.Allowed(access.Subject{User: u, Admin: u.Admin, Role: role}, l, access.Post), nil
}

// Post stores p.Raw in each of p.Lists (and queues it to their
// subscribers when p.Distribute) and returns nil once that is durable;
// the commit hooks are told. Concurrent calls share one transaction and
// one fsync.
func (in *Ingester) Post(ctx context.Context, p Post) error {
	return in.PostAll(ctx, []Post{p})
}

// PostAll is Post for several messages that go together (a series sent
// from the web or by b4): all of them are stored, in order, in one
// transaction, or none is.
func (in *Ingester) PostAll(ctx context.Context, posts []Post) error {
	if len(posts) == 0 {
		return nil
	}
	d := &delivery{posts: posts, err: make(chan error, 1)}
	now := time.Now()
	for _, p := range posts {
		for _, l := range p.Lists {
			if _, err := in.ListID(ctx, l); err != nil {
				return err
			}
		}
		d.ps = append(d.ps, prepare(p.Raw, now, p.Submitter))
	}
	select {
	case in.queue <- d:
	case <-ctx.Done():
		return ctx.Err()
	case <-in.stop:
		return errors.New("ingester stopped")
	}
	select {
	case err := <-d.err:
		return err
	case <-ctx.Done():
		// The transaction may still commit; the sender retries after our
		// 4xx and the duplicate is recognised by its hash.
		return ctx.Err()
	}
}

const maxGroup = 256

func (in *Ingester) commitLoop() {
	defer close(in.done)
	for {
		var first *delivery
		select {
		case first = <-in.queue:
		case <-in.stop:
			// Drain what is queued, then stop.
			for {
				select {
				case d := <-in.queue:
					in.commit([]*delivery{d})
				default:
					return
				}
			}
		}
		batch := []*delivery{first}
	fill:
		for len(batch) < maxGroup {
			select {
			case d := <-in.queue:
				batch = append(batch, d)
			default:
				break fill
			}
		}
		in.commit(batch)
	}
}

func (in *Ingester) commit(batch []*delivery) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := in.st.Update(ctx, func(tx store.Tx) error {
		b := NewBatch(tx)
		for _, d := range batch {
			if err := in.storeAll(ctx, b, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil || len(batch) == 1 {
		if err == nil {
			in.publish(committed(batch))
		}
		for _, d := range batch {
			d.err <- err
		}
		return
	}
	// One message spoiled the group: retry each alone so the others land.
	for _, d := range batch {
		err := in.st.Update(ctx, func(tx store.Tx) error { return in.storeAll(ctx, NewBatch(tx), d) })
		if err == nil {
			in.publish(committed([]*delivery{d}))
		}
		d.err <- err
	}
}

// committed is what a committed batch of posts tells the hooks.
func committed(batch []*delivery) Committed {
	var c Committed
	seen := map[string]bool{}
	for _, d := range batch {
		c.Outcomes = append(c.Outcomes, d.outcomes...)
		i := 0
		for _, p := range d.posts {
			for _, l := range p.Lists {
				if !seen[l] && i < len(d.outcomes) && d.outcomes[i] != "duplicate" {
					seen[l] = true
					c.Lists = append(c.Lists, l)
				}
				i++
			}
		}
	}
	return c
}

func (in *Ingester) storeAll(ctx context.Context, b *Batch, d *delivery) error {
	d.outcomes = d.outcomes[:0] // a retry starts afresh
	for i, p := range d.posts {
		if err := in.storePost(ctx, b, d, p, d.ps[i]); err != nil {
			return err
		}
	}
	return nil
}

func (in *Ingester) storePost(ctx context.Context, b *Batch, d *delivery, post Post, prep *Prepared) error {
	for _, l := range post.Lists {
		id, err := in.ListID(ctx, l)
		if err != nil {
			return err
		}
		a, err := in.Store(ctx, b, id, prep)
		if err != nil {
			return fmt.Errorf("list %s: %w", l, err)
		}
		switch {
		case a.Duplicate:
			d.outcomes = append(d.outcomes, "duplicate")
		case a.Flags != 0:
			d.outcomes = append(d.outcomes, "flagged")
		default:
			d.outcomes = append(d.outcomes, "stored")
		}
		if !a.Duplicate {
			in.log.Info("archived", "list", l, "msgid", a.MessageID, "uid", a.UID, "kind", a.Kind, "series", a.SeriesID)
			if post.Distribute && in.distribute != nil {
				info, err := in.st.ListInfo(ctx, l)
				if err != nil {
					return fmt.Errorf("list %s: %w", l, err)
				}
				if err := in.distribute(ctx, b.tx, info, a, post.Raw, post.RewriteFrom, post.Also); err != nil {
					return fmt.Errorf("list %s: %w", l, err)
				}
			}
		}
	}
	return nil
}

// Batch is one write transaction of the Ingester, with what series
// assembly reads again and again cached for its length: the series and
// the patch slots taken in them. Every change is written through at once,
// so the cache never holds anything the transaction has not.
type Batch struct {
	tx      store.Tx
	series  map[int64]*store.Series
	indexes map[int64]map[int]bool
}

// NewBatch starts a Batch in tx.
func NewBatch(tx store.Tx) *Batch {
	return &Batch{tx: tx, series: map[int64]*store.Series{}, indexes: map[int64]map[int]bool{}}
}

func (b *Batch) getSeries(ctx context.Context, id int64) (*store.Series, error) {
	if s, ok := b.series[id]; ok {
		return s, nil
	}
	s, err := b.tx.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	b.series[id] = s
	return s, nil
}

// cached maps series read by a query to the batch's own copies.
func (b *Batch) cached(list []store.Series) []*store.Series {
	out := make([]*store.Series, 0, len(list))
	for i := range list {
		if s, ok := b.series[list[i].ID]; ok {
			out = append(out, s)
			continue
		}
		s := list[i]
		b.series[s.ID] = &s
		out = append(out, &s)
	}
	return out
}

func (b *Batch) patchIndexes(ctx context.Context, id int64) (map[int]bool, error) {
	if m, ok := b.indexes[id]; ok {
		return m, nil
	}
	m, err := b.tx.PatchIndexes(ctx, id)
	if err != nil {
		return nil, err
	}
	b.indexes[id] = m
	return m, nil
}

// Store archives p in list listID inside b's transaction and assembles its
// series.
func (in *Ingester) Store(ctx context.Context, b *Batch, listID int64, p *Prepared) (*store.Added, error) {
	nm := p.msg
	nm.ListID = listID
	a, err := b.tx.AddMessage(ctx, &nm)
	if err != nil {
		return nil, err
	}
	if a.Duplicate || p.mail == nil {
		return a, nil
	}
	switch a.Kind {
	case core.KindPatch, core.KindCover:
		err = assemble(ctx, b, listID, a, p.mail)
	case core.KindPull:
		err = addPull(ctx, b.tx, listID, a, p.mail)
	}
	if err != nil {
		return nil, fmt.Errorf("assemble series: %w", err)
	}
	return a, nil
}

// stemOf returns the Message-ID without its per-message counter, which
// every message of one sending shares. git send-email writes
// <date.pid-N-user@host> (older: <date-pid-N-git-send-email-user@host>),
// b4 <date-topic-vN-N-hash@host>: the counter is the last all-digit
// dash-separated field of the local part, never the first.
func stemOf(msgid string) string {
	at := strings.LastIndexByte(msgid, '@')
	if at < 0 {
		return ""
	}
	fields := strings.Split(msgid[:at], "-")
	for i := len(fields) - 1; i >= 1; i-- {
		if f := fields[i]; f != "" && len(f) <= 6 && strings.Trim(f, "0123456789") == "" {
			fields[i] = "*"
			return strings.Join(fields, "-") + msgid[at:]
		}
	}
	return ""
}

// NormalizeSubject folds a series subject for revision matching.
func NormalizeSubject(s string) string {
	return strings.Join(strings.Fields(strings.ToLower(s)), " ")
}

// noThreadWindow bounds how far apart the messages of a series sent with
// --no-thread may be dated.
const noThreadWindow = 30 * time.Minute

func assemble(ctx context.Context, b *Batch, listID int64, a *store.Added, mail *patchmail.Mail) error {
	tx := b.tx
	subj := mail.Subject
	idx, total := subj.Index, subj.Total
	if total == 0 {
		idx, total = 1, 1
	}
	if a.Kind == core.KindCover {
		idx = 0
	}
	submitter := strings.ToLower(a.From.Email)
	version := max(subj.Version, 1)

	// fits says whether the message can take its slot in s. A patch that
	// names no version may join a vN series its thread points to
	// ("[PATCH net-next v3 0/4]" followed by "[PATCH 1/4]").
	fits := func(s *store.Series, inherit bool) (bool, error) {
		if s.Submitter.Email != submitter || s.Total != total || s.PullURL != "" {
			return false, nil
		}
		if s.Version != version && !(inherit && version == 1 && idx > 0) {
			return false, nil
		}
		if idx == 0 {
			return s.CoverMessageID == "", nil
		}
		have, err := b.patchIndexes(ctx, s.ID)
		if err != nil {
			return false, err
		}
		return !have[idx], nil
	}

	// 1. The nearest referenced message that belongs to a fitting series.
	refSeries, err := tx.MessageSeries(ctx, listID, a.References)
	if err != nil {
		return err
	}
	var target *store.Series
	for i := len(a.References) - 1; i >= 0 && target == nil; i-- {
		sid := refSeries[a.References[i]]
		if sid == 0 {
			continue
		}
		s, err := b.getSeries(ctx, sid)
		if err != nil {
			return err
		}
		if ok, err := fits(s, true); err != nil {
			return err
		} else if ok {
			target = s
		}
	}
	pick := func(list []store.Series) error {
		for _, c := range b.cached(list) {
			if target != nil {
				return nil
			}
			if ok, err := fits(c, false); err != nil {
				return err
			} else if ok {
				target = c
			}
		}
		return nil
	}
	// 2. A fitting series in the same thread: its messages reached us
	// before the one this message replies to, or, for a message that
	// refers to none, before this one (hg email's patches reply to the
	// introduction and carry no Message-ID stem to find it by).
	if target == nil && a.ThreadID != 0 {
		cands, err := tx.FindSeries(ctx, store.SeriesQuery{ListID: listID, Submitter: submitter, Version: version, Total: total, ThreadID: a.ThreadID})
		if err != nil {
			return err
		}
		if err := pick(cands); err != nil {
			return err
		}
	}
	// 3. --no-thread: the same sending (Message-ID stem), or the same
	// sender, version and count within a time window.
	stem := stemOf(a.MessageID)
	if target == nil && stem != "" {
		cands, err := tx.SeriesByStem(ctx, listID, submitter, stem)
		if err != nil {
			return err
		}
		if err := pick(cands); err != nil {
			return err
		}
	}
	if target == nil && len(a.References) == 0 && total > 1 && !a.Date.IsZero() {
		cands, err := tx.FindSeries(ctx, store.SeriesQuery{ListID: listID, Submitter: submitter, Version: version, Total: total,
			Since: a.Date.Add(-noThreadWindow), Until: a.Date.Add(noThreadWindow)})
		if err != nil {
			return err
		}
		var unthreaded []store.Series
		for _, c := range cands {
			if len(refSeries) == 0 && c.ThreadID != a.ThreadID {
				unthreaded = append(unthreaded, c)
			}
		}
		if err := pick(unthreaded); err != nil {
			return err
		}
	}

	if target == nil {
		target = &store.Series{
			Subject:    subj.Title,
			Version:    version,
			Status:     store.StatusProposed,
			Submitter:  core.Person{Name: a.From.Name, Email: submitter},
			Total:      total,
			MessageID:  a.MessageID,
			Date:       a.Date,
			RFC:        subj.RFC,
			Resend:     subj.Resend,
			Prefix:     strings.Join(subj.Prefixes, " "),
			ChangeID:   mail.ChangeID,
			BaseCommit: mail.BaseCommit,
			ThreadID:   a.ThreadID,
		}
		if target.Date.IsZero() {
			target.Date = a.Arrived
		}
		if _, err := tx.CreateSeries(ctx, target, NormalizeSubject(subj.Title), stem, listID); err != nil {
			return err
		}
		b.series[target.ID] = target
		b.indexes[target.ID] = map[int]bool{}
	}

	s := target
	if idx == 0 {
		s.CoverMessageID = a.MessageID
		s.MessageID = a.MessageID
		s.Subject = subj.Title
	} else {
		p := &store.Patch{
			SeriesID:      s.ID,
			Index:         idx,
			Subject:       a.Subject,
			Author:        mail.Author,
			Date:          mail.AuthorDate,
			CommitSubject: mail.CommitSubject,
			Files:         mail.Files,
			PatchID:       mail.PatchID,
		}
		if p.Author.Email == "" {
			p.Author = a.From
		}
		if p.Date.IsZero() {
			p.Date = a.Date
		}
		for _, t := range mail.Trailers {
			t.FromMessageID = a.MessageID
			p.Trailers = append(p.Trailers, t)
		}
		if err := tx.AddPatch(ctx, p, a.ID); err != nil {
			return err
		}
		if have, ok := b.indexes[s.ID]; ok {
			have[idx] = true
		}
		s.Received++
		if s.CoverMessageID == "" && idx == 1 {
			s.Subject = subj.Title
			s.MessageID = a.MessageID
		}
	}
	if s.ChangeID == "" {
		s.ChangeID = mail.ChangeID
	}
	if s.BaseCommit == "" {
		s.BaseCommit = mail.BaseCommit
	}
	if s.Date.IsZero() || (!a.Date.IsZero() && a.Date.Before(s.Date)) {
		s.Date = a.Date
	}
	if err := tx.SetMessageSeries(ctx, a.ID, s.ID, a.Kind); err != nil {
		return err
	}
	a.SeriesID = s.ID

	// Every series may replace an older one: vN+1, a RESEND, or the same
	// series sent again unlabeled. Look when what identifies it arrives:
	// the cover letter, the first patch, or the last one missing.
	if s.Previous == 0 && (idx <= 1 || s.Received == s.Total) {
		if err := linkPrevious(ctx, b, listID, s, a, mail, idx, refSeries); err != nil {
			return err
		}
	}
	return tx.UpdateSeries(ctx, s, NormalizeSubject(s.Subject))
}

// linkPrevious finds the revision s replaces: a series its thread replies
// to, the same change-id, the same submitter and subject, or mostly the
// same patch-ids. The older one is marked superseded.
func linkPrevious(ctx context.Context, b *Batch, listID int64, s *store.Series, a *store.Added, mail *patchmail.Mail, idx int, refSeries map[string]int64) error {
	tx := b.tx
	// An older revision has a lower version, or the same one when it is a
	// resend (tagged RESEND or not: submitters re-send vN unchanged).
	older := func(p *store.Series) bool {
		if p.ID == s.ID || p.ID > s.ID || p.PullURL != "" {
			return false
		}
		return p.Version <= s.Version
	}
	var prev *store.Series
	for i := len(a.References) - 1; i >= 0 && prev == nil; i-- {
		sid := refSeries[a.References[i]]
		if sid == 0 || sid == s.ID {
			continue
		}
		p, err := b.getSeries(ctx, sid)
		if err != nil {
			return err
		}
		// Replying into a thread makes a new revision only with a higher
		// version, or the same series again (same count and subject); an
		// odd patch posted into a series' thread does not replace it.
		if older(p) && (p.Version < s.Version || (p.Total == s.Total && NormalizeSubject(p.Subject) == NormalizeSubject(s.Subject))) {
			prev = p
		}
	}
	if prev == nil {
		// A patch of an older revision with the same commit subject
		// counts when there is no cover letter to compare.
		commitSubject := ""
		if idx > 0 {
			commitSubject = mail.CommitSubject
		}
		revs, err := tx.Revisions(ctx, listID, s, NormalizeSubject(s.Subject), commitSubject)
		if err != nil {
			return err
		}
		prev = pickPrevious(b.cached(revs.ByName), older, s.ID)
		if prev == nil && commitSubject != "" {
			prev = pickPrevious(b.cached(revs.ByPatchSubject), older, s.ID)
		}
		if prev == nil && revs.PatchIDs > 0 {
			best, bestN := int64(0), 0
			for sid, n := range revs.ByPatchIDs {
				if sid != s.ID && (n > bestN || (n == bestN && sid > best)) {
					best, bestN = sid, n
				}
			}
			if best != 0 && bestN*2 >= max(revs.PatchIDs, s.Total) {
				p, err := b.getSeries(ctx, best)
				if err != nil {
					return err
				}
				if older(p) && p.Submitter.Email == s.Submitter.Email {
					prev = p
				}
			}
		}
	}
	if prev == nil {
		return nil
	}
	s.Previous = prev.ID
	prev.SupersededBy = s.ID
	if prev.Status == store.StatusProposed || prev.Status == store.StatusNeedsRevision {
		prev.Status = store.StatusSuperseded
	}
	return tx.UpdateSeries(ctx, prev, NormalizeSubject(prev.Subject))
}

// pickPrevious takes, of the candidates (newest revision first), the first
// older one not yet superseded by another series, else the newest older one.
func pickPrevious(cands []*store.Series, older func(*store.Series) bool, self int64) *store.Series {
	var fallback *store.Series
	for _, c := range cands {
		if !older(c) {
			continue
		}
		if c.SupersededBy == 0 || c.SupersededBy == self {
			return c
		}
		if fallback == nil {
			fallback = c
		}
	}
	return fallback
}

func addPull(ctx context.Context, tx store.Tx, listID int64, a *store.Added, mail *patchmail.Mail) error {
	s := &store.Series{
		Subject:   mail.Subject.Title,
		Version:   max(mail.Subject.Version, 1),
		Status:    store.StatusProposed,
		Submitter: core.Person{Name: a.From.Name, Email: strings.ToLower(a.From.Email)},
		MessageID: a.MessageID,
		Date:      a.Date,
		ThreadID:  a.ThreadID,
		Prefix:    strings.Join(mail.Subject.Prefixes, " "),
	}
	if mail.Pull != nil {
		s.PullURL, s.PullRef = mail.Pull.URL, mail.Pull.Ref
	}
	if s.Date.IsZero() {
		s.Date = a.Arrived
	}
	if s.PullURL == "" {
		s.PullURL = "unknown"
	}
	if _, err := tx.CreateSeries(ctx, s, NormalizeSubject(s.Subject), "", listID); err != nil {
		return err
	}
	a.SeriesID = s.ID
	return tx.SetMessageSeries(ctx, a.ID, s.ID, a.Kind)
}
