package review

import (
	"context"
	"strings"
	"testing"

	"patchwell/archive"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// TestWatchdogAllReplies runs FindComments over every reply in the
// linux-watchdog archive slice whose parent is a patch in it, and checks
// each comment mapped to a line against the reply itself: the last quoted
// line above the comment must be that diff line (whitespace aside, or a
// part of it when a mailer wrapped it; a hunk header stands for its first
// line). And it must map most of them: 1228 of this slice's comments when
// this was written (992 more are general: top-posts, replies to the
// commit message, text after trimmed quotes).
func TestWatchdogAllReplies(t *testing.T) {
	if testing.Short() {
		t.Skip("parses the whole archive slice")
	}
	path := corpusDir(t) + "/linux-watchdog-archive/linux-watchdog-last4000.mboxrd.gz"
	type msg struct {
		h  archive.Header
		pm *patchmail.Mail
	}
	byID := map[string]*msg{}
	var order []*msg
	for _, raw := range readSource(t, path) {
		h := archive.ParseHeader(raw)
		pm, err := patchmail.Parse(raw)
		if err != nil {
			continue
		}
		m := &msg{h, pm}
		if _, ok := byID[h.MessageID]; !ok {
			byID[h.MessageID] = m
		}
		order = append(order, m)
	}
	replies, mapped, general, bad := 0, 0, 0, 0
	for _, m := range order {
		p := byID[m.h.InReplyTo]
		if p == nil || p.pm.Kind != patchmail.KindPatch || m.pm.Kind != patchmail.KindNone {
			continue
		}
		replies++
		from := 0 // comments come in order: search each after the previous
		for _, c := range FindComments([]Target{{MessageID: p.h.MessageID, Diff: p.pm.Diff}}, p.h.MessageID, m.pm.Body) {
			if c.File == "" || c.Line == 0 {
				general++
				continue
			}
			mapped++
			want, ok := diffLineAt(p.pm.Diff, c.File, c.Side, c.Line)
			first := strings.SplitN(c.Body, "\n", 2)[0]
			i := strings.Index(m.pm.Body[from:], "\n"+first)
			if i >= 0 {
				i += from
				from = i + 1
			}
			if !ok || i < 0 {
				bad++
				t.Errorf("%s: comment %q at %s %s:%d: not a diff line or not in the body", m.h.MessageID, first, c.File, c.Side, c.Line)
				continue
			}
			above := strings.Split(strings.TrimRight(m.pm.Body[:i], "\n"), "\n")
			q := above[len(above)-1]
			// Blank quoted lines between the diff line and the comment.
			for j := len(above) - 1; j > 0 && strings.Trim(q, "> \t") == ""; j-- {
				q = above[j-1]
			}
			for strings.HasPrefix(q, ">") || strings.HasPrefix(q, " >") {
				q = strings.TrimPrefix(strings.TrimPrefix(q, " "), ">")
			}
			if normWS(q) != normWS(want) && normWS(q) != normWS(want[1:]) && !strings.HasPrefix(strings.TrimSpace(q), "@@ ") &&
				!(len(normWS(q)) > 8 && (strings.HasSuffix(normWS(want), normWS(q)) || strings.HasPrefix(normWS(want), normWS(q)))) { // a wrapped line
				bad++
				t.Errorf("%s: comment %q mapped to %s:%d %q, the reply quotes %q above it", m.h.MessageID, first, c.File, c.Line, want, q)
			}
		}
	}
	t.Logf("%d replies to patches: %d comments mapped to diff lines, %d general, %d wrong", replies, mapped, general, bad)
	if mapped < 1000 {
		t.Errorf("only %d comments mapped", mapped)
	}
}

// BenchmarkSeriesComments reads the comments of the linux-watchdog series
// whose threads hold the most replies (what the series page asks on every
// view).
func BenchmarkSeriesComments(b *testing.B) {
	path := corpusDir(b) + "/linux-watchdog-archive/linux-watchdog-last4000.mboxrd.gz"
	in, st := newTestIngester(b)
	importFile(b, in, path)
	ctx := context.Background()
	all, err := st.SeriesList(ctx, "dev", "", store.Page{Limit: 1000})
	if err != nil {
		b.Fatal(err)
	}
	svc := NewService(st)
	best, most := int64(0), 0
	for _, s := range all {
		msgs, err := st.ThreadMessages(ctx, []int64{s.ThreadID})
		if err != nil {
			b.Fatal(err)
		}
		if len(msgs) > most {
			best, most = s.ID, len(msgs)
		}
	}
	cs, err := svc.SeriesComments(ctx, best)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("series %d: %d messages in its thread, %d comments", best, most, len(cs))
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.SeriesComments(ctx, best); err != nil {
			b.Fatal(err)
		}
	}
}
