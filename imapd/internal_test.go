package imapd

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/emersion/go-imap/v2"

	"patchwell/archive"
	"patchwell/store"
)

func TestHeaderEndAndSections(t *testing.T) {
	wire := []byte("Subject: hi\r\nFrom: a@b\r\n\r\nbody\r\nline\r\n")
	if got := headerEnd(wire); got != len("Subject: hi\r\nFrom: a@b\r\n\r\n") {
		t.Fatalf("headerEnd = %d", got)
	}
	for _, tc := range []struct {
		bs   imap.FetchItemBodySection
		want string
	}{
		{imap.FetchItemBodySection{}, string(wire)},
		{imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader}, "Subject: hi\r\nFrom: a@b\r\n\r\n"},
		{imap.FetchItemBodySection{Specifier: imap.PartSpecifierText}, "body\r\nline\r\n"},
		{imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: 9, Size: 2}}, "hi"},
		{imap.FetchItemBodySection{Partial: &imap.SectionPartial{Offset: 1000, Size: 2}}, ""},
		{imap.FetchItemBodySection{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"from"}}, "From: a@b\r\n\r\n"},
	} {
		if got := bodySection(wire, &tc.bs); string(got) != tc.want {
			t.Errorf("bodySection(%+v) = %q, want %q", tc.bs, got, tc.want)
		}
	}
	if got := headerEnd([]byte("Subject: no body")); got != len("Subject: no body") {
		t.Errorf("headerEnd without blank line = %d", got)
	}
}

// TestUIDRanges checks the span set against a plain map under random
// operations.
func TestUIDRanges(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var set uidRanges
	model := map[uint32]bool{}
	for op := 0; op < 2000; op++ {
		lo := uint32(r.IntN(200)) + 1
		hi := lo + uint32(r.IntN(20))
		add := r.IntN(3) > 0
		if add {
			set = set.add(lo, hi)
		} else {
			set = set.remove(lo, hi)
		}
		for u := lo; u <= hi; u++ {
			model[u] = add
		}
		for i := 1; i < len(set); i++ {
			if set[i-1].hi+1 >= set[i].lo {
				t.Fatalf("spans not disjoint and apart: %v", set)
			}
		}
		for u := uint32(0); u < 230; u++ {
			if set.contains(u) != model[u] {
				t.Fatalf("after op %d: contains(%d) = %v, want %v (%v)", op, u, set.contains(u), model[u], set)
			}
		}
	}
}

func TestSessionFlags(t *testing.T) {
	f := sessionFlags{}
	f.apply(imap.StoreFlagsAdd, []imap.Flag{`\seen`, "$Label"}, []span{{1, 10}})
	f.apply(imap.StoreFlagsDel, []imap.Flag{`\Seen`}, []span{{5, 5}})
	if got := f.of(5); len(got) != 1 || got[0] != "$Label" {
		t.Errorf("flags of 5 = %v", got)
	}
	if !f.has(4, imap.FlagSeen) || f.has(5, imap.FlagSeen) || f.has(11, imap.FlagSeen) {
		t.Error("\\Seen on the wrong messages")
	}
	f.apply(imap.StoreFlagsSet, []imap.Flag{imap.FlagFlagged}, []span{{1, 3}})
	if got := f.of(2); len(got) != 1 || got[0] != imap.FlagFlagged {
		t.Errorf("after set, flags of 2 = %v", got)
	}
	if !f.has(4, imap.FlagSeen) {
		t.Error("set on 1:3 changed message 4")
	}
	var many []imap.Flag
	for i := 0; i < maxSessionFlags+1; i++ {
		many = append(many, imap.Flag(string(rune('a'+i%26))+string(rune('a'+i/26))))
	}
	if f.apply(imap.StoreFlagsAdd, many, []span{{1, 1}}) {
		t.Error("a session could set more than maxSessionFlags flags")
	}
	if f.apply(imap.StoreFlagsAdd, []imap.Flag{`\Recent`}, []span{{1, 1}}); f.has(1, `\Recent`) {
		t.Error(`\Recent was set`)
	}
}

func TestSpans(t *testing.T) {
	ss := &session{uids: []uint32{2, 3, 5, 8, 13}}
	for _, tc := range []struct {
		set  imap.NumSet
		want [][2]int
		bad  bool
	}{
		{imap.SeqSetNum(1), [][2]int{{0, 0}}, false},
		{imap.SeqSet{{Start: 2, Stop: 0}}, [][2]int{{1, 4}}, false},
		{imap.SeqSet{{Start: 4, Stop: 2}}, [][2]int{{1, 3}}, false},
		{imap.SeqSet{{Start: 9, Stop: 0}}, [][2]int{{4, 4}}, false},
		{imap.SeqSetNum(6), nil, true},
		{imap.SeqSetNum(1, 2, 3), [][2]int{{0, 2}}, false},
		{imap.UIDSetNum(3, 4, 5), [][2]int{{1, 2}}, false},
		{imap.UIDSet{{Start: 6, Stop: 0}}, [][2]int{{3, 4}}, false},
		{imap.UIDSet{{Start: 100, Stop: 0}}, [][2]int{{4, 4}}, false},
		{imap.UIDSet{{Start: 100, Stop: 200}}, nil, false},
	} {
		got, err := ss.spans(tc.set)
		if (err != nil) != tc.bad {
			t.Errorf("spans(%v) error %v, want bad=%v", tc.set, err, tc.bad)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("spans(%v) = %v, want %v", tc.set, got, tc.want)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("spans(%v) = %v, want %v", tc.set, got, tc.want)
			}
		}
	}
	if ss.seqOf(8) != 4 || ss.seqOf(4) != 0 {
		t.Error("seqOf wrong")
	}
}

func TestBitset(t *testing.T) {
	for _, n := range []int{0, 1, 63, 64, 65, 130} {
		b := newBitset(n, true)
		count := 0
		for range b.ones(n) {
			count++
		}
		if count != n {
			t.Errorf("full bitset of %d has %d ones", n, count)
		}
		b.not(n)
		for i := range b.ones(n) {
			t.Errorf("not(full) has bit %d", i)
		}
	}
	b := newBitset(100, false)
	b.set(3)
	b.set(64)
	var got []int
	for i := range b.ones(100) {
		got = append(got, i)
	}
	if !bytes.Equal([]byte{byte(got[0]), byte(got[1])}, []byte{3, 64}) || len(got) != 2 {
		t.Errorf("ones = %v", got)
	}
}

// TestMsgBytes: the lazy views agree with converting the whole message.
func TestMsgBytes(t *testing.T) {
	for _, raw := range []string{
		"Subject: a\nFrom: b\n\nbody\nmore\n",
		"Subject: a\r\nFrom: b\r\n\r\nbody\r\n",
		"Subject: a\nX: y\r\n\nmixed\r\nends\n",
		"Subject: no body\n",
		"\nno header\n",
		"",
	} {
		whole := archive.ToCRLF([]byte(raw), nil)
		// The size as sent, from the store; 0 for rows without it.
		for _, wire := range []int{store.WireSize([]byte(raw)), 0} {
			var mb msgBytes
			mb.reset([]byte(raw), wire, nil)
			if got := mb.size(); got != len(whole) {
				t.Errorf("%q (%d): size %d, want %d", raw, wire, got, len(whole))
			}
			if got, want := string(mb.header()), string(whole[:headerEnd(whole)]); got != want {
				t.Errorf("%q (%d): header %q, want %q", raw, wire, got, want)
			}
			if got := mb.whole(); string(got) != string(whole) {
				t.Errorf("%q (%d): whole %q", raw, wire, got)
			}
			if got, want := string(mb.header()), string(whole[:headerEnd(whole)]); got != want {
				t.Errorf("%q (%d): header after whole %q, want %q", raw, wire, got, want)
			}
		}
	}
}
