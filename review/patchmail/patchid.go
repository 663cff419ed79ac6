package patchmail

import (
	"crypto/sha1"
	"encoding/hex"
	"hash"
	"strings"
)

// PatchID computes what `git patch-id --stable` prints (the first field)
// for the diff text, or "" when git would print nothing (no "diff " line).
//
// It follows git's builtin/patch-id.c line by line: text before the first
// "diff " line is ignored; in a file header, "index" lines are dropped
// (their object names are kept for binary files), other header lines are
// hashed; hunk headers are dropped and hunk line counts are only used to
// find the end of a hunk; "\ No newline" markers are dropped; every hashed
// line has all white space removed. With --stable each file's SHA-1 is
// summed into the result (20-byte little-endian addition with carry), so
// the order of files does not matter.
func PatchID(diff string) string {
	var (
		result   [sha1.Size]byte
		h        = sha1.New()
		patchLen int
		before   = -1
		after    = -1
		isBinary bool
		preOID   string
		postOID  string
		buf      []byte
		sumBuf   [sha1.Size]byte
		flush    = func(h hash.Hash) { flushOne(&result, h, sumBuf[:0]) }
		rest     = diff
		line     string
	)
	for rest != "" {
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			line, rest = rest, ""
		}
		if strings.HasPrefix(line, "\\ ") && len(line) > 12 {
			continue
		}
		p := line
		if s, ok := strings.CutPrefix(line, "commit "); ok {
			p = s
		} else if s, ok := strings.CutPrefix(line, "From "); ok {
			p = s
		}
		if isHexOID(p) {
			break // the next patch starts
		}
		if patchLen == 0 && !strings.HasPrefix(line, "diff ") {
			continue
		}
		if before == -1 {
			if strings.HasPrefix(line, "GIT binary patch") || strings.HasPrefix(line, "Binary files") {
				isBinary = true
				before = 0
				h.Write([]byte(preOID))
				h.Write([]byte(postOID))
				flush(h)
				continue
			} else if s, ok := strings.CutPrefix(line, "index "); ok {
				if i := strings.Index(line, ".."); i >= 0 {
					tail := line[i+2:]
					j := strings.IndexByte(tail, ' ')
					if j < 0 {
						j = len(tail) - 1 // drop the newline
						if j < 0 {
							j = 0
						}
					}
					preOID = truncOID(s[:i-len("index ")])
					postOID = truncOID(tail[:j])
				}
				continue
			} else if strings.HasPrefix(line, "--- ") {
				before, after = 1, 1
			} else if line == "" || !isASCIILetter(line[0]) {
				break
			}
		}
		if isBinary {
			if strings.HasPrefix(line, "diff ") {
				isBinary = false
				before = -1
			}
			continue
		}
		if before == 0 && after == 0 {
			if strings.HasPrefix(line, "@@ -") {
				before, after = scanHunkHeader(line, after)
				continue
			}
			if !strings.HasPrefix(line, "diff ") {
				break
			}
			flush(h)
			before, after = -1, -1
		}
		switch line[0] {
		case '-':
			before--
		case '+':
			after--
		case ' ':
			before--
			after--
		}
		buf = appendNoSpace(buf[:0], line)
		patchLen += len(buf)
		h.Write(buf)
	}
	if patchLen == 0 {
		return ""
	}
	flush(h)
	return hex.EncodeToString(result[:])
}

// flushOne adds h's digest to result and resets h.
func flushOne(result *[sha1.Size]byte, h hash.Hash, scratch []byte) {
	sum := h.Sum(scratch)
	h.Reset()
	carry := 0
	for i := range result {
		carry += int(result[i]) + int(sum[i])
		result[i] = byte(carry)
		carry >>= 8
	}
}

// truncOID keeps at most 40 characters, as git copies into a fixed buffer.
func truncOID(s string) string {
	if len(s) > 40 {
		return s[:40]
	}
	return s
}

// isHexOID reports whether s starts with 40 hex digits (git's get_oid_hex).
func isHexOID(s string) bool {
	if len(s) < 40 {
		return false
	}
	for i := 0; i < 40; i++ {
		c := s[i]
		if !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
			return false
		}
	}
	return true
}

// scanHunkHeader reads the old and new line counts of "@@ -a,b +c,d @@".
// A missing count means 1, as in git.
// When the header is malformed after the old range, after is returned
// unchanged, as git leaves it.
func scanHunkHeader(line string, after int) (int, int) {
	q := line[4:]
	before := 1
	n := digitRun(q)
	if n < len(q) && q[n] == ',' {
		q = q[n+1:]
		n = digitRun(q)
		before = atoiRun(q[:n])
	}
	if n == 0 || n+1 >= len(q) || q[n] != ' ' || q[n+1] != '+' {
		return before, after
	}
	r := q[n+2:]
	after = 1
	n = digitRun(r)
	if n < len(r) && r[n] == ',' {
		r = r[n+1:]
		n = digitRun(r)
		after = atoiRun(r[:n])
	}
	return before, after
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// atoiRun parses decimal digits, saturating instead of overflowing.
func atoiRun(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
		if n > 1<<30 {
			return 1 << 30
		}
	}
	return n
}

// appendNoSpace appends line without the bytes C's isspace accepts.
func appendNoSpace(dst []byte, line string) []byte {
	for i := 0; i < len(line); i++ {
		switch line[i] {
		case ' ', '\t', '\n', '\v', '\f', '\r':
		default:
			dst = append(dst, line[i])
		}
	}
	return dst
}
