package main

import (
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestDrain: on SIGTERM with --drain-delay, /healthz and /readyz answer
// 503 at once while the node still serves (a message sent then is
// stored, pages answer; /livez stays 200), then it shuts down and exits
// 0.
func TestDrain(t *testing.T) {
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false", "--drain-delay", "3s", "--drain-timeout", "5s")
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + srv.http + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, p := range []string{"/healthz", "/readyz", "/livez"} {
		if code, body := get(p); code != 200 {
			t.Errorf("%s before SIGTERM: %d %s", p, code, body)
		}
	}
	start := time.Now()
	srv.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(2 * time.Second)
	for {
		code, body := get("/readyz")
		if code == 503 && strings.Contains(body, "draining") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz after SIGTERM: %d %q, want 503 draining", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := get("/healthz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("/healthz while draining: %d %q", code, body)
	}
	if code, _ := get("/livez"); code != 200 {
		t.Errorf("/livez while draining: %d", code)
	}
	if code, _ := get("/dev/"); code != 200 {
		t.Errorf("a page while draining: %d", code)
	}
	msg := "From: A <a@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: sent while draining\r\nMessage-ID: <drain@example.org>\r\n\r\nbody\r\n"
	if err := smtpSend(srv.smtp, "a@example.org", []string{"dev@patchwell.localhost"}, msg); err != nil {
		t.Errorf("SMTP while draining: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, srv.logText())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15 s after SIGTERM")
	}
	if d := time.Since(start); d < 3*time.Second {
		t.Errorf("exited %v after SIGTERM, before --drain-delay 3s", d)
	}
	if out, _, _ := cli(t, nil, "list", "ls", "--data", data); !strings.Contains(out, "1 messages") {
		t.Errorf("the message sent while draining was not stored: %s", out)
	}
}
