package review

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/internal/testhg"
	"patchwell/store"
)

// hgCalc makes a Mercurial repository with a base changeset and three
// more by Bob Coder, and returns it with their node ids.
func hgCalc(t *testing.T) (*testhg.Repo, []string) {
	t.Helper()
	r := testhg.New(t, "Bob Coder <bob@example.org>")
	r.Write("calc.py", "def add(a, b):\n    return a + b\n")
	nodes := []string{r.Commit("calc: start", "1700000000 0")}
	r.Write("calc.py", "def add(a, b):\n    return a + b  # sum\n")
	nodes = append(nodes, r.Commit("calc: comment add\n\nSigned-off-by: Bob Coder <bob@example.org>", "1700000100 -3600"))
	r.Write("calc.py", "def add(a, b):\n    return a + b  # sum\n\n\ndef mul(a, b):\n    return a * b\n")
	nodes = append(nodes, r.Commit("calc: mul", "1700000200 0"))
	r.Write("docs/NOTES", "# notes\n")
	nodes = append(nodes, r.Commit("notes: add", "1700000300 0"))
	return r, nodes
}

func postAll(t *testing.T, in *Ingester, msgs ...[]byte) {
	t.Helper()
	for _, raw := range msgs {
		if err := in.Post(context.Background(), Post{Lists: []string{"dev"}, Raw: raw, Distribute: true}); err != nil {
			t.Fatalf("Post(%s) = %v", archive.ParseHeader(raw).Subject, err)
		}
	}
}

// TestHgEmailSeries sends a series the way Mercurial's `hg email` does:
// an introduction with three patches replying to it (plain hg diffs),
// then a V2 (--flag V2, git-style diffs) whose messages arrive out of
// order, and a reviewer's Reviewed-by in reply to a V2 patch. The V2
// supersedes v1, both name the first patch's parent as their base, and
// the trailer is collected. A V3 sent in reply to the V2 then supersedes
// that.
func TestHgEmailSeries(t *testing.T) {
	r, nodes := hgCalc(t)
	desc := filepath.Join(t.TempDir(), "desc")
	if err := os.WriteFile(desc, []byte("Small things for calc.\n"), 0o644); err != nil {
		t.Fatalf("WriteFile() = %v", err)
	}
	send := []string{"-r", "1:3", "--intro", "--subject", "calc: improvements", "--desc", desc, "--from", "Ann Sender <ann@example.org>"}
	v1 := r.Email(append(send, "--date", "2023-11-15 10:00 +0000")...)
	v2 := r.Email(append(send, "--config", "diff.git=True", "--flag", "V2", "--date", "2023-11-16 10:00 +0000")...)
	if len(v1) != 4 || len(v2) != 4 {
		t.Fatalf("hg email wrote %d and %d messages, want 4 and 4", len(v1), len(v2))
	}
	// patchbomb threads every patch as a reply to the introduction.
	intro := archive.ParseHeader(v2[0]).MessageID
	for _, raw := range v2[1:] {
		if h := archive.ParseHeader(raw); h.InReplyTo != intro {
			t.Fatalf("%s: In-Reply-To %q, want the introduction %q", h.Subject, h.InReplyTo, intro)
		}
	}

	in, st := newTestIngester(t)
	postAll(t, in, v1...)
	// A comment on a line of the plain hg diff lands on calc.py, not
	// b/calc.py.
	v1mul := archive.ParseHeader(v1[2]).MessageID
	postAll(t, in, []byte(fmt.Sprintf("From: Carol Reviewer <carol@example.org>\nTo: dev@patchwell.localhost\n"+
		"Subject: Re: [PATCH 2 of 3] calc: mul\nMessage-ID: <review-0@example.org>\n"+
		"In-Reply-To: %s\nReferences: %s %s\nDate: Wed, 15 Nov 2023 12:00:00 +0000\n\n"+
		"> +def mul(a, b):\n\nName it multiply?\n", v1mul, archive.ParseHeader(v1[0]).MessageID, v1mul)))
	cs, err := NewService(st).SeriesComments(context.Background(), seriesOf(t, st, v1mul))
	if err != nil || len(cs) != 1 {
		t.Fatalf("SeriesComments(v1) = %+v, %v; want 1", cs, err)
	}
	if c := cs[0]; c.Body != "Name it multiply?" || c.File != "calc.py" || c.Side != "new" || c.Line != 5 {
		t.Errorf("comment = %+v, want Name it multiply? at calc.py new line 5", c)
	}
	postAll(t, in, v2[2], v2[0], v2[3], v2[1])
	patch1 := archive.ParseHeader(v2[1]).MessageID
	postAll(t, in, []byte(fmt.Sprintf("From: Carol Reviewer <carol@example.org>\nTo: dev@patchwell.localhost\n"+
		"Subject: Re: [PATCH 1 of 3 V2] calc: comment add\nMessage-ID: <review-1@example.org>\n"+
		"In-Reply-To: %s\nReferences: %s %s\nDate: Thu, 16 Nov 2023 12:00:00 +0000\n\n"+
		"> # HG changeset patch\n> # User Bob Coder <bob@example.org>\n\nLooks right.\n\nReviewed-by: Carol Reviewer <carol@example.org>\n",
		patch1, intro, patch1)))

	if diff := cmp.Diff([]string{"v1 3/3 +cover superseded", "v2 3/3 +cover prev=v1"}, summary(t, st)); diff != "" {
		t.Fatalf("series (-want +got):\n%s", diff)
	}
	svc := NewService(st)
	all, err := st.SeriesList(context.Background(), "dev", "", store.Page{Limit: 10})
	if err != nil {
		t.Fatalf("SeriesList() = %v", err)
	}
	patchIDs := map[int][]string{}
	for _, s := range all {
		se, patches, err := svc.Series(context.Background(), s.ID)
		if err != nil {
			t.Fatalf("Series(%d) = %v", s.ID, err)
		}
		if se.Subject != "calc: improvements" || se.BaseCommit != nodes[0] || se.Submitter.Email != "ann@example.org" {
			t.Errorf("v%d: Subject, BaseCommit, Submitter = %q, %q, %+v; want calc: improvements, %q, ann@example.org",
				se.Version, se.Subject, se.BaseCommit, se.Submitter, nodes[0])
		}
		if len(patches) != 3 {
			t.Fatalf("v%d: %d patches, want 3", se.Version, len(patches))
		}
		bob := core.Person{Name: "Bob Coder", Email: "bob@example.org"}
		for i, want := range []struct {
			subject string
			files   []core.File
		}{
			{"calc: comment add", []core.File{{Path: "calc.py", Added: 1, Deleted: 1}}},
			{"calc: mul", []core.File{{Path: "calc.py", Added: 4}}},
			{"notes: add", []core.File{{Path: "docs/NOTES", Added: 1}}},
		} {
			p := patches[i]
			if p.Index != i+1 || p.CommitSubject != want.subject || p.Author != bob || p.PatchID == "" {
				t.Errorf("v%d patch %d: Index, CommitSubject, Author, PatchID = %d, %q, %+v, %q", se.Version, i+1, p.Index, p.CommitSubject, p.Author, p.PatchID)
			}
			if diff := cmp.Diff(want.files, p.Files); diff != "" {
				t.Errorf("v%d patch %d: Files (-want +got):\n%s", se.Version, i+1, diff)
			}
			patchIDs[i] = append(patchIDs[i], p.PatchID)
			var tr []string
			for _, x := range p.Trailers {
				tr = append(tr, x.Key+": "+x.Value)
			}
			var wantTr []string
			if i == 0 {
				wantTr = append(wantTr, "Signed-off-by: Bob Coder <bob@example.org>")
				if se.Version == 2 {
					wantTr = append(wantTr, "Reviewed-by: Carol Reviewer <carol@example.org>")
				}
			}
			if diff := cmp.Diff(wantTr, tr); diff != "" {
				t.Errorf("v%d patch %d: trailers (-want +got):\n%s", se.Version, i+1, diff)
			}
		}
	}
	// The same changesets, as plain and as git-style diffs: the same ids.
	for i, ids := range patchIDs {
		if len(ids) != 2 || ids[0] != ids[1] {
			t.Errorf("patch %d: patch-ids %q, want one id for v1 and v2", i+1, ids)
		}
	}

	// A V3 sent --in-reply-to the V2 introduction: hg threads its
	// introduction there and the patches to the new introduction.
	v3 := r.Email(append(send, "--flag", "V3", "--in-reply-to", intro, "--date", "2023-11-17 10:00 +0000")...)
	if h := archive.ParseHeader(v3[0]); h.InReplyTo != intro {
		t.Fatalf("V3 introduction In-Reply-To %q, want %q", h.InReplyTo, intro)
	}
	postAll(t, in, v3...)
	want := []string{"v1 3/3 +cover superseded", "v2 3/3 +cover prev=v1 superseded", "v3 3/3 +cover prev=v2"}
	if diff := cmp.Diff(want, summary(t, st)); diff != "" {
		t.Errorf("series after V3 (-want +got):\n%s", diff)
	}
}

// TestHgEmailNoIntro sends two patches without an introduction
// (patchbomb.intro=never): the second replies to the first, and the
// series has no cover.
func TestHgEmailNoIntro(t *testing.T) {
	r, nodes := hgCalc(t)
	msgs := r.Email("-r", "1:2", "--config", "patchbomb.intro=never", "--from", "Ann Sender <ann@example.org>")
	if len(msgs) != 2 {
		t.Fatalf("hg email wrote %d messages, want 2", len(msgs))
	}
	if first, second := archive.ParseHeader(msgs[0]), archive.ParseHeader(msgs[1]); second.InReplyTo != first.MessageID {
		t.Fatalf("second patch In-Reply-To %q, want %q", second.InReplyTo, first.MessageID)
	}
	in, st := newTestIngester(t)
	postAll(t, in, msgs[1], msgs[0])
	if diff := cmp.Diff([]string{"v1 2/2"}, summary(t, st)); diff != "" {
		t.Fatalf("series (-want +got):\n%s", diff)
	}
	all, err := st.SeriesList(context.Background(), "dev", "", store.Page{Limit: 10})
	if err != nil || len(all) != 1 {
		t.Fatalf("SeriesList() = %d, %v", len(all), err)
	}
	if all[0].Subject != "calc: comment add" || all[0].BaseCommit != nodes[0] {
		t.Errorf("Subject, BaseCommit = %q, %q; want calc: comment add, %q", all[0].Subject, all[0].BaseCommit, nodes[0])
	}
}

// TestHgEmailImport imports the mbox hg email writes (`patchwell
// import`'s road): one series with its introduction, its base the first
// patch's parent.
func TestHgEmailImport(t *testing.T) {
	r, nodes := hgCalc(t)
	mbox := r.Mbox("-r", "1:3", "--intro", "--subject", "calc: improvements", "--desc", os.DevNull,
		"--from", "Ann Sender <ann@example.org>")
	in, st := newTestIngester(t)
	if stats := importFile(t, in, mbox); stats.Imported != 4 {
		t.Fatalf("Import() = %+v, want 4 messages", stats)
	}
	if diff := cmp.Diff([]string{"v1 3/3 +cover"}, summary(t, st)); diff != "" {
		t.Fatalf("series (-want +got):\n%s", diff)
	}
	all, err := st.SeriesList(context.Background(), "dev", "", store.Page{Limit: 10})
	if err != nil || len(all) != 1 || all[0].BaseCommit != nodes[0] || all[0].Subject != "calc: improvements" {
		t.Fatalf("SeriesList() = %+v, %v; want calc: improvements based on %s", all, err, nodes[0])
	}
}
