package gitrepo

import (
	"strings"
	"testing"

	"patchwell/review"
	"patchwell/store"
)

// TestRangeDiff: two revisions of a series, the second patch changed,
// give git range-diff's answer (= for the same patch, the changed one
// marked); a list without a repository gives ok false.
func TestRangeDiff(t *testing.T) {
	f := newFixture(t)
	v1, _ := f.send(t, func() string { f.edit(t, 1, "line one"); return "a: first line" },
		func() string { f.edit(t, 2, "line two"); return "a: second line" })
	// The same first change (its own commit: another author date), a
	// different second one.
	v2, _ := f.send(t, func() string { f.edit(t, 1, "line one"); f.edit(t, 20, "line 20."); return "a: first line" },
		func() string { f.edit(t, 2, "line TWO, better"); return "a: second line" })
	if v1 == v2 {
		t.Fatal("the two revisions are one series")
	}
	older, _ := f.st.Series(f.ctx, v1)
	newer, _ := f.st.Series(f.ctx, v2)
	rd := &RangeDiffer{Store: f.st, Service: review.NewService(f.st), DataDir: f.ap.DataDir}
	out, ok, err := rd.RangeDiff(f.ctx, older, newer)
	if err != nil || !ok {
		t.Fatalf("RangeDiff = %q, %v, %v", out, ok, err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	// Both patches changed: git pairs them ("!") or, where the change is
	// most of a patch, lists both sides ("<" and ">").
	changed := strings.Contains(out, " ! ") || (strings.Contains(out, " < ") && strings.Contains(out, " > "))
	if len(lines) < 2 || strings.Contains(out, " = ") || !changed || !strings.Contains(out, "a: second line") {
		t.Fatalf("range-diff output:\n%s", out)
	}
	// Cached: the same answer without git (the mirror may go away).
	again, ok, err := rd.RangeDiff(f.ctx, older, newer)
	if err != nil || !ok || again != out {
		t.Fatalf("second call: %v %v", ok, err)
	}
	if _, err := f.st.CreateList(f.ctx, store.List{Name: "norepo"}); err != nil {
		t.Fatal(err)
	}
	o2, n2 := *older, *newer
	o2.ID, n2.ID, o2.List, n2.List = 1000, 1001, "norepo", "norepo"
	if _, ok, err := rd.RangeDiff(f.ctx, &o2, &n2); ok || err != nil {
		t.Errorf("list without a repository: ok %v, err %v", ok, err)
	}
}
