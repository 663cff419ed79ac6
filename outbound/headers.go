package outbound

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"mime"
	"net/mail"
	"net/url"
	"strings"

	"patchwell/store"
)

// VERP returns the envelope sender for the copy of list's mail to rcpt:
// list+bounces-LOCAL=RCPTDOMAIN@domain, or list+bounces@domain when rcpt
// cannot be encoded that way (see the package doc).
func VERP(list, domain, rcpt string) string {
	at := strings.LastIndexByte(rcpt, '@')
	if at > 0 && dotAtom(rcpt[:at]) && hostName(rcpt[at+1:]) {
		return list + "+bounces-" + rcpt[:at] + "=" + rcpt[at+1:] + "@" + domain
	}
	return list + "+bounces@" + domain
}

// ParseVERP decodes the local part of a bounce address made by VERP: the
// list and the recipient whose copy bounced. rcpt is "" for the plain
// list+bounces address. ok is false for any other local part.
func ParseVERP(localpart string) (list, rcpt string, ok bool) {
	plus := strings.IndexByte(localpart, '+')
	if plus <= 0 {
		return "", "", false
	}
	list, rest := localpart[:plus], localpart[plus+1:]
	if !store.ValidListName(list) {
		return "", "", false
	}
	const tag = "bounces"
	if len(rest) < len(tag) || !strings.EqualFold(rest[:len(tag)], tag) {
		return "", "", false
	}
	rest = rest[len(tag):]
	if rest == "" {
		return list, "", true
	}
	if rest[0] != '-' {
		return "", "", false
	}
	rcpt, ok = ParseVERPDetail(rest[1:])
	if !ok {
		return "", "", false
	}
	return list, rcpt, true
}

// ParseVERPDetail decodes what follows "NAME+bounces-" in a VERP address
// (LOCAL=DOMAIN) into the recipient; it has the shape lists.Config's
// ParseVERP wants.
func ParseVERPDetail(detail string) (rcpt string, ok bool) {
	eq := strings.LastIndexByte(detail, '=')
	if eq <= 0 || !dotAtom(detail[:eq]) || !hostName(detail[eq+1:]) {
		return "", false
	}
	return detail[:eq] + "@" + detail[eq+1:], true
}

// dotAtom reports whether s is an RFC 5322 dot-atom (section 3.2.3): atext
// runs separated by single dots.
func dotAtom(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.':
		case strings.IndexByte("!#$%&'*+-/=?^_`{|}~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// hostName reports whether s is a DNS host name (letters, digits, '-'
// and '.'), which has no '=': that is what makes VERP reversible.
func hostName(s string) bool {
	if s == "" || len(s) > 253 || s[0] == '.' || s[len(s)-1] == '.' || strings.Contains(s, "..") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// maxToken bounds an unsubscribe token (an address of 320 bytes and a
// MAC, base64).
const maxToken = 512

// UnsubscribeToken is the t= parameter of the one-click unsubscribe link
// of email on list: the address and an HMAC-SHA256 of list and address
// under secret, so that the web handler checks it without storage
// (CheckUnsubscribeToken). It is not secret from its recipient, who is
// the one it lets unsubscribe.
func UnsubscribeToken(secret []byte, list, email string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(email)) + "." + base64.RawURLEncoding.EncodeToString(unsubscribeMAC(secret, list, email))
}

// CheckUnsubscribeToken returns the address an unsubscribe token of list
// was made for, and whether it was made with secret.
func CheckUnsubscribeToken(secret []byte, list, token string) (email string, ok bool) {
	if len(token) > maxToken {
		return "", false
	}
	e, m, found := strings.Cut(token, ".")
	if !found {
		return "", false
	}
	addr, err := base64.RawURLEncoding.DecodeString(e)
	if err != nil {
		return "", false
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(mac, unsubscribeMAC(secret, list, string(addr))) {
		return "", false
	}
	return string(addr), true
}

func unsubscribeMAC(secret []byte, list, email string) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("patchwell unsubscribe\x00" + list + "\x00" + strings.ToLower(email)))
	return h.Sum(nil)[:16]
}

// ListHeaders are the fields prepended to list's mail for one recipient
// (RFC 2369, RFC 2919, RFC 8058, RFC 5064), CRLF-terminated. webURL is the
// site's base URL (https://HOST), msgid the message's Message-ID without
// angle brackets.
func ListHeaders(list, domain, webURL, msgid, rcpt string, secret []byte) []byte {
	web := strings.TrimRight(webURL, "/")
	var b bytes.Buffer
	b.Grow(640)
	addr := list + "@" + domain
	b.WriteString("List-Id: <" + list + "." + domain + ">\r\n")
	b.WriteString("List-Post: <mailto:" + addr + ">\r\n")
	b.WriteString("List-Help: <mailto:" + list + "+help@" + domain + ">\r\n")
	b.WriteString("List-Subscribe: <mailto:" + list + "+subscribe@" + domain + ">\r\n")
	b.WriteString("List-Unsubscribe: <" + web + "/" + url.PathEscape(list) + "/unsubscribe?t=" + UnsubscribeToken(secret, list, rcpt) + ">,\r\n <mailto:" + list + "+unsubscribe@" + domain + ">\r\n")
	b.WriteString("List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n")
	b.WriteString("List-Archive: <" + web + "/" + url.PathEscape(list) + "/>\r\n")
	if id := strings.Trim(msgid, "<>"); id != "" {
		b.WriteString("Archived-At: <" + web + "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/>\r\n")
	}
	b.WriteString("Precedence: list\r\n")
	b.WriteString("X-Loop: " + addr + "\r\n")
	return b.Bytes()
}

// RewriteFrom replaces the From field of raw with
// From: "Name via list" <list@domain> and, unless raw has a Reply-To, adds
// Reply-To: with the original From's value (the Mailman way, for authors
// whose domain publishes DMARC p=reject or p=quarantine). Only the first
// From field's lines change; the rest of raw stays byte for byte. This
// breaks the author's DKIM signature, which covers From, by design: the
// list's own signature is what the recipient can check. raw without a
// From field is returned unchanged.
func RewriteFrom(raw []byte, list, domain string) []byte {
	var (
		fromStart, fromEnd = -1, -1
		hasReplyTo         bool
		eol                = "\r\n"
	)
	for off := 0; off < len(raw); {
		end := bytes.IndexByte(raw[off:], '\n')
		if end < 0 {
			end = len(raw)
		} else {
			end += off + 1
		}
		line := raw[off:end]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			break // end of the header
		}
		if line[0] != ' ' && line[0] != '\t' {
			name, _, _ := bytes.Cut(line, []byte(":"))
			name = bytes.TrimSpace(name)
			switch {
			case bytes.EqualFold(name, []byte("From")) && fromStart < 0:
				fromStart, fromEnd = off, end
				if !bytes.HasSuffix(line, []byte("\r\n")) {
					eol = "\n"
				}
			case bytes.EqualFold(name, []byte("Reply-To")):
				hasReplyTo = true
			}
		} else if fromEnd == off {
			fromEnd = end // a continuation of From
		}
		off = end
	}
	if fromStart < 0 {
		return raw
	}
	field := raw[fromStart:fromEnd]
	_, value, _ := bytes.Cut(field, []byte(":"))
	value = bytes.TrimRight(value, "\r\n")
	unfolded := strings.Join(strings.Fields(strings.ReplaceAll(string(value), "\r\n", " ")), " ")
	name := unfolded
	if a, err := mail.ParseAddress(unfolded); err == nil {
		name = a.Name
		if name == "" {
			name = a.Address
		}
	}
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, name)
	if len(name) > 200 {
		name = name[:200]
	}
	display := strings.TrimSpace(name + " via " + list)
	var out bytes.Buffer
	out.Grow(len(raw) + 200)
	out.Write(raw[:fromStart])
	out.WriteString("From: " + quoteDisplay(display) + " <" + list + "@" + domain + ">" + eol)
	if !hasReplyTo {
		out.WriteString("Reply-To:")
		out.Write(field[bytes.IndexByte(field, ':')+1:])
		if !bytes.HasSuffix(field, []byte("\n")) {
			out.WriteString(eol)
		}
	}
	out.Write(raw[fromEnd:])
	return out.Bytes()
}

// quoteDisplay writes a display name as a quoted-string, or as an RFC 2047
// encoded word when it is not ASCII.
func quoteDisplay(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}
