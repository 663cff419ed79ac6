package review

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"unicode/utf8"

	"patchwell/review/patchmail"
	"patchwell/store"
)

// Search returns the messages of the named lists (those the reader may
// search: the caller decides) matching the public-inbox query q, newest arrival first, each with a snippet: the
// first body line holding a searched word. ErrBadQuery for a query that
// does not parse, store.ErrNotFound for an unknown list.
func (s *Service) Search(ctx context.Context, lists []string, q string, p store.Page) ([]store.SearchHit, error) {
	e, err := parseQuery(q)
	if err != nil {
		return nil, err
	}
	if len(lists) == 0 {
		return nil, nil
	}
	ms, err := s.st.Search(ctx, lists, e, p)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 && len(lists) == 1 {
		// No hit: is it the list that does not exist?
		if _, err := s.st.List(ctx, lists[0]); err != nil {
			return nil, err
		}
	}
	words := positiveWords(e, false, nil)
	hits := make([]store.SearchHit, len(ms))
	errs := make([]error, len(ms))
	// Snippets parse the stored mails: on every core.
	next := make(chan int, len(ms))
	for i := range ms {
		hits[i].Message = ms[i]
		next <- i
	}
	close(next)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(ms)) {
		wg.Go(func() {
			for i := range next {
				raw, err := s.st.Raw(ctx, ms[i].List, ms[i].MessageID)
				if err != nil {
					errs[i] = err
					continue
				}
				hits[i].Snippet = snippet(raw, words)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return hits, nil
}

// positiveWords collects the lower-cased words of the text terms a match
// has (not those under a NOT).
func positiveWords(e *store.SearchExpr, negated bool, out []string) []string {
	switch e.Op {
	case store.SearchText:
		if !negated {
			for _, w := range e.Words {
				out = append(out, store.SearchWords(strings.ToLower(w))...)
			}
		}
	case store.SearchNot:
		for _, a := range e.Args {
			out = positiveWords(a, !negated, out)
		}
	default:
		for _, a := range e.Args {
			out = positiveWords(a, negated, out)
		}
	}
	return out
}

// snippetLen bounds a snippet, in runes.
const snippetLen = 160

// snippet returns the first line of the message's body text that holds
// one of words (whole words, case-insensitive), or else its first line of
// unquoted text; at most snippetLen runes around the match.
func snippet(raw []byte, words []string) string {
	body, ok := undecodedBody(raw)
	if !ok {
		m, err := patchmail.Parse(raw)
		if err != nil {
			return ""
		}
		body = m.Body
	}
	first := ""
	for line := range strings.Lines(body) {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if first == "" && !strings.HasPrefix(line, ">") {
			first = line
		}
		if len(words) == 0 {
			break
		}
		lower := strings.ToLower(line)
		for _, w := range words {
			if at := wordAt(lower, w); at >= 0 && len(lower) == len(line) {
				return clip(line, at)
			}
		}
	}
	return clip(first, 0)
}

// wordAt finds w in s as a whole word (or a word's start).
func wordAt(s, w string) int {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], w)
		if i < 0 {
			return -1
		}
		i += off
		if i == 0 || !isWordByte(s[i-1]) {
			return i
		}
		off = i + len(w)
	}
	return -1
}

func isWordByte(b byte) bool {
	return b >= 0x80 || 'a' <= b && b <= 'z' || '0' <= b && b <= '9' || 'A' <= b && b <= 'Z'
}

// clip cuts line to snippetLen runes, starting a little before byte
// offset at when the line is longer.
func clip(line string, at int) string {
	if utf8.RuneCountInString(line) <= snippetLen {
		return line
	}
	start := max(0, at-40)
	for start > 0 && !utf8.RuneStart(line[start]) {
		start--
	}
	out, n := line[start:], 0
	for i := range out {
		if n == snippetLen {
			out = out[:i] + "…"
			break
		}
		n++
	}
	if start > 0 {
		out = "…" + out
	}
	return out
}

// undecodedBody returns the body of a single-part mail that needs no decoding
// (no base64 or quoted-printable, UTF-8 or ASCII): most list mail. Parsing
// the whole mail (MIME, diff, patch-id) would cost a big patch a
// millisecond; ok is false when only that will do.
func undecodedBody(raw []byte) (string, bool) {
	end, skip := bytes.Index(raw, []byte("\n\n")), 2
	if crlf := bytes.Index(raw, []byte("\r\n\r\n")); crlf >= 0 && (end < 0 || crlf < end) {
		end, skip = crlf, 4
	}
	if end < 0 {
		return "", false
	}
	hdr := bytes.ToLower(raw[:end])
	for _, bad := range []string{"multipart/", "base64", "quoted-printable"} {
		if bytes.Contains(hdr, []byte(bad)) {
			return "", false
		}
	}
	if i := bytes.Index(hdr, []byte("charset=")); i >= 0 {
		cs := strings.Trim(string(hdr[i+8:min(len(hdr), i+8+20)]), "\"' ")
		if !strings.HasPrefix(cs, "utf-8") && !strings.HasPrefix(cs, "us-ascii") {
			return "", false
		}
	}
	return strings.ToValidUTF8(string(raw[end+skip:]), "\uFFFD"), true
}
