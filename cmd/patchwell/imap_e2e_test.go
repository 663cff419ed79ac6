package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// idleScript idles on the list dev and prints, as JSON lines, the time
// each EXISTS arrives; it stops at the count given.
const idleScript = `
import imaplib, json, socket, sys, time
host, port, want = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
M = imaplib.IMAP4(host, port)
M.login("anonymous", "x")
typ, data = M.select("dev", readonly=True)
assert typ == "OK", data
tag = M._new_tag().decode()
M.send(("%s IDLE\r\n" % tag).encode())
line = M.readline()
assert line.startswith(b"+"), line
print(json.dumps({"ready": True}), flush=True)
M.sock.settimeout(60)
while True:
    line = M.readline().decode().strip()
    if line.endswith("EXISTS"):
        n = int(line.split()[1])
        print(json.dumps({"exists": n, "at": time.time()}), flush=True)
        if n >= want:
            break
M.send(b"DONE\r\n")
print(json.dumps({"done": M.readline().decode().strip()}), flush=True)
`

// TestIMAPIdleSendEmail: a client idling on the list over IMAP hears of a
// series within a second of git send-email delivering it.
func TestIMAPIdleSendEmail(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "python3", "-c", "import imaplib")
	imapAddr := freePort(t)
	srv := startServer(t, t.TempDir(), "--imap", imapAddr)
	repo := makeRepo(t)
	lines := startIdle(t, imapAddr, 4)

	dir := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", dir, "HEAD~3")
	fillCover(t, dir, "Idle wake-up")
	sendEmail(t, repo, srv.smtp, dir)
	delivered := float64(time.Now().UnixNano()) / 1e9

	waitExists(t, lines, 4, delivered, "git send-email")
	m := <-lines
	if done, _ := m["done"].(string); !strings.Contains(done, "OK") {
		t.Errorf("IDLE did not end with OK: %v", m)
	}
}

// startIdle starts a Python imaplib client idling on the list dev until
// it has heard of want messages; its JSON lines come on the channel, the
// first one ({"ready": true}) already read.
func startIdle(t *testing.T, imapAddr string, want int) <-chan map[string]any {
	t.Helper()
	script := filepath.Join(t.TempDir(), "idle.py")
	if err := os.WriteFile(script, []byte(idleScript), 0o644); err != nil {
		t.Fatal(err)
	}
	host, port, _ := strings.Cut(imapAddr, ":")
	py := exec.Command("python3", script, host, port, strconv.Itoa(want))
	py.Stderr = os.Stderr
	out, err := py.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := py.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { py.Process.Kill(); py.Wait() })
	lines := make(chan map[string]any, 16)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				lines <- m
			}
		}
		close(lines)
	}()
	select {
	case m := <-lines:
		if m["ready"] != true {
			t.Fatalf("idle client: %v", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("idle client did not start")
	}

	return lines
}

// TestIMAPIdleImport: mail committed by another process (patchwell import
// beside the running server) reaches an idling client within a second,
// through the watcher's poll.
func TestIMAPIdleImport(t *testing.T) {
	needTool(t, "python3", "-c", "import imaplib")
	imapAddr := freePort(t)
	data := t.TempDir()
	startServer(t, data, "--imap", imapAddr)
	lines := startIdle(t, imapAddr, 3)
	mbox := filepath.Join(t.TempDir(), "in.mbox")
	var b strings.Builder
	for i := 1; i <= 3; i++ {
		fmt.Fprintf(&b, "From x@y Thu Jan  1 00:00:00 1970\nFrom: A <a@example.org>\nSubject: imported %d\nMessage-ID: <imp%d@example.org>\nDate: Mon, 1 Jan 2024 00:00:0%d +0000\n\nhello %d\n\n", i, i, i, i)
	}
	if err := os.WriteFile(mbox, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, data, binary, "import", "--data", data, "--list", "dev", mbox)
	imported := float64(time.Now().UnixNano()) / 1e9
	waitExists(t, lines, 3, imported, "patchwell import")
}

// waitExists reads the idle client's lines until it heard of want
// messages, and checks the last came within a second of since (unix
// seconds), when what returned.
func waitExists(t *testing.T, lines <-chan map[string]any, want float64, since float64, what string) {
	t.Helper()
	var n, last float64
	timeout := time.After(10 * time.Second)
	for n < want {
		select {
		case m, ok := <-lines:
			if !ok {
				t.Fatalf("idle client ended after %v EXISTS", n)
			}
			n, _ = m["exists"].(float64)
			last, _ = m["at"].(float64)
		case <-timeout:
			t.Fatalf("only %v of %v messages announced 10 s after %s", n, want, what)
		}
	}
	if lag := last - since; lag > 1 {
		t.Errorf("EXISTS %v came %.2f s after %s returned, want < 1 s", want, lag, what)
	} else {
		t.Logf("EXISTS %v came %.3f s after %s returned", want, lag, what)
	}
}
