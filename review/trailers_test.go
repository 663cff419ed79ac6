package review

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

var refTrailer = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9-]*): (.+)$`)

// refTrailers reads b4's expected `b4 am` output: per patch subject, the
// trailer lines of its commit message, without the Signed-off-by b4 adds
// for the person running it (Test Override).
func refTrailers(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, msg := range strings.Split(string(b), "\nFrom git@z ")[0:] {
		head, body, ok := strings.Cut(msg, "\n\n")
		if !ok {
			continue
		}
		var subject string
		for _, l := range strings.Split(head, "\n") {
			if s, ok := strings.CutPrefix(l, "Subject: "); ok {
				subject = ParseTitle(s)
			}
		}
		commit, _, _ := strings.Cut(body, "\n---")
		commit, _, _ = strings.Cut(commit, "\ndiff --git")
		paras := strings.Split(strings.TrimSpace(commit), "\n\n")
		var tr []string
		for _, l := range strings.Split(paras[len(paras)-1], "\n") {
			if refTrailer.MatchString(l) && !strings.Contains(l, "Test Override") {
				tr = append(tr, l)
			}
		}
		sort.Strings(tr)
		out[subject] = tr
	}
	return out
}

// TestB4FollowupTrailers imports b4's follow-up test threads and checks
// that each patch carries the trailers `b4 am` would apply.
func TestB4FollowupTrailers(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "b4")
	refs, err := filepath.Glob(filepath.Join(dir, "trailers-followup-*-ref-defaults.txt"))
	if err != nil || len(refs) == 0 {
		t.Fatalf("no b4 reference files: %v", err)
	}
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(ref), "-ref-defaults.txt")
		t.Run(name, func(t *testing.T) {
			if name == "trailers-followup-partial-reroll" {
				t.Skip("b4 carries trailers across rerolls; we show them on the revision they were given to")
			}
			in, st := newTestIngester(t)
			importFile(t, in, filepath.Join(dir, name+".mbox"))
			svc := NewService(st)
			all, err := st.SeriesList(context.Background(), "dev", "", store.Page{Limit: 100})
			if err != nil || len(all) == 0 {
				t.Fatalf("SeriesList() = %d, %v", len(all), err)
			}
			got := map[string][]string{}
			for _, s := range all {
				_, patches, err := svc.Series(context.Background(), s.ID)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range patches {
					var tr []string
					for _, x := range p.Trailers {
						tr = append(tr, x.Key+": "+x.Value)
					}
					sort.Strings(tr)
					got[ParseTitle(p.Subject)] = tr
				}
			}
			want := refTrailers(t, ref)
			n := 0
			for _, tr := range want {
				n += len(tr)
			}
			if n == 0 {
				t.Fatalf("no trailers read from %s", ref)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("trailers per patch (-b4 +ours):\n%s", diff)
			}
		})
	}
}
