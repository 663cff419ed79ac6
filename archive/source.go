package archive

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Source yields raw messages one at a time; Next returns io.EOF at the end.
type Source interface {
	Next() ([]byte, error)
	Close() error
}

// OpenSource opens path as a source of messages: "-" is standard input; a
// directory is a maildir (cur/ and new/, or a plain directory of message
// files); a file is an mbox (mboxo or mboxrd, see MboxAuto), possibly
// gzip-compressed, or else one message (.eml). The format is told from
// the content, not the name.
func OpenSource(path string) (Source, error) {
	if path == "-" {
		return NewStreamSource(os.Stdin, io.NopCloser(nil))
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return openMaildir(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return NewStreamSource(f, f)
}

// CountMessages is how many messages the sources at paths (OpenSource)
// hold, read through once; -1 when one of them is standard input, which
// can be read only once, or cannot be opened.
func CountMessages(paths []string) int64 {
	var n int64
	for _, p := range paths {
		if p == "-" {
			return -1
		}
		src, err := OpenSource(p)
		if err != nil {
			return -1
		}
		for {
			if _, err := src.Next(); err != nil {
				break
			}
			n++
		}
		src.Close()
	}
	return n
}

// NewStreamSource detects the format of r (gzip, mbox or one message);
// closing the source closes c.
func NewStreamSource(r io.Reader, c io.Closer) (Source, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(2)
	var rd io.Reader = br
	if len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			closeQuiet(c)
			return nil, fmt.Errorf("gzip: %w", err)
		}
		rd = bufio.NewReaderSize(zr, 64<<10)
	}
	b := rd.(*bufio.Reader)
	first, _ := b.Peek(4096)
	first = bytes.TrimLeft(first, " \t\r\n")
	if i := bytes.IndexByte(first, '\n'); i > 0 && isFromLine(first[:i+1]) {
		return &mboxSource{MboxReader: NewMboxReader(b, MboxAuto), c: c}, nil
	}
	return &oneSource{r: b, c: c}, nil
}

func closeQuiet(c io.Closer) {
	if c != nil {
		c.Close()
	}
}

type mboxSource struct {
	*MboxReader
	c io.Closer
}

func (s *mboxSource) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// oneSource is a file holding a single message.
type oneSource struct {
	r    io.Reader
	c    io.Closer
	done bool
}

func (s *oneSource) Next() ([]byte, error) {
	if s.done {
		return nil, io.EOF
	}
	s.done = true
	b, err := io.ReadAll(io.LimitReader(s.r, MaxMessage+1))
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessage {
		return nil, fmt.Errorf("%w: over %d bytes", ErrMessageTooLarge, MaxMessage)
	}
	if len(b) == 0 {
		return nil, io.EOF
	}
	return b, nil
}

func (s *oneSource) Close() error {
	if s.c == nil {
		return nil
	}
	return s.c.Close()
}

// maildirSource reads the files of a maildir's new/ and cur/ (or of a plain
// directory), in name order, which for maildir is delivery order.
type maildirSource struct {
	files []string
}

func openMaildir(dir string) (Source, error) {
	var files []string
	sub := false
	for _, d := range []string{"new", "cur"} {
		entries, err := os.ReadDir(filepath.Join(dir, d))
		if err != nil {
			continue
		}
		sub = true
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(dir, d, e.Name()))
			}
		}
	}
	if !sub {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(dir, e.Name()))
			}
		}
	}
	sort.Slice(files, func(i, j int) bool { return filepath.Base(files[i]) < filepath.Base(files[j]) })
	return &maildirSource{files: files}, nil
}

func (s *maildirSource) Next() ([]byte, error) {
	if len(s.files) == 0 {
		return nil, io.EOF
	}
	f := s.files[0]
	s.files = s.files[1:]
	fi, err := os.Stat(f)
	if err != nil {
		return nil, err
	}
	if fi.Size() > MaxMessage {
		return nil, fmt.Errorf("%s: %w", f, ErrMessageTooLarge)
	}
	return os.ReadFile(f)
}

func (s *maildirSource) Close() error { return nil }
