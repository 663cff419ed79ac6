package imapd

import (
	"sort"
	"strings"

	"github.com/emersion/go-imap/v2"
)

// span is an inclusive range of UIDs.
type span struct{ lo, hi uint32 }

// uidRanges is a set of UIDs as sorted, disjoint, non-adjacent spans:
// "\Seen on 1:*" is one span, so session flags cost little however big
// the mailbox.
type uidRanges []span

func (r uidRanges) contains(uid uint32) bool {
	i := sort.Search(len(r), func(i int) bool { return r[i].hi >= uid })
	return i < len(r) && r[i].lo <= uid
}

// add returns the set with [lo, hi] added.
func (r uidRanges) add(lo, hi uint32) uidRanges {
	var out uidRanges
	i := 0
	for ; i < len(r) && uint64(r[i].hi)+1 < uint64(lo); i++ {
		out = append(out, r[i])
	}
	for ; i < len(r) && uint64(r[i].lo) <= uint64(hi)+1; i++ {
		lo, hi = min(lo, r[i].lo), max(hi, r[i].hi)
	}
	out = append(out, span{lo, hi})
	return append(out, r[i:]...)
}

// remove returns the set with [lo, hi] taken out.
func (r uidRanges) remove(lo, hi uint32) uidRanges {
	var out uidRanges
	for _, s := range r {
		if s.hi < lo || s.lo > hi {
			out = append(out, s)
			continue
		}
		if s.lo < lo {
			out = append(out, span{s.lo, lo - 1})
		}
		if s.hi > hi {
			out = append(out, span{hi + 1, s.hi})
		}
	}
	return out
}

// flagRecent is IMAP4rev1's \\Recent, which nobody may set.
const flagRecent = imap.Flag(`\Recent`)

// maxSessionFlags bounds the distinct flags and keywords a session may
// set: they live in memory only.
const maxSessionFlags = 32

// sessionFlags are the flags a session set with STORE. The archive is
// shared and read-only, so they are kept for the session only (and
// PERMANENTFLAGS says so).
type sessionFlags map[imap.Flag]uidRanges

func canonicalFlag(f imap.Flag) imap.Flag {
	if strings.HasPrefix(string(f), `\`) {
		s := strings.ToLower(string(f))
		if len(s) > 1 {
			return imap.Flag(`\` + strings.ToUpper(s[1:2]) + s[2:])
		}
	}
	return f
}

// of returns the flags set on uid, in a stable order.
func (f sessionFlags) of(uid uint32) []imap.Flag {
	out := []imap.Flag{}
	for fl, r := range f {
		if r.contains(uid) {
			out = append(out, fl)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// has reports whether uid carries fl; \Recent is never set.
func (f sessionFlags) has(uid uint32, fl imap.Flag) bool {
	return f[canonicalFlag(fl)].contains(uid)
}

// apply runs a STORE operation on the UIDs in spans; false when it would
// take the session past maxSessionFlags.
func (f sessionFlags) apply(op imap.StoreFlagsOp, flags []imap.Flag, spans []span) bool {
	want := map[imap.Flag]bool{}
	for _, fl := range flags {
		if fl = canonicalFlag(fl); fl != flagRecent {
			want[fl] = true
		}
	}
	if op != imap.StoreFlagsDel {
		n := len(f)
		for fl := range want {
			if _, ok := f[fl]; !ok {
				n++
			}
		}
		if n > maxSessionFlags {
			return false
		}
	}
	for fl := range f {
		if op == imap.StoreFlagsSet && !want[fl] {
			for _, s := range spans {
				f[fl] = f[fl].remove(s.lo, s.hi)
			}
		}
	}
	for fl := range want {
		for _, s := range spans {
			if op == imap.StoreFlagsDel {
				f[fl] = f[fl].remove(s.lo, s.hi)
			} else {
				f[fl] = f[fl].add(s.lo, s.hi)
			}
		}
	}
	for fl, r := range f {
		if len(r) == 0 {
			delete(f, fl)
		}
	}
	return true
}
