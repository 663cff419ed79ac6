package store

import (
	"errors"
	"patchwell/core"
	"time"
)

// Sentinel errors callers branch on with errors.Is.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	ErrBadName  = errors.New("bad list name")
	ErrNewerDB  = errors.New("database schema is newer than this binary")
	// ErrNoDatabase: a data directory holds no database (OpenExisting).
	ErrNoDatabase = errors.New("no patchwell database")
	ErrReadOnly   = errors.New("store is read-only")
	ErrTooLarge   = core.ErrTooLarge // a message larger than the store keeps
	ErrCorrupted  = errors.New("store integrity check failed")
	// ErrInvalid marks a request that cannot be answered as asked (a
	// search query that does not parse, say): the caller's fault.
	ErrInvalid = errors.New("invalid request")
)

// List is one mailing list; its address is Name@domain.
type List struct {
	ID          int64     `json:"-"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Owner       string    `json:"owner,omitempty"`
	Created     time.Time `json:"created"`
	UIDValidity uint32    `json:"-"`
	// Visibility is VisibilityPublic, VisibilityUnlisted or
	// VisibilityPrivate; "" counts as public (the column's default).
	Visibility string `json:"visibility,omitempty"`
	// Counts, filled by Lists and List.
	Messages     int       `json:"messages"`
	Series       int       `json:"series"`
	OpenSeries   int       `json:"open_series"`
	LastActivity time.Time `json:"last_activity,omitempty"`
}

// Flags mark messages that were stored but are odd in some way.
type Flags uint32

const (
	// FlagDupMessageID: another message in the list has the same
	// Message-ID with different bytes.
	FlagDupMessageID Flags = 1 << iota
	// FlagNoMessageID: the message had no Message-ID; one was generated
	// from its content.
	FlagNoMessageID
	// FlagUnparsable: the header or MIME structure could not be parsed;
	// the raw bytes are kept as they came.
	FlagUnparsable
	// FlagTooDeep: MIME nesting went past the depth limit; parts below
	// were not looked at.
	FlagTooDeep
)

// Message is the stored metadata of one archived message. The raw bytes
// are fetched separately (Store.Raw) because they can be large.
type Message struct {
	ID         int64       `json:"-"`
	ListID     int64       `json:"-"`
	List       string      `json:"list"`
	UID        uint32      `json:"uid"`
	MessageID  string      `json:"message_id"`
	InReplyTo  string      `json:"in_reply_to,omitempty"`
	References []string    `json:"references,omitempty"`
	Subject    string      `json:"subject"`
	From       core.Person `json:"from"`
	Date       time.Time   `json:"date"`
	Arrived    time.Time   `json:"arrived"`
	ThreadID   int64       `json:"thread_id"`
	Size       int         `json:"size"`
	SHA256     string      `json:"sha256"`
	Flags      Flags       `json:"flags"`
	Kind       string      `json:"kind,omitempty"`
	SeriesID   int64       `json:"series_id,omitempty"`
	// Trailers found in the body of this message (outside quoted text),
	// used to collect review trailers from replies.
	Trailers []core.Trailer `json:"trailers,omitempty"`
}

// Series statuses.
const (
	StatusProposed      = "proposed"
	StatusNeedsRevision = "needs_revision"
	StatusApproved      = "approved"
	StatusRejected      = "rejected"
	StatusApplied       = "applied"
	StatusSuperseded    = "superseded"
)

// Series is one revision of a patch series (what patchwork calls a series
// and lists.sr.ht a patchset).
type Series struct {
	ID             int64       `json:"id"`
	List           string      `json:"list"`
	Subject        string      `json:"subject"`
	Version        int         `json:"version"`
	Status         string      `json:"status"`
	Submitter      core.Person `json:"submitter"`
	Total          int         `json:"total"`
	Received       int         `json:"received"`
	Complete       bool        `json:"complete"`
	MessageID      string      `json:"message_id"`
	CoverMessageID string      `json:"cover_message_id,omitempty"`
	Date           time.Time   `json:"date"`
	Previous       int64       `json:"previous,omitempty"`
	SupersededBy   int64       `json:"superseded_by,omitempty"`
	RFC            bool        `json:"rfc,omitempty"`
	Resend         bool        `json:"resend,omitempty"`
	Prefix         string      `json:"prefix,omitempty"`
	ChangeID       string      `json:"change_id,omitempty"`
	BaseCommit     string      `json:"base_commit,omitempty"`
	ThreadID       int64       `json:"thread_id"`
	// Pull request fields, set when the series is a git request-pull.
	PullURL string `json:"pull_url,omitempty"`
	PullRef string `json:"pull_ref,omitempty"`
}

// Patch is one patch mail of a series.
type Patch struct {
	ID            int64          `json:"-"`
	SeriesID      int64          `json:"-"`
	Index         int            `json:"index"`
	Subject       string         `json:"subject"`
	MessageID     string         `json:"message_id"`
	Author        core.Person    `json:"author"`
	Date          time.Time      `json:"date"`
	CommitSubject string         `json:"commit_subject"`
	Files         []core.File    `json:"files"`
	PatchID       string         `json:"patch_id"`
	Trailers      []core.Trailer `json:"trailers"`
}

// Thread is one discussion thread in a list.
type Thread struct {
	ID            int64     `json:"id"`
	Subject       string    `json:"subject"`
	RootMessageID string    `json:"root_message_id"`
	Messages      int       `json:"messages"`
	FirstDate     time.Time `json:"first_date"`
	LastDate      time.Time `json:"last_date"`
}

// Page bounds a listing; Limit 0 means the default (50); at most 1000.
type Page struct {
	Limit  int
	Offset int
}

// Normalize applies the default and the maximum.
func (p Page) Normalize() Page {
	if p.Limit <= 0 {
		p.Limit = 50
	}
	if p.Limit > 1000 {
		p.Limit = 1000
	}
	if p.Offset < 0 {
		p.Offset = 0
	}
	return p
}
