// Package patchmail turns one raw e-mail into what review needs: subject
// tags, patch, cover, pull request, trailers.
//
// It only parses: it keeps no state, touches no database and imports no
// other patchwell package but store for the shared types and archive for
// the MIME structure (archive.ParseMIME, which caps nesting for every
// reader of a message). Every input is untrusted, so every loop is
// bounded (MaxSize, archive.MaxDepth, maxParts, maxTextBytes) and
// garbage gives a best-effort Mail, never a panic.
//
// The split of a patch mail into author, commit message and diff follows
// git mailinfo (without --scissors, with in-body headers); patch ids are
// those of `git patch-id --stable`; trailers are collected the way b4
// collects them from follow-ups. Mercurial's `hg email` (patchbomb) mail
// is read the same way, its "# HG changeset patch" header standing for
// git's in-body headers and base-commit: line, its plain diffs read in
// git's form (hg.go).
package patchmail

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bluekeyes/go-gitdiff/gitdiff"
	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // charset conversion for message bodies and headers
	"github.com/emersion/go-message/mail"

	"patchwell/archive"
	"patchwell/core"
)

// Kind says what a mail is for review.
type Kind int

// Kinds of mail.
const (
	KindNone  Kind = iota // anything else: replies, discussion
	KindPatch             // one patch of a series (or a single patch)
	KindCover             // the [PATCH 0/n] cover letter of a series
	KindPull              // a git request-pull
)

// String returns the core.Kind* name of k.
func (k Kind) String() string {
	switch k {
	case KindPatch:
		return core.KindPatch
	case KindCover:
		return core.KindCover
	case KindPull:
		return core.KindPull
	}
	return core.KindOther
}

// Limits on what Parse reads; MIME nesting stops at archive.MaxDepth.
const (
	// MaxSize is the largest raw message Parse accepts.
	MaxSize = 64 << 20
	// maxParts bounds the number of MIME parts looked at.
	maxParts = 1000
	// maxTextBytes bounds the decoded text read from all parts together.
	maxTextBytes = 32 << 20
)

// Errors returned by Parse.
var (
	ErrEmpty    = errors.New("empty message")
	ErrTooLarge = fmt.Errorf("message larger than %d bytes: %w", MaxSize, core.ErrTooLarge)
)

// Mail is what review needs from one mail.
type Mail struct {
	Subject       Subject        // parsed from the (RFC 2047-decoded) Subject header
	Kind          Kind           // see Parse for the rules
	Author        core.Person    // From header, overridden by an in-body "From:" at the top of the body (as git mailinfo does)
	AuthorDate    time.Time      // Date header, overridden by a valid in-body Date:
	CommitSubject string         // in-body "Subject:" overrides Subject.Title
	CommitMessage string         // the commit message body (after in-body headers, before the "---" line / diff), as git mailinfo gives it
	Body          string         // the decoded text body (inline text/plain parts; format=flowed decoded; UTF-8)
	Diff          string         // the diff text, from its first file header on, without a trailing "-- " signature
	Files         []core.File    // per file: path, old path on rename/copy, added/deleted line counts, binary
	PatchID       string         // hex; what `git patch-id --stable` prints for Diff ("" when it prints nothing); for a plain hg diff, for its git form (hgDiffToGit)
	Trailers      []core.Trailer // commit message trailers for a patch; trailer lines of the unquoted text otherwise
	BaseCommit    string         // "base-commit: <sha>" line (git format-patch --base), else an hg patch's parent (see Parent)
	ChangeID      string         // "change-id: <id>" line as b4 writes it
	Node          string         // "# Node ID" of a Mercurial changeset patch (hg export, hg email)
	Parent        string         // its first "# Parent"; also BaseCommit when the mail is a series' first patch (or its only one)
	Branch        string         // its "# Branch", Mercurial's named branch
	Pull          *Pull          // set for git request-pull mails
	TooDeep       bool           // MIME nesting exceeded archive.MaxDepth; parts below were not read
	TooManyParts  bool           // more than maxParts MIME parts; the rest were not read
	Automatic     bool           // Auto-Submitted other than "no" (RFC 3834): a program wrote it
}

// Pull is what a git request-pull mail asks to pull.
type Pull struct {
	URL    string // repository URL (the line after "are available in the Git repository at:")
	Ref    string // branch or tag after the URL; may be empty
	Commit string // "for you to fetch changes up to <commit>"
}

// textPart is one decoded text part of a mail.
type textPart struct {
	text       string
	attachment bool // a diff source that is not part of Body
}

// Parse reads one raw mail (RFC 5322, optionally starting with an mbox
// "From " line). It returns an error only for empty or oversized input;
// malformed headers, MIME, encodings or charsets give a best-effort Mail.
//
// Kind rules:
//   - a reply (Subject.Reply) is KindNone, even when it quotes or carries a diff;
//   - a git request-pull body makes KindPull, with or without a diff;
//   - a [PATCH 0/n] (n > 0) subject makes KindCover;
//   - any other mail carrying a diff go-gitdiff parses into at least one
//     file is KindPatch, whether or not the subject has a [PATCH] tag
//     (git format-patch -k or --no-numbered mails, hand-made patches).
func Parse(raw []byte) (*Mail, error) {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil, ErrEmpty
	}
	if len(raw) > MaxSize {
		return nil, ErrTooLarge
	}
	raw = skipMboxLine(raw)

	m := &Mail{}
	var parts []textPart
	root, _ := archive.ParseMIME(context.Background(), raw)
	if root.HeaderErr != nil || root.BodyStart > maxHeaderBytes {
		// The header is unreadable: treat everything as a plain body.
		parts = append(parts, textPart{text: normalizeText(string(raw))})
		m.Subject = ParseSubject("")
	} else {
		h := message.Header{Header: root.Header}
		hdr := mail.Header{Header: h}
		m.Subject = ParseSubject(headerText(h, "Subject"))
		m.Author = parseFrom(headerText(h, "From"))
		if a := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted"))); a != "" && a != "no" {
			m.Automatic = true // RFC 3834: written by a program (CI, "applied" replies, bots)
		}
		if d, err := hdr.Date(); err == nil {
			m.AuthorDate = d
		} else if d, ok := parseDate(h.Get("Date")); ok {
			m.AuthorDate = d
		}
		w := walker{m: m, raw: raw, budget: maxTextBytes}
		w.walk(root, 0)
		parts = w.parts
	}

	var body, all strings.Builder
	for _, p := range parts {
		if !p.attachment {
			joinText(&body, p.text)
		}
		joinText(&all, p.text)
	}
	m.Body = body.String()
	m.CommitSubject = m.Subject.Title

	text := all.String()
	hg, hgText, isHg := hgExport(parts)
	if isHg {
		text = hgText
	}
	info := mailinfo(text)
	m.CommitMessage = info.message
	// As git mailinfo does, in-body headers count only when the mail
	// carries a patch (some text after the patch break).
	inbody := strings.TrimSpace(info.rest) != ""
	switch {
	case isHg && inbody:
		// hg email: the "# " header is the in-body header, and the
		// description's first line the commit subject.
		if p := hgUser(hg.user); p.Email != "" {
			m.Author = p
		}
		if !hg.date.IsZero() {
			m.AuthorDate = hg.date
		}
		if subject, message := splitDescription(info.message); subject != "" {
			m.CommitSubject, m.CommitMessage = subject, message
		}
		m.Node, m.Branch = hg.node, hg.branch
		if len(hg.parents) > 0 {
			m.Parent = hg.parents[0]
		}
	case inbody:
		if info.hasFrom {
			if p := parseFrom(info.from); p.Email != "" {
				m.Author = p
			}
		}
		if info.hasDate {
			if d, ok := parseDate(info.date); ok {
				m.AuthorDate = d
			}
		}
		if info.hasSubject {
			m.CommitSubject = ParseSubject(info.subject).Title
		}
	}

	m.Diff = findDiff(info.rest)
	if m.Diff != "" {
		// A plain hg diff is read in its git form: file names without
		// a/ b/ and dates, the patch-id of the same change exported by git.
		gitForm := hgDiffToGit(m.Diff)
		m.Files = diffFiles(gitForm)
		if len(m.Files) > 0 {
			m.PatchID = PatchID(gitForm)
		}
	}
	m.BaseCommit, m.ChangeID = findBaseAndChangeID(all.String())
	if isHg && inbody && m.BaseCommit == "" && m.Subject.Index <= 1 {
		// The first patch's parent is what the series applies to, as
		// git's base-commit: line says.
		m.BaseCommit = hg.base()
	}

	switch {
	case m.Subject.Reply:
		m.Kind = KindNone
	case parsePull(m.Body) != nil:
		m.Kind = KindPull
		m.Pull = parsePull(m.Body)
	case m.Subject.Patch && m.Subject.Index == 0 && m.Subject.Total > 0:
		m.Kind = KindCover
	case len(m.Files) > 0:
		m.Kind = KindPatch
	}
	if m.Kind == KindPatch {
		m.Trailers = messageTrailers(m.CommitMessage)
	} else {
		m.Trailers = ReplyTrailers(m.Body)
	}
	return m, nil
}

// joinText appends a part's text, making sure parts are separated by a
// line break.
func joinText(b *strings.Builder, s string) {
	if s == "" {
		return
	}
	if b.Len() > 0 && !strings.HasSuffix(b.String(), "\n") {
		b.WriteByte('\n')
	}
	b.WriteString(s)
}

// skipMboxLine drops a leading mbox "From " separator line.
func skipMboxLine(raw []byte) []byte {
	if !bytes.HasPrefix(raw, []byte("From ")) {
		return raw
	}
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		return raw[i+1:]
	}
	return nil
}

// headerText returns the RFC 2047-decoded value of a header field, or the
// raw value (made valid UTF-8) when decoding fails.
func headerText(h message.Header, key string) string {
	if v, err := h.Text(key); err == nil {
		return strings.ToValidUTF8(v, "\uFFFD")
	}
	return strings.ToValidUTF8(h.Get(key), "\uFFFD")
}

// parseDate parses a Date value leniently (mail header syntax first, then
// the forms git writes).
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	var h mail.Header
	h.Set("Date", s)
	if d, err := h.Date(); err == nil {
		return d, true
	}
	if d, err := gitdiff.ParsePatchDate(s); err == nil && !d.IsZero() {
		return d, true
	}
	return time.Time{}, false
}

// maxHeaderBytes is the largest message header read (go-message's
// default): past it the header counts as unreadable.
const maxHeaderBytes = 1 << 20

// walker collects the text parts of a MIME tree.
type walker struct {
	m      *Mail
	raw    []byte
	parts  []textPart
	count  int
	budget int64
}

func (w *walker) walk(p *archive.Part, depth int) {
	w.count++
	if w.count > maxParts {
		w.m.TooManyParts = true
		return
	}
	// The body decoded (transfer encoding, and charset for text);
	// an unknown encoding or charset leaves it as it is.
	e, _ := message.New(message.Header{Header: p.Header}, bytes.NewReader(p.Body(w.raw)))
	rawType, _ := p.MediaType()
	mediaType, params, err := e.Header.ContentType()
	if err != nil || mediaType == "" {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(rawType, "multipart/") {
		if p.Opaque {
			if depth >= archive.MaxDepth {
				w.m.TooDeep = true
			} else {
				w.m.TooManyParts = true
			}
			return
		}
		for _, c := range p.Parts {
			w.walk(c, depth+1)
			if w.m.TooManyParts {
				break
			}
		}
		return
	}
	disp, dparams, _ := e.Header.ContentDisposition()
	filename := dparams["filename"]
	if filename == "" {
		filename = params["name"]
	}
	attachment := disp == "attachment"
	lowerName := strings.ToLower(filename)
	namedPatch := strings.HasSuffix(lowerName, ".patch") || strings.HasSuffix(lowerName, ".diff")

	switch {
	case mediaType == "text/x-patch" || mediaType == "text/x-diff" || mediaType == "text/x-p" ||
		mediaType == "application/x-patch" || mediaType == "application/x-diff":
		if t, ok := w.read(e, params); ok {
			w.parts = append(w.parts, textPart{text: t, attachment: true})
		}
	case mediaType == "text/plain":
		t, ok := w.read(e, params)
		if !ok {
			return
		}
		if attachment || filename != "" {
			// A text/plain attachment counts only when it is a diff.
			if findDiff(t) != "" {
				w.parts = append(w.parts, textPart{text: t, attachment: true})
			}
			return
		}
		w.parts = append(w.parts, textPart{text: t})
	case namedPatch && !strings.HasPrefix(mediaType, "multipart/") && !strings.HasPrefix(mediaType, "message/"):
		// application/octet-stream "foo.patch" and the like.
		if t, ok := w.read(e, params); ok && findDiff(t) != "" {
			w.parts = append(w.parts, textPart{text: t, attachment: true})
		}
	}
}

// read returns a part's decoded text: transfer encoding and charset are
// decoded by go-message; a part that cannot be decoded is taken as is.
// CRLF line endings become LF and format=flowed is undone.
func (w *walker) read(e *message.Entity, params map[string]string) (string, bool) {
	if w.budget <= 0 {
		return "", false
	}
	b, _ := io.ReadAll(io.LimitReader(e.Body, w.budget))
	w.budget -= int64(len(b))
	t := normalizeText(string(b))
	if strings.EqualFold(params["format"], "flowed") {
		t = unflow(t, strings.EqualFold(params["delsp"], "yes"))
	}
	return t, true
}

// normalizeText makes s valid UTF-8 with LF line endings.
func normalizeText(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return strings.ToValidUTF8(s, "\uFFFD")
}

// unflow decodes RFC 3676 format=flowed text: a line ending in a space is
// joined with the next line of the same quote depth (§4.2); with
// DelSp=yes that space is removed (§4.5); space-stuffing is undone
// (§4.4); the signature separator "-- " is never flowed.
func unflow(s string, delSp bool) string {
	lines := strings.Split(s, "\n")
	var out strings.Builder
	out.Grow(len(s))
	open := false // the previous line was flowed
	openDepth := 0
	for i, line := range lines {
		if i == len(lines)-1 && line == "" {
			break
		}
		depth := 0
		for depth < len(line) && line[depth] == '>' {
			depth++
		}
		content := line[depth:]
		content = strings.TrimPrefix(content, " ")
		if open && depth != openDepth {
			// Quote depth changed: end the flowed paragraph (§4.5).
			out.WriteByte('\n')
			open = false
		}
		if !open && depth > 0 {
			out.WriteString(strings.Repeat(">", depth))
			out.WriteByte(' ')
		}
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delSp {
			content = content[:len(content)-1]
		}
		out.WriteString(content)
		if flowed {
			open, openDepth = true, depth
			continue
		}
		open = false
		out.WriteByte('\n')
	}
	if open {
		out.WriteByte('\n')
	}
	return out.String()
}
