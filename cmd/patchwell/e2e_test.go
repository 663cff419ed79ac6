package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"patchwell/store/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "patchwell-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "patchwell")
	out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// needTool skips when a tool is missing, and fails under CI=true, where
// .ci/run installs every tool.
func needTool(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := exec.Command(name, args...).Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", name, err)
		}
		t.Skipf("%s not available: %v", name, err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type testServer struct {
	t          *testing.T
	data       string
	smtp, http string
	cmd        *exec.Cmd
	args       []string // serve's, for a restart
	log        *bytes.Buffer
	mu         sync.Mutex
}

func (s *testServer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.Write(p)
}

// logText is what the server has logged so far (it may be writing).
func (s *testServer) logText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.log.String()
}

// e2eBackend: PATCHWELL_E2E_BACKEND=postgres runs the end-to-end tests
// on PostgreSQL: the test's servers and commands share a fresh database
// through $PATCHWELL_DB, which --db defaults to (a test that sets it,
// even empty, chooses for itself).
func e2eBackend(t *testing.T) {
	if _, set := os.LookupEnv("PATCHWELL_DB"); !set && os.Getenv("PATCHWELL_E2E_BACKEND") == "postgres" {
		t.Setenv("PATCHWELL_DB", pgtest.URL(t))
	}
}

func startServer(t *testing.T, data string, extra ...string) *testServer {
	t.Helper()
	return startServerBinary(t, binary, data, extra...)
}

// startServerBinary is startServer with another build of patchwell.
func startServerBinary(t *testing.T, bin, data string, extra ...string) *testServer {
	t.Helper()
	e2eBackend(t)
	s := &testServer{t: t, data: data, smtp: freePort(t), http: freePort(t), log: &bytes.Buffer{}}
	args := append([]string{"serve", "--data", data, "--smtp", s.smtp, "--http", s.http, "--imap", "", "--mail-auth=false"}, extra...)
	s.args = args
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = s, s
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		if s.cmd.ProcessState == nil {
			s.cmd.Process.Signal(syscall.SIGTERM)
			s.cmd.Wait()
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logText())
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.Dial("tcp", s.smtp)
		if err == nil {
			c.Close()
			if resp, err := http.Get("http://" + s.http + "/healthz"); err == nil {
				resp.Body.Close()
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("server did not come up:\n%s", s.logText())
	return nil
}

func (s *testServer) stop() {
	s.cmd.Process.Signal(syscall.SIGTERM)
	if err := s.cmd.Wait(); err != nil {
		s.t.Fatalf("server exit: %v\n%s", err, s.logText())
	}
}

func (s *testServer) getJSON(path string, v any) int {
	s.t.Helper()
	resp, err := http.Get("http://" + s.http + path)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			s.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return resp.StatusCode
}

func run(t *testing.T, dir string, name string, args ...string) string {
	t.Helper()
	if name == binary {
		e2eBackend(t)
	}
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.org",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.org", "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

type apiSeries struct {
	ID             int64  `json:"id"`
	Subject        string `json:"subject"`
	Version        int    `json:"version"`
	Status         string `json:"status"`
	Total          int    `json:"total"`
	Received       int    `json:"received"`
	Complete       bool   `json:"complete"`
	MessageID      string `json:"message_id"`
	CoverMessageID string `json:"cover_message_id"`
	Previous       *int64 `json:"previous"`
	SupersededBy   *int64 `json:"superseded_by"`
	Submitter      struct {
		Name, Email string
	} `json:"submitter"`
	Patches []struct {
		Index     int    `json:"index"`
		Subject   string `json:"subject"`
		MessageID string `json:"message_id"`
		Author    struct{ Name, Email string }
		Files     []struct {
			Path    string `json:"path"`
			OldPath string `json:"old_path"`
			Added   int    `json:"added"`
			Deleted int    `json:"deleted"`
			Binary  bool   `json:"binary"`
		} `json:"files"`
		PatchID  string `json:"patch_id"`
		Trailers []struct {
			Key, Value    string
			FromMessageID string `json:"from_message_id"`
		} `json:"trailers"`
	} `json:"patches"`
}

// makeRepo builds a repository with a base commit and three commits to send.
func makeRepo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	run(t, dir, "git", "init", "-q", "-b", "main")
	os.WriteFile(filepath.Join(dir, "README"), []byte("hello\n"), 0o644)
	run(t, dir, "git", "add", ".")
	run(t, dir, "git", "commit", "-q", "-m", "base")
	os.WriteFile(filepath.Join(dir, "a.c"), []byte("int a(void)\n{\n\treturn 1;\n}\n"), 0o644)
	run(t, dir, "git", "add", ".")
	run(t, dir, "git", "commit", "-q", "-m", "add a\n\nThe a function.\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	os.WriteFile(filepath.Join(dir, "README"), []byte("hello\nworld\n"), 0o644)
	run(t, dir, "git", "commit", "-q", "-a", "-m", "readme: world\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	run(t, dir, "git", "mv", "a.c", "b.c")
	run(t, dir, "git", "commit", "-q", "-m", "rename a to b\n\nSigned-off-by: Ada Lovelace <ada@example.org>")
	return dir
}

// fillCover replaces git format-patch's cover letter placeholders.
func fillCover(t *testing.T, dir, subject string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*0000-cover-letter.patch"))
	if len(files) != 1 {
		t.Fatalf("cover letter in %s: %v", dir, files)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.Replace(b, []byte("*** SUBJECT HERE ***"), []byte(subject), 1)
	b = bytes.Replace(b, []byte("*** BLURB HERE ***"), []byte("This series adds a and renames it."), 1)
	if err := os.WriteFile(files[0], b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func sendEmail(t *testing.T, dir, smtp string, args ...string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(smtp)
	base := []string{"send-email", "--confirm=never", "--no-validate", "--to=dev@patchwell.localhost",
		"--from=Ada Lovelace <ada@example.org>", "--smtp-server=" + host, "--smtp-server-port=" + port,
		"--smtp-domain=localhost", "--suppress-cc=all"}
	out := run(t, dir, "git", append(base, args...)...)
	// git send-email can exit 0 after refusing an address.
	if strings.Contains(out, "error:") || strings.Contains(out, "unable to") {
		t.Fatalf("git send-email: %s", out)
	}
}

// sendSeries formats the last three commits of repo with a cover letter
// titled title into repo/dir, sends them to the list dev with git
// send-email, and returns the list's one series, complete, as GET
// /api/v1/series/{id} gives it.
func sendSeries(t *testing.T, srv *testServer, repo, dir, title string) apiSeries {
	t.Helper()
	out := filepath.Join(repo, dir)
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", out, "HEAD~3")
	fillCover(t, out, title)
	sendEmail(t, repo, srv.smtp, out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete {
		t.Fatalf("series after git send-email: %+v", list.Series)
	}
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &s)
	return s
}

func TestSendEmailSeriesAndRevision(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)

	out := filepath.Join(repo, "v1")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", out, "HEAD~3")
	fillCover(t, out, "Add a and rename it")
	sendEmail(t, repo, srv.smtp, out)

	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 {
		t.Fatalf("got %d series, want 1: %+v", len(list.Series), list.Series)
	}
	var v1 apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", list.Series[0].ID), &v1)
	if v1.Total != 3 || v1.Received != 3 || !v1.Complete || v1.Version != 1 || v1.Status != "proposed" || v1.CoverMessageID == "" {
		t.Fatalf("v1 = %+v", v1)
	}
	if len(v1.Patches) != 3 {
		t.Fatalf("v1 has %d patches", len(v1.Patches))
	}
	p1, p3 := v1.Patches[0], v1.Patches[2]
	if p1.Index != 1 || len(p1.Files) != 1 || p1.Files[0].Path != "a.c" || p1.Files[0].Added != 4 {
		t.Errorf("patch 1 = %+v", p1)
	}
	if len(p3.Files) != 1 || p3.Files[0].Path != "b.c" || p3.Files[0].OldPath != "a.c" {
		t.Errorf("patch 3 (rename) files = %+v", p3.Files)
	}
	if len(p1.Trailers) != 1 || p1.Trailers[0].Key != "Signed-off-by" || p1.Trailers[0].Value != "Ada Lovelace <ada@example.org>" {
		t.Errorf("patch 1 trailers = %+v", p1.Trailers)
	}
	// The patch-id is git's own.
	patchFile, _ := filepath.Glob(filepath.Join(out, "0001-*.patch"))
	cmd := exec.Command("git", "patch-id", "--stable")
	cmd.Stdin, _ = os.Open(patchFile[0])
	pid, err := cmd.Output()
	if err != nil || strings.Fields(string(pid))[0] != p1.PatchID {
		t.Errorf("patch-id %q, git says %q (%v)", p1.PatchID, pid, err)
	}

	// A reviewer answers patch 2 with a trailer.
	raw, err := http.Get("http://" + srv.http + "/dev/" + p1.MessageID + "/raw")
	if err != nil || raw.StatusCode != 200 {
		t.Fatalf("raw: %v %v", err, raw.StatusCode)
	}
	raw.Body.Close()
	reply := fmt.Sprintf("From: Rev Iewer <rev@example.net>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: %s\r\nMessage-ID: <review-1@example.net>\r\nIn-Reply-To: <%s>\r\nReferences: <%s> <%s>\r\n\r\n> quoted\r\n\r\nLooks good.\r\n\r\nReviewed-by: Rev Iewer <rev@example.net>\r\n",
		v1.Patches[1].Subject, v1.Patches[1].MessageID, v1.CoverMessageID, v1.Patches[1].MessageID)
	sendRaw(t, srv.smtp, "rev@example.net", []string{"dev@patchwell.localhost"}, reply)
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", v1.ID), &v1)
	got := v1.Patches[1].Trailers
	if len(got) != 2 || got[1].Key != "Reviewed-by" || got[1].FromMessageID != "review-1@example.net" {
		t.Errorf("patch 2 trailers after review = %+v", got)
	}

	// v2 in reply to the v1 cover.
	out2 := filepath.Join(repo, "v2")
	run(t, repo, "git", "format-patch", "-q", "-v2", "--cover-letter", "-o", out2, "HEAD~3")
	fillCover(t, out2, "Add a and rename it")
	sendEmail(t, repo, srv.smtp, "--in-reply-to=<"+v1.CoverMessageID+">", out2)
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 2 {
		t.Fatalf("got %d series after v2, want 2", len(list.Series))
	}
	v2 := list.Series[0]
	var old apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", v1.ID), &old)
	if v2.Version != 2 || v2.Status != "proposed" || !v2.Complete || v2.Previous == nil || *v2.Previous != v1.ID {
		t.Errorf("v2 = %+v", v2)
	}
	if old.Status != "superseded" || old.SupersededBy == nil || *old.SupersededBy != v2.ID {
		t.Errorf("v1 after v2 = %+v", old)
	}
	var superseded struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series?status=superseded", &superseded)
	if len(superseded.Series) != 1 || superseded.Series[0].ID != v1.ID {
		t.Errorf("status filter = %+v", superseded.Series)
	}

	// b4's search for other revisions (POST /dev/?x=m&t=1&q=...), asked
	// from the v1 thread, finds v2.
	needTool(t, "b4", "--version")
	mask := "http://" + srv.http + "/dev/"
	_, _, b4out := runB4(t, "[b4]\n\tmidmask = "+mask+"%s\n\tsearchmask = "+mask+"?x=m&t=1&q=%s\n", "am", "-c", v1.CoverMessageID)
	t.Logf("b4 am -c:\n%s", b4out)
	if !strings.Contains(b4out, "latest revision: v2") {
		t.Errorf("b4 am -c did not pick v2:\n%s", b4out)
	}
}

// sendRaw speaks SMTP by hand and fails unless the message gets 250.
func sendRaw(t *testing.T, addr, from string, to []string, msg string) {
	t.Helper()
	if err := smtpSend(addr, from, to, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func smtpSend(addr, from string, to []string, msg string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	expect := func(code string) error {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return err
			}
			if !strings.HasPrefix(line, code) {
				return fmt.Errorf("want %s, got %q", code, line)
			}
			if len(line) < 4 || line[3] != '-' {
				return nil
			}
		}
	}
	steps := []struct{ send, want string }{{"", "220"}, {"EHLO test\r\n", "250"}, {"MAIL FROM:<" + from + ">\r\n", "250"}}
	for _, rc := range to {
		steps = append(steps, struct{ send, want string }{"RCPT TO:<" + rc + ">\r\n", "250"})
	}
	steps = append(steps, struct{ send, want string }{"DATA\r\n", "354"})
	body := strings.ReplaceAll(msg, "\r\n", "\n")
	body = strings.ReplaceAll(body, "\n", "\r\n")
	var dotted strings.Builder
	for _, line := range strings.SplitAfter(body, "\r\n") {
		if strings.HasPrefix(line, ".") {
			dotted.WriteString(".")
		}
		dotted.WriteString(line)
	}
	steps = append(steps, struct{ send, want string }{dotted.String() + ".\r\n", "250"}, struct{ send, want string }{"QUIT\r\n", "221"})
	for _, s := range steps {
		if s.send != "" {
			if _, err := io.WriteString(c, s.send); err != nil {
				return err
			}
		}
		if err := expect(s.want); err != nil {
			return fmt.Errorf("after %q: %w", strings.TrimSpace(s.send), err)
		}
	}
	return nil
}

// TestNoThreadAndLMTP sends a series with --no-thread (no References at
// all): it is still assembled. Then a reply arrives over LMTP on a unix
// socket, as an MTA in front of patchwell would deliver it.
func TestNoThreadAndLMTP(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	srv := startServer(t, t.TempDir(), "--lmtp", sock)
	repo := makeRepo(t)
	out := filepath.Join(repo, "nt")
	run(t, repo, "git", "format-patch", "-q", "--cover-letter", "-o", out, "HEAD~3")
	fillCover(t, out, "Sent without threading")
	sendEmail(t, repo, srv.smtp, "--no-thread", out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || list.Series[0].Received != 3 || list.Series[0].CoverMessageID == "" || !list.Series[0].Complete {
		t.Fatalf("series = %+v", list.Series)
	}

	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	lines := []string{"LHLO mta", "MAIL FROM:<rev@example.net>", "RCPT TO:<dev@patchwell.localhost>", "RCPT TO:<nobody@patchwell.localhost>", "DATA"}
	want := []string{"220", "250", "250", "250", "550", "354"}
	read := func(code string) {
		t.Helper()
		for {
			l, err := r.ReadString('\n')
			if err != nil || !strings.HasPrefix(l, code) {
				t.Fatalf("LMTP: want %s, got %q (%v)", code, l, err)
			}
			if len(l) < 4 || l[3] != '-' {
				return
			}
		}
	}
	read(want[0])
	for i, l := range lines {
		io.WriteString(c, l+"\r\n")
		read(want[i+1])
	}
	io.WriteString(c, "From: Rev <rev@example.net>\r\nMessage-ID: <lmtp-1@example.net>\r\nSubject: Re: over lmtp\r\n\r\nAcked-by: Rev <rev@example.net>\r\n.\r\n")
	read("250") // one reply per accepted recipient (RFC 2033)
	resp, err := http.Get("http://" + srv.http + "/dev/lmtp-1@example.net/raw")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("raw after LMTP: %v %v", err, resp.StatusCode)
	}
	resp.Body.Close()
}

// TestB4Am runs the real b4 against patchwell as it runs against lore:
// b4.midmask points at the list, `b4 am` fetches the thread (t.mbox.gz),
// collects the Reviewed-by a reviewer sent, and git am applies the result.
func TestB4Am(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "b4", "--version")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "b4", "Add a and rename it")
	p2 := s.Patches[1]
	sendRaw(t, srv.smtp, "rev@example.net", []string{"dev@patchwell.localhost"}, fmt.Sprintf(
		"From: Rev Iewer <rev@example.net>\r\nTo: dev@patchwell.localhost\r\nSubject: Re: %s\r\nMessage-ID: <b4-review@example.net>\r\nIn-Reply-To: <%s>\r\nReferences: <%s> <%s>\r\nDate: Mon, 23 Nov 2026 12:00:00 +0000\r\n\r\nLooks right.\r\n\r\nReviewed-by: Rev Iewer <rev@example.net>\r\n",
		p2.Subject, p2.MessageID, s.CoverMessageID, p2.MessageID))

	base := "http://" + srv.http + "/dev/%s"
	mbxPath, am, b4out := runB4(t, fmt.Sprintf("[b4]\n\tmidmask = %s\n\tlinkmask = %s\n", base, base), "am", s.CoverMessageID)
	if n := strings.Count(am, "\nSubject: [PATCH "); n != 3 {
		t.Errorf("b4 am mbox has %d patches, want 3\n%s", n, b4out)
	}
	if !strings.Contains(am, "Reviewed-by: Rev Iewer <rev@example.net>") {
		t.Errorf("b4 did not collect the Reviewed-by\n%s", b4out)
	}
	// The result applies on the base with git am.
	clone := t.TempDir()
	run(t, clone, "git", "clone", "-q", repo, ".")
	run(t, clone, "git", "checkout", "-q", "HEAD~3")
	run(t, clone, "git", "am", "-q", mbxPath)
	log := run(t, clone, "git", "log", "--format=%s", "-3")
	if !strings.Contains(log, "rename a to b") || !strings.Contains(log, "add a") {
		t.Errorf("git log after am: %s", log)
	}

	// Our own am-ready series mbox gives the same commits as b4's.
	resp, err := http.Get(fmt.Sprintf("http://%s/api/v1/series/%d/mbox", srv.http, s.ID))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("series mbox: %v %v", err, resp.StatusCode)
	}
	ours, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	oursFile := filepath.Join(t.TempDir(), "series.mbox")
	os.WriteFile(oursFile, ours, 0o644)
	clone2 := t.TempDir()
	run(t, clone2, "git", "clone", "-q", repo, ".")
	run(t, clone2, "git", "checkout", "-q", "HEAD~3")
	run(t, clone2, "git", "am", "-q", oursFile)
	b4Msgs := run(t, clone, "git", "log", "--format=%an <%ae>%n%B", "-3")
	ourMsgs := run(t, clone2, "git", "log", "--format=%an <%ae>%n%B", "-3")
	if b4Msgs != ourMsgs {
		t.Errorf("commits from our series mbox differ from b4's:\n--- b4\n%s\n--- ours\n%s", b4Msgs, ourMsgs)
	}
	if tree1, tree2 := run(t, clone, "git", "rev-parse", "HEAD^{tree}"), run(t, clone2, "git", "rev-parse", "HEAD^{tree}"); tree1 != tree2 {
		t.Errorf("trees differ: %s vs %s", tree1, tree2)
	}

	// No configuration, a pasted URL; and the /all/ inbox with b4 mbox.

	if _, mbx, out := runB4(t, "", "am", "http://"+srv.http+"/dev/"+s.CoverMessageID+"/"); strings.Count(mbx, "\nSubject: [PATCH ") != 3 {
		t.Errorf("b4 am of a pasted URL:\n%s", out)
	}
	allMask := "[b4]\n\tmidmask = http://" + srv.http + "/all/%s\n"
	if _, mbox, out := runB4(t, allMask, "mbox", s.CoverMessageID); strings.Count(mbox, "From mboxrd@z") != 5 {
		t.Errorf("b4 mbox through /all/ got %d messages, want 5\n%s", strings.Count(mbox, "From mboxrd@z"), out)
	}

	// The HTML pages of the real series.
	for path, want := range map[string]string{
		"/dev/":                            "Add a and rename it",
		fmt.Sprintf("/series/%d/", s.ID):   "Reviewed-by: Rev Iewer &lt;rev@example.net&gt;",
		"/dev/" + s.CoverMessageID + "/t/": "Looks right.",
		"/dev/b4-review@example.net/":      "whole thread",
	} {
		resp, err := http.Get("http://" + srv.http + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s = %d, missing %q", path, resp.StatusCode, want)
		}
	}
}

// runB4 runs the real b4 with a private HOME whose git config holds cfg
// (a [b4] section, or nothing), writing into a fresh directory (-o). It
// returns the file b4 wrote (the .mbx when there are several), its
// content, and b4's output.
func runB4(t *testing.T, cfg string, args ...string) (string, string, string) {
	t.Helper()
	home, dir := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte("[user]\n\tname = Maintainer\n\temail = m@example.org\n"+cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("b4", append(args[:1:1], append([]string{"-o", dir}, args[1:]...)...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("b4 %v: %v\n%s", args, err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.mbx"))
	if len(files) == 0 {
		files, _ = filepath.Glob(filepath.Join(dir, "*"))
	}
	if len(files) != 1 {
		t.Fatalf("b4 %v wrote %v\n%s", args, files, out)
	}
	b, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return files[0], string(b), string(out)
}
