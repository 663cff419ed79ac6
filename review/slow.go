package review

import (
	"context"
	"strings"
	"sync"
	"time"
)

// Sign-ins to an account that had many recent wrong passwords, from
// wherever they came, are slowed, never refused: refusing would let
// anyone lock the owner out. Authenticate waits before it checks the
// password, so that an attacker cannot tell a wrong guess from a slow
// answer; the owner waits at most MaxSlow. Hard limits live with the
// callers, which know the client's address (web: per address and
// account; imapd: per address).
const (
	// slowAfter recent failures cost nothing (typos).
	slowAfter = 5
	// slowFirst is the delay after one failure more; it doubles with
	// each further one, up to MaxSlow.
	slowFirst = 100 * time.Millisecond
	// MaxSlow bounds the delay.
	MaxSlow = 2 * time.Second
	// slowForget: one failure is forgotten per this much time.
	slowForget = 30 * time.Second
	// maxFailureKeys bounds the memory: past it, forgotten entries go.
	maxFailureKeys = 100000
)

// failures counts recent wrong passwords per account address (known or
// not, so that the delay does not tell which addresses have accounts),
// each forgotten after slowForget.
type failures struct {
	mu sync.Mutex
	m  map[string]*failureCount
}

type failureCount struct {
	n    float64
	last time.Time
}

// accountKey is the key of an address: accounts' addresses are compared
// without regard to case.
func accountKey(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// count returns the recent failures of key at now (0 for none).
func (f *failures) count(key string, now time.Time) float64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.m[key]
	if c == nil {
		return 0
	}
	return c.at(now)
}

func (c *failureCount) at(now time.Time) float64 {
	return max(0, c.n-float64(now.Sub(c.last))/float64(slowForget))
}

// add counts one failure of key at now.
func (f *failures) add(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*failureCount{}
	}
	if len(f.m) >= maxFailureKeys {
		for k, c := range f.m {
			if c.at(now) == 0 {
				delete(f.m, k)
			}
		}
	}
	c := f.m[key]
	if c == nil {
		c = &failureCount{}
		f.m[key] = c
	}
	c.n, c.last = c.at(now)+1, now
}

// delay is how long a sign-in waits after n recent failures.
func delay(n float64) time.Duration {
	extra := int(n) - slowAfter
	switch {
	case extra <= 0:
		return 0
	case extra > 8:
		return MaxSlow
	}
	return min(MaxSlow, slowFirst<<(extra-1))
}

// sleepCtx waits d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
