package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// ErrDiskFull means the worktree alone is larger than its disk budget:
// no room is left for the check.
var ErrDiskFull = errors.New("worktree larger than its disk budget")

// Disk keeps a worktree within a disk budget for the length of a check
// (all its steps: each step's Run gets it in Spec.Disk).
//
// RLIMIT_FSIZE bounds each file, not their sum, and the worktree is on
// the data directory's file system. So the worktree is copied into an
// ext4 file system of the budget's size, made by mke2fs in a sparse file
// beside the worktree, and loop-mounted over it, for the host and so for
// the sandbox's bind mount: the kernel refuses a write past the budget
// (ENOSPC), however fast the writer, and the host's disk holds at most
// the image (plus the worktree as it was, hidden under the mount). Run
// stops a command once the file system is full, and says so in
// Result.DiskFull. Close unmounts and removes the image: what the steps
// wrote goes with it, and the worktree is again as it was.
//
// A loop mount needs root (CAP_SYS_ADMIN in the first user namespace),
// mke2fs and a free loop device. Without them the worktree stays where
// it is and Run watches its size instead, walking it and stopping the
// command past the budget: a fast writer gets ahead of that by what it
// writes between two walks (a few hundred milliseconds at most on a
// small tree). Note says which, for the check's log.
//
// A tmpfs was not chosen: its pages are RAM (there may be no swap), a
// budget per job is that much RAM per worker, and bwrap's --size
// --tmpfs lives only as long as one step. A mount leaked by a crash
// (patchwell killed mid-check) stays, with its loop device, until
// CleanDisks (run when CI starts) or umount.
type Disk struct {
	Dir  string // the worktree (absolute)
	Size int64  // the budget, bytes
	// Note says how the budget is kept: "an ext4 file system of its own
	// (a loop mount)", or "watched (...)" and why it is not mounted.
	Note  string
	image string // the image file when mounted
}

// Paths of the tools a mounted Disk needs.
var (
	mke2fsPaths = []string{"/usr/sbin/mke2fs", "/sbin/mke2fs"}
	mountPaths  = []string{"/usr/bin/mount", "/bin/mount"}
	umountPaths = []string{"/usr/bin/umount", "/bin/umount"}
)

// NewDisk gives the worktree dir a budget of size bytes (see Disk). It
// fails with ErrDiskFull when the worktree already takes more. Close
// must be called when the check is over.
func NewDisk(ctx context.Context, dir string, size int64) (*Disk, error) {
	return newDisk(ctx, dir, size, true)
}

// newDisk is NewDisk; mount false watches even where a mount would work.
func newDisk(ctx context.Context, dir string, size int64, mount bool) (*Disk, error) {
	if size <= 0 {
		return nil, fmt.Errorf("sandbox: disk budget %d", size)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: worktree: %w", err)
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("sandbox: worktree %s is not a directory", dir)
	}
	used, err := allocated(dir)
	if err != nil {
		return nil, fmt.Errorf("sandbox: size of the worktree: %w", err)
	}
	if used > size {
		return nil, fmt.Errorf("%w: it takes %d bytes, the budget is %d", ErrDiskFull, used, size)
	}
	d := &Disk{Dir: dir, Size: size}
	if !mount {
		d.Note = "watched"
		return d, nil
	}
	if err := d.mount(ctx); err != nil {
		if errors.Is(err, ErrDiskFull) {
			return nil, err
		}
		d.Note = "watched: no loop mount: " + err.Error() + " (a fast writer can get past the budget between two looks)"
		return d, nil
	}
	d.Note = "an ext4 file system of its own (a loop mount)"
	return d, nil
}

// mount makes the image, copies the worktree into it and mounts it on
// the worktree.
func (d *Disk) mount(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("it needs root")
	}
	mke2fs, mnt := find(mke2fsPaths), find(mountPaths)
	if mke2fs == "" || mnt == "" {
		return errors.New("mke2fs or mount not found (apt install e2fsprogs mount)")
	}
	f, err := os.CreateTemp(filepath.Dir(d.Dir), "."+filepath.Base(d.Dir)+".disk-")
	if err != nil {
		return err
	}
	img := f.Name()
	err = f.Truncate(d.Size)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(img)
		return err
	}
	_, hadLostFound := os.Lstat(filepath.Join(d.Dir, "lost+found"))
	// No journal (the file system is thrown away), no blocks reserved
	// for root, 4 KiB blocks whatever the size; -d copies the worktree
	// in (modes, owners, symbolic and hard links).
	out, err := command(ctx, mke2fs, "-q", "-F", "-t", "ext4", "-b", "4096", "-m", "0", "-O", "^has_journal",
		"-E", "lazy_itable_init=1,nodiscard", "-d", d.Dir, "--", img)
	if err != nil {
		os.Remove(img)
		if bytes.Contains(out, []byte("Could not allocate block")) || bytes.Contains(out, []byte("No space left")) {
			return fmt.Errorf("%w: it does not fit in a file system of %d bytes", ErrDiskFull, d.Size)
		}
		return fmt.Errorf("mke2fs: %v: %s", err, firstLine(out))
	}
	// noinit_itable: the kernel does not zero the inode tables (the
	// image is sparse, they read as zeros already).
	if out, err := command(ctx, mnt, "-t", "ext4", "-o", "loop,nosuid,nodev,noatime,noinit_itable", "--", img, d.Dir); err != nil {
		os.Remove(img)
		return fmt.Errorf("mount: %v: %s", err, firstLine(out))
	}
	d.image = img
	if hadLostFound != nil {
		// mke2fs's, not the worktree's: out of the check's sight.
		os.Remove(filepath.Join(d.Dir, "lost+found"))
	}
	return nil
}

// Mounted reports whether the budget is a file system of its own (else
// it is watched).
func (d *Disk) Mounted() bool { return d.image != "" }

// Close unmounts the file system and removes its image; a watched Disk
// has nothing to undo.
func (d *Disk) Close() error {
	if d.image == "" {
		return nil
	}
	umount := find(umountPaths)
	if umount == "" {
		return errors.New("sandbox: umount not found")
	}
	var err error
	if out, uerr := command(context.Background(), umount, "--", d.Dir); uerr != nil {
		// Busy (a process of the sandbox still dying): detach it now,
		// the kernel frees it when the last user is gone.
		if out2, lerr := command(context.Background(), umount, "-l", "--", d.Dir); lerr != nil {
			err = fmt.Errorf("sandbox: umount %s: %v: %s; %v: %s", d.Dir, uerr, firstLine(out), lerr, firstLine(out2))
		}
	}
	if err == nil {
		if rerr := os.Remove(d.image); rerr != nil {
			err = fmt.Errorf("sandbox: remove the disk image: %w", rerr)
		}
		d.image = ""
	}
	return err
}

// full reports whether the worktree reached its budget: the file system
// is full (ext4 keeps a few blocks of its own: what is left is less than
// a 64th of it, at most 1 MiB), or, watched, it takes more than the
// budget.
func (d *Disk) full() bool {
	if d.image != "" {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d.Dir, &st); err != nil {
			return false
		}
		return int64(st.Bavail)*st.Bsize < min(1<<20, d.Size/64)
	}
	n, err := allocated(d.Dir)
	return err == nil && n > d.Size
}

// watch calls stop once the worktree reached its budget, until done is
// closed. A statfs every 20ms for a mounted Disk (the kernel holds the
// budget, this only notices it); for a watched one, a walk of the tree,
// as often as takes a fifth of the time walking.
func (d *Disk) watch(done <-chan struct{}, stop func()) {
	for {
		t := time.Now()
		if d.full() {
			stop()
			return
		}
		wait := 20 * time.Millisecond
		if d.image == "" {
			wait = max(50*time.Millisecond, 4*time.Since(t))
		}
		select {
		case <-done:
			return
		case <-time.After(wait):
		}
	}
}

// allocated is the disk space taken by the files under dir on its file
// system (du -x): blocks allocated, not sizes, so a sparse file counts
// what it holds.
func allocated(dir string) (int64, error) {
	var st syscall.Stat_t
	if err := syscall.Lstat(dir, &st); err != nil {
		return 0, err
	}
	dev := st.Dev
	var n int64
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			// Removed while we walk (the check is running): not counted.
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		var st syscall.Stat_t
		if err := syscall.Lstat(p, &st); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if st.Dev != dev {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		n += st.Blocks * 512
		return nil
	})
	return n, err
}

func find(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// command runs a tool with a minute to do it and a fixed environment.
func command(ctx context.Context, path string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	return cmd.CombinedOutput()
}

func firstLine(b []byte) string {
	s, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	return s
}

// CleanDisks undoes what the Disks of worktrees under dir left behind
// when their process ended without Close (killed mid-check, power
// loss): it unmounts every mount strictly under dir, as
// /proc/self/mountinfo lists them (mount -o loop set the loop device to
// detach itself: the unmount releases it), and removes the leftover
// images (".NAME.disk-*") in dir and beside each unmounted worktree. It
// must run while no Disk under dir is in use, and touches nothing
// outside dir. It returns the mount points unmounted and the images
// removed; the error names what it could not undo.
func CleanDisks(ctx context.Context, dir string) (mounts, images []string, err error) {
	dir, err = filepath.Abs(dir)
	if err == nil {
		// mountinfo has the path the kernel resolved.
		dir, err = filepath.EvalSymlinks(dir)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: clean disks: %w", err)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, nil, fmt.Errorf("sandbox: clean disks: %w", err)
	}
	var errs []error
	dirs := map[string]bool{dir: true}
	all := parseMountinfo(b)
	// Children after their parents in mountinfo: unmount from the end.
	for i := len(all) - 1; i >= 0; i-- {
		p := all[i].point
		if !strings.HasPrefix(p, dir+"/") {
			continue
		}
		if err := unmount(ctx, p); err != nil {
			errs = append(errs, err)
			continue
		}
		mounts = append(mounts, p)
		dirs[filepath.Dir(p)] = true
	}
	for d := range dirs {
		found, _ := filepath.Glob(filepath.Join(d, ".*.disk-*"))
		for _, img := range found {
			if fi, err := os.Lstat(img); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := os.Remove(img); err != nil {
				errs = append(errs, fmt.Errorf("sandbox: remove the disk image: %w", err))
				continue
			}
			images = append(images, img)
		}
	}
	return mounts, images, errors.Join(errs...)
}

// unmount unmounts the file system on p, lazily if busy, as Close does.
func unmount(ctx context.Context, p string) error {
	umount := find(umountPaths)
	if umount == "" {
		return errors.New("sandbox: umount not found")
	}
	out, err := command(ctx, umount, "--", p)
	if err == nil {
		return nil
	}
	if out2, lerr := command(ctx, umount, "-l", "--", p); lerr != nil {
		return fmt.Errorf("sandbox: umount %s: %v: %s; %v: %s", p, err, firstLine(out), lerr, firstLine(out2))
	}
	return nil
}

// mountinfo is a line of /proc/self/mountinfo: the mount point and the
// source (a device, for a Disk /dev/loopN).
type mountinfo struct {
	point, source string
}

// parseMountinfo reads /proc/self/mountinfo (proc(5)): "ID PARENT
// MAJ:MIN ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS",
// with space, tab, newline and backslash in paths written \ooo. Lines
// it cannot read are skipped.
func parseMountinfo(b []byte) []mountinfo {
	var out []mountinfo
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		sep := slices.Index(f, "-")
		if sep < 6 || sep+2 >= len(f) {
			continue
		}
		out = append(out, mountinfo{point: unescapeMount(f[4]), source: unescapeMount(f[sep+2])})
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOctal(s[i+1]) && isOctal(s[i+2]) && isOctal(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOctal(c byte) bool { return c >= '0' && c <= '7' }
