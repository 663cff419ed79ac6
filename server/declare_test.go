package server

import (
	"context"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"patchwell/internal/conffile"
	"patchwell/store"
)

// TestReconcileRepo: a declared repository is probed and stored once; a
// second reconcile of the same file changes nothing (and probes
// nothing), and a changed check command is applied.
func TestReconcileRepo(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	repo := filepath.Join(t.TempDir(), "p.git")
	if out, err := exec.Command("git", "init", "-q", "--bare", "-b", "main", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	decls := func(text string) []ListDecl {
		t.Helper()
		f, err := conffile.Parse("c.toml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		ds, err := ListDecls(f)
		if err != nil {
			t.Fatal(err)
		}
		return ds
	}
	conf := "[[list]]\nname = \"p\"\nrepo = \"" + repo + "\"\ncheck = \"make\"\nfirst-timer-gate = false\nallow = \"a@x, @y\"\n"
	did, err := Reconcile(ctx, st, decls(conf))
	if err != nil || !slices.Contains(did, "p: created") || !slices.Contains(did, "p: repository set") || !slices.Contains(did, "p: posting policy set") {
		t.Fatalf("first reconcile: %q %v", did, err)
	}
	r, err := st.ListRepo(ctx, "p")
	if err != nil || r.Repo != repo || r.Check != "make" || r.FirstTimerGate || r.VCS != store.VCSGit {
		t.Errorf("repository: %+v %v", r, err)
	}
	if p, _ := st.Policy(ctx, "p"); policyKey(p) != policyKey(&store.ListPolicy{Posting: p.Posting, DMARC: p.DMARC, Allow: []string{"a@x", "@y"}}) {
		t.Errorf("allow: %q", p.Allow)
	}
	if did, err := Reconcile(ctx, st, decls(conf)); err != nil || len(did) != 0 {
		t.Errorf("second reconcile of the same file: %q %v", did, err)
	}
	did, err = Reconcile(ctx, st, decls(strings.Replace(conf, `"make"`, `"make check"`, 1)))
	if r, _ := st.ListRepo(ctx, "p"); err != nil || r.Check != "make check" || !slices.Contains(did, "p: repository set") {
		t.Errorf("changed check: %q %v %+v", did, err, r)
	}
	// A repository that is not one is refused, naming the declaration.
	_, err = Reconcile(ctx, st, decls("[[list]]\nname = \"q\"\nrepo = \"/no/such/repo\"\n"))
	if err == nil || !strings.Contains(err.Error(), "c.toml:1: list q:") {
		t.Errorf("a missing repository: %v", err)
	}
}
