package archive

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"patchwell/core"
	"strings"
	"time"
)

// Outgoing is a message patchwell writes: a review sent from the web, a
// CI summary, an "Applied, thanks" reply, a list's notice or answer to a
// command, a sign-up confirmation. Compose is the one function that
// makes one, so they all have the same line endings, Message-ID, Date
// and threading headers.
type Outgoing struct {
	From    string   // an address as mail.Address.String() writes it
	To, Cc  []string // the same
	Subject string   // UTF-8; encoded (RFC 2047) when not ASCII
	// MessageID is the message's id without <>; "" makes one at Domain.
	MessageID string
	Domain    string
	// InReplyTo and References (without <>) thread the message: a reply
	// names its parent in both (Compose adds it to References).
	InReplyTo  string
	References []string
	Date       time.Time // zero: now
	// Extra are more header fields, in order, after the threading ones
	// (Auto-Submitted, X-Loop, Precedence, User-Agent ...).
	Extra []core.Header
	Body  string // plain UTF-8 text, lines ending in LF
}

// maxReferences bounds the References field of a reply in a long thread:
// the root and the newest, as RFC 5322 section 3.6.4 allows trimming.
const maxReferences = 20

// Compose writes m with LF line endings, the form the archive keeps (an
// SMTP client sends CRLF). It returns the message and its Message-ID
// (without <>). Header values are kept on one line; the body goes as
// 8bit, or quoted-printable when a line is too long for SMTP (RFC 5321
// section 4.5.3.1.6: 1,000 octets with CRLF).
func Compose(m Outgoing) ([]byte, string) {
	now := m.Date
	if now.IsZero() {
		now = time.Now()
	}
	id := m.MessageID
	if id == "" {
		id = NewMessageID(now, m.Domain)
	}
	var b bytes.Buffer
	field := func(name, value string) {
		if value != "" {
			fmt.Fprintf(&b, "%s: %s\n", name, OneLine(value))
		}
	}
	field("From", m.From)
	field("To", strings.Join(m.To, ", "))
	field("Cc", strings.Join(m.Cc, ", "))
	field("Subject", encodeWord(m.Subject))
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", "<"+OneLine(id)+">")
	refs := append([]string(nil), m.References...)
	if m.InReplyTo != "" {
		field("In-Reply-To", "<"+OneLine(m.InReplyTo)+">")
		if len(refs) == 0 || refs[len(refs)-1] != m.InReplyTo {
			refs = append(refs, m.InReplyTo)
		}
	}
	if len(refs) > maxReferences {
		refs = append(refs[:1], refs[len(refs)-maxReferences+1:]...)
	}
	if len(refs) > 0 {
		for i, r := range refs {
			refs[i] = "<" + OneLine(r) + ">"
		}
		fmt.Fprintf(&b, "References: %s\n", strings.Join(refs, "\n "))
	}
	for _, f := range m.Extra {
		field(f.Name, f.Value)
	}
	field("MIME-Version", "1.0")
	field("Content-Type", "text/plain; charset=utf-8")
	body := strings.ReplaceAll(m.Body, "\r\n", "\n")
	long := false
	for _, l := range strings.Split(body, "\n") {
		if len(l) > 900 {
			long = true
			break
		}
	}
	if !long {
		field("Content-Transfer-Encoding", "8bit")
		b.WriteString("\n")
		b.WriteString(body)
		return b.Bytes(), id
	}
	field("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\n")
	var qp bytes.Buffer
	w := quotedprintable.NewWriter(&qp)
	w.Write([]byte(strings.ReplaceAll(body, "\n", "\r\n")))
	w.Close()
	b.Write(bytes.ReplaceAll(qp.Bytes(), []byte("\r\n"), []byte("\n")))
	return b.Bytes(), id
}

// NewMessageID makes a unique Message-ID (without <>) at domain.
func NewMessageID(now time.Time, domain string) string {
	var r [8]byte
	rand.Read(r[:])
	if domain == "" {
		domain = "patchwell.invalid"
	}
	return fmt.Sprintf("%s.%s@%s", now.UTC().Format("20060102150405"), hex.EncodeToString(r[:]), domain)
}

// encodeWord encodes a header value that is not plain ASCII (RFC 2047).
func encodeWord(v string) string {
	for _, r := range v {
		if r >= 0x80 {
			return mime.QEncoding.Encode("utf-8", OneLine(v))
		}
	}
	return v
}

// OneLine keeps a text on one line (a header value, a line of a message
// patchwell writes): CR, LF and NUL become spaces.
func OneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == 0 {
			return ' '
		}
		return r
	}, s)
}
