package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"patchwell/store/pgtest"
)

// TestExportImportAllE2E: a running server gets a series by git
// send-email, a status change, a check and a review comment (resolved)
// over the API; export --all while it runs, import --all into a new data
// directory (and into PostgreSQL when PATCHWELL_TEST_PG is set), and a
// server on the copy answers the JSON API byte for byte as the first did.
func TestExportImportAllE2E(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	t.Setenv("PATCHWELL_DB", "") // each store is chosen below
	data := t.TempDir()
	for _, args := range [][]string{
		{"list", "create", "dev", "--data", data},
		{"list", "create", "sec", "--data", data},
		{"list", "visibility", "sec", "private", "--data", data},
		{"user", "add", "maint@example.org", "--name", "Mae", "--data", data},
		{"user", "role", "maint@example.org", "dev", "maintainer", "--data", data},
		{"user", "role", "maint@example.org", "sec", "owner", "--data", data},
	} {
		if _, errs, code := cli(t, []byte("correct horse battery\n"), args...); code != 0 {
			t.Fatalf("%v: %s", args, errs)
		}
	}
	tok, errs, code := cli(t, nil, "user", "token", "maint@example.org", "test", "--data", data)
	if code != 0 {
		t.Fatalf("user token: %s", errs)
	}
	tok = strings.TrimSpace(tok)
	srv := startServer(t, data)
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "v1", "Add a and rename it")
	post := func(srv *testServer, path, body string, want int) []byte {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+srv.http+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != want {
			t.Fatalf("POST %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	series := fmt.Sprintf("/api/v1/series/%d", s.ID)
	post(srv, series+"/status", `{"status":"needs_revision","comment":"see the review"}`, http.StatusOK)
	post(srv, series+"/checks", `{"context":"ci/build","state":"success","description":"built","target_url":"https://ci.example.org/1"}`, http.StatusCreated)
	patch := s.Patches[0].MessageID
	for _, c := range []string{"Why 1?", "Name it."} {
		line := map[string]string{"Why 1?": "3", "Name it.": "1"}[c]
		post(srv, series+"/comments", `{"summary":"","comments":[{"patch_message_id":"`+patch+`","file":"a.c","side":"new","line":`+line+`,"body":"`+c+`"}]}`, http.StatusCreated)
	}
	get := func(srv *testServer, path string) []byte {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+srv.http+path, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, res.StatusCode, b)
		}
		return b
	}
	// Resolve the first comment (its reply's Message-ID from the API).
	var cs struct {
		Comments []struct {
			MessageID string `json:"message_id"`
			Line      int    `json:"line"`
		}
	}
	if err := json.Unmarshal(get(srv, series+"/comments"), &cs); err != nil || len(cs.Comments) != 2 {
		t.Fatalf("comments: %v %s", err, get(srv, series+"/comments"))
	}
	for _, c := range cs.Comments {
		if c.Line == 3 {
			post(srv, series+"/comments/resolve", `{"key":{"reply_message_id":"`+c.MessageID+`","patch_message_id":"`+patch+`","file":"a.c","side":"new","line":3},"resolved":true}`, http.StatusOK)
		}
	}
	paths := []string{"/api/v1/lists", "/api/v1/lists/dev", "/api/v1/lists/sec", "/api/v1/lists/dev/series", series,
		series + "/checks", series + "/comments", "/api/v1/lists/dev/subscribers"}
	before := map[string][]byte{}
	for _, p := range paths {
		before[p] = get(srv, p)
	}
	if !bytes.Contains(before[series], []byte("needs_revision")) || !bytes.Contains(before[series], []byte("ci/build")) ||
		!bytes.Contains(before[series+"/comments"], []byte(`"resolved":true`)) {
		t.Fatalf("the series before export lacks what the test is about:\n%s\n%s", before[series], before[series+"/comments"])
	}

	out := filepath.Join(t.TempDir(), "export")
	if _, errs, code := cli(t, nil, "export", "--all", "--with-secrets", "--data", data, "--out", out); code != 0 {
		t.Fatalf("export --all: %s", errs)
	}
	srv.stop()
	for _, name := range []string{"manifest.json", "accounts.json", "comments.json", "webhooks.json", "secrets.json",
		"series.json", "lists/dev.mbox", "lists/dev.json", "lists/sec.mbox", "lists/sec.json"} {
		if _, err := os.Stat(filepath.Join(out, name)); err != nil {
			t.Errorf("export --all wrote no %s", name)
		}
	}

	targets := [][]string{{"sqlite"}}
	if os.Getenv("PATCHWELL_TEST_PG") != "" {
		targets = append(targets, []string{"postgres", "--db", pgtest.URL(t)})
	}
	for _, target := range targets {
		t.Run(target[0], func(t *testing.T) {
			data2 := t.TempDir()
			args := append([]string{"import", "--all", "--data", data2}, target[1:]...)
			if _, errs, code := cli(t, nil, append(args, out)...); code != 0 {
				t.Fatalf("import --all: %s", errs)
			}
			// Into a store that is not empty: refused, exit 2, one line.
			_, errs, code := cli(t, nil, append(args, out)...)
			if code != 2 || strings.Count(strings.TrimSpace(errs), "\n") != 0 || !strings.Contains(errs, "not empty") {
				t.Errorf("import --all into a full store: exit %d, %q", code, errs)
			}
			srv2 := startServer(t, data2, target[1:]...)
			defer srv2.stop()
			for _, p := range paths {
				if got := get(srv2, p); !bytes.Equal(got, before[p]) {
					t.Errorf("GET %s after export and import:\n%s\nbefore:\n%s", p, got, before[p])
				}
			}
		})
	}
}

// TestImportAllRefusedE2E: import --all refuses a store with a list (exit
// 2), and a directory with a bad manifest or list name (exit 1), each in
// one line.
func TestImportAllRefusedE2E(t *testing.T) {
	t.Setenv("PATCHWELL_DB", "")
	data := t.TempDir()
	if _, errs, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatal(errs)
	}
	out := filepath.Join(t.TempDir(), "export")
	if _, errs, code := cli(t, nil, "export", "--all", "--data", data, "--out", out); code != 0 {
		t.Fatalf("export --all: %s", errs)
	}
	if _, errs, code := cli(t, nil, "import", "--all", "--data", data, out); code != 2 || !strings.Contains(errs, "not empty") {
		t.Errorf("import --all into a store with a list: exit %d, %q", code, errs)
	}
	man, err := os.ReadFile(filepath.Join(out, "manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ from, to, want string }{
		{`"format": 1`, `"format": 9`, "manifest.json: format 9"},
		{`"dev"`, `"a/b"`, `manifest.json: bad list name "a/b"`},
	} {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.CopyFS(bad, os.DirFS(out)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, "manifest.json"), bytes.Replace(man, []byte(c.from), []byte(c.to), 1), 0o644); err != nil {
			t.Fatal(err)
		}
		_, errs, code := cli(t, nil, "import", "--all", "--data", t.TempDir(), bad)
		if code != 1 || !strings.Contains(errs, c.want) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
			t.Errorf("import --all of a bad directory (%s): exit %d, %q", c.want, code, errs)
		}
	}
}
