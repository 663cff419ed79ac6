package patchmail

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// readInfo reads git mailinfo's info file: "Key: value" lines.
func readInfo(t *testing.T, path string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for line := range strings.Lines(string(mustRead(t, path))) {
		k, v, ok := strings.Cut(strings.TrimRight(line, "\n"), ": ")
		if ok {
			out[k] = v
		}
	}
	return out
}

// TestMailinfoSample compares Parse with git mailinfo's expected output
// for t5100/sample.mbox.
//
// Deliberate differences, skipped below:
//   - 0015: the in-body "From:" is bogus; git gives an empty author, we
//     keep the header's author (an empty author is of no use to review).
//   - 0014 has a scissors line; git mailinfo without --scissors ignores
//     it, as we do, so 0014 is compared normally.
func TestMailinfoSample(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "git", "t5100")
	msgs := splitMbox(mustRead(t, filepath.Join(dir, "sample.mbox")))
	if len(msgs) != 18 {
		t.Fatalf("sample.mbox has %d messages, want 18", len(msgs))
	}
	for i, raw := range msgs {
		n := fmt.Sprintf("%04d", i+1)
		t.Run(n, func(t *testing.T) {
			m := mustParse(t, raw)
			info := readInfo(t, filepath.Join(dir, "info"+n))
			if n != "0015" {
				if m.Author.Name != info["Author"] {
					t.Errorf("Author.Name = %q, want %q", m.Author.Name, info["Author"])
				}
				if m.Author.Email != info["Email"] {
					t.Errorf("Author.Email = %q, want %q", m.Author.Email, info["Email"])
				}
			}
			if m.CommitSubject != info["Subject"] {
				t.Errorf("CommitSubject = %q, want %q", m.CommitSubject, info["Subject"])
			}
			wantMsg := strings.TrimRight(string(mustRead(t, filepath.Join(dir, "msg"+n))), "\n")
			gotMsg := strings.TrimRight(m.CommitMessage, "\n")
			if gotMsg != wantMsg {
				t.Errorf("CommitMessage = %q\nwant %q", gotMsg, wantMsg)
			}
		})
	}
}

// TestMailinfoRFC2047 checks encoded-word decoding of From and Subject
// against t5100/rfc2047-info-*.
func TestMailinfoRFC2047(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "git", "t5100")
	msgs := splitMbox(mustRead(t, filepath.Join(dir, "rfc2047-samples.mbox")))
	if len(msgs) != 11 {
		t.Fatalf("rfc2047-samples.mbox has %d messages, want 11", len(msgs))
	}
	for i, raw := range msgs {
		n := fmt.Sprintf("%04d", i+1)
		t.Run(n, func(t *testing.T) {
			m := mustParse(t, raw)
			info := readInfo(t, filepath.Join(dir, "rfc2047-info-"+n))
			if m.Author.Name != info["Author"] {
				t.Errorf("Author.Name = %q, want %q", m.Author.Name, info["Author"])
			}
			if m.Author.Email != info["Email"] {
				t.Errorf("Author.Email = %q, want %q", m.Author.Email, info["Email"])
			}
			if m.CommitSubject != info["Subject"] {
				t.Errorf("CommitSubject = %q, want %q", m.CommitSubject, info["Subject"])
			}
		})
	}
}

// TestMailinfoSingles covers the one-message t5100 samples (.in/.expect).
func TestMailinfoSingles(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "git", "t5100")
	for _, name := range []string{"comment", "quoted-string", "info-from", "embed-from"} {
		t.Run(name, func(t *testing.T) {
			m := mustParse(t, mustRead(t, filepath.Join(dir, name+".in")))
			info := readInfo(t, filepath.Join(dir, name+".expect"))
			if m.Author.Name != info["Author"] || m.Author.Email != info["Email"] {
				t.Errorf("Author = %+v, want %q <%s>", m.Author, info["Author"], info["Email"])
			}
			if m.CommitSubject != info["Subject"] {
				t.Errorf("CommitSubject = %q, want %q", m.CommitSubject, info["Subject"])
			}
		})
	}
}
