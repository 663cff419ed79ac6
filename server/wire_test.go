package server

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/web"
)

// TestPathFlags: what the series page is given for a patch touching
// .gitmodules and a CI definition, and for one with a path that leaves
// the worktree (gitrepo.CheckPatches decides; this checks the wiring).
func TestPathFlags(t *testing.T) {
	diff := func(path string) string {
		return "diff --git a/" + path + " b/" + path + "\nindex 1111111..2222222 100644\n--- a/" + path + "\n+++ b/" + path + "\n@@ -1 +1 @@\n-old\n+new\n"
	}
	for _, c := range []struct {
		name  string
		diffs []string
		want  []web.PathFlag
	}{
		{"flagged", []string{diff("a.txt"), diff(".gitmodules") + diff(".github/workflows/ci.yml")}, []web.PathFlag{
			{Patch: 2, Path: ".gitmodules", Reason: "changes submodules (.gitmodules)"},
			{Patch: 2, Path: ".gitmodules", Reason: "changes submodules (.gitmodules)"},
			{Patch: 2, Path: ".github/workflows/ci.yml", Reason: "changes a CI definition"},
			{Patch: 2, Path: ".github/workflows/ci.yml", Reason: "changes a CI definition"},
		}},
		{"refused", []string{diff(".gitattributes"), diff("../etc/passwd")}, []web.PathFlag{
			{Patch: 2, Path: "../etc/passwd", Refused: true},
		}},
		{"clean", []string{diff("a.txt")}, []web.PathFlag{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := pathFlags(c.diffs)
			if err != nil {
				t.Fatalf("pathFlags() = %v", err)
			}
			for i := range got {
				if got[i].Refused {
					if got[i].Reason == "" {
						t.Errorf("refused without a reason: %+v", got[i])
					}
					got[i].Reason = ""
				}
			}
			if diff := cmp.Diff(c.want, got); diff != "" {
				t.Errorf("pathFlags() (-want +got):\n%s", diff)
			}
		})
	}
}
