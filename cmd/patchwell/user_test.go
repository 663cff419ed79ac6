package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUserCLI: accounts, roles, tokens and list visibility from the
// command line, then used against a running server.
func TestUserCLI(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	if _, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", corpusPath(t, "patchwork/series/revision-basic.mbox")); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	out, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", "Ann@Example.org", "--name", "Ann Maint", "--data", data)
	if code != 0 || out != "created user Ann@Example.org\n" {
		t.Fatalf("user add: %d %q %q", code, out, errs)
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("another good one\n"), 0o600)
	if out, errs, code := cli(t, nil, "user", "add", "root@example.org", "--admin", "--password-file", pw, "--data", data); code != 0 || !strings.Contains(out, "site admin") {
		t.Fatalf("user add --admin: %d %q %q", code, out, errs)
	}
	if out, errs, code := cli(t, nil, "user", "role", "ann@example.org", "dev", "maintainer", "--data", data); code != 0 || out != "Ann@Example.org on dev: maintainer\n" {
		t.Fatalf("user role: %d %q %q", code, out, errs)
	}
	out, _, _ = cli(t, nil, "user", "ls", "--data", data)
	if out != "Ann@Example.org\tAnn Maint\t\tdev:maintainer\nroot@example.org\t\tadmin\t\n" {
		t.Fatalf("user ls: %q", out)
	}
	tok, errs, code := cli(t, nil, "user", "token", "ann@example.org", "ci", "--data", data)
	tok = strings.TrimSpace(tok)
	if code != 0 || !strings.HasPrefix(tok, "pwt_") {
		t.Fatalf("user token: %d %q %q", code, tok, errs)
	}
	if out, _, code := cli(t, nil, "list", "visibility", "dev", "private", "--data", data); code != 0 || out != "list dev is private\n" {
		t.Fatalf("list visibility: %d %q", code, out)
	}
	if out, _, _ := cli(t, nil, "list", "ls", "--data", data); !strings.Contains(out, "\tprivate\t") {
		t.Fatalf("list ls does not show the visibility: %q", out)
	}

	srv := startServer(t, data)
	call := func(method, path, token, body string) (int, []byte) {
		req, _ := http.NewRequest(method, "http://"+srv.http+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, b
	}
	if code, _ := call("GET", "/api/v1/lists/dev/series", "", ""); code != http.StatusNotFound {
		t.Fatalf("private list, anonymous: %d", code)
	}
	code, body := call("GET", "/api/v1/lists/dev/series", tok, "")
	var list struct{ Series []struct{ ID int64 } }
	if json.Unmarshal(body, &list); code != 200 || len(list.Series) == 0 {
		t.Fatalf("private list, maintainer: %d %s", code, body)
	}
	path := "/api/v1/series/" + jsonID(list.Series[0].ID) + "/status"
	if code, body := call("POST", path, tok, `{"status":"approved","comment":"from ci"}`); code != 200 || !strings.Contains(string(body), `"to":"approved"`) {
		t.Fatalf("status change: %d %s", code, body)
	}
	if code, _ := call("POST", path, tok, `{"status":"approved"}`); code != http.StatusConflict {
		t.Fatalf("same status: %d", code)
	}
	// The password works on the sign-in form.
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := nr.PostForm("http://"+srv.http+"/signin", url.Values{"email": {"ann@example.org"}, "password": {"correct horse battery"}})
	if err != nil || res.StatusCode != http.StatusSeeOther || len(res.Cookies()) != 1 {
		t.Fatalf("sign-in: %v %v", res, err)
	}
	res.Body.Close()
	srv.stop()
	// The role can be taken away.
	if _, _, code := cli(t, nil, "user", "role", "ann@example.org", "dev", "none", "--data", data); code != 0 {
		t.Fatal("user role none")
	}
	if out, _, _ := cli(t, nil, "user", "ls", "--data", data); strings.Contains(out, "dev:") {
		t.Fatalf("role still listed: %q", out)
	}
}

func jsonID(id int64) string { b, _ := json.Marshal(id); return string(b) }

// TestUserPasswdDisable: user passwd signs the account out everywhere;
// user disable stops its sessions, token, role and password at once on a
// running server, its mail staying in the archive; user enable brings
// the token and role back, not the sessions.
func TestUserPasswdDisable(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	// A patch by the account's owner.
	const who = "ann@example.org"
	mbox := filepath.Join(t.TempDir(), "ann.mbox")
	os.WriteFile(mbox, []byte("From ann@example.org Mon Jan  1 00:00:00 2024\n"+
		"From: Ann <ann@example.org>\nTo: dev@example.org\nSubject: [PATCH] fix the thing\n"+
		"Message-ID: <ann-1@example.org>\nDate: Mon, 1 Jan 2024 00:00:00 +0000\n\n"+
		"Fix it.\n\nSigned-off-by: Ann <ann@example.org>\n---\n"+
		"diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n"), 0o600)
	if _, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", mbox); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", who, "--name", "Ann", "--data", data); code != 0 {
		t.Fatalf("user add: %s", errs)
	}
	cli(t, nil, "user", "role", who, "dev", "maintainer", "--data", data)
	tok, _, _ := cli(t, nil, "user", "token", who, "ci", "--data", data)
	tok = strings.TrimSpace(tok)
	srv := startServer(t, data)
	base := "http://" + srv.http
	nr := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	signin := func(password string) (int, *http.Cookie) {
		t.Helper()
		res, err := nr.PostForm(base+"/signin", url.Values{"email": {who}, "password": {password}})
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for _, c := range res.Cookies() {
			if c.Name == "patchwell_session" {
				return res.StatusCode, c
			}
		}
		return res.StatusCode, nil
	}
	signedIn := func(c *http.Cookie) bool {
		t.Helper()
		req, _ := http.NewRequest("GET", base+"/account", nil)
		req.AddCookie(c)
		res, err := nr.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	}
	var series struct{ Series []struct{ ID int64 } }
	if code := srv.getJSON("/api/v1/lists/dev/series", &series); code != 200 || len(series.Series) == 0 {
		t.Fatalf("series: %d %v", code, series)
	}
	setStatus := func(status string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/api/v1/series/"+jsonID(series.Series[0].ID)+"/status", strings.NewReader(`{"status":"`+status+`"}`))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}

	_, laptop := signin("correct horse battery")
	_, phone := signin("correct horse battery")
	if laptop == nil || phone == nil || !signedIn(laptop) || !signedIn(phone) {
		t.Fatal("sign-in failed")
	}
	pw := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pw, []byte("battery staple horse\n"), 0o600)
	if out, errs, code := cli(t, nil, "user", "passwd", who, "--password-file", pw, "--data", data); code != 0 || !strings.Contains(out, "changed") {
		t.Fatalf("user passwd: %d %q %q", code, out, errs)
	}
	if signedIn(laptop) || signedIn(phone) {
		t.Fatalf("sessions from before user passwd still signed in (laptop %v, phone %v)", signedIn(laptop), signedIn(phone))
	}
	code, c := signin("battery staple horse")
	if code != http.StatusSeeOther || c == nil {
		t.Fatalf("sign-in with the new password: %d", code)
	}

	if code := setStatus("approved"); code != 200 {
		t.Fatalf("status change with the token: %d", code)
	}
	if out, errs, code := cli(t, nil, "user", "disable", who, "--data", data); code != 0 || out != who+" disabled\n" {
		t.Fatalf("user disable: %d %q %q", code, out, errs)
	}
	if signedIn(c) {
		t.Error("the session of a disabled account still signed in")
	}
	if code := setStatus("rejected"); code != http.StatusUnauthorized {
		t.Errorf("the token of a disabled account: %d, want 401", code)
	}
	if code, c := signin("battery staple horse"); code != http.StatusForbidden || c != nil {
		t.Errorf("sign-in to a disabled account: %d %v, want 403 and no cookie", code, c)
	}
	if out, _, _ := cli(t, nil, "user", "ls", "--data", data); !strings.Contains(out, who+"\tAnn\tdisabled\tdev:maintainer\n") {
		t.Errorf("user ls does not show the account disabled: %q", out)
	}
	// The account's mail stays in the archive.
	var after struct{ Series []struct{ ID int64 } }
	if code := srv.getJSON("/api/v1/lists/dev/series", &after); code != 200 || len(after.Series) != len(series.Series) {
		t.Errorf("series after disabling: %d %v, want %d", code, after, len(series.Series))
	}

	if out, errs, code := cli(t, nil, "user", "enable", who, "--data", data); code != 0 || out != who+" enabled\n" {
		t.Fatalf("user enable: %d %q %q", code, out, errs)
	}
	if code := setStatus("rejected"); code != 200 {
		t.Errorf("the token (and role) after enabling: %d, want 200", code)
	}
	if signedIn(c) {
		t.Error("a session ended by user disable is back after user enable")
	}
	if out, _, _ := cli(t, nil, "user", "ls", "--data", data); !strings.Contains(out, who+"\tAnn\t\tdev:maintainer\n") {
		t.Errorf("user ls after enabling: %q", out)
	}
}

// getJSONAuth is getJSON with a bearer token.
func (s *testServer) getJSONAuth(path, token string, v any) int {
	s.t.Helper()
	req, _ := http.NewRequest("GET", "http://"+s.http+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("GET %s: %v", path, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			s.t.Fatalf("GET %s: %v: %s", path, err, body)
		}
	}
	return res.StatusCode
}

// TestUserCLIErrors: exit code 2 for bad command lines, 1 for failures,
// one line on stderr.
func TestUserCLIErrors(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	cli(t, []byte("correct horse battery\n"), "user", "add", "ann@example.org", "--data", data)
	for _, tc := range []struct {
		stdin string
		args  []string
		code  int
		msg   string
	}{
		{"", []string{"user"}, 2, "usage"},
		{"", []string{"user", "frob"}, 2, "unknown user command"},
		{"", []string{"user", "add"}, 2, "usage"},
		{"correct horse battery\n", []string{"user", "add", "ann@EXAMPLE.org"}, 1, "already exists"},
		{"short\n", []string{"user", "add", "bob@example.org"}, 1, "password must be"},
		{"", []string{"user", "add", "bob@example.org"}, 1, "no password given"},
		{"correct horse battery\n", []string{"user", "add", "not-an-address"}, 1, "invalid"},
		{"", []string{"user", "add", "bob@example.org", "--password-file", "/does/not/exist"}, 1, "no such file"},
		{"", []string{"user", "role", "ann@example.org", "dev", "king"}, 2, "bad role"},
		{"", []string{"user", "role", "bob@example.org", "dev", "owner"}, 1, "not found"},
		{"", []string{"user", "role", "ann@example.org", "nope", "owner"}, 1, "not found"},
		{"", []string{"user", "token", "bob@example.org", "ci"}, 1, "not found"},
		{"", []string{"user", "token", "ann@example.org", " "}, 1, "token name"},
		{"", []string{"user", "disable"}, 2, "usage"},
		{"", []string{"user", "enable", "ann@example.org", "x"}, 2, "usage"},
		{"", []string{"user", "disable", "bob@example.org"}, 1, "not found"},
		{"", []string{"user", "enable", "bob@example.org"}, 1, "not found"},
		{"", []string{"list", "visibility", "dev", "secret"}, 2, "bad visibility"},
		{"", []string{"list", "visibility", "nope", "private"}, 1, "not found"},
		{"", []string{"list", "visibility", "dev"}, 2, "usage"},
		{"", []string{"list", "create", "x", "--visibility", "hidden"}, 2, "bad visibility"},
		{"", []string{"list", "create", "account"}, 2, "bad list name"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errs, code := cli(t, []byte(tc.stdin), append(tc.args, "--data", data)...)
			if code != tc.code || !strings.Contains(errs, tc.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want %d and one line with %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}
