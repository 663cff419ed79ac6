// Package mailauth verifies the authentication of an incoming message:
// DKIM (RFC 6376), SPF (RFC 7208) and DMARC (RFC 7489), and formats the
// outcome as an Authentication-Results value (RFC 8601); and developer
// signatures as patatt (b4) writes them, X-Developer-Signature
// (patatt.go), against keys the caller supplies.
//
// It owns only the checks. It must not import any other patchwell package,
// store nothing and decide nothing: what a list does with a DMARC failure
// (reject, hold, rewrite From) is the caller's business.
//
// Libraries, and why:
//   - github.com/emersion/go-msgauth: DKIM verification (and signing, in the
//     tests) and the parsing of DMARC records. It has no SPF, no DMARC
//     alignment and no ARC, so the rest is here or below.
//   - blitiri.com.ar/go/spf: SPF evaluation, well kept, the one chasquid
//     uses; it takes an injectable resolver, so tests need no network.
//   - github.com/ProtonMail/go-crypto/openpgp: OpenPGP signatures of
//     patatt (gpg -s). Go's own x/crypto/openpgp is frozen and deprecated
//     and points here; ProtonMail keeps it (RFC 9580, current curves,
//     security fixes), and it needs no gpg binary or keyring on the server.
//     ed25519 needs only crypto/ed25519.
//   - golang.org/x/net/publicsuffix: the organizational domain that relaxed
//     alignment compares (RFC 7489 section 3.2).
//
// ARC (RFC 8617) is not checked.
//
// All input is hostile: at most MaxSignatures DKIM signatures are verified,
// every DNS query shares one deadline (Options.Timeout), a resolver error
// that is not a *net.DNSError counts as a temporary failure, and nothing
// panics on garbage (FuzzVerify).
package mailauth

import (
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"blitiri.com.ar/go/spf"
	"github.com/emersion/go-msgauth/dkim"
)

// MaxSignatures is how many DKIM signatures Verify checks at most; the
// others are ignored (each costs a DNS query and a public-key operation).
const MaxSignatures = 5

// DefaultTimeout bounds all the DNS queries of one Verify or DMARCPolicy
// call when Options.Timeout is zero.
const DefaultTimeout = 20 * time.Second

// Status is the result of one method, spelled as in RFC 8601 section 2.7.
type Status string

// The results. Not every method uses every one: SoftFail and Neutral are
// SPF only.
const (
	Pass      Status = "pass"
	Fail      Status = "fail"
	SoftFail  Status = "softfail"
	Neutral   Status = "neutral"
	None      Status = "none"
	TempError Status = "temperror"
	PermError Status = "permerror"
)

// Resolver is the DNS the checks use; tests inject their own answers.
// *net.Resolver implements it. A name that does not exist must be reported
// as a *net.DNSError with IsNotFound set; a *net.DNSError with IsTemporary
// or IsTimeout set, or any other error, is a temporary failure.
type Resolver interface {
	LookupTXT(ctx context.Context, name string) ([]string, error)
	LookupMX(ctx context.Context, name string) ([]*net.MX, error)
	LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error)
	LookupAddr(ctx context.Context, addr string) ([]string, error)
}

// Options tune Verify and DMARCPolicy. The zero value is ready to use.
type Options struct {
	Resolver Resolver      // nil: net.DefaultResolver
	Timeout  time.Duration // for all DNS queries together; 0: DefaultTimeout
}

// DKIMResult is the outcome of one DKIM-Signature field.
type DKIMResult struct {
	Domain   string // d=, lower case ("" when the signature is unreadable)
	Selector string // s=
	Status   Status // Pass, Fail, TempError or PermError
	Err      string // why it did not pass, from the DKIM library
}

// Result is what Verify found. Its strings come from the message and DNS:
// escape them before showing them.
type Result struct {
	DKIM      []DKIMResult // one per signature checked, in header order
	SPF       Status       // Pass, Fail, SoftFail, Neutral, None, TempError, PermError
	SPFDomain string       // the MAIL FROM domain, or the HELO name when MAIL FROM has none
	From      string       // the RFC 5322 From domain, lower case; "" when there is not exactly one
	DMARC     Status       // Pass, Fail, None (no record), TempError or PermError
	// Policy is what the From domain's DMARC record asks for a failing
	// message: "none", "quarantine" or "reject" (sp= when the record was
	// found at the organizational domain of a subdomain); "" without a record.
	Policy string
	// AlignedDKIM: a passing DKIM signature whose d= is aligned with From.
	// AlignedSPF: SPF passed and SPFDomain is aligned with From.
	// Relaxed alignment is used when there is no DMARC record.
	AlignedDKIM, AlignedSPF bool
}

// Verify checks the DKIM signatures of raw (a whole message with its
// header), SPF for the connecting ip with the HELO name and MAIL FROM
// address (mailFrom may be empty, with or without angle brackets), and
// DMARC for the From domain. It never fails: DNS trouble shows as
// TempError, garbage as PermError or None.
//
// DMARC (RFC 7489 section 6.6): the record is looked up at _dmarc.FROM,
// else at _dmarc.ORG where ORG is the organizational domain of FROM. It
// passes when a DKIM pass or an SPF pass is aligned with FROM, relaxed
// (same organizational domain) unless the record says adkim=s or aspf=s
// (exact match). A message with no From field, several From fields, or
// From addresses in several domains gets PermError (section 6.6.1 leaves
// the choice; we refuse to guess which author to check). When it does not
// pass and a check that could have aligned failed temporarily, the result
// is TempError rather than Fail, so a DNS hiccup does not reject mail.
func Verify(ctx context.Context, raw []byte, ip net.IP, helo, mailFrom string, o Options) *Result {
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	res := o.resolver()
	r := &Result{}

	// SPF and the DMARC record do not depend on the DKIM results: query
	// them while the signatures are checked.
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		r.SPF, r.SPFDomain = checkSPF(ctx, res, ip, helo, mailFrom)
	}()

	from, fromErr := fromDomain(raw)
	var rec *record
	var recErr error
	if fromErr == nil {
		r.From = from
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, recErr = lookupDMARC(ctx, res, from)
		}()
	}
	r.DKIM = checkDKIM(ctx, res, raw)
	wg.Wait()

	r.evaluate(fromErr, rec, recErr)
	return r
}

// SignedBy returns the domains with a passing DKIM signature, aligned with
// From or not, each once, in header order: for "signed by example.org".
func (r *Result) SignedBy() []string {
	var ds []string
	for _, d := range r.DKIM {
		if d.Status == Pass && d.Domain != "" && !contains(ds, d.Domain) {
			ds = append(ds, d.Domain)
		}
	}
	return ds
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o Options) resolver() resolver {
	if o.Resolver == nil {
		return resolver{net.DefaultResolver}
	}
	return resolver{o.Resolver}
}

// checkSPF evaluates SPF for the MAIL FROM domain, or for the HELO name
// when MAIL FROM is empty (RFC 7208 section 2.4: then the sender is
// postmaster@HELO).
func checkSPF(ctx context.Context, res resolver, ip net.IP, helo, mailFrom string) (Status, string) {
	sender := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(mailFrom), "<"), ">")
	helo = normDomain(helo)
	domain := ""
	if i := strings.LastIndexByte(sender, '@'); i >= 0 {
		domain = normDomain(sender[i+1:])
	}
	if domain == "" {
		domain = helo
		sender = "postmaster@" + helo
	}
	if !validDomain(domain) {
		return None, domain
	}
	st, _ := spf.CheckHostWithSender(ip, helo, sender, spf.WithContext(ctx), spf.WithResolver(res))
	switch s := Status(st); s {
	case Pass, Fail, SoftFail, Neutral, None, TempError, PermError:
		return s, domain
	}
	return PermError, domain
}

// checkDKIM verifies the first MaxSignatures DKIM-Signature fields.
func checkDKIM(ctx context.Context, res resolver, raw []byte) []DKIMResult {
	// The library reports neither selectors nor, for an unreadable
	// signature, the domain: read them here, in the same order.
	tags := signatureTags(raw)
	opts := &dkim.VerifyOptions{
		LookupTXT: func(name string) ([]string, error) {
			return res.LookupTXT(ctx, name)
		},
		MaxVerifications: MaxSignatures,
	}
	vs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), opts)
	// Any error but ErrTooManySignatures is one the library could not
	// classify; with several signatures it then clears the Err of the one
	// that had it, so no signature of that message can be trusted.
	unexpected := err != nil && !errors.Is(err, dkim.ErrTooManySignatures)
	if unexpected && len(vs) == 0 {
		var out []DKIMResult
		for _, t := range tags {
			out = append(out, DKIMResult{Domain: t.domain, Selector: t.selector, Status: PermError, Err: err.Error()})
		}
		return out
	}
	var out []DKIMResult
	for i, v := range vs {
		if v == nil {
			continue
		}
		d := DKIMResult{Domain: normDomain(v.Domain), Status: Pass}
		if i < len(tags) {
			d.Selector = tags[i].selector
			if d.Domain == "" {
				d.Domain = tags[i].domain
			}
		}
		switch {
		case v.Err == nil && unexpected:
			d.Status, d.Err = PermError, err.Error()
		case v.Err == nil:
		case dkim.IsTempFail(v.Err):
			d.Status, d.Err = TempError, v.Err.Error()
		case dkim.IsPermFail(v.Err):
			d.Status, d.Err = PermError, v.Err.Error()
		default:
			// What else the library keeps per signature is a failed
			// check: body hash, signature, an l= tag.
			d.Status, d.Err = Fail, v.Err.Error()
		}
		out = append(out, d)
	}
	return out
}

type sigTags struct{ domain, selector string }

// signatureTags returns d= and s= of the first MaxSignatures
// DKIM-Signature fields of raw's header.
func signatureTags(raw []byte) []sigTags {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	var out []sigTags
	for _, v := range m.Header["Dkim-Signature"] {
		if len(out) == MaxSignatures {
			break
		}
		var t sigTags
		for _, kv := range strings.Split(v, ";") {
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			val = strings.Join(strings.Fields(val), "")
			switch strings.TrimSpace(k) {
			case "d":
				t.domain = normDomain(val)
			case "s":
				t.selector = strings.ToLower(val)
			}
		}
		out = append(out, t)
	}
	return out
}

var (
	errNoFrom       = errors.New("no From field")
	errManyFrom     = errors.New("several From fields")
	errManyAuthors  = errors.New("From addresses in several domains")
	errBadFromField = errors.New("unreadable From field")
)

// fromDomain returns the RFC 5322 From domain of raw, lower case.
func fromDomain(raw []byte) (string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", errBadFromField
	}
	fs := m.Header["From"]
	switch {
	case len(fs) == 0:
		return "", errNoFrom
	case len(fs) > 1:
		return "", errManyFrom
	}
	// Only the domain matters: keep encoded words of any charset as they
	// are instead of failing on them.
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{
		CharsetReader: func(_ string, r io.Reader) (io.Reader, error) { return r, nil },
	}}
	as, err := p.ParseList(fs[0])
	if err != nil || len(as) == 0 {
		return "", errBadFromField
	}
	domain := ""
	for _, a := range as {
		i := strings.LastIndexByte(a.Address, '@')
		if i < 0 {
			return "", errBadFromField
		}
		d := normDomain(a.Address[i+1:])
		if domain != "" && d != domain {
			return "", errManyAuthors
		}
		domain = d
	}
	if !validDomain(domain) {
		return "", errBadFromField
	}
	return domain, nil
}

// normDomain lower-cases a domain and drops a final dot.
func normDomain(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ".")
}

// validDomain reports whether s can be looked up: at most 253 bytes of
// non-empty labels of at most 63 bytes made of letters, digits, '-' and
// '_' (or UTF-8, for internationalized names), with at least two labels.
func validDomain(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if len(l) == 0 || len(l) > 63 {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c >= 0x80) {
				return false
			}
		}
	}
	return true
}
