package mailauth

import (
	"context"
	"errors"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// record is the DMARC record that applies to a From domain.
type record struct {
	p, sp      string // p= and sp= as written
	policy     string // the one that applies: p=, or sp= (else p=) at the org domain of a subdomain
	strictDKIM bool   // adkim=s
	strictSPF  bool   // aspf=s
	invalid    bool   // the one record found does not parse
}

var (
	errTempDMARC = errors.New("temporary DNS failure looking up the DMARC record")
	errPermDMARC = errors.New("invalid DMARC record")
)

// DMARCPolicy returns the DMARC policy ("none", "quarantine" or "reject")
// that applies to mail from fromDomain: p= of the record at
// _dmarc.FROMDOMAIN, else sp= (or p=) of the record of its organizational
// domain. It returns "" and no error when there is no record. This is what
// decides whether a list rewrites From when it redistributes a post.
func DMARCPolicy(ctx context.Context, fromDomain string, o Options) (string, error) {
	d := normDomain(fromDomain)
	if !validDomain(d) {
		return "", errPermDMARC
	}
	ctx, cancel := context.WithTimeout(ctx, o.timeout())
	defer cancel()
	rec, err := lookupDMARC(ctx, o.resolver(), d)
	if err != nil {
		return "", err
	}
	if rec == nil {
		return "", nil
	}
	if rec.invalid {
		return "", errPermDMARC
	}
	return rec.policy, nil
}

// lookupDMARC finds the record for from (RFC 7489 section 6.6.3): at
// _dmarc.FROM, else at _dmarc.ORG. It returns nil, nil when there is none
// and errTempDMARC on a DNS failure.
func lookupDMARC(ctx context.Context, res resolver, from string) (*record, error) {
	rec, err := queryDMARC(ctx, res, from)
	if err != nil {
		return nil, err
	}
	if rec != nil {
		rec.policy = rec.p
		return rec, nil
	}
	org := orgDomain(from)
	if org == from {
		return nil, nil
	}
	rec, err = queryDMARC(ctx, res, org)
	if err != nil || rec == nil {
		return nil, err
	}
	// Section 6.3: sp= is the policy for subdomains, p= when absent.
	rec.policy = rec.p
	if rec.sp != "" {
		rec.policy = rec.sp
	}
	return rec, nil
}

// queryDMARC reads the TXT records at _dmarc.domain. Of those whose first
// tag is v=DMARC1 exactly one must remain; none or several mean no record.
func queryDMARC(ctx context.Context, res resolver, domain string) (*record, error) {
	txts, err := res.LookupTXT(ctx, "_dmarc."+domain)
	if err != nil {
		if notFound(err) {
			return nil, nil
		}
		return nil, errTempDMARC
	}
	var recs []string
	for _, t := range txts {
		v, _, _ := strings.Cut(t, ";")
		if strings.Join(strings.Fields(v), "") == "v=DMARC1" {
			recs = append(recs, t)
		}
	}
	if len(recs) != 1 {
		return nil, nil
	}
	r, err := dmarc.Parse(recs[0])
	if err != nil {
		return &record{invalid: true}, nil
	}
	return &record{
		p:          string(r.Policy),
		sp:         string(r.SubdomainPolicy),
		strictDKIM: r.DKIMAlignment == dmarc.AlignmentStrict,
		strictSPF:  r.SPFAlignment == dmarc.AlignmentStrict,
	}, nil
}

// orgDomain is the organizational domain of d (RFC 7489 section 3.2): one
// label more than its public suffix; d itself when d is a public suffix.
func orgDomain(d string) string {
	o, err := publicsuffix.EffectiveTLDPlusOne(d)
	if err != nil {
		return d
	}
	return o
}

// aligned reports whether the authenticated domain d is aligned with the
// From domain (RFC 7489 section 3.1): equal when strict, the same
// organizational domain when relaxed.
func aligned(d, from string, strict bool) bool {
	if d == "" || from == "" {
		return false
	}
	if d == from {
		return true
	}
	return !strict && orgDomain(d) == orgDomain(from)
}

// evaluate sets the alignment flags, DMARC and Policy of r from its DKIM
// and SPF results and the From domain's record.
func (r *Result) evaluate(fromErr error, rec *record, recErr error) {
	if fromErr != nil {
		r.DMARC = PermError
		return
	}
	strictDKIM, strictSPF := false, false
	if rec != nil {
		strictDKIM, strictSPF = rec.strictDKIM, rec.strictSPF
	}
	temp := false
	for _, d := range r.DKIM {
		if !aligned(d.Domain, r.From, strictDKIM) {
			continue
		}
		switch d.Status {
		case Pass:
			r.AlignedDKIM = true
		case TempError:
			temp = true
		}
	}
	if aligned(r.SPFDomain, r.From, strictSPF) {
		switch r.SPF {
		case Pass:
			r.AlignedSPF = true
		case TempError:
			temp = true
		}
	}
	switch {
	case recErr != nil:
		r.DMARC = TempError
	case rec == nil:
		r.DMARC = None
	case rec.invalid:
		r.DMARC = PermError
	default:
		r.Policy = rec.policy
		switch {
		case r.AlignedDKIM || r.AlignedSPF:
			r.DMARC = Pass
		case temp:
			r.DMARC = TempError
		default:
			r.DMARC = Fail
		}
	}
}
