package ci

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// TestDiskBudget runs real checks under a 64 MiB disk budget: one writes
// four 30 MB files (each under the file size limit, 120 MB in all) and
// must fail with the budget as the reason, the host holding no more than
// the budget meanwhile; one stays within it and must find in the
// worktree what it made there (a git repository, a build output) from
// one step to the next.
func TestDiskBudget(t *testing.T) {
	needSandbox(t)
	const budget = 64 << 20
	cases := []struct {
		name, yml   string
		state, desc string
		log         []string
	}{
		{"over", "disk: 64M\nsteps:\n" +
			"  - name: fill\n    run: for i in 1 2 3 4; do head -c 30000000 /dev/zero > big$i || exit 1; done; echo wrote all\n" +
			"  - name: after\n    run: echo never\n",
			store.CheckFail, `step 1/2 "fill": disk budget of 64 MiB exceeded`,
			[]string{"disk: 64 MiB", "[disk budget of 64 MiB exceeded", "after: not run"}},
		{"within", "disk: 64M\nsteps:\n" +
			"  - name: build\n    run: head -c 20000000 /dev/zero > out.bin && mkdir sub && cd sub && git init -q && echo hi > f && git add f && git -c user.name=T -c user.email=t@x commit -qm one\n" +
			"  - name: use\n    run: test -f x && test $(wc -c < out.bin) = 20000000 && git -C sub log --format=%s && git -C sub status --short && ls -a\n",
			store.CheckSuccess, "passed: 2 steps in ",
			[]string{"disk: 64 MiB", "$ test -f x", "\none\n"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ctx := context.Background()
			sid := e.series(1, "pass")[0]
			r := e.runner(Config{CheckFor: func(context.Context, int64) (*Definition, sandbox.Limits, error) {
				def, err := ParseDefinition([]byte(tc.yml))
				return def, sandbox.Limits{Wall: time.Minute}, err
			}})
			// Every temporary directory of the test: the store, the
			// repository, the worktree and whatever backs it.
			root := filepath.Dir(e.data)
			s := startSampling(t, root)
			r.Enqueue(ctx, sid)
			if n := drain(t, r, "t"); n != 1 {
				t.Fatalf("ran %d jobs", n)
			}
			peak, freeDrop := s.stop()
			t.Logf("host: the job's files took at most %d bytes (%.1f MiB) beyond the %d before; the file system's free space dropped by at most %.1f MiB (other processes included); budget %d MiB",
				peak, float64(peak)/(1<<20), s.base, float64(freeDrop)/(1<<20), budget>>20)
			if peak > budget {
				t.Errorf("the job took %d bytes of the host's disk, more than the budget of %d", peak, budget)
			}
			ch := e.checks(sid)[ContextCheck]
			if ch.State != tc.state || !strings.HasPrefix(ch.Description, tc.desc) {
				t.Errorf("check = %s %q, want %s %q...\n%s", ch.State, ch.Description, tc.state, tc.desc, ch.Log)
			}
			at := 0
			for _, want := range tc.log {
				i := strings.Index(ch.Log[at:], want)
				if i < 0 {
					t.Errorf("log lacks %q after offset %d:\n%s", want, at, ch.Log)
					break
				}
				at += i + len(want)
			}
			if strings.Contains(ch.Log, "\nnever\n") || strings.Contains(ch.Log, "\nwrote all\n") || strings.Contains(ch.Log, "lost+found") {
				t.Errorf("log:\n%s", ch.Log)
			}
		})
	}
}

// sampling measures, every few milliseconds, the bytes allocated to the
// files under a directory on its file system (du -x: what a loop-mounted
// file system holds is counted as its image file, once), beyond what
// they took at the start, and the drop of the file system's free space.
type sampling struct {
	base      int64
	mu        sync.Mutex
	peak      int64
	freeStart int64
	minFree   int64
	done      chan struct{}
	wg        sync.WaitGroup
}

func startSampling(t *testing.T, root string) *sampling {
	t.Helper()
	s := &sampling{done: make(chan struct{})}
	s.base = allocated(root)
	s.freeStart = free(root)
	s.minFree = s.freeStart
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			n, f := allocated(root)-s.base, free(root)
			s.mu.Lock()
			s.peak, s.minFree = max(s.peak, n), min(s.minFree, f)
			s.mu.Unlock()
			select {
			case <-s.done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *sampling) stop() (peak, freeDrop int64) {
	close(s.done)
	s.wg.Wait()
	return s.peak, s.freeStart - s.minFree
}

func allocated(root string) int64 {
	var st syscall.Stat_t
	if syscall.Lstat(root, &st) != nil {
		return 0
	}
	dev := st.Dev
	var n int64
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		var st syscall.Stat_t
		if syscall.Lstat(p, &st) != nil {
			return nil
		}
		if st.Dev != dev {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		n += st.Blocks * 512
		return nil
	})
	return n
}

func free(root string) int64 {
	var st syscall.Statfs_t
	if syscall.Statfs(root, &st) != nil {
		return 0
	}
	return int64(st.Bavail) * st.Bsize
}

// The budget is the server's, lowered (never raised) by the definition;
// a worktree larger than it fails the check before any step runs.
func TestRunDefinitionDiskBudget(t *testing.T) {
	cases := []struct {
		name         string
		server, asks int64
		file         int // bytes of a file in the worktree
		want         int64
		state, desc  string
		log          string
	}{
		{"default", 0, 0, 0, sandbox.DefaultLimits.Disk, store.CheckSuccess, "passed in", "disk: 2 GiB, "},
		{"lowered", 64 << 20, 32 << 20, 0, 32 << 20, store.CheckSuccess, "passed in", "disk: 32 MiB, "},
		{"not raised", 64 << 20, 1 << 30, 0, 64 << 20, store.CheckSuccess, "passed in", "disk: 1 GiB asked, the server's limit applies"},
		{"worktree too large", 0, 1 << 20, 3 << 20, 0, store.CheckFail, "disk budget of 1 MiB exceeded by the worktree before the check", "worktree larger than its disk budget"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			wt := t.TempDir()
			if tc.file > 0 {
				if err := os.WriteFile(filepath.Join(wt, "big"), make([]byte, tc.file), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var got int64
			fake := func(_ context.Context, spec sandbox.Spec) (*sandbox.Result, error) {
				if spec.Disk == nil || spec.Disk.Dir != wt {
					t.Errorf("spec.Disk = %+v", spec.Disk)
					return &sandbox.Result{}, nil
				}
				got = spec.Disk.Size
				return &sandbox.Result{}, nil
			}
			def := CommandDefinition("make", "test")
			def.Disk = tc.asks
			c, err := RunDefinition(context.Background(), fake, wt, def, sandbox.Limits{Disk: tc.server}, 8000)
			if err != nil {
				t.Fatalf("RunDefinition() = %v", err)
			}
			if got != tc.want || c.State != tc.state || !strings.HasPrefix(c.Description, tc.desc) || !strings.Contains(c.Log, tc.log) {
				t.Errorf("budget %d, check %s %q, want %d %s %q; log:\n%s", got, c.State, c.Description, tc.want, tc.state, tc.desc, c.Log)
			}
		})
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{100: "100 bytes", 1024: "1 KiB", 64 << 20: "64 MiB", 2 << 30: "2 GiB", 3 << 29: "1.5 GiB", 1 << 40: "1 TiB"} {
		if got := formatSize(n); got != want {
			t.Errorf("formatSize(%d) = %q, want %q", n, got, want)
		}
	}
}

// forgottenDisk mounts a Disk on a new worktree dir with a file in it,
// as a check does, and returns its image; the caller "forgets" it (a
// process killed mid-check). It skips (fails under CI=true) where a
// Disk cannot be mounted.
func forgottenDisk(t *testing.T, dir string) (image string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "README"), []byte("hello\n"), 0o644)
	d, err := sandbox.NewDisk(context.Background(), dir, 16<<20)
	if err != nil {
		t.Fatalf("NewDisk() = %v", err)
	}
	if !d.Mounted() {
		skipOrFail(t, "disk not mounted: "+d.Note)
	}
	// Unmounted at the end whatever the test did (a second unmount fails
	// harmlessly).
	t.Cleanup(func() { d.Close() })
	images, _ := filepath.Glob(filepath.Join(filepath.Dir(dir), "."+filepath.Base(dir)+".disk-*"))
	if len(images) != 1 {
		t.Fatalf("images beside %s: %v", dir, images)
	}
	return images[0]
}

// isMounted reports whether dir is a mount point, as
// /proc/self/mountinfo says.
func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && f[4] == real {
			return true
		}
	}
	return false
}

// syncBuffer is a log destination the runner's goroutines write to.
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

// TestRunnerCleansLeftDisks: when a Runner starts, the Disk a process
// killed mid-check left mounted in its work directory is unmounted and
// its image removed, and the log says so.
func TestRunnerCleansLeftDisks(t *testing.T) {
	e := newEnv(t)
	work := filepath.Join(t.TempDir(), "work")
	wt := filepath.Join(work, "dev-1")
	image := forgottenDisk(t, wt)
	var logs syncBuffer
	r := e.runner(Config{WorkDir: work, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for isMounted(t, wt) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	t.Logf("log:\n%s", logs.String())
	if isMounted(t, wt) {
		t.Fatalf("%s is still mounted", wt)
	}
	if _, err := os.Lstat(image); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the image %s is still there: %v", image, err)
	}
	for _, want := range []string{filepath.Base(wt), filepath.Base(image)} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log does not name %s", want)
		}
	}
}

// TestRemoteRunnerCleansLeftJobs: when a RemoteRunner starts, the job
// directory a runner killed mid-check left in its work directory is
// cleaned (the Disk unmounted, the image and the directory removed),
// while that of a runner still at work (it holds its lock) is left
// alone.
func TestRemoteRunnerCleansLeftJobs(t *testing.T) {
	work := t.TempDir()
	left := filepath.Join(work, jobPrefix+"left")
	live := filepath.Join(work, jobPrefix+"live")
	leftImage := forgottenDisk(t, filepath.Join(left, "wt"))
	liveImage := forgottenDisk(t, filepath.Join(live, "wt"))
	f, err := os.Open(live)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	// No server: the claim fails, after the cleaning.
	rr := &RemoteRunner{Server: "http://127.0.0.1:1", Token: "t", WorkDir: work, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	if ran, err := rr.RunOnce(context.Background()); ran || err == nil {
		t.Errorf("RunOnce() = %v, %v; want the claim refused", ran, err)
	}
	t.Logf("log:\n%s", logs.String())
	if isMounted(t, filepath.Join(left, "wt")) {
		t.Errorf("the left job's worktree is still mounted")
	}
	if _, err := os.Lstat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the left job's directory is still there: %v", err)
	}
	if !strings.Contains(logs.String(), filepath.Base(leftImage)) {
		t.Errorf("the log does not name %s", leftImage)
	}
	if !isMounted(t, filepath.Join(live, "wt")) {
		t.Errorf("the live job's worktree was unmounted")
	}
	if _, err := os.Lstat(liveImage); err != nil {
		t.Errorf("the live job's image: %v", err)
	}
	if strings.Contains(logs.String(), "live") {
		t.Errorf("the live job was touched")
	}
}
