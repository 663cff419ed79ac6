package review

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/gzip"

	"patchwell/store"
)

// TestImportFiles imports several files, their stats summed and each
// message counted; a path that cannot be opened is its own error, a
// failed import a *FileError naming the path.
func TestImportFiles(t *testing.T) {
	ctx := context.Background()
	in, _ := newTestIngester(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	mbox := write("a.mbox", "From a Mon Sep 17 00:00:00 2001\nSubject: 1\nMessage-ID: <1@x>\n\none\n\nFrom b Mon Sep 17 00:00:00 2001\nSubject: 2\n\ntwo\n")
	eml := write("b.eml", "Subject: 1\nMessage-ID: <1@x>\n\none\n")
	var n int
	got, err := in.ImportFiles(ctx, "dev", []string{mbox, eml}, func(k int) { n += k })
	if err != nil {
		t.Fatalf("ImportFiles() = %v", err)
	}
	if diff := cmp.Diff(ImportStats{Imported: 2, Duplicates: 1, NoMessageID: 1}, got); diff != "" || n != 3 {
		t.Errorf("ImportFiles() counted %d messages, stats (-want +got):\n%s", n, diff)
	}

	got, err = in.ImportFiles(ctx, "dev", []string{eml, filepath.Join(dir, "nope")}, nil)
	var fe *FileError
	if !errors.Is(err, fs.ErrNotExist) || errors.As(err, &fe) || got.Duplicates != 1 {
		t.Errorf("ImportFiles() of a missing file = %+v, %v; want the duplicate of the first file and the error of opening", got, err)
	}
	if _, err := in.ImportFiles(ctx, "nope", []string{filepath.Join(dir, "nope")}, nil); !errors.Is(err, store.ErrNotFound) || errors.As(err, &fe) {
		t.Errorf("ImportFiles() into a missing list = %v, want not found before the path is opened", err)
	}
	// A failed import: the second file is cut short.
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(strings.Repeat("From a Mon Sep 17 00:00:00 2001\nSubject: z\n\nbody\n\n", 1000)))
	zw.Close()
	bad := write("cut.mbox.gz", gz.String()[:gz.Len()/2])
	_, err = in.ImportFiles(ctx, "dev", []string{eml, bad}, nil)
	if !errors.As(err, &fe) || fe.Path != bad || err.Error() != bad+": "+fe.Err.Error() {
		t.Errorf("ImportFiles() of a bad maildir = %v, want a *FileError of %s", err, bad)
	}
}
