package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestDraftComments: a pending review is per user and series, survives
// reopening the store, edits in place, refuses another user's comment,
// and deletes by id or whole.
func TestDraftComments(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	rita, err := st.CreateUser(ctx, User{Email: "rita@example.org", Name: "Rita"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, User{Email: "bob@example.org", Name: "Bob"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	c1, err := st.SaveDraftComment(ctx, rita.ID, 7, DraftComment{PatchMessageID: "p1@x", File: "a.c", Side: SideNew, Line: 3, Body: " first\r\n"})
	if err != nil {
		t.Fatalf("SaveDraftComment() = %v", err)
	}
	if c1.ID == 0 || c1.Body != "first" {
		t.Fatalf("saved %+v", c1)
	}
	if _, err := st.SaveDraftComment(ctx, rita.ID, 7, DraftComment{PatchMessageID: "p2@x", File: "b.c", Side: SideOld, Line: 9, Body: "second", Issue: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveDraftComment(ctx, bob.ID, 7, DraftComment{PatchMessageID: "p1@x", File: "a.c", Side: SideNew, Line: 3, Body: "bob's"}); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []DraftComment{
		{PatchMessageID: "p1@x", File: "a.c", Side: SideNew, Line: 3, Body: "  "},
		{PatchMessageID: "p1@x", File: "a.c", Side: "left", Line: 3, Body: "x"},
		{PatchMessageID: "p1@x", File: "a.c", Side: SideNew, Line: 0, Body: "x"},
	} {
		if _, err := st.SaveDraftComment(ctx, rita.ID, 7, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("SaveDraftComment(%+v) = %v, want ErrInvalid", bad, err)
		}
	}
	// Bob cannot edit Rita's comment.
	if _, err := st.SaveDraftComment(ctx, bob.ID, 7, DraftComment{ID: c1.ID, PatchMessageID: "p1@x", File: "a.c", Side: SideNew, Line: 3, Body: "mine now"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("editing another's comment = %v, want ErrNotFound", err)
	}
	c1.Body, c1.Issue = "first, edited", true
	if _, err := st.SaveDraftComment(ctx, rita.ID, 7, *c1); err != nil {
		t.Fatal(err)
	}
	got, err := st.DraftComments(ctx, rita.ID, 7)
	if err != nil || len(got) != 2 || got[0].Body != "first, edited" || !got[0].Issue || got[1].Side != SideOld || got[1].Line != 9 || !got[1].Issue {
		t.Fatalf("DraftComments() = %+v, %v", got, err)
	}
	if other, _ := st.DraftComments(ctx, rita.ID, 8); len(other) != 0 {
		t.Errorf("another series' draft: %+v", other)
	}
	if err := st.DeleteDraftComments(ctx, rita.ID, 7, []int64{c1.ID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.DraftComments(ctx, rita.ID, 7); len(got) != 1 || got[0].Body != "second" {
		t.Errorf("after deleting one: %+v", got)
	}
	if err := st.DeleteDraftComments(ctx, rita.ID, 7, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.DraftComments(ctx, rita.ID, 7); len(got) != 0 {
		t.Errorf("after clearing: %+v", got)
	}
	if got, _ := st.DraftComments(ctx, bob.ID, 7); len(got) != 1 {
		t.Errorf("Bob's draft after Rita cleared hers: %+v", got)
	}
}

// TestIssues: marking a comment as an issue twice keeps the first mark;
// taking it away removes it.
func TestIssues(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	r := Resolution{ReplyMessageID: "r@x", PatchMessageID: "p@x", File: "a.c", Side: SideNew, Line: 3, By: "one@x", At: time.Unix(1000, 0)}
	r2 := r
	r2.Line, r2.By = 4, "two@x"
	if err := st.SetIssues(ctx, []Resolution{r, r2}, true); err != nil {
		t.Fatal(err)
	}
	again := r
	again.By = "three@x"
	if err := st.SetIssues(ctx, []Resolution{again}, true); err != nil {
		t.Fatal(err)
	}
	got, err := st.Issues(ctx, []string{"p@x", "other@x"})
	if err != nil || len(got) != 2 || got[0].By != "one@x" || got[0].At.Unix() != 1000 {
		t.Fatalf("Issues() = %+v, %v", got, err)
	}
	if err := st.SetIssues(ctx, []Resolution{r}, false); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Issues(ctx, []string{"p@x"}); len(got) != 1 || got[0].Line != 4 {
		t.Errorf("after taking one away: %+v", got)
	}
	if err := st.SetIssues(ctx, []Resolution{{PatchMessageID: "p@x"}}, true); !errors.Is(err, ErrInvalid) {
		t.Errorf("SetIssues without a reply = %v", err)
	}
}
