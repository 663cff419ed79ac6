package review

import (
	"context"
	"errors"
	"testing"

	"patchwell/store"
)

// TestSetViewed: a file of a patch of the series can be marked viewed
// and cleared; a file or patch the series does not have is
// store.ErrNotFound.
func TestSetViewed(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	id := seriesOf(t, st, "v1-1@example.org")
	u, err := st.CreateUser(ctx, store.User{Email: "rita@example.org"}, "h")
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.SetViewed(ctx, u.ID, id, 1, "drivers/wdt.c", true); err != nil {
		t.Fatalf("SetViewed() = %v", err)
	}
	if vs, err := svc.ViewedFiles(ctx, u.ID, id); err != nil || len(vs) != 1 || vs[0].Patch != 1 || vs[0].Path != "drivers/wdt.c" {
		t.Fatalf("ViewedFiles() = %+v, %v", vs, err)
	}
	for _, bad := range []struct {
		patch int
		path  string
	}{{1, "README"}, {2, "drivers/wdt.c"}, {3, "README"}} {
		if err := svc.SetViewed(ctx, u.ID, id, bad.patch, bad.path, true); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("SetViewed(patch %d, %s) = %v, want ErrNotFound", bad.patch, bad.path, err)
		}
	}
	if err := svc.SetViewed(ctx, u.ID, id, 1, "drivers/wdt.c", false); err != nil {
		t.Fatalf("SetViewed(false) = %v", err)
	}
	if vs, _ := svc.ViewedFiles(ctx, u.ID, id); len(vs) != 0 {
		t.Errorf("after clearing: %+v", vs)
	}
}
