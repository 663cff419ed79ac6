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

// getJSONAuth is getJSON with a bearer token.
func (s *server) getJSONAuth(path, token string, v any) int {
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
