package main

import (
	"encoding/csv"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGitPWBundles drives Debian's git-pw (2.0) bundle commands against
// a running server: create (private), show (by id and by name), add,
// remove, list, update (public), download and git am of the mbox into a
// real repository; a private bundle is 404 to another user's token and
// to anonymous requests, the bundle page shows it once public; the
// bundle survives patchwell reindex (SQLite); delete.
func TestGitPWBundles(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "git-pw", "--version")
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false")
	for _, u := range []string{"maint", "reader"} {
		if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", u+"@example.org", "--name", u, "--data", data); code != 0 {
			t.Fatalf("user add: %s", errs)
		}
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	token := func(u string) string {
		tok, errs, code := cli(t, nil, "user", "token", u+"@example.org", "git-pw", "--data", data)
		if code != 0 {
			t.Fatalf("user token: %s", errs)
		}
		return strings.TrimSpace(tok)
	}
	// The reader has no role: a bundle needs an account, not a role.
	readerTok, maintTok := token("reader"), token("maint")

	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Bundle me")
	work := t.TempDir()
	run(t, work, "git", "clone", "-q", repo, "w")
	work = filepath.Join(work, "w")
	run(t, work, "git", "reset", "-q", "--hard", "HEAD~3")
	run(t, work, "git", "config", "pw.token", readerTok)
	run(t, work, "git", "config", "pw.project", "dev")
	run(t, work, "git", "config", "user.name", "Rea Der")
	run(t, work, "git", "config", "user.email", "reader@example.org")
	setServer := func() { run(t, work, "git", "config", "pw.server", "http://"+srv.http+"/api/1.2") }
	setServer()
	pwRun := func(args ...string) (string, error) {
		cmd := exec.Command("git-pw", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1", "PAGER=cat", "GIT_PAGER=cat",
			"GIT_COMMITTER_NAME=Rea Der", "GIT_COMMITTER_EMAIL=reader@example.org")
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	pw := func(args ...string) string {
		t.Helper()
		out, err := pwRun(args...)
		if err != nil {
			t.Fatalf("git-pw %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	records := func(out string) [][]string {
		t.Helper()
		rs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("csv %q: %v", out, err)
		}
		return rs
	}
	// show is a bundle's properties and its patches' ids, in order.
	show := func(out string) (map[string]string, []string) {
		t.Helper()
		props := map[string]string{}
		var patches []string
		for _, r := range records(out) {
			if r[0] == "Patches" || r[0] == "" && len(patches) > 0 {
				id, _, _ := strings.Cut(strings.TrimSpace(r[1]), " ")
				patches = append(patches, id)
				continue
			}
			props[r[0]] = r[1]
		}
		return props, patches
	}

	// The series' patches, in order.
	var ps []struct {
		ID   int64
		Name string
	}
	if code := srv.getJSON(fmt.Sprintf("/api/1.2/patches/?series=%d&order=id", s.ID), &ps); code != 200 || len(ps) != 3 {
		t.Fatalf("patches of the series: %d %+v", code, ps)
	}
	ids := []string{fmt.Sprint(ps[0].ID), fmt.Sprint(ps[1].ID), fmt.Sprint(ps[2].ID)}

	// git pw bundle create (private by default) with the last patch.
	props, got := show(pw("bundle", "create", "todo", ids[2], "-f", "csv"))
	if props["Name"] != "todo" || props["Owner"] != "reader@example.org" || props["Project"] != "dev" || props["Public"] != "False" ||
		strings.Join(got, ",") != ids[2] {
		t.Fatalf("git pw bundle create: %q %q", props, got)
	}
	bid := props["ID"]
	if props["URL"] != "http://"+srv.http+"/bundle/"+bid+"/" {
		t.Errorf("bundle URL %q", props["URL"])
	}
	// add puts the new patches first (as git-pw sends them); remove
	// takes one out: patches 1 and 2, in order.
	_, got = show(pw("bundle", "add", bid, ids[0], ids[1], "-f", "csv"))
	if strings.Join(got, ",") != strings.Join(ids, ",") {
		t.Fatalf("git pw bundle add: %q, want %q", got, ids)
	}
	_, got = show(pw("bundle", "remove", bid, ids[2], "-f", "csv"))
	if strings.Join(got, ",") != ids[0]+","+ids[1] {
		t.Fatalf("git pw bundle remove: %q", got)
	}
	// show by name (git-pw looks it up with ?q=).
	if props, got = show(pw("bundle", "show", "todo", "-f", "csv")); props["ID"] != bid || len(got) != 2 {
		t.Fatalf("git pw bundle show todo: %q %q", props, got)
	}
	rs := records(pw("bundle", "list", "-f", "csv"))
	if len(rs) != 2 || rs[1][0] != bid || rs[1][1] != "todo" || rs[1][2] != "reader@example.org" || rs[1][3] != "no" {
		t.Fatalf("git pw bundle list: %q", rs)
	}

	// Private: another user's token and anonymous requests get 404, and
	// listings leave it out.
	apiGet := func(path, tok string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+srv.http+path, nil)
		switch {
		case tok != "" && strings.HasPrefix(path, "/api/"):
			req.Header.Set("Authorization", "Token "+tok) // as git-pw sends it
		case tok != "":
			req.Header.Set("Authorization", "Bearer "+tok) // the web's API tokens
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tok := range []string{"", maintTok} {
		for _, p := range []string{"/api/1.2/bundles/" + bid + "/", "/api/1.2/bundles/" + bid + "/mbox/", "/bundle/" + bid + "/", "/bundle/" + bid + "/mbox"} {
			if code := apiGet(p, tok); code != 404 {
				t.Errorf("private bundle %s with token %v: %d, want 404", p, tok != "", code)
			}
		}
	}
	var listed []struct{ ID int64 }
	if srv.getJSON("/api/1.2/bundles/", &listed); len(listed) != 0 {
		t.Errorf("anonymous bundle list: %+v", listed)
	}
	if apiGet("/api/1.2/bundles/"+bid+"/", readerTok) != 200 {
		t.Errorf("the owner's own private bundle")
	}

	// git pw bundle download, then git am of the mbox: the commits of
	// patches 1 and 2 on the base.
	mbox := filepath.Join(t.TempDir(), "todo.mbox")
	pw("bundle", "download", bid, mbox)
	run(t, work, "git", "am", "-q", mbox)
	if log := run(t, work, "git", "log", "--format=%s|%an", "-3"); log != "readme: world|Ada Lovelace\nadd a|Ada Lovelace\nbase|Ada Lovelace\n" {
		t.Errorf("git log after git am of the bundle:\n%s", log)
	}

	// Public now: the bundle page shows it to anyone.
	if props, _ := show(pw("bundle", "update", "--public", bid, "-f", "csv")); props["Public"] != "True" {
		t.Fatalf("git pw bundle update --public: %q", props)
	}
	page := get(t, "http://"+srv.http+"/bundle/"+bid+"/")
	for _, want := range []string{"todo", ps[0].Name, ps[1].Name, "/bundle/" + bid + "/mbox"} {
		if !strings.Contains(page, strings.ReplaceAll(want, "'", "&#39;")) {
			t.Errorf("bundle page lacks %q", want)
		}
	}
	if strings.Contains(page, ps[2].Name) {
		t.Errorf("bundle page shows the removed patch")
	}
	// Only the owner changes it.
	run(t, work, "git", "config", "pw.token", maintTok)
	if out, err := pwRun("bundle", "update", "--name", "mine", bid); err == nil || !strings.Contains(out, "403") && !strings.Contains(out, "permission") {
		t.Errorf("update by another user: %v\n%s", err, out)
	}
	run(t, work, "git", "config", "pw.token", readerTok)

	// patchwell reindex gives the patches new rows: the bundle keeps
	// them, by Message-ID (SQLite: reindex rebuilds a data directory).
	if os.Getenv("PATCHWELL_DB") == "" {
		srv.stop()
		if _, errs, code := cli(t, nil, "reindex", "--data", data); code != 0 {
			t.Fatalf("reindex: %s", errs)
		}
		srv = startServer(t, data, "--ci=false")
		setServer()
		props, got = show(pw("bundle", "show", bid, "-f", "csv"))
		if props["Name"] != "todo" || props["Public"] != "True" || len(got) != 2 {
			t.Fatalf("bundle after reindex: %q %q", props, got)
		}
		page = get(t, "http://"+srv.http+"/bundle/"+bid+"/")
		if !strings.Contains(page, strings.ReplaceAll(ps[1].Name, "'", "&#39;")) {
			t.Errorf("bundle page after reindex lacks %q", ps[1].Name)
		}
	}

	pw("bundle", "delete", bid)
	if code := apiGet("/api/1.2/bundles/"+bid+"/", readerTok); code != 404 {
		t.Errorf("deleted bundle: %d", code)
	}
}
