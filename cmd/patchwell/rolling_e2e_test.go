package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestRollingRestartHAProxy runs HAProxy (Debian's) in front of two
// serve nodes on one PostgreSQL database. While bench/smtpload sends
// over SMTP through HAProxy (as an MTA: it dials again and resends after
// a refusal) and a client fetches pages through it, each node is
// restarted in turn with SIGTERM, twice: every message that got its 250
// is stored exactly once, no HTTP request fails, and no SMTP transaction
// fails once it has had its MAIL (what senders see is at most a
// retryable refusal before MAIL).
func TestRollingRestartHAProxy(t *testing.T) {
	needTool(t, "haproxy", "-v")
	db := pgtest.URL(t)
	loader := filepath.Join(t.TempDir(), "smtpload")
	if out, err := exec.Command("go", "build", "-o", loader, "../../bench/smtpload").CombinedOutput(); err != nil {
		t.Fatalf("build smtpload: %v\n%s", err, out)
	}
	drain := []string{"--db", db, "--ci=false", "--drain-delay", "2s", "--drain-timeout", "10s"}
	nodes := []*testServer{startServer(t, t.TempDir(), drain...), startServer(t, t.TempDir(), drain...)}
	smtpFront, httpFront := freePort(t), freePort(t)
	var conf strings.Builder
	fmt.Fprintf(&conf, `global
    maxconn 2000
defaults
    timeout connect 2s
    # A check slower than this counts as failed: generous, since one
    # slow answer on a loaded machine must not take a live node out.
    timeout check 2s
    timeout client 1m
    timeout server 1m
    retries 3
    option redispatch
frontend smtp
    mode tcp
    bind %s
    default_backend smtp_nodes
backend smtp_nodes
    mode tcp
    balance leastconn
    option httpchk GET /readyz
frontend web
    mode http
    bind %s
    default_backend web_nodes
backend web_nodes
    mode http
    balance roundrobin
    option httpchk GET /readyz
    retry-on conn-failure empty-response response-timeout
`, smtpFront, httpFront)
	for i, n := range nodes {
		fmt.Fprintf(&conf, "    server n%d %s check inter 300ms fall 2 rise 2\n", i, n.http)
	}
	// The SMTP servers' health is their node's /readyz, which turns 503
	// the moment the node starts to drain.
	smtpServers := ""
	for i, n := range nodes {
		smtpServers += fmt.Sprintf("    server n%d %s check port %s inter 300ms fall 2 rise 2\n", i, n.smtp, portOf(n.http))
	}
	text := strings.Replace(conf.String(), "    option httpchk GET /readyz\nfrontend web", "    option httpchk GET /readyz\n"+smtpServers+"frontend web", 1)
	cfgFile := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(cfgFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	var hlog bytes.Buffer
	hap := exec.Command("haproxy", "-db", "-f", cfgFile)
	hap.Stdout, hap.Stderr = &hlog, &hlog
	if err := hap.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		hap.Process.Kill()
		hap.Wait()
		if t.Failed() {
			t.Logf("haproxy:\n%s\nconfig:\n%s", hlog.String(), text)
		}
	}()
	waitHTTP(t, "http://"+httpFront+"/readyz", 10*time.Second)

	// The load: smtpload through HAProxy, and a page reader.
	acked := filepath.Join(t.TempDir(), "acked")
	var loadOut bytes.Buffer
	load := exec.Command(loader, "-addr", smtpFront, "-clients", "4", "-n", "1000000", "-duration", "20s", "-retry", "-acked", acked)
	load.Stdout, load.Stderr = &loadOut, &loadOut
	if err := load.Start(); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var pages, pageFailures atomic.Int64
	var failMu sync.Mutex
	var failed []string
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 20 * time.Second}
			for !stop.Load() {
				resp, err := client.Get("http://" + httpFront + "/dev/")
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != 200 {
					pageFailures.Add(1)
					failMu.Lock()
					if err != nil {
						failed = append(failed, err.Error())
					} else {
						failed = append(failed, resp.Status)
					}
					failMu.Unlock()
				} else {
					pages.Add(1)
				}
			}
		}()
	}

	time.Sleep(2 * time.Second)
	var restarts []string
	for round := range 2 {
		for i, n := range nodes {
			t0 := time.Now()
			n.cmd.Process.Signal(syscall.SIGTERM)
			if err := n.cmd.Wait(); err != nil {
				t.Fatalf("round %d node %d: exit %v\n%s", round, i, err, n.logText())
			}
			down := time.Since(t0)
			n.cmd = exec.Command(binary, n.args...)
			n.cmd.Stdout, n.cmd.Stderr = n, n
			if err := n.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			waitHTTP(t, "http://"+n.http+"/readyz", 20*time.Second)
			restarts = append(restarts, fmt.Sprintf("node %d: drained and exited in %v, ready again %v after SIGTERM",
				i, down.Round(time.Millisecond), time.Since(t0).Round(time.Millisecond)))
			time.Sleep(1500 * time.Millisecond) // HAProxy's rise 2 × 300 ms, and some traffic
		}
	}
	if err := load.Wait(); err != nil {
		t.Fatalf("smtpload: %v\n%s", err, loadOut.String())
	}
	stop.Store(true)
	wg.Wait()
	t.Logf("restarts:\n  %s", strings.Join(restarts, "\n  "))
	t.Logf("smtpload through HAProxy:\n%s", loadOut.String())
	t.Logf("pages through HAProxy: %d ok, %d failed", pages.Load(), pageFailures.Load())
	if pageFailures.Load() > 0 {
		t.Errorf("HTTP requests failed across the restarts: %q", failed)
	}
	if !strings.Contains(loadOut.String(), " before MAIL (") || !strings.Contains(loadOut.String(), ", 0 after MAIL") {
		t.Errorf("SMTP transactions failed after MAIL:\n%s", loadOut.String())
	}

	// Every acknowledged message is stored, once.
	f, err := os.Open(acked)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want := map[string]bool{}
	for sc := bufio.NewScanner(f); sc.Scan(); {
		if id := strings.TrimSpace(sc.Text()); id != "" {
			want[id] = true
		}
	}
	if len(want) < 50 {
		t.Fatalf("only %d messages acknowledged: too little load to say anything", len(want))
	}
	ctx := context.Background()
	st, err := store.OpenPostgres(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := map[string]int{}
	if err := st.Scan(ctx, "dev", func(m *store.Message) error { seen[m.MessageID]++; return nil }); err != nil {
		t.Fatal(err)
	}
	missing, twice := 0, 0
	for id := range want {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			twice++
		}
	}
	t.Logf("%d messages acknowledged, %d stored", len(want), len(seen))
	if missing > 0 || twice > 0 {
		t.Errorf("of %d acknowledged messages, %d are not stored and %d are stored more than once", len(want), missing, twice)
	}
}

// waitHTTP waits for url to answer 200.
func waitHTTP(t *testing.T, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not answer 200 within %v (%v)", url, within, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func portOf(addr string) string {
	_, port, _ := strings.Cut(addr, ":")
	return port
}
