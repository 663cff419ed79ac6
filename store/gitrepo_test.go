package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestListRepoAndApplied(t *testing.T) {
	ctx := context.Background()
	st, err := opener(t)()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateList(ctx, List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ListRepo(ctx, "dev"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("no repository yet: %v", err)
	}
	if err := st.SetListRepo(ctx, ListRepo{List: "dev", Repo: "/srv/x.git"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no branch: %v", err)
	}
	if err := st.SetListRepo(ctx, ListRepo{List: "nope", Repo: "/srv/x.git", Branch: "main"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown list: %v", err)
	}
	for _, b := range []string{"-f", "a..b", "a b", "x:y", "refs/heads/", ".hidden", "a.lock", "a\nb"} {
		if err := st.SetListRepo(ctx, ListRepo{List: "dev", Repo: "/srv/x.git", Branch: b}); !errors.Is(err, ErrInvalid) {
			t.Errorf("branch %q: %v", b, err)
		}
	}
	if err := st.SetListRepo(ctx, ListRepo{List: "dev", Repo: "--upload-pack=touch /tmp/x", Branch: "main"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("repository starting with '-': %v", err)
	}
	want := ListRepo{List: "dev", Repo: "/srv/x.git", Branch: "main", Check: "make check", FirstTimerGate: true}
	if err := st.SetListRepo(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := st.ListRepo(ctx, "dev")
	if want.VCS = VCSGit; err != nil || *got != want {
		t.Fatalf("got %+v, %v; want %+v (git when not said)", got, err, want)
	}
	want.Branch, want.FirstTimerGate, want.VCS = "next", false, VCSHg
	if err := st.SetListRepo(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err = st.ListRepo(ctx, "dev")
	if err != nil || *got != want {
		t.Fatalf("got %+v, %v; want %+v", got, err, want)
	}
	if err := st.SetListRepo(ctx, ListRepo{List: "dev", Repo: "/srv/x", Branch: "main", VCS: "svn"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("VCS svn: %v", err)
	}
	if _, err := st.AppliedSeries(ctx, 1); !errors.Is(err, ErrNotFound) {
		t.Fatalf("not applied: %v", err)
	}
	at := time.Unix(1700000000, 0).UTC()
	if err := st.RecordApplied(ctx, Applied{SeriesID: 1, Commits: []string{"a1", "b2"}, Branch: "next", AppliedAt: at, By: "m@x"}); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordApplied(ctx, Applied{SeriesID: 1, Commits: []string{"c3"}, Branch: "other", AppliedAt: at}); err != nil {
		t.Fatal(err)
	}
	a, err := st.AppliedSeries(ctx, 1)
	if err != nil || len(a.Commits) != 2 || a.Commits[1] != "b2" || a.Branch != "next" || a.By != "m@x" || !a.AppliedAt.Equal(at) {
		t.Fatalf("applied %+v, %v: the first record stays", a, err)
	}
}
