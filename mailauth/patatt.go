package mailauth

// Developer signatures as patatt (the library b4 signs with) writes them:
// an X-Developer-Signature header, DKIM-like (RFC 6376 tags, "relaxed"
// header canonicalization), over the From and Subject headers (and the
// Message-ID when present) and the body, both first normalised by
// `git mailinfo` so that a signature survives what a mail system does to
// the encoding of a patch. X-Developer-Key only says which key signed
// (i=, a=, pk= or fpr=); it proves nothing and is not signed.
//
// What is signed, exactly (patatt 0.6, format v=1):
//   - the body: git mailinfo's commit message and patch, concatenated,
//     trailing line breaks removed, every line ended by CRLF, trailing CR
//     and LF of each line dropped; bh= is base64(sha256(that)).
//   - the headers named by h= (from and subject always), each found from
//     the bottom of the header (DKIM's order), From and Subject replaced
//     by mailinfo's "Author <Email>" and Subject, each written
//     "name:value\r\n" with the value unfolded, every run of white space
//     one space, trimmed.
//   - then "x-developer-signature:" and the signature header itself, so
//     canonicalised, up to and including its last "b=", without CRLF.
//
// The SHA-256 of all that is what the key signed: for ed25519 b= is the
// base64 of signature and digest together (NaCl's signed message), for
// openpgp the base64 of a binary OpenPGP signed message (gpg -s) whose
// literal data is the digest.

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// Patatt algorithms.
const (
	AlgEd25519 = "ed25519"
	AlgOpenPGP = "openpgp"
)

// Errors of developer signatures.
var (
	// ErrUnsigned: the message has no X-Developer-Signature (for the
	// identity asked about).
	ErrUnsigned = errors.New("message has no developer signature")
	// ErrBadSignature: the signature does not verify with the key (or
	// the body or signed headers changed).
	ErrBadSignature = errors.New("developer signature does not verify")
	// ErrBodyChanged (an ErrBadSignature): the body is not what was
	// signed (bh= does not match), whatever the key.
	ErrBodyChanged = fmt.Errorf("%w: body changed (bh= does not match)", ErrBadSignature)
)

// Mailinfo is `git mailinfo --encoding=utf-8 --no-scissors`: the commit
// message, the patch and the info lines (Author:, Email:, Subject:) of a
// mail (gitrepo.Mailinfo runs it).
type Mailinfo func(ctx context.Context, raw []byte) (msg, patch, info []byte, err error)

// DevSig is one X-Developer-Signature of a message.
type DevSig struct {
	// Algorithm is ed25519, openpgp or openssh (a= without "-sha256").
	Algorithm string
	// Identity (i=, the From address when absent) and Selector (s=,
	// "default" when absent) name the key.
	Identity, Selector string
	// Time is t= (Unix seconds; 0 when absent, as openpgp allows).
	Time int64
	// Headers are the names h= lists, lower case.
	Headers  []string
	bodyHash string
	sig      []byte
	signed   []byte // the canonical header up to "b=", as hashed
}

// PatattMessage is a message parsed as patatt reads it.
type PatattMessage struct {
	headers [][]byte // each header field with its folded lines, as in the mail
	blank   []byte   // the line ending the header
	body    []byte
	From    string // the From address
	Sigs    []DevSig

	canonHeaders [][2][]byte // name (lower case), value
	canonBody    []byte
}

// MaxPatattSigs bounds the signatures read from one message.
const MaxPatattSigs = 4

// ParsePatatt reads raw's header as patatt does; a message without
// developer signatures has no Sigs (not an error).
func ParsePatatt(raw []byte) (*PatattMessage, error) {
	m := &PatattMessage{}
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i+1], rest[i+1:]
		}
		if len(trimASCII(line)) == 0 {
			m.blank, m.body = line, rest
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if len(m.headers) == 0 {
				return nil, errors.New("patatt: header starts with a continuation line")
			}
			m.headers[len(m.headers)-1] = append(m.headers[len(m.headers)-1], line...)
			continue
		}
		m.headers = append(m.headers, append([]byte(nil), line...))
	}
	if len(m.headers) == 0 || len(m.body) == 0 {
		return nil, errors.New("patatt: not a message (no header or no body)")
	}
	for _, h := range m.headers {
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		switch strings.ToLower(string(trimASCII(name))) {
		case "from":
			if a, err := mail.ParseAddress(strings.TrimSpace(string(value))); err == nil {
				m.From = a.Address
			}
		case "x-developer-signature":
			if len(m.Sigs) == MaxPatattSigs {
				return nil, fmt.Errorf("patatt: more than %d signatures", MaxPatattSigs)
			}
			s, err := parseDevSig(value)
			if err != nil {
				return nil, err
			}
			m.Sigs = append(m.Sigs, s)
		}
	}
	for i := range m.Sigs {
		if m.Sigs[i].Identity == "" {
			m.Sigs[i].Identity = m.From
		}
	}
	return m, nil
}

// parseDevSig reads an X-Developer-Signature value.
func parseDevSig(value []byte) (DevSig, error) {
	canon := canonHeaderValue(value)
	var s DevSig
	tags := map[string]string{}
	for _, chunk := range strings.Split(wsRE.ReplaceAllString(string(canon), ""), ";") {
		k, v, ok := strings.Cut(chunk, "=")
		if ok {
			tags[k] = v
		}
	}
	if tags["v"] != "1" {
		return s, fmt.Errorf("patatt: signature version %q not supported", tags["v"])
	}
	alg, ok := strings.CutSuffix(tags["a"], "-sha256")
	if !ok || alg == "" {
		return s, fmt.Errorf("patatt: algorithm %q not supported", tags["a"])
	}
	s.Algorithm, s.Identity, s.Selector, s.bodyHash = alg, tags["i"], tags["s"], tags["bh"]
	if s.Selector == "" {
		s.Selector = "default"
	}
	if t := tags["t"]; t != "" {
		n, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return s, fmt.Errorf("patatt: bad t=%q", t)
		}
		s.Time = n
	}
	for _, h := range strings.Split(tags["h"], ":") {
		s.Headers = append(s.Headers, strings.ToLower(string(trimASCII([]byte(h)))))
	}
	var err error
	if s.sig, err = base64.StdEncoding.DecodeString(tags["b"]); err != nil || len(s.sig) == 0 {
		return s, errors.New("patatt: missing or bad b=")
	}
	// The header as signed: everything before the b= tag, and "b=".
	at := bTagRE.FindAllIndex(canon, -1)
	if at == nil {
		return s, errors.New("patatt: missing b=")
	}
	end := at[len(at)-1][1]
	s.signed = append([]byte("x-developer-signature:"), canon[:end]...)
	return s, nil
}

var (
	// Python's \s in a bytes pattern, which patatt uses: ASCII white
	// space with \v (Go's \s lacks \v).
	wsRE   = regexp.MustCompile(`[ \t\n\r\f\v]+`)
	bTagRE = regexp.MustCompile(`(?:^|;)[ \t\n\r\f\v]*b=`)
	crlfRE = regexp.MustCompile(`[\r\n]`)
)

// trimASCII is Python's bytes.strip(): ASCII white space only (Go's
// TrimSpace also takes U+00A0 and U+0085 from UTF-8).
func trimASCII(b []byte) []byte { return bytes.Trim(b, " \t\n\r\f\v") }

// canonHeaderValue is DKIM's relaxed canonicalization of a value as
// patatt does it: encoded words ("?q?") decoded, unfolded, white space
// runs one space, trimmed, CRLF appended.
func canonHeaderValue(v []byte) []byte {
	if bytes.Contains(v, []byte("?q?")) {
		if d, err := new(mime.WordDecoder).DecodeHeader(string(v)); err == nil {
			v = []byte(d)
		}
	}
	v = crlfRE.ReplaceAll(v, nil)
	v = wsRE.ReplaceAll(v, []byte(" "))
	return append(trimASCII(v), '\r', '\n')
}

// canonicalize runs git mailinfo once and keeps the canonical header
// fields and body.
func (m *PatattMessage) canonicalize(ctx context.Context, mi Mailinfo) error {
	if m.canonBody != nil {
		return nil
	}
	var in bytes.Buffer
	for _, h := range m.headers {
		in.Write(h)
	}
	in.Write(m.blank)
	in.Write(m.body)
	msg, patch, info, err := mi(ctx, bytes.ReplaceAll(in.Bytes(), []byte("\r\n"), []byte("\n")))
	if err != nil {
		return fmt.Errorf("patatt: git mailinfo: %w", err)
	}
	var body []byte
	for _, line := range bytes.Split(bytes.TrimRight(append(msg, patch...), "\r\n"), []byte("\n")) {
		body = append(append(body, bytes.TrimRight(line, "\r\n")...), '\r', '\n')
	}
	fields := map[string][]byte{}
	for _, line := range bytes.Split(bytes.TrimRight(info, "\r\n"), []byte("\n")) {
		k, v, ok := bytes.Cut(line, []byte(":"))
		if ok {
			fields[strings.ToLower(string(k))] = trimASCII(v)
		}
	}
	var hs [][2][]byte
	for _, h := range m.headers {
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			continue
		}
		lname := strings.ToLower(string(trimASCII(name)))
		switch lname {
		case "from":
			value = []byte(" " + string(fields["author"]) + " <" + string(fields["email"]) + ">")
		case "subject":
			value = append([]byte(" "), fields["subject"]...)
		}
		hs = append(hs, [2][]byte{[]byte(lname), value})
	}
	m.canonHeaders, m.canonBody = hs, body
	return nil
}

// digest is the SHA-256 the key signed for s, or ErrBadSignature when
// the body no longer matches bh=.
func (m *PatattMessage) digest(s DevSig) ([]byte, error) {
	bh := sha256.Sum256(m.canonBody)
	if base64.StdEncoding.EncodeToString(bh[:]) != s.bodyHash {
		return nil, ErrBodyChanged
	}
	if !contains(s.Headers, "from") || !contains(s.Headers, "subject") {
		return nil, fmt.Errorf("%w: from and subject are not both signed", ErrBadSignature)
	}
	// DKIM's order: each name takes the lowest field of that name not yet
	// taken; a name with no field adds nothing.
	taken := make([]bool, len(m.canonHeaders))
	h := sha256.New()
	for _, name := range s.Headers {
		for i := len(m.canonHeaders) - 1; i >= 0; i-- {
			if !taken[i] && string(m.canonHeaders[i][0]) == name {
				taken[i] = true
				h.Write([]byte(name + ":"))
				h.Write(canonHeaderValue(m.canonHeaders[i][1]))
				break
			}
		}
	}
	h.Write(s.signed)
	return h.Sum(nil), nil
}

// SignedBody is the body as signed (git mailinfo's message and patch,
// CRLF line ends), known once VerifyPatatt has run.
func (m *PatattMessage) SignedBody() []byte { return m.canonBody }

// PatattKey is a public key a developer signature is checked against.
type PatattKey struct {
	Algorithm string // AlgEd25519 or AlgOpenPGP
	// Public is the base64 ed25519 public key (patatt's .pub file) or an
	// ASCII-armored OpenPGP public key (gpg --export -a).
	Public string
}

// ID names the key for people: the ed25519 key itself, the OpenPGP
// primary key's fingerprint.
func (k PatattKey) ID() (string, error) {
	switch k.Algorithm {
	case AlgEd25519:
		if _, err := ed25519Key(k.Public); err != nil {
			return "", err
		}
		return strings.TrimSpace(k.Public), nil
	case AlgOpenPGP:
		kr, err := openpgp.ReadArmoredKeyRing(strings.NewReader(k.Public))
		if err != nil || len(kr) != 1 {
			return "", fmt.Errorf("openpgp public key: want one armored key (%v)", err)
		}
		return strings.ToUpper(hex.EncodeToString(kr[0].PrimaryKey.Fingerprint)), nil
	}
	return "", fmt.Errorf("key algorithm %q not supported (ed25519, openpgp)", k.Algorithm)
}

func ed25519Key(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("ed25519 public key: want 32 bytes in base64")
	}
	return ed25519.PublicKey(b), nil
}

// VerifyPatatt checks the signature s of m with key (git mailinfo run
// through mi, once per message). nil: the key signed exactly these From,
// Subject (Message-ID) and body.
func VerifyPatatt(ctx context.Context, mi Mailinfo, m *PatattMessage, s DevSig, key PatattKey) error {
	if s.Algorithm != key.Algorithm {
		return fmt.Errorf("%w: signed with %s, the key is %s", ErrBadSignature, s.Algorithm, key.Algorithm)
	}
	if err := m.canonicalize(ctx, mi); err != nil {
		return err
	}
	want, err := m.digest(s)
	if err != nil {
		return err
	}
	switch s.Algorithm {
	case AlgEd25519:
		pub, err := ed25519Key(key.Public)
		if err != nil {
			return err
		}
		if s.Time == 0 {
			return fmt.Errorf("%w: ed25519 signature without t=", ErrBadSignature)
		}
		if len(s.sig) != ed25519.SignatureSize+sha256.Size {
			return fmt.Errorf("%w: b= is not an ed25519 signed digest", ErrBadSignature)
		}
		sig, msg := s.sig[:ed25519.SignatureSize], s.sig[ed25519.SignatureSize:]
		if !ed25519.Verify(pub, msg, sig) || !bytes.Equal(msg, want) {
			return ErrBadSignature
		}
		return nil
	case AlgOpenPGP:
		kr, err := openpgp.ReadArmoredKeyRing(strings.NewReader(key.Public))
		if err != nil {
			return fmt.Errorf("openpgp public key: %w", err)
		}
		md, err := openpgp.ReadMessage(bytes.NewReader(s.sig), kr, nil, nil)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, err)
		}
		// The signature is checked once the literal data is read to its
		// end. The digest is 32 bytes: more is wrong, and is not read
		// (compressed data could make it any size).
		got, err := io.ReadAll(io.LimitReader(md.UnverifiedBody, sha256.Size+1))
		if len(got) != sha256.Size {
			return fmt.Errorf("%w: the signed data is not a digest", ErrBadSignature)
		}
		if err != nil || !md.IsSigned || md.SignedBy == nil || md.Signature == nil || md.SignatureError != nil {
			return fmt.Errorf("%w: %v", ErrBadSignature, errors.Join(err, md.SignatureError))
		}
		if !bytes.Equal(got, want) {
			return ErrBadSignature
		}
		return nil
	}
	return fmt.Errorf("%w: algorithm %s not supported", ErrBadSignature, s.Algorithm)
}
