package imapd

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"patchwell/review"
	"patchwell/store"
)

// selfSigned makes a certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "patchwell test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

type tlsEnv struct {
	st          store.Store
	acc         *review.Accounts
	srv         *Server
	plain, imps string
	token       string
}

// newTLSEnv serves a store with a public list "pub" (two messages) and a
// private list "priv" (one) whose maintainer is ada@example.org, on a
// plain (STARTTLS) and an implicit-TLS listener.
func newTLSEnv(t *testing.T) *tlsEnv {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	for _, name := range []string{"pub", "priv"} {
		if _, err := st.CreateList(ctx, store.List{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.SetVisibility(ctx, "priv", store.VisibilityPrivate); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	in := review.NewIngester(st, review.Config{Log: log})
	t.Cleanup(func() { in.Close() })
	for i, list := range []string{"pub", "pub", "priv"} {
		raw := fmt.Sprintf("From: Ada <ada@example.org>\nTo: %s@patchwell.localhost\nSubject: note %d\nMessage-ID: <n%d@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\nbody %d\n", list, i, i, i)
		if err := in.Post(ctx, review.Post{Lists: []string{list}, Raw: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	acc := review.NewAccounts(st, review.Argon2Params{Memory: 64, Time: 1, Threads: 1})
	u, err := acc.AddUser(ctx, "ada@example.org", "Ada", "secret password", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, u.ID, "priv", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	tok, _, err := acc.NewToken(ctx, u.ID, "imap")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(st, acc, Config{TLS: &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}}}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &tlsEnv{st: st, acc: acc, srv: srv, token: tok}
	for _, l := range []struct {
		addr  *string
		serve func(net.Listener) error
	}{{&e.plain, srv.Serve}, {&e.imps, srv.ServeTLS}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		*l.addr = ln.Addr().String()
		go l.serve(ln)
	}
	return e
}

var insecure = &imapclient.Options{TLSConfig: &tls.Config{InsecureSkipVerify: true}}

// mailboxes lists the names a client sees.
func mailboxes(t *testing.T, c *imapclient.Client) map[string]bool {
	t.Helper()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, l := range list {
		out[l.Mailbox] = true
	}
	return out
}

func TestTLSAndAccounts(t *testing.T) {
	e := newTLSEnv(t)
	dial := map[string]func() (*imapclient.Client, error){
		"starttls": func() (*imapclient.Client, error) { return imapclient.DialStartTLS(e.plain, insecure) },
		"imaps":    func() (*imapclient.Client, error) { return imapclient.DialTLS(e.imps, insecure) },
	}
	for name, d := range dial {
		t.Run(name, func(t *testing.T) {
			c, err := d()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login("ada@example.org", "secret password").Wait(); err != nil {
				t.Fatalf("account login: %v", err)
			}
			if got := mailboxes(t, c); !got["priv"] || !got["priv/patches"] || !got["pub"] {
				t.Errorf("a maintainer of priv sees %v", got)
			}
			// IMAP4rev2 with ESEARCH.
			if _, err := c.Enable(imap.CapIMAP4rev2).Wait(); err != nil {
				t.Fatal(err)
			}
			sel, err := c.Select("priv", &imap.SelectOptions{ReadOnly: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if sel.NumMessages != 1 {
				t.Errorf("priv has %d messages, want 1", sel.NumMessages)
			}
			data, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{"body"}}, &imap.SearchOptions{ReturnCount: true, ReturnAll: true}).Wait()
			if err != nil {
				t.Fatal(err)
			}
			if data.Count != 1 {
				t.Errorf("ESEARCH count %d, want 1", data.Count)
			}
		})
	}

	t.Run("anonymous", func(t *testing.T) {
		c, err := imapclient.DialInsecure(e.plain, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("anonymous", "anything").Wait(); err != nil {
			t.Fatal(err)
		}
		got := mailboxes(t, c)
		if got["priv"] || got["priv/patches"] || !got["pub"] || !got["INBOX"] {
			t.Errorf("anonymous sees %v", got)
		}
		for _, mb := range []string{"priv", "priv/patches", "nosuch"} {
			_, err := c.Select(mb, nil).Wait()
			if imapErr, ok := err.(*imap.Error); !ok || imapErr.Code != imap.ResponseCodeNonExistent {
				t.Errorf("anonymous SELECT %s: %v, want NO [NONEXISTENT]", mb, err)
			}
		}
		if _, err := c.Status("priv", &imap.StatusOptions{NumMessages: true}).Wait(); err == nil {
			t.Error("anonymous STATUS of a private list succeeded")
		}
	})

	t.Run("token", func(t *testing.T) {
		c, err := imapclient.DialTLS(e.imps, insecure)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("ada@example.org", e.token).Wait(); err != nil {
			t.Fatalf("token login: %v", err)
		}
		if !mailboxes(t, c)["priv"] {
			t.Error("token login does not see priv")
		}
	})

	t.Run("wrong password", func(t *testing.T) {
		c, err := imapclient.DialTLS(e.imps, insecure)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		err = c.Login("ada@example.org", "wrong").Wait()
		if imapErr, ok := err.(*imap.Error); !ok || imapErr.Code != imap.ResponseCodeAuthenticationFailed {
			t.Errorf("wrong password: %v, want NO [AUTHENTICATIONFAILED]", err)
		}
	})
}

// TestGuardTLS: on imaps the guard sits above TLS and answers client
// mistakes BAD; go-imap offers no STARTTLS there (it does not see the
// TLS), and does on the plain port. There the guard answers STARTTLS and
// stays above the TLS it starts: client mistakes are BAD (they were NO
// [SERVERBUG] when go-imap did the TLS, under the guard), STARTTLS is no
// longer offered and is BAD again, and the session goes on.
func TestGuardTLS(t *testing.T) {
	e := newTLSEnv(t)
	cmd := func(c net.Conn, r *bufio.Reader, tag, line string) (caps, status string) {
		t.Helper()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.WriteString(c, tag+" "+line+"\r\n"); err != nil {
			t.Fatal(err)
		}
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s %s: %v", tag, line, err)
			}
			if strings.HasPrefix(l, "* CAPABILITY") {
				caps = l
			}
			if strings.HasPrefix(l, tag+" ") {
				return caps, strings.TrimSpace(l)
			}
		}
	}

	tc, err := tls.Dial("tcp", e.imps, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	r := bufio.NewReader(tc)
	r.ReadString('\n')
	if caps, _ := cmd(tc, r, "a", "CAPABILITY"); strings.Contains(caps, "STARTTLS") {
		t.Errorf("imaps offers STARTTLS: %q", caps)
	}
	cmd(tc, r, "b", "LOGIN anonymous x")
	cmd(tc, r, "c", "EXAMINE pub")
	if _, st := cmd(tc, r, "d", "UID FETCH 1:4294967296 FLAGS"); !strings.HasPrefix(st, "d BAD") {
		t.Errorf("imaps, a bad sequence set: %q, want BAD", st)
	}
	if _, st := cmd(tc, r, "e", "FETCH 1:* FLAGS"); !strings.HasPrefix(st, "e OK") {
		t.Errorf("imaps, FETCH after: %q", st)
	}

	pc, err := net.Dial("tcp", e.plain)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	r = bufio.NewReader(pc)
	r.ReadString('\n')
	if caps, _ := cmd(pc, r, "a", "CAPABILITY"); !strings.Contains(caps, "STARTTLS") {
		t.Errorf("the plain port does not offer STARTTLS: %q", caps)
	}
	if _, st := cmd(pc, r, "b", "STARTTLS"); !strings.HasPrefix(st, "b OK") {
		t.Fatalf("STARTTLS: %q", st)
	}
	sc := tls.Client(pc, &tls.Config{InsecureSkipVerify: true})
	defer sc.Close()
	r = bufio.NewReader(sc)
	if caps, _ := cmd(sc, r, "b1", "CAPABILITY"); caps == "" || strings.Contains(caps, "STARTTLS") {
		t.Errorf("after STARTTLS, capabilities %q: want them, without STARTTLS", caps)
	}
	if _, st := cmd(sc, r, "b2", "STARTTLS"); !strings.HasPrefix(st, "b2 BAD") {
		t.Errorf("STARTTLS again: %q, want BAD", st)
	}
	cmd(sc, r, "c", "LOGIN anonymous x")
	cmd(sc, r, "d", "EXAMINE pub")
	if _, st := cmd(sc, r, "e", "UID FETCH 1:4294967296 FLAGS"); !strings.HasPrefix(st, "e BAD") {
		t.Errorf("after STARTTLS, a bad sequence set: %q, want BAD", st)
	}
	if _, st := cmd(sc, r, "f", "FETCH 1:* FLAGS"); !strings.HasPrefix(st, "f OK") {
		t.Errorf("after STARTTLS, FETCH after: %q", st)
	}
}

// TestStartTLSEdges: STARTTLS after login is BAD, one with arguments is
// go-imap's BAD; a command sent in the clear right after STARTTLS,
// before the go-ahead, is not run under TLS (it is read as the start of
// the handshake, which fails), and neither is a handshake gone wrong.
func TestStartTLSEdges(t *testing.T) {
	e := newTLSEnv(t)
	dial := func() (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.Dial("tcp", e.plain)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		r.ReadString('\n')
		return c, r
	}
	cmd := func(c net.Conn, r *bufio.Reader, tag, line string) string {
		t.Helper()
		io.WriteString(c, tag+" "+line+"\r\n")
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return "EOF"
			}
			if strings.HasPrefix(l, tag+" ") {
				return strings.TrimSpace(l)
			}
		}
	}

	c, r := dial()
	if st := cmd(c, r, "a", "STARTTLS now"); !strings.HasPrefix(st, "a BAD") {
		t.Errorf("STARTTLS with an argument: %q, want BAD", st)
	}
	cmd(c, r, "b", "LOGIN anonymous x")
	if st := cmd(c, r, "c", "STARTTLS"); !strings.HasPrefix(st, "c BAD") {
		t.Errorf("STARTTLS after login: %q, want BAD", st)
	}
	if st := cmd(c, r, "d", "EXAMINE pub"); !strings.HasPrefix(st, "d OK") {
		t.Errorf("EXAMINE after: %q", st)
	}

	c, r = dial()
	io.WriteString(c, "a STARTTLS\r\nb LOGIN anonymous x\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	if rest, err := io.ReadAll(r); len(rest) > 0 && strings.Contains(string(rest), "b OK") {
		t.Errorf("a command sent in the clear after STARTTLS ran: %q (%v)", rest, err)
	}

	c, r = dial()
	io.WriteString(c, "a STARTTLS\r\n")
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "a OK") {
		t.Fatalf("STARTTLS: %q", l)
	}
	io.WriteString(c, "not a handshake\r\n")
	if _, err := io.ReadAll(r); err != nil {
		t.Errorf("after a failed handshake: %v, want the connection closed", err)
	}
}
