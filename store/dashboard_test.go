package store

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"patchwell/core"
)

// dashFixture is four series of list dev: a (v1, reviewed in a reply by
// rev@example.org, one day old), b (checks: one fail, one success, no
// reply), c (superseded), d (v2 of a, its one patch unchanged: the
// review carries).
type dashFixture struct {
	st         *DB
	a, b, c, d int64
}

func newDashFixture(t *testing.T) dashFixture {
	t.Helper()
	st, l := mustOpen(t)
	ctx := context.Background()
	var f dashFixture
	f.st = st
	day := time.Unix(1700000000, 0)
	series := func(id, pid string, date time.Time, status string, prev int64, replies ...*NewMessage) int64 {
		p := msg(l, id)
		p.Kind, p.Date = core.KindPatch, date
		pa := add(t, st, p)
		var sid int64
		err := st.Update(ctx, func(tx Tx) error {
			var err error
			se := &Series{Subject: id, Version: 1, Status: status, Total: 1, Received: 1, MessageID: id, Date: date,
				ThreadID: pa.ThreadID, Previous: prev, Submitter: core.Person{Email: "author@example.org"}}
			if sid, err = tx.CreateSeries(ctx, se, id, id, l.ID); err != nil {
				return err
			}
			if err := tx.SetMessageSeries(ctx, pa.ID, sid, core.KindPatch); err != nil {
				return err
			}
			return tx.AddPatch(ctx, &Patch{SeriesID: sid, Index: 1, Subject: id, CommitSubject: id, PatchID: pid}, pa.ID)
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range replies {
			add(t, st, r)
		}
		return sid
	}
	review := msg(l, "ra@x", "a@x")
	review.Kind, review.Date = core.KindReply, day.Add(24*time.Hour)
	review.From = core.Person{Email: "Rev@Example.org"}
	review.Trailers = []core.Trailer{{Key: "Reviewed-by", Value: "Rev <rev@example.org>"}}
	f.a = series("a@x", "pid-a", day, StatusProposed, 0, review)
	f.b = series("b@x", "pid-b", day.Add(time.Hour), StatusProposed, 0)
	f.c = series("c@x", "pid-c", day.Add(2*time.Hour), StatusSuperseded, 0)
	f.d = series("d@x", "pid-a", day.Add(3*time.Hour), StatusProposed, f.a)
	for _, c := range []Check{{SeriesID: f.b, Context: "build", State: CheckFail}, {SeriesID: f.b, Context: "test", State: CheckSuccess},
		{SeriesID: f.a, Context: "build", State: CheckSuccess}} {
		if _, err := st.SetCheck(ctx, &c); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func rowIDs(rs []SeriesRow) []int64 {
	var out []int64
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func TestDashboardSeries(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		list string
		f    SeriesFilter
		want []int64
	}{
		{"all", "dev", SeriesFilter{}, []int64{f.d, f.c, f.b, f.a}},
		{"current", "dev", SeriesFilter{Current: true}, []int64{f.d, f.b, f.a}},
		{"needs review", "dev", SeriesFilter{Current: true, NeedsReview: true}, []int64{f.b}},
		{"replied by", "dev", SeriesFilter{RepliedBy: []string{"rev@EXAMPLE.org"}}, []int64{f.a}},
		{"checks", "dev", SeriesFilter{Current: true, Sort: SortChecks}, []int64{f.b, f.a, f.d}},
		{"reviews", "dev", SeriesFilter{Current: true, Sort: SortReviews}, []int64{f.a, f.d, f.b}},
		{"activity", "dev", SeriesFilter{Current: true, Sort: SortActivity}, []int64{f.a, f.d, f.b}},
		{"activity offset", "dev", SeriesFilter{Current: true, Sort: SortActivity, Offset: 1, Limit: 1}, []int64{f.d}},
		{"before", "dev", SeriesFilter{Before: f.c, Limit: 1}, []int64{f.b}},
		{"after", "dev", SeriesFilter{After: f.a, Limit: 2}, []int64{f.c, f.b}},
		{"lists", "", SeriesFilter{Lists: []string{"dev", "other"}, RepliedBy: []string{"rev@example.org"}}, []int64{f.a}},
		{"no lists", "", SeriesFilter{}, nil},
		{"unknown list", "nope", SeriesFilter{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := f.st.DashboardSeries(ctx, tc.list, tc.f)
			if err != nil || !slices.Equal(rowIDs(rs), tc.want) {
				t.Fatalf("DashboardSeries = %v, %v; want %v", rowIDs(rs), err, tc.want)
			}
		})
	}
	rs, err := f.st.DashboardSeries(ctx, "dev", SeriesFilter{Sort: SortActivity, Limit: 1})
	if err != nil || len(rs) != 1 || !rs[0].Stats.LastActivity.Equal(time.Unix(1700000000, 0).Add(24*time.Hour)) {
		t.Errorf("last activity = %+v, %v", rs, err)
	}
	if _, err := f.st.DashboardSeries(ctx, "dev", SeriesFilter{Sort: "size"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad sort: %v", err)
	}
}

func TestDashboardBatches(t *testing.T) {
	f := newDashFixture(t)
	ctx := context.Background()
	cc, err := f.st.CheckCounts(ctx, []int64{f.a, f.b, f.c})
	if err != nil || cc[f.b] != (CheckCounts{Success: 1, Fail: 1}) || cc[f.a] != (CheckCounts{Success: 1}) || cc[f.c].Total() != 0 {
		t.Errorf("CheckCounts = %+v, %v", cc, err)
	}
	ps, err := f.st.PatchesOf(ctx, []int64{f.a, f.d})
	if err != nil || len(ps[f.a]) != 1 || len(ps[f.d]) != 1 || ps[f.d][0].PatchID != "pid-a" || ps[f.a][0].MessageID != "a@x" {
		t.Errorf("PatchesOf = %+v, %v", ps, err)
	}
	ss, err := f.st.SeriesByIDs(ctx, []int64{f.d, f.a, 999})
	if err != nil || len(ss) != 2 || ss[0].ID != f.a || ss[1].Previous != f.a || ss[1].List != "dev" {
		t.Errorf("SeriesByIDs = %+v, %v", ss, err)
	}
	ms, err := f.st.MessagesOfThreads(ctx, []int64{ss[0].ThreadID, ss[1].ThreadID})
	if err != nil || len(ms) != 3 || ms[1].MessageID != "ra@x" || len(ms[1].Trailers) != 1 {
		t.Errorf("MessagesOfThreads = %+v, %v", ms, err)
	}
	for _, empty := range []func() (int, error){
		func() (int, error) { m, err := f.st.CheckCounts(ctx, nil); return len(m), err },
		func() (int, error) { m, err := f.st.PatchesOf(ctx, nil); return len(m), err },
		func() (int, error) { m, err := f.st.SeriesByIDs(ctx, nil); return len(m), err },
		func() (int, error) { m, err := f.st.MessagesOfThreads(ctx, nil); return len(m), err },
	} {
		if n, err := empty(); n != 0 || err != nil {
			t.Errorf("nothing asked: %d, %v", n, err)
		}
	}
}
