package ci

import (
	"context"
	"io/fs"
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
