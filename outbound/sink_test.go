package outbound

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sunk is one transaction a sink answered 250 to.
type sunk struct {
	From string
	Rcpt string
	Data []byte
}

// sink is a real SMTP server on loopback that records every transaction
// it acknowledged. Its hooks may refuse a recipient or a message.
type sink struct {
	srv  *smtp.Server
	addr string

	mu    sync.Mutex
	acked []sunk
	datas int // DATA commands whose body was read, answered or not

	// rcptHook and dataHook, when set, may return an error to refuse.
	// dataHook gets the sequence number (from 1) of the DATA command.
	rcptHook func(rcpt string) error
	dataHook func(seq int, s sunk) error
	// discard keeps counts only (the benchmark).
	discard bool
	// user and password, when set, are required (AUTH PLAIN, which the
	// server offers only over TLS).
	user, password string
	logins         int
}

func newSink(t testing.TB, configure func(s *sink)) *sink {
	t.Helper()
	s := &sink{}
	if configure != nil {
		configure(s)
	}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{s: s, c: c}, nil
	}))
	s.srv.Domain = "sink.test"
	s.srv.ErrorLog = log.New(io.Discard, "", 0) // a killed client's reset is expected
	s.srv.MaxRecipients = 10
	s.srv.ReadTimeout = time.Minute
	s.srv.WriteTimeout = time.Minute
	if s.user != "" {
		s.srv.TLSConfig = selfSigned(t)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.addr = l.Addr().String()
	go s.srv.Serve(l)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

// dataCount is how many DATA bodies the sink read, answered or not.
func (s *sink) dataCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.datas
}

func (s *sink) messages() []sunk {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sunk(nil), s.acked...)
}

type sinkSession struct {
	s      *sink
	c      *smtp.Conn
	authed bool
	from   string
	rcpts  []string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.s.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != ss.s.user || pass != ss.s.password {
			return smtp.ErrAuthFailed
		}
		ss.authed = true
		ss.s.mu.Lock()
		ss.s.logins++
		ss.s.mu.Unlock()
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.user != "" {
		if _, ok := ss.c.TLSConnectionState(); !ok {
			return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "STARTTLS first"}
		}
		if !ss.authed {
			return smtp.ErrAuthRequired
		}
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	if h := ss.s.rcptHook; h != nil {
		if err := h(to); err != nil {
			return err
		}
	}
	ss.rcpts = append(ss.rcpts, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	if len(ss.rcpts) != 1 {
		return errors.New("sink: want one recipient per transaction")
	}
	var data []byte
	var err error
	if ss.s.discard {
		_, err = io.Copy(io.Discard, r)
	} else {
		data, err = io.ReadAll(r)
	}
	if err != nil {
		return err
	}
	m := sunk{From: ss.from, Rcpt: ss.rcpts[0], Data: data}
	ss.s.mu.Lock()
	ss.s.datas++
	seq := ss.s.datas
	ss.s.mu.Unlock()
	if h := ss.s.dataHook; h != nil {
		if err := h(seq, m); err != nil {
			return err
		}
	}
	ss.s.mu.Lock()
	ss.s.acked = append(ss.s.acked, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset() { ss.from, ss.rcpts = "", nil }

func (ss *sinkSession) Logout() error { return nil }

// selfSigned makes a TLS server configuration with a fresh self-signed
// certificate for 127.0.0.1.
func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "sink.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// testLogger sends the worker's log to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(string(b))
	return len(b), nil
}
