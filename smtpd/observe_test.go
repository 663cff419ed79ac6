package smtpd

import (
	"bufio"
	"errors"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// codes records what Config.Observe is told.
type codes struct {
	mu  sync.Mutex
	got []int
}

func (c *codes) observe(code int, wait time.Duration) {
	if wait < 0 {
		panic("negative wait")
	}
	c.mu.Lock()
	c.got = append(c.got, code)
	c.mu.Unlock()
}

func (c *codes) list() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]int(nil), c.got...)
}

// TestObserveSMTP: each reply to DATA is observed with its code, before
// the client reads it; refusals before DATA are not.
func TestObserveSMTP(t *testing.T) {
	be := newFake()
	be.fail["other"] = errors.New("disk full")
	var c codes
	_, addr := startServer(t, Config{Domain: "localhost", Observe: c.observe}, be)
	cv := dial(t, addr)
	cv.cmd("EHLO test", "250")
	send := func(rcpt, body, code string) {
		cv.cmd("MAIL FROM:<a@example.org>", "250")
		cv.cmd("RCPT TO:<"+rcpt+">", "250")
		cv.cmd("DATA", "354")
		cv.send(body + ".\r\n")
		cv.expect(code)
	}
	send("dev@localhost", msg, "250")
	send("dev@localhost", "Subject: x\r\n\r\nbare\rCR\r\n", "550 5.6.2")
	send("other@localhost", msg, "451")
	cv.cmd("MAIL FROM:<a@example.org>", "250")
	cv.cmd("RCPT TO:<nope@localhost>", "550 5.1.1")
	cv.cmd("RSET", "250")
	if diff := cmp.Diff([]int{250, 550, 451}, c.list()); diff != "" {
		t.Errorf("observed codes (-want +got):\n%s", diff)
	}
}

// TestObserveLMTP: under LMTP each recipient's reply is observed.
func TestObserveLMTP(t *testing.T) {
	be := newFake()
	be.fail["other"] = errors.New("disk full")
	var c codes
	sock := filepath.Join(t.TempDir(), "lmtp.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(Config{Domain: "localhost", LMTP: true, Observe: c.observe}, be, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(l)
	defer s.Close()
	nc, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	cv := &conv{t: t, c: nc, r: bufio.NewReader(nc)}
	cv.expect("220")
	cv.cmd("LHLO test", "250")
	for _, body := range []string{msg, "Subject: x\r\n\r\nbare\rCR\r\n"} {
		cv.cmd("MAIL FROM:<a@example.org>", "250")
		cv.cmd("RCPT TO:<dev@localhost>", "250")
		cv.cmd("RCPT TO:<other@localhost>", "250")
		cv.cmd("DATA", "354")
		cv.send(body + ".\r\n")
		if body == msg {
			cv.expect("250")
			cv.expect("451")
		} else {
			cv.expect("550")
			cv.expect("550")
		}
	}
	if diff := cmp.Diff([]int{250, 451, 550, 550}, c.list()); diff != "" {
		t.Errorf("observed codes (-want +got):\n%s", diff)
	}
}
