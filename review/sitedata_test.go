package review

import (
	"context"
	"errors"
	"testing"
	"time"

	"patchwell/store"
)

// TestSiteData: the Service reads back what the store keeps beside the
// archive (checks, subscribers, held messages, authentication notes,
// repositories, applied commits), and says store.ErrNotFound as the store
// does.
func TestSiteData(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	svc := NewService(st)
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff))
	id := seriesOf(t, st, "v1-1@example.org")

	for name, err := range map[string]error{
		"CheckByID":     errOf(svc.CheckByID(ctx, 99)),
		"HeldMessage":   errOf(svc.HeldMessage(ctx, 99)),
		"MessageAuth":   errOf(svc.MessageAuth(ctx, "dev", "v1-1@example.org")),
		"ListRepo":      errOf(svc.ListRepo(ctx, "dev")),
		"AppliedSeries": errOf(svc.AppliedSeries(ctx, id)),
	} {
		if !errors.Is(err, store.ErrNotFound) {
			t.Errorf("%s() = %v, want store.ErrNotFound", name, err)
		}
	}

	c, err := svc.SetCheck(ctx, &store.Check{SeriesID: id, Context: "build", State: store.CheckSuccess})
	if err != nil {
		t.Fatalf("SetCheck() = %v", err)
	}
	if cs, err := svc.Checks(ctx, id); err != nil || len(cs) != 1 || cs[0].ID != c.ID {
		t.Errorf("Checks() = %+v, %v; want the check %d", cs, err, c.ID)
	}
	if got, err := svc.CheckByID(ctx, c.ID); err != nil || got.Context != "build" {
		t.Errorf("CheckByID() = %+v, %v", got, err)
	}

	if err := st.Subscribe(ctx, "dev", "sub@example.org", "Sub", store.SubActive); err != nil {
		t.Fatalf("Subscribe() = %v", err)
	}
	if subs, err := svc.Subscribers(ctx, "dev", ""); err != nil || len(subs) != 1 {
		t.Errorf("Subscribers() = %+v, %v; want one", subs, err)
	}
	hid, err := st.Hold(ctx, &store.Held{List: "dev", Raw: []byte("Subject: x\r\n\r\nx\r\n"), MessageID: "held@example.org",
		From: "m@example.net", Subject: "x", Reason: "moderated", Arrived: time.Now()})
	if err != nil {
		t.Fatalf("Hold() = %v", err)
	}
	if held, err := svc.HeldMessages(ctx, "dev", store.HeldWaiting); err != nil || len(held) != 1 || held[0].ID != hid {
		t.Errorf("HeldMessages() = %+v, %v; want %d", held, err, hid)
	}
	if h, err := svc.HeldMessage(ctx, hid); err != nil || string(h.Raw) != "Subject: x\r\n\r\nx\r\n" {
		t.Errorf("HeldMessage() = %+v, %v", h, err)
	}
	if err := st.SetMessageAuth(ctx, "dev", "v1-1@example.org", `{"command":"x"}`); err != nil {
		t.Fatalf("SetMessageAuth() = %v", err)
	}
	if a, err := svc.MessageAuth(ctx, "dev", "v1-1@example.org"); err != nil || a != `{"command":"x"}` {
		t.Errorf("MessageAuth() = %q, %v", a, err)
	}

	if err := st.SetListRepo(ctx, store.ListRepo{List: "dev", Repo: "/srv/git/dev.git", Branch: "main"}); err != nil {
		t.Fatalf("SetListRepo() = %v", err)
	}
	if r, err := svc.ListRepo(ctx, "dev"); err != nil || r.Branch != "main" {
		t.Errorf("ListRepo() = %+v, %v", r, err)
	}
	if err := st.RecordApplied(ctx, store.Applied{SeriesID: id, Commits: []string{"c0ffee"}, Branch: "main", AppliedAt: time.Now()}); err != nil {
		t.Fatalf("RecordApplied() = %v", err)
	}
	if a, err := svc.AppliedSeries(ctx, id); err != nil || len(a.Commits) != 1 {
		t.Errorf("AppliedSeries() = %+v, %v", a, err)
	}
}

// errOf keeps the error of a call's two results.
func errOf[T any](_ T, err error) error { return err }
