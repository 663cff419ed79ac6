package mailauth

import (
	"strings"
	"unicode/utf8"
)

// Header returns r as the value of an Authentication-Results field (RFC
// 8601), on one line, for example
//
//	mx.example.net; dkim=pass header.d=example.org header.s=sel;
//	spf=pass smtp.mailfrom=example.org;
//	dmarc=pass (p=reject) header.from=example.org
//
// (without the line breaks; fold it at "; " if it is too long). There is
// one dkim= per signature checked, dkim=none when there was none. Values
// from the message are quoted when they are not plain domain names, and
// lose their control characters, so the value cannot break the header.
func (r *Result) Header(authservID string) string {
	var b strings.Builder
	b.WriteString(value(authservID, 255))
	if len(r.DKIM) == 0 {
		b.WriteString("; dkim=none")
	}
	for _, d := range r.DKIM {
		b.WriteString("; dkim=")
		b.WriteString(string(d.Status))
		if d.Status != Pass && d.Err != "" {
			b.WriteString(" reason=")
			b.WriteString(quote(d.Err, 200))
		}
		if d.Domain != "" {
			b.WriteString(" header.d=")
			b.WriteString(value(d.Domain, 255))
		}
		if d.Selector != "" {
			b.WriteString(" header.s=")
			b.WriteString(value(d.Selector, 255))
		}
	}
	b.WriteString("; spf=")
	b.WriteString(string(orNone(r.SPF)))
	if r.SPFDomain != "" {
		b.WriteString(" smtp.mailfrom=")
		b.WriteString(value(r.SPFDomain, 255))
	}
	b.WriteString("; dmarc=")
	b.WriteString(string(orNone(r.DMARC)))
	if r.Policy != "" {
		b.WriteString(" (p=")
		b.WriteString(value(r.Policy, 20))
		b.WriteString(")")
	}
	if r.From != "" {
		b.WriteString(" header.from=")
		b.WriteString(value(r.From, 255))
	}
	return b.String()
}

func orNone(s Status) Status {
	if s == "" {
		return None
	}
	return s
}

// value returns s as an RFC 8601 pvalue: bare when it is a plain name
// (letters, digits, '.', '-', '_'), else a quoted-string.
func value(s string, max int) string {
	if s == "" {
		return `""`
	}
	plain := len(s) <= max
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '.' || c == '-' || c == '_'
	}
	if plain {
		return s
	}
	return quote(s, max)
}

// quote returns s as a quoted-string of at most max bytes of content:
// valid UTF-8, control characters dropped, '"' and '\' escaped.
func quote(s string, max int) string {
	var b strings.Builder
	b.WriteByte('"')
	n := 0
	for _, c := range strings.ToValidUTF8(s, "?") {
		if c < ' ' || c == 0x7f || c >= 0x80 && c < 0xa0 {
			continue
		}
		w := utf8.RuneLen(c)
		if c == '"' || c == '\\' {
			w++
		}
		if n+w > max {
			break
		}
		n += w
		if c == '"' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	b.WriteByte('"')
	return b.String()
}
