package patchmail

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTmpWatchdog(t *testing.T) {
	fh, err := os.Open(filepath.Join(corpusDir(t), "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz"))
	if err != nil {
		t.Fatal(err)
	}
	zr, _ := gzip.NewReader(fh)
	all, _ := io.ReadAll(zr)
	msgs := splitMbox(all)
	counts := map[Kind]int{}
	replies, revby, nodiffpatch := 0, 0, 0
	start := time.Now()
	for _, raw := range msgs {
		m, err := Parse(raw)
		if err != nil {
			t.Errorf("err %v", err)
			continue
		}
		counts[m.Kind]++
		if m.Subject.Index == 0 && m.Subject.Total > 0 {
			if m.Subject.Reply {
				counts[100]++
			} else {
				counts[101]++
			}
		}
		if m.Subject.Total == 0 && bytes.Contains(raw, []byte(" 0/")) && !m.Subject.Reply && m.Kind != KindCover {
			if i := bytes.Index(raw, []byte("\nSubject:")); i >= 0 && bytes.Contains(raw[i:i+120], []byte(" 0/")) {
				t.Logf("odd: %.120s", raw[i:])
			}
		}
		if m.Subject.Reply {
			replies++
			for _, tr := range m.Trailers {
				if tr.Key == "Reviewed-by" {
					revby++
					break
				}
			}
		}
		if m.Subject.Patch && !m.Subject.Reply && m.Subject.Index != 0 && m.Kind != KindPatch {
			nodiffpatch++
			if nodiffpatch < 5 {
				i := bytes.Index(raw, []byte("\nSubject:"))
				t.Logf("not patch: %.100s", raw[i:])
			}
		}
	}
	t.Logf("n=%d %v kinds=%v replies=%d revby=%d nodiff=%d", len(msgs), time.Since(start), counts, replies, revby, nodiffpatch)
}
