package review

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"patchwell/store"
)

// TestReindexKeepsGit: a list's repository and the commits a series was
// applied as survive a reindex (the series found again by Message-ID).
func TestReindexKeepsGit(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	patch := "From: A <a@example.org>\nSubject: [PATCH] a: add a\nMessage-ID: <p1@x>\nDate: Wed, 2 Dec 2026 10:00:00 +0000\n\n" +
		"Add a.\n\nSigned-off-by: A <a@example.org>\n---\n a | 1 +\n\ndiff --git a/a b/a\nnew file mode 100644\nindex 0000000..7898192\n--- /dev/null\n+++ b/a\n@@ -0,0 +1 @@\n+a\n"
	if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(patch)}); err != nil {
		t.Fatal(err)
	}
	m, err := old.Message(ctx, "dev", "p1@x")
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("no series: %+v %v", m, err)
	}
	repo := store.ListRepo{List: "dev", Repo: "/srv/dev.git", VCS: store.VCSGit, Branch: "next", Check: "make", FirstTimerGate: true}
	if err := old.SetListRepo(ctx, repo); err != nil {
		t.Fatal(err)
	}
	at := time.Unix(1700000000, 0).UTC()
	if err := old.RecordApplied(ctx, store.Applied{SeriesID: m.SeriesID, Commits: []string{"abc123"}, Branch: "next", AppliedAt: at, By: "m@x"}); err != nil {
		t.Fatal(err)
	}
	fresh, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := Reindex(ctx, old, fresh, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatal(err)
	}
	if r, err := fresh.ListRepo(ctx, "dev"); err != nil || *r != repo {
		t.Errorf("repository after reindex: %+v %v", r, err)
	}
	nm, err := fresh.Message(ctx, "dev", "p1@x")
	if err != nil {
		t.Fatal(err)
	}
	a, err := fresh.AppliedSeries(ctx, nm.SeriesID)
	if err != nil || len(a.Commits) != 1 || a.Commits[0] != "abc123" || a.By != "m@x" || !a.AppliedAt.Equal(at) {
		t.Errorf("applied after reindex: %+v %v", a, err)
	}
}
