package imapd_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/imapd"
	"patchwell/store"
)

// nestedMessage is a message whose MIME parts nest depth levels deep:
// each level a multipart/mixed holding the next one, the innermost a
// text/plain part. A 5,000-deep one is about 340 KB, well under the
// SMTP size limit.
func nestedMessage(depth int, id string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: Deep Diver <deep@example.org>\r\nTo: dev@lists.example.org\r\n"+
		"Subject: nested %d deep\r\nMessage-ID: <%s@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n", depth, id)
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\ndeepest part\r\n", depth-1)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// asServed is a body structure as a client reads it back: the wire
// form writes an encoding lower-case, and "7bit" when there is none,
// and no parameters as NIL.
func asServed(bs imap.BodyStructure) imap.BodyStructure {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		for _, c := range bs.Children {
			asServed(c)
		}
	case *imap.BodyStructureSinglePart:
		bs.Encoding = strings.ToLower(bs.Encoding)
		if len(bs.Params) == 0 {
			bs.Params = nil
		}
		if bs.Encoding == "" {
			bs.Encoding = "7bit"
		}
		if bs.MessageRFC822 != nil {
			asServed(bs.MessageRFC822.BodyStructure)
		}
	}
	return bs
}

// ones is the section path 1.1.1... of n levels.
func ones(n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = 1
	}
	return p
}

// depthOf is how many levels a body structure has (1 for a single part).
func depthOf(bs imap.BodyStructure) int {
	switch bs := bs.(type) {
	case *imap.BodyStructureMultiPart:
		d := 0
		for _, c := range bs.Children {
			d = max(d, depthOf(c))
		}
		return d + 1
	case *imap.BodyStructureSinglePart:
		if bs.MessageRFC822 != nil {
			return depthOf(bs.MessageRFC822.BodyStructure) + 1
		}
	}
	return 1
}

func dialClient(t testing.TB, f *fixture, box string) *imapclient.Client {
	t.Helper()
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	c := imapclient.New(nc, nil)
	t.Cleanup(func() { c.Close() })
	if err := c.Login("anonymous", "x").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	if _, err := c.Select(box, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("EXAMINE: %v", err)
	}
	return c
}

// TestNestedMIME: a message nested 5,000 deep is served as one nested
// archive.MaxDepth deep whose deepest part is opaque (its raw content,
// application/octet-stream), and its sections down to that depth are
// what go-imap cuts; one of modest depth is served exactly as go-imap's
// own extractors give it, structure and sections.
func TestNestedMIME(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	modest, deep := nestedMessage(8, "modest"), nestedMessage(5000, "deep")
	f.deliver("dev", modest)
	f.deliver("dev", deep)
	c := dialClient(t, f, "dev")

	fetch := func(uid imap.UID, sections ...[]int) *imapclient.FetchMessageBuffer {
		t.Helper()
		opts := &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}
		for _, p := range sections {
			opts.BodySection = append(opts.BodySection, &imap.FetchItemBodySection{Part: p, Peek: true})
		}
		msgs, err := c.Fetch(imap.UIDSetNum(uid), opts).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("UID FETCH %d: %v (%d messages)", uid, err, len(msgs))
		}
		return msgs[0]
	}
	section := func(m *imapclient.FetchMessageBuffer, p []int) []byte {
		return m.FindBodySection(&imap.FetchItemBodySection{Part: p, Peek: true})
	}

	m := fetch(1, ones(1), ones(3), ones(8), ones(9))
	if diff := cmp.Diff(asServed(imapserver.ExtractBodyStructure(bytes.NewReader(modest))), m.BodyStructure); diff != "" {
		t.Errorf("BODYSTRUCTURE of the 8-deep message differs from go-imap's (-go-imap +got):\n%s", diff)
	}
	for _, n := range []int{1, 3, 8, 9} {
		want := imapserver.ExtractBodySection(bytes.NewReader(modest), &imap.FetchItemBodySection{Part: ones(n)})
		if got := section(m, ones(n)); !bytes.Equal(got, want) {
			t.Errorf("8-deep BODY[%v] = %q, want go-imap's %q", ones(n), trunc(got), trunc(want))
		}
	}

	d := archive.MaxDepth
	m = fetch(2, ones(1), ones(d-1), ones(d), ones(d+1), ones(5000))
	if got := depthOf(m.BodyStructure); got != d+1 {
		t.Errorf("BODYSTRUCTURE of the 5,000-deep message has %d levels, want %d", got, d+1)
	}
	leaf := m.BodyStructure
	for i := 0; i < d; i++ {
		mp, ok := leaf.(*imap.BodyStructureMultiPart)
		if !ok || len(mp.Children) != 1 {
			t.Fatalf("level %d of the 5,000-deep message: %#v", i, leaf)
		}
		leaf = mp.Children[0]
	}
	if sp, ok := leaf.(*imap.BodyStructureSinglePart); !ok || sp.Type != "application" || sp.Subtype != "octet-stream" {
		t.Errorf("deepest part of the 5,000-deep message: %#v, want an application/octet-stream leaf", leaf)
	}
	// Down to the cap, sections are go-imap's; below it, the opaque
	// part stands for everything it holds.
	for _, n := range []int{1, d - 1, d} {
		want := imapserver.ExtractBodySection(bytes.NewReader(deep), &imap.FetchItemBodySection{Part: ones(n)})
		if got := section(m, ones(n)); !bytes.Equal(got, want) {
			t.Errorf("5,000-deep BODY[%d ones] = %q, want go-imap's %q", n, trunc(got), trunc(want))
		}
	}
	for _, n := range []int{d + 1, 5000} {
		if got, want := section(m, ones(n)), section(m, ones(d)); !bytes.Equal(got, want) {
			t.Errorf("5,000-deep BODY[%d ones] = %q, want the opaque part's %q", n, trunc(got), trunc(want))
		}
	}
}

// countingStore counts the messages FetchMailbox hands out, taking
// delay over each, and tells started when the first one goes.
type countingStore struct {
	imapd.Store
	delay   time.Duration
	n       atomic.Int64
	once    sync.Once
	started chan struct{}
}

func (s *countingStore) FetchMailbox(ctx context.Context, listID int64, lo, hi uint32, kinds []string, withRaw bool,
	fn func(m *store.MailboxMessage, raw []byte) error) error {
	return s.Store.FetchMailbox(ctx, listID, lo, hi, kinds, withRaw, func(m *store.MailboxMessage, raw []byte) error {
		s.n.Add(1)
		s.once.Do(func() { close(s.started) })
		time.Sleep(s.delay)
		return fn(m, raw)
	})
}

// slowServer serves a mailbox of n small messages through a
// countingStore that takes delay over each, and tells done when a UID
// FETCH ends.
func slowServer(t *testing.T, n int, delay time.Duration) (addr string, cs *countingStore, done chan struct{}) {
	t.Helper()
	f := newFixture(t, imapd.Config{}, "dev")
	for i := range n {
		f.deliver("dev", []byte(fmt.Sprintf("From: a@example.org\nSubject: m%d\nMessage-ID: <m%d@example.org>\n\nbody %d\n", i, i, i)))
	}
	cs = &countingStore{Store: f.st, delay: delay, started: make(chan struct{})}
	done = make(chan struct{}, 1)
	srv, err := imapd.New(cs, nil, imapd.Config{Observe: func(cmd string, _ time.Duration) {
		if cmd == "UID FETCH" {
			done <- struct{}{}
		}
	}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), cs, done
}

// TestFetchStopsWhenClientLeaves: a client asks for the structure of
// 200 messages and hangs up while the server works on them; the server
// notices and stops, well before the last message.
func TestFetchStopsWhenClientLeaves(t *testing.T) {
	addr, cs, done := slowServer(t, 200, 10*time.Millisecond)
	rc, _ := dialRaw(t, addr)
	rc.expect("a", "LOGIN anonymous x", "OK")
	rc.expect("b", "EXAMINE dev", "OK")
	rc.send("c UID FETCH 1:* (BODYSTRUCTURE)\r\n")
	select {
	case <-cs.started:
	case <-time.After(5 * time.Second):
		t.Fatal("the FETCH did not start")
	}
	rc.c.Close()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the FETCH did not end within 20 s of the client leaving")
	}
	if n := cs.n.Load(); n > 100 {
		t.Errorf("the server went through %d of 200 messages after the client left", n)
	}
}

// TestFetchHalfClosed: a client that shuts down its sending side after
// its commands (nc -N does) still gets every answer.
func TestFetchHalfClosed(t *testing.T) {
	addr, _, _ := slowServer(t, 40, 10*time.Millisecond)
	rc, _ := dialRaw(t, addr)
	rc.expect("a", "LOGIN anonymous x", "OK")
	rc.expect("b", "EXAMINE dev", "OK")
	rc.send("c UID FETCH 1:* (BODYSTRUCTURE)\r\n")
	if err := rc.c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if u, st := rc.until("c"); len(u) != 40 || !strings.HasPrefix(st, "c OK") {
		t.Errorf("FETCH after a half close: %d answers, %q; want 40 and OK", len(u), st)
	}
}

// TestBodyStructureServed fetches BODYSTRUCTURE of the test messages
// over IMAP and compares with go-imap's extractor (the comparison over
// the shared corpus, without a server, is in internal_test.go).
func TestBodyStructureServed(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	msgs := testMessages(t)
	for _, raw := range msgs {
		f.deliver("dev", raw)
	}
	c := dialClient(t, f, "dev")
	got, err := c.Fetch(imap.UIDSetNum(1, 2, 3, 4, 5, 6, 7, 8), &imap.FetchOptions{UID: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range got {
		s := f.messages("dev")[m.UID-1]
		want := asServed(imapserver.ExtractBodyStructure(bytes.NewReader(s.wire())))
		if diff := cmp.Diff(want, m.BodyStructure); diff != "" {
			t.Errorf("BODYSTRUCTURE of %s (-go-imap +got):\n%s", strings.TrimSpace(s.m.MessageID), diff)
		}
	}
}

// cpuTime is the CPU time this process used so far (server and client:
// the benchmarks run both).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// bigNestedMessage is a message of about size bytes whose multiparts
// nest depth deep, the bulk in the innermost (text/plain) part as
// copies of line.
func bigNestedMessage(depth, size int, line, id string) []byte {
	var b bytes.Buffer
	b.Grow(size + 100*depth)
	fmt.Fprintf(&b, "From: Deep Diver <deep@example.org>\r\nTo: dev@lists.example.org\r\n"+
		"Subject: big, nested %d deep\r\nMessage-ID: <%s@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: multipart/mixed; boundary=\"b0\"\r\n\r\n", depth, id)
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "--b%d\r\nContent-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n", i-1, i)
	}
	fmt.Fprintf(&b, "--b%d\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n", depth-1)
	for b.Len() < size-10*depth {
		b.WriteString(line)
	}
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--b%d--\r\n", i)
	}
	return b.Bytes()
}

// bigEnclosedMessage is a message of about size bytes that encloses
// messages (message/rfc822) depth deep, the bulk in the innermost one.
func bigEnclosedMessage(depth, size int, line, id string) []byte {
	var b bytes.Buffer
	b.Grow(size + 100*depth)
	fmt.Fprintf(&b, "From: Deep Diver <deep@example.org>\r\nTo: dev@lists.example.org\r\n"+
		"Subject: big, enclosed %d deep\r\nMessage-ID: <%s@example.org>\r\nMIME-Version: 1.0\r\n"+
		"Content-Type: message/rfc822\r\n\r\n", depth, id)
	for i := 1; i < depth; i++ {
		fmt.Fprintf(&b, "Subject: level %d\r\nContent-Type: message/rfc822\r\n\r\n", i)
	}
	b.WriteString("Subject: innermost\r\nContent-Type: text/plain\r\n\r\n")
	for b.Len() < size {
		b.WriteString(line)
	}
	return b.Bytes()
}

// drain reads the answers to a command up to its tagged status line,
// skipping literals without looking at them, and fails unless it is OK.
func drain(b *testing.B, r *bufio.Reader, tag string) {
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			b.Fatalf("read: %v", err)
		}
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				b.Fatalf("%s", l)
			}
			return
		}
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}\r\n") {
			n, err := strconv.ParseInt(l[i+1:len(l)-3], 10, 64)
			if err != nil {
				b.Fatalf("literal in %q: %v", l, err)
			}
			if _, err := r.Discard(int(n)); err != nil {
				b.Fatalf("literal: %v", err)
			}
		}
	}
}

// benchSession is a server with raw as list dev's one message and a bare
// client connection that has it open (EXAMINE).
func benchSession(b *testing.B, raw []byte) (net.Conn, *bufio.Reader) {
	f := newFixture(b, imapd.Config{}, "dev")
	f.deliver("dev", raw)
	nc, err := net.Dial("tcp", f.addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { nc.Close() })
	r := bufio.NewReaderSize(nc, 64<<10)
	if _, err := r.ReadString('\n'); err != nil {
		b.Fatal(err)
	}
	io.WriteString(nc, "a LOGIN anonymous x\r\n")
	drain(b, r, "a")
	io.WriteString(nc, "b EXAMINE dev\r\n")
	drain(b, r, "b")
	return nc, r
}

// BenchmarkFetchNested times UID FETCH of BODYSTRUCTURE, and of
// BODY.PEEK[1.1.1...] down to the innermost part, of a message nested
// 5,000 and 10,000 deep (340 KB and 690 KB) and of maximum-size (32
// MiB) messages nested 20 deep (archive.MaxDepth), the bulk in the
// innermost part: multiparts with text lines, lines of dashes, or lines
// that start as the boundaries do, or enclosed messages; over a TCP connection, the client a bare reader that
// skips literals. cpu-ms/op is the CPU the process (server and client)
// spent per FETCH.
func BenchmarkFetchNested(b *testing.B) {
	for _, msg := range []struct {
		name  string
		depth int
		raw   []byte
	}{
		{"depth=5000", 5000, nestedMessage(5000, "deep")},
		{"depth=10000", 10000, nestedMessage(10000, "deep")},
		{"32MiB/depth=20/text", 20, bigNestedMessage(20, 32<<20, strings.Repeat("x", 72)+"\r\n", "big")},
		{"32MiB/depth=20/dashes", 20, bigNestedMessage(20, 32<<20, "--x\r\n", "dashes")},
		// Lines that start as every boundary (b0 to b19) does.
		{"32MiB/depth=20/boundary-like", 20, bigNestedMessage(20, 32<<20, "--bx\r\n", "boundary-like")},
		{"32MiB/depth=20/rfc822", 20, bigEnclosedMessage(20, 32<<20, strings.Repeat("x", 72)+"\r\n", "enclosed")},
	} {
		nc, r := benchSession(b, msg.raw)
		for _, item := range []struct{ name, cmd string }{
			{"BODYSTRUCTURE", "BODYSTRUCTURE"},
			{"BODY[1.1.1...]", "BODY.PEEK[" + strings.TrimSuffix(strings.Repeat("1.", msg.depth), ".") + "]"},
		} {
			b.Run(item.name+"/"+msg.name, func(b *testing.B) {
				b.SetBytes(int64(len(msg.raw)))
				cpu0 := cpuTime()
				for b.Loop() {
					io.WriteString(nc, "c UID FETCH 1 ("+item.cmd+")\r\n")
					drain(b, r, "c")
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}

// TestMultipartWithoutParts: a multipart with no part in it (no
// boundary) has a BODYSTRUCTURE a client can read. go-imap builds one
// without parts, which its own writer refuses with a panic that drops
// the connection.
func TestMultipartWithoutParts(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	f.deliver("dev", []byte("From: a@example.org\r\nSubject: empty\r\nMessage-ID: <empty@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n\r\nno boundary, no parts\r\n"))
	c := dialClient(t, f, "dev")
	msgs, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{Extended: true}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("UID FETCH BODYSTRUCTURE: %v (%d messages)", err, len(msgs))
	}
	mp, ok := msgs[0].BodyStructure.(*imap.BodyStructureMultiPart)
	if !ok || mp.Subtype != "mixed" || len(mp.Children) != 1 {
		t.Fatalf("BODYSTRUCTURE = %#v, want multipart/mixed with one (empty) part", msgs[0].BodyStructure)
	}
	if sp, ok := mp.Children[0].(*imap.BodyStructureSinglePart); !ok || sp.Type != "text" || sp.Size != 0 {
		t.Errorf("its part = %#v, want an empty text part", mp.Children[0])
	}
	if err := c.Noop().Wait(); err != nil {
		t.Errorf("NOOP after: %v", err)
	}
}

// TestKeptStructureServed: big messages (past archive.KeepStructureFrom)
// have their MIME structure kept when they arrive, and what IMAP serves
// from it (BODYSTRUCTURE, a part's body and MIME header) is what
// go-imap's extractors give: multiparts whose lines look like their
// delimiters, a message stored with bare LF, enclosed messages.
func TestKeptStructureServed(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev")
	msgs := [][]byte{
		bigNestedMessage(6, 600<<10, "--bx\r\n", "kept-boundary"),
		bytes.ReplaceAll(bigNestedMessage(3, 400<<10, strings.Repeat("y", 50)+"\r\n", "kept-lf"), []byte("\r\n"), []byte("\n")),
		bigEnclosedMessage(4, 300<<10, "text\r\n", "kept-enclosed"),
	}
	for _, raw := range msgs {
		f.deliver("dev", raw)
	}
	l, err := f.st.List(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	kept := 0
	if err := f.st.FetchMailbox(context.Background(), l.ID, 1, 10, nil, true, func(m *store.MailboxMessage, _ []byte) error {
		if m.Structure != nil {
			kept++
		}
		return nil
	}); err != nil || kept != len(msgs) {
		t.Fatalf("structures kept for %d of %d big messages (%v)", kept, len(msgs), err)
	}
	c := dialClient(t, f, "dev")
	sections := []*imap.FetchItemBodySection{
		{Part: []int{1, 1}, Peek: true},
		{Part: []int{1, 1}, Specifier: imap.PartSpecifierMIME, Peek: true},
		{Part: []int{1}, Specifier: imap.PartSpecifierText, Peek: true},
	}
	got, err := c.Fetch(imap.UIDSetNum(1, 2, 3), &imap.FetchOptions{UID: true,
		BodyStructure: &imap.FetchItemBodyStructure{Extended: true}, BodySection: sections}).Collect()
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("FETCH: %d messages, %v", len(got), err)
	}
	for i, m := range got {
		wire := crlf(msgs[i])
		want := asServed(imapserver.ExtractBodyStructure(bytes.NewReader(wire)))
		if diff := cmp.Diff(want, m.BodyStructure); diff != "" {
			t.Errorf("message %d: BODYSTRUCTURE (-go-imap +got):\n%s", i+1, diff)
		}
		for _, s := range sections {
			want := imapserver.ExtractBodySection(bytes.NewReader(wire), s)
			if g := m.FindBodySection(s); !bytes.Equal(g, want) {
				t.Errorf("message %d: BODY[%v %s]: %d bytes, want %d", i+1, s.Part, s.Specifier, len(g), len(want))
			}
		}
	}
}

// BenchmarkFetchBinary times UID FETCH BINARY.PEEK[1] (the part decoded)
// and BINARY.SIZE[1] of a maximum-size message whose one attachment is
// base64, and of one whose text part is quoted-printable in Latin-1
// (decoded and made UTF-8); cpu-ms/op as in BenchmarkFetchNested.
func BenchmarkFetchBinary(b *testing.B) {
	big := func(ctype, cte, line string) []byte {
		var m bytes.Buffer
		fmt.Fprintf(&m, "From: a@example.org\r\nSubject: binary\r\nMessage-ID: <bin@example.org>\r\nMIME-Version: 1.0\r\n"+
			"Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: %s\r\nContent-Transfer-Encoding: %s\r\n\r\n", ctype, cte)
		for m.Len() < 32<<20-100 {
			m.WriteString(line)
		}
		m.WriteString("--b--\r\n")
		return m.Bytes()
	}
	for _, msg := range []struct {
		name string
		raw  []byte
	}{
		{"32MiB/base64", big("application/octet-stream", "base64", strings.Repeat("QUJD", 19)+"\r\n")},
		{"32MiB/qp-latin1", big("text/plain; charset=iso-8859-1", "quoted-printable", "caf=E9 "+strings.Repeat("x", 60)+"\r\n")},
	} {
		nc, r := benchSession(b, msg.raw)
		for _, item := range []string{"BINARY.PEEK[1]", "BINARY.SIZE[1]"} {
			b.Run(item+"/"+msg.name, func(b *testing.B) {
				cpu0 := cpuTime()
				for b.Loop() {
					io.WriteString(nc, "c UID FETCH 1 ("+item+")\r\n")
					drain(b, r, "c")
				}
				b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			})
		}
	}
}
