package review

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/review/patchmail"
	"patchwell/store"
)

// searchMails are delivered by newSearchService: a two-patch series
// with a cover letter and a review, and a hostile message.
var searchMails = []string{
	`Message-ID: <c@x>
From: Stephen <stephen@example.com>
To: dev@example.org
Cc: Carol <carol@example.net>
Date: Sun, 11 Sep 2016 23:00:00 +0000
Subject: [PATCH v2 0/2] A sample series

This series fixes the quoting of names.

---
base-commit: 1234567890abcdef1234567890abcdef12345678
change-id: 20160911-sample-abc
`,
	`Message-ID: <p1@x>
In-Reply-To: <c@x>
References: <c@x>
From: Stephen <stephen@example.com>
To: dev@example.org
Date: Sun, 11 Sep 2016 23:00:01 +0000
Subject: [PATCH v2 1/2] builtin/am: quote names

Use sq_quote_name everywhere.

Signed-off-by: Stephen <stephen@example.com>
---
 builtin/am.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/builtin/am.c b/builtin/am.c
index 1111111..2222222 100644
--- a/builtin/am.c
+++ b/builtin/am.c
@@ -10,3 +10,3 @@ static int am_run(struct am_state *state)
 	int ret;
-	ret = quote_name(state->name);
+	ret = sq_quote_name(state->name);
 	return ret;
-- 
2.40.0
`,
	`Message-ID: <r1@x>
In-Reply-To: <p1@x>
References: <c@x> <p1@x>
From: Rita Reviewer <rita@example.com>
To: stephen@example.com
Cc: dev@example.org
Date: Mon, 12 Sep 2016 08:00:00 +0000
Subject: Re: [PATCH v2 1/2] builtin/am: quote names

> Use sq_quote_name everywhere.

Looks right to me.

Reviewed-by: Rita Reviewer <rita@example.com>
`,
	"Message-ID: <evil@x>\nFrom: Mallory <mal@evil.test>\nDate: Tue, 01 Nov 2016 00:00:00 +0000\n" +
		"Subject: <script>alert(1)</script> \u202egnp.exe\n\nclick <a href=x>here</a> \u202e now\n",
}

func newSearchService(t testing.TB) *Service {
	t.Helper()
	in, st := newTestIngester(t)
	for _, m := range searchMails {
		if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: []byte(m)}); err != nil {
			t.Fatalf("Deliver() = %v", err)
		}
	}
	return NewService(st)
}

// TestSearchQueries runs public-inbox queries against the index.
func TestSearchQueries(t *testing.T) {
	svc := newSearchService(t)
	for _, tc := range []struct {
		q    string
		want string // Message-IDs, newest first
	}{
		{`s:"a sample series"`, "c@x"},
		{`s:"series sample"`, ""},
		{`(s:"A sample series" AND f:"stephen@example.com") AND d:20160901..`, "c@x"},
		{`(s:"A sample series" AND f:"other@example.com") AND d:20160901..`, ""},
		{`s:"sample" AND d:..20160910`, ""},
		{`d:20160911`, "p1@x c@x"},
		{`d:2016-09-12..2016-09-12`, "r1@x"},
		{`dt:20160911230000..20160911230000`, "c@x"},
		{`rt:..20160911`, ""},
		{`(s:"nope" OR nq:"change-id: 20160911-sample-abc") AND d:20160901..`, "c@x"},
		{`nq:"change-id: other"`, ""},
		{`sample NOT f:stephen`, ""},
		{`quote NOT f:rita`, "p1@x"},
		{`NOT f:stephen`, "evil@x r1@x"},
		{`mid:<c@x>`, "c@x"},
		{`m:p1@x OR m:r1@x`, "r1@x p1@x"},
		{`b:"looks right"`, "r1@x"},
		{`b:sq_quote_name`, "r1@x p1@x"},
		{`nq:sq_quote_name`, "p1@x"},
		{`q:sq_quote_name`, "r1@x"},
		{`bs:sample`, "c@x"},
		{`dfn:builtin/am.c`, "p1@x"},
		{`dfn:am.c`, "p1@x"},
		{`dfb:sq_quote_name`, "p1@x"},
		{`dfa:sq_quote_name`, ""},
		{`dfa:quote_name`, "p1@x"},
		{`"int ret"`, ""},
		{`am_run`, ""},
		{`t:dev@example.org`, "p1@x c@x"},
		{`c:carol`, "c@x"},
		{`tc:dev@example.org`, "r1@x p1@x c@x"},
		{`a:stephen@example.com`, "r1@x p1@x c@x"},
		{`f:rit*`, "r1@x"},
		{`quot*`, "r1@x p1@x c@x"},
		{`"quoting of names"`, "c@x"},
		{`b:insertion`, ""},      // the diffstat is not body text
		{`b:"2 40 0"`, ""},       // nor format-patch's git version
		{`b:"builtin am c"`, ""}, // the diffstat's names are in dfn: only
		{`"builtin am c"`, "p1@x"},
		{`nq:"Signed-off-by: Stephen"`, "p1@x"},
		{`Reviewed-by`, "r1@x"},
		{`s:script`, "evil@x"},
		{`s:"‮gnp"`, "evil@x"},
		{`(s:sample OR s:script) AND d:2016-10-01..`, "evil@x"},
		{`s:"AND" OR s:"NOT"`, ""},
	} {
		t.Run(tc.q, func(t *testing.T) {
			hits, err := svc.Search(context.Background(), []string{"dev"}, tc.q, store.Page{Limit: 50})
			if err != nil {
				t.Fatalf("Search(%q) = %v", tc.q, err)
			}
			var got []string
			for _, h := range hits {
				got = append(got, h.MessageID)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("Search(%q) = %q, want %q", tc.q, g, tc.want)
			}
		})
	}
}

func TestSearchPatchIDAndSnippets(t *testing.T) {
	svc := newSearchService(t)
	hits, err := svc.Search(context.Background(), []string{"dev"}, "dfb:sq_quote_name", store.Page{})
	if err != nil || len(hits) != 1 {
		t.Fatalf("Search() = %v, %v", hits, err)
	}
	raw, _ := svc.Raw(context.Background(), "dev", "p1@x")
	m, err := patchmail.Parse(raw)
	if err != nil || m.PatchID == "" {
		t.Fatalf("Parse() = %v, patch-id %q", err, m.PatchID)
	}
	hits, err = svc.Search(context.Background(), []string{"dev"}, "patchid:"+m.PatchID, store.Page{})
	if err != nil || len(hits) != 1 || hits[0].MessageID != "p1@x" {
		t.Errorf("patchid: %v, %v", hits, err)
	}
	for q, want := range map[string]string{
		"b:everywhere":            "> Use sq_quote_name everywhere.",
		`b:"looks right"`:         "Looks right to me.",
		"s:script":                "click <a href=x>here</a> ‮ now",
		"d:20160911 AND s:series": "This series fixes the quoting of names.",
	} {
		hits, err := svc.Search(context.Background(), []string{"dev"}, q, store.Page{Limit: 1})
		if err != nil || len(hits) != 1 || hits[0].Snippet != want {
			t.Errorf("Search(%q) snippet = %v, %v; want %q", q, hits, err, want)
		}
	}
	if _, err := svc.Search(context.Background(), []string{"nosuch"}, "x", store.Page{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown list: %v", err)
	}
	if hits, err := svc.Search(context.Background(), []string{"dev"}, "a:stephen@example.com", store.Page{}); err != nil || len(hits) != 3 {
		t.Errorf("all lists: %v, %v", hits, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	for _, q := range []string{`s:"unclosed`, `(s:x`, `s:x)`, `zz:unknown`, `d:yesterday..`, ``, `   `, `s:"!!!"`,
		`AND`, `x OR`, `NOT`, `d:..`, `dfctx:x`, `mid:<>`, `()`, strings.Repeat("(", 30) + "x" + strings.Repeat(")", 30),
		strings.Repeat("x ", 300)} {
		if _, err := parseQuery(q); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("parseQuery(%q) = %v, want an ErrInvalid error", q, err)
		}
	}
}

// FuzzSearchQuery: no query makes the parser or the store fail with
// anything but ErrInvalid, or panic.
func FuzzSearchQuery(f *testing.F) {
	for _, q := range []string{`s:"a sample" AND f:x`, `(a OR b) NOT c`, `d:20160101..`, `nq:"change-id: x"`,
		`dfn:a/b.c OR dfa:"x y"*`, `"x" NEAR y`, `s:"" OR *`, `a:"^x" -y +z`, `mid:<a@b>`} {
		f.Add(q)
	}
	svc := newSearchService(f)
	f.Fuzz(func(t *testing.T, q string) {
		_, err := svc.Search(context.Background(), []string{"dev"}, q, store.Page{Limit: 5})
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Fatalf("Search(%q) = %v", q, err)
		}
	})
}

// TestSearchMbox runs b4's "newer revision" query on patchwork's
// revision test: it returns the whole threads of both revisions.
func TestSearchMbox(t *testing.T) {
	in, st := newTestIngester(t)
	importFile(t, in, filepath.Join(corpusDir(t), "patchwork", "series", "revision-basic.mbox"))
	svc := NewService(st)
	var buf bytes.Buffer
	err := svc.SearchMbox(context.Background(), []string{"dev"}, `(s:"A sample series" AND f:"stephenfinucane@gmail.com") AND d:20160911..`, &buf)
	if err != nil {
		t.Fatalf("SearchMbox() = %v", err)
	}
	if n := strings.Count(buf.String(), "From mboxrd@z"); n != 6 {
		t.Errorf("got %d messages, want the 6 of both threads", n)
	}
	if err := svc.SearchMbox(context.Background(), []string{"dev"}, `s:"no such thing"`, &buf); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("no match: %v, want ErrNotFound", err)
	}
}

// TestSnippetDecodes: a snippet comes from the decoded text, whether the
// mail needs decoding (base64, quoted-printable, another charset) or not.
func TestSnippetDecodes(t *testing.T) {
	for name, raw := range map[string]string{
		"plain":            "Subject: x\n\nfirst line\nthe needle is here\n",
		"crlf":             "Subject: x\r\n\r\nfirst line\r\nthe needle is here\r\n",
		"base64":           "Subject: x\nContent-Transfer-Encoding: base64\n\n" + "Zmlyc3QgbGluZQp0aGUgbmVlZGxlIGlzIGhlcmUK\n",
		"quoted-printable": "Subject: x\nContent-Transfer-Encoding: quoted-printable\n\nfirst line\nthe need=\nle is here\n",
		"latin1":           "Subject: x\nContent-Type: text/plain; charset=iso-8859-1\n\nfirst line\nthe needle is here \xe9\n",
	} {
		want := "the needle is here"
		if name == "latin1" {
			want += " é"
		}
		if got := snippet([]byte(raw), []string{"needle"}); got != want {
			t.Errorf("%s: snippet = %q, want %q", name, got, want)
		}
		if got := snippet([]byte(raw), []string{"absent"}); got != "first line" {
			t.Errorf("%s: snippet without a match = %q, want the first line", name, got)
		}
	}
}

// TestSearchDocLeavesOutDiffNoise: a reply's quoted diff headers and a
// patch's diffstat are not indexed; the quoted diff lines and the prose
// around them are.
func TestSearchDocLeavesOutDiffNoise(t *testing.T) {
	raw := "Message-ID: <n@x>\nFrom: a@x\nSubject: Re: [PATCH] x\n\n" +
		"On Mon, Bob wrote:\n" +
		"> ---\n>  builtin/am.c | 2 +-\n>  1 file changed, 1 insertion(+), 1 deletion(-)\n" +
		"> diff --git a/builtin/am.c b/builtin/am.c\n> index 1111111..2222222 100644\n" +
		"> --- a/builtin/am.c\n> +++ b/builtin/am.c\n> @@ -10,3 +10,3 @@ static int am_run(void)\n" +
		">  \tint ret;\n> -\tret = quote_name(state);\n> +\tret = sq_quote_name(state);\n\n" +
		"Why not quote_name?\n\n" +
		" 3 files changed, in my version | 2 reasons\n 2 files changed, 1 insertion(+) and more\n" +
		" notes.c | 12 ++++--\n 1 file changed, 8 insertions(+), 4 deletions(-)\n" +
		"-- \n2.45.2\n"
	mail, err := patchmail.Parse([]byte(raw))
	if err != nil {
		t.Fatalf("Parse() = %v", err)
	}
	d := searchDoc(nil, nil, mail)
	for _, tc := range []struct {
		field, text string
		want        []string
		not         []string
	}{
		{"q", d.Q, []string{"sq_quote_name(state)", "quote_name(state)"},
			[]string{"diff --git", "index 1111111", "+++ b/", "--- a/", "@@", "am_run"}},
		{"nq", d.NQ, []string{"On Mon, Bob wrote:", "Why not quote_name?", "3 files changed, in my version | 2 reasons", "1 insertion(+) and more"},
			[]string{"notes.c", "insertions", "2.45.2"}},
	} {
		for _, w := range tc.want {
			if !strings.Contains(tc.text, w) {
				t.Errorf("%s lacks %q:\n%s", tc.field, w, tc.text)
			}
		}
		for _, w := range tc.not {
			if strings.Contains(tc.text, w) {
				t.Errorf("%s has %q:\n%s", tc.field, w, tc.text)
			}
		}
	}
}
