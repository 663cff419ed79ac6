package archive

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func strs(msgs [][]byte) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = string(m)
	}
	return out
}

func TestMboxReader(t *testing.T) {
	const sep = "From nobody Mon Sep 17 00:00:00 2001\n"
	const rdSep = "From mboxrd@z Thu Jan  1 00:00:00 1970\n"
	for _, tc := range []struct {
		name   string
		in     string
		format MboxFormat
		want   []string
	}{{
		name: "two messages",
		in:   sep + "Subject: a\n\nbody a\n\n" + sep + "Subject: b\n\nbody b\n",
		want: []string{"Subject: a\n\nbody a\n", "Subject: b\n\nbody b\n"},
	}, {
		name: "crlf",
		in:   strings.ReplaceAll(sep+"Subject: a\n\nbody a\n\n"+sep+"Subject: b\n\nbody b\n\n", "\n", "\r\n"),
		want: []string{"Subject: a\r\n\r\nbody a\r\n", "Subject: b\r\n\r\nbody b\r\n"},
	}, {
		name: "message ending in empty lines keeps all but one",
		in:   sep + "Subject: a\n\nbody\n\n\n\n" + sep + "Subject: b\n\n",
		want: []string{"Subject: a\n\nbody\n\n\n", "Subject: b\n"},
	}, {
		name: "no newline at the end",
		in:   sep + "Subject: a\n\nbody",
		want: []string{"Subject: a\n\nbody"},
	}, {
		name: "leading empty lines",
		in:   "\n\n" + sep + "Subject: a\n\nx\n",
		want: []string{"Subject: a\n\nx\n"},
	}, {
		name: "separator without an empty line before it (git mailsplit)",
		in:   sep + "Subject: a\n\nx\n" + sep + "Subject: b\n\ny\n",
		want: []string{"Subject: a\n\nx\n", "Subject: b\n\ny\n"},
	}, {
		name: "From line without a date is body",
		in:   sep + "Subject: a\n\nx\n\nFrom the depths of history\n",
		want: []string{"Subject: a\n\nx\n\nFrom the depths of history\n"},
	}, {
		name:   "mboxo keeps >From",
		in:     sep + "Subject: a\n\n>From x\n>>From y\n",
		format: MboxO,
		want:   []string{"Subject: a\n\n>From x\n>>From y\n"},
	}, {
		name:   "mboxrd unescapes one level",
		in:     sep + "Subject: a\n\n>From x\n>>From y\n> From z\n>Fromage\n",
		format: MboxRD,
		want:   []string{"Subject: a\n\nFrom x\n>From y\n> From z\n>Fromage\n"},
	}, {
		name: "auto detects mboxrd@z",
		in:   rdSep + "Subject: a\n\n>From x\n\n" + rdSep + "Subject: b\n\n>>From y\n",
		want: []string{"Subject: a\n\nFrom x\n", "Subject: b\n\n>From y\n"},
	}, {
		name: "empty message between separators",
		in:   sep + "\n" + sep + "Subject: b\n",
		want: []string{"", "Subject: b\n"},
	}, {
		name: "empty stream",
		in:   "",
		want: []string{},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := strs(readAll(t, NewMboxReader(strings.NewReader(tc.in), tc.format)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMboxReaderNotMbox(t *testing.T) {
	r := NewMboxReader(strings.NewReader("Subject: x\n\nbody\n"), MboxAuto)
	if _, err := r.Next(); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("Next() on a non-mbox = %v, want an error", err)
	}
}

func TestMboxLongLines(t *testing.T) {
	long := strings.Repeat("x", 1<<20) // longer than the reader's buffer
	in := "From a Mon Sep 17 00:00:00 2001\nSubject: " + long + "\n\n" + long + "\n\nFrom b Mon Sep 17 00:00:00 2001\nSubject: b\n"
	got := strs(readAll(t, NewMboxReader(strings.NewReader(in), MboxAuto)))
	want := []string{"Subject: " + long + "\n\n" + long + "\n", "Subject: b\n"}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("long lines: got %d messages of sizes %d", len(got), len(got[0]))
	}

	// One line over the limit: an error for that message, then the next.
	r := NewMboxReader(strings.NewReader(in), MboxAuto)
	r.Max = 1000
	if _, err := r.Next(); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("Next() = %v, want ErrMessageTooLarge", err)
	}
	if m, err := r.Next(); err != nil || string(m) != "Subject: b\n" {
		t.Fatalf("after a too long line: %q, %v", m, err)
	}
	if _, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("Next() at the end = %v, want io.EOF", err)
	}
}

// TestGitMailsplit compares with git's own expectations in t5100: the
// mboxrd sample gives the bodies 0001mboxrd and 0002mboxrd, an embedded
// escaped From line does not split, a quoted one stays.
func TestGitMailsplit(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "git", "t5100")
	read := func(name string) []byte {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	msgs := readAll(t, NewMboxReader(bytes.NewReader(read("sample.mboxrd")), MboxRD))
	if len(msgs) != 2 {
		t.Fatalf("sample.mboxrd: %d messages, want 2", len(msgs))
	}
	for i, want := range []string{"0001mboxrd", "0002mboxrd"} {
		_, body, _ := bytes.Cut(msgs[i], []byte("\n\n"))
		// git keeps the empty line that precedes the next separator (or
		// ends the file); we drop it, as Python's mailbox does.
		body = append(body, '\n')
		if diff := cmp.Diff(string(read(want)), string(body)); diff != "" {
			t.Errorf("message %d body mismatch with %s (-want +got):\n%s", i+1, want, diff)
		}
	}

	for _, name := range []string{"embed-from.in", "quoted-from.in"} {
		src, err := OpenSource(filepath.Join(dir, name))
		if err != nil {
			t.Fatalf("OpenSource(%s) = %v", name, err)
		}
		msgs := readAll(t, src)
		src.Close()
		if len(msgs) != 1 || !bytes.Contains(msgs[0], []byte("\n>From ")) {
			t.Errorf("%s: %d messages, want 1 that keeps its >From line", name, len(msgs))
		}
	}
}

func TestMboxWriter(t *testing.T) {
	var buf bytes.Buffer
	w := NewMboxWriter(&buf)
	date := time.Date(2024, 5, 8, 9, 3, 4, 0, time.FixedZone("", 2*3600))
	if err := w.Write([]byte("Subject: a\n\nFrom here\n>From there\n>>From x\nFromage\n"), "a@example.org", date); err != nil {
		t.Fatal(err)
	}
	if err := w.Write([]byte("Subject: b\n\nno newline"), "", time.Time{}); err != nil {
		t.Fatal(err)
	}
	want := "From a@example.org Wed May  8 07:03:04 2024\nSubject: a\n\n>From here\n>>From there\n>>>From x\nFromage\n\n" +
		"From MAILER-DAEMON Thu Jan  1 00:00:00 1970\nSubject: b\n\nno newline\n\n"
	if diff := cmp.Diff(want, buf.String()); diff != "" {
		t.Errorf("mboxrd mismatch (-want +got):\n%s", diff)
	}
}

func TestStreamSources(t *testing.T) {
	mbox := "From mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: a\n\n>From x\n\nFrom mboxrd@z Thu Jan  1 00:00:00 1970\nSubject: b\n\nb\n"
	eml := "Subject: single\n\nFrom the start\n\nFrom x Mon Sep 17 00:00:00 2001\n"
	gz := func(s string) string {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write([]byte(s))
		zw.Close()
		return b.String()
	}
	for _, tc := range []struct {
		name string
		in   string
		want []string
	}{
		{"mbox", mbox, []string{"Subject: a\n\nFrom x\n", "Subject: b\n\nb\n"}},
		{"mbox.gz", gz(mbox), []string{"Subject: a\n\nFrom x\n", "Subject: b\n\nb\n"}},
		{"eml", eml, []string{eml}},
		{"eml.gz", gz(eml), []string{eml}},
		{"crlf eml", strings.ReplaceAll(eml, "\n", "\r\n"), []string{strings.ReplaceAll(eml, "\n", "\r\n")}},
		{"empty", "", []string{}},
		{"empty.gz", gz(""), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := NewStreamSource(strings.NewReader(tc.in), nil)
			if err != nil {
				t.Fatalf("NewStreamSource() = %v", err)
			}
			got := strs(readAll(t, src))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("messages mismatch (-want +got):\n%s", diff)
			}
			if err := src.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}

			// The same through a file, named to mislead: detection is by content.
			p := filepath.Join(t.TempDir(), "archive.txt")
			if err := os.WriteFile(p, []byte(tc.in), 0o644); err != nil {
				t.Fatal(err)
			}
			src, err = OpenSource(p)
			if err != nil {
				t.Fatalf("OpenSource() = %v", err)
			}
			defer src.Close()
			if diff := cmp.Diff(tc.want, strs(readAll(t, src))); diff != "" {
				t.Errorf("file: messages mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// A corrupt gzip stream is an error, not a silent end.
	bad := gz(mbox)
	bad = bad[:len(bad)/2]
	src, err := NewStreamSource(strings.NewReader(bad), nil)
	if err == nil {
		_, err = src.Next()
		for err == nil {
			_, err = src.Next()
		}
	}
	if errors.Is(err, io.EOF) {
		t.Errorf("truncated gzip read to a clean end")
	}
}

// TestOpenSourceStdin reads "-" from a pipe standing in for stdin.
func TestOpenSourceStdin(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdin
	os.Stdin = r
	defer func() { os.Stdin = old; r.Close() }()
	go func() {
		w.Write([]byte("From a Mon Sep 17 00:00:00 2001\nSubject: 1\n\n\nFrom b Mon Sep 17 00:00:00 2001\nSubject: 2\n"))
		w.Close()
	}()
	src, err := OpenSource("-")
	if err != nil {
		t.Fatalf("OpenSource(-) = %v", err)
	}
	got := strs(readAll(t, src))
	if diff := cmp.Diff([]string{"Subject: 1\n\n", "Subject: 2\n"}, got); diff != "" {
		t.Errorf("stdin mismatch (-want +got):\n%s", diff)
	}
	if err := src.Close(); err != nil {
		t.Errorf("Close() = %v", err)
	}
}

// TestCountMessages counts the messages of several sources; standard
// input or a missing file makes the count unknown.
func TestCountMessages(t *testing.T) {
	dir := t.TempDir()
	mbox := filepath.Join(dir, "a.mbox")
	eml := filepath.Join(dir, "b.eml")
	if err := os.WriteFile(mbox, []byte("From a Mon Sep 17 00:00:00 2001\nSubject: 1\n\nFrom b Mon Sep 17 00:00:00 2001\nSubject: 2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(eml, []byte("Subject: 3\n\nbody\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		paths []string
		want  int64
	}{
		{"mbox and eml", []string{mbox, eml}, 3},
		{"none", nil, 0},
		{"stdin", []string{eml, "-"}, -1},
		{"missing", []string{mbox, filepath.Join(dir, "nope")}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := CountMessages(tc.paths); got != tc.want {
				t.Errorf("CountMessages(%v) = %d, want %d", tc.paths, got, tc.want)
			}
		})
	}
}

func TestMaildir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("cur/1700000001.M1P1.host:2,S", "Subject: one\n\n1\n")
	write("new/1700000002.M2P2.host", "Subject: two\r\n\r\n2\r\n")
	write("cur/1700000003.M3P3.host:2,", "From x Mon Sep 17 00:00:00 2001\nSubject: three\n\n3\n")
	write("tmp/1700000000.M0P0.host", "Subject: being delivered\n")
	if err := os.Mkdir(filepath.Join(dir, "cur", "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	src, err := OpenSource(dir)
	if err != nil {
		t.Fatalf("OpenSource() = %v", err)
	}
	defer src.Close()
	got := strs(readAll(t, src))
	want := []string{"Subject: one\n\n1\n", "Subject: two\r\n\r\n2\r\n", "From x Mon Sep 17 00:00:00 2001\nSubject: three\n\n3\n"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("maildir mismatch (-want +got):\n%s", diff)
	}
	for _, m := range got {
		if h := ParseHeader([]byte(m)); h.Subject == "" || h.Unparsable {
			t.Errorf("maildir message %q: %+v", m, h)
		}
	}
}

func FuzzMbox(f *testing.F) {
	f.Add([]byte("From a Mon Sep 17 00:00:00 2001\nSubject: a\n\n>From x\n\nFrom b Mon Sep 17 00:00:00 2001\n\n"), false)
	f.Add([]byte("From mboxrd@z Thu Jan  1 00:00:00 1970\r\nSubject: a\r\n\r\n>>From x\r\n"), true)
	f.Add([]byte("\n\nFrom a Mon Sep 17 00:00:00 2001\nFrom b Mon Sep 17 00:00:00 2001\n\n\n"), false)
	f.Fuzz(func(t *testing.T, in []byte, rd bool) {
		format := MboxO
		if rd {
			format = MboxRD
		}
		r := NewMboxReader(bytes.NewReader(in), format)
		r.Max = 1 << 16
		var msgs [][]byte
		for i := 0; ; i++ {
			m, err := r.Next()
			if err != nil {
				break
			}
			if i > len(in) {
				t.Fatalf("more messages than input bytes")
			}
			ParseHeader(m)
			msgs = append(msgs, m)
		}
		if !rd {
			return
		}
		// Whatever mboxrd gave must survive a write and a read.
		roundTrip(t, msgs)
	})
}
