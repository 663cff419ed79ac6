package mailauth

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// anyDNS answers every TXT query with the same records, so the fuzzer
// reaches the DKIM key, SPF and DMARC parsers; an empty txt means no such
// name.
type anyDNS struct{ txt []string }

func (a anyDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if len(a.txt) == 0 {
		return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
	}
	return a.txt, nil
}
func (anyDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	return []*net.MX{{Host: "mx." + name, Pref: 10}}, nil
}
func (anyDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	return []net.IPAddr{{IP: net.ParseIP("192.0.2.1")}}, nil
}
func (anyDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return []string{"host.example.org."}, nil
}

func FuzzVerify(f *testing.F) {
	signed := sign(&testing.T{}, message("Alice <alice@example.org>"), "example.org", "ed", edKey())
	edRec := keyRecord(&testing.T{}, edKey())
	f.Add([]byte(signed), edRec, "alice@example.org")
	f.Add([]byte(strings.Replace(signed, "twice", "thrice", 1)), edRec, "<>")
	f.Add([]byte(signed), "v=DMARC1; p=reject; sp=none; adkim=s; aspf=s", "a@b.example")
	f.Add([]byte(signed), "v=spf1 include:%{d}.x a mx ptr exists:%{i}.%{s} redirect=%{l}.example ~all", "x@example.org")
	f.Add([]byte("From: a@b.example, c@d.example\r\nDKIM-Signature: v=1; d=; s=\r\n\r\n"), "", "")
	f.Add([]byte("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AA==; b=AA==\n\n"), "v=DKIM1; k=rsa; p=AAAA", "")
	f.Add([]byte{}, "", "")
	f.Fuzz(func(t *testing.T, raw []byte, txt, mailFrom string) {
		var recs []string
		if txt != "" {
			recs = strings.Split(txt, "\n")
		}
		r := Verify(context.Background(), raw, net.ParseIP("192.0.2.1"), "mx.example.org", mailFrom, Options{Resolver: anyDNS{recs}})
		if len(r.DKIM) > MaxSignatures {
			t.Errorf("%d DKIM results, want at most %d", len(r.DKIM), MaxSignatures)
		}
		if r.DMARC == Pass && !r.AlignedDKIM && !r.AlignedSPF {
			t.Errorf("DMARC pass without an aligned pass: %+v", r)
		}
		h := r.Header("mx.patchwell.test")
		if strings.ContainsAny(h, "\r\n\x00") {
			t.Errorf("Header() = %q: has a control character", h)
		}
		_ = r.SignedBy()
	})
}

// FuzzPatatt: developer-signature parsing and verification never panic
// on hostile mail, and never verify what the key did not sign (git
// mailinfo stands in as the body itself, so the fuzzer needs no git).
func FuzzPatatt(f *testing.F) {
	for _, name := range []string{"ed25519.eml", "openpgp.eml"} {
		b, err := os.ReadFile(filepath.Join("testdata", "patatt", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(bytes.Replace(b, []byte("b="), []byte("b=AAAA"), 1))
	}
	f.Add([]byte("From: a@b\nX-Developer-Signature: v=1; a=ed25519-sha256; t=1; h=from:subject; bh=; b=AA==\n\nx\n"))
	f.Add([]byte("X-Developer-Signature: v=1; a=openpgp-sha256; b=b=;b=\n \t\n\n"))
	ed, _ := os.ReadFile(filepath.Join("testdata", "patatt", "ed25519.pub"))
	pgp, _ := os.ReadFile(filepath.Join("testdata", "patatt", "openpgp.pub"))
	keys := []PatattKey{{AlgEd25519, string(ed)}, {AlgOpenPGP, string(pgp)}}
	mi := func(_ context.Context, raw []byte) ([]byte, []byte, []byte, error) {
		_, body, _ := bytes.Cut(raw, []byte("\n\n"))
		return body, nil, []byte("Author: A\nEmail: a@b\nSubject: s\n\n"), nil
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := ParsePatatt(raw)
		if err != nil {
			return
		}
		for _, s := range m.Sigs {
			for _, k := range keys {
				// The stand-in mailinfo changes From and Subject, which
				// both signatures cover: nothing may verify.
				if err := VerifyPatatt(context.Background(), mi, m, s, k); err == nil {
					t.Fatalf("verified with a changed From and Subject: %q", raw)
				}
			}
		}
	})
}
