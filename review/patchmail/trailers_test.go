package patchmail

import (
	"patchwell/core"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestReplyTrailers(t *testing.T) {
	tests := []struct {
		name string
		body string
		want []core.Trailer
	}{
		{"simple", "Looks good.\n\nReviewed-by: R E Viewer <r@example.com>\n",
			[]core.Trailer{{Key: "Reviewed-by", Value: "R E Viewer <r@example.com>"}}},
		{"quoted ignored", "> Signed-off-by: A <a@example.com>\nAcked-by: B <b@example.com>\n",
			[]core.Trailer{{Key: "Acked-by", Value: "B <b@example.com>"}}},
		{"after signature ignored", "Tested-by: T <t@example.com>\n-- \nReviewed-by: S <s@example.com>\n",
			[]core.Trailer{{Key: "Tested-by", Value: "T <t@example.com>"}}},
		{"no email in person trailer", "Reviewed-by: someone\n", nil},
		{"bare address", "Reviewed-by: r@example.com\n", []core.Trailer{{Key: "Reviewed-by", Value: "r@example.com"}}},
		{"case normalised", "reviewed-by: R <r@example.com>\n", []core.Trailer{{Key: "Reviewed-by", Value: "R <r@example.com>"}}},
		{"custom by", "Regression-found-by: X <x@example.com>\n", []core.Trailer{{Key: "Regression-found-by", Value: "X <x@example.com>"}}},
		{"fixes and link keep order", "Link: https://lore.kernel.org/r/1@x\nFixes: abcdef012345 (\"foo\")\n",
			[]core.Trailer{{Key: "Link", Value: "https://lore.kernel.org/r/1@x"}, {Key: "Fixes", Value: "abcdef012345 (\"foo\")"}}},
		{"unknown key", "Note: r@example.com\nSubject: x\n", nil},
		{"html junk", "Reviewed-by: H <h@example.com<mailto:h@example.com>>\n", []core.Trailer{{Key: "Reviewed-by", Value: "H <h@example.com>"}}},
		{"prose is not a trailer", "I think Reviewed-by: is needed here.\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ReplyTrailers(tc.body)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ReplyTrailers() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestMessageTrailers(t *testing.T) {
	tests := []struct {
		name string
		msg  string
		want []core.Trailer
	}{
		{"last paragraph", "Fix it.\n\nReviewed-by: A <a@x.org>\nSigned-off-by: B <b@x.org>\n",
			[]core.Trailer{{Key: "Reviewed-by", Value: "A <a@x.org>"}, {Key: "Signed-off-by", Value: "B <b@x.org>"}}},
		{"not last paragraph", "Reviewed-by: A <a@x.org>\n\nMore text.\n", nil},
		{"mixed paragraph without sob", "Some text\nmore text\nmore\nAcked-by: A <a@x.org>\n", nil},
		{"note line kept", "x\n\nSigned-off-by: A <a@x.org>\n[b: fixed typo]\nSigned-off-by: B <b@x.org>\n",
			[]core.Trailer{{Key: "Signed-off-by", Value: "A <a@x.org>"}, {Key: "Signed-off-by", Value: "B <b@x.org>"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, messageTrailers(tc.msg), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("messageTrailers() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestB4Followups checks that the trailers b4 adds from follow-ups (the
// difference between a *-ref-defaults.txt and the original patches) are
// exactly what ReplyTrailers finds in the replies, once trailers not
// naming their sender are dropped (FromSender) as b4 drops them.
func TestB4Followups(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "b4")
	refs, err := filepath.Glob(filepath.Join(dir, "trailers-followup-*-ref-defaults.txt"))
	if err != nil || len(refs) < 5 {
		t.Fatalf("Glob() = %d files, %v", len(refs), err)
	}
	key := func(tr core.Trailer) string { return tr.Key + ": " + tr.Value }
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), "-ref-defaults.txt")
		if name == "trailers-followup-partial-reroll" {
			// b4 carries trailers across versions by matching patches;
			// that is review's job (it has the series), not this package's.
			continue
		}
		t.Run(name, func(t *testing.T) {
			original := map[string]bool{}
			got := map[string]bool{}
			for _, msg := range splitMbox(mustRead(t, filepath.Join(dir, name+".mbox"))) {
				m := mustParse(t, msg)
				if m.Kind == KindPatch || m.Kind == KindCover {
					for _, tr := range m.Trailers {
						original[key(tr)] = true
					}
					continue
				}
				for _, tr := range ReplyTrailers(m.Body) {
					if FromSender(tr, m.Author) {
						got[key(tr)] = true
					}
				}
			}
			added := map[string]bool{}
			for _, msg := range splitMbox(mustRead(t, ref)) {
				for _, tr := range mustParse(t, msg).Trailers {
					// b4 adds the user's own Signed-off-by under defaults.
					if k := key(tr); !original[k] && !strings.Contains(k, "test-override@example.com") {
						added[k] = true
					}
				}
			}
			for k := range original {
				delete(got, k) // already there; b4 does not add them again
			}
			if diff := cmp.Diff(added, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("follow-up trailers mismatch (-b4 +ours):\n%s", diff)
			}
		})
	}
}

func TestWithoutTrailers(t *testing.T) {
	for in, want := range map[string]string{
		"Why.\n\nMore why.\n\nSigned-off-by: A <a@example.org>\nReviewed-by: B <b@example.org>\n": "Why.\n\nMore why.\n",
		"Why.\n\nFixes: 0123 (\"x\")\nnot a trailer\n":                                            "Why.\n\nFixes: 0123 (\"x\")\nnot a trailer\n",
		"Signed-off-by: A <a@example.org>\n":                                                      "",
		"Just text.\n":                                                                            "Just text.\n",
	} {
		if got := WithoutTrailers(in); got != want {
			t.Errorf("WithoutTrailers(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestChangesRequested(t *testing.T) {
	for body, want := range map[string]bool{
		"Please rework.\n\nChanges-requested: yes\n":      true,
		"  changes-requested: the locking\n":              true,
		"Changes-requested:\n":                            true,
		"> Changes-requested: yes\nI agree with that.\n":  false,
		"Looks good.\n-- \nChanges-requested: yes\n":      false,
		"No changes requested: fine by me.\n":             false,
		"Changes-requested-by: Rita <rita@example.org>\n": false,
		"Reviewed-by: Rita <rita@example.org>\n":          false,
	} {
		if _, got := ChangesRequested(body); got != want {
			t.Errorf("ChangesRequested(%q) = %v, want %v", body, got, want)
		}
	}
}
