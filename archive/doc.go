// Package archive holds the mail-archive primitives that need no database:
// parsing the header fields threading and listing need (ParseHeader), the
// MIME structure every reader of a message goes through (ParseMIME, where
// nesting is capped), and reading and writing archives (mbox in its mboxo
// and mboxrd forms, maildir, single messages, gzip). Everything here treats its input as
// hostile: sizes are capped, output strings are valid UTF-8 without
// control characters, and nothing panics on garbage.
//
// It must not import any other patchwell package but store (for shared
// types).
package archive
