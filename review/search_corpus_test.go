package review

import (
	"bytes"
	"context"
	"net/mail"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

var (
	plusFile = regexp.MustCompile(`(?m)^\+\+\+ b/(\S+)`)
	fromAddr = regexp.MustCompile(`(?mi)^From:.*?([a-z0-9._%+-]+@[a-z0-9.-]+)`)
)

// TestSearchWatchdog imports the real linux-watchdog archive and checks
// searches against answers computed here from the raw text, without our
// parsers or the index: the mails whose diff adds to a file (a "+++ b/"
// line), the mails of a sender, the mails of a date range.
func TestSearchWatchdog(t *testing.T) {
	if testing.Short() {
		t.Skip("imports 4,000 messages")
	}
	in, st := newTestIngester(t)
	importFile(t, in, filepath.Join(corpusDir(t), "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz"))
	ctx := context.Background()
	svc := NewService(st)

	byFile := map[string][]string{}
	byFrom := map[string][]string{}
	var dates []time.Time
	var ids []string
	err := st.Walk(ctx, "dev", func(m *store.Message, raw []byte) error {
		if m.Flags&store.FlagDupMessageID != 0 {
			return nil // search finds both copies; the oracle keys by id
		}
		hdr, body, _ := bytes.Cut(raw, []byte("\n\n"))
		files := map[string]bool{}
		for _, f := range plusFile.FindAllSubmatch(body, -1) {
			files[string(f[1])] = true
		}
		for f := range files {
			byFile[f] = append(byFile[f], m.MessageID)
		}
		if a := fromAddr.FindSubmatch(hdr); a != nil {
			byFrom[strings.ToLower(string(a[1]))] = append(byFrom[strings.ToLower(string(a[1]))], m.MessageID)
		}
		d, _ := mail.ParseDate(headerValue(hdr, "Date"))
		dates = append(dates, d)
		ids = append(ids, m.MessageID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	search := func(q string) []string {
		t.Helper()
		hits, err := svc.Search(ctx, []string{"dev"}, q, store.Page{Limit: 1000})
		if err != nil {
			t.Fatalf("Search(%q) = %v", q, err)
		}
		var out []string
		for _, h := range hits {
			if h.Flags&store.FlagDupMessageID == 0 {
				out = append(out, h.MessageID)
			}
		}
		sort.Strings(out)
		return out
	}
	check := func(q string, want []string) {
		t.Helper()
		want = slices.Clone(want)
		sort.Strings(want)
		got := search(q)
		t.Logf("%s: %d hits", q, len(got))
		if len(want) == 0 || !slices.Equal(got, want) {
			t.Errorf("Search(%q): %d hits, want %d", q, len(got), len(want))
		}
	}

	// The most touched file and one touched a few times.
	var files []string
	for f := range byFile {
		files = append(files, f)
	}
	sort.Slice(files, func(i, j int) bool { return len(byFile[files[i]]) > len(byFile[files[j]]) })
	for _, f := range []string{files[0], files[len(files)/4]} {
		// A file name is a phrase of its words: the same words in
		// another path ("a/b.c" and "a/b/c") also match; keep the
		// oracle to file names that do not collide so.
		check("dfn:"+f, byFile[f])
	}
	// The busiest sender.
	var froms []string
	for a := range byFrom {
		froms = append(froms, a)
	}
	sort.Slice(froms, func(i, j int) bool { return len(byFrom[froms[i]]) > len(byFrom[froms[j]]) })
	check(`f:"`+froms[0]+`"`, byFrom[froms[0]])
	// A month.
	from, to := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)
	var inMarch []string
	for i, d := range dates {
		if !d.IsZero() && !d.Before(from) && d.Before(to) {
			inMarch = append(inMarch, ids[i])
		}
	}
	check("d:20250301..20250331", inMarch)
	// A file and a month together.
	var both []string
	for _, id := range byFile[files[0]] {
		if slices.Contains(inMarch, id) {
			both = append(both, id)
		}
	}
	if len(both) > 0 {
		check("dfn:"+files[0]+" AND d:20250301..20250331", both)
	}
	// NOT: the sender's mails are all but the others'.
	notSender := search(`d:20250301..20250331 NOT f:"` + froms[0] + `"`)
	withSender := search(`d:20250301..20250331 AND f:"` + froms[0] + `"`)
	if len(notSender)+len(withSender) != len(inMarch) {
		t.Errorf("NOT: %d + %d hits, want %d", len(notSender), len(withSender), len(inMarch))
	}
}

// headerValue returns the first field key of a raw header block, unfolded.
func headerValue(hdr []byte, key string) string {
	m, err := mail.ReadMessage(bytes.NewReader(append(hdr, '\n', '\n')))
	if err != nil {
		return ""
	}
	return m.Header.Get(key)
}
