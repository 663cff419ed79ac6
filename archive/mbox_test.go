package archive

import (
	"bytes"
	"errors"
	"io"
	"os"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// corpusDir is the shared mail corpus (see internal/testcorpus).
func corpusDir(t testing.TB) string { return testcorpus.Dir(t) }

func readAll(t testing.TB, src Source) [][]byte {
	t.Helper()
	var out [][]byte
	for {
		m, err := src.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next() = %v after %d messages", err, len(out))
		}
		out = append(out, m)
	}
}

// TestCorpusCountsAndRoundTrip reads the corpus archives, checks the
// message counts Python's mailbox module gives, and that writing mboxrd
// and reading it back gives the same bytes.
func TestCorpusCountsAndRoundTrip(t *testing.T) {
	dir := corpusDir(t)
	for _, tc := range []struct {
		path string
		want int
	}{
		{"git/t5100/sample.mbox", 18},
		{"git/t5100/rfc2047-samples.mbox", 11},
		{"linux-watchdog-archive/linux-watchdog-last4000.mboxrd.gz", 4000},
		{"bench/git-20k.mbox.gz", 20000},
		{"patchwork/series/revision-basic.mbox", 6},
		{"public-inbox/utf8.eml", 1},
	} {
		t.Run(tc.path, func(t *testing.T) {
			if testing.Short() && strings.Contains(tc.path, "20k") {
				t.Skip("short")
			}
			src, err := OpenSource(filepath.Join(dir, tc.path))
			if err != nil {
				t.Fatalf("OpenSource() = %v", err)
			}
			defer src.Close()
			msgs := readAll(t, src)
			if len(msgs) != tc.want {
				t.Fatalf("read %d messages, want %d", len(msgs), tc.want)
			}
			var buf bytes.Buffer
			w := NewMboxWriter(&buf)
			for _, m := range msgs {
				if err := w.Write(m, "", time.Time{}); err != nil {
					t.Fatal(err)
				}
			}
			back := readAll(t, NewMboxReader(&buf, MboxRD))
			if len(back) != len(msgs) {
				t.Fatalf("round trip: %d messages, want %d", len(back), len(msgs))
			}
			for i := range msgs {
				if !bytes.Equal(back[i], msgs[i]) && !(len(msgs[i]) > 0 && msgs[i][len(msgs[i])-1] != '\n') {
					t.Fatalf("round trip: message %d differs:\n%q\n%q", i, back[i], msgs[i])
				}
			}
		})
	}
}

func TestMboxRDUnescape(t *testing.T) {
	in := "From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: a\n\n>From here\n>>From there\nFrom mid-line is fine\n\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: b\n\nbody\n"
	msgs := readAll(t, NewMboxReader(strings.NewReader(in), MboxAuto))
	want := []string{"Subject: a\n\nFrom here\n>From there\nFrom mid-line is fine\n", "Subject: b\n\nbody\n"}
	if len(msgs) != 2 || string(msgs[0]) != want[0] || string(msgs[1]) != want[1] {
		t.Fatalf("got %q", msgs)
	}
	// mboxo keeps ">From " as it is.
	o := strings.Replace(in, "mboxrd@z", "someone@example.org", 1)
	msgs = readAll(t, NewMboxReader(strings.NewReader(o), MboxAuto))
	if len(msgs) != 2 || !strings.Contains(string(msgs[0]), "\n>From here\n>>From there\n") {
		t.Fatalf("mboxo: got %q", msgs)
	}
}

func TestMboxTooLarge(t *testing.T) {
	big := "From a@b Thu Jan  1 00:00:00 1970\nSubject: x\n\n" + strings.Repeat("0123456789\n", 1000) + "\nFrom a@b Thu Jan  1 00:00:00 1970\nSubject: y\n\nok\n"
	r := NewMboxReader(strings.NewReader(big), MboxAuto)
	r.Max = 1000
	if _, err := r.Next(); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Next() = %v, want ErrMessageTooLarge", err)
	}
	m, err := r.Next()
	if err != nil || string(m) != "Subject: y\n\nok\n" {
		t.Fatalf("after a too large message: %q, %v", m, err)
	}
}

func TestMaildirAndEML(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"cur", "new", "tmp"} {
		os.MkdirAll(filepath.Join(dir, d), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "new", "2.host"), []byte("Subject: two\n\n2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "cur", "1.host:2,S"), []byte("Subject: one\n\n1\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "tmp", "3.host"), []byte("Subject: partial\n\n"), 0o644)
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatal(err)
	}
	msgs := readAll(t, src)
	if len(msgs) != 2 || string(msgs[0]) != "Subject: one\n\n1\n" {
		t.Fatalf("maildir: %q", msgs)
	}
	eml := filepath.Join(dir, "one.eml")
	os.WriteFile(eml, []byte("Subject: x\n\nFrom inside\n"), 0o644)
	src, _ = OpenSource(eml)
	msgs = readAll(t, src)
	if len(msgs) != 1 || string(msgs[0]) != "Subject: x\n\nFrom inside\n" {
		t.Fatalf("eml: %q", msgs)
	}
}

func BenchmarkMboxRead(b *testing.B) {
	path := filepath.Join(corpusDir(b), "bench", "git-20k.mbox.gz")
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	src, _ := NewStreamSource(bytes.NewReader(raw), nil)
	var plain bytes.Buffer
	w := NewMboxWriter(&plain)
	for _, m := range readAll(b, src) {
		w.Write(m, "mboxrd@z", time.Time{})
	}
	b.SetBytes(int64(plain.Len()))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r := NewMboxReader(bytes.NewReader(plain.Bytes()), MboxAuto)
		for {
			if _, err := r.Next(); err != nil {
				break
			}
		}
	}
}
