// Package core holds the parts of a message and of a patch that every
// layer speaks of: who wrote it (Person), its header fields (Header),
// what kind of message it is (Kind*), the files a patch touches (File)
// and the trailers of a commit message or a review (Trailer). The
// parsers (archive, review/patchmail) make them, the store keeps them,
// the web and the API show them; this package depends on none of them.
package core

import "errors"

// ErrTooLarge refuses a message larger than a limit (what the parser
// reads, what the store keeps).
var ErrTooLarge = errors.New("message too large")

// Person is a name and an e-mail address as they appear in a From header.
type Person struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Header is one header field of a message as shown to people: name as
// written, value decoded (RFC 2047) and unfolded.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Message kinds, as recognised by review.
const (
	KindOther = ""
	KindPatch = "patch"
	KindCover = "cover"
	KindPull  = "pull"
	KindReply = "reply"
)

// File is one file touched by a patch.
type File struct {
	Path    string `json:"path"`
	OldPath string `json:"old_path,omitempty"`
	Added   int    `json:"added"`
	Deleted int    `json:"deleted"`
	Binary  bool   `json:"binary"`
}

// Trailer is one "Key: value" line at the end of a commit message or in a
// review reply. FromMessageID names the message that gave it.
type Trailer struct {
	Key           string `json:"key"`
	Value         string `json:"value"`
	FromMessageID string `json:"from_message_id"`
	// CarriedFrom is the version of the revision the trailer was given
	// on, when it was given to the same change (the same patch-id) in an
	// earlier revision, as b4 trailers -u carries it; 0 when it was
	// given to this patch.
	CarriedFrom int `json:"carried_from,omitempty"`
}
