package imapd_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"patchwell/archive"
	"patchwell/imapd"
	"patchwell/internal/testcorpus"
	"patchwell/review"
	"patchwell/store"
)

// The benchmarks serve the 20,000-message benchmark corpus
// (../shared/corpus/bench/git-20k.mbox.gz) as one list, "bench",
// imported once per process into a temporary directory, or taken from
// PATCHWELL_BENCH_DATA (a data directory holding it in list "bench", as
// bench/web.sh uses).

const benchList = "bench"

var benchData struct {
	once sync.Once
	dir  string // temporary: removed by TestMain
	st   *store.DB
	err  error
}

func TestMain(m *testing.M) {
	if spec := os.Getenv("IMAPD_BENCH_IDLERS"); spec != "" {
		os.Exit(holdIdlers(spec))
	}
	code := m.Run()
	if benchData.st != nil {
		benchData.st.Close()
	}
	if benchData.dir != "" {
		os.RemoveAll(benchData.dir)
	}
	os.Exit(code)
}

func benchStore(b *testing.B) *store.DB {
	b.Helper()
	corpus := filepath.Join(testcorpus.Dir(b), "bench", "git-20k.mbox.gz")
	benchData.once.Do(func() {
		ctx := context.Background()
		dir := os.Getenv("PATCHWELL_BENCH_DATA")
		fresh := dir == ""
		if fresh {
			if dir, benchData.err = os.MkdirTemp("", "imapd-bench-"); benchData.err != nil {
				return
			}
			benchData.dir = dir
		}
		st, err := store.Open(ctx, dir)
		if err != nil {
			benchData.err = err
			return
		}
		benchData.st = st
		if !fresh {
			return
		}
		if _, err := st.CreateList(ctx, store.List{Name: benchList}); err != nil {
			benchData.err = err
			return
		}
		in := review.NewIngester(st, review.Config{Log: slog.New(slog.DiscardHandler)})
		defer in.Close()
		src, err := archive.OpenSource(corpus)
		if err != nil {
			benchData.err = err
			return
		}
		defer src.Close()
		start := time.Now()
		_, benchData.err = in.Import(ctx, benchList, src)
		fmt.Fprintf(os.Stderr, "imported %s in %v (not timed)\n", corpus, time.Since(start).Round(time.Millisecond))
	})
	if benchData.err != nil {
		b.Fatal(benchData.err)
	}
	return benchData.st
}

// benchServer serves the benchmark store on 127.0.0.1 with room for
// the idle sessions.
func benchServer(b *testing.B) string {
	b.Helper()
	st := benchStore(b)
	srv, err := imapd.New(st, nil, imapd.Config{MaxConnsPerIP: 5000}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// countConn counts the bytes the client reads: what the server sent.
type countConn struct {
	net.Conn
	n atomic.Int64
}

func (c *countConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func benchClient(b *testing.B, addr string) (*imapclient.Client, *countConn) {
	b.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	cc := &countConn{Conn: nc}
	c := imapclient.New(cc, nil)
	b.Cleanup(func() { c.Close() })
	if err := c.Login("anonymous", "x").Wait(); err != nil {
		b.Fatal(err)
	}
	return c, cc
}

// BenchmarkSelect times SELECT of the 20,000-message list, warm (its
// index loaded by an earlier SELECT), over a TCP connection.
func BenchmarkSelect(b *testing.B) {
	c, _ := benchClient(b, benchServer(b))
	data, err := c.Select(benchList, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if data, err = c.Select(benchList, nil).Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(data.NumMessages), "msgs")
}

// BenchmarkFetchHeaders times UID FETCH 1:* (BODY.PEEK[HEADER]) of the
// whole list, every response drained; bytes is the headers' total size,
// wire-bytes what the server sent.
func BenchmarkFetchHeaders(b *testing.B) {
	c, cc := benchClient(b, benchServer(b))
	sel, err := c.Select(benchList, nil).Wait()
	if err != nil {
		b.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	opts := &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, Peek: true}}}
	var bytes, wire int64
	var msgs int
	for b.Loop() {
		bytes, msgs = 0, 0
		before := cc.n.Load()
		cmd := c.Fetch(all, opts)
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			msgs++
			for item := msg.Next(); item != nil; item = msg.Next() {
				if bs, ok := item.(imapclient.FetchItemDataBodySection); ok {
					n, err := io.Copy(io.Discard, bs.Literal)
					if err != nil {
						b.Fatal(err)
					}
					bytes += n
				}
			}
		}
		if err := cmd.Close(); err != nil {
			b.Fatal(err)
		}
		wire = cc.n.Load() - before
	}
	if msgs != int(sel.NumMessages) {
		b.Fatalf("fetched %d messages of %d", msgs, sel.NumMessages)
	}
	b.ReportMetric(float64(bytes), "bytes")
	b.ReportMetric(float64(wire), "wire-bytes")
	b.ReportMetric(float64(msgs), "msgs")
}

// idleSessions is how many sessions BenchmarkIdleSessions holds.
const idleSessions = 1000

// BenchmarkIdleSessions opens 1,000 sessions, each logged in with the
// list SELECTed and in IDLE, from a child process (so that only the
// server's memory is in this one), and reports the server's heap and
// stack in use per session, and its goroutines per session. The time
// per op is the time to open them all.
func BenchmarkIdleSessions(b *testing.B) {
	addr := benchServer(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	// Warm: the mailbox index is loaded once for every session.
	c, _ := benchClient(b, addr)
	if _, err := c.Select(benchList, nil).Wait(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		g0 := runtime.NumGoroutine()
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), fmt.Sprintf("IMAPD_BENCH_IDLERS=%s %d", addr, idleSessions))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			cmd.Process.Kill()
			b.Fatalf("idlers: %q %v", line, err)
		}
		b.StopTimer()
		// Let the server settle (the last sessions enter IDLE).
		time.Sleep(200 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&m1)
		g1 := runtime.NumGoroutine()
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatalf("idlers: %v", err)
		}
		b.ReportMetric((float64(m1.HeapInuse+m1.StackInuse)-float64(m0.HeapInuse+m0.StackInuse))/idleSessions, "bytes/session")
		b.ReportMetric(float64(g1-g0)/idleSessions, "goroutines/session")
		b.StartTimer()
	}
}

// BenchmarkIdleWake holds 1,000 sessions in IDLE on a small list (from
// a child process) and times, per new message, from the end of its
// commit (Deliver returned, Notify called) until every session has read
// its "* N EXISTS": the one watcher's fan-out.
func BenchmarkIdleWake(b *testing.B) {
	f := newFixture(b, imapd.Config{MaxConnsPerIP: 5000}, "dev")
	f.deliver("dev", []byte("From: a@example.org\nSubject: first\nMessage-ID: <wake-0@example.org>\n\nbody\n"))
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), fmt.Sprintf("IMAPD_BENCH_IDLERS=%s %d dev", f.addr, idleSessions))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		stdin.Close()
		cmd.Wait()
	}()
	out := bufio.NewReader(stdout)
	if line, err := out.ReadString('\n'); err != nil || line != "ready\n" {
		cmd.Process.Kill()
		b.Fatalf("idlers: %q %v", line, err)
	}
	n := 1
	var worst time.Duration
	for b.Loop() {
		b.StopTimer()
		n++
		raw := fmt.Sprintf("From: a@example.org\nSubject: wake %d\nMessage-ID: <wake-%d@example.org>\n\nbody\n", n, n)
		if err := f.in.Post(context.Background(), review.Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		f.srv.Notify()
		fmt.Fprintf(stdin, "wake %d\n", n)
		if line, err := out.ReadString('\n'); err != nil || line != "woken\n" {
			b.Fatalf("idlers: %q %v", line, err)
		}
		worst = max(worst, time.Since(start))
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}

// holdIdlers is the child process of the IDLE benchmarks: spec is "ADDR
// N [MAILBOX]". It opens N sessions in IDLE on the mailbox (default the
// bench list), says "ready", and holds them until its stdin closes; on a
// line "wake K" it waits until every session has read "* K EXISTS" and
// says "woken".
func holdIdlers(spec string) int {
	f := strings.Fields(spec)
	if len(f) < 2 {
		fmt.Fprintln(os.Stderr, "IMAPD_BENCH_IDLERS: want ADDR N [MAILBOX]")
		return 2
	}
	n, _ := strconv.Atoi(f[1])
	box := benchList
	if len(f) > 2 {
		box = f[2]
	}
	conns := make([]net.Conn, 0, n)
	readers := make([]*bufio.Reader, 0, n)
	for i := range n {
		c, err := net.Dial("tcp", f[0])
		if err != nil {
			fmt.Fprintf(os.Stderr, "session %d: %v\n", i, err)
			return 1
		}
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "a LOGIN anonymous x\r\nb SELECT "+box+"\r\nc IDLE\r\n")
		r := bufio.NewReaderSize(c, 512)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				fmt.Fprintf(os.Stderr, "session %d: %v after %q\n", i, err, l)
				return 1
			}
			if strings.HasPrefix(l, "+") {
				break
			}
			if strings.HasPrefix(l, "a NO") || strings.HasPrefix(l, "b NO") || strings.HasPrefix(l, "* BYE") || strings.Contains(l, " BAD") {
				fmt.Fprintf(os.Stderr, "session %d: %q\n", i, l)
				return 1
			}
		}
		c.SetDeadline(time.Time{})
		conns = append(conns, c)
		readers = append(readers, r)
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		k, ok := strings.CutPrefix(in.Text(), "wake ")
		if !ok {
			continue
		}
		want := "* " + k + " EXISTS\r\n"
		var wg sync.WaitGroup
		var failed atomic.Int32
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.SetReadDeadline(time.Now().Add(10 * time.Second))
				for {
					l, err := readers[i].ReadString('\n')
					if err != nil {
						fmt.Fprintf(os.Stderr, "session %d: %v waiting for %q\n", i, err, want)
						failed.Add(1)
						return
					}
					if l == want {
						return
					}
				}
			}()
		}
		wg.Wait()
		if failed.Load() > 0 {
			return 1
		}
		fmt.Println("woken")
	}
	for _, c := range conns {
		io.WriteString(c, "DONE\r\n")
		c.Close()
	}
	return 0
}
