package archive

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"time"
)

// MboxFormat says how "From " lines inside messages were escaped.
type MboxFormat int

const (
	// MboxAuto is mboxrd when the first separator is "From mboxrd@z ..."
	// (as public-inbox, lore and b4 write), else mboxo.
	MboxAuto MboxFormat = iota
	// MboxO: nothing is unescaped (">From " stays as it is).
	MboxO
	// MboxRD: one ">" is removed from lines matching ^>+From .
	MboxRD
)

// MaxMessage is the largest message a reader returns by default.
const MaxMessage = 64 << 20

// ErrMessageTooLarge is returned for a message over the reader's limit.
var ErrMessageTooLarge = errors.New("message too large")

// A separator is a line "From " followed by a sender and something that
// looks like a date (asctime has hh:mm:ss and a year), as git mailsplit
// expects; a blank line before it is not required (git's own test mboxes
// lack it), so an unescaped body line of that shape in an mboxo file
// splits the message, as it does for git.
var fromLine = regexp.MustCompile(`^From \S+.* \d{1,2}:\d\d(:\d\d)? .*\d{4}`)

// MboxReader reads messages from an mbox stream.
type MboxReader struct {
	r      *bufio.Reader
	format MboxFormat
	// Max is the largest message returned; past it Next returns
	// ErrMessageTooLarge (and skips the message).
	Max     int
	started bool
	pending bool // a separator line was read and is not yet consumed
	err     error
	line    []byte // reused line buffer
	msg     []byte // reused message buffer; Next returns a copy
}

// NewMboxReader reads mbox from r.
func NewMboxReader(r io.Reader, f MboxFormat) *MboxReader {
	return &MboxReader{r: bufio.NewReaderSize(r, 256<<10), format: f, Max: MaxMessage}
}

func isFromLine(line []byte) bool {
	return bytes.HasPrefix(line, []byte("From ")) && fromLine.Match(bytes.TrimRight(line, "\r\n"))
}

// readLine returns the next line with its line ending, however long. A
// line over Max is cut, its rest skipped, and ErrMessageTooLarge returned.
func (m *MboxReader) readLine(buf []byte) ([]byte, error) {
	for {
		frag, err := m.r.ReadSlice('\n')
		buf = append(buf, frag...)
		if err == bufio.ErrBufferFull {
			if len(buf) > m.Max+1 {
				for err == bufio.ErrBufferFull {
					_, err = m.r.ReadSlice('\n')
				}
				if err != nil && err != io.EOF {
					return buf, err
				}
				return buf, ErrMessageTooLarge
			}
			continue
		}
		return buf, err
	}
}

// Next returns the next message's bytes, or io.EOF.
func (m *MboxReader) Next() ([]byte, error) {
	if m.err != nil {
		return nil, m.err
	}
	if !m.started {
		m.started = true
		// Skip to the first separator.
		for {
			line, err := m.readLine(nil)
			if len(line) > 0 && isFromLine(line) {
				if m.format == MboxAuto {
					m.format = MboxO
					if bytes.HasPrefix(line, []byte("From mboxrd@z ")) {
						m.format = MboxRD
					}
				}
				m.pending = true
				break
			}
			if err != nil {
				if err == io.EOF && len(bytes.TrimSpace(line)) > 0 {
					m.err = fmt.Errorf("not an mbox: no \"From \" separator line")
					return nil, m.err
				}
				m.err = err
				return nil, err
			}
			if len(bytes.TrimSpace(line)) > 0 {
				m.err = fmt.Errorf("not an mbox: first line is not a \"From \" separator")
				return nil, m.err
			}
		}
	}
	if !m.pending {
		m.err = io.EOF
		return nil, io.EOF
	}
	m.pending = false
	msg := m.msg[:0]
	tooLarge := false
	for {
		line, err := m.readLine(m.line[:0])
		if cap(line) <= 1<<20 {
			m.line = line[:0]
		}
		if errors.Is(err, ErrMessageTooLarge) {
			tooLarge = true
			err = nil
		}
		if len(line) > 0 {
			if isFromLine(line) {
				m.pending = true
				break
			}
			if m.format == MboxRD && line[0] == '>' {
				t := bytes.TrimLeft(line, ">")
				if bytes.HasPrefix(t, []byte("From ")) {
					line = line[1:]
				}
			}
			if !tooLarge {
				msg = append(msg, line...)
				if len(msg) > m.Max {
					tooLarge = true
					msg = msg[:0]
				}
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			m.err = err
			return nil, err
		}
	}
	if tooLarge {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMessageTooLarge, m.Max)
	}
	// The blank line before a separator (or at the end) belongs to the mbox.
	if bytes.HasSuffix(msg, []byte("\r\n\r\n")) {
		msg = msg[:len(msg)-2]
	} else if bytes.HasSuffix(msg, []byte("\n\n")) {
		msg = msg[:len(msg)-1]
	} else if string(msg) == "\n" || string(msg) == "\r\n" {
		msg = msg[:0] // an empty message, as MboxWriter writes one
	}
	if cap(msg) <= 16<<20 {
		m.msg = msg[:0]
	}
	return bytes.Clone(msg), nil
}

// Close implements Source.
func (m *MboxReader) Close() error { return nil }

// MboxWriter writes mboxrd: a "From " separator, ">"-escaped lines
// matching ^>*From , and a blank line after each message.
type MboxWriter struct {
	w io.Writer
}

// NewMboxWriter writes mboxrd to w.
func NewMboxWriter(w io.Writer) *MboxWriter { return &MboxWriter{w: w} }

// Write appends one message. A zero date writes the epoch, as public-inbox
// does.
func (mw *MboxWriter) Write(raw []byte, from string, date time.Time) error {
	if from == "" {
		from = "MAILER-DAEMON"
	}
	if date.IsZero() {
		date = time.Unix(0, 0)
	}
	var b bytes.Buffer
	b.Grow(len(raw) + 128)
	fmt.Fprintf(&b, "From %s %s\n", from, date.UTC().Format("Mon Jan _2 15:04:05 2006"))
	for len(raw) > 0 {
		i := bytes.IndexByte(raw, '\n')
		var line []byte
		if i < 0 {
			line, raw = raw, nil
		} else {
			line, raw = raw[:i+1], raw[i+1:]
		}
		if t := bytes.TrimLeft(line, ">"); bytes.HasPrefix(t, []byte("From ")) {
			b.WriteByte('>')
		}
		b.Write(line)
	}
	if b.Len() > 0 && b.Bytes()[b.Len()-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteByte('\n')
	_, err := mw.w.Write(b.Bytes())
	return err
}
