package archive

import (
	"bufio"
	"bytes"
	"os"
	"patchwell/core"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseHeader(t *testing.T) {
	for _, tc := range []struct {
		name string
		raw  string
		want Header
	}{{
		name: "plain",
		raw: "From: Jane Doe <Jane@Example.ORG>\r\nTo: a@example.com, \"B, C\" <b@Example.com>\r\n" +
			"Cc: c@example.com\r\nSubject: [PATCH 1/2] foo: bar\r\nDate: Tue, 23 May 2017 13:21:05 +0800\r\n" +
			"Message-ID: <1@example.org>\r\nList-Id: Kernel list <linux-kernel.vger.kernel.org>\r\n\r\nbody\r\n",
		want: Header{
			MessageID: "1@example.org", Subject: "[PATCH 1/2] foo: bar",
			From: core.Person{Name: "Jane Doe", Email: "jane@example.org"},
			To:   []string{"a@example.com", "b@example.com"}, Cc: []string{"c@example.com"},
			Date:   time.Date(2017, 5, 23, 13, 21, 5, 0, time.FixedZone("", 8*3600)),
			ListID: "linux-kernel.vger.kernel.org",
		},
	}, {
		name: "folded",
		raw:  "Subject: [PATCH v3 00/17] a long\n\tsubject that\n  was folded\nMessage-ID:\n <folded@x>\nReferences: <a@x>\n <b@x>\n\t<c@x>\n\n",
		want: Header{
			MessageID: "folded@x", Subject: "[PATCH v3 00/17] a long subject that was folded",
			References: []string{"a@x", "b@x", "c@x"}, InReplyTo: "c@x",
		},
	}, {
		name: "rfc2047 subject over two words",
		raw:  "Subject: =?utf-8?q?Re=3A_caf=C3?= =?utf-8?q?=A9?= au =?ISO-8859-1?B?bOl0?=\n\n",
		want: Header{Subject: "Re: café au lét"},
	}, {
		name: "encoded CR LF never survives",
		raw:  "Subject: =?utf-8?q?a=0D=0Ab?=\nFrom: =?utf-8?q?Eve=0D=0ABcc=3A_x?= <eve@x>\n\n",
		want: Header{Subject: "a b", From: core.Person{Name: "Eve Bcc: x", Email: "eve@x"}},
	}, {
		name: "no message-id",
		raw:  "Subject: x\n\n",
		want: Header{Subject: "x"},
	}, {
		name: "duplicate message-id keeps the first",
		raw:  "Message-ID: <first@x>\nMessage-ID: <second@x>\n\n",
		want: Header{MessageID: "first@x"},
	}, {
		name: "garbage message-id",
		raw:  "Message-ID: uk>\nSubject: x\n\n",
		want: Header{Subject: "x"},
	}, {
		name: "bare message-id",
		raw:  "Message-ID: bare@example.org\n\n",
		want: Header{MessageID: "bare@example.org"},
	}, {
		name: "too long message-id",
		raw:  "Message-ID: <" + strings.Repeat("x", 600) + "@x>\n\n",
		want: Header{},
	}, {
		name: "references with junk, duplicates and self",
		raw: "Message-ID: <me@x>\nReferences: junk <a@x> more junk,<b@x>\t<a@x>\n (comment) <me@x> <c@x>\n" +
			"In-Reply-To: <c@x>\n\n",
		want: Header{MessageID: "me@x", References: []string{"a@x", "b@x", "c@x"}, InReplyTo: "c@x"},
	}, {
		name: "in-reply-to appended to references",
		raw:  "References: <a@x>\nIn-Reply-To: <b@x>\n\n",
		want: Header{References: []string{"a@x", "b@x"}, InReplyTo: "b@x"},
	}, {
		name: "in-reply-to with a comment",
		raw:  "In-Reply-To: <parent@x> (Joe Bloggs's message of \"Mon, 1 Jan 2024 10:00:00 +0000\")\n\n",
		want: Header{References: []string{"parent@x"}, InReplyTo: "parent@x"},
	}, {
		name: "in-reply-to with an address in a comment",
		raw:  "In-Reply-To: <parent@x> (message from Joe <joe@example.org> on Mon)\n\n",
		want: Header{References: []string{"parent@x"}, InReplyTo: "parent@x"},
	}, {
		name: "parent from references",
		raw:  "References: <a@x> <b@x>\n\n",
		want: Header{References: []string{"a@x", "b@x"}, InReplyTo: "b@x"},
	}, {
		name: "comment in from",
		raw:  "From: joe@example.org (Joe Bloggs)\n\n",
		want: Header{From: core.Person{Name: "Joe Bloggs", Email: "joe@example.org"}},
	}, {
		name: "unencoded utf-8 and invalid utf-8",
		raw:  "From: J\xc3\xb6rg \xff\xfe <j@x>\nSubject: caf\xc3\xa9 \xe9t\xe9\n\n",
		want: Header{From: core.Person{Name: "Jörg \ufffd", Email: "j@x"}, Subject: "café \ufffdt\ufffd"},
	}, {
		name: "control characters",
		raw:  "Subject: a\x01b\x1bc\x7fd\u0085e\n\n",
		want: Header{Subject: "a b c d e"},
	}, {
		name: "list-id without brackets",
		raw:  "List-Id: git.vger.kernel.org\n\n",
		want: Header{ListID: "git.vger.kernel.org"},
	}, {
		name: "mbox separator in front",
		raw:  "From 1234 Mon Sep 17 00:00:00 2001\nSubject: x\n\n",
		want: Header{Subject: "x"},
	}, {
		name: "header only, no blank line",
		raw:  "Subject: x\nMessage-ID: <a@x>\n",
		want: Header{Subject: "x", MessageID: "a@x"},
	}, {
		name: "no blank line before the body",
		raw:  "Subject: x\nMessage-ID: <a@x>\nHi,\nthis is the body.\n",
		want: Header{Subject: "x", MessageID: "a@x", Unparsable: true},
	}, {
		name: "unterminated",
		raw:  "Subject: x\nMessage-ID: <a@x>",
		want: Header{Subject: "x", MessageID: "a@x", Unparsable: true},
	}, {
		name: "garbage after fields",
		raw:  "Subject: x\n\x00\x01\x02\xff\n\nbody\n",
		want: Header{Subject: "x", Unparsable: true},
	}, {
		name: "NUL in a field",
		raw:  "Subject: x\x00y\n\nbody\n",
		want: Header{Subject: "x y", Unparsable: true},
	}, {
		name: "white space before the colon",
		raw:  "Subject : x\nMessage-ID\t: <a@x>\n\n",
		want: Header{Subject: "x", MessageID: "a@x"},
	}, {
		name: "binary garbage",
		raw:  "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\n\n",
		want: Header{Unparsable: true},
	}, {
		name: "empty",
		raw:  "",
		want: Header{Unparsable: true},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseHeader([]byte(tc.raw))
			checkHeader(t, got)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty(), cmpopts.EquateComparable(time.Time{})); diff != "" {
				// Dates are compared as instants below.
				if !got.Date.Equal(tc.want.Date) {
					t.Errorf("ParseHeader() date = %v, want %v", got.Date, tc.want.Date)
				}
				got.Date, tc.want.Date = time.Time{}, time.Time{}
				if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("ParseHeader() mismatch (-want +got):\n%s", diff)
				}
			}
		})
	}
}

func TestParseHeaderDates(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // RFC 3339, "" for zero
	}{
		{"Tue, 23 May 2017 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"23 May 2017 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"Tue, 23 May 2017 13:21 +0800", "2017-05-23T13:21:00+08:00"},
		{"Thu, 13 Nov 2008 16:54:22 +0100 (CET)", "2008-11-13T16:54:22+01:00"},
		{"Mon, 23 Feb 2015 16:14:44 GMT", "2015-02-23T16:14:44Z"},
		{"Mon Sep 17 00:00:00 2001", "2001-09-17T00:00:00Z"},
		{"Fri, 9 Jun 2006 00:44:16 -0700", "2006-06-09T00:44:16-07:00"},
		{"Mon, 5 Dec 11 16:49:35 -0800", "2011-12-05T16:49:35-08:00"},
		{"2024-05-28T10:00:00Z", "2024-05-28T10:00:00Z"},
		{"Tue, 23 May 2017 13:21:05 EST", "2017-05-23T13:21:05-05:00"},
		{"Tue, 23 May 2017 13:21:05 CEST", "2017-05-23T13:21:05+02:00"},
		{"Tue, 23 May 2017 13:21:05 GMT+0800", "2017-05-23T13:21:05+08:00"},
		{"Tue, 23 May 2017 13:21:05 +08:00", "2017-05-23T13:21:05+08:00"},
		{"Tue,23 May 2017 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"Tuesday, 23 May 2017 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"Tue 23 May 2017 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"2017-05-23 13:21:05 +0800", "2017-05-23T13:21:05+08:00"},
		{"Tue, 23 May 2017 13:21:05 Z", "2017-05-23T13:21:05Z"},
		{",  1 Jun 2016 22:00:54+0200", "2016-06-01T22:00:54+02:00"}, // patchwork/fuzz/date.mbox
		{"Tue, 30 Feb 2017 13:21:05 +0800", ""},
		{"Tue, 23 May 2017 25:21:05 +0800", ""},
		{"Tue, 23 May 2017 13:21:05 +080", ""},
		{"1 Jun 2016 22:00:54 +02 and some words", ""},
		// patchwork/fuzz: broken forms that must give zero, not garbage.
		{"Wed, 4 Jun 207777777777777777777714 17:50:46 0", ""},
		{", 11 Sep 2016 23:22:904070804030804 +0100", ""},
		{", 11 Sep 2016 23:20407080403080105:04 +0100", ""},
		{"Wg>", ""},
		{"Wed, 4 Jun 2014 17:50:\xef\xbf\xbd", ""},
		{"", ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			h := ParseHeader([]byte("Date: " + tc.in + "\n\n"))
			got := ""
			if !h.Date.IsZero() {
				got = h.Date.Format(time.RFC3339)
			}
			if got != tc.want {
				t.Errorf("ParseHeader(Date: %q).Date = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// TestParseHeaderRFC2047Samples checks From and Subject of git's
// t5100/rfc2047-samples.mbox against git mailinfo's expected output.
func TestParseHeaderRFC2047Samples(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "git", "t5100")
	src, err := OpenSource(filepath.Join(dir, "rfc2047-samples.mbox"))
	if err != nil {
		t.Fatalf("OpenSource() = %v", err)
	}
	defer src.Close()
	msgs := readAll(t, src)
	if len(msgs) != 11 {
		t.Fatalf("read %d messages, want 11", len(msgs))
	}
	for i, m := range msgs {
		info, err := os.ReadFile(filepath.Join(dir, "rfc2047-info-"+leftPad(i+1)))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{}
		sc := bufio.NewScanner(bytes.NewReader(info))
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ": "); ok {
				want[k] = v
			}
		}
		h := ParseHeader(m)
		// git mailinfo drops a "Re: " that we keep.
		if got := strings.TrimPrefix(h.Subject, "Re: "); got != want["Subject"] {
			t.Errorf("message %d: Subject = %q, want %q", i+1, got, want["Subject"])
		}
		if h.From.Email != want["Email"] {
			t.Errorf("message %d: From.Email = %q, want %q", i+1, h.From.Email, want["Email"])
		}
		// git keeps an RFC 5322 comment in the name; we take the display name.
		if name := want["Author"]; !strings.Contains(name, "(") && h.From.Name != name {
			t.Errorf("message %d: From.Name = %q, want %q", i+1, h.From.Name, name)
		}
	}
}

func leftPad(n int) string {
	s := "000" + string(rune('0'+n/10)) + string(rune('0'+n%10))
	return s[len(s)-4:]
}

// hugeHeader is a header with a 10,000-line Subject, 5,000 References
// and a 5,000-address To.
func hugeHeader() []byte {
	var b strings.Builder
	b.WriteString("Message-ID: <big@x>\nSubject: start")
	for i := 0; i < 10000; i++ {
		b.WriteString("\n =?utf-8?q?caf=C3=A9?= word word word word word word word")
	}
	b.WriteString("\nReferences:")
	for i := 0; i < 5000; i++ {
		b.WriteString(" <ref" + strconv.Itoa(i) + strings.Repeat("x", i%50) + "@x>")
	}
	b.WriteString("\nTo:")
	for i := 0; i < 5000; i++ {
		b.WriteString(" a@example.org,")
	}
	b.WriteString("\nSubject: second\n\nbody\n")
	return []byte(b.String())
}

// TestParseHeaderHuge feeds a 10,000-line Subject and other oversized
// fields: the results are capped (BenchmarkParseHeaderHuge times it).
func TestParseHeaderHuge(t *testing.T) {
	raw := hugeHeader()
	h := ParseHeader(raw)
	checkHeader(t, h)
	if len(h.Subject) > 1000 || !strings.HasPrefix(h.Subject, "start café word") {
		t.Errorf("Subject = %.80q... (%d bytes), want a capped decoded start", h.Subject, len(h.Subject))
	}
	if h.MessageID != "big@x" {
		t.Errorf("MessageID = %q", h.MessageID)
	}
	if len(h.References) != 100 || h.References[99] != "ref4999"+strings.Repeat("x", 4999%50)+"@x" {
		t.Errorf("%d references, want the last 100", len(h.References))
	}

	// Pathological encoded words: many "=?" that never close.
	raw = []byte("Subject: " + strings.Repeat("=?utf-8?X?", 20000) + "?=\n\n")
	h = ParseHeader(raw)
	checkHeader(t, h)

	// A header block that never ends.
	raw = bytes.Repeat([]byte("X-Junk: 0123456789012345678901234567890123456789\n"), 100000)
	h = ParseHeader(raw)
	if !h.Unparsable {
		t.Errorf("5 MB header without end: Unparsable = false")
	}
}

// TestParseHeaderCorpus parses every message of the corpus's mail files;
// it must not panic and must keep Header's promises. Messages with a
// Message-ID must yield one.
func TestParseHeaderCorpus(t *testing.T) {
	dir := corpusDir(t)
	n, withID := 0, 0
	for _, tc := range corpusCounts {
		src, err := OpenSource(filepath.Join(dir, tc.path))
		if err != nil {
			t.Fatalf("OpenSource(%s) = %v", tc.path, err)
		}
		for _, m := range readAll(t, src) {
			h := ParseHeader(m)
			checkHeader(t, h)
			n++
			if h.MessageID != "" {
				withID++
			}
		}
		src.Close()
	}
	if n == 0 || withID < n*8/10 {
		t.Errorf("%d of %d corpus messages have a Message-ID, want most", withID, n)
	}
}

func TestMessageIDHelpers(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<a@b>", "a@b"},
		{"  <a@b>  ", "a@b"},
		{"a@b", "a@b"},
		{"<>", ""},
		{"<a b@c>", ""},
	} {
		if got := NormalizeMessageID(tc.in); got != tc.want {
			t.Errorf("NormalizeMessageID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	a := GenerateMessageID([]byte("Subject: x\n\nbody\n"))
	b := GenerateMessageID([]byte("Subject: x\n\nbody\n"))
	c := GenerateMessageID([]byte("Subject: y\n\nbody\n"))
	if a != b || a == c || !strings.HasSuffix(a, "@generated.patchwell.invalid") || NormalizeMessageID(a) != a {
		t.Errorf("GenerateMessageID: %q %q %q", a, b, c)
	}
}

func FuzzParseHeader(f *testing.F) {
	f.Add([]byte("Subject: =?utf-8?q?a=0D=0Ab?=\nMessage-ID: <a@b>\nReferences: <c@d> junk <e@f>\n\nbody\n"))
	f.Add([]byte("From: \"x\" <y@z> (c)\nDate: Mon Sep 17 00:00:00 2001\nIn-Reply-To: <p@q> (x <r@s>)\n\n"))
	f.Add([]byte("Subject: x\n y\n\tz\nCc: a@b, \"c, d\" <e@f>\n"))
	f.Add([]byte("\x00\xff\n\n"))
	if dir, err := testcorpus.Find(); err == nil {
		files, _ := filepath.Glob(filepath.Join(dir, "patchwork", "fuzz", "*.mbox"))
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkHeader(t, ParseHeader(raw))
	})
}

// BenchmarkParseHeaderHuge: the oversized header of TestParseHeaderHuge
// (836 KB; about 19 ms on the 2-core machine: linear in its size).
func BenchmarkParseHeaderHuge(b *testing.B) {
	raw := hugeHeader()
	b.SetBytes(int64(len(raw)))
	for i := 0; i < b.N; i++ {
		ParseHeader(raw)
	}
}

func BenchmarkParseHeader(b *testing.B) {
	path := filepath.Join(corpusDir(b), "linux-watchdog-archive", "linux-watchdog-last4000.mboxrd.gz")
	src, err := OpenSource(path)
	if err != nil {
		b.Fatal(err)
	}
	msgs := readAll(b, src)
	src.Close()
	msgs = msgs[:500]
	var size int64
	for _, m := range msgs {
		size += int64(len(m))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, m := range msgs {
			ParseHeader(m)
		}
	}
	b.ReportMetric(float64(b.N*len(msgs))/b.Elapsed().Seconds(), "msgs/s")
}
