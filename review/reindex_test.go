package review

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// TestReindex rebuilds a store from its raw messages: the same messages,
// UIDs, UIDVALIDITY, arrival times, threads and series.
func TestReindex(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "patchwork", "series")
	in, old := newTestIngester(t)
	for _, f := range []string{"revision-basic.mbox", "base-out-of-order.mbox", "bugs-nocover.mbox"} {
		importFile(t, in, filepath.Join(dir, f))
	}
	// Review marks kept beside the mail: a resolved comment, an open issue.
	mark := store.Resolution{ReplyMessageID: "r@example.org", PatchMessageID: "p@example.org", File: "a.c", Side: "new", Line: 3,
		By: "ann@example.org", At: time.Unix(1700000000, 0).UTC()}
	if err := old.Update(context.Background(), func(tx store.Tx) error { return tx.SetResolution(context.Background(), mark, true) }); err != nil {
		t.Fatal(err)
	}
	issue := mark
	issue.Line = 4
	if err := old.SetIssues(context.Background(), []store.Resolution{issue}, true); err != nil {
		t.Fatal(err)
	}
	fresh, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	stats, err := Reindex(context.Background(), old, fresh, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	if err != nil {
		t.Fatalf("Reindex() = %v", err)
	}
	if stats["dev"].Imported == 0 {
		t.Fatalf("stats = %+v", stats)
	}
	for name, get := range map[string]func(store.Store) ([]store.Resolution, error){
		"Resolutions": func(st store.Store) ([]store.Resolution, error) { return st.Resolutions(context.Background(), nil) },
		"Issues":      func(st store.Store) ([]store.Resolution, error) { return st.Issues(context.Background(), nil) },
	} {
		b, err1 := get(old)
		a, err2 := get(fresh)
		if err1 != nil || err2 != nil || len(b) != 1 || !cmp.Equal(a, b) {
			t.Errorf("%s: before reindex %+v (%v), after %+v (%v)", name, b, err1, a, err2)
		}
	}
	before, after := summary(t, old), summary(t, fresh)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("series after reindex (-before +after):\n%s", diff)
	}
	type row struct {
		UID       uint32
		MessageID string
		Thread    string
		Arrived   int64
		SHA       string
	}
	rows := func(st store.Store) []row {
		var out []row
		roots := map[int64]string{}
		st.Walk(context.Background(), "dev", func(m *store.Message, _ []byte) error {
			if _, ok := roots[m.ThreadID]; !ok {
				roots[m.ThreadID] = m.MessageID // threads named by their first message
			}
			out = append(out, row{m.UID, m.MessageID, roots[m.ThreadID], m.Arrived.Unix(), m.SHA256})
			return nil
		})
		return out
	}
	if diff := cmp.Diff(rows(old), rows(fresh)); diff != "" {
		t.Errorf("messages after reindex (-before +after):\n%s", diff)
	}
	// The search index is rebuilt: the same queries find the same mails.
	if n, err := fresh.SearchUnindexed(context.Background()); n != 0 || err != nil {
		t.Errorf("SearchUnindexed() after reindex = %d, %v", n, err)
	}
	for _, q := range []string{`s:"sample series"`, `b:"sample cover letter"`, `dfn:test.md`, `dfb:lorem`, `f:stephen*`, `d:20160101..`} {
		find := func(st store.Store) []string {
			hits, err := NewService(st).Search(context.Background(), []string{"dev"}, q, store.Page{Limit: 1000})
			if err != nil {
				t.Fatalf("Search(%q) = %v", q, err)
			}
			var ids []string
			for _, h := range hits {
				ids = append(ids, h.MessageID)
			}
			return ids
		}
		b, a := find(old), find(fresh)
		if len(b) == 0 || !slices.Equal(a, b) {
			t.Errorf("Search(%q): %d hits before reindex, %d after", q, len(b), len(a))
		}
	}
	lo, _ := old.List(context.Background(), "dev")
	ln, _ := fresh.List(context.Background(), "dev")
	if lo.UIDValidity != ln.UIDValidity {
		t.Errorf("UIDVALIDITY %d, was %d", ln.UIDValidity, lo.UIDValidity)
	}
}

// TestReindexKeepsAccounts: accounts, passwords, sessions, tokens, roles,
// list visibility and maintainers' status decisions survive a reindex.
func TestReindexKeepsAccounts(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	importFile(t, in, filepath.Join(corpusDir(t), "patchwork", "series", "revision-basic.mbox"))
	acc := NewAccounts(old, testArgon2)
	u, err := acc.AddUser(ctx, "m@example.org", "M", "a good password", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetRole(ctx, u.ID, "dev", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	if err := old.SetVisibility(ctx, "dev", store.VisibilityPrivate); err != nil {
		t.Fatal(err)
	}
	tok, _, _ := acc.NewToken(ctx, u.ID, "ci")
	sess, _, _ := acc.NewSession(ctx, u.ID)
	off, err := acc.AddUser(ctx, "off@example.org", "Off", "a good password", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := old.SetDisabled(ctx, off.ID, true); err != nil {
		t.Fatal(err)
	}
	ss, _ := old.SeriesList(ctx, "dev", "", store.Page{})
	var target store.Series
	for _, s := range ss {
		if s.SupersededBy == 0 {
			target = s
		}
	}
	if _, err := acc.SetStatus(ctx, target.ID, u.ID, store.StatusApproved, "ship it"); err != nil {
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
	nacc := NewAccounts(fresh, testArgon2)
	if got, err := nacc.Authenticate(ctx, "m@example.org", "a good password"); err != nil || got.ID != u.ID {
		t.Fatalf("password after reindex: %v %v", got, err)
	}
	if got, err := nacc.TokenUser(ctx, tok); err != nil || got.ID != u.ID {
		t.Fatalf("token after reindex: %v %v", got, err)
	}
	if got, err := nacc.SessionUser(ctx, sess); err != nil || got.ID != u.ID {
		t.Fatalf("session after reindex: %v %v", got, err)
	}
	if r, _ := fresh.Role(ctx, u.ID, "dev"); r != store.RoleMaintainer {
		t.Fatalf("role after reindex: %q", r)
	}
	if got, err := fresh.User(ctx, off.ID); err != nil || !got.Disabled {
		t.Fatalf("disabled account after reindex: %+v %v", got, err)
	}
	if l, _ := fresh.List(ctx, "dev"); l.Visibility != store.VisibilityPrivate {
		t.Fatalf("visibility after reindex: %q", l.Visibility)
	}
	ns, _ := fresh.SeriesList(ctx, "dev", store.StatusApproved, store.Page{})
	if len(ns) != 1 || ns[0].MessageID != target.MessageID {
		t.Fatalf("approved series after reindex: %+v", ns)
	}
	h, err := fresh.StatusHistory(ctx, ns[0].ID)
	if err != nil || len(h) != 1 || h[0].Comment != "ship it" || h[0].User == nil || h[0].User.Email != "m@example.org" {
		t.Fatalf("history after reindex: %+v %v", h, err)
	}
}

// TestReindexKeepsMailingList: subscribers, policy, held messages,
// authentication results, secrets and pending deliveries survive a
// reindex; deliveries already sent are not queued again.
func TestReindexKeepsMailingList(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	raw := []byte("From: A <a@example.org>\nSubject: hello\nMessage-ID: <m1@x>\n\nbody\n")
	if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
		t.Fatal(err)
	}
	old.Subscribe(ctx, "dev", "s1@example.org", "S1", store.SubActive)
	old.Subscribe(ctx, "dev", "s2@example.org", "", store.SubDisabled)
	if err := old.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostModerated, DMARC: store.DMARCHold, Allow: []string{"@example.org"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Hold(ctx, &store.Held{List: "dev", Raw: []byte("Subject: held\n\nx\n"), MessageID: "h@x", From: "h@example.net", Subject: "held", Reason: "moderated", Arrived: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := old.SetMessageAuth(ctx, "dev", "m1@x", `{"auth":{"DMARC":"pass"}}`); err != nil {
		t.Fatal(err)
	}
	secret, _ := old.Secret(ctx, "unsubscribe")
	l, _ := old.List(ctx, "dev")
	var outboxID int64
	err := old.Update(ctx, func(tx store.Tx) error {
		var err error
		if outboxID, err = tx.AddOutbox(ctx, store.OutboxMessage{ListID: l.ID, MessageID: "m1@x", Raw: raw}); err != nil {
			return err
		}
		return tx.QueueDeliveries(ctx, outboxID, []string{"s1@example.org", "done@example.org"})
	})
	if err != nil {
		t.Fatal(err)
	}
	ds, _ := old.Deliveries(ctx, outboxID)
	for _, d := range ds {
		if d.Rcpt == "done@example.org" {
			if err := old.MarkSent(ctx, []int64{d.ID}, time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}

	fresh, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Close()
	if _, err := Reindex(ctx, old, fresh, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatal(err)
	}
	subs, _ := fresh.Subscribers(ctx, "dev", "")
	if len(subs) != 2 || subs[0].Name != "S1" || subs[1].State != store.SubDisabled {
		t.Errorf("subscribers after reindex: %+v", subs)
	}
	if p, _ := fresh.Policy(ctx, "dev"); p.Posting != store.PostModerated || p.DMARC != store.DMARCHold || len(p.Allow) != 1 {
		t.Errorf("policy after reindex: %+v", p)
	}
	if h, _ := fresh.HeldMessages(ctx, "dev", store.HeldWaiting); len(h) != 1 || h[0].MessageID != "h@x" {
		t.Errorf("held after reindex: %+v", h)
	} else if m, err := fresh.HeldMessage(ctx, h[0].ID); err != nil || string(m.Raw) != "Subject: held\n\nx\n" {
		t.Errorf("held bytes after reindex: %v", err)
	}
	if a, _ := fresh.MessageAuth(ctx, "dev", "m1@x"); a != `{"auth":{"DMARC":"pass"}}` {
		t.Errorf("auth after reindex: %q", a)
	}
	if s, _ := fresh.Secret(ctx, "unsubscribe"); string(s) != string(secret) {
		t.Error("the unsubscribe key changed: every link sent so far would stop working")
	}
	box, _ := fresh.Outbox(ctx, "")
	if len(box) != 1 {
		t.Fatalf("outbox after reindex: %+v", box)
	}
	nd, _ := fresh.Deliveries(ctx, box[0].ID)
	if len(nd) != 1 || nd[0].Rcpt != "s1@example.org" || nd[0].State != store.DeliveryPending {
		t.Errorf("deliveries after reindex: %+v", nd)
	}
}

// TestReindexKeepsBundles: a bundle keeps its id, owner, name, public
// flag and patches, in order, though the rebuilt patches have other ids
// (the list "aaa" is rebuilt before "dev", whose mail came first).
func TestReindexKeepsBundles(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	importFile(t, in, filepath.Join(corpusDir(t), "patchwork", "series", "revision-basic.mbox"))
	if _, err := old.CreateList(ctx, store.List{Name: "aaa"}); err != nil {
		t.Fatal(err)
	}
	src, err := archive.OpenSource(filepath.Join(corpusDir(t), "patchwork", "series", "base-single-patch.mbox"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := in.Import(ctx, "aaa", src); err != nil {
		t.Fatal(err)
	}
	src.Close()
	u, err := NewAccounts(old, testArgon2).AddUser(ctx, "m@example.org", "M", "a good password", false)
	if err != nil {
		t.Fatal(err)
	}
	ps, err := old.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, Limit: 100})
	if err != nil || len(ps) < 3 {
		t.Fatalf("patches of dev: %d, %v", len(ps), err)
	}
	// Out of their order, to see the order kept.
	ids := []int64{ps[2].ID, ps[0].ID, ps[1].ID}
	b, err := old.CreateBundle(ctx, store.Bundle{OwnerID: u.ID, List: "dev", Name: "to apply", Public: true}, ids)
	if err != nil {
		t.Fatal(err)
	}
	_, before, err := old.Bundle(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			var fresh *store.DB
			var err error
			if backend == "postgres" { // patchwell migrate to PostgreSQL
				fresh, err = store.OpenPostgres(ctx, pgtest.URL(t))
			} else {
				fresh, err = store.Open(ctx, t.TempDir())
			}
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			checkBundleAfterReindex(t, old, fresh, b, u.ID, before)
		})
	}
}

func checkBundleAfterReindex(t *testing.T, old, fresh *store.DB, b *store.Bundle, owner int64, before []store.TrackedPatch) {
	ctx := context.Background()
	if _, err := Reindex(ctx, old, fresh, slog.New(slog.DiscardHandler), nil); err != nil {
		t.Fatalf("Reindex() = %v", err)
	}
	nb, after, err := fresh.Bundle(ctx, b.ID)
	if err != nil {
		t.Fatalf("the bundle after reindex: %v", err)
	}
	if nb.Name != "to apply" || !nb.Public || nb.OwnerID != owner || nb.List != "dev" {
		t.Fatalf("bundle after reindex: %+v", nb)
	}
	msgids := func(ps []store.TrackedPatch) (ids []string) {
		for _, p := range ps {
			ids = append(ids, p.MessageID)
		}
		return ids
	}
	if diff := cmp.Diff(msgids(before), msgids(after)); diff != "" || len(after) != 3 {
		t.Fatalf("bundled patches after reindex (-before +after):\n%s", diff)
	}
	if after[0].ID == before[0].ID {
		t.Fatalf("patch ids stayed the same (%d): the test proves nothing", after[0].ID)
	}
	// A new bundle gets an id past the carried one.
	n, err := fresh.CreateBundle(ctx, store.Bundle{OwnerID: owner, List: "dev", Name: "next"}, nil)
	if err != nil || n.ID <= b.ID {
		t.Fatalf("a new bundle after reindex: %+v %v", n, err)
	}
}
