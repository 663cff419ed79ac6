// Package imapd serves the archive to mail clients over IMAP (go-imap v2's
// imapserver), read-only, as public-inbox-imapd serves lore: one mailbox
// per list (NAME) and one holding only its patches and cover letters
// (NAME/patches), plus an empty INBOX because clients expect one, and for
// a signed-in account "Needs me" (needsme.go): the cover letter or first
// patch of each series that waits for them, across the lists they may
// read, under the messages' row ids as UIDs.
//
// Anyone may read public lists: LOGIN with any user name that is not an
// e-mail address, any password, or AUTHENTICATE ANONYMOUS. A user name
// that is an address signs in to that account (password or API token;
// TLS or loopback only, failures rate-limited per client address), and
// every mailbox a session lists or opens is checked with access.Allowed,
// so private lists exist only for their members.
//
// UIDs are the store's per-list UIDs and UIDVALIDITY the list's, fixed
// when the list is created. The archive never expunges, so sequence
// number n is the n-th UID of the mailbox for every session: a shared,
// append-only index per mailbox (hub.go) gives both, and a session keeps
// only a slice of it. One watcher brings the indexes up to date, woken by
// Notify after a commit in this process or by its poll of the store's
// generation for other processes (patchwell import), and wakes the
// sessions in IDLE through a channel per mailbox.
//
// Flags are kept for the session only (PERMANENTFLAGS is empty); STORE
// succeeds, APPEND, COPY, MOVE, EXPUNGE, CREATE, DELETE and RENAME answer
// NO [CANNOT]. FETCH streams from the store in batches; bodies are the
// stored bytes with bare LF sent as CRLF; BODYSTRUCTURE and sections of
// parts come from archive.ParseMIME (mime.go), and a FETCH stops when its
// client hangs up. SEARCH is described in search.go.
//
// Every connection goes through a guard (guard.go) that reads commands
// before go-imap does and answers BAD the client mistakes go-imap would
// take for faults of its own; a session's own errors become answers in
// one place (session.fault), which logs the faults of the server.
package imapd
