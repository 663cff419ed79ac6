package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/smtp"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"patchwell/store"
	"patchwell/store/pgtest"
)

// sendEach sends each message (LF line endings; net/smtp writes CRLF)
// from ada@example.org to dev@patchwell.localhost on one connection.
func sendEach(t *testing.T, addr string, msgs ...string) {
	t.Helper()
	if err := sendAll(addr, msgs...); err != nil {
		t.Fatal(err)
	}
}

func sendAll(addr string, msgs ...string) error {
	c, err := smtp.Dial(addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer c.Close()
	for i, m := range msgs {
		if err := c.Mail("ada@example.org"); err != nil {
			return fmt.Errorf("message %d: MAIL: %w", i, err)
		}
		if err := c.Rcpt("dev@" + defaultDomain); err != nil {
			return fmt.Errorf("message %d: RCPT: %w", i, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("message %d: DATA: %w", i, err)
		}
		io.WriteString(w, m)
		if err := w.Close(); err != nil {
			return fmt.Errorf("message %d: end of DATA: %w", i, err)
		}
	}
	return c.Quit()
}

// smtpRaw sends lines as they are and returns the reply to the final
// dot: for a message net/smtp would repair (a bare CR).
func smtpRaw(t *testing.T, addr, data string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	reply := func() string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read reply: %v", err)
			}
			if len(line) < 4 || line[3] != '-' {
				return strings.TrimSpace(line)
			}
		}
	}
	reply()
	for _, cmd := range []string{"EHLO test", "MAIL FROM:<ada@example.org>", "RCPT TO:<dev@" + defaultDomain + ">", "DATA"} {
		fmt.Fprintf(c, "%s\r\n", cmd)
		reply()
	}
	io.WriteString(c, data+"\r\n.\r\n")
	return reply()
}

// scrapeMetrics GETs url and parses Prometheus' text format.
func scrapeMetrics(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %d", url, resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// sample is the value (a histogram's count) of the series of family name
// with these labels; -1 when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.Metric {
		have := map[string]string{}
		for _, l := range m.Label {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsE2E delivers over SMTP, reads over HTTP and IMAP, and finds
// each counted on /metrics, which the public web listener does not serve.
func TestMetricsE2E(t *testing.T) {
	metricsAddr, imapAddr := freePort(t), freePort(t)
	s := startServer(t, t.TempDir(), "--metrics", metricsAddr, "--imap", imapAddr)
	murl := "http://" + metricsAddr + "/metrics"
	before := scrapeMetrics(t, murl)
	if got := sample(before, "patchwell_ingest_replies_total", "proto", "smtp", "result", "accepted"); got != 0 {
		t.Fatalf("accepted before any mail = %v, want 0", got)
	}

	m1 := "From: Ada <ada@example.org>\nSubject: metrics one\nMessage-ID: <metrics1@example.org>\n\nhello\n"
	m2 := "From: Ada <ada@example.org>\nSubject: no id\n\nthis one has no Message-ID\n"
	sendEach(t, s.smtp, m1, m1, m2) // the second is a duplicate
	if r := smtpRaw(t, s.smtp, "Subject: bare\r\n\r\nbare\rCR"); !strings.HasPrefix(r, "550 5.6.2") {
		t.Fatalf("bare CR: %q, want 550 5.6.2", r)
	}
	if code := s.getJSON("/api/v1/lists/dev/series", nil); code != 200 {
		t.Fatalf("GET series = %d", code)
	}
	c, err := imapclient.DialInsecure(imapAddr, nil)
	if err != nil {
		t.Fatalf("imap: %v", err)
	}
	if err := c.Login("anonymous", "x").Wait(); err != nil {
		t.Fatalf("LOGIN: %v", err)
	}
	sel, err := c.Select("dev", nil).Wait()
	if err != nil || sel.NumMessages != 2 {
		t.Fatalf("SELECT dev = %+v, %v; want 2 messages", sel, err)
	}
	c.Logout().Wait()
	c.Close()

	fams := scrapeMetrics(t, murl)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"patchwell_ingest_replies_total", []string{"proto", "smtp", "result", "accepted"}, 3},
		{"patchwell_ingest_replies_total", []string{"proto", "smtp", "result", "rejected"}, 1},
		{"patchwell_ingest_replies_total", []string{"proto", "smtp", "result", "deferred"}, 0},
		{"patchwell_ingest_commit_seconds", []string{"proto", "smtp"}, 3},
		{"patchwell_ingest_messages_total", []string{"outcome", "stored"}, 1},
		{"patchwell_ingest_messages_total", []string{"outcome", "duplicate"}, 1},
		{"patchwell_ingest_messages_total", []string{"outcome", "flagged"}, 1},
		{"patchwell_http_request_duration_seconds", []string{"route", "GET /api/v1/lists/{name}/series", "code", "2xx"}, 1},
		{"patchwell_imap_command_duration_seconds", []string{"command", "LOGIN"}, 1},
		{"patchwell_imap_command_duration_seconds", []string{"command", "SELECT"}, 1},
		{"patchwell_queue_items", []string{"queue", "outbound", "state", "pending"}, 0},
		{"patchwell_queue_items", []string{"queue", "ci", "state", "queued"}, 0},
	} {
		if got := sample(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// The startup's own /healthz polls are counted too; no raw path is a
	// label.
	for _, m := range fams["patchwell_http_request_duration_seconds"].Metric {
		for _, l := range m.Label {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), "dev") {
				t.Errorf("a path leaked into a route label: %q", l.GetValue())
			}
		}
	}
	resp, err := http.Get("http://" + s.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the public listener = %d, want 404", resp.StatusCode)
	}
	resp, err = http.Get("http://" + metricsAddr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("GET /healthz on the metrics listener = %d %q", resp.StatusCode, b)
	}
}

// TestHealthzE2E: /healthz says 503 and why while the data directory is
// gone (moved away under the running server), 200 once it is back.
func TestHealthzE2E(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServer(t, data)
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + s.http + "/healthz")
		if err != nil {
			t.Fatalf("GET /healthz: %v", err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(); code != 200 || body != "ok" {
		t.Fatalf("GET /healthz = %d %q, want 200 ok", code, body)
	}
	moved := data + ".away"
	if err := os.Rename(data, moved); err != nil {
		t.Fatal(err)
	}
	code, body := get()
	if err := os.Rename(moved, data); err != nil {
		t.Fatal(err)
	}
	if want := "unavailable: data directory not writable: no such file or directory\n"; code != 503 || body != want {
		t.Errorf("GET /healthz without the data directory = %d %q, want 503 %q", code, body, want)
	}
	if code, body := get(); code != 200 || body != "ok" {
		t.Errorf("GET /healthz with the directory back = %d %q, want 200 ok", code, body)
	}
}

// TestBackupE2E backs up while the server takes mail over SMTP, then
// checks the copy with patchwell check; an existing file is refused.
func TestBackupE2E(t *testing.T) {
	if os.Getenv("PATCHWELL_E2E_BACKEND") == "postgres" {
		t.Skip("patchwell backup copies the SQLite database; PostgreSQL is backed up with pg_dump")
	}
	data := t.TempDir()
	s := startServer(t, data)
	const total = 150
	msgs := make([]string, total)
	for i := range msgs {
		msgs[i] = fmt.Sprintf("From: Ada <ada@example.org>\nSubject: backup %d\nMessage-ID: <backup%d@example.org>\n\nmessage %d\n", i, i, i)
	}
	sendEach(t, s.smtp, msgs[:50]...)
	var wg sync.WaitGroup
	wg.Add(1)
	var sendErr error
	go func() {
		defer wg.Done()
		sendErr = sendAll(s.smtp, msgs[50:]...)
	}()
	copyDir := t.TempDir()
	out := filepath.Join(copyDir, store.DBFile)
	stdout, stderr, code := cli(t, nil, "backup", "--data", data, "--out", out)
	wg.Wait()
	if sendErr != nil {
		t.Fatalf("sending during the backup: %v", sendErr)
	}
	if code != 0 || !strings.HasPrefix(stdout, "wrote "+out) {
		t.Fatalf("backup = %d %q %q", code, stdout, stderr)
	}
	if stdout, stderr, code := cli(t, nil, "check", "--data", copyDir); code != 0 || stdout != "ok\n" {
		t.Fatalf("check of the copy = %d %q %q", code, stdout, stderr)
	}
	stdout, _, _ = cli(t, nil, "list", "ls", "--data", copyDir)
	fields := strings.Split(stdout, "\t")
	if len(fields) < 4 || !strings.HasSuffix(fields[3], " messages") {
		t.Fatalf("list ls of the copy: %q", stdout)
	}
	n, _ := strconv.Atoi(strings.TrimSuffix(fields[3], " messages"))
	if n < 50 || n > total {
		t.Errorf("the copy holds %d messages, want 50..%d", n, total)
	}
	t.Logf("the copy holds %d of %d messages", n, total)
	// The server kept every message.
	var ls struct {
		Lists []struct {
			Messages int `json:"messages"`
		} `json:"lists"`
	}
	s.getJSON("/api/v1/lists", &ls)
	if len(ls.Lists) != 1 || ls.Lists[0].Messages != total {
		t.Errorf("server lists = %+v, want %d messages", ls, total)
	}

	// Never overwrite: exit 1, one line on stderr, the copy unchanged.
	before, _ := os.ReadFile(out)
	stdout, stderr, code = cli(t, nil, "backup", "--data", data, "--out", out)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "not overwritten") || stdout != "" {
		t.Errorf("backup onto an existing file = %d %q %q, want 1 and one line", code, stdout, stderr)
	}
	if after, _ := os.ReadFile(out); string(after) != string(before) {
		t.Errorf("the existing file was changed")
	}
	if _, stderr, code := cli(t, nil, "backup", "--data", data); code != 2 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("backup without --out = %d %q, want 2 and one line", code, stderr)
	}
	if _, stderr, code := cli(t, nil, "backup", "--data", t.TempDir(), "--out", filepath.Join(t.TempDir(), "x.db")); code != 1 || strings.Count(stderr, "\n") != 1 {
		t.Errorf("backup of an empty directory = %d %q, want 1 and one line", code, stderr)
	}
	// With the store on PostgreSQL, the SQLite file in --data is not it.
	cmd := exec.Command(binary, "backup", "--data", data, "--out", filepath.Join(t.TempDir(), "pg.db"))
	cmd.Env = append(os.Environ(), "PATCHWELL_DB=postgres://patchwell@db.invalid/patchwell")
	b, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(b), "pg_dump") {
		t.Errorf("backup with $PATCHWELL_DB = %v %q, want exit 1 naming pg_dump", err, b)
	}
}

// TestProxyProtocolE2E: behind a load balancer that sends PROXY headers
// (here the test itself, from 127.0.0.1), serve sees the client's
// address on SMTP and HTTP, and a trusted connection without a header
// gets nothing.
func TestProxyProtocolE2E(t *testing.T) {
	data := t.TempDir()
	smtpAddr, httpAddr := freePort(t), freePort(t)
	s := &testServer{t: t, data: data, smtp: smtpAddr, http: httpAddr, log: &bytes.Buffer{}}
	s.cmd = exec.Command(binary, "serve", "--data", data, "--smtp", smtpAddr, "--http", httpAddr, "--imap", "",
		"--mail-auth=false", "--ci=false", "--proxy-protocol-from", "127.0.0.1/32,::1")
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		if t.Failed() {
			t.Logf("server log:\n%s", s.logText())
		}
	})
	ready := false
	for range 400 {
		ready = strings.Contains(s.logText(), "patchwell ready")
		if ready {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !ready {
		t.Fatalf("server did not come up:\n%s", s.logText())
	}

	// SMTP with a version 1 header.
	c, err := net.Dial("tcp", smtpAddr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "PROXY TCP4 203.0.113.7 127.0.0.1 5555 25\r\n")
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "220") {
		t.Fatalf("greeting = %q, %v", line, err)
	}
	fmt.Fprintf(c, "EHLO client.example\r\nMAIL FROM:<ada@example.org>\r\nRCPT TO:<nobody@%s>\r\n", defaultDomain)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if strings.HasPrefix(line, "550") {
			break
		}
	}
	io.WriteString(c, "QUIT\r\n")
	c.Close()

	// HTTP with a version 1 header: the page is served.
	c, err = net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "PROXY TCP6 2001:db8::7 ::1 40000 80\r\nGET /healthz HTTP/1.0\r\n\r\n")
	resp, err := io.ReadAll(c)
	c.Close()
	if err != nil || !strings.HasPrefix(string(resp), "HTTP/1.0 200") {
		t.Errorf("GET /healthz through the header = %q, %v", resp, err)
	}
	// Without a header, a trusted peer gets no page.
	c, err = net.Dial("tcp", httpAddr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.0\r\n\r\n")
	resp, _ = io.ReadAll(c)
	c.Close()
	if strings.Contains(string(resp), "200") {
		t.Errorf("GET /healthz without a header from a trusted peer = %q", resp)
	}
	log := s.logText()
	if !strings.Contains(log, "remote=203.0.113.7:5555") {
		t.Errorf("the SMTP session's log does not name the client 203.0.113.7:5555")
	}
}

// TestMetricsPostgresE2E: on PostgreSQL too the queue gauges are read at
// scrape time, deliveries are counted, and /healthz answers.
func TestMetricsPostgresE2E(t *testing.T) {
	db := pgtest.URL(t)
	metricsAddr := freePort(t)
	s := startServer(t, t.TempDir(), "--db", db, "--metrics", metricsAddr)
	sendEach(t, s.smtp, "From: Ada <ada@example.org>\nSubject: on postgres\nMessage-ID: <pgmetrics1@example.org>\n\nhello\n")
	fams := scrapeMetrics(t, "http://"+metricsAddr+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"patchwell_ingest_replies_total", []string{"proto", "smtp", "result", "accepted"}, 1},
		{"patchwell_ingest_messages_total", []string{"outcome", "stored"}, 1},
		{"patchwell_queue_items", []string{"queue", "outbound", "state", "pending"}, 0},
		{"patchwell_queue_items", []string{"queue", "ci", "state", "held"}, 0},
		{"patchwell_queue_items", []string{"queue", "webhook", "state", "pending"}, 0},
	} {
		if got := sample(fams, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	if got := sample(fams, "promhttp_metric_handler_errors_total", "cause", "gathering"); got > 0 {
		t.Errorf("scrape errors: %v", got)
	}
	resp, err := http.Get("http://" + s.http + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "ok" {
		t.Errorf("GET /healthz on PostgreSQL = %d %q", resp.StatusCode, b)
	}
}
