// Package archive holds the mail-archive primitives that need no database:
// parsing the header fields threading and listing need (ParseHeader), and
// reading and writing archives (mbox in its mboxo and mboxrd forms,
// maildir, single messages, gzip). Everything here treats its input as
// hostile: sizes are capped, output strings are valid UTF-8 without
// control characters, and nothing panics on garbage.
//
// It must not import any other patchwell package but store (for shared
// types).
package archive
