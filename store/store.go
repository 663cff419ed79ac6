// Package store keeps patchwell's data: lists, raw messages (verbatim,
// compressed at rest, with their sha256), threads, series and patches.
//
// The Store and Tx interfaces are all that callers see, so a PostgreSQL
// implementation can follow the SQLite one (Open) without touching them.
// The store decides nothing about mail: review parses and assembles series,
// archive parses headers; the store only threads messages by their
// references (a union of the ids they name, as public-inbox does) because
// that is a property of the stored set, not of one message.
package store

import (
	"context"
	"time"
)

// Store is the archive's storage. Every method takes a context; writes go
// through Update, which runs one transaction.
type Store interface {
	// CreateList creates a list; ErrExists if the name is taken, ErrBadName
	// if it is not [a-z0-9._-]+. A zero UIDValidity gets a random one.
	CreateList(ctx context.Context, l List) (*List, error)
	Lists(ctx context.Context) ([]List, error)
	List(ctx context.Context, name string) (*List, error)

	// Update runs fn in one write transaction; the changes are durable when
	// it returns nil.
	Update(ctx context.Context, fn func(Tx) error) error

	SeriesList(ctx context.Context, list, status string, p Page) ([]Series, error)
	Series(ctx context.Context, id int64) (*Series, error)
	Patches(ctx context.Context, seriesID int64) ([]Patch, error)
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
	// WalkThread calls fn for every message of a thread in arrival order
	// with its raw bytes.
	WalkThread(ctx context.Context, threadID int64, fn func(m *Message, raw []byte) error) error
	// Walk calls fn for every message of list in arrival (UID) order with
	// its raw bytes.
	Walk(ctx context.Context, list string, fn func(m *Message, raw []byte) error) error
	// ThreadVersion returns the thread of the message with that Message-ID
	// (the first to arrive, when several share it) and what identifies its
	// current state; store.ErrNotFound for an unknown list or message.
	ThreadVersion(ctx context.Context, list, messageID string) (*ThreadVersion, error)
	// Thread returns one thread's summary; store.ErrNotFound for an
	// unknown id.
	Thread(ctx context.Context, id int64) (*Thread, error)
	// Generation changes whenever a write commits, in this process or
	// another; read it before the data a cache entry is made of.
	Generation(ctx context.Context) (uint64, error)
	// Check verifies the database and every stored message against its
	// sha256; ErrCorrupted wraps what is wrong.
	Check(ctx context.Context) error
	Close() error
}

// NewMessage is a message to archive with what was parsed from it.
type NewMessage struct {
	ListID     int64
	Raw        []byte
	MessageID  string // "" when the message has none: the store generates one
	InReplyTo  string
	References []string
	Subject    string
	From       Person
	Date       time.Time
	Arrived    time.Time
	Flags      Flags
	Kind       string
	Trailers   []Trailer

	sum  []byte // sha256 of Raw, set by Prepare
	zraw []byte // Raw compressed, set by Prepare
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

// Tx is one write transaction.
type Tx interface {
	// AddMessage stores m, assigns its UID and thread, and reports a
	// duplicate (same bytes already in the list) without storing it again.
	AddMessage(ctx context.Context, m *NewMessage) (*Added, error)
	// MessageSeries maps the given Message-IDs of list to the series their
	// messages belong to (ids without a series are left out).
	MessageSeries(ctx context.Context, listID int64, messageIDs []string) (map[string]int64, error)
	SetMessageSeries(ctx context.Context, messageRowID, seriesID int64, kind string) error
	Series(ctx context.Context, id int64) (*Series, error)
	FindSeries(ctx context.Context, q SeriesQuery) ([]Series, error)
	// FindPrevious finds older series of the same submitter that are
	// revisions of s: by change-id, by normalised subject.
	FindPrevious(ctx context.Context, listID int64, s *Series, normSubject string) ([]Series, error)
	// SeriesWithPatchIDs counts, per other series of the list, how many of
	// the given patch-ids they carry.
	SeriesWithPatchIDs(ctx context.Context, listID int64, patchIDs []string) (map[int64]int, error)
	// SeriesWithPatchSubject finds series of submitter in the list that
	// have a patch with this commit subject.
	SeriesWithPatchSubject(ctx context.Context, listID int64, submitter, subject string) ([]Series, error)
	CreateSeries(ctx context.Context, s *Series, normSubject, stem string, listID int64) (int64, error)
	UpdateSeries(ctx context.Context, s *Series, normSubject string) error
	SeriesByStem(ctx context.Context, listID int64, submitter, stem string) ([]Series, error)
	PatchIndexes(ctx context.Context, seriesID int64) (map[int]bool, error)
	AddPatch(ctx context.Context, p *Patch, messageRowID int64) error
	PatchIDs(ctx context.Context, seriesID int64) ([]string, error)
}
