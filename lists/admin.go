package lists

// An operator's changes to a list, made on the command line rather than
// by mail: subscribers added from a file, and the posting policy.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"patchwell/store"
)

// Subscriptions adds subscribers (store.MailingList.Subscribe).
type Subscriptions interface {
	Subscribe(ctx context.Context, list, email, name, state string) error
}

// SubscribeAll subscribes to list every address read from r, one per
// line (blank lines and lines starting with # skipped), active at once:
// an operator adds them, so they need no confirmation. A bad line stops
// it with an error that starts with name and the line's number. It
// returns how many addresses were subscribed.
func SubscribeAll(ctx context.Context, st Subscriptions, list string, r io.Reader, name string) (int, error) {
	sc := bufio.NewScanner(r)
	n, line := 0, 0
	for sc.Scan() {
		line++
		a := strings.TrimSpace(sc.Text())
		if a == "" || strings.HasPrefix(a, "#") {
			continue
		}
		if err := st.Subscribe(ctx, list, a, "", store.SubActive); err != nil {
			return n, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		n++
	}
	return n, sc.Err()
}

// PolicyChange is a change to a list's posting policy: an empty Posting
// or DMARC, or a nil Allow or Deny, keeps its value. Allow and Deny are
// addresses and @domains, comma-separated ("" clears the rule).
type PolicyChange struct {
	Posting, DMARC string
	Allow, Deny    *string
}

// Policies reads and writes posting policies.
type Policies interface {
	Policy(ctx context.Context, list string) (*store.ListPolicy, error)
	SetPolicy(ctx context.Context, list string, p store.ListPolicy) error
}

// SetPolicy applies c to the posting policy of list, stores it if c
// changes anything, and returns it.
func SetPolicy(ctx context.Context, st Policies, list string, c PolicyChange) (*store.ListPolicy, error) {
	p, err := st.Policy(ctx, list)
	if err != nil {
		return nil, err
	}
	if c == (PolicyChange{}) {
		return p, nil
	}
	if c.Posting != "" {
		p.Posting = c.Posting
	}
	if c.DMARC != "" {
		p.DMARC = c.DMARC
	}
	if c.Allow != nil {
		p.Allow = splitRules(*c.Allow)
	}
	if c.Deny != nil {
		p.Deny = splitRules(*c.Deny)
	}
	if err := st.SetPolicy(ctx, list, *p); err != nil {
		return nil, err
	}
	return p, nil
}

// splitRules splits a comma-separated list of addresses and @domains.
func splitRules(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
