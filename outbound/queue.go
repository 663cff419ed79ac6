package outbound

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"patchwell/store"
)

// QueueStore is what a Queue needs of the store.
type QueueStore interface {
	ListInfo(ctx context.Context, name string) (*store.List, error)
	Subscribers(ctx context.Context, list, state string) ([]store.Subscriber, error)
	Update(ctx context.Context, fn func(store.Tx) error) error
}

// Queue puts mail in the outbox for the Worker. Its two methods have the
// shape of lists.Outbox, so the list server can use it as is.
type Queue struct {
	st     QueueStore
	domain string
	// subscribers returns the addresses a post to list goes to.
	subscribers func(ctx context.Context, list string) ([]string, error)
	// kick, when set, wakes the worker (Worker.Kick).
	kick func()
}

// NewQueue returns a Queue over st for the lists of domain; subscribers
// names the recipients of a list's posts (nil: the list's active subscribers), kick
// (may be nil) wakes the worker once mail is committed.
func NewQueue(st QueueStore, domain string, subscribers func(ctx context.Context, list string) ([]string, error), kick func()) *Queue {
	if subscribers == nil {
		subscribers = func(ctx context.Context, list string) ([]string, error) {
			subs, err := st.Subscribers(ctx, list, store.SubActive)
			out := make([]string, len(subs))
			for i, s := range subs {
				out[i] = s.Email
			}
			return out, err
		}
	}
	return &Queue{st: st, domain: domain, subscribers: subscribers, kick: kick}
}

// Distribute queues an archived post to the list's subscribers inside the
// transaction that archived it, From rewritten when rewriteFrom (the
// author's domain publishes DMARC p=reject or p=quarantine). A duplicate
// (the same bytes archived before) is not sent again. The worker is
// kicked at once and finds the mail once tx commits (or, if the kick
// comes too early, at its next poll); call Kick after the commit to be
// sure.
func (q *Queue) Distribute(ctx context.Context, tx store.Tx, list *store.List, a *store.Added, raw []byte, rewriteFrom bool, also []string) error {
	if a == nil || a.Duplicate {
		return nil
	}
	rcpts, err := q.subscribers(ctx, list.Name)
	if err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	rcpts = withAlso(rcpts, also)
	if len(rcpts) == 0 {
		return nil
	}
	if rewriteFrom {
		raw = RewriteFrom(raw, list.Name, q.domain)
	}
	id, err := tx.AddOutbox(ctx, store.OutboxMessage{ListID: list.ID, MessageID: a.MessageID, Raw: raw})
	if err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	if err := tx.QueueDeliveries(ctx, id, rcpts); err != nil {
		return fmt.Errorf("distribute: %w", err)
	}
	q.Kick()
	return nil
}

// Send queues a message the list itself writes (a confirmation request,
// a help reply, a note to the owners) to rcpts, in a transaction of its
// own. It is not archived, so its copies carry no Archived-At.
func (q *Queue) Send(ctx context.Context, list string, rcpts []string, raw []byte) error {
	if len(rcpts) == 0 {
		return errors.New("send: no recipients")
	}
	l, err := q.st.ListInfo(ctx, list)
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	err = q.st.Update(ctx, func(tx store.Tx) error {
		id, err := tx.AddOutbox(ctx, store.OutboxMessage{ListID: l.ID, Raw: raw})
		if err != nil {
			return err
		}
		return tx.QueueDeliveries(ctx, id, rcpts)
	})
	if err != nil {
		return fmt.Errorf("send: %w", err)
	}
	q.Kick()
	return nil
}

// Kick wakes the worker, if there is one.
func (q *Queue) Kick() {
	if q.kick != nil {
		q.kick()
	}
}

// maxAlso bounds the recipients a post adds to the subscribers (a web
// review's author and Cc's): a patch that names a hundred addresses
// must not make every reply to it a mailing to them.
const maxAlso = 20

// withAlso adds to rcpts the addresses of also it lacks (case aside),
// at most maxAlso of them.
func withAlso(rcpts, also []string) []string {
	have := make(map[string]bool, len(rcpts))
	for _, r := range rcpts {
		have[strings.ToLower(r)] = true
	}
	added := 0
	for _, a := range also {
		k := strings.ToLower(strings.TrimSpace(a))
		if k == "" || have[k] || !strings.Contains(k, "@") || added == maxAlso {
			continue
		}
		have[k] = true
		rcpts = append(rcpts, k)
		added++
	}
	return rcpts
}
