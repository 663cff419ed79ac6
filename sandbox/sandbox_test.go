package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func need(t testing.TB) {
	t.Helper()
	if err := Check(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("sandbox unusable: %v", err)
		}
		t.Skipf("sandbox unusable: %v", err)
	}
}

func run(t *testing.T, dir, shell string, l Limits) *Result {
	t.Helper()
	if l.Wall == 0 {
		l.Wall = 30 * time.Second
	}
	r, err := Run(context.Background(), Spec{Dir: dir, Shell: shell, Limits: l})
	if err != nil {
		t.Fatalf("Run(%q): %v", shell, err)
	}
	t.Logf("%q: exit %d signal %q timedout %v total %d\n%s", shell, r.ExitCode, r.Signal, r.TimedOut, r.Total, r.Output)
	return r
}

func TestRunsInWorktree(t *testing.T) {
	need(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), []byte("hello\n"), 0o644)
	r := run(t, dir, `test -f x && cat x && echo made > y && pwd && env | sort`, Limits{})
	if !r.OK() || !bytes.Contains(r.Output, []byte("hello\n")) || !bytes.Contains(r.Output, []byte("/work\n")) {
		t.Fatalf("want success reading x in /work")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "y")); err != nil || string(b) != "made\n" {
		t.Errorf("write to the worktree: %q, %v", b, err)
	}
	// The host environment does not leak in.
	if bytes.Contains(r.Output, []byte("GOPATH")) || bytes.Contains(r.Output, []byte("USER=")) {
		t.Errorf("host environment visible")
	}
	if r := run(t, dir, `exit 3`, Limits{}); r.ExitCode != 3 || r.OK() {
		t.Errorf("exit 3 = %d", r.ExitCode)
	}
}

func TestNoNetwork(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	r := run(t, t.TempDir(), `bash -c 'exec 3<>/dev/tcp/1.1.1.1/80 && echo connected'`, Limits{Wall: 20 * time.Second})
	if r.OK() || bytes.Contains(r.Output, []byte("connected")) {
		t.Fatal("network reachable from the sandbox")
	}
	if !bytes.Contains(r.Output, []byte("unreachable")) {
		t.Errorf("want 'Network is unreachable'")
	}
	// The sandbox has its own loopback (bwrap brings lo up in the new
	// namespace): the host's services on 127.0.0.1 are not there.
	r = run(t, t.TempDir(), `bash -c 'exec 3<>/dev/tcp/127.0.0.1/22 && echo connected'`, Limits{Wall: 20 * time.Second})
	if r.OK() {
		t.Fatal("loopback reachable from the sandbox")
	}
	if r := run(t, t.TempDir(), `cat /sys/class/net/*/address 2>/dev/null; ls /sys/class/net 2>/dev/null | grep -v '^lo$'; true`, Limits{}); len(bytes.TrimSpace(r.Output)) > 0 && !bytes.Contains(r.Output, []byte("00:00:00:00:00:00")) {
		t.Errorf("network interfaces visible: %s", r.Output)
	}
}

func TestHostFilesHidden(t *testing.T) {
	need(t)
	secretDir := t.TempDir()
	secret := filepath.Join(secretDir, "secret")
	os.WriteFile(secret, []byte("TOPSECRET\n"), 0o644)
	os.Chmod(secretDir, 0o755)
	wt := t.TempDir()
	r := run(t, wt, "cat "+secret+"; ls "+filepath.Dir(secretDir)+"; cat /etc/passwd >/dev/null && echo passwd-ok; cat /etc/hostname /etc/shadow /root/.bashrc; ls /home; true", Limits{})
	if bytes.Contains(r.Output, []byte("TOPSECRET")) {
		t.Fatal("host file readable from the sandbox")
	}
	if !bytes.Contains(r.Output, []byte("passwd-ok")) {
		t.Errorf("/etc/passwd not readable")
	}
	// Writing anywhere but the worktree fails (or lands in a throwaway tmpfs).
	outside := filepath.Join(secretDir, "planted")
	r = run(t, wt, "echo x > "+outside+"; echo x > /usr/planted; echo x > /etc/planted; echo x > /planted; echo x > /tmp/ok && echo tmp-ok", Limits{})
	if !bytes.Contains(r.Output, []byte("tmp-ok")) {
		t.Errorf("/tmp not writable")
	}
	for _, p := range []string{outside, "/usr/planted", "/etc/planted", "/planted"} {
		if _, err := os.Stat(p); err == nil {
			os.Remove(p)
			t.Errorf("sandbox wrote %s on the host", p)
		}
	}
}

func TestForkBomb(t *testing.T) {
	need(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("no bash")
	}
	r := run(t, t.TempDir(), `bash -c ':(){ :|:& };:' 2>&1 | tail -c 300; sleep 60`, Limits{Procs: 64, Wall: 5 * time.Second})
	if r.OK() || !r.TimedOut {
		t.Fatalf("fork bomb not stopped by the wall time: %+v", r)
	}
	// The host still forks, and nothing of the bomb is left running.
	time.Sleep(500 * time.Millisecond)
	out, err := exec.Command("sh", "-c", "echo alive; ps -eo user:20,comm | awk '$2==\"bash\" && $1==\"nobody\"' | wc -l").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "alive\n") {
		t.Fatalf("host after the bomb: %s %v", out, err)
	}
	if n := strings.TrimSpace(strings.TrimPrefix(string(out), "alive\n")); n != "0" {
		t.Errorf("%s bomb processes left on the host", n)
	}
	// The limits are in force in the sandbox.
	r = run(t, t.TempDir(), `bash -c 'echo "u=$(ulimit -u) v=$(ulimit -v) t=$(ulimit -t) c=$(ulimit -c)"'; id -u`, Limits{Procs: 32, Memory: 1 << 30, CPU: 7 * time.Second})
	if !bytes.Contains(r.Output, []byte("u=32 v=1048576 t=7 c=0\n")) {
		t.Errorf("limits not set")
	}
	if os.Geteuid() == 0 && bytes.HasSuffix(r.Output, []byte("\n0\n")) {
		t.Errorf("the sandbox runs as root, where RLIMIT_NPROC does not apply")
	}
}

func TestMemoryHog(t *testing.T) {
	need(t)
	// tail keeps its last ten lines in memory: one 2 GiB line.
	r := run(t, t.TempDir(), `bash -c 'set -o pipefail; head -c 2G /dev/zero | tail >/dev/null'`, Limits{Memory: 256 << 20, Wall: 60 * time.Second})
	if r.OK() || r.TimedOut {
		t.Fatalf("memory hog not stopped by the address-space limit")
	}
	if _, err := exec.LookPath("python3"); err == nil {
		r := run(t, t.TempDir(), `python3 -c 'b = bytearray(1 << 31); print("allocated")'`, Limits{Memory: 256 << 20, Wall: 60 * time.Second})
		if r.OK() || bytes.Contains(r.Output, []byte("allocated")) {
			t.Fatalf("python allocated 2 GiB under a 256 MiB limit")
		}
	}
	r = run(t, t.TempDir(), `head -c 2G /dev/zero | tail | wc -c`, Limits{Memory: 256 << 20, Wall: 60 * time.Second})
	if bytes.Contains(r.Output, []byte("2147483648")) {
		t.Fatalf("tail buffered 2 GiB under a 256 MiB limit")
	}
}

func TestOutputCapped(t *testing.T) {
	need(t)
	r := run(t, t.TempDir(), `seq 1 100000; echo THE-END`, Limits{Output: 1000})
	if !r.OK() || !r.Truncated || len(r.Output) != 1000 || !bytes.HasSuffix(r.Output, []byte("THE-END\n")) || r.Total < 500000 {
		t.Fatalf("cap: ok %v truncated %v len %d total %d", r.OK(), r.Truncated, len(r.Output), r.Total)
	}
}

func TestWallTime(t *testing.T) {
	need(t)
	start := time.Now()
	r := run(t, t.TempDir(), `echo started; sleep 600`, Limits{Wall: 2 * time.Second})
	if !r.TimedOut || r.OK() || !bytes.Contains(r.Output, []byte("started")) {
		t.Fatalf("wall time: %+v", r)
	}
	if time.Since(start) > 30*time.Second {
		t.Fatalf("wall-time kill took %v", time.Since(start))
	}
}

func TestTail(t *testing.T) {
	tl := newTail(4)
	tl.Write([]byte("ab"))
	tl.Write([]byte("cdefgh"))
	tl.Write([]byte("i"))
	if b, n := tl.bytes(); string(b) != "fghi" || n != 9 {
		t.Fatalf("tail = %q %d", b, n)
	}
}

func TestCallerCancel(t *testing.T) {
	need(t)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(300 * time.Millisecond); cancel() }()
	r, err := Run(ctx, Spec{Dir: t.TempDir(), Shell: "sleep 600", Limits: Limits{Wall: time.Minute}})
	if !errors.Is(err, context.Canceled) || r == nil || r.TimedOut {
		t.Fatalf("cancel = %+v, %v", r, err)
	}
}

func TestCPUAndFileSizeLimits(t *testing.T) {
	need(t)
	r := run(t, t.TempDir(), `while :; do :; done`, Limits{CPU: time.Second, Wall: 60 * time.Second})
	if r.OK() || r.TimedOut || r.Signal == "" {
		t.Errorf("CPU limit: want a signal before the wall time")
	}
	dir := t.TempDir()
	r = run(t, dir, `head -c 10000000 /dev/zero > big`, Limits{FileSize: 1 << 20})
	if r.OK() {
		t.Errorf("file size limit: wrote 10 MB under 1 MiB")
	}
	if fi, err := os.Stat(filepath.Join(dir, "big")); err == nil && fi.Size() > 1<<20 {
		t.Errorf("big is %d bytes", fi.Size())
	}
}
