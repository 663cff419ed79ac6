package patchmail

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWatchdogArchive parses the 4,000 real messages of the
// linux-watchdog archive slice and checks the counts SOURCES.md gives
// (made independently with Python's mailbox module): 392 replies carry a
// Reviewed-by; about 1,477 patch mails; 488 [PATCH ... 0/N] subjects,
// replies to cover letters included.
func TestWatchdogArchive(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 45 MB")
	}
	fh, err := os.Open(filepath.Join(corpusDir(t), "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz"))
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer fh.Close()
	zr, err := gzip.NewReader(fh)
	if err != nil {
		t.Fatalf("gzip.NewReader() = %v", err)
	}
	all, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("ReadAll() = %v", err)
	}
	msgs := splitMbox(all)
	if len(msgs) != 4000 {
		t.Fatalf("split %d messages, want 4000", len(msgs))
	}
	var patches, zeroOfN, reviewed int
	for i, raw := range msgs {
		m, err := Parse(raw)
		if err != nil {
			t.Errorf("message %d: Parse() = %v", i, err)
			continue
		}
		if m.Kind == KindPatch {
			patches++
		}
		if m.Subject.Patch && m.Subject.Index == 0 && m.Subject.Total > 0 {
			zeroOfN++
		}
		if m.Subject.Reply {
			for _, tr := range m.Trailers {
				if tr.Key == "Reviewed-by" {
					reviewed++
					break
				}
			}
		}
	}
	if reviewed != 392 {
		t.Errorf("replies with Reviewed-by = %d, want 392", reviewed)
	}
	// Untagged patches and the mailer differences of counting by subject
	// allow a small margin on the other two.
	if patches < 1450 || patches > 1510 {
		t.Errorf("patches = %d, want about 1477", patches)
	}
	if zeroOfN < 470 || zeroOfN > 500 {
		t.Errorf("[PATCH 0/N] subjects = %d, want about 488", zeroOfN)
	}
}
