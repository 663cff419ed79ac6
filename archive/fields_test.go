package archive

import (
	"patchwell/core"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestFields(t *testing.T) {
	raw := "From mboxrd@z Thu Jan  1 00:00:00 1970\n" +
		"From: =?UTF-8?Q?J=C3=B6rg?= <j@example.org>\r\n" +
		"Subject: a long\r\n\tfolded subject\r\n" +
		"X-Ctl: bell\x07here\r\n" +
		"Received: from a\r\n" +
		"Received: from b\r\n" +
		"\r\n" +
		"Body: not a header\r\n"
	want := []core.Header{
		{Name: "From", Value: "Jörg <j@example.org>"},
		{Name: "Subject", Value: "a long folded subject"},
		{Name: "X-Ctl", Value: "bell here"},
		{Name: "Received", Value: "from a"},
		{Name: "Received", Value: "from b"},
	}
	if diff := cmp.Diff(want, Fields([]byte(raw))); diff != "" {
		t.Errorf("Fields mismatch (-want +got):\n%s", diff)
	}
	if got := Fields([]byte("no header at all")); len(got) != 0 {
		t.Errorf("Fields(garbage) = %v", got)
	}
}
