package smtpd

import (
	"bytes"
	"os"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// corpusDir is the shared mail corpus (see internal/testcorpus).
func corpusDir(t *testing.T) string { return testcorpus.Dir(t) }

// toWire turns file bytes into SMTP DATA: every LF that is not part of a
// CRLF becomes CRLF, lines starting with '.' are dot-stuffed, a missing
// final line end is added, and the terminator follows. Bare CRs and NULs
// are sent as they are.
func toWire(data []byte) []byte {
	var w bytes.Buffer
	bol := true
	for i, b := range data {
		if bol && b == '.' {
			w.WriteByte('.')
		}
		bol = false
		if b == '\n' {
			if i == 0 || data[i-1] != '\r' {
				w.WriteByte('\r')
			}
			bol = true
		}
		w.WriteByte(b)
	}
	if len(data) > 0 && !bol {
		w.WriteString("\r\n")
	}
	w.WriteString(".\r\n")
	return w.Bytes()
}

// storedForm is what the archive must receive for a file: CRLF as LF and
// a final LF.
func storedForm(data []byte) []byte {
	out := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if len(out) > 0 && out[len(out)-1] != '\n' {
		out = append(out, '\n')
	}
	return out
}

// TestCorpusRoundTrip sends real mail from the shared corpus over one SMTP
// connection and checks that each message reaches the backend byte for
// byte (in LF form), or is refused with 550 5.6.2 when the file holds a
// bare CR or a NUL (git's t5100/nul-plain).
func TestCorpusRoundTrip(t *testing.T) {
	dir := corpusDir(t)
	var files []string
	for _, pat := range []string{"patchwork/mail/*.mbox", "b4/*.mbox", "public-inbox/*.eml", "public-inbox/*/*.eml",
		"git/t5100/quoted-cr.mbox", "git/t5100/nul-plain", "git/t5100/sample.mbox"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d corpus files found in %s", len(files), dir)
	}
	be := newFake()
	_, addr := startServer(t, Config{Domain: "localhost"}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	var sent, refused int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(data) > 1<<20 {
			continue
		}
		name, _ := filepath.Rel(dir, f)
		bad := bytes.IndexByte(data, 0) >= 0 || bytes.Contains(bytes.ReplaceAll(data, []byte("\r\n"), nil), []byte("\r"))
		cv.cmd("MAIL FROM:<corpus@example.org> BODY=8BITMIME", "250")
		cv.cmd("RCPT TO:<dev@localhost>", "250")
		cv.cmd("DATA", "354")
		before := len(be.deliveries())
		cv.send(string(toWire(data)))
		if bad {
			cv.expect("550 5.6.2")
			refused++
			continue
		}
		cv.expect("250")
		sent++
		got := be.deliveries()
		if len(got) != before+1 {
			t.Fatalf("%s: no delivery recorded", name)
		}
		if diff := cmp.Diff(string(storedForm(data)), string(got[before].Raw)); diff != "" {
			t.Errorf("%s: Raw (-want +got):\n%s", name, diff)
		}
	}
	if refused == 0 {
		t.Error("no corpus file was refused; nul-plain should be")
	}
	t.Logf("%d corpus messages round-tripped, %d refused", sent, refused)
}
