package review

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/store"
)

// TestExport writes a list as mboxrd that reads back to the messages
// received, byte for byte, in arrival order.
func TestExport(t *testing.T) {
	ctx := context.Background()
	in, st := newTestIngester(t)
	want := []string{
		"Subject: one\nMessage-ID: <1@x>\n\nFrom the start\n>From quoted\n",
		"Subject: two\r\nMessage-ID: <2@x>\r\n\r\nbody\r\n",
	}
	for _, raw := range want {
		if _, err := in.Import(ctx, "dev", oneMessage(raw)); err != nil {
			t.Fatalf("Import() = %v", err)
		}
	}
	var buf bytes.Buffer
	var c counter
	if err := Export(ctx, st, "dev", &buf, c.progress); err != nil {
		t.Fatalf("Export() = %v", err)
	}
	if c.total != 2 || c.n != 2 {
		t.Errorf("Export() progress %+v, want 2 of 2", c)
	}
	r := archive.NewMboxReader(&buf, archive.MboxRD)
	var got []string
	for {
		m, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Next() = %v", err)
		}
		got = append(got, string(m))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("exported messages (-want +got):\n%s", diff)
	}
	if err := Export(ctx, st, "nope", io.Discard, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Export(a missing list) = %v, want not found", err)
	}
}
