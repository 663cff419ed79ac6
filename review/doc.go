// Package review turns archived mail into code review: it recognises
// patches, cover letters and pull requests (with patchmail), assembles
// them into series and revisions, and collects the trailers replies give.
//
// Data model: a Series is one revision (v1, v2 ...) of a patch series; it
// has Total patches of which Received have arrived, an optional cover
// letter (0/n), and links to the revision it replaces (Previous) and the
// one that replaced it (SupersededBy). Patches keep their author, files,
// patch-id and trailers. Series are assembled inside the transaction that
// stores each message (Ingester.Store), so a message and what it changes
// land together; everything is recomputable from the raw messages.
//
// Assembly rules, in order: a patch joins the series of the nearest message
// it references when submitter, version and count agree and its slot is
// free; else a fitting series of the same thread; else the series of the
// same sending (git send-email's Message-ID stem); else, for mail with no
// references (--no-thread), one of the same submitter, version and count
// dated within noThreadWindow. A patch naming no version joins the vN series
// whose cover it answers. A vN links to the older revision its thread
// replies to, or with the same change-id, or with the same submitter and
// subject (a re-send of the same version counts as a newer revision), or
// with a patch of the same commit subject, or carrying at least half of its
// patch-ids; the older one becomes superseded unless a maintainer already
// decided it (approved, rejected, applied).
//
// Trailers: a patch keeps those of its commit message; replies' trailers
// (b4's rule: person trailers only when they name the reply's sender) are
// collected when a series is read (Service.Series): a reply at any depth
// under patch i attaches to patch i, under the cover letter to every patch.
// Reading them late means a review that arrives before its patch still
// counts.
//
// Review comments (comments.go) are read the same way, late, from the
// replies under each patch (or under the cover letter, matched against
// every patch): a run of the reviewer's text under quoted diff lines
// answers the last of them, matched by content against the patch's own
// diff. Only their resolved marks are stored (comment_resolutions), keyed
// by reply, patch, file, side and line; unresolved line comments on a
// patch that comes back with the same patch-id in the next revision are
// shown there too. A review written on the web (compose.go) becomes one
// ordinary e-mail reply, archived through Ingester.Store like arriving mail
// and queued in the outbox, and is read back by the same parser.
//
// Verdicts (verdicts.go) are read from the replies' stored trailers:
// Reviewed-, Acked- and Tested-by, and the line "Changes-requested:"
// (patchmail.ChangesRequestedKey), newest per reviewer, across the
// revisions. A pending review (pending.go) is line comments kept in the
// store per user and series until submitted, then sent as one reply per
// patch and the summary with the verdict to the cover letter, each
// through SubmitReview. Open issues (issues.go) are comments marked in
// the store (comment_issues, keyed as resolutions); the next revision
// shows those of the previous one, addressed when the line changed.
package review
