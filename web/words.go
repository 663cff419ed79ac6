package web

import (
	"html/template"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Word-level highlighting: in a run of deleted lines followed by a run of
// added lines (a change block), the first deleted line is paired with
// the first added line, the second with the second, and so on, as the
// side-by-side view shows them. In each pair that still has much in
// common, the words that differ are marked: <del> in the deleted line,
// <ins> in the added one. A pair with little in common (a line replaced
// by another) is left as it is: marking all of it says nothing.
//
// Lines are compared as their visible text (line.Text, what the page
// shows), cut into words: runs of letters, digits and underscores, runs
// of spaces, and single other characters. The marks are put into the
// line's HTML around text only (never across a tag), so that they nest
// within the highlighter's spans.

// Limits on word diff work.
const (
	// maxWordLine: longer lines are not compared.
	maxWordLine = 1000
	// maxWordCells bounds the table comparing the differing middles of
	// two lines (words of one times words of the other); past it the
	// whole middle is marked.
	maxWordCells = 16384
	// minWordSame is the share of a pair's text, in percent, that must be
	// the same for its differences to be marked.
	minWordSame = 40
)

// span is a byte range [start, end) of a line's text.
type span struct{ start, end int }

// markWords marks the changed words of f's paired lines in their HTML.
func markWords(f *diffFile) {
	if f.Binary {
		return
	}
	var dels, adds []int
	flush := func() {
		for k := 0; k < len(dels) && k < len(adds); k++ {
			a, b := &f.Lines[dels[k]], &f.Lines[adds[k]]
			da, db, ok := wordDiff(a.Text, b.Text)
			if !ok {
				continue
			}
			a.HTML = markHTML(lineHTML(a), da, "del")
			b.HTML = markHTML(lineHTML(b), db, "ins")
		}
		dels, adds = dels[:0], adds[:0]
	}
	for i := range f.Lines {
		switch f.Lines[i].Class {
		case "del":
			if len(adds) > 0 {
				flush()
			}
			dels = append(dels, i)
		case "add":
			adds = append(adds, i)
		case "nonl":
			// "\ No newline at end of file" sits inside a change block.
		default:
			flush()
		}
	}
	flush()
}

// lineHTML is a line's HTML as the page shows it: highlighted, or its
// text escaped.
func lineHTML(l *line) string {
	if l.HTML != "" {
		return string(l.HTML)
	}
	var b strings.Builder
	escapeHTML(&b, l.Text)
	return b.String()
}

// wordDiff compares two diff lines (their markers, the first byte, not
// included) and returns the spans of each that differ; ok is false when
// there is nothing worth marking: equal lines, lines too long, or lines
// with too little in common.
func wordDiff(a, b string) (da, db []span, ok bool) {
	if len(a) < 1 || len(b) < 1 || len(a) > maxWordLine || len(b) > maxWordLine || a[1:] == b[1:] {
		return nil, nil, false
	}
	ta, tb := words(a, 1), words(b, 1)
	// The common words at both ends, then the longest common
	// subsequence of the middles.
	pre := 0
	for pre < len(ta) && pre < len(tb) && a[ta[pre].start:ta[pre].end] == b[tb[pre].start:tb[pre].end] {
		pre++
	}
	suf := 0
	for suf < len(ta)-pre && suf < len(tb)-pre &&
		a[ta[len(ta)-1-suf].start:ta[len(ta)-1-suf].end] == b[tb[len(tb)-1-suf].start:tb[len(tb)-1-suf].end] {
		suf++
	}
	ma, mb := ta[pre:len(ta)-suf], tb[pre:len(tb)-suf]
	inA, inB := commonWords(a, b, ma, mb)
	same := 0
	for i, w := range ta {
		if i < pre || i >= len(ta)-suf || inA[i-pre] {
			same += w.end - w.start
		} else {
			da = appendSpan(da, w)
		}
	}
	for i, w := range tb {
		if i < pre || i >= len(tb)-suf || inB[i-pre] {
			same += w.end - w.start
		} else {
			db = appendSpan(db, w)
		}
	}
	if total := len(a) + len(b) - 2; same*100 < total*minWordSame {
		return nil, nil, false
	}
	return da, db, len(da) > 0 || len(db) > 0
}

// appendSpan adds w to spans, joined to the last one when they touch.
func appendSpan(spans []span, w span) []span {
	if n := len(spans); n > 0 && spans[n-1].end == w.start {
		spans[n-1].end = w.end
		return spans
	}
	return append(spans, w)
}

// commonWords marks the words of ma and mb (spans of a and b) that are in
// a longest common subsequence of the two; when the table would be too
// large, none are.
func commonWords(a, b string, ma, mb []span) (inA, inB []bool) {
	inA, inB = make([]bool, len(ma)), make([]bool, len(mb))
	n, m := len(ma), len(mb)
	if n == 0 || m == 0 || (n+1)*(m+1) > maxWordCells {
		return inA, inB
	}
	word := func(s string, w span) string { return s[w.start:w.end] }
	// lcs[i][j]: the length of the longest common subsequence of ma[i:]
	// and mb[j:], in one slice.
	lcs := make([]uint16, (n+1)*(m+1))
	at := func(i, j int) int { return i*(m+1) + j }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			switch {
			case word(a, ma[i]) == word(b, mb[j]):
				lcs[at(i, j)] = lcs[at(i+1, j+1)] + 1
			case lcs[at(i+1, j)] >= lcs[at(i, j+1)]:
				lcs[at(i, j)] = lcs[at(i+1, j)]
			default:
				lcs[at(i, j)] = lcs[at(i, j+1)]
			}
		}
	}
	for i, j := 0, 0; i < n && j < m; {
		switch {
		case word(a, ma[i]) == word(b, mb[j]):
			inA[i], inB[j] = true, true
			i, j = i+1, j+1
		case lcs[at(i+1, j)] >= lcs[at(i, j+1)]:
			i++
		default:
			j++
		}
	}
	return inA, inB
}

// words cuts s[from:] into words: runs of letters, digits and
// underscores, runs of white space, single other characters.
func words(s string, from int) []span {
	var out []span
	kind := func(r rune) int {
		switch {
		case r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			return 1
		case unicode.IsSpace(r):
			return 2
		}
		return 0
	}
	for i := from; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		k, j := kind(r), i+n
		if k != 0 {
			for j < len(s) {
				r2, n2 := utf8.DecodeRuneInString(s[j:])
				if kind(r2) != k {
					break
				}
				j += n2
			}
		}
		out = append(out, span{i, j})
		i = j
	}
	return out
}

// markHTML wraps the text at spans (byte ranges of the text h shows, in
// order) in <tag>…</tag>. h is markup as the highlighter or escapeHTML
// make it: text, character references and tags; a mark never crosses a
// tag, so a span over several tokens becomes several marks.
func markHTML(h string, spans []span, tag string) template.HTML {
	open, close := "<"+tag+">", "</"+tag+">"
	var b strings.Builder
	b.Grow(len(h) + len(spans)*11)
	pos, k, in := 0, 0, false // text offset, next span, inside a mark
	for i := 0; i < len(h); {
		if h[i] == '<' {
			if in {
				b.WriteString(close)
				in = false
			}
			j := strings.IndexByte(h[i:], '>')
			if j < 0 {
				j = len(h) - i - 1
			}
			b.WriteString(h[i : i+j+1])
			i += j + 1
			continue
		}
		// One character of text: a reference stands for one byte (the
		// escapers only write references for ASCII), any other byte is
		// itself.
		n, width := 1, 1
		if h[i] == '&' {
			if j := strings.IndexByte(h[i:], ';'); j > 0 {
				n = j + 1
			}
		} else if h[i] >= utf8.RuneSelf {
			_, n = utf8.DecodeRuneInString(h[i:])
			width = n
		}
		for k < len(spans) && pos >= spans[k].end {
			k++
		}
		want := k < len(spans) && pos >= spans[k].start
		if want != in {
			if want {
				b.WriteString(open)
			} else {
				b.WriteString(close)
			}
			in = want
		}
		b.WriteString(h[i : i+n])
		i += n
		pos += width
	}
	if in {
		b.WriteString(close)
	}
	return template.HTML(b.String())
}
