package imapd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message"
	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/internal/testcorpus"
)

// The MIME side of FETCH against go-imap's extractors, which it
// replaces: same answers within the caps, and answers that can be sent
// (go-imap's writer panics on a multipart without parts).

// levels is how many levels a body structure has.
func levels(bs imap.BodyStructure) int {
	n := 0
	bs.Walk(func(path []int, _ imap.BodyStructure) bool {
		n = max(n, len(path)+1)
		return true
	})
	switch bs := bs.(type) {
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			n = max(n, levels(bs.MessageRFC822.BodyStructure)+1)
		}
	case *imap.BodyStructureMultiPart:
		for _, c := range bs.Children {
			n = max(n, levels(c)+1)
		}
	}
	return n
}

// withoutEmptyMultiparts gives go-imap's structure the part a multipart
// without parts gets here.
func withoutEmptyMultiparts(bs imap.BodyStructure) imap.BodyStructure {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			bs.Children = []imap.BodyStructure{&imap.BodyStructureSinglePart{
				Type: "text", Subtype: "plain", Text: &imap.BodyStructureText{}, Extended: &imap.BodyStructureSinglePartExt{},
			}}
		}
		for _, c := range bs.Children {
			withoutEmptyMultiparts(c)
		}
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			withoutEmptyMultiparts(bs.MessageRFC822.BodyStructure)
		}
	}
	return bs
}

// sendable reports a multipart without parts, which go-imap cannot write.
func sendable(bs imap.BodyStructure) error {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		if len(bs.Children) == 0 {
			return fmt.Errorf("a multipart/%s without parts", bs.Subtype)
		}
		for _, c := range bs.Children {
			if err := sendable(c); err != nil {
				return err
			}
		}
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			return sendable(bs.MessageRFC822.BodyStructure)
		}
	}
	return nil
}

// paths lists the section paths of a structure (at most max), with
// some that lead nowhere.
func paths(bs imap.BodyStructure, max int) [][]int {
	out := [][]int{{1}, {2}, {1, 1}, {1, 2, 1}}
	var walk func(bs imap.BodyStructure, prefix []int)
	walk = func(bs imap.BodyStructure, prefix []int) {
		if len(out) >= max {
			return
		}
		switch bs := bs.(type) {
		case *imap.BodyStructureMultiPart:
			for i, c := range bs.Children {
				p := append(append([]int(nil), prefix...), i+1)
				out = append(out, p)
				walk(c, p)
			}
			out = append(out, append(append([]int(nil), prefix...), len(bs.Children)+1))
		case *imap.BodyStructureSinglePart:
			if bs.MessageRFC822 != nil {
				walk(bs.MessageRFC822.BodyStructure, prefix)
			}
		}
	}
	walk(bs, nil)
	return out
}

// compareMIME checks BODYSTRUCTURE and the sections of raw against
// go-imap's extractors; false when the message nests too deep to
// compare.
func compareMIME(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	tree, err := archive.ParseMIME(context.Background(), raw)
	if err != nil {
		t.Fatalf("%s: ParseMIME() = %v", name, err)
	}
	archive.CountLines(raw, tree)
	got := bodyStructure(raw, tree)
	if err := sendable(got); err != nil {
		t.Errorf("%s: BODYSTRUCTURE has %v", name, err)
	}
	want := imapserver.ExtractBodyStructure(bytes.NewReader(raw))
	if levels(want) > archive.MaxDepth {
		return false
	}
	if diff := cmp.Diff(withoutEmptyMultiparts(want), got); diff != "" {
		t.Errorf("%s: BODYSTRUCTURE differs from go-imap's (-go-imap +got):\n%s", name, diff)
	}
	for _, p := range paths(want, 40) {
		for _, spec := range []imap.PartSpecifier{imap.PartSpecifierNone, imap.PartSpecifierHeader, imap.PartSpecifierText, imap.PartSpecifierMIME} {
			bs := &imap.FetchItemBodySection{Part: p, Specifier: spec}
			if g, w := partSection(raw, tree, bs), imapserver.ExtractBodySection(bytes.NewReader(raw), bs); !bytes.Equal(g, w) {
				t.Errorf("%s: BODY[%v.%s] = %q, go-imap gives %q", name, p, spec, trunc(g), trunc(w))
			}
		}
		bs := &imap.FetchItemBodySection{Part: p, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Content-Type", "subject"}}
		if g, w := partSection(raw, tree, bs), imapserver.ExtractBodySection(bytes.NewReader(raw), bs); !bytes.Equal(g, w) {
			t.Errorf("%s: BODY[%v.HEADER.FIELDS] = %q, go-imap gives %q", name, p, trunc(g), trunc(w))
		}
		bin := &imap.FetchItemBinarySection{Part: p}
		g, w := binarySection(raw, tree, p, nil, new([]byte)), imapserver.ExtractBinarySection(bytes.NewReader(raw), bin)
		if cs := convertedCharset(tree, p); cs != "" && g != nil {
			// go-imap also converts a text part to UTF-8 (RFC 3516
			// does not): converted, ours must be what it gives.
			r, err := message.CharsetReader(cs, bytes.NewReader(g))
			if err != nil {
				continue // a charset go-message does not know: go-imap fails
			}
			g, _ = io.ReadAll(r)
		}
		if !bytes.Equal(g, w) {
			t.Errorf("%s: BINARY[%v] = %q, go-imap gives %q", name, p, trunc(g), trunc(w))
		}
	}
	return true
}

// TestMIMECorpus compares every message of the shared corpus (the
// linux-watchdog archive among them), as the server sends it.
func TestMIMECorpus(t *testing.T) {
	dir := testcorpus.Dir(t)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isMailFile(path) {
			return err
		}
		src, err := archive.OpenSource(path)
		if err != nil {
			return nil
		}
		defer src.Close()
		for i := 1; ; i++ {
			raw, err := src.Next()
			if err != nil {
				break
			}
			n++
			compareMIME(t, fmt.Sprintf("%s #%d", strings.TrimPrefix(path, dir), i), archive.ToCRLF(raw, nil))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4000 {
		t.Errorf("compared %d messages, want the 4,000 of the linux-watchdog archive at least", n)
	}
}

func isMailFile(path string) bool {
	for _, ext := range []string{".mbox", ".mboxrd.gz", ".eml", ".in", ".mbox.gz"} {
		if strings.HasSuffix(path, ext) {
			return true
		}
	}
	return false
}

func trunc(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// FuzzBodyStructure: the MIME side of FETCH never panics, always gives
// a structure go-imap can send, and agrees with go-imap's extractors on
// messages of modest size and depth.
func FuzzBodyStructure(f *testing.F) {
	f.Add([]byte("Subject: hi\r\n\r\nbody\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/digest; boundary=b\n\n--b\n\nSubject: one\n\nfirst\n--b--\n"))
	f.Add([]byte("Content-Type: multipart/mixed\r\n\r\nno boundary\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\nContent-Transfer-Encoding: base64\r\n\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Disposition: attachment; filename=x.txt\r\nContent-Language: en, fr\r\n\r\ncaf=E9\r\n--b--\r\n"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if len(raw) > 4000 {
			// go-message's 4 KiB buffers start to show; only safety.
			tree, err := archive.ParseMIME(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			archive.CountLines(raw, tree)
			if err := sendable(bodyStructure(raw, tree)); err != nil {
				t.Error(err)
			}
			return
		}
		compareMIME(t, "input", raw)
	})
}

// convertedCharset is the charset go-imap converts BINARY[p] of the
// message tree from ("" for none): a text part's, but UTF-8's and
// US-ASCII's.
func convertedCharset(tree *archive.Part, p []int) string {
	found, _ := findPart(tree, p)
	if found == nil {
		return ""
	}
	t, params := found.MediaType()
	cs := strings.ToLower(params["charset"])
	if !strings.HasPrefix(t, "text/") || cs == "" || cs == "utf-8" || cs == "us-ascii" {
		return ""
	}
	return cs
}
