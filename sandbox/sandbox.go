// Package sandbox runs an untrusted command (a CI check on a patched
// tree) inside bubblewrap: no network (an empty network namespace), a
// read-only view of the system (/usr and a few files of /etc), a private
// /tmp, /proc and /dev, and one writable directory, the worktree, at
// /work. Nothing else of the host is visible: not the data directory,
// not the mirror, not other jobs' worktrees, not HOME.
//
// bubblewrap sets no resource limits, so Run adds them: rlimits (CPU
// seconds, address space, processes, file size, no core dumps) applied
// inside the sandbox by prlimit(1) before the command starts, a wall-time
// limit (the whole sandbox dies with bwrap: its pid namespace is killed),
// and the output is capped (the last Limits.Output bytes are kept).
// The worktree's total size is kept within Limits.Disk by a Disk (a file
// system of that size mounted on it, else a watch on its size) that the
// caller makes for all the steps of a check and gives each Run.
//
// RLIMIT_NPROC is not enforced for root, so when patchwell runs as root
// the command runs as an unprivileged user (Limits.UID, default 65534,
// switched to by setpriv(1) inside the sandbox, with every capability
// dropped and no_new_privs) and the worktree is handed to that user
// (chown) before the run. The
// process limit counts every process of that user on the host: jobs
// running at the same time share it.
//
// cgroups are not used: this host has cgroup v1 without delegation;
// rlimits are what is portable. RLIMIT_AS bounds each process, not the
// sum of them; with the process limit it bounds the whole.
package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrUnavailable means bubblewrap is missing or cannot create its
// namespaces here (user namespaces disabled, seccomp in a container...).
var ErrUnavailable = errors.New("sandbox unavailable")

// Limits bounds one run. Zero fields take the defaults of DefaultLimits.
type Limits struct {
	CPU      time.Duration // CPU time per process (RLIMIT_CPU)
	Memory   int64         // address space per process, bytes (RLIMIT_AS)
	Procs    int           // processes of the sandbox user (RLIMIT_NPROC)
	FileSize int64         // largest file written, bytes (RLIMIT_FSIZE)
	Wall     time.Duration // wall-clock time of the whole run
	Output   int           // bytes of output kept (the last ones)
	TmpSize  int64         // size of the /tmp tmpfs, bytes
	UID, GID int           // user the sandbox runs as when we are root
	// Disk is the worktree's budget, bytes: the checkout and all the
	// steps write. Run does not keep it by itself (what a step writes
	// must outlive it): the caller makes a Disk of this size with
	// NewDisk for the check's steps and passes it in Spec.Disk.
	Disk int64
}

// DefaultLimits are generous enough for building a small C or Go
// project and small enough that a hostile patch does no harm.
var DefaultLimits = Limits{
	CPU:      10 * time.Minute,
	Memory:   4 << 30,
	Procs:    256,
	FileSize: 1 << 30,
	Wall:     15 * time.Minute,
	Output:   256 << 10,
	TmpSize:  512 << 20,
	Disk:     2 << 30,
	UID:      65534,
	GID:      65534,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.CPU > 0 {
		d.CPU = l.CPU
	}
	if l.Memory > 0 {
		d.Memory = l.Memory
	}
	if l.Procs > 0 {
		d.Procs = l.Procs
	}
	if l.FileSize > 0 {
		d.FileSize = l.FileSize
	}
	if l.Wall > 0 {
		d.Wall = l.Wall
	}
	if l.Output > 0 {
		d.Output = l.Output
	}
	if l.TmpSize > 0 {
		d.TmpSize = l.TmpSize
	}
	if l.Disk > 0 {
		d.Disk = l.Disk
	}
	if l.UID > 0 {
		d.UID, d.GID = l.UID, l.GID
	}
	return d
}

// Spec is one command to run.
type Spec struct {
	Dir     string   // host directory bound read-write at /work (the cwd)
	Command []string // argv; Shell is used when empty
	Shell   string   // a command line for /bin/sh -c
	Limits  Limits
	// Disk, when set, keeps Dir within its budget (NewDisk on Dir): the
	// command is stopped once the worktree reached it.
	Disk *Disk
}

// Result is how a run ended.
type Result struct {
	ExitCode  int    // -1 when killed by a signal
	Signal    string // the signal that ended it, if any (as bwrap reports 128+n)
	TimedOut  bool   // the wall-time limit killed it
	DiskFull  bool   // the worktree reached its disk budget (Spec.Disk): stopped
	Output    []byte // stdout and stderr interleaved, the last Limits.Output bytes
	Truncated bool   // output was longer than the cap
	Total     int64  // bytes of output produced
	Duration  time.Duration
}

// OK reports a zero exit within the limits.
func (r *Result) OK() bool { return r.ExitCode == 0 && !r.TimedOut && !r.DiskFull }

// Paths found on the host.
const (
	bwrapPath   = "/usr/bin/bwrap"
	prlimitPath = "/usr/bin/prlimit"
	setprivPath = "/usr/bin/setpriv"
	// WorkDir is where the worktree appears inside the sandbox.
	WorkDir = "/work"
)

// etcFiles are the parts of /etc a build needs: the dynamic loader's
// cache, alternatives (cc, c++, editor links), names of users and groups,
// the time zone. Not the whole /etc: no host configuration, keys or
// credentials.
var etcFiles = []string{
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
	"/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/localtime",
	"/etc/mime.types", "/etc/protocols", "/etc/services",
}

var (
	checkOnce sync.Once
	checkErr  error
)

// Check reports whether bubblewrap works here (once per process).
func Check() error {
	checkOnce.Do(func() {
		for _, p := range []string{bwrapPath, prlimitPath, setprivPath} {
			if _, err := os.Stat(p); err != nil {
				checkErr = fmt.Errorf("%w: %s not found (apt install bubblewrap util-linux)", ErrUnavailable, p)
				return
			}
		}
		dir, err := os.MkdirTemp("", "sandbox-check")
		if err != nil {
			checkErr = fmt.Errorf("%w: %v", ErrUnavailable, err)
			return
		}
		defer os.RemoveAll(dir)
		r, err := Run(context.Background(), Spec{Dir: dir, Command: []string{"/bin/true"}, Limits: Limits{Wall: 30 * time.Second}})
		if err != nil {
			checkErr = err
		} else if r.ExitCode != 0 {
			checkErr = fmt.Errorf("%w: bwrap exit %d (user namespaces disabled? sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces): %s", ErrUnavailable, r.ExitCode, bytes.TrimSpace(r.Output))
		}
	})
	return checkErr
}

// args builds the bwrap command line.
//
// As root, bwrap makes no user namespace (the sandbox is root's with all
// capabilities dropped but the two setpriv needs to become l.UID, which
// drops them too): RLIMIT_NPROC binds only a user other than root. As
// anybody else, --unshare-all makes a user namespace as well.
func args(l Limits, dir string, root bool, argv []string) []string {
	a := []string{"--die-with-parent", "--new-session"}
	if root {
		a = append(a, "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
			"--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")
	} else {
		a = append(a, "--unshare-all")
	}
	a = append(a, "--ro-bind", "/usr", "/usr", "--perms", "0755", "--dir", "/etc")
	for _, d := range []string{"bin", "sbin", "lib", "lib32", "lib64", "libx32"} {
		p := "/" + d
		if t, err := os.Readlink(p); err == nil {
			a = append(a, "--symlink", t, p)
		} else if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			a = append(a, "--ro-bind", p, p)
		}
	}
	for _, p := range etcFiles {
		if _, err := os.Stat(p); err == nil {
			a = append(a, "--ro-bind", p, p)
		}
	}
	a = append(a,
		"--proc", "/proc", "--dev", "/dev",
		"--perms", "1777", "--size", strconv.FormatInt(l.TmpSize, 10), "--tmpfs", "/tmp",
		"--bind", dir, WorkDir, "--chdir", WorkDir,
		"--clearenv",
		"--setenv", "PATH", "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
		"--setenv", "HOME", "/tmp", "--setenv", "LANG", "C.UTF-8",
		"--setenv", "TMPDIR", "/tmp", "--setenv", "CI", "true",
		"--",
	)
	if root {
		a = append(a, setprivPath, "--reuid="+strconv.Itoa(l.UID), "--regid="+strconv.Itoa(l.GID),
			"--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs")
	}
	a = append(a,
		prlimitPath,
		"--cpu="+strconv.FormatInt(int64(l.CPU/time.Second), 10),
		"--as="+strconv.FormatInt(l.Memory, 10),
		"--nproc="+strconv.Itoa(l.Procs),
		"--fsize="+strconv.FormatInt(l.FileSize, 10),
		"--core=0",
		"--",
	)
	return append(a, argv...)
}

// Run runs spec in a fresh sandbox. An error means the sandbox could not
// run (bad spec, bwrap missing); how the command itself ended is in the
// Result.
func Run(ctx context.Context, spec Spec) (*Result, error) {
	l := spec.Limits.withDefaults()
	argv := spec.Command
	if len(argv) == 0 {
		if spec.Shell == "" {
			return nil, errors.New("sandbox: no command")
		}
		argv = []string{"/bin/sh", "-c", spec.Shell}
	}
	if _, err := os.Stat(bwrapPath); err != nil {
		return nil, fmt.Errorf("%w: %s not found (apt install bubblewrap)", ErrUnavailable, bwrapPath)
	}
	root := os.Geteuid() == 0
	if root {
		if err := chownTree(spec.Dir, l.UID, l.GID); err != nil {
			return nil, fmt.Errorf("sandbox: hand the worktree to uid %d: %w", l.UID, err)
		}
	}
	dir, err := filepath.Abs(spec.Dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: worktree: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("sandbox: worktree %s is not a directory", dir)
	}
	if spec.Disk != nil && spec.Disk.Dir != dir {
		return nil, fmt.Errorf("sandbox: the disk is %s's, not %s's", spec.Disk.Dir, dir)
	}

	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, l.Wall)
	defer cancel()
	cmd := exec.Command(bwrapPath, args(l, dir, root, argv)...)
	cmd.Env = []string{}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: %w", err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		return nil, fmt.Errorf("%w: start bwrap: %v", ErrUnavailable, err)
	}
	pw.Close()
	tail := newTail(l.Output)
	copied := make(chan struct{})
	go func() {
		io.Copy(tail, pr)
		close(copied)
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	// full is closed when the worktree reached its budget; nil (never
	// ready) without a Disk.
	var full chan struct{}
	if spec.Disk != nil {
		full = make(chan struct{})
		done, watched := make(chan struct{}), make(chan struct{})
		// The watch has ended when Run returns: the caller may Close
		// the Disk.
		defer func() { close(done); <-watched }()
		go func() {
			defer close(watched)
			spec.Disk.watch(done, func() { close(full) })
		}()
	}
	res := &Result{}
	var werr error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		res.TimedOut = parent.Err() == nil
		// bwrap and everything in its group; the sandbox's own pid
		// namespace dies with its init, which dies with bwrap.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr = <-waited
	case <-full:
		res.DiskFull = true
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		werr = <-waited
	}
	// A command that filled the worktree and ended before the watch
	// looked.
	if spec.Disk != nil && !res.DiskFull && spec.Disk.full() {
		res.DiskFull = true
	}
	// The pipe closes when the last process in the sandbox is gone; a
	// process that escaped the pid namespace could not hold it longer
	// than this.
	select {
	case <-copied:
	case <-time.After(5 * time.Second):
	}
	pr.Close()
	res.Duration = time.Since(start)
	res.Output, res.Total = tail.bytes()
	res.Truncated = res.Total > int64(len(res.Output))
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			res.ExitCode, res.Signal = -1, ws.Signal().String()
		} else {
			res.ExitCode = ws.ExitStatus()
		}
	default:
		return nil, fmt.Errorf("sandbox: wait: %w", werr)
	}
	// bwrap reports a command killed by signal n as exit 128+n.
	if res.ExitCode > 128 && res.ExitCode < 128+65 {
		res.Signal = syscall.Signal(res.ExitCode - 128).String()
	}
	if res.TimedOut && res.Signal == "" {
		res.Signal = syscall.SIGKILL.String()
	}
	if err := parent.Err(); err != nil {
		// Stopped by the caller, not by a limit: no result.
		return res, fmt.Errorf("sandbox: %w", err)
	}
	return res, nil
}

func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// tail keeps the last n bytes written to it.
type tail struct {
	mu    sync.Mutex
	buf   []byte
	n     int
	total int64
}

func newTail(n int) *tail { return &tail{n: n} }

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total += int64(len(p))
	q := p
	if len(q) > t.n {
		q = q[len(q)-t.n:]
	}
	t.buf = append(t.buf, q...)
	if len(t.buf) > 2*t.n {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.n:]...)
	}
	return len(p), nil
}

func (t *tail) bytes() ([]byte, int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf
	if len(b) > t.n {
		b = b[len(b)-t.n:]
	}
	return append([]byte(nil), b...), t.total
}
