package review

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"testing"

	"patchwell/store"
)

// TestBadInputIsStored delivers hostile and broken mail: every message is
// stored byte for byte and flagged where it is odd; nothing is dropped.
func TestBadInputIsStored(t *testing.T) {
	subject10k := "Subject: start\n" + strings.Repeat(" folded line of a very long subject\n", 10000)
	deep := "Message-ID: <deep@x>\nContent-Type: multipart/mixed; boundary=b0\n\n"
	for i := 0; i < 200; i++ {
		deep += "--b" + strconv.Itoa(i) + "\nContent-Type: multipart/mixed; boundary=b" + strconv.Itoa(i+1) + "\n\n"
	}
	for _, tc := range []struct {
		name      string
		raw       string
		wantFlags store.Flags
		msgid     string // "" means any (generated)
	}{
		{"broken MIME", "Message-ID: <mime@x>\nContent-Type: multipart/mixed; boundary=\"\n\n--\nno end", 0, "mime@x"},
		{"invalid UTF-8 in headers", "Message-ID: <utf@x>\nSubject: caf\xe9 \xff\xfe\nFrom: J\xf6rg <j@x>\n\nbody\n", 0, "utf@x"},
		{"no Message-ID", "Subject: none\n\nbody\n", store.FlagNoMessageID, ""},
		{"binary garbage", "\x00\x01\x02\xff\xfe garbage without header\x00\n\x00", store.FlagUnparsable | store.FlagNoMessageID, ""},
		{"10,000-line subject", "Message-ID: <long@x>\n" + subject10k + "\nbody\n", 0, "long@x"},
		{"deep MIME nesting", deep, store.FlagTooDeep, "deep@x"},
		{"CR LF smuggled in an encoded header", "Message-ID: <crlf@x>\nSubject: =?utf-8?q?a=0D=0ABcc:_evil@x?=\n\nbody\n", 0, "crlf@x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, st := newTestIngester(t)
			if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: []byte(tc.raw)}); err != nil {
				t.Fatalf("Deliver() = %v", err)
			}
			var got *store.Message
			var raw []byte
			st.Walk(context.Background(), "dev", func(m *store.Message, r []byte) error {
				got, raw = m, append([]byte(nil), r...)
				return nil
			})
			if got == nil {
				t.Fatal("message not stored")
			}
			if !bytes.Equal(raw, []byte(tc.raw)) {
				t.Fatal("stored bytes differ")
			}
			if got.Flags&tc.wantFlags != tc.wantFlags {
				t.Errorf("flags = %b, want at least %b", got.Flags, tc.wantFlags)
			}
			if tc.msgid != "" && got.MessageID != tc.msgid {
				t.Errorf("Message-ID = %q, want %q", got.MessageID, tc.msgid)
			}
			if strings.ContainsAny(got.Subject, "\r\n\x00") || len(got.Subject) > 1000 {
				t.Errorf("subject not sanitised: %q", got.Subject)
			}
		})
	}

	// The same Message-ID with other bytes is kept and flagged; the same
	// bytes again are kept once.
	in, st := newTestIngester(t)
	a := "Message-ID: <dup@x>\nSubject: one\n\nfirst\n"
	b := "Message-ID: <dup@x>\nSubject: one\n\nsecond\n"
	for _, raw := range []string{a, b, a} {
		if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
			t.Fatalf("Deliver() = %v", err)
		}
	}
	var msgs []store.Message
	st.Walk(context.Background(), "dev", func(m *store.Message, _ []byte) error {
		msgs = append(msgs, *m)
		return nil
	})
	if len(msgs) != 2 || msgs[0].Flags&store.FlagDupMessageID != 0 || msgs[1].Flags&store.FlagDupMessageID == 0 {
		t.Fatalf("duplicates: %+v", msgs)
	}
}
