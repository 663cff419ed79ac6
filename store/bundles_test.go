package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/core"
)

// bundleFixture is a store with two lists, a series of three patches on
// "dev" and one patch on "other", and two users.
type bundleFixture struct {
	st           *DB
	dev, other   []int64 // patch ids
	alice, bob   *User
	devMsgs      []string
	otherListMsg string
}

func newBundleFixture(t *testing.T, otherFirst bool) *bundleFixture {
	t.Helper()
	st, dev := mustOpen(t)
	ctx := context.Background()
	other, err := st.CreateList(ctx, List{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	f := &bundleFixture{st: st}
	series := func(l *List, ids ...string) []int64 {
		var sid int64
		var out []int64
		for i, id := range ids {
			m := msg(l, id)
			m.Kind = core.KindPatch
			a := add(t, st, m)
			err := st.Update(ctx, func(tx Tx) error {
				if i == 0 {
					var err error
					se := &Series{Subject: id, Version: 1, Status: StatusProposed, Total: len(ids), Received: len(ids), MessageID: id,
						Date: time.Unix(1700000000, 0), ThreadID: a.ThreadID, Submitter: core.Person{Email: "author@example.org"}}
					if sid, err = tx.CreateSeries(ctx, se, id, id, l.ID); err != nil {
						return err
					}
				}
				if err := tx.SetMessageSeries(ctx, a.ID, sid, core.KindPatch); err != nil {
					return err
				}
				return tx.AddPatch(ctx, &Patch{SeriesID: sid, Index: i + 1, Subject: id, CommitSubject: id}, a.ID)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		ps, err := st.TrackedPatches(ctx, PatchFilter{Lists: []string{l.Name}, SeriesID: sid, Limit: 100})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	f.devMsgs, f.otherListMsg = []string{"p1@x", "p2@x", "p3@x"}, "o1@x"
	if otherFirst {
		f.other = series(other, f.otherListMsg)
	}
	f.dev = series(dev, f.devMsgs...)
	if !otherFirst {
		f.other = series(other, f.otherListMsg)
	}
	if f.alice, err = st.CreateUser(ctx, User{Email: "alice@example.org", Name: "Alice"}, "x"); err != nil {
		t.Fatal(err)
	}
	if f.bob, err = st.CreateUser(ctx, User{Email: "bob@example.org", Name: "Bob"}, "x"); err != nil {
		t.Fatal(err)
	}
	return f
}

func bundlePatchIDs(t *testing.T, st *DB, id int64) []int64 {
	t.Helper()
	_, ps, err := st.Bundle(context.Background(), id)
	if err != nil {
		t.Fatalf("Bundle(%d) = %v", id, err)
	}
	out := []int64{}
	for _, p := range ps {
		out = append(out, p.ID)
	}
	return out
}

func TestBundles(t *testing.T) {
	f := newBundleFixture(t, false)
	st, ctx := f.st, context.Background()
	b, err := st.CreateBundle(ctx, Bundle{OwnerID: f.alice.ID, List: "dev", Name: "todo"}, []int64{f.dev[2], f.dev[0], f.dev[2]})
	if err != nil {
		t.Fatalf("CreateBundle() = %v", err)
	}
	if b.Name != "todo" || b.List != "dev" || b.Public || b.OwnerEmail != "alice@example.org" || b.Patches != 2 {
		t.Fatalf("created %+v", b)
	}
	if got, want := bundlePatchIDs(t, st, b.ID), []int64{f.dev[2], f.dev[0]}; !cmp.Equal(got, want) {
		t.Fatalf("patches %v, want %v (in the order given, repeats dropped)", got, want)
	}

	// Refusals.
	for _, tc := range []struct {
		name    string
		b       Bundle
		patches []int64
		want    error
	}{
		{"same name, owner and list", Bundle{OwnerID: f.alice.ID, List: "dev", Name: "todo"}, nil, ErrExists},
		{"empty name", Bundle{OwnerID: f.alice.ID, List: "dev", Name: " "}, nil, ErrInvalid},
		{"control character", Bundle{OwnerID: f.alice.ID, List: "dev", Name: "a\nb"}, nil, ErrInvalid},
		{"patch of another list", Bundle{OwnerID: f.alice.ID, List: "dev", Name: "mixed"}, []int64{f.dev[0], f.other[0]}, ErrInvalid},
		{"unknown patch", Bundle{OwnerID: f.alice.ID, List: "dev", Name: "ghost"}, []int64{999999}, ErrNotFound},
		{"unknown list", Bundle{OwnerID: f.alice.ID, List: "nope", Name: "x"}, nil, ErrNotFound},
		{"unknown owner", Bundle{OwnerID: 999999, List: "dev", Name: "x"}, nil, ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := st.CreateBundle(ctx, tc.b, tc.patches); !errors.Is(err, tc.want) {
				t.Fatalf("CreateBundle() = %v, want %v", err, tc.want)
			}
		})
	}
	// The same name is fine for another owner, or on another list.
	bobs, err := st.CreateBundle(ctx, Bundle{OwnerID: f.bob.ID, List: "dev", Name: "todo", Public: true}, []int64{f.dev[1]})
	if err != nil {
		t.Fatalf("another owner's todo: %v", err)
	}
	otherList, err := st.CreateBundle(ctx, Bundle{OwnerID: f.alice.ID, List: "other", Name: "todo"}, []int64{f.other[0]})
	if err != nil {
		t.Fatalf("todo on another list: %v", err)
	}

	// Add appends, keeping what is there; remove takes out.
	if err := st.AddBundlePatches(ctx, b.ID, []int64{f.dev[1], f.dev[0]}); err != nil {
		t.Fatal(err)
	}
	if got, want := bundlePatchIDs(t, st, b.ID), []int64{f.dev[2], f.dev[0], f.dev[1]}; !cmp.Equal(got, want) {
		t.Fatalf("after add: %v, want %v", got, want)
	}
	if err := st.AddBundlePatches(ctx, b.ID, []int64{f.other[0]}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("add a patch of another list: %v", err)
	}
	if err := st.RemoveBundlePatches(ctx, b.ID, []int64{f.dev[0], 424242}); err != nil {
		t.Fatal(err)
	}
	if got, want := bundlePatchIDs(t, st, b.ID), []int64{f.dev[2], f.dev[1]}; !cmp.Equal(got, want) {
		t.Fatalf("after remove: %v, want %v", got, want)
	}

	// Update: rename, public, replace the patches.
	name, public, patches := "review", true, []int64{f.dev[0], f.dev[1]}
	u, err := st.UpdateBundle(ctx, b.ID, BundleUpdate{Name: &name, Public: &public, Patches: &patches})
	if err != nil {
		t.Fatalf("UpdateBundle() = %v", err)
	}
	if u.Name != "review" || !u.Public || u.Patches != 2 {
		t.Fatalf("updated %+v", u)
	}
	if got := bundlePatchIDs(t, st, b.ID); !cmp.Equal(got, patches) {
		t.Fatalf("after replace: %v, want %v", got, patches)
	}
	taken := "todo"
	if _, err := st.UpdateBundle(ctx, otherList.ID, BundleUpdate{Name: &taken}); err != nil {
		t.Fatalf("keep its own name: %v", err)
	}
	if _, err := st.CreateBundle(ctx, Bundle{OwnerID: f.alice.ID, List: "dev", Name: "todo"}, nil); err != nil {
		t.Fatalf("the old name is free again: %v", err)
	}
	if _, err := st.UpdateBundle(ctx, b.ID, BundleUpdate{Name: &taken}); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto a taken name: %v", err)
	}
	if _, err := st.UpdateBundle(ctx, 999999, BundleUpdate{Name: &name}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update unknown: %v", err)
	}

	// Listing: public ones and the viewer's own.
	names := func(f BundleFilter) []string {
		t.Helper()
		bs, err := st.Bundles(ctx, f)
		if err != nil {
			t.Fatalf("Bundles(%+v) = %v", f, err)
		}
		out := []string{}
		for _, b := range bs {
			out = append(out, strings.Split(b.OwnerEmail, "@")[0]+"/"+b.List+"/"+b.Name)
		}
		return out
	}
	all := []string{"dev", "other"}
	yes, no := true, false
	for _, tc := range []struct {
		name string
		f    BundleFilter
		want []string
	}{
		{"anonymous", BundleFilter{Lists: all}, []string{"alice/dev/review", "bob/dev/todo"}},
		{"alice", BundleFilter{Lists: all, Viewer: f.alice.ID, Order: "name"},
			[]string{"alice/dev/review", "bob/dev/todo", "alice/other/todo", "alice/dev/todo"}},
		{"bob", BundleFilter{Lists: all, Viewer: f.bob.ID}, []string{"alice/dev/review", "bob/dev/todo"}},
		{"one list", BundleFilter{Lists: []string{"other"}, Viewer: f.alice.ID}, []string{"alice/other/todo"}},
		{"owner by address", BundleFilter{Lists: all, Viewer: f.bob.ID, Owners: []string{"ALICE@example.org"}}, []string{"alice/dev/review"}},
		{"owner by id", BundleFilter{Lists: all, Owners: []string{strconv.FormatInt(f.bob.ID, 10)}}, []string{"bob/dev/todo"}},
		{"private", BundleFilter{Lists: all, Viewer: f.alice.ID, Public: &no}, []string{"alice/other/todo", "alice/dev/todo"}},
		{"public", BundleFilter{Lists: all, Viewer: f.alice.ID, Public: &yes}, []string{"alice/dev/review", "bob/dev/todo"}},
		{"name", BundleFilter{Lists: all, Viewer: f.alice.ID, Name: "VIE"}, []string{"alice/dev/review"}},
		{"name with like characters", BundleFilter{Lists: all, Viewer: f.alice.ID, Name: "%"}, []string{}},
		{"paged", BundleFilter{Lists: all, Viewer: f.alice.ID, Order: "-id", Limit: 2, Offset: 1},
			[]string{"alice/other/todo", "bob/dev/todo"}},
		{"no lists", BundleFilter{Viewer: f.alice.ID}, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, names(tc.f)); d != "" {
				t.Errorf("Bundles() (-want +got):\n%s", d)
			}
		})
	}
	// The patches of a page of bundles in one query, each in its order.
	many, err := st.BundlePatches(ctx, []int64{b.ID, bobs.ID, 999999})
	if err != nil {
		t.Fatalf("BundlePatches() = %v", err)
	}
	for _, id := range []int64{b.ID, bobs.ID} {
		var got []int64
		for _, p := range many[id] {
			got = append(got, p.ID)
		}
		if want := bundlePatchIDs(t, st, id); !cmp.Equal(got, want) {
			t.Errorf("BundlePatches()[%d] = %v, want %v", id, got, want)
		}
	}
	if len(many) != 2 {
		t.Errorf("BundlePatches() has %d bundles, want 2", len(many))
	}
	mine, err := st.BundlesOf(ctx, f.alice.ID, "dev")
	if err != nil || len(mine) != 2 || mine[0].Name != "review" || mine[1].Name != "todo" {
		t.Fatalf("BundlesOf() = %+v, %v", mine, err)
	}
	if all, err := st.UserBundles(ctx, f.alice.ID); err != nil || len(all) != 3 {
		t.Fatalf("UserBundles() = %+v, %v", all, err)
	}

	if err := st.DeleteBundle(ctx, bobs.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.Bundle(ctx, bobs.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted bundle: %v", err)
	}
	if err := st.DeleteBundle(ctx, bobs.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

// TestBundlesExportImport carries bundles by Message-ID into another
// store whose patches have other ids (as a reindex makes them).
func TestBundlesExportImport(t *testing.T) {
	f := newBundleFixture(t, false)
	ctx := context.Background()
	b, err := f.st.CreateBundle(ctx, Bundle{OwnerID: f.alice.ID, List: "dev", Name: "todo", Public: true}, []int64{f.dev[2], f.dev[0]})
	if err != nil {
		t.Fatal(err)
	}
	d, err := f.st.ExportBundles(ctx)
	if err != nil {
		t.Fatalf("ExportBundles() = %v", err)
	}
	want := []BundleExport{{ID: b.ID, OwnerID: f.alice.ID, List: "dev", Name: "todo", Public: true, Created: b.Created.Unix(),
		Messages: []string{"p3@x", "p1@x"}}}
	if diff := cmp.Diff(want, d.Bundles); diff != "" {
		t.Fatalf("export (-want +got):\n%s", diff)
	}

	// The other store: the same users, the patches in another order
	// (other ids), one of them missing.
	g := newBundleFixture(t, true)
	d.Bundles[0].Messages = append(d.Bundles[0].Messages, "gone@x")
	dropped, err := g.st.ImportBundles(ctx, d)
	if err != nil || dropped != 1 {
		t.Fatalf("ImportBundles() = %d, %v; want 1 dropped", dropped, err)
	}
	if g.dev[0] == f.dev[0] {
		t.Fatalf("the fixtures' patch ids are the same: the test proves nothing")
	}
	nb, ps, err := g.st.Bundle(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.MessageID)
	}
	if nb.Name != "todo" || !nb.Public || !cmp.Equal(got, []string{"p3@x", "p1@x"}) {
		t.Fatalf("imported %+v with %v", nb, got)
	}
	// New bundles get ids past the imported ones.
	n, err := g.st.CreateBundle(ctx, Bundle{OwnerID: g.bob.ID, List: "dev", Name: "next"}, nil)
	if err != nil || n.ID <= b.ID {
		t.Fatalf("a new bundle after the import: %+v, %v", n, err)
	}
}
