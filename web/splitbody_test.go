package web

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestSplitBody(t *testing.T) {
	got := splitBody("Hi,\n> quoted 1\n> quoted 2\nanswer \u202e here\n\n> more\n")
	want := []block{
		{Text: "Hi,\n", Lines: 1},
		{Quote: true, Text: "> quoted 1\n> quoted 2\n", Lines: 2},
		{Text: "answer <U+202E> here\n\n", Lines: 2},
		{Quote: true, Text: "> more\n", Lines: 1},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("splitBody mismatch (-want +got):\n%s", diff)
	}
	if got := splitBody(""); len(got) != 1 || got[0].Text != "\n" {
		t.Errorf("splitBody(\"\") = %#v", got)
	}
}

// BenchmarkSplitBody: a 10,000-line patch body in one block (linear, not
// quadratic, in the block's length).
func BenchmarkSplitBody(b *testing.B) {
	body := strings.Repeat("+\tsome added line of code;\n", 10000)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		splitBody(body)
	}
}
