package review

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"patchwell/archive"
	"patchwell/review/patchmail"
	"patchwell/store"
)

// diffLineAt returns the text of a diff's line at file/side/line, walking
// the diff by its hunk headers (an oracle independent of FindComments).
func diffLineAt(diff, file, side string, line int) (string, bool) {
	hunk := regexp.MustCompile(`^@@ -(\d+)(?:,\d+)? \+(\d+)`)
	cur, oldNo, newNo, git := "", 0, 0, false
	for _, l := range strings.Split(diff, "\n") {
		if strings.HasPrefix(l, "diff --git ") {
			git = true
			cur = l[strings.LastIndex(l, " b/")+3:]
			oldNo, newNo = 0, 0
			continue
		}
		if m := hunk.FindStringSubmatch(l); m != nil {
			oldNo, _ = strconv.Atoi(m[1])
			newNo, _ = strconv.Atoi(m[2])
			continue
		}
		if strings.HasPrefix(l, "+++ ") && !git {
			cur = strings.TrimPrefix(strings.SplitN(l[4:], "\t", 2)[0], "b/")
			continue
		}
		if cur != file || oldNo == 0 && newNo == 0 {
			continue
		}
		switch {
		case strings.HasPrefix(l, "+"):
			if side == store.SideNew && newNo == line {
				return l, true
			}
			newNo++
		case strings.HasPrefix(l, "-"):
			if side == store.SideOld && oldNo == line {
				return l, true
			}
			oldNo++
		case strings.HasPrefix(l, " "), l == "": // a mailer may strip an empty context line's space
			if side == store.SideNew && newNo == line {
				return l, true
			}
			oldNo++
			newNo++
		}
	}
	return "", false
}

// TestWatchdogReviewComments takes two real series of the linux-watchdog
// archive and Guenter Roeck's inline reviews of them (Thunderbird,
// format=flowed, trimmed hunks, "..." marks), archives them, and checks
// every comment lands on the diff line quoted just above it in the reply.
func TestWatchdogReviewComments(t *testing.T) {
	path := corpusDir(t) + "/linux-watchdog-archive/linux-watchdog-last4000.mboxrd.gz"
	prefixes := []string{"20240805200400.54267-", "20241210104524.2466586-"}
	replies := map[string]int{ // reply -> comments in it: runs of unquoted text after a quote, counted in the raw mail
		"81ac76eb-8b43-457b-80be-c588ac4790e1@roeck-us.net": 8,
		"e8165e99-9770-4287-8a05-709a9a7bb701@roeck-us.net": 1,
	}
	in, st := newTestIngester(t)
	ctx := context.Background()
	raws := map[string][]byte{}
	for _, raw := range readSource(t, path) {
		h := archive.ParseHeader(raw)
		keep := replies[h.MessageID] > 0
		for _, p := range prefixes {
			if strings.HasPrefix(h.MessageID, p) && !strings.HasPrefix(strings.ToLower(h.Subject), "re:") {
				keep = true
			}
		}
		if keep {
			raws[h.MessageID] = raw
			if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
				t.Fatalf("Deliver(%s) = %v", h.MessageID, err)
			}
		}
	}
	if len(raws) != 2+3+8 {
		t.Fatalf("found %d of the 13 messages in the archive", len(raws))
	}
	svc := NewService(st)
	series, err := st.SeriesList(ctx, "dev", "", store.Page{})
	if err != nil || len(series) != 2 {
		t.Fatalf("SeriesList() = %d series, %v; want 2", len(series), err)
	}
	got := map[string]int{}
	for _, se := range series {
		cs, err := svc.SeriesComments(ctx, se.ID)
		if err != nil {
			t.Fatalf("SeriesComments(%d) = %v", se.ID, err)
		}
		for _, c := range cs {
			got[c.MessageID]++
			if c.File == "" {
				t.Errorf("comment %q of %s maps to no line", c.Body, c.MessageID)
				continue
			}
			if c.Author.Email != "linux@roeck-us.net" || c.Date.IsZero() {
				t.Errorf("comment author/date = %v %v", c.Author, c.Date)
			}
			pm, err := patchmail.Parse(raws[c.PatchMessageID])
			if err != nil {
				t.Fatal(err)
			}
			want, ok := diffLineAt(pm.Diff, c.File, c.Side, c.Line)
			if !ok {
				t.Errorf("comment %q: %s %s:%d is not a line of the patch", c.Body, c.File, c.Side, c.Line)
				continue
			}
			// The reply's last quoted line above the comment is that line.
			rm, _ := patchmail.Parse(raws[c.MessageID])
			first := strings.SplitN(c.Body, "\n", 2)[0]
			i := strings.Index(rm.Body, "\n"+first)
			if i < 0 {
				t.Fatalf("comment %q not in the reply body", first)
			}
			above := strings.Split(strings.TrimRight(rm.Body[:i], "\n"), "\n")
			quoted := strings.TrimPrefix(above[len(above)-1], ">")
			if normWS(quoted) != normWS(want) {
				t.Errorf("comment %q mapped to %s:%d %q, but the reply quotes %q above it", first, c.File, c.Line, want, quoted)
			}
		}
	}
	for id, n := range replies {
		if got[id] != n {
			t.Errorf("reply %s: %d comments, want %d", id, got[id], n)
		}
	}
	// Two checked by hand against the patch: the first comment answers the
	// " */" closing the comment above udelay, new line 68 of rzv2h_wdt.c;
	// the second the div64_ul() line, 70.
	cs, _ := svc.SeriesComments(ctx, seriesOf(t, st, "20240805200400.54267-3-prabhakar.mahadev-lad.rj@bp.renesas.com"))
	var lines []string
	for _, c := range cs {
		lines = append(lines, fmt.Sprintf("%s:%s:%d", c.File, c.Side, c.Line))
	}
	if len(lines) < 2 || lines[0] != "drivers/watchdog/rzv2h_wdt.c:new:68" || lines[1] != "drivers/watchdog/rzv2h_wdt.c:new:70" {
		t.Errorf("first comments at %v, want rzv2h_wdt.c new 68 and 70", lines)
	}
}

func seriesOf(t *testing.T, st store.Store, msgid string) int64 {
	t.Helper()
	m, err := st.Message(context.Background(), "dev", msgid)
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("Message(%s) = %+v, %v; want one in a series", msgid, m, err)
	}
	return m.SeriesID
}
