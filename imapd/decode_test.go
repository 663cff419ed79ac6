package imapd

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
)

// readAll is what a reader gives to its end; ok false when it fails.
func readAll(r io.Reader) ([]byte, bool) {
	b, err := io.ReadAll(r)
	return b, err == nil
}

// checkDecoder: where the one-pass decoder decodes, the reader gives
// the same bytes without an error; where it declines, the answer is the
// reader's (nothing is decided differently).
func checkDecoder(t *testing.T, name string, body []byte, fast func(out, body []byte) ([]byte, bool), reader func([]byte) io.Reader) {
	t.Helper()
	got, ok := fast([]byte("prefix"), body)
	if !bytes.HasPrefix(got, []byte("prefix")) {
		t.Fatalf("%s %q: output does not keep what was before: %q", name, body, got)
	}
	if !ok {
		return
	}
	want, wok := readAll(reader(body))
	if !wok || !bytes.Equal(got[len("prefix"):], want) {
		t.Errorf("%s %q: decoded %q, the reader gives %q (ok %v)", name, body, got[len("prefix"):], want, wok)
	}
}

func qpReader(b []byte) io.Reader { return quotedprintable.NewReader(bytes.NewReader(b)) }

var qpSeeds = []string{
	"", "plain\r\n", "caf=E9 au lait\r\nsecond line=\r\n joined\r\n", "soft at end=", "=",
	"a==\n", "=4\r\n", "=4", "=zz\n", "tab\tand trailing  \t\r\n", "bare\rcr\n", "=\r\n=\n", "lower =e9\n",
	"ctrl \x01\n", "high \xff\n", "= \n", "a= \t\r\nb", strings.Repeat("x", 5000) + "\n", "=\x80\n", "~\x7f\n",
}

func TestDecodeQP(t *testing.T) {
	declined := 0
	for _, s := range qpSeeds {
		checkDecoder(t, "QP", []byte(s), decodeQP, qpReader)
		if _, ok := decodeQP(nil, []byte(s)); !ok {
			declined++
		}
	}
	// Most of them are decoded in the one pass.
	if declined > 6 {
		t.Errorf("%d of %d declined", declined, len(qpSeeds))
	}
	if b, ok := decodeQP(nil, []byte("caf=E9=\r\n au lait\r\n")); !ok || string(b) != "caf\xe9 au lait\r\n" {
		t.Errorf("decodeQP = %q, %v", b, ok)
	}
}

func FuzzDecodeQP(f *testing.F) {
	for _, s := range qpSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecoder(t, "QP", body, decodeQP, qpReader)
	})
}

var b64Seeds = []string{
	"", "QUJD\r\n", "QUJDRA==\r\n", "QUJDRA=\r\n", "QUJDR===\n", "QQ==QUJD\n", "QU JD\n", "QU\tJD\r\n", "QUJ\nD\n",
	"QUJD\r\nRA==\r\n\r\n", "QUJ*\n", "QUJDRA=\n=", "QUI", "QUJDRA==x",
}

func TestDecodeBase64(t *testing.T) {
	for _, s := range b64Seeds {
		checkDecoder(t, "base64", []byte(s), decodeBase64, base64Reader)
	}
	if b, ok := decodeBase64(nil, []byte(strings.Repeat(base64.StdEncoding.EncodeToString([]byte("patchwell"))+"\r\n", 3))); !ok || string(b) != strings.Repeat("patchwell", 3) {
		t.Errorf("decodeBase64 = %q, %v", b, ok)
	}
}

func FuzzDecodeBase64(f *testing.F) {
	for _, s := range b64Seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecoder(t, "base64", body, decodeBase64, base64Reader)
	})
}
