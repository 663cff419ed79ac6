package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/store"
)

// corpusMailFiles lists the corpus files that are mail (SOURCES.md tells
// mail from the peers' expected outputs).
func corpusMailFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	glob := func(pattern string) {
		m, err := filepath.Glob(filepath.Join(dir, pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	glob("patchwork/mail/*.mbox")
	glob("patchwork/series/*.mbox")
	glob("patchwork/fuzz/*.mbox")
	glob("b4/*.mbox")
	glob("public-inbox/*.eml")
	glob("public-inbox/data/*.eml")
	glob("git/t4252/am-test-*")
	glob("git/t4013-format-patch/*")
	for _, f := range []string{"sample.mbox", "rfc2047-samples.mbox", "sample.mboxrd", "0001mboxrd", "0002mboxrd",
		"quoted-cr.mbox", "nul-plain", "nul-b64.in", "comment.in", "quoted-string.in", "info-from.in", "embed-from.in",
		"quoted-from.in"} {
		files = append(files, filepath.Join(dir, "git", "t5100", f))
	}
	files = append(files, filepath.Join(dir, "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz"))
	return files
}

func readSource(t *testing.T, path string) [][]byte {
	t.Helper()
	src, err := archive.OpenSource(path)
	if err != nil {
		t.Fatalf("OpenSource(%s) = %v", path, err)
	}
	defer src.Close()
	var out [][]byte
	for {
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: Next() = %v", path, err)
		}
		out = append(out, m)
	}
}

// TestCorpusImportExport imports every mail file of the corpus: nothing is
// lost (stored + duplicates = messages in the file), and export gives every
// stored message back byte for byte, in order.
func TestCorpusImportExport(t *testing.T) {
	dir := corpusDir(t)
	for _, path := range corpusMailFiles(t, dir) {
		rel, _ := filepath.Rel(dir, path)
		t.Run(rel, func(t *testing.T) {
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("corpus file missing: %v", err)
			}
			msgs := readSource(t, path)
			in, st := newTestIngester(t)
			stats := importFile(t, in, path)
			if stats.Imported+stats.Duplicates != len(msgs) {
				t.Fatalf("imported %d + duplicates %d != %d messages in the file", stats.Imported, stats.Duplicates, len(msgs))
			}
			var want [][]byte
			seen := map[[32]byte]bool{}
			for _, m := range msgs {
				sum := sha256.Sum256(m)
				if !seen[sum] {
					seen[sum] = true
					want = append(want, m)
				}
			}
			i := 0
			err := st.Walk(context.Background(), "dev", func(m *store.Message, raw []byte) error {
				if i >= len(want) || !bytes.Equal(raw, want[i]) {
					t.Fatalf("exported message %d (%s) differs from the file's", i, m.MessageID)
				}
				i++
				return nil
			})
			if err != nil {
				t.Fatalf("Walk() = %v", err)
			}
			if i != len(want) || i != stats.Imported {
				t.Fatalf("exported %d messages, want %d", i, len(want))
			}
			if err := st.Check(context.Background()); err != nil {
				t.Fatalf("Check() = %v", err)
			}
		})
	}
}

var (
	coverSubject = regexp.MustCompile(`(?i)^\[[^\]]*PATCH[^\]]*\b0+/[1-9][0-9]*\]`)
	reviewedBy   = regexp.MustCompile(`(?m)^Reviewed-by: (.+<[^>]+@[^>]+>)\s*$`)
)

// TestWatchdogArchive checks the real linux-watchdog archive against what
// its maintainer expects, with expectations computed here from the raw
// headers (not from our parsers): every cover letter heads a series,
// every patch is in one, replies sit in their parent's thread, a vN links
// to an older revision of the same submitter and subject when the archive
// has one, and a Reviewed-by given in a reply to a patch shows on it.
func TestWatchdogArchive(t *testing.T) {
	path := filepath.Join(corpusDir(t), "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz")
	in, st := newTestIngester(t)
	stats := importFile(t, in, path)
	if stats.Imported != 4000 {
		t.Fatalf("imported %d, want 4000", stats.Imported)
	}
	ctx := context.Background()
	var msgs []store.Message
	byID := map[string]*store.Message{}
	raws := map[string][]byte{}
	err := st.Walk(ctx, "dev", func(m *store.Message, raw []byte) error {
		msgs = append(msgs, *m)
		raws[m.MessageID] = append([]byte(nil), raw...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	dupIDs := 0
	for i := range msgs {
		if msgs[i].Flags&store.FlagDupMessageID != 0 {
			dupIDs++
		}
		if _, ok := byID[msgs[i].MessageID]; !ok {
			byID[msgs[i].MessageID] = &msgs[i]
		}
	}
	if dupIDs != 2 {
		t.Errorf("%d messages flagged as reusing a Message-ID, want 2 (SOURCES.md)", dupIDs)
	}

	covers, inThread, replies := 0, 0, 0
	for i := range msgs {
		m := &msgs[i]
		isReply := strings.HasPrefix(strings.ToLower(m.Subject), "re:")
		if !isReply && coverSubject.MatchString(m.Subject) {
			covers++
			if m.SeriesID == 0 {
				t.Errorf("cover letter %q is in no series", m.Subject)
			}
		}
		if m.Kind == core.KindPatch && m.SeriesID == 0 {
			t.Errorf("patch %q is in no series", m.Subject)
		}
		if p := byID[m.InReplyTo]; p != nil {
			replies++
			if p.ThreadID == m.ThreadID {
				inThread++
			} else {
				t.Errorf("reply %s is not in its parent's thread", m.MessageID)
			}
		}
	}
	all, err := st.SeriesList(ctx, "dev", "", store.Page{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	withCover := 0
	for _, s := range all {
		if s.CoverMessageID != "" {
			withCover++
		}
	}
	if withCover != covers {
		t.Errorf("%d series with a cover letter, the archive has %d cover letters", withCover, covers)
	}
	t.Logf("%d series (%d with cover), %d replies with a parent in the slice", len(all), withCover, replies)

	// Revisions: the newest older revision by submitter and subject.
	type key struct{ who, subj string }
	versions := map[key][]store.Series{}
	for _, s := range all {
		k := key{s.Submitter.Email, NormalizeSubject(s.Subject)}
		versions[k] = append(versions[k], s)
	}
	linked := 0
	for _, s := range all {
		hasOlder := false
		for _, o := range versions[key{s.Submitter.Email, NormalizeSubject(s.Subject)}] {
			if o.Version < s.Version && o.ID < s.ID {
				hasOlder = true
			}
		}
		if hasOlder {
			if s.Previous == 0 {
				t.Errorf("series %d %q v%d has an older revision in the archive but no previous", s.ID, s.Subject, s.Version)
			} else {
				linked++
			}
		}
	}
	if linked == 0 {
		t.Error("no revision linked")
	}

	// Reviewed-by in direct replies to patches shows on those patches.
	svc := NewService(st)
	checked := 0
	for i := range msgs {
		m := &msgs[i]
		parent := byID[m.InReplyTo]
		if parent == nil || parent.Kind != core.KindPatch || m.Kind != core.KindReply || parent.SeriesID == 0 {
			continue
		}
		body := raws[m.MessageID]
		if j := bytes.Index(body, []byte("\n\n")); j >= 0 {
			body = body[j:]
		}
		mm := reviewedBy.FindSubmatch(body)
		raw := raws[m.MessageID]
		if mm == nil || !utf8.Valid(mm[1]) || bytes.Contains(raw, []byte("base64")) || bytes.Contains(raw, []byte("quoted-printable")) {
			// Encoded bodies: the raw line is not the decoded trailer.
			continue
		}
		if !strings.Contains(string(mm[1]), m.From.Email) {
			continue // b4 takes person trailers only from their own sender
		}
		_, patches, err := svc.Series(ctx, parent.SeriesID)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, p := range patches {
			if p.MessageID != parent.MessageID {
				continue
			}
			for _, tr := range p.Trailers {
				// The same trailer given twice is listed once, from its first reply.
				if tr.Key == "Reviewed-by" && tr.Value == strings.TrimSpace(string(mm[1])) && byID[tr.FromMessageID] != nil {
					found = true
				}
			}
		}
		if !found {
			var have []core.Trailer
			for _, p := range patches {
				if p.MessageID == parent.MessageID {
					have = p.Trailers
				}
			}
			t.Errorf("Reviewed-by %q from %s (reply %s) missing on patch %q: has %v", mm[1], m.From.Email, m.MessageID, parent.Subject, have)
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d review replies checked", checked)
	}
	t.Logf("%d revisions linked, %d Reviewed-by replies found on their patches", linked, checked)
}
