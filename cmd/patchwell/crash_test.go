package main

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestCrashKeepsAcknowledgedMail kills the server with SIGKILL in the
// middle of a 16-client SMTP run: after a restart every message that got a
// 250 is there byte for byte, and the store passes its integrity check.
func TestCrashKeepsAcknowledgedMail(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data)

	const clients, perClient = 16, 400
	var (
		mu    sync.Mutex
		acked = map[string]string{} // message-id -> stored form
		count atomic.Int64
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	for c := 0; c < clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			for i := 0; i < perClient; i++ {
				select {
				case <-killed:
					return
				default:
				}
				id := fmt.Sprintf("crash-%d-%d@example.org", c, i)
				msg := fmt.Sprintf("From: Client %d <c%d@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: message %d of client %d\r\nMessage-ID: <%s>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\nbody %d\r\n.dot line\r\nend\r\n", c, c, i, c, id, i)
				if err := smtpSend(srv.smtp, fmt.Sprintf("c%d@example.org", c), []string{"dev@patchwell.localhost"}, msg); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked[id] = strings.ReplaceAll(msg, "\r\n", "\n")
				mu.Unlock()
				count.Add(1)
			}
		}(c)
	}
	deadline := time.Now().Add(60 * time.Second)
	for count.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := srv.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	srv.cmd.Wait()
	close(killed)
	wg.Wait()
	if len(acked) < 300 {
		t.Fatalf("only %d messages acknowledged before the kill", len(acked))
	}
	t.Logf("%d messages acknowledged before SIGKILL", len(acked))

	srv2 := startServer(t, data)
	for id, want := range acked {
		resp, err := http.Get("http://" + srv2.http + "/dev/" + url.PathEscape(id) + "/raw")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(got) != want {
			t.Fatalf("acknowledged message %s: status %d, got %q want %q", id, resp.StatusCode, got, want)
		}
	}
	srv2.stop()
	out, err := exec.Command(binary, "check", "--data", data).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("check after crash: %v: %s", err, out)
	}
}
