// Package store keeps patchwell's data: lists, raw messages (verbatim,
// compressed at rest, with their sha256), threads, series and patches.
//
// The Store and Tx interfaces are all that callers see. Store is the
// union of interfaces by area (Archive, Reviews, Accounts, MailingList,
// Repos, Jobs, Webhooks); a consumer declares the few methods it calls,
// or takes an area. One implementation, DB, runs on SQLite (Open: the
// embedded default, one database file in the data directory) or on
// PostgreSQL (OpenPostgres: one database shared by several nodes;
// postgres.go says what differs).
// The store decides nothing about mail: review parses and assembles series,
// archive parses headers; the store only threads messages by their
// references (a union of the ids they name, as public-inbox does) because
// that is a property of the stored set, not of one message.
package store

import (
	"context"
	"patchwell/core"
	"time"
)

// Store is the archive's storage: the union of the area interfaces below
// (Archive, Reviews, Accounts, MailingList, Repos, Jobs, Webhooks) and
// what concerns the whole database. Every method takes a context; writes
// of mail go through Update, which runs one transaction. A consumer takes
// the few methods it calls (an interface it declares, or an area); the
// whole Store is for what handles every area (the server, reindex,
// migrate).
type Store interface {
	Archive
	Reviews
	Dashboard
	Accounts
	MailingList
	Repos
	Jobs
	Webhooks
	DevKeys
	Bundles
	NeedsMe

	// Update runs fn in one write transaction; the changes are durable when
	// it returns nil. fn must not act outside the transaction: on
	// PostgreSQL it may run again (see Tx).
	Update(ctx context.Context, fn func(Tx) error) error
	// Generation changes whenever a write commits, in this process or
	// another; read it before the data a cache entry is made of.
	Generation(ctx context.Context) (uint64, error)
	// Check verifies the database and every stored message against its
	// sha256; ErrCorrupted wraps what is wrong.
	Check(ctx context.Context) error
	// Secret returns the named server secret, making it on first use.
	Secret(ctx context.Context, name string) ([]byte, error)
	Close() error
}

// Bundles are patchwork's named sets of patches (bundles.go): an
// owner's, of one list, public or private.
type Bundles interface {
	CreateBundle(ctx context.Context, b Bundle, patches []int64) (*Bundle, error)
	UpdateBundle(ctx context.Context, id int64, u BundleUpdate) (*Bundle, error)
	AddBundlePatches(ctx context.Context, id int64, patches []int64) error
	RemoveBundlePatches(ctx context.Context, id int64, patches []int64) error
	DeleteBundle(ctx context.Context, id int64) error
	Bundles(ctx context.Context, f BundleFilter) ([]Bundle, error)
	Bundle(ctx context.Context, id int64) (*Bundle, []TrackedPatch, error)
	BundlePatches(ctx context.Context, ids []int64) (map[int64][]TrackedPatch, error)
	BundlesOf(ctx context.Context, userID int64, list string) ([]Bundle, error)
	UserBundles(ctx context.Context, userID int64) ([]Bundle, error)
	// ExportBundles and ImportBundles carry bundles across a reindex
	// (patches by list and Message-ID; ImportBundles counts those not
	// found).
	ExportBundles(ctx context.Context) (*BundleData, error)
	ImportBundles(ctx context.Context, d *BundleData) (dropped int, err error)
}

// Archive is the mail itself: lists, messages, threads, raw bytes,
// search, and the IMAP view (Mailboxes).
type Archive interface {
	// CreateList creates a list; ErrExists if the name is taken, ErrBadName
	// if it is not [a-z0-9._-]+. A zero UIDValidity gets a random one.
	CreateList(ctx context.Context, l List) (*List, error)
	Lists(ctx context.Context) ([]List, error)
	List(ctx context.Context, name string) (*List, error)
	// ListInfo returns a list without its counts: cheap, for access
	// checks on every request.
	ListInfo(ctx context.Context, name string) (*List, error)
	SetVisibility(ctx context.Context, list, visibility string) error
	// ListsByActivity returns every list with its counts, the most
	// recently active (newest arrival) first, in one indexed query.
	ListsByActivity(ctx context.Context) ([]List, error)

	// ThreadMessages returns the messages of the given threads, without raw
	// bytes, in arrival order.
	ThreadMessages(ctx context.Context, threadIDs []int64) ([]Message, error)
	Threads(ctx context.Context, list string, p Page) ([]Thread, error)
	// Raw returns the stored bytes of the message with that Message-ID (the
	// first one to arrive, when several share it).
	Raw(ctx context.Context, list, messageID string) ([]byte, error)
	// Message returns the metadata of the message with that Message-ID
	// (the first to arrive, when several share it).
	Message(ctx context.Context, list, messageID string) (*Message, error)
	// Scan calls fn for the metadata (no raw bytes) of every message of
	// list in arrival order.
	Scan(ctx context.Context, list string, fn func(m *Message) error) error
	// FindMessage finds a Message-ID in any list (the lowest-named list's
	// copy when several have it).
	FindMessage(ctx context.Context, messageID string) (*Message, error)
	// MessageLists names the lists holding a Message-ID, in name order,
	// so that /all/ can pick one the reader may see; ErrNotFound for none.
	MessageLists(ctx context.Context, messageID string) ([]string, error)
	// WalkThread calls fn for every message of a thread in arrival order
	// with its raw bytes.
	WalkThread(ctx context.Context, threadID int64, fn func(m *Message, raw []byte) error) error
	// Walk calls fn for every message of list in arrival (UID) order with
	// its raw bytes.
	Walk(ctx context.Context, list string, fn func(m *Message, raw []byte) error) error
	// ThreadSummaries returns a page of a list's threads, the most recently
	// active first, with their starters: those whose newest UID is below
	// before (or, when only after is set, above after); ErrNotFound for an
	// unknown list.
	ThreadSummaries(ctx context.Context, list string, before, after uint32, limit int) ([]ThreadSummary, error)
	// RecentMessages returns the newest messages (metadata) of a list, or
	// of every list when list is "", newest first; ErrNotFound for an
	// unknown list.
	RecentMessages(ctx context.Context, list string, limit int) ([]Message, error)
	// ThreadVersion returns the thread of the message with that Message-ID
	// (the first to arrive, when several share it) and what identifies its
	// current state; store.ErrNotFound for an unknown list or message.
	ThreadVersion(ctx context.Context, list, messageID string) (*ThreadVersion, error)
	// Thread returns one thread's summary; store.ErrNotFound for an
	// unknown id.
	Thread(ctx context.Context, id int64) (*Thread, error)

	// Search returns the messages of the named lists matching e, newest
	// arrival first; ErrInvalid for an expression it cannot run or no
	// list. The caller names the lists the reader may search.
	Search(ctx context.Context, lists []string, e *SearchExpr, p Page) ([]Message, error)
	// SearchThreads returns the threads (ids) of the messages of the
	// named lists matching e, the newest match's first, at most limit.
	SearchThreads(ctx context.Context, lists []string, e *SearchExpr, limit int) ([]int64, error)
	// SearchUnindexed counts the messages missing from the search index
	// (stored before the index existed; reindex fills it).
	SearchUnindexed(ctx context.Context) (int, error)

	Mailboxes
}

// Mailboxes is the IMAP view of the archive (store/imap.go).
type Mailboxes interface {
	// ListHeads maps every list's id to its next UID: the list's
	// messages are those with the UIDs below it, all committed (a list's
	// UIDs are dense and follow commit order), and a commit that adds
	// mail to the list raises it.
	ListHeads(ctx context.Context) (map[int64]uint32, error)
	// MailboxEntries returns a list's messages with UIDs in [from, to),
	// in UID order.
	MailboxEntries(ctx context.Context, listID int64, from, to uint32) ([]MailboxEntry, error)
	// FetchMailbox calls fn for a list's messages with UIDs in [lo, hi]
	// (of the kinds given; nil for all) in UID order, with their raw
	// bytes when withRaw (valid only during the call). It reads in
	// batches: no transaction stays open while fn runs.
	FetchMailbox(ctx context.Context, listID int64, lo, hi uint32, kinds []string, withRaw bool, fn func(m *MailboxMessage, raw []byte) error) error
	// MailboxSize sums the sizes of a list's messages of the kinds given.
	MailboxSize(ctx context.Context, listID int64, kinds []string) (int64, error)
	// MailboxSearch returns the UIDs, ascending, of a list's messages of
	// the kinds given matching one condition.
	MailboxSearch(ctx context.Context, listID int64, kinds []string, c MailboxCond) ([]uint32, error)
}

// Reviews is what is known of the series beside their mail: series and
// patches, status and its history, resolved review comments, CI checks,
// and the commits a series was applied as. (Series are written by the
// ingester, through Update.)
type Reviews interface {
	SeriesList(ctx context.Context, list, status string, p Page) ([]Series, error)
	Series(ctx context.Context, id int64) (*Series, error)
	Patches(ctx context.Context, seriesID int64) ([]Patch, error)
	// FilterSeries returns a page of a list's series, newest first, as f
	// selects; ErrNotFound is not returned for an unknown list (no rows).
	FilterSeries(ctx context.Context, list string, f SeriesFilter) ([]Series, error)
	// SeriesByPatchIDs returns the complete, open (not applied, rejected
	// or superseded) series of a list every patch of which has one of
	// these patch-ids.
	SeriesByPatchIDs(ctx context.Context, list string, patchIDs []string) ([]int64, error)

	// SetSeriesStatus changes a series' status and records the change in
	// its history, in one transaction. ErrInvalid for a status that may
	// not be set (see SettableStatuses), ErrConflict when the series
	// already has it, ErrNotFound for an unknown series. userID 0 means
	// no account (the command line).
	SetSeriesStatus(ctx context.Context, seriesID int64, status string, userID int64, comment string, at time.Time) (*StatusChange, error)
	// StatusHistory returns a series' status changes, oldest first.
	StatusHistory(ctx context.Context, seriesID int64) ([]StatusChange, error)

	// Resolutions returns the resolved marks of review comments on the
	// patches with these Message-IDs (all of them for nil).
	Resolutions(ctx context.Context, patchMessageIDs []string) ([]Resolution, error)
	// Issues returns the open-issue marks (By, At: who opened it, when)
	// of review comments on the patches with these Message-IDs (all of them
	// for nil); SetIssues
	// marks comments as issues to fix (open) or takes the marks away.
	Issues(ctx context.Context, patchMessageIDs []string) ([]Resolution, error)
	SetIssues(ctx context.Context, rs []Resolution, open bool) error
	// ExportPatchStates and ImportPatchStates carry patches' own states
	// (patchwork's per-patch state, delegate, archived, commit_ref) across
	// a reindex, by list and Message-ID; ImportPatchStates reports how
	// many found no patch.
	ExportPatchStates(ctx context.Context) ([]PatchStateRecord, error)
	// ExportEvents and ImportEvents carry the stored change events
	// (patchwork's patch-state-changed, patch-delegated, check-created)
	// the same way; ImportEvents reports how many found nothing.
	ExportEvents(ctx context.Context) ([]EventRecord, error)
	ImportEvents(ctx context.Context, rs []EventRecord) (dropped int, err error)
	ImportPatchStates(ctx context.Context, rs []PatchStateRecord) (dropped int, err error)

	// DraftComments returns a user's pending review of a series, oldest
	// first. SaveDraftComment adds a comment (ID 0) or changes its body
	// and issue mark (ErrNotFound: no such comment in this draft);
	// ErrInvalid for an empty or oversized comment or a full draft.
	// DeleteDraftComments drops the comments with these ids, or, for nil,
	// the whole draft.
	DraftComments(ctx context.Context, userID, seriesID int64) ([]DraftComment, error)
	SaveDraftComment(ctx context.Context, userID, seriesID int64, c DraftComment) (*DraftComment, error)
	DeleteDraftComments(ctx context.Context, userID, seriesID int64, ids []int64) error

	// SetCheck records a CI result on a series (or one of its patches),
	// replacing the earlier result of the same context; ErrInvalid for a
	// bad state or context, ErrNotFound for an unknown series.
	SetCheck(ctx context.Context, c *Check) (*Check, error)
	// Checks returns a series' checks, by patch then context.
	Checks(ctx context.Context, seriesID int64) ([]Check, error)
	CheckByID(ctx context.Context, id int64) (*Check, error)

	// RecordApplied records the commits a series was applied as (the
	// first record stays: a series is applied once).
	RecordApplied(ctx context.Context, a Applied) error
	// AppliedSeries returns what RecordApplied recorded; ErrNotFound for
	// a series not applied through patchwell.
	AppliedSeries(ctx context.Context, seriesID int64) (*Applied, error)

	// SetViewed marks a file of a series' patch viewed by a user, or
	// clears the mark (store/viewed.go); ErrInvalid without a user,
	// series, patch or path.
	SetViewed(ctx context.Context, v ViewedFile, viewed bool) error
	// ViewedFiles returns the files of a series a user marked viewed,
	// by patch then path.
	ViewedFiles(ctx context.Context, userID, seriesID int64) ([]ViewedFile, error)
}

// Accounts is users, their sessions, API tokens and roles on lists, and
// e-mail confirmations (store/accounts.go). Secrets (session, token,
// confirmation) are passed and stored as hashes only; passwords as
// argon2id strings.
type Accounts interface {
	// CreateUser adds an account; ErrExists when the address (compared
	// case-insensitively) has one, ErrInvalid when it is not an address.
	CreateUser(ctx context.Context, u User, passwordHash string) (*User, error)
	User(ctx context.Context, id int64) (*User, error)
	UserByEmail(ctx context.Context, email string) (*User, error)
	// Credentials returns the user and password hash for an address.
	Credentials(ctx context.Context, email string) (*User, string, error)
	Users(ctx context.Context) ([]User, error)
	// SetPassword replaces a user's password hash and, in the same
	// transaction, ends the user's sessions but the one whose hash is
	// keep (every one for nil).
	SetPassword(ctx context.Context, userID int64, passwordHash string, keep []byte) error
	// SetDisabled disables (ending its sessions, in the same
	// transaction) or enables an account; ErrNotFound for an unknown one.
	// Its tokens and roles stay: the lookups report User.Disabled and
	// their callers refuse it.
	SetDisabled(ctx context.Context, userID int64, disabled bool) error
	// CreateConfirmation records a pending e-mail confirmation; Confirm
	// consumes it (once) and marks the user confirmed, ErrNotFound when
	// unknown or expired.
	CreateConfirmation(ctx context.Context, userID int64, hash []byte, expires time.Time) error
	Confirm(ctx context.Context, hash []byte, now time.Time) (*User, error)
	// CreateSession starts a session; ErrNotFound for an unknown or
	// disabled user.
	CreateSession(ctx context.Context, userID int64, hash []byte, expires time.Time) error
	// SessionUser returns the user of an unexpired session, ErrNotFound
	// otherwise.
	SessionUser(ctx context.Context, hash []byte, now time.Time) (*User, error)
	DeleteSession(ctx context.Context, hash []byte) error
	CreateToken(ctx context.Context, userID int64, name string, hash []byte) (*APIToken, error)
	// TokenUser returns the owner of an API token and records its use;
	// ErrNotFound for an unknown token.
	TokenUser(ctx context.Context, hash []byte, now time.Time) (*User, error)
	Tokens(ctx context.Context, userID int64) ([]APIToken, error)
	DeleteToken(ctx context.Context, userID, tokenID int64) error
	// SetRole gives a user a role (RoleOwner, RoleMaintainer) on a list,
	// or takes it away with "".
	SetRole(ctx context.Context, userID int64, list, role string) error
	// Roles maps list names to the user's role on them.
	Roles(ctx context.Context, userID int64) (map[string]string, error)
	// Role is the user's role on a list, "" for none.
	Role(ctx context.Context, userID int64, list string) (string, error)
	// ExportAccounts and ImportAccounts carry what is not derived from
	// mail across a reindex (into a store whose account tables are empty):
	// users, sessions, tokens, confirmations, roles and the series' status
	// history; ImportAccounts reports how many history entries found no
	// series.
	ExportAccounts(ctx context.Context) (*AccountData, error)
	ImportAccounts(ctx context.Context, d *AccountData) (dropped int, err error)
}

// MailingList is the mailing list's own data (store/mlist.go; package
// lists decides what to do with it): subscribers, subscription
// confirmations, posting policy, held messages, messages'
// authentication results, and the outbound queue (store/outbound.go).
type MailingList interface {
	// Subscribe adds or updates a subscriber (state SubPending, SubActive
	// or SubDisabled); ErrInvalid for a bad address.
	Subscribe(ctx context.Context, list, email, name, state string) error
	// Unsubscribe removes one; ErrNotFound when not subscribed.
	Unsubscribe(ctx context.Context, list, email string) error
	// Subscribers lists a list's subscribers in state ("" for all).
	Subscribers(ctx context.Context, list, state string) ([]Subscriber, error)
	Subscriber(ctx context.Context, list, email string) (*Subscriber, error)
	// AddBounce counts a hard bounce and disables the subscriber at
	// disableAt bounces.
	AddBounce(ctx context.Context, list, email string, disableAt int) (*Subscriber, error)
	AddSubConfirmation(ctx context.Context, hash []byte, list, email, action string, expires time.Time) error
	// TakeSubConfirmation consumes a confirmation (once); ErrNotFound when
	// unknown or expired.
	TakeSubConfirmation(ctx context.Context, hash []byte, now time.Time) (list, email, action string, err error)
	Policy(ctx context.Context, list string) (*ListPolicy, error)
	SetPolicy(ctx context.Context, list string, p ListPolicy) error
	// Hold keeps a message for a moderator; HeldMessage returns it with
	// its bytes; DecideHeld approves or rejects it once (ErrConflict
	// after).
	Hold(ctx context.Context, h *Held) (int64, error)
	HeldMessages(ctx context.Context, list, state string) ([]Held, error)
	HeldMessage(ctx context.Context, id int64) (*Held, error)
	DecideHeld(ctx context.Context, id int64, state, by string, at time.Time) error
	// SetMessageAuth and MessageAuth keep a message's authentication
	// results (JSON from package mailauth).
	SetMessageAuth(ctx context.Context, list, messageID, result string) error
	MessageAuth(ctx context.Context, list, messageID string) (string, error)
	// ListOwners returns the addresses of a list's owners: its owner
	// field and the users with the owner role, but disabled ones.
	ListOwners(ctx context.Context, list string) ([]string, error)
	// ExportMailingList and ImportMailingList carry the mailing list's own
	// data across a reindex (into a store without it).
	ExportMailingList(ctx context.Context) (*MailingListData, error)
	ImportMailingList(ctx context.Context, d *MailingListData) error

	// The outbound queue (store/outbound.go): messages are queued with
	// Tx.AddOutbox and Tx.QueueDeliveries; the one delivery worker of a
	// data directory sends them.

	// Outbox returns the queued outbound mail in state ("" for any), oldest
	// first.
	Outbox(ctx context.Context, state string) ([]OutboxMessage, error)
	// DueDeliveries returns pending deliveries whose next attempt is due
	// at now, at most limit, grouped by outbox message (oldest first),
	// each group with its message's raw bytes.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]DeliveryBatch, error)
	// MarkSent records that the smarthost accepted these deliveries, in
	// one durable transaction.
	MarkSent(ctx context.Context, ids []int64, at time.Time) error
	// MarkRetry counts a failed attempt of each delivery and schedules
	// the next one.
	MarkRetry(ctx context.Context, ds []DeliveryError) error
	// MarkFailed gives up on deliveries (permanent errors, or too old).
	MarkFailed(ctx context.Context, ds []DeliveryError) error
	// Deliveries returns an outbox message's deliveries in queue order.
	Deliveries(ctx context.Context, outboxID int64) ([]Delivery, error)
}

// Repos is the lists' git repositories (store/gitrepo.go).
type Repos interface {
	// SetListRepo sets (or replaces) a list's repository; ErrInvalid
	// without a repository and branch, ErrNotFound for an unknown list.
	SetListRepo(ctx context.Context, r ListRepo) error
	// ListRepo returns a list's repository; ErrNotFound when it has none.
	ListRepo(ctx context.Context, list string) (*ListRepo, error)
	// ExportGit and ImportGit carry the repositories and applied series
	// across a reindex (applied series by list and Message-ID; ImportGit
	// counts those not found).
	ExportGit(ctx context.Context) (*GitData, error)
	ImportGit(ctx context.Context, d *GitData) (dropped int, err error)
}

// Webhooks is the subscriptions of outside systems to events and their
// durable delivery queue (store/webhooks.go says what each method does).
type Webhooks interface {
	AddWebhook(ctx context.Context, w Webhook) (*Webhook, error)
	Webhooks(ctx context.Context) ([]Webhook, error)
	DeleteWebhook(ctx context.Context, id int64) error
	QueueWebhookEvent(ctx context.Context, e WebhookEvent) (int, error)
	DueWebhookDeliveries(ctx context.Context, now time.Time, limit int) ([]WebhookDelivery, error)
	NextWebhookAttempt(ctx context.Context) (time.Time, error)
	WebhookDeliveries(ctx context.Context, webhookID int64) ([]WebhookDelivery, error)
	WebhookDeliveryCounts(ctx context.Context) (map[int64]map[string]int, error)
	MarkWebhookAttempt(ctx context.Context, id int64, state string, status int, errText string, at, next time.Time) error
}

// NewMessage is a message to archive with what was parsed from it.
type NewMessage struct {
	ListID     int64
	Raw        []byte
	MessageID  string // "" when the message has none: the store generates one
	InReplyTo  string
	References []string
	Subject    string
	From       core.Person
	Date       time.Time
	Arrived    time.Time
	Flags      Flags
	Kind       string
	Trailers   []core.Trailer
	// Search is the text the full-text index gets besides Subject and
	// From; nil indexes only those.
	Search *SearchDoc
	// Stem is, for a patch or a cover letter, the Message-ID without its
	// per-message counter, when series assembly will look for series by
	// it (Tx.SeriesByStem): on PostgreSQL AddMessage asks about it with
	// its other lookups, a round trip fewer.
	Stem string
	// Structure is the message's MIME structure as kept for IMAP
	// (archive.Structure), nil for all but big messages.
	Structure []byte
	// Clues are, for a patch or a cover letter, what series assembly
	// will ask the list about when it looks for an older revision
	// (Tx.Revisions): on PostgreSQL Expect asks about a batch's at once.
	Clues *SeriesClues
	// Rcpts are, for a patch or a cover letter, its To and Cc addresses
	// (lower-case), kept for "needs me" (message_rcpts).
	Rcpts []string

	sum  []byte // sha256 of Raw, set by Prepare
	zraw []byte // Raw compressed, set by Prepare
	text string // the search index's text, set by Prepare
	wire int    // WireSize(Raw), set by Prepare
}

// SeriesClues are what may identify an older revision of a patch's or a
// cover letter's series: its normalised subject (as Tx.Revisions is given
// it), and the message's change-id, commit subject and patch-id.
type SeriesClues struct {
	Subject, ChangeID, CommitSubject, PatchID string
}

// Added is what Tx.AddMessage did with a NewMessage.
type Added struct {
	Message
	// Duplicate is true when the same bytes were already in the list; the
	// message was not stored again and Message describes the first copy.
	Duplicate bool
}

// SeriesQuery finds candidate series for a patch mail without thread links.
type SeriesQuery struct {
	ListID    int64
	Submitter string // e-mail address, lower case
	Version   int
	Total     int
	// ThreadID, when set, restricts to series of that thread; otherwise
	// Since and Until bound the series' date.
	ThreadID int64
	Since    time.Time
	Until    time.Time
}

// Revisions are the series Tx.Revisions found that s may replace, by
// each clue; the caller decides which, if any, it takes.
type Revisions struct {
	// ByName: the same submitter and normalised subject, or the same
	// change-id (when s has one), with lower ids, newest revision first.
	ByName []Series
	// ByPatchSubject: series of s's submitter with a patch of the commit
	// subject asked for (none when it is ""), newest revision first.
	ByPatchSubject []Series
	// PatchIDs is how many patches s has, and ByPatchIDs counts, per
	// series of the list (s among them), how many of their patch-ids
	// (those not empty) each carries, as SeriesWithPatchIDs does.
	PatchIDs   int
	ByPatchIDs map[int64]int
}

// Tx is one write transaction. On PostgreSQL, where several nodes write
// at once, it becomes the one writer of a list at its first AddMessage,
// MessageSeries, series lookup or CreateSeries in that list, waiting for
// the list's earlier writer to commit, so it reads and decides on a list
// nobody else changes; its other methods act on series and messages of
// lists it already writes. (A transaction that reaches a second list
// while that list's writer waits for its first is rolled back and run
// again with both taken in order: Update's fn may run more than once.)
type Tx interface {
	// AddMessage stores m, assigns its UID and thread, and reports a
	// duplicate (same bytes already in the list) without storing it again.
	AddMessage(ctx context.Context, m *NewMessage) (*Added, error)
	// Expect tells the transaction the messages of listID it is about to
	// add (an import's batch), so that AddMessage need not look up each
	// on its own (on PostgreSQL, where a lookup is a round trip).
	Expect(ctx context.Context, listID int64, ms []*NewMessage) error
	// MessageSeries maps the given Message-IDs of list to the series their
	// messages belong to (ids without a series are left out).
	MessageSeries(ctx context.Context, listID int64, messageIDs []string) (map[string]int64, error)
	SetMessageSeries(ctx context.Context, messageRowID, seriesID int64, kind string) error
	Series(ctx context.Context, id int64) (*Series, error)
	FindSeries(ctx context.Context, q SeriesQuery) ([]Series, error)
	// Revisions finds the series of the list that may be older revisions
	// of s, by each clue at once (on PostgreSQL in one round trip):
	// see Revisions.
	Revisions(ctx context.Context, listID int64, s *Series, normSubject, commitSubject string) (*Revisions, error)
	// SeriesWithPatchIDs counts, per other series of the list, how many of
	// the given patch-ids they carry.
	SeriesWithPatchIDs(ctx context.Context, listID int64, patchIDs []string) (map[int64]int, error)
	CreateSeries(ctx context.Context, s *Series, normSubject, stem string, listID int64) (int64, error)
	UpdateSeries(ctx context.Context, s *Series, normSubject string) error
	SeriesByStem(ctx context.Context, listID int64, submitter, stem string) ([]Series, error)
	PatchIndexes(ctx context.Context, seriesID int64) (map[int]bool, error)
	AddPatch(ctx context.Context, p *Patch, messageRowID int64) error
	// SetResolution marks a review comment resolved (r.By, r.At); with
	// resolved false it clears the mark. Setting twice keeps the newest.
	SetResolution(ctx context.Context, r Resolution, resolved bool) error
	// AddOutbox queues a message for outbound delivery and returns its id.
	AddOutbox(ctx context.Context, m OutboxMessage) (int64, error)
	// QueueDeliveries adds a pending delivery of an outbox message to
	// each recipient, due now; a recipient already queued for that
	// message (compared case-insensitively) is not queued again. Call it
	// in the transaction that adds the outbox row.
	QueueDeliveries(ctx context.Context, outboxID int64, rcpts []string) error
}
