package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestSocketActivationRestart restarts a node twice under systemd-style
// socket activation (the test holds the SMTP and HTTP sockets, as
// systemd does, and passes them with LISTEN_FDS and LISTEN_FDNAMES)
// while clients send mail and fetch pages without pause: no connection
// is refused, no HTTP request fails, every message that got its 250 is
// stored once, and what SMTP clients see of a restart is at most a 421
// before MAIL.
func TestSocketActivationRestart(t *testing.T) {
	e2eBackend(t)
	data := t.TempDir()
	var files []*os.File
	var addrs []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		f, err := l.(*net.TCPListener).File()
		if err != nil {
			t.Fatal(err)
		}
		l.Close() // f keeps the socket, as systemd's does
		files = append(files, f)
		addrs = append(addrs, l.Addr().String())
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	smtpAddr, httpAddr := addrs[0], addrs[1]
	var log syncBuffer
	start := func() *exec.Cmd {
		t.Helper()
		// LISTEN_PID is the server's own pid: a shell sets it, then
		// execs the server in its place.
		cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, binary, "serve", "--data", data,
			"--smtp", "", "--http", "", "--imap", "", "--mail-auth=false", "--ci=false", "--drain-timeout", "10s")
		cmd.Env = append(os.Environ(), "LISTEN_FDS=2", "LISTEN_FDNAMES=smtp:http")
		cmd.ExtraFiles = files
		cmd.Stdout, cmd.Stderr = &log, &log
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	node := start()
	defer func() {
		if node.ProcessState == nil {
			node.Process.Signal(syscall.SIGTERM)
			node.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", log.String())
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + httpAddr + "/healthz")
		if err == nil && resp.StatusCode == 200 {
			resp.Body.Close()
			break
		}
		if err == nil {
			resp.Body.Close()
		}
		if time.Now().After(deadline) {
			t.Fatalf("the socket-activated server did not come up")
		}
		time.Sleep(50 * time.Millisecond)
	}

	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var accepted []string
	var retry, smtpFailed, httpOK, httpFailed int
	var failures []string
	// Two senders: each message on its own connection.
	for s := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				id := fmt.Sprintf("sa-%d-%d@example.org", s, i)
				msg := "From: A <a@example.org>\r\nTo: dev@patchwell.localhost\r\nSubject: load " + id +
					"\r\nMessage-ID: <" + id + ">\r\n\r\nbody\r\n"
				err := smtpSend(smtpAddr, "a@example.org", []string{"dev@patchwell.localhost"}, msg)
				mu.Lock()
				switch {
				case err == nil || strings.Contains(err.Error(), `after "QUIT"`):
					// DATA's 250 came: the message is the server's.
					accepted = append(accepted, id)
				case beforeMail421(err):
					retry++
				default:
					smtpFailed++
					failures = append(failures, "smtp: "+err.Error())
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(20 * time.Millisecond)
				}
			}
		}()
	}
	// A reader of pages.
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 30 * time.Second}
		for !stop.Load() {
			resp, err := client.Get("http://" + httpAddr + "/dev/")
			ok := err == nil && resp.StatusCode == 200
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			mu.Lock()
			if ok {
				httpOK++
			} else {
				httpFailed++
				if err != nil {
					failures = append(failures, "http: "+err.Error())
				} else {
					failures = append(failures, fmt.Sprintf("http: %d", resp.StatusCode))
				}
			}
			mu.Unlock()
		}
	}()

	for round := range 2 {
		time.Sleep(700 * time.Millisecond)
		node.Process.Signal(syscall.SIGTERM)
		if err := node.Wait(); err != nil {
			t.Fatalf("round %d: exit: %v", round, err)
		}
		node = start()
	}
	time.Sleep(700 * time.Millisecond)
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	t.Logf("SMTP: %d accepted, %d answered 421 (retry), %d failed; HTTP: %d ok, %d failed", len(accepted), retry, smtpFailed, httpOK, httpFailed)
	if smtpFailed > 0 || httpFailed > 0 {
		t.Errorf("failures across restarts: %q", failures)
	}
	if len(accepted) < 10 || httpOK < 10 {
		t.Fatalf("too little load to say anything: %d messages, %d pages", len(accepted), httpOK)
	}
	// Every message acknowledged is stored, once.
	var list struct {
		Messages int `json:"messages"`
	}
	resp, err := http.Get("http://" + httpAddr + "/api/v1/lists/dev")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := json.Unmarshal(body, &list); err != nil || list.Messages != len(accepted) {
		t.Errorf("list dev holds %d messages (%v), %d were acknowledged: %s", list.Messages, err, len(accepted), body)
	}
	for _, id := range accepted[:3] {
		resp, err := http.Get("http://" + httpAddr + "/dev/" + id + "/raw")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("message %s: %v %v", id, err, resp.StatusCode)
		}
		if resp != nil {
			resp.Body.Close()
		}
	}
}

// beforeMail421 reports whether an smtpSend error is a 421 answered to
// the greeting, EHLO or MAIL: a retryable refusal before the transaction.
func beforeMail421(err error) bool {
	e := err.Error()
	if !strings.Contains(e, `"421`) {
		return false
	}
	return !strings.Contains(e, "after ") || strings.Contains(e, `after ""`) ||
		strings.Contains(e, `after "EHLO`) || strings.Contains(e, `after "MAIL`)
}

// TestSocketActivationBadName: a socket passed under a name serve does
// not serve is refused at start, naming it (exit 2).
func TestSocketActivationBadName(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f, _ := l.(*net.TCPListener).File()
	l.Close()
	defer f.Close()
	cmd := exec.Command("sh", "-c", `LISTEN_PID=$$ exec "$0" "$@"`, binary, "serve", "--data", t.TempDir(), "--smtp", "", "--http", "", "--imap", "")
	cmd.Env = append(os.Environ(), "LISTEN_FDS=1", "LISTEN_FDNAMES=smpt")
	cmd.ExtraFiles = []*os.File{f}
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 || !strings.Contains(string(out), `socket activation: a socket named "smpt"`) {
		t.Errorf("serve with a socket named smpt: %v\n%s", err, out)
	}
}
