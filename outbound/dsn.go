package outbound

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"net/textproto"
	"strings"
)

// Limits on what ParseDSN reads of a bounce.
const (
	maxDSNParts  = 16
	maxDSNStatus = 64 << 10
)

// ParseDSN reads a delivery status notification (RFC 3464: a
// multipart/report; report-type=delivery-status whose message/delivery-status
// part has a per-recipient block) and returns the recipient that failed:
// its Final-Recipient (or Original-Recipient), and hard for a permanent
// failure (Action: failed with a 5.x.x Status, or none), soft for a
// transient one (Action: delayed, or failed with 4.x.x). ok is false for
// anything else: not a DSN, or one that only reports success
// (delivered, relayed, expanded). When a report names several recipients,
// the first failed one wins over the first delayed one.
func ParseDSN(raw []byte) (rcpt string, hard bool, ok bool) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", false, false
	}
	mt, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/report" || params["boundary"] == "" {
		return "", false, false
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for range maxDSNParts {
		p, err := mr.NextPart()
		if err != nil {
			return "", false, false
		}
		pt, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if pt != "message/delivery-status" && pt != "message/global-delivery-status" {
			continue
		}
		var body io.Reader = p
		if strings.EqualFold(strings.TrimSpace(p.Header.Get("Content-Transfer-Encoding")), "base64") {
			body = base64.NewDecoder(base64.StdEncoding, p)
		}
		status, err := io.ReadAll(io.LimitReader(body, maxDSNStatus))
		if err != nil {
			return "", false, false
		}
		return parseStatus(status)
	}
	return "", false, false
}

// parseStatus reads the fields of a delivery-status body: blocks of
// header-like fields separated by blank lines, the first per message, the
// others per recipient (RFC 3464 section 2.1).
func parseStatus(b []byte) (rcpt string, hard bool, ok bool) {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	var soft string
	for _, block := range bytes.Split(b, []byte("\n\n")) {
		block = bytes.Trim(block, "\n")
		if len(block) == 0 {
			continue
		}
		h, err := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(block, "\n\n"...)))).ReadMIMEHeader()
		if err != nil && len(h) == 0 {
			continue
		}
		addr := recipientField(h.Get("Final-Recipient"))
		if addr == "" {
			addr = recipientField(h.Get("Original-Recipient"))
		}
		if addr == "" {
			continue
		}
		status := strings.TrimSpace(h.Get("Status"))
		switch strings.ToLower(strings.TrimSpace(h.Get("Action"))) {
		case "failed":
			if strings.HasPrefix(status, "4.") {
				if soft == "" {
					soft = addr
				}
				continue
			}
			return addr, true, true
		case "delayed":
			if soft == "" {
				soft = addr
			}
		}
	}
	if soft != "" {
		return soft, false, true
	}
	return "", false, false
}

// recipientField returns the address of an "address-type; address"
// field (RFC 3464 section 2.3.2), without angle brackets.
func recipientField(v string) string {
	v = strings.TrimSpace(v)
	if _, addr, found := strings.Cut(v, ";"); found {
		v = addr
	}
	v = strings.Trim(strings.TrimSpace(v), "<>")
	if len(v) > 320 || !strings.Contains(v, "@") || strings.ContainsAny(v, " \t\r\n") {
		return ""
	}
	return v
}
