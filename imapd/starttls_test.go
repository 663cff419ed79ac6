package imapd_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"patchwell/imapd"
)

// testCert makes a certificate for 127.0.0.1 and writes it to a PEM
// file, for clients that check it against that.
func testCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"127.0.0.1"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, file
}

// starttlsMistakes drives the server with imaplib: STARTTLS, then LOGIN,
// SELECT, each command of the spec sent as it is (answers read up to
// its tag, then a NOOP), and STARTTLS again.
const starttlsMistakes = `
import imaplib, json, ssl, sys
spec = json.load(open(sys.argv[1]))
M = imaplib.IMAP4(spec["host"], int(spec["port"]))
out = {"before": list(M.capabilities)}
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
M.starttls(ssl_context=ctx)
out["after"] = list(M.capabilities)
M.login("anonymous", "x")
typ, _ = M.select(spec["box"])
out["select"] = typ

def raw(tag, cmd):
    M.send((tag + " " + cmd + "\r\n").encode())
    while True:
        line = M.readline().decode("latin-1")
        if not line:
            return "EOF"
        if line.startswith(tag + " "):
            return line.strip()

out["answers"] = []
try:
    for i, cmd in enumerate(spec["cmds"]):
        out["answers"].append(raw("m%d" % i, cmd))
        typ, _ = M.noop()
        if typ != "OK":
            out["answers"][-1] += " (NOOP after: %s)" % typ
    out["again"] = raw("s2", "STARTTLS")
    typ, data = M.fetch("1", "(FLAGS)")
    out["fetch"] = typ
    M.logout()
except Exception as e:
    out["answers"].append("%s: %s" % (type(e).__name__, e))
json.dump(out, sys.stdout)
`

// TestStartTLSMistakes: after STARTTLS, done by a real client (Python's
// imaplib), client mistakes are answered BAD with the reason, as on the
// plain and imaps ports, and the session goes on; go-imap offered
// STARTTLS before it and not after, and another STARTTLS is BAD.
// Before the guard answered STARTTLS, go-imap put TLS between itself
// and the guard, and answered these NO [SERVERBUG].
func TestStartTLSMistakes(t *testing.T) {
	py := need(t, "python3")
	cert, _ := testCert(t)
	f := newFixture(t, imapd.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "dev")
	for _, raw := range testMessages(t)[:3] {
		f.deliver("dev", raw)
	}
	var cmds []string
	for _, m := range clientMistakes {
		cmds = append(cmds, m.cmd)
	}
	dir := t.TempDir()
	spec, script := filepath.Join(dir, "spec.json"), filepath.Join(dir, "run.py")
	b, _ := json.Marshal(map[string]any{"host": f.host(), "port": f.port(), "box": "dev", "cmds": cmds})
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(starttlsMistakes), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res struct {
		Before, After        []string
		Select, Again, Fetch string
		Answers              []string
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if !slices.Contains(res.Before, "STARTTLS") || slices.Contains(res.After, "STARTTLS") {
		t.Errorf("capabilities before STARTTLS %q, after %q: want STARTTLS before only", res.Before, res.After)
	}
	if res.Select != "OK" || res.Fetch != "OK" {
		t.Errorf("SELECT %s, FETCH at the end %s; want OK", res.Select, res.Fetch)
	}
	for i, m := range clientMistakes[:min(len(clientMistakes), len(res.Answers))] {
		tag := fmt.Sprintf("m%d", i)
		if st := res.Answers[i]; !strings.HasPrefix(st, tag+" BAD") || !strings.Contains(strings.ToLower(st), m.reason) ||
			strings.Contains(st, "NOOP after") {
			t.Errorf("%s: %q, want BAD saying %q", trunc([]byte(m.cmd)), st, m.reason)
		}
	}
	if len(res.Answers) != len(clientMistakes) {
		t.Fatalf("%d answers for %d commands, the last: %q", len(res.Answers), len(clientMistakes), res.Answers[len(res.Answers)-1])
	}
	if !strings.HasPrefix(res.Again, "s2 BAD") {
		t.Errorf("STARTTLS again: %q, want BAD", res.Again)
	}
}

// TestMbsyncStartTLS: mbsync (isync) pulls a list over STARTTLS,
// checking the server's certificate.
func TestMbsyncStartTLS(t *testing.T) {
	mbsync := need(t, "mbsync")
	cert, pemFile := testCert(t)
	f := newFixture(t, imapd.Config{TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}, "dev")
	msgs := testMessages(t)
	for _, raw := range msgs[:4] {
		f.deliver("dev", raw)
	}
	dir := t.TempDir()
	mail := filepath.Join(dir, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(mbsyncrc, f.host(), f.port(), mail, mail, "dev")
	conf = strings.Replace(conf, "SSLType None", "SSLType STARTTLS\nCertificateFile "+pemFile, 1)
	rc := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(mbsync, "-V", "-c", rc, "archive")
	cmd.Env = append(os.Environ(), "HOME="+dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}
	if got := readMaildir(t, filepath.Join(mail, "dev")); len(got) != 4 {
		t.Errorf("maildir holds %d messages, want 4\n%s", len(got), out)
	}
	if !bytes.Contains(out, []byte("TLS")) && !bytes.Contains(out, []byte("STARTTLS")) {
		t.Logf("mbsync -V does not mention TLS:\n%s", out)
	}
}
