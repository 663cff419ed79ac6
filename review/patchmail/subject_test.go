package patchmail

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestParseSubject(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Subject
	}{
		{"plain patch", "[PATCH] foo: fix bar", Subject{Title: "foo: fix bar", Patch: true, Version: 1}},
		{"version and counter", "[PATCH v3 2/7] net: do it", Subject{Title: "net: do it", Patch: true, Version: 3, Index: 2, Total: 7}},
		{"rfc patch", "[RFC PATCH] idea", Subject{Title: "idea", Patch: true, RFC: true, Version: 1}},
		{"tree prefix", "[PATCH net-next v2 1/3] tcp: x", Subject{Title: "tcp: x", Patch: true, Version: 2, Index: 1, Total: 3, Prefixes: []string{"net-next"}}},
		{"patch rfc", "[PATCH RFC v2 1/3] x", Subject{Title: "x", Patch: true, RFC: true, Version: 2, Index: 1, Total: 3}},
		{"rfc patch numbered", "[RFC PATCH v2 1/3] x", Subject{Title: "x", Patch: true, RFC: true, Version: 2, Index: 1, Total: 3}},
		{"resend first", "[RESEND PATCH] x", Subject{Title: "x", Patch: true, Resend: true, Version: 1}},
		{"resend last", "[PATCH RESEND] x", Subject{Title: "x", Patch: true, Resend: true, Version: 1}},
		{"zero padded", "[PATCH 01/10] x", Subject{Title: "x", Patch: true, Version: 1, Index: 1, Total: 10}},
		{"fused version", "[PATCHv2] x", Subject{Title: "x", Patch: true, Version: 2}},
		{"upper V", "[PATCH V2] x", Subject{Title: "x", Patch: true, Version: 2}},
		{"cover", "[PATCH v2 0/5] series", Subject{Title: "series", Patch: true, Version: 2, Index: 0, Total: 5}},
		{"two brackets", "[RFC][PATCH 1/2] x", Subject{Title: "x", Patch: true, RFC: true, Version: 1, Index: 1, Total: 2}},
		{"version after counter", "[PATCH 1/2 v2] x", Subject{Title: "x", Patch: true, Version: 2, Index: 1, Total: 2}},
		{"reply", "Re: [PATCH v2 1/3] foo", Subject{Title: "foo", Reply: true, Patch: true, Version: 2, Index: 1, Total: 3}},
		{"reply upper", "RE: [PATCH] foo", Subject{Title: "foo", Reply: true, Patch: true, Version: 1}},
		{"reply repeated", "Re: Re: RE: foo", Subject{Title: "foo", Reply: true, Version: 1}},
		{"german reply", "Aw: [PATCH] foo", Subject{Title: "foo", Reply: true, Patch: true, Version: 1}},
		{"reply counter", "Re[2]: foo", Subject{Title: "foo", Reply: true, Version: 1}},
		{"forward", "Fwd: [PATCH] foo", Subject{Title: "foo", Reply: true, Patch: true, Version: 1}},
		{"reply after list tag", "[linux-foo] Re: [PATCH 2/2] bar", Subject{Title: "bar", Reply: true, Patch: true, Version: 1, Index: 2, Total: 2, Prefixes: []string{"linux-foo"}}},
		{"second bracket", "[PATCH] [net] foo", Subject{Title: "foo", Patch: true, Version: 1, Prefixes: []string{"net"}}},
		{"rfc alone", "[RFC 1/3] x", Subject{Title: "x", Patch: true, RFC: true, Version: 1, Index: 1, Total: 3}},
		{"no tags", "Hello world", Subject{Title: "Hello world", Version: 1}},
		{"empty", "", Subject{Version: 1}},
		{"whitespace collapsed", "  [PATCH]   a \t  b  ", Subject{Title: "a b", Patch: true, Version: 1}},
		{"bracket in title kept", "[PATCH] fix [x] handling", Subject{Title: "fix [x] handling", Patch: true, Version: 1}},
		{"unclosed bracket", "[PATCH fix", Subject{Title: "[PATCH fix", Version: 1}},
		{"not a reply word", "Reform: things", Subject{Title: "Reform: things", Version: 1}},
		{"bpf-next", "[PATCH bpf-next v4 03/12] bpf: y", Subject{Title: "bpf: y", Patch: true, Version: 4, Index: 3, Total: 12, Prefixes: []string{"bpf-next"}}},
		{"comma separated", "[PATCH v2,2/3] z", Subject{Title: "z", Patch: true, Version: 2, Index: 2, Total: 3}},
		{"lower patch", "[patch 2/3] z", Subject{Title: "z", Patch: true, Version: 1, Index: 2, Total: 3}},
		{"extra patch after series", "[PATCH 3/2] z", Subject{Title: "z", Patch: true, Version: 1, Index: 3, Total: 2}},
		{"mercurial", "[PATCH 1 of 2] z", Subject{Title: "z", Patch: true, Version: 1, Index: 1, Total: 2}},
		// hg email --intro, --flag V2, --flag RFC; the counter padded as
		// patchbomb pads it; a branch name from patchbomb.flagtemplate.
		{"mercurial intro", "[PATCH 0 of 3] z", Subject{Title: "z", Patch: true, Version: 1, Total: 3}},
		{"mercurial flag V2", "[PATCH 0 of 3 V2] z", Subject{Title: "z", Patch: true, Version: 2, Total: 3}},
		{"mercurial flag rfc", "[PATCH 2 of 3 RFC] z", Subject{Title: "z", Patch: true, RFC: true, Version: 1, Index: 2, Total: 3}},
		{"mercurial rfc first", "[PATCH RFC 2 of 3] z", Subject{Title: "z", Patch: true, RFC: true, Version: 1, Index: 2, Total: 3}},
		{"mercurial padded", "[PATCH 03 of 12 v4] z", Subject{Title: "z", Patch: true, Version: 4, Index: 3, Total: 12}},
		{"mercurial branch flag", "[PATCH 1 of 2 STABLE V2] z", Subject{Title: "z", Patch: true, Version: 2, Index: 1, Total: 2, Prefixes: []string{"STABLE"}}},
		{"mercurial single flag", "[PATCH V2] z", Subject{Title: "z", Patch: true, Version: 2}},
		{"of without a total", "[PATCH 1 of] z", Subject{Title: "z", Patch: true, Version: 1, Prefixes: []string{"1", "of"}}},
		{"huge version capped", "[PATCH v9999999] z", Subject{Title: "z", Patch: true, Version: maxNumber}},
		{"not a counter", "[PATCH 1/0] z", Subject{Title: "z", Patch: true, Version: 1, Prefixes: []string{"1/0"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ParseSubject(tc.in)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseSubject(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}
