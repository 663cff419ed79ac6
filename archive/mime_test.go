package archive

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/textproto"
	"github.com/google/go-cmp/cmp"

	"patchwell/internal/testcorpus"
)

// tree is a MIME structure in a form both parsers give, to compare them.
type tree struct {
	Header  string // the fields, in order
	Body    string
	Parts   []*tree
	Message *tree
	Opaque  bool
	Cut     bool
}

// String renders the tree one part per line, to compare trees fast
// (cmp is slow on deep ones) and show where they differ.
func (t *tree) String() string {
	var b strings.Builder
	t.render(&b, "")
	return b.String()
}

func (t *tree) render(b *strings.Builder, path string) {
	fmt.Fprintf(b, "%s: opaque=%v cut=%v header=%q body=%q\n", path, t.Opaque, t.Cut, t.Header, t.Body)
	for i, c := range t.Parts {
		c.render(b, fmt.Sprintf("%s.%d", path, i+1))
	}
	if t.Message != nil {
		t.Message.render(b, path+".msg")
	}
}

// diffTrees is cmp's diff of the rendered trees ("" when equal).
func diffTrees(want, got *tree) string {
	w, g := want.String(), got.String()
	if w == g {
		return ""
	}
	return cmp.Diff(strings.Split(w, "\n"), strings.Split(g, "\n"))
}

func fields(h textproto.Header) string {
	var b strings.Builder
	for f := h.Fields(); f.Next(); {
		fmt.Fprintf(&b, "%s: %s\n", f.Key(), f.Value())
	}
	return b.String()
}

func treeOf(raw []byte, p *Part) *tree {
	t := &tree{Header: fields(p.Header), Body: string(p.Body(raw)), Opaque: p.Opaque, Cut: p.Cut}
	for _, c := range p.Parts {
		t.Parts = append(t.Parts, treeOf(raw, c))
	}
	if p.Message != nil {
		t.Message = treeOf(raw, p.Message)
	}
	return t
}

// dump renders every field of a parsed structure, offsets included,
// one part per line, to hold the one pass to the level-by-level parse.
func dump(p *Part) string {
	var b strings.Builder
	var walk func(p *Part, path string)
	walk = func(p *Part, path string) {
		fmt.Fprintf(&b, "%s: %d %d %d opaque=%v cut=%v open=%v err=%v header=%q\n", path, p.Start, p.BodyStart, p.End,
			p.Opaque, p.Cut, p.HeaderOpen, p.HeaderErr != nil, fields(p.Header))
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

// onePass parses raw in one pass only; false when the pass gave up.
func onePass(raw []byte) (*Part, bool) {
	p := newScanner(context.Background(), raw)
	root := p.parse()
	return root, !p.reread
}

// compareOnePass fails t when the one pass settles raw other than the
// level-by-level parse does; it reports whether it settled it.
func compareOnePass(t *testing.T, name string, raw []byte) bool {
	t.Helper()
	got, ok := onePass(raw)
	if !ok {
		return false
	}
	want, err := parseLevels(context.Background(), raw)
	if err != nil {
		t.Fatal(err)
	}
	if w, g := dump(want), dump(got); w != g {
		t.Errorf("%s: the one pass differs from the level-by-level parse (-levels +one pass):\n%s", name,
			cmp.Diff(strings.Split(w, "\n"), strings.Split(g, "\n")))
	}
	return true
}

// reference parses as go-imap's ExtractBodyStructure did, through
// go-message's multipart reader, stopping at the same depth.
func reference(raw []byte, depth int) *tree {
	return referenceMessage(raw, depth, "", false)
}

func referenceMessage(raw []byte, depth int, parentType string, cut bool) *tree {
	br := bufio.NewReader(bytes.NewReader(raw))
	h, _ := textproto.ReadHeader(br)
	body, _ := io.ReadAll(br)
	return referenceEntity(h, body, depth, parentType, cut)
}

func referenceEntity(h textproto.Header, body []byte, depth int, parentType string, cut bool) *tree {
	t := &tree{Header: fields(h), Body: string(body), Cut: cut}
	mh := message.Header{Header: h}
	mt, params, _ := mh.ContentType()
	primary, _, _ := strings.Cut(mt, "/")
	isMsg := mt == "message/rfc822" || mt == "message/global" || (parentType == "multipart/digest" && !h.Has("Content-Type"))
	if primary != "multipart" && !isMsg {
		return t
	}
	if depth >= MaxDepth {
		t.Opaque = true
		return t
	}
	if isMsg {
		t.Message = referenceMessage(body, depth+1, parentType, cut)
		return t
	}
	mr := textproto.NewMultipartReader(bytes.NewReader(body), params["boundary"])
	for {
		p, err := mr.NextPart()
		if err != nil {
			return t
		}
		b, err := io.ReadAll(p)
		t.Parts = append(t.Parts, referenceEntity(p.Header, b, depth+1, mt, err != nil))
	}
}

func mustParse(t testing.TB, raw []byte) *Part {
	t.Helper()
	p, err := ParseMIME(context.Background(), raw)
	if err != nil {
		t.Fatalf("ParseMIME() = %v", err)
	}
	return p
}

// TestParseMIMECases: multiparts that go-message splits in its own way
// (bare LF, white space after a boundary, a missing close delimiter, a
// boundary that prefixes another, a part with a broken header, ...) are
// split the same way.
func TestParseMIMECases(t *testing.T) {
	head := "From: a@example.org\r\nMIME-Version: 1.0\r\n"
	// The one pass gives up when it read past the end of a multipart cut
	// short and that changes the answer: here the innermost delimiter,
	// "--b", is the start of an unclosed multipart's ("--b-c") just
	// before the outermost's, and go-message, which sees it as that,
	// never sees the innermost one there.
	rereads := map[string]bool{"boundary prefix of a cut one": true}
	for _, tc := range []struct{ name, raw string }{
		{"plain", "Subject: hi\r\n\r\nbody\r\n"},
		{"no body", "Subject: hi\r\n"},
		{"empty", ""},
		{"simple", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\npreamble\r\n--b\r\nContent-Type: text/plain\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepilogue\r\n"},
		{"bare LF", strings.ReplaceAll(head, "\r\n", "\n") + "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--b\n\ntwo\n--b--\n"},
		{"LF after CRLF", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\n--b\n\ntwo\r\n--b--\r\n"},
		{"white space after boundary", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b \t\r\n\r\none\r\n--b  \r\n\r\ntwo\r\n--b--  \r\n"},
		{"no close", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n"},
		{"cut in a delimiter", head + "Content-Type: multipart/mixed; boundary=bound\r\n\r\n--bound\r\n\r\none\r\n--bou"},
		{"cut after CR", head + "Content-Type: multipart/mixed; boundary=bound\r\n\r\n--bound\r\n\r\none\r"},
		{"prefix boundary", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--bb\r\nstill one\r\n--b-x\r\n\r\nafter\r\n"},
		{"boundary at body start", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\n\r\ntwo\r\n--b--\r\n"},
		{"boundary-like body start", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--bx\r\n--b--\r\n"},
		{"junk between parts", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b junk\r\n\r\ntwo\r\n--b--\r\n"},
		{"broken part header", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\nno colon here\r\n\r\ntwo\r\n--b\r\n\r\nthree\r\n--b--\r\n"},
		{"broken message header", "Subject: x\r\nnot a field\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n"},
		{"empty boundary", head + "Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\none\r\n----\r\n"},
		{"no boundary", head + "Content-Type: multipart/mixed\r\n\r\n--b\r\n\r\none\r\n"},
		{"bad content type", head + "Content-Type: multipart/mixed; boundary\r\n\r\n--b\r\n\r\none\r\n"},
		{"long preamble line", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + strings.Repeat("x", 5000) + "\r\n--b\r\n\r\none\r\n--b--\r\n"},
		{"nested", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/alternative; boundary=i\r\n\r\n--i\r\n\r\na\r\n--i\r\n\r\nb\r\n--o\r\n\r\nc\r\n--o--\r\n"},
		{"same boundary nested", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\na\r\n--b--\r\n--b--\r\n"},
		{"message/rfc822", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Type: multipart/alternative; boundary=c\r\n\r\n--c\r\n\r\nx\r\n--c--\r\n--b--\r\n"},
		{"inner not closed", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\r\n--o\r\n\r\nb\r\n--o--\r\n"},
		{"inner cut in a delimiter", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=inner\r\n\r\n--inner\r\n\r\na\r\n--inn\r\n--o--\r\n"},
		{"inner delimiter before outer", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\r\n--i\r\n--o\r\n\r\nb\r\n--o--\r\n"},
		{"inner close before outer", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=i\r\n\r\n--i\r\n\r\na\r\n--i--\r\n--o--\r\n"},
		{"boundary prefix of a cut one", head + "Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\nContent-Type: multipart/mixed; boundary=\"b-c\"\r\n\r\n--b-c\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ninner\r\n--b\r\n--o\r\n\r\nlast\r\n--o--\r\n"},
		{"enclosed header past the part", head + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n--b\r\n\r\ntwo\r\n--b--\r\n"},
		{"digest", head + "Content-Type: multipart/digest; boundary=b\r\n\r\n--b\r\n\r\nSubject: one\r\n\r\nfirst\r\n--b\r\nContent-Type: text/plain\r\n\r\nnot a message\r\n--b--\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := []byte(tc.raw)
			if diff := diffTrees(reference(raw, 0), treeOf(raw, mustParse(t, raw))); diff != "" {
				t.Errorf("ParseMIME differs from go-message (-go-message +ParseMIME):\n%s", diff)
			}
			if settled := compareOnePass(t, tc.name, raw); settled == rereads[tc.name] {
				t.Errorf("the one pass settled it: %v, want %v", settled, !rereads[tc.name])
			}
		})
	}
}

// nested is a message whose multiparts nest depth deep.
func nested(depth int) []byte {
	var b bytes.Buffer
	b.WriteString("Subject: deep\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\n\r\ndeepest\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// TestParseMIMEDeep: past MaxDepth a part is opaque, whatever it holds;
// message/rfc822 parts count as a level.
func TestParseMIMEDeep(t *testing.T) {
	raw := nested(10000)
	p := mustParse(t, raw)
	for d := 0; d < MaxDepth; d++ {
		if p.Opaque || len(p.Parts) != 1 {
			t.Fatalf("level %d: opaque %v, %d parts", d, p.Opaque, len(p.Parts))
		}
		p = p.Parts[0]
	}
	if !p.Opaque || p.Parts != nil {
		t.Fatalf("level %d: opaque %v, %d parts; want opaque", MaxDepth, p.Opaque, len(p.Parts))
	}
	if want := fmt.Sprintf("--b%d\r\n", MaxDepth); !bytes.HasPrefix(p.Body(raw), []byte(want)) {
		t.Errorf("opaque part's body starts %q, want %q", trunc(p.Body(raw)), want)
	}

	var b bytes.Buffer
	for range 30 {
		b.WriteString("Content-Type: message/rfc822\r\n\r\n")
	}
	b.WriteString("Subject: innermost\r\n\r\nhi\r\n")
	p = mustParse(t, b.Bytes())
	for d := 0; d < MaxDepth; d++ {
		if p.Opaque || p.Message == nil {
			t.Fatalf("message level %d: opaque %v, message %v", d, p.Opaque, p.Message != nil)
		}
		p = p.Message
	}
	if !p.Opaque || p.Message != nil {
		t.Errorf("message level %d: opaque %v; want opaque", MaxDepth, p.Opaque)
	}
}

// TestParseMIMEManyParts: past MaxParts parts, the rest of a multipart
// is left out and later multiparts are opaque.
func TestParseMIMEManyParts(t *testing.T) {
	var b bytes.Buffer
	b.WriteString("Content-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range MaxParts + 10 {
		b.WriteString("--b\r\n\r\nx\r\n")
	}
	b.WriteString("--b--\r\n")
	p := mustParse(t, b.Bytes())
	if len(p.Parts) != MaxParts-1 {
		t.Errorf("%d parts, want %d (the message counts)", len(p.Parts), MaxParts-1)
	}
}

func TestParseMIMECanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := ParseMIME(ctx, nested(100)); err != context.Canceled {
		t.Errorf("ParseMIME(canceled) = %v, want %v", err, context.Canceled)
	}
}

// TestParseMIMECorpus compares with go-message on every message of the
// shared corpus.
func TestParseMIMECorpus(t *testing.T) {
	dir := testcorpus.Dir(t)
	n := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isMailFile(path) {
			return err
		}
		src, err := OpenSource(path)
		if err != nil {
			return nil // not mail
		}
		defer src.Close()
		for {
			raw, err := src.Next()
			if err != nil {
				break
			}
			n++
			if diff := diffTrees(reference(raw, 0), treeOf(raw, mustParse(t, raw))); diff != "" {
				t.Errorf("%s message %d: ParseMIME differs from go-message (-go-message +ParseMIME):\n%s", path, n, diff)
			}
			if !compareOnePass(t, fmt.Sprintf("%s message %d", path, n), raw) {
				t.Errorf("%s message %d: the one pass gave up", path, n)
			}
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

// FuzzParseMIME: ParseMIME never panics, and splits small messages as
// go-message does.
func FuzzParseMIME(f *testing.F) {
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n"))
	f.Add([]byte("Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/rfc822\n\nSubject: x\n\n--b--\n"))
	f.Add(nested(30))
	f.Fuzz(func(t *testing.T, raw []byte) {
		p, err := ParseMIME(context.Background(), raw)
		if err != nil {
			t.Fatal(err)
		}
		compareOnePass(t, "input", raw)
		if len(raw) > 4000 {
			return // go-message's 4 KiB buffers start to show
		}
		if diff := diffTrees(reference(raw, 0), treeOf(raw, p)); diff != "" {
			t.Errorf("ParseMIME differs from go-message (-go-message +ParseMIME):\n%s", diff)
		}
	})
}

func BenchmarkParseMIMEDeep(b *testing.B) {
	for _, depth := range []int{5000, 10000} {
		raw := nested(depth)
		b.Run(fmt.Sprint(depth), func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := ParseMIME(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// bigNested is a message of about size bytes whose multiparts nest depth
// deep, the bulk in the innermost part as repeated copies of line.
func bigNested(depth, size int, line string) []byte {
	var b bytes.Buffer
	b.Grow(size + 200*depth)
	b.WriteString("Subject: big\r\nContent-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n")
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain\r\n\r\n", depth-1)
	for b.Len() < size-100*depth {
		b.WriteString(line)
	}
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "\r\n--b%d--\r\n", i)
	}
	return b.Bytes()
}

func BenchmarkParseMIMEBig(b *testing.B) {
	for _, tc := range []struct {
		name string
		line string
	}{
		{"text", strings.Repeat("x", 72) + "\r\n"},
		{"dashes", "--x\r\n"},
		// Lines that start as every boundary (b0 to b19) does.
		{"boundary-like", "--bx\r\n"},
	} {
		raw := bigNested(MaxDepth, 32<<20, tc.line)
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := ParseMIME(context.Background(), raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
