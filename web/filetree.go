package web

import (
	"slices"
	"strings"
)

// treeNode is a directory or a file of the file trees of the series page:
// each patch's files, and the whole series' at the top, each file with
// its added and deleted lines and links to its diffs.
type treeNode struct {
	// Name is what the node shows: a file's base name, or a directory's
	// path from its parent with a slash ("drivers/net/": directories
	// holding only one directory are shown as one).
	Name     string
	Dir      bool
	Children []*treeNode
	// A file's counts over its diffs, its status in the first one
	// ("added", "renamed" ...), its full path, and its diffs (Links).
	Added, Deleted int
	Binary         bool
	Status, Path   string
	Links          []treeLink
	// Series: the tree is the whole series', whose files name the
	// patches they are in.
	Series bool
}

// treeLink is one diff of a file: its anchor and patch.
type treeLink struct {
	Anchor string
	Patch  int
}

// patchFiles is the files of one patch for fileTree.
type patchFiles struct {
	Patch int
	Files []diffFile
}

// fileTree builds the tree of the files of patches: a file changed by
// several patches is one leaf with their counts summed and a link to
// each diff. Directories come first, then files, each by name. series
// marks the whole series' tree.
func fileTree(patches []patchFiles, series bool) []*treeNode {
	root := &treeNode{Dir: true}
	for _, p := range patches {
		for i := range p.Files {
			f := &p.Files[i]
			path := f.NewPath
			if path == "" {
				path = f.OldPath
			}
			if path == "" {
				path = f.Name
			}
			path = visible(path)
			leaf := root.leaf(path)
			if len(leaf.Links) == 0 {
				leaf.Status, leaf.Path = f.Status, path
			}
			leaf.Added += f.Added
			leaf.Deleted += f.Deleted
			leaf.Binary = leaf.Binary || f.Binary
			leaf.Links = append(leaf.Links, treeLink{Anchor: f.Anchor, Patch: p.Patch})
			leaf.Series = series
		}
	}
	root.tidy()
	return root.Children
}

// leaf returns the file node at path, made with its directories if new.
func (n *treeNode) leaf(path string) *treeNode {
	dirs := strings.Split(path, "/")
	base := dirs[len(dirs)-1]
	for _, d := range dirs[:len(dirs)-1] {
		n = n.child(d+"/", true)
	}
	return n.child(base, false)
}

func (n *treeNode) child(name string, dir bool) *treeNode {
	for _, c := range n.Children {
		if c.Name == name && c.Dir == dir {
			return c
		}
	}
	c := &treeNode{Name: name, Dir: dir}
	n.Children = append(n.Children, c)
	return c
}

// tidy joins directories that hold a single directory and sorts every
// level, directories first.
func (n *treeNode) tidy() {
	for _, c := range n.Children {
		for c.Dir && len(c.Children) == 1 && c.Children[0].Dir {
			only := c.Children[0]
			c.Name += only.Name
			c.Children = only.Children
		}
		c.tidy()
	}
	slices.SortStableFunc(n.Children, func(a, b *treeNode) int {
		if a.Dir != b.Dir {
			if a.Dir {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
}

// treeTotals counts the files of a tree and their added and deleted
// lines.
func treeTotals(nodes []*treeNode) (files, added, deleted int) {
	for _, n := range nodes {
		if n.Dir {
			f, a, d := treeTotals(n.Children)
			files, added, deleted = files+f, added+a, deleted+d
			continue
		}
		files, added, deleted = files+1, added+n.Added, deleted+n.Deleted
	}
	return files, added, deleted
}
