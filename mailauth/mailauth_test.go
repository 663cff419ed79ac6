package mailauth

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"github.com/google/go-cmp/cmp"
)

// fakeDNS answers from maps; a name in temp fails temporarily, a name
// nowhere does not exist.
type fakeDNS struct {
	txt  map[string][]string
	ip   map[string][]net.IPAddr
	mx   map[string][]*net.MX
	temp map[string]bool
}

func norm(name string) string { return strings.TrimSuffix(strings.ToLower(name), ".") }

func (f *fakeDNS) err(name string) error {
	if f.temp[norm(name)] {
		return &net.DNSError{Err: "server failure", Name: name, IsTemporary: true}
	}
	return &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func (f *fakeDNS) LookupTXT(_ context.Context, name string) ([]string, error) {
	if t, ok := f.txt[norm(name)]; ok && !f.temp[norm(name)] {
		return t, nil
	}
	return nil, f.err(name)
}

func (f *fakeDNS) LookupMX(_ context.Context, name string) ([]*net.MX, error) {
	if m, ok := f.mx[norm(name)]; ok {
		return m, nil
	}
	return nil, f.err(name)
}

func (f *fakeDNS) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	if a, ok := f.ip[norm(host)]; ok {
		return a, nil
	}
	return nil, f.err(host)
}

func (f *fakeDNS) LookupAddr(_ context.Context, addr string) ([]string, error) {
	return nil, f.err(addr)
}

// rsaKey is made once per test binary: 2048-bit generation is the slow part.
var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

var edKey = sync.OnceValue(func() ed25519.PrivateKey {
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// keyRecord is the DKIM TXT record publishing k's public half.
func keyRecord(t *testing.T, k crypto.Signer) string {
	t.Helper()
	switch pub := k.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			t.Fatalf("MarshalPKIXPublicKey() = %v", err)
		}
		return "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der)
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	}
	t.Fatalf("unknown key type %T", k.Public())
	return ""
}

func sign(t *testing.T, msg, domain, selector string, k crypto.Signer) string {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: domain, Selector: selector, Signer: k})
	if err != nil {
		t.Fatalf("dkim.Sign() = %v", err)
	}
	return b.String()
}

func message(from string) string {
	return "From: " + from + "\r\n" +
		"To: dev@patchwell.test\r\n" +
		"Subject: [PATCH] fix the frobnicator\r\n" +
		"Message-ID: <1@example.org>\r\n" +
		"\r\n" +
		"The frobnicator frobbed twice.\r\n"
}

// baseDNS publishes: example.org with SPF for 192.0.2.0/24 and DMARC
// p=reject; keys rsa._domainkey and ed._domainkey for example.org,
// mail.example.org and lists.example.net.
func baseDNS(t *testing.T) *fakeDNS {
	rsaRec, edRec := keyRecord(t, rsaKey()), keyRecord(t, edKey())
	return &fakeDNS{
		txt: map[string][]string{
			"example.org":                        {"v=spf1 ip4:192.0.2.0/24 -all"},
			"_dmarc.example.org":                 {"v=DMARC1; p=reject; sp=quarantine"},
			"rsa._domainkey.example.org":         {rsaRec},
			"ed._domainkey.example.org":          {edRec},
			"rsa._domainkey.mail.example.org":    {rsaRec},
			"rsa._domainkey.lists.example.net":   {rsaRec},
			"example.net":                        {"v=spf1 ip4:203.0.113.0/24 -all"},
			"soft.example.com":                   {"v=spf1 ip4:192.0.2.0/24 ~all"},
			"nodmarc.example.com":                {"v=spf1 ip4:192.0.2.0/24 -all"},
			"rsa._domainkey.nodmarc.example.com": {rsaRec},
		},
		temp: map[string]bool{},
	}
}

var (
	inside  = net.ParseIP("192.0.2.10")   // in example.org's SPF
	outside = net.ParseIP("198.51.100.7") // in nobody's
)

func TestVerify(t *testing.T) {
	alice := message("Alice <alice@example.org>")
	tests := []struct {
		name     string
		msg      func(t *testing.T) string
		dns      func(d *fakeDNS)
		ip       net.IP
		mailFrom string
		want     Result
	}{{
		name:     "rsa pass, spf pass, dmarc pass",
		msg:      func(t *testing.T) string { return sign(t, alice, "example.org", "rsa", rsaKey()) },
		ip:       inside,
		mailFrom: "<alice@example.org>",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "rsa", Status: Pass}},
			SPF:  Pass, SPFDomain: "example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedDKIM: true, AlignedSPF: true,
		},
	}, {
		name:     "ed25519 pass aligned, spf fail: dmarc pass",
		msg:      func(t *testing.T) string { return sign(t, alice, "example.org", "ed", edKey()) },
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "ed", Status: Pass}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedDKIM: true,
		},
	}, {
		name: "body altered after signing",
		msg: func(t *testing.T) string {
			return strings.Replace(sign(t, alice, "example.org", "rsa", rsaKey()), "twice", "thrice", 1)
		},
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "rsa", Status: Fail}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Fail, Policy: "reject",
		},
	}, {
		name:     "no signature, spf pass: dmarc pass by spf",
		msg:      func(t *testing.T) string { return alice },
		ip:       inside,
		mailFrom: "alice@example.org",
		want: Result{
			SPF: Pass, SPFDomain: "example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedSPF: true,
		},
	}, {
		name:     "key not published: permerror",
		msg:      func(t *testing.T) string { return sign(t, alice, "example.org", "gone", rsaKey()) },
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "gone", Status: PermError}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Fail, Policy: "reject",
		},
	}, {
		name:     "key lookup fails temporarily: temperror, dmarc temperror",
		msg:      func(t *testing.T) string { return sign(t, alice, "example.org", "rsa", rsaKey()) },
		dns:      func(d *fakeDNS) { d.temp["rsa._domainkey.example.org"] = true },
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "rsa", Status: TempError}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: TempError, Policy: "reject",
		},
	}, {
		name:     "spf softfail",
		msg:      func(t *testing.T) string { return message("carol@soft.example.com") },
		ip:       outside,
		mailFrom: "carol@soft.example.com",
		want:     Result{SPF: SoftFail, SPFDomain: "soft.example.com", From: "soft.example.com", DMARC: None},
	}, {
		name: "spf pass by mx",
		msg:  func(t *testing.T) string { return message("frank@mx.example.com") },
		dns: func(d *fakeDNS) {
			d.txt["mx.example.com"] = []string{"v=spf1 mx -all"}
			d.mx = map[string][]*net.MX{"mx.example.com": {{Host: "in.mx.example.com.", Pref: 10}}}
			d.ip = map[string][]net.IPAddr{"in.mx.example.com": {{IP: outside}}}
		},
		ip:       outside,
		mailFrom: "frank@mx.example.com",
		want:     Result{SPF: Pass, SPFDomain: "mx.example.com", From: "mx.example.com", DMARC: None, AlignedSPF: true},
	}, {
		name: "unreadable signature: permerror with its domain and selector",
		msg: func(t *testing.T) string {
			return "DKIM-Signature: v=1; a=rsa-sha256; d=Example.ORG; s=rsa; h=from; bh=!!; b=!!\r\n" + alice
		},
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "example.org", Selector: "rsa", Status: PermError}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Fail, Policy: "reject",
		},
	}, {
		name:     "spf from helo when mail from is empty",
		msg:      func(t *testing.T) string { return message("MAILER-DAEMON@example.org") },
		dns:      func(d *fakeDNS) { d.txt["mx.example.org"] = []string{"v=spf1 ip4:192.0.2.10 -all"} },
		ip:       inside,
		mailFrom: "<>",
		want: Result{
			SPF: Pass, SPFDomain: "mx.example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedSPF: true,
		},
	}, {
		name:     "third-party signature only, spf fail: dmarc fail, reject",
		msg:      func(t *testing.T) string { return sign(t, alice, "lists.example.net", "rsa", rsaKey()) },
		ip:       outside,
		mailFrom: "bounce@example.net",
		want: Result{
			DKIM: []DKIMResult{{Domain: "lists.example.net", Selector: "rsa", Status: Pass}},
			SPF:  Fail, SPFDomain: "example.net", From: "example.org",
			DMARC: Fail, Policy: "reject",
		},
	}, {
		name:     "subdomain signature, relaxed alignment: pass",
		msg:      func(t *testing.T) string { return sign(t, alice, "mail.example.org", "rsa", rsaKey()) },
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "mail.example.org", Selector: "rsa", Status: Pass}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedDKIM: true,
		},
	}, {
		name: "subdomain signature, strict alignment: fail",
		msg:  func(t *testing.T) string { return sign(t, alice, "mail.example.org", "rsa", rsaKey()) },
		dns: func(d *fakeDNS) {
			d.txt["_dmarc.example.org"] = []string{"v=DMARC1; p=quarantine; adkim=s"}
		},
		ip:       outside,
		mailFrom: "alice@example.org",
		want: Result{
			DKIM: []DKIMResult{{Domain: "mail.example.org", Selector: "rsa", Status: Pass}},
			SPF:  Fail, SPFDomain: "example.org", From: "example.org",
			DMARC: Fail, Policy: "quarantine",
		},
	}, {
		name: "spf pass for a subdomain, strict spf alignment: fail",
		msg:  func(t *testing.T) string { return alice },
		dns: func(d *fakeDNS) {
			d.txt["bounce.example.org"] = []string{"v=spf1 ip4:192.0.2.0/24 -all"}
			d.txt["_dmarc.example.org"] = []string{"v=DMARC1; p=reject; aspf=s"}
		},
		ip:       inside,
		mailFrom: "b+1@bounce.example.org",
		want: Result{
			SPF: Pass, SPFDomain: "bounce.example.org", From: "example.org",
			DMARC: Fail, Policy: "reject",
		},
	}, {
		name: "no dmarc record: none",
		msg: func(t *testing.T) string {
			return sign(t, message("dave@nodmarc.example.com"), "nodmarc.example.com", "rsa", rsaKey())
		},
		ip:       outside,
		mailFrom: "dave@nodmarc.example.com",
		want: Result{
			DKIM: []DKIMResult{{Domain: "nodmarc.example.com", Selector: "rsa", Status: Pass}},
			SPF:  Fail, SPFDomain: "nodmarc.example.com", From: "nodmarc.example.com",
			DMARC: None, AlignedDKIM: true,
		},
	}, {
		name:     "subdomain From, record at the org domain: sp= applies",
		msg:      func(t *testing.T) string { return message("erin@lists.example.org") },
		ip:       outside,
		mailFrom: "erin@lists.example.org",
		want: Result{
			SPF: None, SPFDomain: "lists.example.org", From: "lists.example.org",
			DMARC: Fail, Policy: "quarantine",
		},
	}, {
		name:     "dmarc record lookup fails temporarily",
		msg:      func(t *testing.T) string { return alice },
		dns:      func(d *fakeDNS) { d.temp["_dmarc.example.org"] = true },
		ip:       inside,
		mailFrom: "alice@example.org",
		want: Result{
			SPF: Pass, SPFDomain: "example.org", From: "example.org",
			DMARC: TempError, AlignedSPF: true,
		},
	}, {
		name:     "invalid dmarc record: permerror",
		msg:      func(t *testing.T) string { return alice },
		dns:      func(d *fakeDNS) { d.txt["_dmarc.example.org"] = []string{"v=DMARC1; p=maybe"} },
		ip:       inside,
		mailFrom: "alice@example.org",
		want: Result{
			SPF: Pass, SPFDomain: "example.org", From: "example.org",
			DMARC: PermError, AlignedSPF: true,
		},
	}, {
		name: "two dmarc records: none (RFC 7489 6.6.3)",
		msg:  func(t *testing.T) string { return alice },
		dns: func(d *fakeDNS) {
			d.txt["_dmarc.example.org"] = []string{"v=DMARC1; p=reject", "v=DMARC1; p=none"}
		},
		ip:       outside,
		mailFrom: "alice@example.org",
		want:     Result{SPF: Fail, SPFDomain: "example.org", From: "example.org", DMARC: None},
	}, {
		name:     "two From fields: permerror",
		msg:      func(t *testing.T) string { return "From: mallory@evil.test\r\n" + alice },
		ip:       inside,
		mailFrom: "alice@example.org",
		want:     Result{SPF: Pass, SPFDomain: "example.org", DMARC: PermError},
	}, {
		name:     "From addresses in two domains: permerror",
		msg:      func(t *testing.T) string { return message("alice@example.org, mallory@evil.test") },
		ip:       inside,
		mailFrom: "alice@example.org",
		want:     Result{SPF: Pass, SPFDomain: "example.org", DMARC: PermError},
	}, {
		name:     "two From addresses in one domain: checked",
		msg:      func(t *testing.T) string { return message("alice@example.org, Bob <bob@EXAMPLE.org>") },
		ip:       inside,
		mailFrom: "alice@example.org",
		want: Result{
			SPF: Pass, SPFDomain: "example.org", From: "example.org",
			DMARC: Pass, Policy: "reject", AlignedSPF: true,
		},
	}, {
		name:     "no From: permerror",
		msg:      func(t *testing.T) string { return strings.Replace(alice, "From: Alice <alice@example.org>\r\n", "", 1) },
		ip:       inside,
		mailFrom: "alice@example.org",
		want:     Result{SPF: Pass, SPFDomain: "example.org", DMARC: PermError},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := baseDNS(t)
			if tc.dns != nil {
				tc.dns(d)
			}
			got := Verify(context.Background(), []byte(tc.msg(t)), tc.ip, "mx.example.org", tc.mailFrom, Options{Resolver: d})
			for i, r := range got.DKIM {
				if (r.Status == Pass) != (r.Err == "") {
					t.Errorf("DKIM[%d] = %+v: want an Err exactly when not passing", i, r)
				}
				got.DKIM[i].Err = ""
			}
			if diff := cmp.Diff(&tc.want, got); diff != "" {
				t.Errorf("Verify() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTooManySignatures(t *testing.T) {
	msg := message("alice@example.org")
	for i := 0; i < MaxSignatures+3; i++ {
		msg = sign(t, msg, "example.org", "ed", edKey())
	}
	var d countingDNS
	d.fakeDNS = baseDNS(t)
	got := Verify(context.Background(), []byte(msg), inside, "mx.example.org", "alice@example.org", Options{Resolver: &d})
	if len(got.DKIM) != MaxSignatures {
		t.Errorf("len(DKIM) = %d, want %d", len(got.DKIM), MaxSignatures)
	}
	for i, r := range got.DKIM {
		if r.Status != Pass {
			t.Errorf("DKIM[%d] = %+v, want pass", i, r)
		}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if n := d.n["ed._domainkey.example.org"]; n != MaxSignatures {
		t.Errorf("key looked up %d times, want %d", n, MaxSignatures)
	}
	if diff := cmp.Diff([]string{"example.org"}, got.SignedBy()); diff != "" {
		t.Errorf("SignedBy() mismatch (-want +got):\n%s", diff)
	}
}

type countingDNS struct {
	*fakeDNS
	mu sync.Mutex
	n  map[string]int
}

func (c *countingDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]int{}
	}
	c.n[norm(name)]++
	c.mu.Unlock()
	return c.fakeDNS.LookupTXT(ctx, name)
}

func TestSignedBy(t *testing.T) {
	msg := sign(t, message("alice@example.org"), "lists.example.net", "rsa", rsaKey())
	msg = sign(t, msg, "example.org", "gone", rsaKey())
	msg = sign(t, msg, "mail.example.org", "rsa", rsaKey())
	got := Verify(context.Background(), []byte(msg), outside, "mx.example.org", "alice@example.org", Options{Resolver: baseDNS(t)})
	// Header order: the last signature added comes first.
	if diff := cmp.Diff([]string{"mail.example.org", "lists.example.net"}, got.SignedBy()); diff != "" {
		t.Errorf("SignedBy() mismatch (-want +got):\n%s", diff)
	}
}

// blockingDNS answers nothing until the context ends.
type blockingDNS struct{}

func (blockingDNS) LookupTXT(ctx context.Context, name string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingDNS) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingDNS) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingDNS) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// A resolver that never answers, and gives a plain context error, ends in
// temperror everywhere once the timeout passes.
func TestTimeout(t *testing.T) {
	msg := sign(t, message("alice@example.org"), "example.org", "rsa", rsaKey())
	got := Verify(context.Background(), []byte(msg), inside, "mx.example.org", "alice@example.org",
		Options{Resolver: blockingDNS{}, Timeout: 10 * time.Millisecond})
	want := &Result{
		DKIM: []DKIMResult{{Domain: "example.org", Selector: "rsa", Status: TempError}},
		SPF:  TempError, SPFDomain: "example.org", From: "example.org", DMARC: TempError,
	}
	for i := range got.DKIM {
		got.DKIM[i].Err = ""
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Verify() mismatch (-want +got):\n%s", diff)
	}
}

func TestHeader(t *testing.T) {
	d := baseDNS(t)
	tests := []struct {
		name, msg, mailFrom string
		ip                  net.IP
		want                string
	}{{
		name:     "all pass",
		msg:      sign(t, message("alice@example.org"), "example.org", "rsa", rsaKey()),
		mailFrom: "alice@example.org",
		ip:       inside,
		want:     "mx.patchwell.test; dkim=pass header.d=example.org header.s=rsa; spf=pass smtp.mailfrom=example.org; dmarc=pass (p=reject) header.from=example.org",
	}, {
		name:     "unsigned, no record",
		msg:      message("carol@soft.example.com"),
		mailFrom: "carol@soft.example.com",
		ip:       outside,
		want:     "mx.patchwell.test; dkim=none; spf=softfail smtp.mailfrom=soft.example.com; dmarc=none header.from=soft.example.com",
	}, {
		name:     "altered body",
		msg:      strings.Replace(sign(t, message("alice@example.org"), "example.org", "ed", edKey()), "twice", "thrice", 1),
		mailFrom: "alice@example.org",
		ip:       outside,
		want:     `mx.patchwell.test; dkim=fail reason="dkim: body hash did not verify" header.d=example.org header.s=ed; spf=fail smtp.mailfrom=example.org; dmarc=fail (p=reject) header.from=example.org`,
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Verify(context.Background(), []byte(tc.msg), tc.ip, "mx.example.org", tc.mailFrom, Options{Resolver: d}).Header("mx.patchwell.test")
			if got != tc.want {
				t.Errorf("Header() =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

// Hostile values cannot end the field or add one.
func TestHeaderQuotes(t *testing.T) {
	r := &Result{
		DKIM: []DKIMResult{{Domain: "x.org\r\nBcc: victim@example.org", Selector: `a"b\c`, Status: PermError, Err: "bad\x00 key"}},
		SPF:  None, SPFDomain: "évil.example", DMARC: PermError,
	}
	got := r.Header("mx;x")
	want := `"mx;x"; dkim=permerror reason="bad key" header.d="x.orgBcc: victim@example.org" header.s="a\"b\\c"; spf=none smtp.mailfrom="évil.example"; dmarc=permerror`
	if got != want {
		t.Errorf("Header() =\n%s\nwant\n%s", got, want)
	}
}

func TestDMARCPolicy(t *testing.T) {
	d := baseDNS(t)
	d.txt["_dmarc.p-only.example"] = []string{"v=DMARC1; p=quarantine"}
	d.temp["_dmarc.flaky.example"] = true
	tests := []struct {
		domain, want string
		err          error
	}{
		{domain: "example.org", want: "reject"},
		{domain: "Lists.Example.ORG.", want: "quarantine"}, // sp= of the org domain
		{domain: "deep.sub.p-only.example", want: "quarantine"},
		{domain: "nodmarc.example.com", want: ""},
		{domain: "flaky.example", err: errTempDMARC},
		{domain: "not a domain", err: errPermDMARC},
	}
	for _, tc := range tests {
		got, err := DMARCPolicy(context.Background(), tc.domain, Options{Resolver: d})
		if got != tc.want || !errors.Is(err, tc.err) {
			t.Errorf("DMARCPolicy(%q) = %q, %v; want %q, %v", tc.domain, got, err, tc.want, tc.err)
		}
	}
}

func TestAligned(t *testing.T) {
	tests := []struct {
		d, from string
		strict  bool
		want    bool
	}{
		{"example.org", "example.org", true, true},
		{"mail.example.org", "example.org", false, true},
		{"mail.example.org", "example.org", true, false},
		{"example.org", "lists.example.org", false, true},
		{"a.example.co.uk", "b.example.co.uk", false, true},
		{"example.co.uk", "other.co.uk", false, false}, // a public suffix is no org domain
		{"evil.github.io", "good.github.io", false, false},
		{"example.net", "example.org", false, false},
		{"", "example.org", false, false},
	}
	for _, tc := range tests {
		if got := aligned(tc.d, tc.from, tc.strict); got != tc.want {
			t.Errorf("aligned(%q, %q, strict=%v) = %v, want %v", tc.d, tc.from, tc.strict, got, tc.want)
		}
	}
}

func ExampleResult_Header() {
	r := &Result{
		DKIM: []DKIMResult{{Domain: "example.org", Selector: "2026", Status: Pass}},
		SPF:  SoftFail, SPFDomain: "example.org", From: "example.org",
		DMARC: Pass, Policy: "reject", AlignedDKIM: true,
	}
	fmt.Println("Authentication-Results: " + r.Header("lists.example.net"))
	// Output:
	// Authentication-Results: lists.example.net; dkim=pass header.d=example.org header.s=2026; spf=softfail smtp.mailfrom=example.org; dmarc=pass (p=reject) header.from=example.org
}

// BenchmarkVerify: one RSA-signed message, SPF and DMARC answered from
// memory: the CPU cost per message, without DNS latency.
func BenchmarkVerify(b *testing.B) {
	t := &testing.T{}
	msg := []byte(sign(t, message("alice@example.org")+strings.Repeat("a line of a patch\r\n", 2000), "example.org", "rsa", rsaKey()))
	o := Options{Resolver: baseDNS(t)}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if r := Verify(context.Background(), msg, inside, "mx.example.org", "alice@example.org", o); r.DMARC != Pass {
			b.Fatalf("DMARC = %s", r.DMARC)
		}
	}
}
