package main

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestGitPW drives Debian's git-pw (2.0) against a running server through
// patchwork's REST API: series and patch lists, a patch shown and updated
// (state, delegate, commit ref; the series follows), a series applied to
// a real repository; a check posted as snowpatch posts it shows on the
// series page; a private list's patches are invisible without a role.
func TestGitPW(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "git-pw", "--version")
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false")
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mai Ntainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "reader@example.org", "--name", "Rea Der", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	tok, errs, code := cli(t, nil, "user", "token", "maint@example.org", "git-pw", "--data", data)
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	tok = strings.TrimSpace(tok)
	readerTok, _, _ := cli(t, nil, "user", "token", "reader@example.org", "git-pw", "--data", data)
	readerTok = strings.TrimSpace(readerTok)

	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Teach git-pw")

	// A clone at the series' base, where git-pw runs.
	work := t.TempDir()
	run(t, work, "git", "clone", "-q", repo, "w")
	work = filepath.Join(work, "w")
	run(t, work, "git", "reset", "-q", "--hard", "HEAD~3")
	api := "http://" + srv.http + "/api/1.2"
	run(t, work, "git", "config", "pw.server", api)
	run(t, work, "git", "config", "pw.token", tok)
	run(t, work, "git", "config", "pw.project", "dev")
	run(t, work, "git", "config", "user.name", "Mai Ntainer")
	run(t, work, "git", "config", "user.email", "maint@example.org")
	pw := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git-pw", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1", "PAGER=cat", "GIT_PAGER=cat",
			"GIT_COMMITTER_NAME=Mai Ntainer", "GIT_COMMITTER_EMAIL=maint@example.org")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git-pw %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	records := func(out string) [][]string {
		t.Helper()
		rs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
		if err != nil {
			t.Fatalf("csv %q: %v", out, err)
		}
		return rs
	}

	// git pw series list: the one series, with its id and version.
	rs := records(pw("series", "list", "-f", "csv"))
	if len(rs) != 2 || rs[1][0] != fmt.Sprint(s.ID) || !strings.Contains(rs[1][2], "Teach git-pw") || rs[1][3] != "1" ||
		!strings.Contains(rs[1][4], "ada@example.org") {
		t.Fatalf("git pw series list = %q", rs)
	}

	// git pw patch list --state new: the three patches.
	rs = records(pw("patch", "list", "--state", "new", "-f", "csv"))
	if len(rs) != 4 {
		t.Fatalf("git pw patch list --state new = %q", rs)
	}
	var ids []string
	for _, r := range rs[1:] {
		if r[4] != "new" || r[5] != "no" {
			t.Errorf("patch row %q: want state new, not archived", r)
		}
		ids = append(ids, r[0])
	}
	if !strings.Contains(rs[1][2]+rs[2][2]+rs[3][2], "rename a to b") {
		t.Errorf("patch names: %q", rs)
	}

	// git pw patch show N: property, value.
	props := func(out string) map[string]string {
		m := map[string]string{}
		for _, r := range records(out) {
			m[r[0]] = r[1]
		}
		return m
	}
	show := props(pw("patch", "show", ids[0], "-f", "csv"))
	for k, want := range map[string]string{"ID": ids[0], "State": "new", "Project": "dev", "Archived": "False",
		"Submitter": "Ada Lovelace (ada@example.org)", "Series": fmt.Sprintf("%d    Teach git-pw", s.ID)} {
		if show[k] != want {
			t.Errorf("git pw patch show: %s = %q, want %q", k, show[k], want)
		}
	}
	if !strings.HasPrefix(show["Message ID"], "<") || !strings.Contains(show["Name"], "[PATCH") {
		t.Errorf("git pw patch show: %q", show)
	}

	// git pw patch update --state accepted --delegate EMAIL N.
	up := props(pw("patch", "update", "--state", "accepted", "--delegate", "maint@example.org", ids[0], "-f", "csv"))
	if up["State"] != "accepted" || up["Delegate"] != "maint@example.org" {
		t.Errorf("git pw patch update: %q", up)
	}
	var p struct {
		State    string
		Delegate struct{ Email string }
		Check    string
	}
	if code := srv.getJSON("/api/1.2/patches/"+ids[0]+"/", &p); code != 200 || p.State != "accepted" || p.Delegate.Email != "maint@example.org" {
		t.Errorf("patch after update: %d %+v", code, p)
	}
	// A delegate must maintain the list: git-pw does not even find
	// another user (users/ lists the lists' maintainers only).
	cmd := exec.Command("git-pw", "patch", "update", "--delegate", "reader@example.org", ids[1])
	cmd.Dir, cmd.Env = work, append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "No matching delegates found") {
		t.Errorf("delegate who is no maintainer: %v\n%s", err, out)
	}
	// The other two accepted with their commits: all accepted, the
	// series follows (approved: the first patch has no commit ref).
	pw("patch", "update", "--state", "accepted", "--commit-ref", "0123456789abcdef", ids[1], ids[2])
	var v1 apiSeries
	srv.getJSON(fmt.Sprintf("/api/v1/series/%d", s.ID), &v1)
	if v1.Status != "approved" {
		t.Errorf("series status after all patches accepted = %q, want approved", v1.Status)
	}
	if rs := records(pw("patch", "list", "--state", "new", "-f", "csv")); len(rs) != 1 {
		t.Errorf("new patches after accepting all: %q", rs)
	}
	if rs := records(pw("patch", "list", "--state", "accepted", "-f", "csv")); len(rs) != 4 {
		t.Errorf("accepted patches: %q", rs)
	}

	// git pw series apply N: git am in the clone.
	pw("series", "apply", fmt.Sprint(s.ID))
	logOut := run(t, work, "git", "log", "--format=%s|%an", "-4")
	want := "rename a to b|Ada Lovelace\nreadme: world|Ada Lovelace\nadd a|Ada Lovelace\nbase|Ada Lovelace\n"
	if logOut != want {
		t.Errorf("git log after git pw series apply:\n%s\nwant:\n%s", logOut, want)
	}
	if b, err := os.ReadFile(filepath.Join(work, "b.c")); err != nil || !strings.Contains(string(b), "return 1;") {
		t.Errorf("b.c after apply: %q %v", b, err)
	}

	// A check as snowpatch posts it (JSON, Token auth) on the second patch.
	body := `{"state": "fail", "target_url": "https://ci.example.org/job/7/", "context": "snowpatch-build", "description": "build failed on ppc64le"}`
	req, _ := http.NewRequest("POST", api+"/patches/"+ids[1]+"/checks/", strings.NewReader(body))
	req.Header.Set("Authorization", "Token "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c struct {
		ID                               int64
		State, Context, Description, URL string
		TargetURL                        string `json:"target_url"`
		User                             struct{ Email string }
	}
	if err := json.Unmarshal(rb, &c); resp.StatusCode != 201 || err != nil || c.State != "fail" || c.Context != "snowpatch-build" ||
		c.TargetURL != "https://ci.example.org/job/7/" || c.User.Email != "maint@example.org" {
		t.Fatalf("POST check = %d %s", resp.StatusCode, rb)
	}
	page := get(t, "http://"+srv.http+fmt.Sprintf("/series/%d/", s.ID))
	for _, want := range []string{"snowpatch-build", "build failed on ppc64le", "https://ci.example.org/job/7/"} {
		if !strings.Contains(page, want) {
			t.Errorf("series page lacks %q", want)
		}
	}
	if srv.getJSON("/api/1.2/patches/"+ids[1]+"/", &p); p.Check != "fail" {
		t.Errorf("patch check = %q, want fail", p.Check)
	}
	if srv.getJSON("/api/1.2/patches/"+ids[2]+"/", &p); p.Check != "pending" {
		t.Errorf("other patch's check = %q, want pending (none)", p.Check)
	}
	// Without a token a check is refused.
	resp, err = http.Post(api+"/patches/"+ids[1]+"/checks/", "application/json", strings.NewReader(body))
	if err != nil || resp.StatusCode != 401 {
		t.Errorf("anonymous check: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()

	// A private list: its patch is invisible without a role.
	cli(t, nil, "list", "create", "sec", "--data", data, "--visibility", "private")
	cli(t, nil, "user", "role", "maint@example.org", "sec", "maintainer", "--data", data)
	sendRaw(t, srv.smtp, "maint@example.org", []string{"sec@patchwell.localhost"}, "From: Mai Ntainer <maint@example.org>\r\n"+
		"To: sec@patchwell.localhost\r\nSubject: [PATCH] fix the hole\r\nMessage-ID: <hole@example.org>\r\n"+
		"Date: "+time.Now().Format(time.RFC1123Z)+"\r\n\r\nFix it.\r\n---\r\n"+
		"diff --git a/a.txt b/a.txt\r\n--- a/a.txt\r\n+++ b/a.txt\r\n@@ -1 +1 @@\r\n-old\r\n+new\r\n")
	type item struct {
		ID      int64
		Project struct{ Name string }
	}
	list := func(token, path string) (int, []item) {
		req, _ := http.NewRequest("GET", "http://"+srv.http+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Token "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out []item
		json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out
	}
	code, secs := list(tok, "/api/1.2/patches/?project=sec")
	if code != 200 || len(secs) != 1 || secs[0].Project.Name != "sec" {
		t.Fatalf("maintainer's sec patches: %d %+v", code, secs)
	}
	secID := fmt.Sprint(secs[0].ID)
	for _, who := range []string{"", readerTok} {
		if code, _ := list(who, "/api/1.2/patches/?project=sec"); code != 404 {
			t.Errorf("sec patches for %q: %d, want 404", who, code)
		}
		if code, _ := list(who, "/api/1.2/patches/"+secID+"/"); code != 404 {
			t.Errorf("sec patch for %q: %d, want 404", who, code)
		}
		code, all := list(who, "/api/1.2/patches/?per_page=100")
		for _, it := range all {
			if it.Project.Name == "sec" {
				t.Errorf("all patches for %q include sec's: %d %+v", who, code, it)
			}
		}
		if len(all) != 3 {
			t.Errorf("all patches for %q: %d, want dev's 3", who, len(all))
		}
		if code, _ := list(who, "/api/1.2/projects/sec/"); code != 404 {
			t.Errorf("sec project for %q: %d", who, code)
		}
	}
}

func get(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s = %d", u, resp.StatusCode)
	}
	return string(b)
}
