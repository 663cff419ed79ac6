package mailauth

import (
	"context"
	"net"
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
