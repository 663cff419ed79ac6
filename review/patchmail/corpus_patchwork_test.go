package patchmail

import (
	"io/fs"
	"patchwell/core"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestPatchworkMail checks the patchwork parser corpus: pull requests of
// every shape give their URL and ref; diffs give the expected files.
func TestPatchworkMail(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "patchwork", "mail")
	const powerpc = "git://git.kernel.org/pub/scm/linux/kernel/git/benh/powerpc.git"
	const rpi = "package/rpi-userland/rpi-userland-"
	renames := []core.File{
		{Path: rpi + "000-add-pkgconfig-files.patch", OldPath: rpi + "add-pkgconfig-files.patch"},
		{Path: rpi + "001-makefiles-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch", OldPath: rpi + "makefiles-0001-cmake-vmcs.cmake-allow-to-override-VMCS_IN.patch"},
	}
	tests := []struct {
		file  string
		kind  Kind
		pull  *Pull
		files []core.File
	}{
		{file: "0001-git-pull-request.mbox", kind: KindPull, pull: &Pull{URL: powerpc, Ref: "next"}},
		{file: "0002-git-pull-request-wrapped.mbox", kind: KindPull, pull: &Pull{URL: powerpc, Ref: "next"}},
		{file: "0003-git-pull-request-with-diff.mbox", kind: KindPull,
			pull: &Pull{URL: "git://git.kernel.org/pub/scm/linux/kernel/git/tip/linux-2.6-tip.git", Ref: "x86-fixes-for-linus"},
			files: []core.File{
				{Path: "arch/x86/include/asm/smp.h", Added: 1, Deleted: 4},
				{Path: "arch/x86/kernel/acpi/sleep.c", Added: 1, Deleted: 1},
				{Path: "arch/x86/kernel/cpu/mtrr/main.c", Added: 9, Deleted: 1},
			}},
		{file: "0004-git-pull-request-git+ssh.mbox", kind: KindPull, pull: &Pull{URL: "git+ssh://git.kernel.org/pub/scm/linux/kernel/git/benh/powerpc.git", Ref: "next"}},
		{file: "0005-git-pull-request-ssh.mbox", kind: KindPull, pull: &Pull{URL: "ssh://git.kernel.org/pub/scm/linux/kernel/git/benh/powerpc.git", Ref: "next"}},
		{file: "0006-git-pull-request-http.mbox", kind: KindPull, pull: &Pull{URL: "http://git.kernel.org/pub/scm/linux/kernel/git/benh/powerpc.git", Ref: "next"}},
		{file: "0007-cvs-format-diff.mbox", kind: KindPatch, files: []core.File{
			{Path: "bfd/elf-bfd.h", Added: 2}, {Path: "bfd/elflink.c", Added: 3}, {Path: "bfd/elfxx-mips.c", Added: 1},
		}},
		{file: "0008-git-rename.mbox", kind: KindPatch, files: renames},
		// A hand-made hunk with a wrong line count: go-gitdiff rejects
		// it, the lenient fallback still lists both renames.
		{file: "0009-git-rename-with-diff.mbox", kind: KindPatch, files: []core.File{
			{Path: renames[0].Path, OldPath: renames[0].OldPath, Added: 1, Deleted: 1}, renames[1],
		}},
		{file: "0016-no-subject.mbox", kind: KindPatch, files: renames},
		{file: "0017-git-pull-request-git-2-14-3.mbox", kind: KindPull,
			pull: &Pull{URL: "git://git.kernel.org/pub/scm/linux/kernel/git/davem/net", Commit: "ccc12b11c5332c84442ef120dcd631523be75089"}},
		// An empty context line (trailing space stripped by the mailer).
		{file: "0019-multipart-patch.mbox", kind: KindPatch, files: []core.File{{Path: "patchwork/parser.py", Added: 3, Deleted: 1}}},
		{file: "0020-multipart-comment.mbox", kind: KindNone},
		{file: "0021-git-empty-new-file.mbox", kind: KindPatch, files: []core.File{{Path: "banana"}}},
		{file: "0022-git-mode-change.mbox", kind: KindPatch, files: []core.File{{Path: "scripts/kconfig/nconf-cfg.sh"}}},
		{file: "0023-git-pull-request-newline-in-url.mbox", kind: KindPull, pull: &Pull{
			URL: "https://git.kernel.org/pub/scm/linux/kernel/git/matthias.bgg/linux.git/", Ref: "tags/v5.4-next-soc",
			Commit: "662c9d55c5ccb37f3920ecab9720f2ebf2a6ca18"}},
		{file: "0024-git-pull-request-trailing-space.mbox", kind: KindPull, pull: &Pull{
			URL: "git://git.kernel.org/pub/scm/linux/kernel/git/nsekhar/linux-davinci.git", Ref: "tags/davinci-for-v5.6/soc",
			Commit: "5e06d19694a463a012c2589e29078196eb209448"}},
		// --no-prefix binary patches.
		{file: "0025-git-add-binary-file.mbox", kind: KindPatch, files: []core.File{{Path: "pixel.bmp", Binary: true}}},
		{file: "0026-git-add-mixed-binary-text-files.mbox", kind: KindPatch, files: []core.File{{Path: "pixel.bmp", Binary: true}, {Path: "quit.sh", Added: 3}}},
		{file: "0027-git-modify-binary-file.mbox", kind: KindPatch, files: []core.File{{Path: "pixel.bmp", Binary: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m := mustParse(t, mustRead(t, filepath.Join(dir, tc.file)))
			if m.Kind != tc.kind {
				t.Errorf("Kind = %v, want %v", m.Kind, tc.kind)
			}
			if diff := cmp.Diff(tc.pull, m.Pull); diff != "" {
				t.Errorf("Pull mismatch (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.files, m.Files, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Files mismatch (-want +got):\n%s", diff)
			}
			if len(m.Files) > 0 && m.Diff == "" {
				t.Errorf("Files without Diff")
			}
		})
	}
}

// TestPatchworkHeaders covers the header oddities of the patchwork corpus.
func TestPatchworkHeaders(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "patchwork", "mail")
	tests := []struct {
		file    string
		author  core.Person
		subject string
	}{
		{"0010-invalid-charset.mbox", core.Person{Name: "Joseph S. Myers", Email: "joseph@codesourcery.com"}, "Fix pow overflow in non-default rounding modes (bug 16315)"},
		{"0013-with-utf8-body.mbox", core.Person{Name: "Rafał Miłecki", Email: "zajec5@gmail.com"}, "MAINTAINERS: Update entry for BCM5301X ARM"},
		{"0014-with-unencoded-utf8-headers.mbox", core.Person{Name: "Rafał Miłecki", Email: "zajec5@gmail.com"}, "MAINTAINERS: Update entry for BCM5301X ARM to include Rafał Miłecki"},
		{"0016-no-subject.mbox", core.Person{Name: "Yann E. MORIN", Email: "yann.morin.1998@free.fr"}, ""},
		{"0007-cvs-format-diff.mbox", core.Person{Name: "David Daney", Email: "david.daney@cavium.com"}, "Fix ld pr11138 FAILures on mips*."},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			m := mustParse(t, mustRead(t, filepath.Join(dir, tc.file)))
			if m.Author != tc.author {
				t.Errorf("Author = %+v, want %+v", m.Author, tc.author)
			}
			if m.CommitSubject != tc.subject {
				t.Errorf("CommitSubject = %q, want %q", m.CommitSubject, tc.subject)
			}
		})
	}
}

// TestCorpusNoPanic parses every mail-like file of the corpus; none may
// make Parse fail (except an empty file) or panic, and a found diff must
// be a suffix of the text it came from.
func TestCorpusNoPanic(t *testing.T) {
	root := corpusDir(t)
	n := 0
	for _, sub := range []string{"patchwork", "git/t5100", "git/t4013-format-patch", "b4", "public-inbox"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() || strings.HasSuffix(path, ".bundle") {
				return nil
			}
			raw := mustRead(t, path)
			msgs := [][]byte{raw}
			if strings.HasSuffix(path, ".mbox") || strings.HasSuffix(path, ".mboxrd") {
				msgs = splitMbox(raw)
			}
			for _, msg := range msgs {
				n++
				m, err := Parse(msg)
				if err != nil {
					if len(strings.TrimSpace(string(msg))) != 0 {
						t.Errorf("%s: Parse() = %v", path, err)
					}
					continue
				}
				if m.PatchID != "" && len(m.PatchID) != 40 {
					t.Errorf("%s: PatchID = %q", path, m.PatchID)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("WalkDir(%s) = %v", sub, err)
		}
	}
	if n < 200 {
		t.Errorf("parsed %d messages, want at least 200", n)
	}
}
