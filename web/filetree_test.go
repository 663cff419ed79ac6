package web

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// treeLines renders a tree as indented lines "name +a -d [patches]".
func treeLines(nodes []*treeNode, indent string) []string {
	var out []string
	for _, n := range nodes {
		if n.Dir {
			out = append(out, indent+n.Name)
			out = append(out, treeLines(n.Children, indent+"  ")...)
			continue
		}
		var in []string
		for _, l := range n.Links {
			in = append(in, fmt.Sprintf("%d:%s", l.Patch, l.Anchor))
		}
		out = append(out, fmt.Sprintf("%s%s +%d -%d %s %s", indent, n.Name, n.Added, n.Deleted, n.Status, strings.Join(in, ",")))
	}
	return out
}

func TestFileTree(t *testing.T) {
	p1 := splitDiff("p1", "diff --git a/src/net/tcp.c b/src/net/tcp.c\n--- a/src/net/tcp.c\n+++ b/src/net/tcp.c\n@@ -1,2 +1,2 @@\n-a\n+b\n c\n"+
		"diff --git a/README b/README\nnew file mode 100644\n--- /dev/null\n+++ b/README\n@@ -0,0 +1,2 @@\n+x\n+y\n")
	p2 := splitDiff("p2", "diff --git a/src/net/tcp.c b/src/net/tcp.c\n--- a/src/net/tcp.c\n+++ b/src/net/tcp.c\n@@ -1,2 +1,3 @@\n a\n+b\n+c\n-d\n"+
		"diff --git a/src/net/udp.c b/src/net/udp.c\ndeleted file mode 100644\n--- a/src/net/udp.c\n+++ /dev/null\n@@ -1 +0,0 @@\n-z\n"+
		"diff --git a/src/fs/a.c b/src/fs/a.c\n--- a/src/fs/a.c\n+++ b/src/fs/a.c\n@@ -1 +1 @@\n-q\n+r\n")
	for _, tc := range []struct {
		name    string
		patches []patchFiles
		want    []string
		files   int
	}{
		{"one patch", []patchFiles{{1, p1}}, []string{
			"src/net/",
			"  tcp.c +1 -1  1:p1-f0",
			"README +2 -0 added 1:p1-f1",
		}, 2},
		{"series", []patchFiles{{1, p1}, {2, p2}}, []string{
			"src/",
			"  fs/",
			"    a.c +1 -1  2:p2-f2",
			"  net/",
			"    tcp.c +3 -2  1:p1-f0,2:p2-f0",
			"    udp.c +0 -1 deleted 2:p2-f1",
			"README +2 -0 added 1:p1-f1",
		}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := fileTree(tc.patches, true)
			if diff := cmp.Diff(tc.want, treeLines(tree, "")); diff != "" {
				t.Errorf("tree (-want +got):\n%s", diff)
			}
			if files, _, _ := treeTotals(tree); files != tc.files {
				t.Errorf("treeTotals() files = %d, want %d", files, tc.files)
			}
		})
	}
}
