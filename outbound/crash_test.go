package outbound

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"patchwell/store"
)

// The crash test runs the worker in a child process: this test binary
// again, with these variables set.
const (
	envChildData = "PATCHWELL_OUTBOUND_CHILD_DATA"
	envChildHost = "PATCHWELL_OUTBOUND_CHILD_SMARTHOST"
)

// TestCrashResume: a fan-out of one post to 1,000 recipients is killed
// (SIGKILL) by the smarthost while it holds the 300th message, before
// answering it; a second worker over the same database finishes the job.
// Every recipient has exactly one copy the smarthost acknowledged.
func TestCrashResume(t *testing.T) {
	if dir := os.Getenv(envChildData); dir != "" {
		crashChild(t, dir, os.Getenv(envChildHost))
		return
	}
	if testing.Short() {
		t.Skip("spawns two worker processes")
	}
	const total, killAt = 1000, 300
	dir := t.TempDir()
	rcpts := make([]string, total)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("sub%04d@example.net", i)
	}
	st, box := queue(t, dir, time.Now(), rcpts)
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}

	var child atomic.Int64 // pid of the worker to kill
	var killed atomic.Bool // the first worker was killed
	var unanswered sunk    // the message held when it was
	s := newSink(t, func(s *sink) {
		s.dataHook = func(seq int, m sunk) error {
			if seq != killAt {
				return nil
			}
			pid := child.Load()
			if pid == 0 {
				return fmt.Errorf("no child to kill")
			}
			unanswered = m
			// Marked first: the parent's Wait may return before Kill does.
			killed.Store(true)
			syscall.Kill(int(pid), syscall.SIGKILL)
			return fmt.Errorf("killed the client") // never reaches it
		}
	})
	run := func() error {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashResume$", "-test.v")
		cmd.Env = append(os.Environ(), envChildData+"="+dir, envChildHost+"="+s.addr)
		out := &prefixWriter{t: t}
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start worker: %v", err)
		}
		child.Store(int64(cmd.Process.Pid))
		err := cmd.Wait()
		child.Store(0)
		return err
	}
	err := run()
	if !killed.Load() {
		t.Fatalf("first worker ended (%v) without being killed", err)
	}
	if ws, ok := exitStatus(err); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("first worker: %v, want killed by SIGKILL", err)
	}
	if n := len(s.messages()); n != killAt-1 {
		t.Fatalf("acknowledged before the kill = %d, want %d", n, killAt-1)
	}
	if err := run(); err != nil {
		t.Fatalf("second worker: %v", err)
	}

	count := map[string]int{}
	for _, m := range s.messages() {
		count[m.Rcpt]++
	}
	for _, r := range rcpts {
		if count[r] != 1 {
			t.Errorf("%s got %d acknowledged copies, want 1", r, count[r])
		}
	}
	if len(count) != total {
		t.Errorf("acknowledged copies went to %d addresses, want %d", len(count), total)
	}
	if count[unanswered.Rcpt] != 1 {
		t.Errorf("the message unanswered at the kill (to %q) was not sent again once", unanswered.Rcpt)
	}
	st, err = store.Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	ds, err := st.Deliveries(context.Background(), box)
	if err != nil {
		t.Fatalf("Deliveries() = %v", err)
	}
	for _, d := range ds {
		if d.State != store.DeliverySent {
			t.Errorf("delivery to %s is %s", d.Rcpt, d.State)
		}
	}
	t.Logf("%d data commands, %d acknowledged, one killed", s.dataCount(), len(s.messages()))
}

// crashChild is the worker process of TestCrashResume: it drains the
// queue in dir and exits.
func crashChild(t *testing.T, dir, smarthost string) {
	ctx := context.Background()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open() = %v", err)
	}
	defer st.Close()
	w, err := New(st, Config{Smarthost: smarthost, Domain: "lists.test", WebURL: "https://review.test", Secret: testSecret}, testLogger(t))
	if err != nil {
		t.Fatalf("New() = %v", err)
	}
	n, err := w.Drain(ctx)
	if err != nil {
		t.Fatalf("Drain() = %d, %v", n, err)
	}
	t.Logf("child delivered %d", n)
}

func exitStatus(err error) (syscall.WaitStatus, bool) {
	ee, ok := err.(*exec.ExitError)
	if !ok {
		return 0, false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ws, ok
}

// prefixWriter passes a child's output to t.Log.
type prefixWriter struct{ t *testing.T }

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.t.Logf("child: %s", b)
	return len(b), nil
}
