package web

import (
	"context"
	"io"

	"patchwell/core"
	"patchwell/store"
)

// Reader is everything the web reads, and the few things it records (CI
// results, reviews) through the review layer: one road to the data. Its
// parts are grouped by area; review.Service implements them all, and the
// wiring (cmd/patchwell) proves it at compile time. There is nothing
// optional here: a test's fake implements every method, or embeds the
// interface to leave the ones its test never reaches.
type Reader interface {
	ListReader
	SeriesReader
	Dashboarder
	SeriesDiffer
	ThreadReader
	MessageReader
	Mboxer
	Searcher
	Reviewer
	PendingReviewer
	Verdicter
	Viewed
	CheckStore
	ListData
	RepoReader
	Generationer
	Signatures
}

// ListReader reads the lists.
type ListReader interface {
	// Lists returns every list with its counts.
	Lists(ctx context.Context) ([]store.List, error)
	// List returns a list with its counts; store.ErrNotFound for an
	// unknown list.
	List(ctx context.Context, name string) (*store.List, error)
	// ListInfo is List without the counts, so the access check on every
	// request stays cheap.
	ListInfo(ctx context.Context, name string) (*store.List, error)
	// ListsByActivity returns every list with its counts, the most
	// recently active first (the home page).
	ListsByActivity(ctx context.Context) ([]store.List, error)
}

// SeriesReader reads the series of the list page, the series page and
// the API.
type SeriesReader interface {
	// SeriesList returns the series of list, newest first; status ""
	// means any status.
	SeriesList(ctx context.Context, list, status string, p store.Page) ([]store.Series, error)
	// FilterSeries returns a page of a list's series, newest first;
	// store.ErrNotFound for an unknown list.
	FilterSeries(ctx context.Context, list string, f store.SeriesFilter) ([]store.Series, error)
	// Series returns a series with its patches, trailers and thread;
	// store.ErrNotFound for an unknown id.
	Series(ctx context.Context, id int64) (*store.Series, []store.Patch, error)
	// SeriesInfo is a series' own row, without what Series loads besides;
	// store.ErrNotFound for an unknown id. The routes that only need to
	// know the series and its list (access checks, comments, revision
	// diffs, mbox, status changes) use it.
	SeriesInfo(ctx context.Context, id int64) (*store.Series, error)
	// SeriesTexts returns the cover letter's text and each patch's diff
	// and commit message by patch index: texts that only parsing the
	// stored mail gives.
	SeriesTexts(ctx context.Context, id int64) (cover string, diffs, messages map[int]string, err error)
}

// Dashboarder reads the series of the list page and of "my reviews" with
// the counts they show (checks, reviews, open comments, last activity),
// made for the whole page at once.
type Dashboarder interface {
	// Dashboard returns a page of series as f selects and orders, with
	// their store.SeriesStats; with list "", the series of f.Lists;
	// store.ErrNotFound for an unknown list, store.ErrInvalid for an
	// unknown order.
	Dashboard(ctx context.Context, list string, f store.SeriesFilter) ([]store.SeriesRow, error)
}

// SeriesDiffer reads the revisions of a series and what changed between
// two of them: the diff pages and the series page's "compare with" links.
type SeriesDiffer interface {
	// Revisions returns the revision chain of a series, oldest first,
	// the series itself included; store.ErrNotFound for an unknown id.
	Revisions(ctx context.Context, id int64) ([]store.Series, error)
	// SeriesDiff returns what changed between two revisions, the older
	// first; store.ErrNotFound for an unknown id, store.ErrInvalid when
	// the two are not revisions of one series.
	SeriesDiff(ctx context.Context, id, other int64) (*store.SeriesDiff, error)
}

// ThreadReader reads the threads of the list page, the thread pages and
// the API.
type ThreadReader interface {
	// Threads returns the threads of a list, most recently active first.
	Threads(ctx context.Context, list string, p store.Page) ([]store.Thread, error)
	// ThreadSummaries returns a page of a list's threads, the most
	// recently active first; store.ErrNotFound for an unknown list.
	ThreadSummaries(ctx context.Context, list string, before, after uint32, limit int) ([]store.ThreadSummary, error)
	// Thread returns the thread of a message with its messages' metadata
	// in arrival order; store.ErrNotFound for an unknown message.
	Thread(ctx context.Context, list, messageID string) (*store.Thread, []store.Message, error)
	// ThreadBodies returns the messages of a message's thread, in arrival
	// order, with their decoded text bodies.
	ThreadBodies(ctx context.Context, list, messageID string) ([]store.Message, []string, error)
	// ThreadHeaders returns the header fields a thread page shows on
	// demand, by UID, for every message of a message's thread.
	ThreadHeaders(ctx context.Context, list, messageID string) (map[uint32]string, error)
}

// MessageReader reads single messages.
type MessageReader interface {
	// Raw returns the stored bytes of a message, store.ErrNotFound when
	// the list or the message is unknown.
	Raw(ctx context.Context, list, messageID string) ([]byte, error)
	// MessageExists says whether a message exists (nil) or not
	// (store.ErrNotFound), cheaply, for the HEAD b4 repeats.
	MessageExists(ctx context.Context, list, messageID string) error
	// MessageDetail returns one message's metadata, header fields in
	// order and decoded text body; store.ErrNotFound for an unknown
	// message.
	MessageDetail(ctx context.Context, list, messageID string) (*store.Message, []core.Header, string, error)
	// ListsOf returns every list holding a message, in name order, so
	// that /all/, the inbox across every list (as lore's /all/), serves
	// the copy of a list the reader may see (a message cross-posted to a
	// private list and a public one).
	ListsOf(ctx context.Context, messageID string) ([]string, error)
}

// Mboxer writes the downloads git am and b4 read.
type Mboxer interface {
	// SeriesMbox writes a series' patches as mboxrd for git am, with the
	// trailers replies gave; store.ErrNotFound before anything is
	// written.
	SeriesMbox(ctx context.Context, id int64, w io.Writer) error
	// ThreadMboxGz returns the thread of a message as gzipped mboxrd,
	// ready to send (cached by the review layer), with an entity tag
	// that changes with the thread; store.ErrNotFound for an unknown
	// message.
	ThreadMboxGz(ctx context.Context, list, messageID string) ([]byte, string, error)
}

// Searcher reads search results and feeds.
type Searcher interface {
	// Search returns the messages of lists matching a public-inbox
	// query, newest first, with a snippet each; store.ErrInvalid for a
	// query that does not parse, store.ErrNotFound for an unknown list.
	Search(ctx context.Context, lists []string, query string, p store.Page) ([]store.SearchHit, error)
	// SearchMbox writes the whole threads that hold a message matching a
	// public-inbox query, as mboxrd; store.ErrNotFound (nothing matches)
	// or store.ErrInvalid (the query does not parse) before anything is
	// written.
	SearchMbox(ctx context.Context, lists []string, query string, w io.Writer) error
	// RecentMessages returns the newest messages of a list, or of every
	// list for "", newest first, for the new.atom feeds;
	// store.ErrNotFound for an unknown list.
	RecentMessages(ctx context.Context, list string, limit int) ([]store.Message, error)
}

// Reviewer reads the review comments found in the replies to a series'
// patches and records reviews written on the web. web composes nothing
// and writes nothing itself.
type Reviewer interface {
	// SeriesComments returns the comments on the patches of series id,
	// with resolved marks and those carried from the previous revision.
	SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error)
	// SubmitReview turns the draft into one e-mail reply, archives it in
	// the thread and queues it for delivery; it returns the reply's
	// Message-ID and list. Errors wrapping store.ErrInvalid are the
	// reviewer's to fix; store.ErrReadOnly: web reviews are off.
	SubmitReview(ctx context.Context, d store.ReviewDraft) (string, string, error)
	// ResolveComment sets or clears the resolved mark of the comment with
	// key k (store.LineComment.Key) on series seriesID; store.ErrNotFound
	// when the series shows no such comment.
	ResolveComment(ctx context.Context, seriesID int64, k store.Resolution, who string, resolved bool) error
	// ResolvableComments are the comments a series' page may resolve:
	// SeriesComments and the issues raised on the previous revision.
	ResolvableComments(ctx context.Context, seriesID int64) ([]store.LineComment, error)
}

// PendingReviewer keeps a reviewer's pending review of a series (line
// comments saved server-side until submitted) and sends it as mail.
type PendingReviewer interface {
	// DraftComments returns a user's pending comments on a series.
	DraftComments(ctx context.Context, userID, seriesID int64) ([]store.DraftComment, error)
	// SaveDraftComment adds (ID 0) or changes a pending comment;
	// store.ErrInvalid for a bad one, store.ErrNotFound for no such one.
	SaveDraftComment(ctx context.Context, userID, seriesID int64, c store.DraftComment) (*store.DraftComment, error)
	// DeleteDraftComments drops pending comments (nil: all of them).
	DeleteDraftComments(ctx context.Context, userID, seriesID int64, ids []int64) error
	// SubmitPending sends the pending review as replies (one per patch,
	// the summary and verdict to the cover letter) and clears it; it
	// returns their Message-IDs. store.ErrInvalid: nothing to send or a
	// request for changes without a summary.
	SubmitPending(ctx context.Context, p store.PendingReview) ([]string, error)
}

// Verdicter reads what reviewers decided about a series: the standing
// verdicts (Reviewed-by ... and requests for changes) and the open
// issues.
type Verdicter interface {
	// Verdicts returns the series' verdicts, with the revision each was
	// given on; store.ErrNotFound for an unknown series.
	Verdicts(ctx context.Context, seriesID int64) ([]store.Verdict, error)
	// Issues returns the issues raised on the series and on its previous
	// revision, the latter marked Addressed when this one changed the
	// line.
	Issues(ctx context.Context, seriesID int64) ([]store.Issue, error)
}

// Viewed keeps the files of a series a signed-in reader marked viewed on
// the series page (viewed.go): per account, series, patch and file.
type Viewed interface {
	// SetViewed marks the file at path (the new path, the old one of a
	// deleted file) of the patch with index patch viewed by the user, or
	// clears the mark; store.ErrNotFound when the series has no such
	// patch or file.
	SetViewed(ctx context.Context, userID, seriesID int64, patch int, path string, viewed bool) error
	// ViewedFiles returns the user's marks on a series.
	ViewedFiles(ctx context.Context, userID, seriesID int64) ([]store.ViewedFile, error)
}

// CheckStore keeps CI results (checks) on series and patches: the series
// API and page show them and POST /api/v1/series/{id}/checks records them
// (checks.go).
type CheckStore interface {
	// SetCheck records a check, replacing the earlier result of the same
	// context on the same series and patch; store.ErrInvalid for a bad
	// one, store.ErrNotFound for an unknown series.
	SetCheck(ctx context.Context, c *store.Check) (*store.Check, error)
	// Checks returns a series' checks, by patch then context.
	Checks(ctx context.Context, seriesID int64) ([]store.Check, error)
	// CheckByID returns store.ErrNotFound for an unknown id.
	CheckByID(ctx context.Context, id int64) (*store.Check, error)
}

// ListData is what the mailing list pages read (mlist.go): subscribers,
// held messages and messages' authentication.
type ListData interface {
	// Subscribers lists a list's subscribers in state ("" for all).
	Subscribers(ctx context.Context, list, state string) ([]store.Subscriber, error)
	// HeldMessages lists a list's held messages in state ("" for all);
	// HeldMessage returns one with its raw bytes.
	HeldMessages(ctx context.Context, list, state string) ([]store.Held, error)
	HeldMessage(ctx context.Context, id int64) (*store.Held, error)
	// MessageAuth is the JSON kept with a message about its
	// authentication and any maintainer command it carried;
	// store.ErrNotFound when there is none.
	MessageAuth(ctx context.Context, list, messageID string) (string, error)
}

// RepoReader is what the series page reads about git: which lists have a
// repository (its branch) and which series were applied as which commits
// (the "Apply to BRANCH" button and applied commits, apply.go).
type RepoReader interface {
	// ListRepo returns a list's repository; store.ErrNotFound when it
	// has none.
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
	// AppliedSeries returns the commits a series was applied as;
	// store.ErrNotFound when it was not.
	AppliedSeries(ctx context.Context, seriesID int64) (*store.Applied, error)
}

// Generationer says when the stored data changed: a number that changes
// whenever they do (store.Store.Generation). The HTML pages anonymous
// readers get are cached under it (cache.go); an error renders the page
// uncached.
type Generationer interface {
	Generation(ctx context.Context) (uint64, error)
}

// Signatures reads the developer signatures (patatt) of a series'
// messages, checked against the keys the site knows (review/devsig.go).
type Signatures interface {
	// SeriesSignatures returns the signed messages' results by
	// Message-ID (unsigned messages are absent); store.ErrNotFound for
	// an unknown series.
	SeriesSignatures(ctx context.Context, id int64) (map[string]store.MessageSig, error)
}
