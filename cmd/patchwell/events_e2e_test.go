package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestGitPWEvents: after a series sent with git send-email, a state
// changed with Debian's git-pw and a check posted with curl as snowpatch
// posts it, patchwork's events API (curl /api/1.2/events/) tells each,
// with its actor.
func TestGitPWEvents(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "git-pw", "--version")
	needTool(t, "curl", "--version")
	data := t.TempDir()
	srv := startServer(t, data, "--ci=false")
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "maint@example.org", "--name", "Mai Ntainer", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", "maint@example.org", "dev", "maintainer", "--data", data)
	tok, errs, code := cli(t, nil, "user", "token", "maint@example.org", "git-pw", "--data", data)
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	tok = strings.TrimSpace(tok)
	s := sendSeries(t, srv, makeRepo(t), "v1", "Tell the events")
	api := "http://" + srv.http + "/api/1.2"

	curl := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command("curl", append([]string{"-sS", "--fail-with-body"}, args...)...).Output()
		if err != nil {
			t.Fatalf("curl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	type event struct {
		ID       int64
		Category string
		Actor    *struct{ Email string }
		Project  struct {
			LinkName string `json:"link_name"`
		}
		Payload map[string]json.RawMessage
	}
	events := func(query string) []event {
		t.Helper()
		var out []event
		if b := curl(api + "/events/?" + query); json.Unmarshal(b, &out) != nil {
			t.Fatalf("events?%s = %s", query, b)
		}
		return out
	}

	// The series' creation: its patches and the series, complete.
	var patches []struct{ ID int64 }
	if err := json.Unmarshal(curl(fmt.Sprintf("%s/patches/?series=%d&order=id", api, s.ID)), &patches); err != nil || len(patches) != 3 {
		t.Fatalf("patches of series %d: %v %v", s.ID, patches, err)
	}
	if n := len(events("project=dev&category=patch-created")); n != 3 {
		t.Errorf("patch-created: %d events, want 3", n)
	}
	if evs := events(fmt.Sprintf("category=series-completed&series=%d", s.ID)); len(evs) != 1 || evs[0].Actor != nil {
		t.Errorf("series-completed = %+v", evs)
	}

	// git pw patch update --state accepted, in a repository set up for it.
	work := t.TempDir()
	run(t, work, "git", "init", "-q")
	run(t, work, "git", "config", "pw.server", api)
	run(t, work, "git", "config", "pw.token", tok)
	run(t, work, "git", "config", "pw.project", "dev")
	cmd := exec.Command("git-pw", "patch", "update", "--state", "accepted", fmt.Sprint(patches[0].ID))
	cmd.Dir, cmd.Env = work, append(os.Environ(), "HOME="+work, "GIT_CONFIG_NOSYSTEM=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git pw patch update: %v\n%s", err, out)
	}

	// A check as snowpatch posts it, with curl.
	curl("-X", "POST", "-H", "Authorization: Token "+tok, "-H", "Content-Type: application/json",
		"--data", `{"state": "success", "target_url": "https://ci.example.org/job/9/", "context": "snowpatch-test", "description": "all tests pass"}`,
		fmt.Sprintf("%s/patches/%d/checks/", api, patches[1].ID))

	evs := events("category=patch-state-changed")
	if len(evs) != 1 || evs[0].Category != "patch-state-changed" || evs[0].Actor == nil || evs[0].Actor.Email != "maint@example.org" ||
		evs[0].Project.LinkName != "dev" || string(evs[0].Payload["previous_state"]) != `"new"` || string(evs[0].Payload["current_state"]) != `"accepted"` ||
		!strings.Contains(string(evs[0].Payload["patch"]), fmt.Sprintf(`"id":%d,`, patches[0].ID)) {
		t.Errorf("patch-state-changed = %+v", evs)
	}
	evs = events("category=check-created")
	if len(evs) != 1 || evs[0].Actor == nil || evs[0].Actor.Email != "maint@example.org" ||
		!strings.Contains(string(evs[0].Payload["check"]), `"context":"snowpatch-test"`) ||
		!strings.Contains(string(evs[0].Payload["patch"]), fmt.Sprintf(`"id":%d,`, patches[1].ID)) {
		t.Errorf("check-created = %+v", evs)
	}
	// Newest first: the check, then the state change, then the series.
	if all := events("project=dev"); len(all) < 3 || all[0].Category != "check-created" || all[1].Category != "patch-state-changed" {
		t.Errorf("events, newest first: %+v", all)
	}
	// A bot's poll since now: nothing new.
	if evs := events("since=2100-01-01T00:00:00"); len(evs) != 0 {
		t.Errorf("events since 2100: %+v", evs)
	}
}
