package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"patchwell/core"
)

// TestSubmissions: a draft is its user's alone, changes in place until
// sent, is sent once, is found by its first message once sent, and
// expires unsent.
func TestSubmissions(t *testing.T) {
	st, _ := mustOpen(t)
	ctx := context.Background()
	ada, err := st.CreateUser(ctx, User{Email: "ada@example.org", Name: "Ada"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := st.CreateUser(ctx, User{Email: "bob@example.org", Name: "Bob"}, "x")
	if err != nil {
		t.Fatal(err)
	}
	sub := &Submission{ID: "d1", UserID: ada.ID, List: "dev", Repo: "https://example.org/r.git", Branch: "topic", Title: "t", Version: 1,
		Draft: SubmitDraft{From: core.Person{Name: "Ada", Email: "ada@example.org"}, Base: "abc",
			Patches: []SubmitPatch{{Subject: "a: x", Diff: "diff --git a/a b/a\n", Date: time.Unix(1700000000, 0).UTC()}}}}
	if err := st.SaveSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submission(ctx, "d1", bob.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another user's draft: %v", err)
	}
	sub.Title, sub.Version, sub.Draft.CoverBody = "t2", 2, "words"
	if err := st.SaveSubmission(ctx, sub); err != nil {
		t.Fatal(err)
	}
	got, err := st.Submission(ctx, "d1", ada.ID)
	if err != nil || got.Title != "t2" || got.Version != 2 || got.Draft.CoverBody != "words" || got.Draft.Patches[0].Subject != "a: x" || !got.Sent.IsZero() {
		t.Fatalf("Submission() = %+v, %v", got, err)
	}
	now := time.Now()
	if err := st.MarkSubmissionSent(ctx, "d1", ada.ID, "m1@x", now); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkSubmissionSent(ctx, "d1", ada.ID, "m2@x", now); !errors.Is(err, ErrConflict) {
		t.Errorf("sent twice: %v", err)
	}
	if s, err := st.SubmissionByMessage(ctx, "m1@x"); err != nil || s.ID != "d1" {
		t.Errorf("SubmissionByMessage() = %+v, %v", s, err)
	}
	if ss, err := st.SentSubmissions(ctx, ada.ID, "", now.Add(-time.Minute)); err != nil || len(ss) != 1 {
		t.Errorf("SentSubmissions() = %d, %v", len(ss), err)
	}
	if err := st.UnmarkSubmissionSent(ctx, "d1", ada.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SubmissionByMessage(ctx, "m1@x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unsent, still found by message: %v", err)
	}
	old := &Submission{ID: "d2", UserID: ada.ID, List: "dev", Title: "old", Version: 1, Created: now.Add(-48 * time.Hour)}
	if err := st.SaveSubmission(ctx, old); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteDraftSubmissions(ctx, now.Add(-24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Submission(ctx, "d2", ada.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("expired draft: %v", err)
	}
	if _, err := st.Submission(ctx, "d1", ada.ID); err != nil {
		t.Errorf("fresh draft deleted: %v", err)
	}
}
