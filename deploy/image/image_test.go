package image

import (
	"archive/tar"
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
)

// needTool skips when a tool is missing, and fails under CI=true, where
// .ci/run installs every tool.
func needTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := exec.Command(name, args...).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not available: %v", name, err)
	}
}

// TestImageQuickStart builds the image as make image does, unpacks its
// root file system, and runs README's Quick start against it: the server
// and patchwell's own commands run from the image under bubblewrap, with
// nothing of the host's files mounted (a fresh /proc, /dev and /tmp, and
// the data directory at /data); git send-email and the HTTP client are
// the host's, as a contributor's would be.
//
// CI cannot run nested in that sandbox: bubblewrap mounts a fresh /proc
// for CI's sandbox, and the kernel refuses a procfs mount in a mount
// namespace whose /proc has parts covered (the outer bwrap covers
// /proc/sys, /proc/irq, /proc/bus read-only), as container runtimes do
// too. So the self-contained run has --ci=false, and a second run gives
// the outer sandbox the kernel's /proc as it is (--bind /proc /proc,
// still no file of the host's) and checks that CI runs the list's check
// inside the image.
func TestImageQuickStart(t *testing.T) {
	// It builds a static patchwell (cgo SQLite again: minutes on a cold
	// cache), so it runs apart from make test: make test-image (which
	// make ci runs) sets PATCHWELL_TEST_IMAGE=1.
	if testing.Short() || os.Getenv("PATCHWELL_TEST_IMAGE") != "1" {
		t.Skip("builds the image: run by make test-image (PATCHWELL_TEST_IMAGE=1)")
	}
	needTool(t, "bwrap", "--version")
	needTool(t, "git", "send-email", "--help")
	if err := exec.Command("bwrap", "--ro-bind", "/", "/", "--unshare-user", "--unshare-pid", "--proc", "/proc", "true").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("bwrap cannot make a user namespace here: %v", err)
		}
		t.Skipf("bwrap cannot make a user namespace here: %v", err)
	}

	dir := t.TempDir()
	archive := filepath.Join(dir, "patchwell-image.tar")
	start := time.Now()
	build := exec.Command("go", "run", "./deploy/image/mkimage", "-o", archive, "-version", "test")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("mkimage: %v\n%s", err, out)
	}
	fi, err := os.Stat(archive)
	if err != nil {
		t.Fatal(err)
	}
	rootfs := filepath.Join(dir, "rootfs")
	img, size := unpack(t, archive, rootfs)
	t.Logf("image built in %v: archive %.1f MiB, root file system %.1f MiB", time.Since(start).Round(time.Second),
		float64(fi.Size())/(1<<20), float64(size)/(1<<20))

	cfg, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/usr/bin/patchwell"}) || c.WorkingDir != "/data" {
		t.Errorf("config: user %q, entrypoint %q, working dir %q; want 65532:65532, /usr/bin/patchwell, /data", c.User, c.Entrypoint, c.WorkingDir)
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("config: volumes %v; want /data", c.Volumes)
	}
	if c.Labels["org.opencontainers.image.version"] != "test" {
		t.Errorf("config: labels %v; want the version", c.Labels)
	}

	t.Run("self-contained", func(t *testing.T) { quickStart(t, rootfs, c.Env, false) })
	t.Run("ci", func(t *testing.T) { quickStart(t, rootfs, c.Env, true) })
}

// unpack reads the OCI archive's image with go-containerregistry and
// writes its flattened root file system to rootfs; it returns the image
// and the size of the files.
func unpack(t *testing.T, archive, rootfs string) (v1.Image, int64) {
	t.Helper()
	lay := filepath.Join(filepath.Dir(archive), "layout")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := untar(f, lay); err != nil {
		t.Fatalf("unpack %s: %v", archive, err)
	}
	idx, err := layout.ImageIndexFromPath(lay)
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Manifests) != 1 || !strings.HasPrefix(m.Manifests[0].Annotations["org.opencontainers.image.ref.name"], "localhost/patchwell:") {
		t.Fatalf("index: %+v; want one image named localhost/patchwell:VERSION", m.Manifests)
	}
	img, err := idx.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	rc := mutate.Extract(img)
	defer rc.Close()
	size, err := untar(rc, rootfs)
	if err != nil {
		t.Fatalf("extract the root file system: %v", err)
	}
	return img, size
}

// untar writes a tar stream's directories, files and links under dir and
// returns the regular files' total size.
func untar(r io.Reader, dir string) (int64, error) {
	var size int64
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return size, nil
		}
		if err != nil {
			return size, err
		}
		name := filepath.Clean("/" + h.Name)
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return size, err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return size, err
			}
			if err := os.Chmod(p, os.FileMode(h.Mode).Perm()|stickyBit(h.Mode)); err != nil {
				return size, err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
			if err != nil {
				return size, err
			}
			n, err := io.Copy(f, tr)
			size += n
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return size, err
			}
		case tar.TypeSymlink:
			if err := os.Symlink(h.Linkname, p); err != nil {
				return size, err
			}
		case tar.TypeLink:
			if err := os.Link(filepath.Join(dir, filepath.Clean("/"+h.Linkname)), p); err != nil {
				return size, err
			}
		default:
			return size, fmt.Errorf("%s: tar type %c", h.Name, h.Typeflag)
		}
	}
}

// stickyBit maps tar's sticky bit (01000) to Go's.
func stickyBit(mode int64) os.FileMode {
	if mode&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// sandbox is the root file system under bubblewrap: the image read-only
// as /, data read-write at /data, the image's user and environment.
type sandbox struct {
	rootfs, data string
	env          []string
	hostProc     bool // the kernel's /proc as it is, for CI's nested sandbox
}

func (s *sandbox) command(argv ...string) *exec.Cmd {
	a := []string{"--ro-bind", s.rootfs, "/"}
	if s.hostProc {
		a = append(a, "--bind", "/proc", "/proc")
	} else {
		a = append(a, "--proc", "/proc")
	}
	a = append(a, "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--bind", s.data, "/data",
		"--unshare-all", "--share-net", "--unshare-user", "--uid", "65532", "--gid", "65532",
		"--die-with-parent", "--clearenv")
	for _, e := range s.env {
		k, v, _ := strings.Cut(e, "=")
		a = append(a, "--setenv", k, v)
	}
	a = append(a, "--chdir", "/data", "--")
	return exec.Command("bwrap", append(a, argv...)...)
}

// run runs a patchwell command in the sandbox and returns its output.
func (s *sandbox) run(t *testing.T, args ...string) string {
	t.Helper()
	out, err := s.command(append([]string{"/usr/bin/patchwell"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("patchwell %s (in the image): %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// quickStart runs the Quick start's steps against serve in the image.
func quickStart(t *testing.T, rootfs string, env []string, ci bool) {
	data := t.TempDir()
	sb := &sandbox{rootfs: rootfs, data: data, env: env, hostProc: ci}
	smtp, web, imap := freePort(t), freePort(t), freePort(t)
	serve := sb.command("/usr/bin/patchwell", "serve", "--data", "/data",
		"--smtp", smtp, "--http", web, "--imap", imap, fmt.Sprintf("--ci=%t", ci))
	log := &syncBuffer{}
	pr, pw := io.Pipe()
	serve.Stdout, serve.Stderr = io.MultiWriter(log, pw), io.MultiWriter(log, pw)
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "patchwell ready") {
				close(ready)
				break
			}
		}
		io.Copy(io.Discard, pr)
	}()
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- serve.Wait(); pw.Close() }()
	t.Cleanup(func() {
		serve.Process.Kill()
		if t.Failed() {
			t.Logf("serve (in the image):\n%s", log.String())
		}
	})
	select {
	case <-ready:
	case err := <-exited:
		t.Fatalf("serve exited: %v\n%s", err, log.String())
	case <-time.After(time.Minute):
		t.Fatalf("serve: not ready after a minute\n%s", log.String())
	}

	// The contributor's project, and the list's repository under /data.
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Ada Lovelace\n\temail = ada@example.org\n[init]\n\tdefaultBranch = main\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	demo := filepath.Join(home, "demo")
	bare := filepath.Join(data, "demo.git")
	hostEnv := append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1")
	sh := func(dir, script string) string {
		t.Helper()
		cmd := exec.Command("sh", "-ec", script)
		cmd.Dir, cmd.Env = dir, hostEnv
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	sh(home, `git init -q demo && cd demo
echo hello > README && git add README && git commit -qm 'Start'
git init -q --bare `+bare+` && git push -q `+bare+` HEAD:refs/heads/main
for n in 1 2 3; do echo "line $n" >> README && git commit -qam "README: line $n"; done`)

	sb.run(t, "list", "update", "dev", "--data", "/data", "--repo", "/data/demo.git",
		"--branch", "main", "--check", `grep -q "line 3" README`, "--first-timer-gate=false")

	host, port, _ := net.SplitHostPort(smtp)
	sh(demo, `git format-patch -q --cover-letter --base=HEAD~3 -o outgoing HEAD~3
sed -i -e 's/\*\*\* SUBJECT HERE \*\*\*/README: three lines/' \
    -e 's/\*\*\* BLURB HERE \*\*\*/Three more lines for the README./' outgoing/0000-cover-letter.patch
git send-email --to=dev@patchwell.localhost --smtp-server=`+host+` \
    --smtp-server-port=`+port+` --suppress-cc=all --confirm=never outgoing/*.patch`)

	// The series through the API, with its cover letter (and CI's check).
	deadline := time.Now().Add(time.Minute)
	for {
		list := get(t, "http://"+web+"/api/v1/lists/dev/series")
		var s struct {
			Checks []struct {
				PatchIndex int `json:"patch_index"`
				Context    string
				State      string
			}
		}
		if err := json.Unmarshal([]byte(get(t, "http://"+web+"/api/v1/series/1")), &s); err != nil {
			s.Checks = nil
		}
		state := ""
		for _, c := range s.Checks {
			if c.Context == "patchwell/check" && c.PatchIndex == 0 {
				state = c.State
			}
		}
		if strings.Contains(list, `"subject":"README: three lines"`) && (!ci || state == "success") {
			break
		}
		if (ci && state != "" && state != "pending") || time.Now().After(deadline) {
			t.Fatalf("series 1: check %q (ci %t); lists/dev/series:\n%s", state, ci, list)
		}
		time.Sleep(200 * time.Millisecond)
	}

	t.Logf("patchwell apply 1 (in the image):\n%s", sb.run(t, "apply", "1", "--data", "/data"))
	logOut := sh(home, "git --no-pager -C "+bare+" log --oneline main")
	if lines := strings.Split(strings.TrimSpace(logOut), "\n"); len(lines) != 4 || !strings.Contains(logOut, "README: line 3") {
		t.Errorf("demo.git's main after apply:\n%s\nwant Start and the three commits", logOut)
	}

	// bwrap passes no signal on: SIGTERM goes to patchwell itself.
	pid := descendant(serve.Process.Pid, "patchwell")
	if pid == 0 {
		t.Fatalf("no patchwell process under bwrap (pid %d)", serve.Process.Pid)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not stop on SIGTERM\n%s", log.String())
	}
	if !strings.Contains(log.String(), "shutting down") {
		t.Errorf("serve did not shut down cleanly:\n%s", log.String())
	}
}

// descendant returns the pid of the first process named comm among
// pid's descendants (/proc/PID/task/TID/children), 0 if none.
func descendant(pid int, comm string) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, c := range strings.Fields(string(b)) {
			child, err := strconv.Atoi(c)
			if err != nil {
				continue
			}
			if name, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", child)); strings.TrimSpace(string(name)) == comm {
				return child
			}
			if p := descendant(child, comm); p != 0 {
				return p
			}
		}
	}
	return 0
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// syncBuffer is a strings.Builder safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
