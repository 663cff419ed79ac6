package archive

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/internal/testcorpus"
)

// keptTree renders a tree with everything a kept structure keeps: the
// offsets, flags, line counts and header fields of every part.
func keptTree(p *Part) string {
	var b strings.Builder
	var walk func(p *Part, path string)
	walk = func(p *Part, path string) {
		fmt.Fprintf(&b, "%s: %d %d %d lines=%d opaque=%v open=%v cut=%v herr=%v header=%q\n",
			path, p.Start, p.BodyStart, p.End, p.Lines, p.Opaque, p.HeaderOpen, p.Cut, p.HeaderErr != nil, fields(p.Header))
		for i, c := range p.Parts {
			walk(c, fmt.Sprintf("%s.%d", path, i+1))
		}
		if p.Message != nil {
			walk(p.Message, path+".msg")
		}
	}
	walk(p, "")
	return b.String()
}

// checkKept: the structure kept for raw, read back, is the tree
// ParseMIME gives with its lines counted.
func checkKept(t *testing.T, name string, raw []byte) {
	t.Helper()
	wire := ToCRLF(raw, nil)
	want, err := ParseMIME(context.Background(), wire)
	if err != nil {
		t.Fatal(err)
	}
	CountLines(wire, want)
	got, err := ReadStructure(wire, EncodeStructure(want))
	if err != nil {
		t.Fatalf("%s: ReadStructure() = %v", name, err)
	}
	if w, g := keptTree(want), keptTree(got); w != g {
		t.Errorf("%s: the kept structure reads back differently:\nwant %s\ngot  %s", name, trunc([]byte(w)), trunc([]byte(g)))
	}
}

func TestKeptStructure(t *testing.T) {
	for name, raw := range map[string][]byte{
		"plain":     []byte("Subject: x\n\nhello\nworld\n"),
		"no body":   []byte("Subject: x\n"),
		"bad field": []byte("Subject: x\nnot a field\n\nbody\n"),
		"multipart": []byte("Content-Type: multipart/mixed; boundary=b\n\npre\n--b\nContent-Type: text/plain\n\none\n--b\nContent-Type: message/rfc822\n\nSubject: in\nContent-Type: multipart/alternative; boundary=c\n\n--c\n\nx\n--c--\n\n--b--\n"),
		"cut":       []byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nruns on"),
		"digest":    []byte("Content-Type: multipart/digest; boundary=b\n\n--b\n\nSubject: d\n\nx\n--b--\n"),
		"deep":      nested(MaxDepth + 5),
		"big":       bigNested(MaxDepth, 1<<20, "--bx\r\n"),
	} {
		checkKept(t, name, raw)
	}
}

// TestKeptStructureCorpus: every message of the shared corpus.
func TestKeptStructureCorpus(t *testing.T) {
	dir := testcorpus.Dir(t)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isMailFile(path) {
			return err
		}
		src, err := OpenSource(path)
		if err != nil {
			return nil
		}
		defer src.Close()
		for {
			raw, err := src.Next()
			if err != nil {
				break
			}
			n++
			checkKept(t, fmt.Sprintf("%s message %d", path, n), raw)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 4000 {
		t.Errorf("checked %d messages, want 4,000 at least", n)
	}
}

// TestStructureKeptForBigOnly: Structure keeps nothing for a message
// under KeepStructureFrom as sent, and a structure for one over it,
// counting bare LF as CRLF.
func TestStructureKeptForBigOnly(t *testing.T) {
	ctx := context.Background()
	small := []byte("Subject: s\n\n" + strings.Repeat("x\n", 1000))
	if enc, err := Structure(ctx, small); err != nil || enc != nil {
		t.Errorf("Structure(small) = %d bytes, %v; want none", len(enc), err)
	}
	// Under the threshold with LF, over it as sent with CRLF.
	body := strings.Repeat("abcdefg\n", KeepStructureFrom/9+1)
	big := []byte("Subject: b\n\n" + body)
	if len(big) >= KeepStructureFrom {
		t.Fatalf("test message is %d bytes, want under %d stored", len(big), KeepStructureFrom)
	}
	enc, err := Structure(ctx, big)
	if err != nil || enc == nil {
		t.Fatalf("Structure(big) = %d bytes, %v; want a structure", len(enc), err)
	}
	wire := ToCRLF(big, nil)
	p, err := ReadStructure(wire, enc)
	if err != nil || p.Lines != int64(strings.Count(body, "\n")) || p.End != len(wire) {
		t.Errorf("read back: %+v, %v", p, err)
	}
	if _, err := ReadStructure(big, enc); err == nil {
		t.Error("ReadStructure() of the stored (LF) bytes, shorter than the structure says = nil error")
	}
}

// FuzzKeptStructure: what is kept reads back as parsed, and a damaged
// kept form is refused or read without a panic, within the message.
func FuzzKeptStructure(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n"), 3, byte(7))
	f.Add(nested(30), 10, byte(1))
	f.Fuzz(func(t *testing.T, raw []byte, at int, x byte) {
		checkKept(t, "input", raw)
		wire := ToCRLF(raw, nil)
		p, _ := ParseMIME(context.Background(), wire)
		CountLines(wire, p)
		enc := EncodeStructure(p)
		if at < 0 {
			at = -at
		}
		enc[at%len(enc)] ^= x
		if q, err := ReadStructure(wire, enc); err == nil {
			var walk func(p *Part)
			walk = func(p *Part) {
				if p.Start > p.BodyStart || p.BodyStart > p.End || p.End > len(wire) {
					t.Fatalf("damaged structure read with a part outside the message: %d %d %d of %d", p.Start, p.BodyStart, p.End, len(wire))
				}
				_ = p.Body(wire)
				for _, c := range p.Parts {
					walk(c)
				}
				if p.Message != nil {
					walk(p.Message)
				}
			}
			walk(q)
		}
	})
}

func TestToCRLF(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"a", "a"},
		{"a\r\nb\r\n", "a\r\nb\r\n"},
		{"a\nb\n", "a\r\nb\r\n"},
		{"a\r\nb\nc", "a\r\nb\r\nc"},
		{"\n\n", "\r\n\r\n"},
		{"a\r\r\n", "a\r\r\n"},
		{"\r\n\n", "\r\n\r\n"},
	} {
		buf := make([]byte, 0, 4)
		if got := ToCRLF([]byte(tc.in), buf); string(got) != tc.want {
			t.Errorf("ToCRLF(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// No bare LF: the input itself comes back, not a copy.
	in := []byte("x\r\ny\r\n")
	if got := ToCRLF(in, nil); &got[0] != &in[0] {
		t.Error("ToCRLF copied a message that needed no change")
	}
}
