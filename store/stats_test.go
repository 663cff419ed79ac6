package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"patchwell/core"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestListsByActivity(t *testing.T) {
	ctx := context.Background()
	st, dev := mustOpen(t)
	quiet, err := st.CreateList(ctx, List{Name: "quiet"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateList(ctx, List{Name: "empty"}); err != nil {
		t.Fatal(err)
	}
	at := func(m *NewMessage, sec int64) *NewMessage { m.Arrived = time.Unix(sec, 0); return m }
	add(t, st, at(msg(quiet, "q1@x"), 1000))
	add(t, st, at(msg(dev, "d1@x"), 2000))
	add(t, st, at(msg(dev, "d1@x"), 2000)) // the same bytes: not counted twice
	add(t, st, at(msg(dev, "d2@x", "d1@x"), 3000))
	add(t, st, at(msg(quiet, "q2@x"), 2500))
	// Arrival decides, not the Date header.
	late := at(msg(quiet, "q3@x"), 500)
	late.Date = time.Unix(9e9, 0)
	add(t, st, late)
	err = st.Update(ctx, func(tx Tx) error {
		for i, status := range []string{StatusProposed, StatusApplied, StatusNeedsRevision} {
			s := &Series{Subject: fmt.Sprintf("s%d", i), Version: 1, Status: status, Total: 1, Date: time.Unix(1, 0)}
			if _, err := tx.CreateSeries(ctx, s, s.Subject, "", dev.ID); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	ls, err := st.ListsByActivity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range ls {
		got = append(got, fmt.Sprintf("%s %d/%d/%d %d", l.Name, l.Messages, l.Series, l.OpenSeries, l.LastActivity.Unix()))
	}
	// The empty list has no activity (zero time, whose Unix() is negative).
	want := []string{"dev 2/3/2 3000", "quiet 3/0/0 500", fmt.Sprintf("empty 0/0/0 %d", time.Time{}.Unix())}
	if !slices.Equal(got, want) {
		t.Fatalf("ListsByActivity = %q, want %q", got, want)
	}
	// List and Lists read the same counters.
	l, err := st.List(ctx, "dev")
	if err != nil || l.Messages != 2 || l.Series != 3 || l.OpenSeries != 2 {
		t.Fatalf("List(dev) = %+v, %v", l, err)
	}
}

// TestCountersMigration opens a database made before the counters and
// checks the migration fills them from the rows already there.
func TestCountersMigration(t *testing.T) {
	sqliteOnly(t)
	at := slices.IndexFunc(migrations, func(m string) bool { return strings.Contains(m, "message_count") })
	if at < 0 {
		t.Fatal("no counters migration")
	}
	dir := t.TempDir()
	db, err := sql.Open("sqlite3", filepath.Join(dir, DBFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range migrations[:at] {
		if _, err := db.Exec(m); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = %d;
		INSERT INTO lists(id, name, created, uidvalidity) VALUES(1, 'old', 1, 7);
		INSERT INTO messages(list_id, uid, message_id, sha256, size, arrived, thread_id) VALUES(1, 1, 'a', x'01', 1, 10, 1), (1, 2, 'b', x'02', 1, 20, 1);
		INSERT INTO series(list_id, subject, norm_subject, version, status, submitter_name, submitter_email, total, date)
			VALUES(1, 's', 's', 1, 'proposed', '', '', 1, 1)`, at)); err != nil {
		t.Fatal(err)
	}
	db.Close()
	st, err := Open(context.Background(), dir)
	if err != nil {
		t.Fatalf("Open = %v", err)
	}
	defer st.Close()
	l, err := st.List(context.Background(), "old")
	if err != nil || l.Messages != 2 || l.Series != 1 || l.OpenSeries != 1 || l.LastActivity.Unix() != 20 {
		t.Fatalf("after migration: %+v, %v", l, err)
	}
}

func TestFilterSeries(t *testing.T) {
	ctx := context.Background()
	st, dev := mustOpen(t)
	other, _ := st.CreateList(ctx, List{Name: "other"})
	err := st.Update(ctx, func(tx Tx) error {
		for i := 1; i <= 12; i++ {
			s := &Series{Subject: fmt.Sprintf("[PATCH] Fix thing %d", i), Version: 1, Status: StatusProposed,
				Submitter: core.Person{Name: "Ann", Email: "Ann@Example.org"}, Total: 1, Date: time.Unix(int64(i), 0)}
			if i%3 == 0 {
				s.Status, s.Submitter = StatusApplied, core.Person{Name: "Bob", Email: "bob@example.org"}
			}
			if i == 7 {
				s.Subject = "[PATCH] 100% _odd_ subject"
			}
			if _, err := tx.CreateSeries(ctx, s, s.Subject, "", dev.ID); err != nil {
				return err
			}
		}
		s := &Series{Subject: "Fix thing elsewhere", Version: 1, Status: StatusProposed, Total: 1}
		_, err := tx.CreateSeries(ctx, s, s.Subject, "", other.ID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	subjects := func(f SeriesFilter) []int64 {
		t.Helper()
		list, err := st.FilterSeries(ctx, "dev", f)
		if err != nil {
			t.Fatalf("FilterSeries(%+v) = %v", f, err)
		}
		var ids []int64
		for _, s := range list {
			ids = append(ids, s.ID)
		}
		return ids
	}
	for _, tc := range []struct {
		name string
		f    SeriesFilter
		want []int64
	}{
		{"all, first page", SeriesFilter{Limit: 5}, []int64{12, 11, 10, 9, 8}},
		{"next page", SeriesFilter{Limit: 5, Before: 8}, []int64{7, 6, 5, 4, 3}},
		{"last page", SeriesFilter{Limit: 5, Before: 3}, []int64{2, 1}},
		{"previous page", SeriesFilter{Limit: 5, After: 2}, []int64{7, 6, 5, 4, 3}},
		{"previous page at the top", SeriesFilter{Limit: 5, After: 9}, []int64{12, 11, 10}},
		{"status", SeriesFilter{Status: StatusApplied}, []int64{12, 9, 6, 3}},
		{"open", SeriesFilter{Status: StatusOpen, Limit: 3}, []int64{11, 10, 8}},
		{"submitter, any case", SeriesFilter{Submitter: "BOB@example.org"}, []int64{12, 9, 6, 3}},
		{"unknown submitter", SeriesFilter{Submitter: "eve@example.org"}, nil},
		{"title substring, any case", SeriesFilter{Title: "THING 1"}, []int64{12, 11, 10, 1}},
		{"title with LIKE metacharacters", SeriesFilter{Title: "100% _odd_"}, []int64{7}},
		{"percent is not a wildcard", SeriesFilter{Title: "%"}, []int64{7}},
		{"everything at once", SeriesFilter{Title: "fix", Submitter: "ann@example.org", Status: StatusProposed, Before: 10, Limit: 2}, []int64{8, 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := subjects(tc.f); !slices.Equal(got, tc.want) {
				t.Fatalf("ids %v, want %v", got, tc.want)
			}
		})
	}
	if got, err := st.FilterSeries(ctx, "nope", SeriesFilter{}); err != nil || len(got) != 0 {
		t.Fatalf("unknown list: %v, %v", got, err)
	}
}

func TestThreadSummariesAndRecent(t *testing.T) {
	ctx := context.Background()
	st, dev := mustOpen(t)
	other, _ := st.CreateList(ctx, List{Name: "other"})
	// Threads t1..t5 started in order; then t2 gets a reply: it is the
	// most recently active.
	for i := 1; i <= 5; i++ {
		m := msg(dev, fmt.Sprintf("t%d@x", i))
		m.From = core.Person{Name: fmt.Sprintf("Starter %d", i), Email: fmt.Sprintf("s%d@x", i)}
		m.Arrived = time.Unix(int64(100*i), 0)
		add(t, st, m)
	}
	r := msg(dev, "r@x", "t2@x")
	r.From, r.Arrived = core.Person{Name: "Replier"}, time.Unix(999, 0)
	add(t, st, r)
	add(t, st, msg(other, "o@x"))

	page := func(before, after uint32, limit int) []string {
		t.Helper()
		ts, err := st.ThreadSummaries(ctx, "dev", before, after, limit)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, th := range ts {
			out = append(out, fmt.Sprintf("%s %s %d %d %d", th.RootMessageID, th.Starter.Name, th.Messages, th.LastUID, th.LastArrived.Unix()))
		}
		return out
	}
	if got, want := page(0, 0, 3), []string{"t2@x Starter 2 2 6 999", "t5@x Starter 5 1 5 500", "t4@x Starter 4 1 4 400"}; !slices.Equal(got, want) {
		t.Fatalf("first page %q, want %q", got, want)
	}
	if got, want := page(4, 0, 3), []string{"t3@x Starter 3 1 3 300", "t1@x Starter 1 1 1 100"}; !slices.Equal(got, want) {
		t.Fatalf("second page %q, want %q", got, want)
	}
	if got, want := page(0, 3, 2), []string{"t5@x Starter 5 1 5 500", "t4@x Starter 4 1 4 400"}; !slices.Equal(got, want) {
		t.Fatalf("previous page %q, want %q", got, want)
	}
	if _, err := st.ThreadSummaries(ctx, "nope", 0, 0, 0); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}

	recent, err := st.RecentMessages(ctx, "dev", 2)
	if err != nil || len(recent) != 2 || recent[0].MessageID != "r@x" || recent[1].MessageID != "t5@x" || recent[0].List != "dev" {
		t.Fatalf("RecentMessages(dev) = %+v, %v", recent, err)
	}
	all, err := st.RecentMessages(ctx, "", 2)
	if err != nil || len(all) != 2 || all[0].MessageID != "o@x" || all[0].List != "other" || all[1].MessageID != "r@x" {
		t.Fatalf("RecentMessages(all) = %+v, %v", all, err)
	}
	if _, err := st.RecentMessages(ctx, "nope", 2); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
}
