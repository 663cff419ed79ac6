package submit

import (
	"bytes"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
)

// paste is git format-patch output a user pasted or uploaded: the patch
// mails in order, and what its cover letter said.
type paste struct {
	mails        []string
	coverSubject string
	coverBody    string
	base         string // base-commit:
}

// mboxFrom is an mbox separator line: git format-patch's, or any
// "From ADDR DATE" line of an mbox.
var mboxFrom = regexp.MustCompile(`(?m)^From (?:[0-9a-f]{40} Mon Sep 17 00:00:00 2001|\S+ +\S.*\d{4})$`)

// tags are the bracketed prefixes of a subject ("[PATCH v2 1/3]").
var tags = regexp.MustCompile(`^\s*((?:\[[^\]]*\]\s*)+)`)

var coverIndex = regexp.MustCompile(`\b0+/\d+\b`)

var baseCommit = regexp.MustCompile(`(?m)^base-commit: ([0-9a-f]{40})$`)

// shortlogLine starts the shortlog of a cover letter ("Ada (2):").
var shortlogLine = regexp.MustCompile(`(?m)^\S.* \(\d+\):$`)

// parsePaste reads pasted git format-patch output (one mail or many, an
// mbox or not, CRLF or LF). Errors are worded for the user.
func parsePaste(s string) (*paste, error) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimLeft(s, "\n")
	var chunks []string
	locs := mboxFrom.FindAllStringIndex(s, -1)
	if len(locs) == 0 || locs[0][0] != 0 {
		if !strings.HasPrefix(s, "From:") && !strings.HasPrefix(s, "Subject:") && !strings.HasPrefix(s, "Date:") &&
			!strings.HasPrefix(s, "Message-Id:") && !strings.HasPrefix(s, "Message-ID:") {
			return nil, errors.New("the paste is not git format-patch output (it starts with neither a \"From \" line nor a mail header)")
		}
		if len(locs) > 0 {
			chunks = append(chunks, s[:locs[0][0]])
		} else {
			chunks = append(chunks, s)
		}
	}
	for i, loc := range locs {
		end := len(s)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		chunks = append(chunks, s[loc[1]+1:end])
	}
	p := &paste{}
	for i, c := range chunks {
		m, err := mail.ReadMessage(strings.NewReader(c))
		if err != nil {
			return nil, fmt.Errorf("mail %d of the paste: %v", i+1, err)
		}
		subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
		if err != nil {
			subject = m.Header.Get("Subject")
		}
		var body bytes.Buffer
		body.ReadFrom(m.Body)
		text := body.String()
		if b := baseCommit.FindStringSubmatch(text); b != nil && p.base == "" {
			p.base = b[1]
		}
		tag := ""
		if t := tags.FindStringSubmatch(subject); t != nil {
			tag = t[1]
		}
		if coverIndex.MatchString(tag) {
			p.coverSubject = strings.TrimSpace(subject[len(tag):])
			blurb := text
			if loc := shortlogLine.FindStringIndex(blurb); loc != nil {
				blurb = blurb[:loc[0]]
			}
			if j := strings.Index(blurb, "\n-- \n"); j >= 0 {
				blurb = blurb[:j]
			}
			if strings.Contains(blurb, "*** BLURB HERE ***") {
				blurb = ""
			}
			if strings.Contains(p.coverSubject, "*** SUBJECT HERE ***") {
				p.coverSubject = ""
			}
			p.coverBody = strings.TrimSpace(blurb)
			continue
		}
		if !strings.Contains(text, "\ndiff --git ") && !(strings.Contains(text, "\n--- ") && strings.Contains(text, "\n+++ ")) {
			return nil, fmt.Errorf("mail %d of the paste (%q) has no diff", i+1, subject)
		}
		if m.Header.Get("From") == "" {
			return nil, fmt.Errorf("mail %d of the paste (%q) has no From: line (its author)", i+1, subject)
		}
		p.mails = append(p.mails, c)
	}
	if len(p.mails) == 0 {
		return nil, errors.New("the paste holds no patch")
	}
	return p, nil
}

// mbox is the paste's patches as an mbox for git am.
func (p *paste) mbox() []byte {
	var b bytes.Buffer
	for _, m := range p.mails {
		b.WriteString("From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n")
		b.WriteString(m)
		if !strings.HasSuffix(m, "\n") {
			b.WriteString("\n")
		}
	}
	return b.Bytes()
}
