// Package outbound delivers the outbox to the list's subscribers through a
// smarthost, and holds what the rest of a mailing list needs to agree on
// with it: the per-recipient list headers, the VERP bounce address, the
// one-click unsubscribe token, the DMARC From rewrite and the DSN parser.
//
// It owns no policy: who receives a post (the subscriptions), whether its
// From is rewritten (the author domain's DMARC policy) and what a bounce
// does to a subscriber are decided by the caller. It must not rewrite a
// stored message: the list headers are prepended at send time, so the
// body and the original headers reach every recipient byte for byte and
// the author's DKIM signature still verifies.
//
// # Queue
//
// The caller archives a post, adds its outbox row (store.Tx.AddOutbox)
// and queues one delivery per recipient (store.Tx.QueueDeliveries) in one
// transaction, so an archived post is never lost before delivery
// ([Queue.Distribute] does that; [Queue.Send] queues the list's own
// mail). A [Worker] (one per data directory: serve holds its lock) takes due
// deliveries in batches grouped by message and sends each recipient its
// own SMTP transaction over one reused connection to the smarthost
// (STARTTLS and AUTH PLAIN optional; RSET after a refused transaction).
//
// # Exactly once, almost
//
// A delivery is marked sent in its own committed (fsynced) transaction
// right after the smarthost's 250 for it, before the next transaction
// starts. A crash therefore loses at most one acknowledgement: if the
// process dies between the smarthost's 250 and that commit, the one
// message in flight is sent again after the restart. Every other
// recipient gets exactly one copy. (Config.CommitEvery widens this window
// to that many messages in exchange for fewer fsyncs.)
//
// # Retries
//
// A 4xx reply or a connection error schedules a retry after a backoff
// that starts at Config.MinBackoff (1 minute) and doubles per attempt up
// to Config.MaxBackoff (6 hours); a delivery still pending
// Config.GiveUp (5 days) after its message was queued fails. A 5xx reply
// to RCPT or DATA fails the delivery at once; a refused MAIL FROM, even
// with 5xx (530 authentication required), is retried, since it says more
// about the smarthost's configuration than about the recipient. A
// connection, STARTTLS or AUTH failure defers the rest of the batch. All of it is in SQLite and survives
// restarts.
//
// # VERP
//
// The envelope sender of the copy for local@domain sent by list NAME is
//
//	NAME+bounces-local=domain@DOMAIN
//
// Decoding splits at the first '+' (list names have none) and at the
// last '=' (host names have none), so any local part, '=', '+' and '-'
// included, comes back unchanged: see [VERP] and [ParseVERP]. A
// recipient whose address cannot be written that way (a quoted local
// part, an address literal) gets the plain NAME+bounces@DOMAIN, and its
// bounces are attributed by their DSN's Final-Recipient ([ParseDSN]).
package outbound
