package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/core"
)

// TestViewedFiles: marks are per user and series, a second mark of a
// file keeps one row, clearing removes it, and bad keys are refused.
func TestViewedFiles(t *testing.T) {
	st, l := mustOpen(t)
	ctx := context.Background()
	ann, _ := st.CreateUser(ctx, User{Email: "ann@example.org"}, "h")
	bob, _ := st.CreateUser(ctx, User{Email: "bob@example.org"}, "h")
	var id int64
	err := st.Update(ctx, func(tx Tx) error {
		var err error
		id, err = tx.CreateSeries(ctx, &Series{Subject: "s", Version: 1, Status: StatusProposed, Total: 2,
			Submitter: core.Person{Email: "x@example.org"}, Date: time.Now()}, "s", "", l.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0).UTC()
	set := func(v ViewedFile, on bool) {
		t.Helper()
		if err := st.SetViewed(ctx, v, on); err != nil {
			t.Fatalf("SetViewed(%+v, %v) = %v", v, on, err)
		}
	}
	set(ViewedFile{UserID: ann.ID, SeriesID: id, Patch: 2, Path: "b.c", At: at}, true)
	set(ViewedFile{UserID: ann.ID, SeriesID: id, Patch: 1, Path: "a.c", At: at}, true)
	set(ViewedFile{UserID: ann.ID, SeriesID: id, Patch: 1, Path: "a.c", At: at.Add(time.Hour)}, true)
	set(ViewedFile{UserID: bob.ID, SeriesID: id, Patch: 1, Path: "a.c", At: at}, true)
	got, err := st.ViewedFiles(ctx, ann.ID, id)
	want := []ViewedFile{
		{UserID: ann.ID, SeriesID: id, Patch: 1, Path: "a.c", At: at.Add(time.Hour)},
		{UserID: ann.ID, SeriesID: id, Patch: 2, Path: "b.c", At: at},
	}
	if d := cmp.Diff(want, got); err != nil || d != "" {
		t.Fatalf("ViewedFiles() = %v, diff (-want +got):\n%s", err, d)
	}
	set(ViewedFile{UserID: ann.ID, SeriesID: id, Patch: 1, Path: "a.c"}, false)
	if got, _ := st.ViewedFiles(ctx, ann.ID, id); len(got) != 1 || got[0].Path != "b.c" {
		t.Errorf("after clearing a.c: %+v", got)
	}
	if got, _ := st.ViewedFiles(ctx, bob.ID, id); len(got) != 1 || got[0].Path != "a.c" {
		t.Errorf("bob's marks changed with ann's: %+v", got)
	}
	for _, v := range []ViewedFile{{SeriesID: id, Patch: 1, Path: "a"}, {UserID: ann.ID, Patch: 1, Path: "a"},
		{UserID: ann.ID, SeriesID: id, Path: "a"}, {UserID: ann.ID, SeriesID: id, Patch: 1}} {
		if err := st.SetViewed(ctx, v, true); !errors.Is(err, ErrInvalid) {
			t.Errorf("SetViewed(%+v) = %v, want ErrInvalid", v, err)
		}
	}
}
