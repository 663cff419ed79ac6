package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needMount skips (fails under CI=true) where a Disk cannot be mounted.
func needMount(t *testing.T, d *Disk) {
	t.Helper()
	if !d.Mounted() {
		d.Close()
		if os.Getenv("CI") == "true" {
			t.Fatalf("disk not mounted: %s", d.Note)
		}
		t.Skipf("disk not mounted: %s", d.Note)
	}
}

// peak samples, every few milliseconds until stopped, the bytes taken
// under dir on its file system beyond what they took at the start.
func peak(t *testing.T, dir string) (stop func() int64) {
	t.Helper()
	base, err := allocated(dir)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu   sync.Mutex
		most int64
		wg   sync.WaitGroup
	)
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if n, err := allocated(dir); err == nil {
				mu.Lock()
				most = max(most, n-base)
				mu.Unlock()
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int64 {
		close(done)
		wg.Wait()
		return most
	}
}

func mustWorktree(t *testing.T) (parent, wt string) {
	t.Helper()
	parent = t.TempDir()
	wt = filepath.Join(parent, "wt")
	for _, c := range [][]string{
		{"git", "init", "-q", wt},
		{"sh", "-c", "cd " + wt + " && echo hello > a && ln -s a link && mkdir -p d && printf '#!/bin/sh\\necho ran\\n' > d/run && chmod 755 d/run"},
		{"git", "-C", wt, "add", "-A"},
		{"git", "-C", wt, "-c", "user.name=T", "-c", "user.email=t@x", "commit", "-qm", "first"},
	} {
		if out, err := exec.Command(c[0], c[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", c, err, out)
		}
	}
	return parent, wt
}

// A mounted Disk: writes past the budget are refused and the command
// stopped, the host holds no more than the budget, the steps see each
// other's files and a usable git repository, and Close puts the
// worktree back as it was.
func TestDiskMounted(t *testing.T) {
	need(t)
	const budget = 64 << 20
	parent, wt := mustWorktree(t)
	d, err := NewDisk(context.Background(), wt, budget)
	if err != nil {
		t.Fatalf("NewDisk() = %v", err)
	}
	needMount(t, d)
	t.Logf("disk: %s", d.Note)
	defer d.Close()
	l := Limits{Wall: time.Minute}
	r, err := Run(context.Background(), Spec{Dir: wt, Disk: d, Limits: l,
		Shell: `ls -a; test -L link && cat link && d/run && git log --format=%s && git status --short && echo made > out`})
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	t.Logf("%s", r.Output)
	if !r.OK() || !bytes.Contains(r.Output, []byte("hello\nran\nfirst\n")) || bytes.Contains(r.Output, []byte("lost+found")) {
		t.Fatalf("the worktree in the disk: %+v", r)
	}
	// Each file is under the file size limit; together they are twice
	// the budget. The loop goes on past a failed write. Without the
	// watch (no Spec.Disk), the file system alone refuses the writes.
	fill := `for i in 1 2 3 4 5 6 7 8; do head -c 16000000 /dev/zero > big$i; done; `
	stop := peak(t, parent)
	r, err = Run(context.Background(), Spec{Dir: wt, Limits: l, Shell: fill + `echo finished`})
	took := stop()
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	t.Logf("unwatched: exit %d; the host took %d bytes (%.1f MiB) for a budget of %d MiB", r.ExitCode, took, float64(took)/(1<<20), budget>>20)
	if !bytes.Contains(r.Output, []byte("No space left on device")) || !bytes.Contains(r.Output, []byte("finished")) {
		t.Errorf("writes past the budget not refused:\n%s", r.Output)
	}
	if took > budget {
		t.Errorf("the host took %d bytes, more than the budget of %d", took, budget)
	}
	mustRemoveBig(t, wt)
	// With the watch, the command is stopped once the disk is full.
	stop = peak(t, parent)
	start := time.Now()
	r, err = Run(context.Background(), Spec{Dir: wt, Disk: d, Limits: l, Shell: fill + `sleep 30; echo finished`})
	took = stop()
	if err != nil {
		t.Fatalf("Run() = %v", err)
	}
	t.Logf("watched: exit %d signal %q disk full %v after %v; the host took %d bytes (%.1f MiB) for a budget of %d MiB",
		r.ExitCode, r.Signal, r.DiskFull, time.Since(start), took, float64(took)/(1<<20), budget>>20)
	if !r.DiskFull || r.OK() || bytes.Contains(r.Output, []byte("finished")) {
		t.Errorf("not stopped at the budget: %+v", r)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("stopped after %v", time.Since(start))
	}
	if took > budget {
		t.Errorf("the host took %d bytes, more than the budget of %d", took, budget)
	}
	// Room made again (a step that starts full is stopped at once), the
	// next step sees what the first wrote.
	mustRemoveBig(t, wt)
	r, err = Run(context.Background(), Spec{Dir: wt, Disk: d, Limits: l, Shell: `cat out; echo room > more && cat more`})
	if err != nil || !r.OK() || !bytes.Contains(r.Output, []byte("made\nroom\n")) {
		t.Fatalf("after the full step: %+v, %v", r, err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if _, err := os.Stat(filepath.Join(wt, "out")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("what the steps wrote is still there after Close: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(wt, "a")); err != nil || string(b) != "hello\n" {
		t.Errorf("the worktree after Close: %q, %v", b, err)
	}
	if ents, _ := os.ReadDir(parent); len(ents) != 1 {
		t.Errorf("left beside the worktree: %v", ents)
	}
	var st, pst syscall.Stat_t
	if syscall.Stat(wt, &st) == nil && syscall.Stat(parent, &pst) == nil && st.Dev != pst.Dev {
		t.Errorf("still mounted after Close")
	}
}

// A watched Disk (no mount): the command is stopped past the budget. A
// writer faster than the walks gets ahead of it: the overshoot is
// logged, not asserted.
func TestDiskWatched(t *testing.T) {
	need(t)
	const budget = 16 << 20
	parent, wt := mustWorktree(t)
	d, err := newDisk(context.Background(), wt, budget, false)
	if err != nil || d.Mounted() {
		t.Fatalf("newDisk() = %+v, %v", d, err)
	}
	defer d.Close()
	for _, tc := range []struct{ name, shell string }{
		{"slow", `for i in $(seq 1 40); do head -c 1000000 /dev/zero > slow$i; sleep 0.05; done; echo finished`},
		{"fast", `for i in 1 2 3 4; do head -c 8000000 /dev/zero > fast$i; done; echo finished`},
	} {
		stop := peak(t, parent)
		r, err := Run(context.Background(), Spec{Dir: wt, Disk: d, Limits: Limits{Wall: time.Minute}, Shell: tc.shell})
		took := stop()
		if err != nil {
			t.Fatalf("Run() = %v", err)
		}
		t.Logf("%s: exit %d signal %q disk full %v; the host took %.1f MiB for a budget of %d MiB", tc.name, r.ExitCode, r.Signal, r.DiskFull, float64(took)/(1<<20), budget>>20)
		if !r.DiskFull || r.OK() {
			t.Errorf("%s: over the budget, not reported: %+v", tc.name, r)
		}
		if tc.name == "slow" && bytes.Contains(r.Output, []byte("finished")) {
			t.Errorf("slow: not stopped")
		}
		exec.Command("sh", "-c", "rm -f "+wt+"/slow* "+wt+"/fast*").Run()
	}
}

// A worktree already larger than its budget has no room for a check.
func TestDiskTooSmall(t *testing.T) {
	_, wt := mustWorktree(t)
	if err := os.WriteFile(filepath.Join(wt, "big"), bytes.Repeat([]byte("x"), 3<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mount := range []bool{true, false} {
		d, err := newDisk(context.Background(), wt, 2<<20, mount)
		if !errors.Is(err, ErrDiskFull) {
			if d != nil {
				d.Close()
			}
			t.Errorf("newDisk(mount %v) = %+v, %v; want ErrDiskFull", mount, d, err)
		}
	}
}

// A worktree within the budget but not within the file system made of
// it (its own blocks take some) does not fit either.
func TestDiskTooSmallForTheFileSystem(t *testing.T) {
	const budget = 16 << 20
	wt := t.TempDir()
	if err := os.WriteFile(filepath.Join(wt, "big"), bytes.Repeat([]byte("x"), budget-64<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := NewDisk(context.Background(), wt, budget)
	if err == nil {
		defer d.Close()
		needMount(t, d)
	}
	if !errors.Is(err, ErrDiskFull) {
		t.Fatalf("NewDisk() = %+v, %v; want ErrDiskFull", d, err)
	}
	if ents, _ := os.ReadDir(filepath.Dir(wt)); len(ents) != 1 {
		t.Errorf("left beside the worktree: %v", ents)
	}
}

func TestDiskOtherDir(t *testing.T) {
	need(t)
	d, err := newDisk(context.Background(), t.TempDir(), 1<<20, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Run(context.Background(), Spec{Dir: t.TempDir(), Disk: d, Shell: "true"}); err == nil {
		t.Errorf("Run() with another directory's disk: no error")
	}
}

func mustRemoveBig(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("sh", "-c", "rm "+dir+"/big*").CombinedOutput(); err != nil {
		t.Fatalf("rm: %v: %s", err, out)
	}
}

// mounted returns the mount points in /proc/self/mountinfo, each with
// its source (the loop device of a Disk).
func mounted(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, mi := range parseMountinfo(b) {
		m[mi.point] = mi.source
	}
	return m
}

// A Disk forgotten by a process killed mid-check (no Close) is undone
// by CleanDisks on its work directory: the mount is gone, its loop
// device released, its image removed. A Disk outside the directory (a
// sibling whose name starts the same) is left alone.
func TestCleanDisks(t *testing.T) {
	ctx := context.Background()
	base := t.TempDir()
	work := filepath.Join(base, "work")
	inside := filepath.Join(work, "dev-123")
	outside := filepath.Join(base, "work-other", "dev-456")
	for _, d := range []string{inside, outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(d, "a"), []byte("hello\n"), 0o644)
	}
	forgotten, err := NewDisk(ctx, inside, 16<<20)
	if err != nil {
		t.Fatalf("NewDisk() = %v", err)
	}
	needMount(t, forgotten)
	other, err := NewDisk(ctx, outside, 16<<20)
	if err != nil {
		forgotten.Close()
		t.Fatalf("NewDisk() = %v", err)
	}
	defer other.Close()
	needMount(t, other)
	realInside, _ := filepath.EvalSymlinks(inside)
	realOutside, _ := filepath.EvalSymlinks(outside)
	loop := mounted(t)[realInside]
	if !strings.HasPrefix(loop, "/dev/loop") {
		forgotten.Close()
		t.Fatalf("the Disk's mount %s: source %q, want a loop device", realInside, loop)
	}
	backing := filepath.Join("/sys/block", filepath.Base(loop), "loop", "backing_file")
	if b, err := os.ReadFile(backing); err != nil || !strings.Contains(string(b), ".disk-") {
		forgotten.Close()
		t.Fatalf("%s: %q %v", backing, b, err)
	}
	image := forgotten.image
	os.WriteFile(filepath.Join(inside, "written"), []byte("by the check\n"), 0o644)

	// The process dies: nothing calls forgotten.Close. Its successor
	// cleans the work directory.
	mounts, images, err := CleanDisks(ctx, work)
	t.Logf("unmounted %q, removed %q", mounts, images)
	if err != nil {
		t.Errorf("CleanDisks() = %v", err)
	}
	m := mounted(t)
	if _, ok := m[realInside]; ok {
		forgotten.Close()
		t.Fatalf("%s is still mounted", realInside)
	}
	// No loop device is backed by the image any more (another may have
	// taken loopN meanwhile, for a file of its own).
	files, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, f := range files {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), filepath.Base(image)) {
			t.Errorf("%s: the loop device still holds the image: %s", f, b)
		}
	}
	if _, err := os.Lstat(image); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the image %s is still there: %v", image, err)
	}
	if _, err := os.Stat(filepath.Join(inside, "written")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("what the check wrote is still in the worktree: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(inside, "a")); err != nil || string(b) != "hello\n" {
		t.Errorf("the worktree under the mount: %q %v", b, err)
	}
	if len(mounts) != 1 || mounts[0] != realInside || len(images) != 1 || images[0] != image {
		t.Errorf("CleanDisks() = %q, %q; want [%s], [%s]", mounts, images, realInside, image)
	}
	// The Disk outside is untouched.
	if _, ok := m[realOutside]; !ok || !other.Mounted() {
		t.Errorf("%s, outside the work directory, was unmounted", realOutside)
	}
	if _, err := os.Stat(other.image); err != nil {
		t.Errorf("the other Disk's image: %v", err)
	}
	if err := other.Close(); err != nil {
		t.Errorf("other.Close() = %v", err)
	}
	// Nothing left: a second run cleans nothing.
	if m, i, err := CleanDisks(ctx, work); len(m)+len(i) != 0 || err != nil {
		t.Errorf("second CleanDisks() = %q, %q, %v", m, i, err)
	}
}

// parseMountinfo reads mount points as the kernel escapes them.
func TestParseMountinfo(t *testing.T) {
	in := "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw\n" +
		`98 22 7:3 / /data/repos/work/dev\040x\011y\012z\134w rw,nosuid master:2 - ext4 /dev/loop3 rw` + "\n" +
		"99 22 0:5 / /proc rw - proc proc rw\n" +
		"short line\n"
	want := []mountinfo{{"/", "/dev/sda1"}, {"/data/repos/work/dev x\ty\nz\\w", "/dev/loop3"}, {"/proc", "proc"}}
	got := parseMountinfo([]byte(in))
	if len(got) != len(want) {
		t.Fatalf("parseMountinfo() = %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("parseMountinfo()[%d] = %q, want %q", i, got[i], want[i])
		}
	}
}
