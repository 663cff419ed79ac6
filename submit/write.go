package submit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"regexp"
	"strconv"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/store"
)

// Mail is one message of a series to post: its bytes, Message-ID and the
// addresses it goes to besides the list's subscribers (its Cc).
type Mail struct {
	Raw       []byte
	MessageID string
	Also      []string
}

// fpFrom is the line git format-patch starts each mail with.
var fpFrom = regexp.MustCompile(`(?m)^From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n`)

// splitFormatPatch reads git format-patch --stdout -k output: each
// patch's author, date, subject and body, and the signature git wrote.
func splitFormatPatch(out []byte) ([]store.SubmitPatch, string, error) {
	locs := fpFrom.FindAllIndex(out, -1)
	var ps []store.SubmitPatch
	sig := ""
	for i, loc := range locs {
		end := len(out)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		p, s, err := readPatchMail(out[loc[1]:end])
		if err != nil {
			return nil, "", fmt.Errorf("format-patch output, patch %d: %w", i+1, err)
		}
		ps = append(ps, *p)
		sig = s
	}
	return ps, sig, nil
}

var dec = mime.WordDecoder{}

// readPatchMail reads one mail as git format-patch wrote it.
func readPatchMail(raw []byte) (*store.SubmitPatch, string, error) {
	m, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, "", err
	}
	body, err := io.ReadAll(m.Body)
	if err != nil {
		return nil, "", err
	}
	from, err := m.Header.AddressList("From")
	if err != nil || len(from) != 1 {
		return nil, "", fmt.Errorf("bad From: %q", m.Header.Get("From"))
	}
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	date, err := mail.ParseDate(m.Header.Get("Date"))
	if err != nil {
		return nil, "", fmt.Errorf("bad Date: %w", err)
	}
	p := &store.SubmitPatch{Author: core.Person{Name: from[0].Name, Email: from[0].Address}, Date: date,
		Subject: strings.Join(strings.Fields(subject), " "), Body: string(body)}
	text := p.Body
	sig := ""
	if i := strings.LastIndex(text, "\n-- \n"); i >= 0 {
		sig = strings.TrimSpace(text[i+len("\n-- \n"):])
		text = text[:i+1]
	}
	if strings.HasPrefix(text, "---\n") {
		text = "\n" + text
	}
	msg, rest, ok := strings.Cut(text, "\n---\n")
	if !ok {
		return nil, "", errors.New("no --- line")
	}
	p.Message = strings.TrimSpace(msg)
	if i := strings.Index(rest, "diff --git "); i >= 0 {
		p.Stat, p.Diff = strings.TrimRight(rest[:i], "\n"), rest[i:]
	} else {
		p.Stat = rest
	}
	return p, sig, nil
}

// subjectTag is "[PATCH v2 1/3]" as git format-patch writes it (with
// --rfc: "[RFC PATCH ...]").
func subjectTag(version int, rfc bool, k, n int) string {
	var b strings.Builder
	b.WriteString("[")
	if rfc {
		b.WriteString("RFC ")
	}
	b.WriteString("PATCH")
	if version > 1 {
		fmt.Fprintf(&b, " v%d", version)
	}
	if n > 1 {
		fmt.Fprintf(&b, " %d/%d", k, n)
	}
	b.WriteString("]")
	return b.String()
}

// person writes a core.Person as git does ("Ada Lovelace <ada@...>"),
// the name quoted only when it holds a special character; a header
// value with a name that is not ASCII is encoded (RFC 2047).
func person(p core.Person, header bool) string {
	if p.Name == "" {
		return "<" + p.Email + ">"
	}
	ascii := true
	for _, r := range p.Name {
		if r >= 0x80 || r < ' ' {
			ascii = false
		}
	}
	if header && !ascii {
		return (&mail.Address{Name: p.Name, Address: p.Email}).String()
	}
	if strings.ContainsAny(p.Name, "()<>[]:;@\\,.\"") {
		return strconv.Quote(p.Name) + " <" + p.Email + ">"
	}
	return p.Name + " <" + p.Email + ">"
}

// Write writes a submission's mails as git format-patch --cover-letter
// --thread --base writes them, sent by the list on its user's behalf:
// From "NAME via LIST" <LIST@DOMAIN> (so the mail passes DMARC), the
// person in Reply-To and Cc, and an in-body From: line with each
// patch's author, which git am keeps. A series of two or more patches
// starts with the cover letter (the user's subject and body, git's
// shortlog and diffstat, the range-diff of a re-roll, base-commit); a
// re-roll answers the previous version's first message. Message-IDs are
// new, at domain.
func Write(sub *store.Submission, domain string, now time.Time) ([]Mail, error) {
	d := &sub.Draft
	n := len(d.Patches)
	if n == 0 {
		return nil, errors.New("no patches")
	}
	listAddr := sub.List + "@" + domain
	name := d.From.Name
	if name == "" {
		name = d.From.Email
	}
	from := person(core.Person{Name: name + " via " + sub.List, Email: listAddr}, true)
	self := person(d.From, true)
	cc := append([]string{self}, d.Cc...)
	// also: the bare addresses the mails go to besides the subscribers.
	also := []string{d.From.Email}
	for _, c := range d.Cc {
		if a, err := mail.ParseAddress(c); err == nil {
			also = append(also, a.Address)
		}
	}
	extra := []core.Header{{Name: "Reply-To", Value: self}}
	sig := d.Signature
	if sig == "" {
		sig = "patchwell"
	}
	var prev string
	if d.Reroll && d.Previous != nil {
		prev = d.Previous.MessageID
	}
	var out []Mail
	parent := prev
	var refs []string
	if n > 1 {
		var b strings.Builder
		b.WriteString(strings.TrimRight(d.CoverBody, "\n") + "\n\n")
		b.WriteString(d.CoverStats)
		if prev != "" {
			b.WriteString(d.RangeDiff)
		}
		fmt.Fprintf(&b, "\nbase-commit: %s\n-- \n%s\n\n", d.Base, sig)
		raw, id := archive.Compose(archive.Outgoing{From: from, To: []string{listAddr}, Cc: cc,
			Subject: subjectTag(sub.Version, d.RFC, 0, n) + " " + d.CoverSubject, Domain: domain, Date: now,
			InReplyTo: prev, Extra: extra, Body: b.String()})
		out = append(out, Mail{Raw: raw, MessageID: id, Also: also})
		parent = id
		if prev != "" {
			refs = []string{prev}
		}
	}
	for i, p := range d.Patches {
		body := p.Body
		if n == 1 {
			if prev != "" && d.RangeDiff != "" {
				body = insertAfterDashes(body, d.RangeDiff+"\n")
			}
			body = insertBeforeSignature(body, "\nbase-commit: "+d.Base+"\n")
		}
		raw, id := archive.Compose(archive.Outgoing{From: from, To: []string{listAddr}, Cc: cc,
			Subject: subjectTag(sub.Version, d.RFC, i+1, n) + " " + p.Subject, Domain: domain, Date: p.Date,
			InReplyTo: parent, References: refs, Extra: extra,
			Body: "From: " + person(p.Author, false) + "\n\n" + body})
		out = append(out, Mail{Raw: raw, MessageID: id, Also: also})
	}
	return out, nil
}

// insertAfterDashes puts s right after the body's "---" line (where git
// format-patch puts a single patch's range-diff).
func insertAfterDashes(body, s string) string {
	if strings.HasPrefix(body, "---\n") {
		return "---\n" + s + body[len("---\n"):]
	}
	if i := strings.Index(body, "\n---\n"); i >= 0 {
		return body[:i+len("\n---\n")] + s + body[i+len("\n---\n"):]
	}
	return body
}

// insertBeforeSignature puts s before the body's "-- " line.
func insertBeforeSignature(body, s string) string {
	if i := strings.LastIndex(body, "\n-- \n"); i >= 0 {
		return body[:i+1] + s + body[i+1:]
	}
	return body + s
}
