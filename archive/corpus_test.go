package archive

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// corpusCounts is every mail file of the shared corpus with the number of
// messages Python's mailbox.mbox finds in it (1 for a file that is a
// single message, 0 for an empty one). Exceptions, where our documented
// separator rule deliberately differs from Python's, are in the comments.
var corpusCounts = []struct {
	path string
	want int
}{
	{"b4/naked-cover-bugreport.mbox", 2},
	{"b4/naked-cover-single.mbox", 2},
	{"b4/shazam-git1-just-series.mbox", 5},
	{"b4/shazam-git1-with-link.mbox", 5},
	{"b4/trailers-followup-already-present.mbox", 3},
	{"b4/trailers-followup-bare-address.mbox", 4},
	{"b4/trailers-followup-custody.mbox", 3},
	{"b4/trailers-followup-htmljunk.mbox", 2},
	{"b4/trailers-followup-name-parens.mbox", 6},
	{"b4/trailers-followup-non-git-patch-with-comments.mbox", 2},
	{"b4/trailers-followup-non-git-patch.mbox", 2},
	{"b4/trailers-followup-nore.mbox", 2},
	{"b4/trailers-followup-partial-reroll.mbox", 6},
	{"b4/trailers-followup-single.mbox", 4},
	{"b4/trailers-followup-stripped-lines.mbox", 2},
	{"b4/trailers-followup-with-cover.mbox", 5},
	{"b4/trailers-followup-with-diffstat.mbox", 2},
	{"b4/trailers-thread-with-cover-followup.mbox", 7},
	{"b4/trailers-thread-with-followups.mbox", 6},
	{"git/t5100/comment.in", 1},
	{"git/t5100/embed-from.in", 1},
	{"git/t5100/empty", 0},
	{"git/t5100/info-from.in", 1},
	{"git/t5100/nul-b64.in", 1},
	{"git/t5100/nul-plain", 1},
	{"git/t5100/quoted-cr.mbox", 2},
	{"git/t5100/quoted-from.in", 1},
	{"git/t5100/quoted-string.in", 1},
	{"git/t5100/rfc2047-samples.mbox", 11},
	{"git/t5100/sample.mbox", 18},
	{"git/t5100/sample.mboxrd", 2}, // git mailsplit --mboxrd: 2; Python splits at a body line "From not mangled..."
	{"patchwork/fuzz/base64err.mbox", 1},
	{"patchwork/fuzz/charset.mbox", 1},
	{"patchwork/fuzz/codec-null.mbox", 1}, // Python also splits at the fuzzed line "From xl.org, netdev@...", which has no date
	{"patchwork/fuzz/date-oserror.mbox", 1},
	{"patchwork/fuzz/date-too-long.mbox", 1},
	{"patchwork/fuzz/date.mbox", 1},
	{"patchwork/fuzz/dateheader.mbox", 1},
	{"patchwork/fuzz/email-len.mbox", 1},
	{"patchwork/fuzz/msgid-len.mbox", 1},
	{"patchwork/fuzz/msgid-len2.mbox", 1},
	{"patchwork/fuzz/msgidheader.mbox", 1},
	{"patchwork/fuzz/name-len.mbox", 1}, // first line "From lib" has no date: one message, as git mailsplit reads it
	{"patchwork/fuzz/refshdr.mbox", 1},
	{"patchwork/fuzz/unknown-encoding.mbox", 1},
	{"patchwork/fuzz/value2.mbox", 1},
	{"patchwork/fuzz/x-face.mbox", 1},
	{"patchwork/fuzz/year-out-of-range.mbox", 1},
	{"patchwork/mail/0001-git-pull-request.mbox", 1},
	{"patchwork/mail/0002-git-pull-request-wrapped.mbox", 1},
	{"patchwork/mail/0003-git-pull-request-with-diff.mbox", 1},
	{"patchwork/mail/0004-git-pull-request-git+ssh.mbox", 1},
	{"patchwork/mail/0005-git-pull-request-ssh.mbox", 1},
	{"patchwork/mail/0006-git-pull-request-http.mbox", 1},
	{"patchwork/mail/0007-cvs-format-diff.mbox", 1},
	{"patchwork/mail/0008-git-rename.mbox", 1},
	{"patchwork/mail/0009-git-rename-with-diff.mbox", 1},
	{"patchwork/mail/0010-invalid-charset.mbox", 1},
	{"patchwork/mail/0011-no-newline-at-end-of-file.mbox", 1},
	{"patchwork/mail/0012-invalid-header-char.mbox", 1},
	{"patchwork/mail/0013-with-utf8-body.mbox", 1},
	{"patchwork/mail/0014-with-unencoded-utf8-headers.mbox", 1},
	{"patchwork/mail/0015-with-invalid-utf8-headers.mbox", 1},
	{"patchwork/mail/0016-no-subject.mbox", 1},
	{"patchwork/mail/0017-git-pull-request-git-2-14-3.mbox", 1},
	{"patchwork/mail/0019-multipart-patch.mbox", 1},
	{"patchwork/mail/0020-multipart-comment.mbox", 1},
	{"patchwork/mail/0021-git-empty-new-file.mbox", 1},
	{"patchwork/mail/0022-git-mode-change.mbox", 1},
	{"patchwork/mail/0023-git-pull-request-newline-in-url.mbox", 1},
	{"patchwork/mail/0024-git-pull-request-trailing-space.mbox", 1},
	{"patchwork/mail/0025-git-add-binary-file.mbox", 1},
	{"patchwork/mail/0026-git-add-mixed-binary-text-files.mbox", 1},
	{"patchwork/mail/0027-git-modify-binary-file.mbox", 1},
	{"patchwork/series/base-cover-letter.mbox", 3},
	{"patchwork/series/base-deep-threaded.mbox", 3},
	{"patchwork/series/base-different-versions.mbox", 5},
	{"patchwork/series/base-extra-patches.mbox", 4},
	{"patchwork/series/base-incomplete.mbox", 2},
	{"patchwork/series/base-no-cover-letter.mbox", 2},
	{"patchwork/series/base-no-references-no-cover.mbox", 3},
	{"patchwork/series/base-no-references.mbox", 2},
	{"patchwork/series/base-out-of-order.mbox", 3},
	{"patchwork/series/base-single-patch.mbox", 1},
	{"patchwork/series/bugs-mixed-versions.mbox", 2},
	{"patchwork/series/bugs-multiple-content-types.mbox", 2},
	{"patchwork/series/bugs-multiple-references.mbox", 5},
	{"patchwork/series/bugs-nocover-noversion.mbox", 4},
	{"patchwork/series/bugs-nocover.mbox", 4},
	{"patchwork/series/bugs-spamming.mbox", 3},
	{"patchwork/series/bugs-unnumbered.mbox", 3},
	{"patchwork/series/dependency-base-patch.mbox", 3},
	{"patchwork/series/dependency-multi-2.mbox.template", 3},
	{"patchwork/series/dependency-multi.mbox.template", 3},
	{"patchwork/series/dependency-one-cover.mbox.template", 3},
	{"patchwork/series/dependency-one-first-patch.mbox.template", 3},
	{"patchwork/series/mercurial-cover-letter.mbox", 3},
	{"patchwork/series/mercurial-no-cover-letter.mbox", 2},
	{"patchwork/series/revision-basic.mbox", 6},
	{"patchwork/series/revision-no-cover-letter.mbox", 5},
	{"patchwork/series/revision-out-of-order.mbox", 6},
	{"patchwork/series/revision-threaded-to-cover.mbox", 6},
	{"patchwork/series/revision-threaded-to-patch.mbox", 6},
	{"patchwork/series/revision-threaded-to-single-patch.mbox", 2},
	{"patchwork/series/revision-unlabeled-noreferences.mbox", 4},
	{"patchwork/series/revision-unlabeled.mbox", 6},
	{"public-inbox/data/attached-mbox-with-utf8.eml", 1},
	{"public-inbox/data/message_embed.eml", 1},
	{"public-inbox/filter_base-junk.eml", 1},
	{"public-inbox/filter_base-xhtml.eml", 1},
	{"public-inbox/iso-2202-jp.eml", 1},
	{"public-inbox/mda-mime.eml", 1},
	{"public-inbox/msg_iter-nested.eml", 1},
	{"public-inbox/msg_iter-order.eml", 1},
	{"public-inbox/plack-2-txt-bodies.eml", 1},
	{"public-inbox/plack-attached-patch.eml", 1},
	{"public-inbox/plack-qp.eml", 1},
	{"public-inbox/psgi_attach.eml", 1},
	{"public-inbox/psgi_v2-new.eml", 1},
	{"public-inbox/psgi_v2-old.eml", 1},
	{"public-inbox/search-amsg.eml", 1},
	{"public-inbox/utf8.eml", 1},
	{"public-inbox/x-unknown-alpine.eml", 1},
}

// checkHeader fails when a parsed header breaks the sanitising promises of
// Header: valid UTF-8, no control characters, bounded lengths and counts.
func checkHeader(t testing.TB, h Header) {
	t.Helper()
	strs := []string{h.MessageID, h.InReplyTo, h.Subject, h.From.Name, h.From.Email, h.ListID}
	strs = append(strs, h.References...)
	strs = append(strs, h.To...)
	strs = append(strs, h.Cc...)
	for _, s := range strs {
		if !utf8.ValidString(s) {
			t.Errorf("invalid UTF-8: %q", s)
		}
		if i := strings.IndexFunc(s, unicode.IsControl); i >= 0 {
			t.Errorf("control character at %d: %q", i, s)
		}
		if len(s) > 1000 {
			t.Errorf("string of %d bytes: %.80q...", len(s), s)
		}
	}
	for _, id := range append([]string{h.MessageID, h.InReplyTo}, h.References...) {
		if strings.ContainsAny(id, "<> \t") {
			t.Errorf("id not normalised: %q", id)
		}
	}
	if len(h.References) > 100 || len(h.To) > 1000 || len(h.Cc) > 1000 {
		t.Errorf("unbounded lists: %d references, %d to, %d cc", len(h.References), len(h.To), len(h.Cc))
	}
	if h.InReplyTo != "" && h.InReplyTo == h.MessageID {
		t.Errorf("message is its own parent: %q", h.MessageID)
	}
}

func roundTrip(t testing.TB, msgs [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	w := NewMboxWriter(&buf)
	for _, m := range msgs {
		if err := w.Write(m, "someone@example.org", time.Date(2024, 5, 28, 10, 0, 0, 0, time.UTC)); err != nil {
			t.Fatalf("Write() = %v", err)
		}
	}
	back := readAll(t, NewMboxReader(bytes.NewReader(buf.Bytes()), MboxRD))
	if len(back) != len(msgs) {
		t.Fatalf("round trip gave %d messages, want %d", len(back), len(msgs))
	}
	for i := range msgs {
		want := msgs[i]
		// MboxWriter ends an unterminated last line; nothing else changes.
		if len(want) > 0 && want[len(want)-1] != '\n' {
			want = append(append([]byte{}, want...), '\n')
		}
		if !bytes.Equal(back[i], want) {
			t.Errorf("round trip changed message %d:\n got %.300q\nwant %.300q", i, back[i], want)
		}
	}
}

// TestCorpusSources reads every mail file of the corpus through
// OpenSource: no error, the expected count, headers that keep their
// promises, and an mboxrd round trip that gives the same bytes.
func TestCorpusSources(t *testing.T) {
	dir := corpusDir(t)
	for _, tc := range corpusCounts {
		t.Run(tc.path, func(t *testing.T) {
			src, err := OpenSource(filepath.Join(dir, tc.path))
			if err != nil {
				t.Fatalf("OpenSource() = %v", err)
			}
			msgs := readAll(t, src)
			if err := src.Close(); err != nil {
				t.Errorf("Close() = %v", err)
			}
			if len(msgs) != tc.want {
				t.Errorf("read %d messages, want %d", len(msgs), tc.want)
			}
			for _, m := range msgs {
				checkHeader(t, ParseHeader(m))
			}
			roundTrip(t, msgs)
		})
	}
}
