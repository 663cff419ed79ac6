package imapd

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

func TestValidMUTF7(t *testing.T) {
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"INBOX", true}, {"dev/patches", true}, {"", true}, {"a&-b", true},
		{"&AOk-t&AOk-", true}, // été
		{"&AOkA6Q-", true},    // éé in one run
		{"caf\u00e9", true},   // UTF-8 passes
		{"&Jjo", false},       // no end
		{"&Jjo-", true},       // ☺
		{"&Jjo-&Jjo-", false}, // two runs in a row
		{"&AGE-", false},      // "a" encoded
		{"&AOk", false},       // open
		{"&A-", false},        // too short
		{"&2D0-", false},      // lone surrogate
		{"a\tb", false},       // control
		{"\xff", false},       // not UTF-8
		{"&AOk=-", false},     // padding
		{"&2D3eAA-", true},    // 😀, a surrogate pair
		{"&AOk-&AOk-", false}, // two runs in a row
		{"&AOk-x&AOk-", true}, // apart
		{"&,,,,-", false},     // odd length
	} {
		if got := validMUTF7(tc.s); got != tc.want {
			t.Errorf("validMUTF7(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestLiteralMarker(t *testing.T) {
	for _, tc := range []struct {
		line       string
		n          int64
		sync, isLt bool
	}{
		{"a LOGIN {5}\r\n", 5, true, true},
		{"a LOGIN {5+}\r\n", 5, false, true},
		{"a LOGIN {5} \r\n", 5, true, true},
		{"a LOGIN {5}\n", 5, true, true},
		{"a APPEND x ~{12}\r\n", 12, true, true},
		{"a LOGIN {}\r\n", 0, false, false},
		{"a LOGIN {x}\r\n", 0, false, false},
		{"a LOGIN {99999999999999999999}\r\n", 0, false, false},
		{"a NOOP\r\n", 0, false, false},
	} {
		n, sync, ok := literalMarker([]byte(tc.line))
		if n != tc.n || sync != tc.sync || ok != tc.isLt {
			t.Errorf("literalMarker(%q) = %d, %v, %v; want %d, %v, %v", tc.line, n, sync, ok, tc.n, tc.sync, tc.isLt)
		}
	}
}

// goIMAP answers single command lines from go-imap alone (no guard), in
// the selected state of a fresh in-memory mailbox with one message.
type goIMAP struct {
	once sync.Once
	addr string
	mu   sync.Mutex
	mem  *imapmemserver.Server
}

var plainGoIMAP goIMAP

func (g *goIMAP) start(t *testing.T) {
	g.once.Do(func() {
		srv := imapserver.New(&imapserver.Options{
			NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
				g.mu.Lock()
				defer g.mu.Unlock()
				return g.mem.NewSession(), nil, nil
			},
			Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapLiteralMinus: {}},
			InsecureAuth: true,
			Logger:       discardPrintf{},
		})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		g.addr = ln.Addr().String()
		go srv.Serve(ln)
	})
}

type discardPrintf struct{}

func (discardPrintf) Printf(string, ...any) {}

// answer is go-imap's tagged answer to "T line" ("" when it gives none
// within a second or closes).
func (g *goIMAP) answer(t *testing.T, line string) string {
	g.start(t)
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("u", "p")
	if err := u.Create("INBOX", nil); err != nil {
		t.Fatal(err)
	}
	msg := "Subject: x\r\n\r\nbody\r\n"
	if _, err := u.Append("INBOX", literal{strings.NewReader(msg), int64(len(msg))}, &imap.AppendOptions{}); err != nil {
		t.Fatal(err)
	}
	mem.AddUser(u)
	g.mu.Lock()
	g.mem = mem
	g.mu.Unlock()

	c, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	r.ReadString('\n')
	c.Write([]byte("A LOGIN u p\r\nB SELECT INBOX\r\nT " + line + "\r\n"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return ""
		}
		switch {
		case strings.HasPrefix(l, "T "):
			return strings.TrimSpace(l)
		case strings.HasPrefix(l, "+"):
			c.Write([]byte("DONE\r\n*\r\n")) // IDLE or AUTHENTICATE
		}
	}
}

type literal struct {
	*strings.Reader
	n int64
}

func (l literal) Size() int64 { return l.n }

// FuzzGuardCheck compares the guard's check with go-imap's answer to
// the same command line: the guard refuses nothing go-imap accepts, and
// whatever go-imap takes for a fault of its own (NO [SERVERBUG]), the
// guard refuses first.
func FuzzGuardCheck(f *testing.F) {
	for _, s := range []string{
		"FETCH 1 FLAGS", "UID FETCH 1:4294967296 FLAGS", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])",
		"STORE 1 +FLAGS (\\Seen)", "COPY 1 INBOX", "MOVE 1:* &Jjo-", "UID EXPUNGE 1:*",
		"SEARCH FOOBAR", "SEARCH OR (ALL) NOT 1:*", "SEARCH RETURN (COUNT) CHARSET UTF-8 TEXT x",
		"SEARCH SINCE 1-Jan-2020 UID 1,3:5", "SEARCH HEADER X-Y 0 KEYWORD $x",
		"STATUS INBOX (MESSAGES)", "SELECT &Jjo-", `LIST "" *`, `LIST (SUBSCRIBED) "" (INBOX %) RETURN (STATUS (MESSAGES))`,
		`APPEND INBOX (\Seen) "1-Jan-2020 00:00:00 +0000" x`, "AUTHENTICATE PLAIN =", "AUTHENTICATE PLAIN AGEA",
		"RENAME a &AOk-", "NOOP", "IDLE", "ENABLE IMAP4rev2",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		if strings.ContainsAny(line, "\r\n{") || len(line) > 2000 || strings.Count(line, "(") > maxNesting {
			return
		}
		verdict := check([]byte("T " + line + "\r\n"))
		got := plainGoIMAP.answer(t, line)
		if verdict != "" && strings.HasPrefix(got, "T OK") {
			t.Errorf("the guard refuses %q (%s), go-imap accepts it: %q", line, verdict, got)
		}
		if verdict == "" && strings.Contains(got, "SERVERBUG") {
			t.Errorf("the guard lets %q through, go-imap answers %q", line, got)
		}
	})
}
