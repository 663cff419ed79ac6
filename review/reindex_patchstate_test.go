package review

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"patchwell/store"
)

// TestReindexKeepsPatchStates: patchwork's per-patch state, delegate,
// archived flag and commit reference survive a reindex, where patches get
// new ids (found again by Message-ID); the series' own status stays.
func TestReindexKeepsPatchStates(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	for i := 1; i <= 2; i++ {
		raw := fmt.Sprintf("From: A <a@example.org>\nSubject: [PATCH %d/2] a: add f%d\nMessage-ID: <s%d@x>\n", i, i, i)
		if i > 1 {
			raw += "In-Reply-To: <s1@x>\nReferences: <s1@x>\n"
		}
		raw += fmt.Sprintf("Date: Wed, 2 Dec 2026 10:0%d:00 +0000\n\nAdd f%d.\n\nSigned-off-by: A <a@example.org>\n---\n"+
			"diff --git a/f%d b/f%d\nnew file mode 100644\nindex 0000000..7898192\n--- /dev/null\n+++ b/f%d\n@@ -0,0 +1 @@\n+a\n", i, i, i, i, i)
		if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte(raw)}); err != nil {
			t.Fatal(err)
		}
	}
	acc := NewAccounts(old, testArgon2)
	u, err := acc.AddUser(ctx, "m@example.org", "M", "a good password", false)
	if err != nil {
		t.Fatal(err)
	}
	// A delegate must be a maintainer of the list (store.Delegate's rule).
	if err := old.SetRole(ctx, u.ID, "dev", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	ps, err := old.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, Limit: 10})
	if err != nil || len(ps) != 2 {
		t.Fatalf("patches: %+v %v", ps, err)
	}
	state, ref, yes := "rfc", "abc123", true
	if _, err := old.UpdatePatch(ctx, ps[0].ID, store.PatchUpdate{State: &state, Delegate: &u.ID, Archived: &yes, CommitRef: &ref}, u.ID, time.Now()); err != nil {
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
	got, err := fresh.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, Order: "name", Limit: 10})
	if err != nil || len(got) != 2 {
		t.Fatalf("patches after reindex: %+v %v", got, err)
	}
	for _, p := range got {
		want := store.TrackedPatch{State: "new"} // the series' status, proposed
		if p.MessageID == ps[0].MessageID {
			want = store.TrackedPatch{State: "rfc", Delegate: u.ID, Archived: true, CommitRef: "abc123"}
		}
		if p.State != want.State || p.Delegate != want.Delegate || p.Archived != want.Archived || p.CommitRef != want.CommitRef {
			t.Errorf("patch %s after reindex: state %q delegate %d archived %v commit %q, want %+v",
				p.MessageID, p.State, p.Delegate, p.Archived, p.CommitRef, want)
		}
	}
}
