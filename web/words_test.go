package web

import (
	"html"
	"strings"
	"testing"
)

// bracket shows spans of s as [...].
func bracket(s string, spans []span) string {
	var b strings.Builder
	last := 0
	for _, sp := range spans {
		b.WriteString(s[last:sp.start] + "[" + s[sp.start:sp.end] + "]")
		last = sp.end
	}
	return b.String() + s[last:]
}

func TestWordDiff(t *testing.T) {
	for _, tc := range []struct {
		name, a, b   string
		wantA, wantB string // "" when nothing is marked
	}{
		{"operator", "-\treturn a + b;", "+\treturn a - b;", "-\treturn a [+] b;", "+\treturn a [-] b;"},
		{"arguments moved", "-func lineID(prefix string, file int, side byte, no int) string {", "+func lineID(prefix string, file, no int, side byte) string {",
			// A longest common subsequence keeps "int, side byte".
			"-func lineID(prefix string, file int, side byte[, no int]) string {", "+func lineID(prefix string, file[,] [no ]int, side byte) string {"},
		{"word added", "-const x = 1", "+const x = 1 << 24", "", "+const x = 1[ << 24]"},
		{"indentation", "-  if x {", "+\tif x {", "-[  ]if x {", "+[\t]if x {"},
		{"letters of other scripts", "-naïve café", "+naïve cafe", "-naïve [café]", "+naïve [cafe]"},
		{"same code", "-x := 1", "+x := 1", "", ""},
		{"nothing in common", "-return nil", "+panic(err) // unreachable", "", ""},
		{"empty lines", "-", "+", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			da, db, ok := wordDiff(tc.a, tc.b)
			if want := tc.wantA != "" || tc.wantB != ""; ok != want {
				t.Fatalf("wordDiff() ok = %v, want %v (%q, %q)", ok, want, bracket(tc.a, da), bracket(tc.b, db))
			}
			if !ok {
				return
			}
			if tc.wantA == "" {
				tc.wantA = tc.a
			}
			if got := bracket(tc.a, da); got != tc.wantA {
				t.Errorf("deleted line = %q, want %q", got, tc.wantA)
			}
			if got := bracket(tc.b, db); got != tc.wantB {
				t.Errorf("added line = %q, want %q", got, tc.wantB)
			}
		})
	}
	long := "-" + strings.Repeat("x ", maxWordLine)
	if _, _, ok := wordDiff(long, "+"+long[1:]+"y"); ok {
		t.Error("a line over maxWordLine was compared")
	}
}

// TestMarkHTML: marks go around text only, inside the highlighter's
// spans, a character reference counting as the one character it stands
// for.
func TestMarkHTML(t *testing.T) {
	for _, tc := range []struct {
		name, h string
		spans   []span
		want    string
	}{
		{"plain", "-a &#43; b", []span{{3, 4}}, "-a <del>&#43;</del> b"},
		{"across a token", `-<span class="k">return</span> a &lt; b;`, []span{{1, 9}},
			`-<span class="k"><del>return</del></span><del> a</del> &lt; b;`},
		{"reference in a span", `-<span class="o">&lt;</span>x`, []span{{1, 2}}, `-<span class="o"><del>&lt;</del></span>x`},
		{"multibyte", "-naïve café", []span{{8, 13}}, "-naïve <del>café</del>"},
		{"to the end", "-ab", []span{{2, 3}}, "-a<del>b</del>"},
		{"two spans", "-a b c", []span{{1, 2}, {5, 6}}, "-<del>a</del> b <del>c</del>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := string(markHTML(tc.h, tc.spans, "del"))
			if got != tc.want {
				t.Errorf("markHTML() = %q, want %q", got, tc.want)
			}
			if text := html.UnescapeString(tagRE.ReplaceAllString(got, "")); text != html.UnescapeString(tagRE.ReplaceAllString(tc.h, "")) {
				t.Errorf("marking changed the text: %q", text)
			}
		})
	}
}

// TestMarkWordsPairs: in a change block the i-th deleted line is paired
// with the i-th added line; lines without a partner, and pairs across a
// context line, are not marked.
func TestMarkWordsPairs(t *testing.T) {
	diff := "--- a/f.txt\n+++ b/f.txt\n@@ -1,6 +1,5 @@\n" +
		"-one apple\n-two pears\n+one apples\n" + // two deleted, one added
		" same\n" +
		"-three plums here\n+3 plums here\n+extra line\n" +
		"-last\n\\ No newline at end of file\n+lost\n"
	files := splitDiff("p1", diff)
	markWords(&files[0])
	var got []string
	for _, l := range files[0].Lines {
		if l.Class == "add" || l.Class == "del" {
			got = append(got, string(lineHTML(&l)))
		}
	}
	want := []string{
		"-one <del>apple</del>", "-two pears", "&#43;one <ins>apples</ins>",
		"-<del>three</del> plums here", "&#43;<ins>3</ins> plums here", "&#43;extra line",
		"-last", "&#43;lost",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("marked lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
