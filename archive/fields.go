package archive

import (
	"bytes"
	"patchwell/core"
)

// Fields returns the header fields of raw in order, for display: the name
// as written, the value unfolded, RFC 2047 encoded words decoded and
// sanitised as Header's strings are (valid UTF-8, no control characters,
// bounded length). Lines that are not fields are skipped.
func Fields(raw []byte) []core.Header {
	block := raw
	if len(block) > maxHeaderBlock {
		block = block[:maxHeaderBlock]
	}
	if end := headerEnd(block); end >= 0 {
		block = block[:end]
	}
	var out []core.Header
	for len(block) > 0 {
		line, rest := nextLine(block)
		block = rest
		if len(line) == 0 {
			break
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		name := bytes.TrimRight(line[:colon], " \t")
		if len(name) == 0 || bytes.ContainsAny(name, " \t") {
			continue
		}
		value := append([]byte{}, line[colon+1:]...)
		for len(block) > 0 && (block[0] == ' ' || block[0] == '\t') {
			var cont []byte
			cont, block = nextLine(block)
			if len(value) < maxFieldValue {
				value = append(append(value, ' '), cont...)
			}
		}
		out = append(out, core.Header{
			Name:  clean(string(name), 200),
			Value: clean(decodeWords(string(value)), maxFieldValue),
		})
	}
	return out
}
