package review

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/core"
)

// SeriesMbox writes a series' patches, in order, as mboxrd ready for
// `git am`, each commit message carrying the trailers its replies gave
// (what `b4 am` produces). Patches whose body is transfer-encoded or
// multipart are written unchanged. store.ErrNotFound before anything is
// written for an unknown series.
func (s *Service) SeriesMbox(ctx context.Context, id int64, w io.Writer) error {
	return s.SeriesMboxLinked(ctx, id, "", w)
}

// SeriesMboxLinked is SeriesMbox with, when webURL is not empty, a
// "Link: WEB/LIST/MSGID/" trailer after each patch's trailers pointing at
// its archived message, as `b4 am -l` adds one (what applying a series
// records in each commit).
func (s *Service) SeriesMboxLinked(ctx context.Context, id int64, webURL string, w io.Writer) error {
	se, patches, err := s.Series(ctx, id)
	if err != nil {
		return err
	}
	mw := archive.NewMboxWriter(w)
	for _, p := range patches {
		raw, err := s.st.Raw(ctx, se.List, p.MessageID)
		if err != nil {
			return fmt.Errorf("patch %d: %w", p.Index, err)
		}
		var extra []core.Trailer
		for _, t := range p.Trailers {
			if t.FromMessageID != p.MessageID {
				extra = append(extra, t)
			}
		}
		if webURL != "" {
			extra = append(extra, core.Trailer{Key: "Link", Value: strings.TrimRight(webURL, "/") + "/" +
				url.PathEscape(se.List) + "/" + url.PathEscape(p.MessageID) + "/"})
		}
		if err := mw.Write(AddTrailers(raw, extra), "mboxrd@z", time.Time{}); err != nil {
			return err
		}
	}
	return nil
}

// AddTrailers inserts trailer lines at the end of a patch mail's commit
// message (before the "---" line that starts the notes and diffstat), after
// the trailers already there. Mail whose body is not plain text is
// returned unchanged.
func AddTrailers(raw []byte, trailers []core.Trailer) []byte {
	if len(trailers) == 0 {
		return raw
	}
	if crlf := bytes.Index(raw, []byte("\r\n\r\n")); crlf >= 0 {
		if lf := bytes.Index(raw, []byte("\n\n")); lf < 0 || crlf < lf {
			// A message kept with CRLF line ends (as it came over the
			// wire): add to its LF form and give it back with CRLF.
			out := AddTrailers(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), trailers)
			return bytes.ReplaceAll(out, []byte("\n"), []byte("\r\n"))
		}
	}
	head, body, ok := bytes.Cut(raw, []byte("\n\n"))
	if !ok || !plainBody(head) {
		return raw
	}
	lines := strings.SplitAfter(string(body), "\n")
	cut := -1
	for i, l := range lines {
		// Where the diff starts: git's "---" line or diff header, or
		// Mercurial's plain "diff -r" header (hg email).
		if l == "---\n" || strings.HasPrefix(l, "diff --git ") || strings.HasPrefix(l, "diff -r ") {
			cut = i
			break
		}
	}
	if cut < 0 {
		return raw
	}
	// Back over blank lines to the end of the trailer block.
	end := cut
	for end > 0 && strings.TrimSpace(lines[end-1]) == "" {
		end--
	}
	var add strings.Builder
	if end == 0 || !trailerLine.MatchString(lines[end-1]) {
		add.WriteString("\n") // the trailers need a paragraph of their own
	}
	for _, t := range trailers {
		fmt.Fprintf(&add, "%s: %s\n", t.Key, t.Value)
	}
	out := make([]byte, 0, len(raw)+add.Len())
	out = append(out, head...)
	out = append(out, "\n\n"...)
	out = append(out, strings.Join(lines[:end], "")...)
	out = append(out, add.String()...)
	out = append(out, strings.Join(lines[end:], "")...)
	return out
}

var trailerLine = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]*: \S`)

// plainBody reports whether a header announces a body we may edit as
// text: not multipart, not base64 or quoted-printable.
func plainBody(head []byte) bool {
	h := strings.ToLower(string(head))
	return !strings.Contains(h, "content-type: multipart/") &&
		!strings.Contains(h, "content-transfer-encoding: base64") &&
		!strings.Contains(h, "content-transfer-encoding: quoted-printable")
}
