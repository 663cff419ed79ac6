// Command mkimage builds patchwell's container image: an OCI image
// layout in a tar archive (podman load, skopeo copy oci-archive:), made
// without a registry, a daemon or the network.
//
// The image has no base: its root file system is a statically linked
// patchwell (cgo SQLite, netgo, osusergo) in one layer, and in another
// what patchwell runs: git with its shared libraries, bubblewrap, prlimit
// and setpriv for CI, and a small shell userland for checks (dash,
// grep, sed, a few coreutils), all copied from this Debian host with
// the libraries ldd names and the dynamic loader. It runs as uid 65532.
//
//	go run ./deploy/image/mkimage -o bin/patchwell-image.tar
//
// builds patchwell itself (go build, static) unless -binary names one.
package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: not root, and not a uid a host is likely to use
// (65532 is distroless' "nonroot").
const (
	uid      = 65532
	gid      = 65532
	userName = "patchwell"
)

// epoch is every file's and the image's time: the same inputs make the
// same archive.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// hostFiles are copied from the build host with what they need (symbolic
// links on their way, shared libraries, the loader).
var hostFiles = []string{
	// git: the binary (its builtins are links to it in git-core) and
	// the https transport for lists whose repository is a URL.
	"/usr/bin/git",
	"/usr/lib/git-core/git-remote-http",
	"/usr/share/git-core/templates",
	// CI's sandbox (package sandbox).
	"/usr/bin/bwrap", "/usr/bin/prlimit", "/usr/bin/setpriv",
	// A small userland for checks and git's own sh use.
	"/usr/bin/sh", "/usr/bin/dash", "/usr/bin/grep", "/usr/bin/sed",
	"/usr/bin/cat", "/usr/bin/cp", "/usr/bin/cut", "/usr/bin/echo", "/usr/bin/env",
	"/usr/bin/false", "/usr/bin/head", "/usr/bin/ls", "/usr/bin/mkdir", "/usr/bin/mv",
	"/usr/bin/rm", "/usr/bin/sort", "/usr/bin/tail", "/usr/bin/test", "/usr/bin/tr",
	"/usr/bin/true", "/usr/bin/uniq", "/usr/bin/wc",
	// TLS to smarthosts and https repositories.
	"/etc/ssl/certs/ca-certificates.crt",
}

// gitCore says which links of /usr/lib/git-core to take (besides git
// itself, a hard link of /usr/bin/git): those to git (builtins: am,
// apply, format-patch, upload-pack ...) and to the https transport; not
// the Perl and shell commands, the daemon or scalar.
func gitCore(target string) bool {
	return target == "git" || target == "git-remote-http"
}

func main() {
	out := flag.String("o", "bin/patchwell-image.tar", "the OCI archive to write")
	binary := flag.String("binary", "", "a static patchwell binary (default: build one)")
	version := flag.String("version", "", "the image's version label and tag (default: git describe)")
	source := flag.String("source", "https://github.com/patchwell/patchwell", "the org.opencontainers.image.source label")
	flag.Parse()
	if err := run(*out, *binary, *version, *source); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(out, binary, version, source string) error {
	tmp, err := os.MkdirTemp("", "mkimage-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if version == "" {
		version = describe()
	}
	if binary == "" {
		binary = filepath.Join(tmp, "patchwell")
		if err := build(binary); err != nil {
			return err
		}
	}
	if err := checkStatic(binary); err != nil {
		return err
	}

	sys := newTree()
	for _, p := range hostFiles {
		if err := sys.addHost(p); err != nil {
			return err
		}
	}
	ents, err := os.ReadDir("/usr/lib/git-core")
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := "/usr/lib/git-core/" + e.Name()
		t, err := os.Readlink(p)
		if e.Name() == "git" || err == nil && gitCore(t) {
			if err := sys.addHost(p); err != nil {
				return err
			}
		}
	}
	sys.addFile("/etc/passwd", 0o644, fmt.Sprintf("root:x:0:0:root:/root:/usr/sbin/nologin\n%s:x:%d:%d:patchwell:/data:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", userName, uid, gid))
	sys.addFile("/etc/group", 0o644, fmt.Sprintf("root:x:0:\n%s:x:%d:\nnogroup:x:65534:\n", userName, gid))
	sys.addFile("/etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nhosts: files dns\n")
	// Merged /usr, as Debian: /bin/sh and /bin/true work (sandbox).
	sys.addLink("/bin", "usr/bin")
	sys.addLink("/sbin", "usr/sbin")
	// Mount points: a runtime (or bwrap on a read-only root) mounts
	// these and cannot make them.
	sys.addDir("/proc", 0o555, 0, 0)
	sys.addDir("/dev", 0o755, 0, 0)
	sys.addDir("/sys", 0o555, 0, 0)
	sys.addDir("/tmp", 0o1777, 0, 0)
	sys.addDir("/data", 0o750, uid, gid)

	app := newTree()
	if err := app.addHostAs("/usr/bin/patchwell", binary); err != nil {
		return err
	}

	img, err := image(version, source, sys, app)
	if err != nil {
		return err
	}
	dir := filepath.Join(tmp, "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "localhost/patchwell:" + version,
	})); err != nil {
		return fmt.Errorf("write layout: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	return tarDir(dir, out)
}

// describe is the version of the checkout, "dev" outside one.
func describe() string {
	b, err := exec.Command("git", "describe", "--always", "--dirty").Output()
	if v := strings.TrimSpace(string(b)); err == nil && v != "" {
		return v
	}
	return "dev"
}

// build compiles patchwell statically: glibc's libc.a through cgo (for
// SQLite), with the pure Go resolver and user lookup so that nothing
// needs glibc's NSS (which a static binary cannot load).
func build(out string) error {
	cmd := exec.Command("go", "build", "-trimpath",
		"-tags", "netgo,osusergo,sqlite_omit_load_extension",
		"-ldflags", `-s -w -linkmode external -extldflags "-static"`,
		"-o", out, "patchwell/cmd/patchwell")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build: %w", err)
	}
	return nil
}

// checkStatic refuses a binary that needs a loader or shared libraries.
func checkStatic(name string) error {
	f, err := elf.Open(name)
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("%s is dynamically linked (it has an interpreter)", name)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		return fmt.Errorf("%s needs shared libraries %v", name, libs)
	}
	return nil
}

// entry is one file of a layer.
type entry struct {
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink
	mode     int64
	uid, gid int
	host     string // where a regular file's bytes come from
	data     []byte // or its bytes
	link     string // a symbolic link's target
}

// tree is the files of one layer, by absolute path in the image.
type tree struct {
	files map[string]*entry
}

func newTree() *tree { return &tree{files: map[string]*entry{}} }

func (t *tree) addDir(p string, mode int64, u, g int) {
	t.files[p] = &entry{typ: tar.TypeDir, mode: mode, uid: u, gid: g}
}

func (t *tree) addLink(p, target string) {
	t.files[p] = &entry{typ: tar.TypeSymlink, mode: 0o777, link: target}
}

func (t *tree) addFile(p string, mode int64, data string) {
	t.files[p] = &entry{typ: tar.TypeReg, mode: mode, data: []byte(data)}
}

// addHostAs adds the host's regular file src at p.
func (t *tree) addHostAs(p, src string) error {
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	t.files[p] = &entry{typ: tar.TypeReg, mode: int64(fi.Mode().Perm()), host: src}
	return nil
}

// addHost adds the host's p as it is seen there: every symbolic link on
// the way (/lib64 -> usr/lib64 ...) as a link, then what it ends at; a
// directory with all it holds; an ELF executable or library with the
// shared libraries it needs.
func (t *tree) addHost(p string) error {
	p = path.Clean(p)
	if _, ok := t.files[p]; ok {
		return nil
	}
	// The first symbolic link among p's parents, if any.
	parts := strings.Split(p, "/")
	for i := 2; i < len(parts); i++ {
		dir := strings.Join(parts[:i], "/")
		fi, err := os.Lstat(dir)
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// The link only: its parents are no links (seen above),
			// and of its target only the way to p is wanted.
			target, err := os.Readlink(dir)
			if err != nil {
				return err
			}
			t.addLink(dir, target)
			if !path.IsAbs(target) {
				target = path.Join(path.Dir(dir), target)
			}
			return t.addHost(path.Join(append([]string{target}, parts[i:]...)...))
		}
	}
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return err
		}
		t.addLink(p, target)
		if !path.IsAbs(target) {
			target = path.Join(path.Dir(p), target)
		}
		return t.addHost(target)
	case fi.IsDir():
		t.addDir(p, int64(fi.Mode().Perm()), 0, 0)
		ents, err := os.ReadDir(p)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := t.addHost(path.Join(p, e.Name())); err != nil {
				return err
			}
		}
		return nil
	case fi.Mode().IsRegular():
		t.files[p] = &entry{typ: tar.TypeReg, mode: int64(fi.Mode().Perm()), host: p}
		libs, err := sharedLibs(p)
		if err != nil {
			return err
		}
		for _, l := range libs {
			if err := t.addHost(l); err != nil {
				return err
			}
		}
		return nil
	}
	return fmt.Errorf("%s: not a file, directory or link", p)
}

// lddLine matches "libz.so.1 => /lib/x86_64-linux-gnu/libz.so.1 (0x...)"
// and the loader's "/lib64/ld-linux-x86-64.so.2 (0x...)".
var lddLine = regexp.MustCompile(`^\s*(?:\S+ => )?(/\S+) \(0x[0-9a-f]+\)$`)

// sharedLibs lists what the dynamic loader loads for an ELF file (ldd),
// the loader included; nothing for other files.
func sharedLibs(p string) ([]string, error) {
	f, err := elf.Open(p)
	if err != nil {
		return nil, nil // not ELF: a script, a template
	}
	dynamic := false
	for _, pr := range f.Progs {
		dynamic = dynamic || pr.Type == elf.PT_DYNAMIC
	}
	f.Close()
	if !dynamic {
		return nil, nil
	}
	out, err := exec.Command("ldd", p).Output()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %w", p, err)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := lddLine.FindStringSubmatch(line); m != nil {
			libs = append(libs, m[1])
		} else if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", p, strings.TrimSpace(line))
		}
	}
	return libs, nil
}

// layer writes the tree as a tar, parents first, in a fixed order and
// with fixed times; files that are one file on the host (hard links)
// are one in the layer too.
func (t *tree) layer() ([]byte, error) {
	// Parents not given explicitly are root's 0755 directories.
	for p := range t.files {
		for d := path.Dir(p); d != "/"; d = path.Dir(d) {
			if _, ok := t.files[d]; !ok {
				t.addDir(d, 0o755, 0, 0)
			}
		}
	}
	names := make([]string, 0, len(t.files))
	for p := range t.files {
		names = append(names, p)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	for _, p := range names {
		e := t.files[p]
		h := &tar.Header{
			Name: strings.TrimPrefix(p, "/"), Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, ModTime: epoch, Format: tar.FormatPAX,
		}
		var body []byte
		switch e.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = e.link
		case tar.TypeReg:
			body = e.data
			if e.host != "" {
				fi, err := os.Stat(e.host)
				if err != nil {
					return nil, err
				}
				if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
					k := inode{uint64(st.Dev), st.Ino}
					if first, ok := seen[k]; ok {
						h.Typeflag, h.Linkname = tar.TypeLink, strings.TrimPrefix(first, "/")
						if err := tw.WriteHeader(h); err != nil {
							return nil, err
						}
						continue
					}
					seen[k] = p
				}
				if body, err = os.ReadFile(e.host); err != nil {
					return nil, err
				}
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if _, err := tw.Write(body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// image assembles the layers and the configuration.
func image(version, source string, sys, app *tree) (v1.Image, error) {
	cfg := &v1.ConfigFile{
		Architecture: "amd64",
		OS:           "linux",
		Created:      v1.Time{Time: epoch},
		Config: v1.Config{
			User:       fmt.Sprintf("%d:%d", uid, gid),
			Entrypoint: []string{"/usr/bin/patchwell"},
			Cmd: []string{"serve", "--data", "/data",
				"--smtp", "0.0.0.0:2525", "--http", "0.0.0.0:8080", "--imap", "0.0.0.0:1143"},
			WorkingDir: "/data",
			Env: []string{
				"PATH=/usr/bin:/usr/sbin",
				"HOME=/data",
				"LANG=C.UTF-8",
			},
			Volumes:      map[string]struct{}{"/data": {}},
			ExposedPorts: map[string]struct{}{"2525/tcp": {}, "8080/tcp": {}, "1143/tcp": {}},
			Labels: map[string]string{
				"org.opencontainers.image.source":      source,
				"org.opencontainers.image.version":     version,
				"org.opencontainers.image.title":       "patchwell",
				"org.opencontainers.image.description": "mailing-list code review server",
			},
		},
	}
	img, err := mutate.ConfigFile(empty.Image, cfg)
	if err != nil {
		return nil, err
	}
	img = mutate.MediaType(img, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	for _, l := range []struct {
		t  *tree
		by string
	}{{sys, "mkimage: git, bubblewrap and a small userland from the build host"}, {app, "mkimage: patchwell (static)"}} {
		b, err := l.t.layer()
		if err != nil {
			return nil, err
		}
		layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
			return io.NopCloser(bytes.NewReader(b)), nil
		}, tarball.WithMediaType(types.OCILayer))
		if err != nil {
			return nil, err
		}
		img, err = mutate.Append(img, mutate.Addendum{Layer: layer, History: v1.History{CreatedBy: l.by, Created: v1.Time{Time: epoch}}})
		if err != nil {
			return nil, err
		}
	}
	return mutate.CreatedAt(img, v1.Time{Time: epoch})
}

// tarDir writes the layout directory dir as a tar archive at out (under
// a temporary name, then renamed).
func tarDir(dir, out string) error {
	f, err := os.CreateTemp(filepath.Dir(out), ".mkimage-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	var names []string
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		f.Close()
		return err
	}
	sort.Strings(names)
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			f.Close()
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: epoch, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size(), Format: tar.FormatPAX}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			f.Close()
			return err
		}
		if !fi.IsDir() {
			if err := copyFile(tw, p); err != nil {
				f.Close()
				return err
			}
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), out)
}

func copyFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
