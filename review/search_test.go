package review

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

func TestParseQuery(t *testing.T) {
	m := &store.Message{Subject: "[PATCH v2 0/2] A sample series", MessageID: "c@x",
		From: store.Person{Name: "Stephen", Email: "stephen@example.com"}, Date: time.Date(2016, 9, 11, 23, 0, 0, 0, time.UTC), SeriesID: 4}
	ids := map[int64]string{4: "20160911-sample-abc"}
	for _, tc := range []struct {
		q    string
		want bool
		err  bool
	}{
		{`s:"a sample series"`, true, false},
		{`(s:"A sample series" AND f:"stephen@example.com") AND d:20160901..`, true, false},
		{`(s:"A sample series" AND f:"other@example.com") AND d:20160901..`, false, false},
		{`s:"sample" AND d:..20160910`, false, false},
		{`d:20160911`, true, false},
		{`(s:"nope" OR nq:"change-id: 20160911-sample-abc") AND d:20160901..`, true, false},
		{`nq:"change-id: other"`, false, false},
		{`sample NOT f:stephen`, false, false},
		{`mid:<c@x>`, true, false},
		{`s:"unclosed`, false, true},
		{`(s:x`, false, true},
		{`zz:unknown`, false, true},
		{`d:yesterday..`, false, true},
		{``, false, true},
	} {
		t.Run(tc.q, func(t *testing.T) {
			q, err := parseQuery(tc.q)
			if tc.err {
				if !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("parseQuery(%q) = %v, want an ErrInvalid error", tc.q, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseQuery(%q) = %v", tc.q, err)
			}
			if got := q.match(m, ids); got != tc.want {
				t.Errorf("match = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSearchMbox runs b4's "newer revision" query on patchwork's
// revision test: it returns the whole threads of both revisions.
func TestSearchMbox(t *testing.T) {
	in, st := newTestIngester(t)
	importFile(t, in, filepath.Join(corpusDir(t), "patchwork", "series", "revision-basic.mbox"))
	svc := NewService(st)
	var buf bytes.Buffer
	err := svc.SearchMbox(context.Background(), "dev", `(s:"A sample series" AND f:"stephenfinucane@gmail.com") AND d:20160911..`, &buf)
	if err != nil {
		t.Fatalf("SearchMbox() = %v", err)
	}
	if n := strings.Count(buf.String(), "From mboxrd@z"); n != 6 {
		t.Errorf("got %d messages, want the 6 of both threads", n)
	}
	if err := svc.SearchMbox(context.Background(), "dev", `s:"no such thing"`, &buf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no match: %v, want ErrNotFound", err)
	}
}
