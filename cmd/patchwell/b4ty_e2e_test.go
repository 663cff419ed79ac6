package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestB4TyPatchwork runs the real b4 with patchwork settings (pw-url,
// pw-key, pw-project) pointed at patchwell: `b4 shazam` marks the
// series' patches under review (pw-review-state), and `b4 ty -a`, after
// finding the applied commits, marks them accepted (pw-accept-state), as
// b4 does with a patchwork instance; the series follows its patches.
func TestB4TyPatchwork(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "b4", "--version")
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false")
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "m@example.org", "--name", "Maintainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "m@example.org", "dev", "maintainer", "--data", data)
	tok, errs, code := cli(t, nil, "user", "token", "m@example.org", "b4", "--data", data)
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	repo := makeRepo(t)
	series := sendSeries(t, srv, repo, "ty", "Thank me")

	states := func() map[string]string {
		t.Helper()
		resp, err := http.Get(fmt.Sprintf("http://%s/api/1.2/patches/?project=dev&series=%d", srv.http, series.ID))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var ps []struct {
			Name  string `json:"name"`
			State string `json:"state"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&ps); err != nil || len(ps) != 3 {
			t.Fatalf("patches of series %d: %v %+v", series.ID, err, ps)
		}
		out := map[string]string{}
		for _, p := range ps {
			out[p.Name] = p.State
		}
		return out
	}
	all := func(what, want string) {
		t.Helper()
		for name, st := range states() {
			if st != want {
				t.Errorf("%s: patch %q is %s, want %s", what, name, st, want)
			}
		}
	}
	all("before b4", "new")

	clone := t.TempDir()
	run(t, clone, "git", "clone", "-q", repo, ".")
	run(t, clone, "git", "checkout", "-q", "-b", "work", "HEAD~3")
	home := t.TempDir()
	cfg := b4Config(srv.http, "dev") + "\tpw-url = http://" + srv.http + "/\n\tpw-key = " + strings.TrimSpace(tok) +
		"\n\tpw-project = dev\n\tpw-review-state = under-review\n\tpw-accept-state = accepted\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	if out := b4Home(t, clone, home, "shazam", series.MessageID); !strings.Contains(out, "Applying: rename a to b") {
		t.Fatalf("b4 shazam:\n%s", out)
	}
	all("after b4 shazam", "under-review")

	thanks := filepath.Join(t.TempDir(), "thanks")
	out := b4Home(t, clone, home, "ty", "-a", "-o", thanks, "-b", "work")
	if !strings.Contains(out, "Located: ") || !strings.Contains(out, "-> accepted") {
		t.Errorf("b4 ty -a:\n%s", out)
	}
	files, _ := filepath.Glob(filepath.Join(thanks, "*.thanks"))
	if len(files) != 1 {
		t.Errorf("b4 ty wrote %d thank-you letters, want 1", len(files))
	}
	all("after b4 ty", "accepted")
	var s apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", series.ID), &s)
	if s.Status != "approved" {
		t.Errorf("series status after every patch was accepted: %s, want approved", s.Status)
	}
}
