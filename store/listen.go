package store

import (
	"context"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Changes returns a channel that receives (without blocking the store;
// one pending signal at most) whenever a write commits in any process on
// the database: on PostgreSQL, through LISTEN on the NOTIFY every write
// transaction sends (pgWriteLock), so the IMAP IDLE of one node hears of
// mail another node took. On SQLite it returns nil (no signal: readers
// poll Generation, which sees other processes' commits).
func (s *DB) Changes() <-chan struct{} {
	if !s.pg {
		return nil
	}
	ch := make(chan struct{}, 1)
	s.listen.mu.Lock()
	defer s.listen.mu.Unlock()
	s.listen.subs = append(s.listen.subs, ch)
	if s.listen.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		s.listen.cancel = cancel
		s.listen.done = make(chan struct{})
		go s.listenLoop(ctx)
	}
	return ch
}

// listener is the one LISTEN connection of a PostgreSQL store.
type listener struct {
	mu     sync.Mutex
	subs   []chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

func (s *DB) signalChanges() {
	s.listen.mu.Lock()
	defer s.listen.mu.Unlock()
	for _, ch := range s.listen.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// listenLoop keeps a connection listening, reconnecting after errors;
// after a reconnection it signals once, for what it may have missed.
func (s *DB) listenLoop(ctx context.Context) {
	defer close(s.listen.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		conn, err := pgx.Connect(ctx, s.url)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN patchwell")
		}
		if err == nil {
			backoff = 100 * time.Millisecond
			s.signalChanges()
			for err == nil {
				_, err = conn.WaitForNotification(ctx)
				if err == nil {
					s.signalChanges()
				}
			}
		}
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.Background(), time.Second)
			conn.Close(closeCtx)
			cancel()
		}
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *DB) closeListener() {
	s.listen.mu.Lock()
	cancel, done := s.listen.cancel, s.listen.done
	s.listen.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}
