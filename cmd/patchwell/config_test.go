package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConfigExample: the documented example file passes config check,
// and config print of it reads back to the same configuration (the
// round trip: every serve flag is a key).
func TestConfigExample(t *testing.T) {
	example, err := filepath.Abs(filepath.Join("..", "..", "docs", "patchwell.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := cli(t, nil, "config", "check", example)
	if code != 0 || !strings.Contains(out, "ok") {
		t.Fatalf("config check of the example: exit %d\n%s%s", code, out, errs)
	}
	first, errs, code := cli(t, nil, "config", "print", "--config", example)
	if code != 0 {
		t.Fatalf("config print: exit %d: %s", code, errs)
	}
	for _, want := range []string{"domain = 'lists.example.org'", "ci-grace = '30m0s'", "secure-cookies = true",
		"proxy-protocol-from = '127.0.0.1'", "max-message-size = 33554432", "\n# SMTP listen address"} {
		if !strings.Contains(first, want) {
			t.Errorf("config print lacks %q:\n%s", want, first)
		}
	}
	printed := filepath.Join(t.TempDir(), "printed.toml")
	if err := os.WriteFile(printed, []byte(first), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errs, code := cli(t, nil, "config", "check", printed); code != 0 {
		t.Fatalf("config check of config print's output: exit %d\n%s%s", code, out, errs)
	}
	second, _, _ := cli(t, nil, "config", "print", "--config", printed)
	if second != first {
		t.Errorf("config print of config print's output differs:\n%s\n---\n%s", first, second)
	}
	// A flag on the command line wins over the file.
	if out, _, _ := cli(t, nil, "config", "print", "--config", example, "--domain", "other.example"); !strings.Contains(out, "domain = 'other.example'") {
		t.Errorf("--domain did not win over the file:\n%s", out)
	}
	// The database URL's password is not printed.
	t.Setenv("PATCHWELL_DB", "postgres://u:secret@db.example/p")
	if out, _, _ := cli(t, nil, "config", "print"); strings.Contains(out, "secret") || !strings.Contains(out, "db.example") {
		t.Errorf("config print with $PATCHWELL_DB:\n%s", out)
	}
}

// TestConfigMistakes: every mistake of a file is reported with its file
// and line, exit 2, and serve refuses to start on it.
func TestConfigMistakes(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("smtp = \":2525\"\nsmpt = \":25\"\nci-grace = \"soon\"\n\n[[list]]\nname = \"Dev\"\nposting = \"wide\"\ncolour = \"red\"\n\n[[lists]]\nname = \"x\"\n"), 0o644)
	for _, args := range [][]string{{"config", "check", bad}, {"serve", "--config", bad, "--data", t.TempDir()}} {
		out, errs, code := cli(t, nil, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errs)
		}
		for _, want := range []string{bad + `:2: unknown key "smpt"`, bad + `:3: ci-grace = "soon": parse error (a duration`,
			bad + `:6: name: bad list name "Dev"`, bad + `:7: posting: "wide": open, subscribers or moderated`,
			bad + ":8: colour: unknown key", bad + ":10: unknown table [[lists]]"} {
			if !strings.Contains(errs, want) {
				t.Errorf("%v: stderr lacks %q:\n%s", args, want, errs)
			}
		}
	}
	if _, errs, code := cli(t, nil, "config", "check", filepath.Join(t.TempDir(), "none.toml")); code != 2 || !strings.Contains(errs, "no such file") {
		t.Errorf("a missing file: exit %d: %s", code, errs)
	}
	notToml := filepath.Join(t.TempDir(), "x.toml")
	os.WriteFile(notToml, []byte("smtp = \n"), 0o644)
	if _, errs, code := cli(t, nil, "config", "check", notToml); code != 2 || !strings.Contains(errs, notToml+":1:") {
		t.Errorf("not TOML: exit %d: %s", code, errs)
	}
}

// TestConfigLists: serve --config creates the lists the file declares,
// with their visibility, policy and maintainers; after the file changes,
// SIGHUP makes the store say what it says now.
func TestConfigLists(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	for _, u := range []string{"m1@example.org", "m2@example.org"} {
		if _, errs, code := cli(t, []byte("correct horse battery\n"), "user", "add", u, "--data", data); code != 0 {
			t.Fatalf("user add: %s", errs)
		}
	}
	conf := filepath.Join(t.TempDir(), "patchwell.toml")
	write := func(text string) {
		if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`domain = "lists.example.org"
http = "127.0.0.1:1"   # the command line's --http wins

[[list]]
name = "alpha"
description = "the first"
visibility = "private"
posting = "moderated"
maintainers = ["m1@example.org", "ghost@example.org"]
`)
	srv := startServer(t, data, "--config", conf)
	lists := func() string {
		t.Helper()
		out, errs, code := cli(t, nil, "list", "ls", "--data", data, "--domain", "lists.example.org")
		if code != 0 {
			t.Fatalf("list ls: %s", errs)
		}
		return out
	}
	users := func() string {
		out, _, _ := cli(t, nil, "user", "ls", "--data", data)
		return out
	}
	if ls := lists(); !strings.Contains(ls, "alpha\talpha@lists.example.org\tprivate") || !strings.Contains(ls, "the first") {
		t.Errorf("list ls after start:\n%s", ls)
	}
	if us := users(); !strings.Contains(us, "alpha:maintainer") {
		t.Errorf("user ls after start:\n%s", us)
	}
	if !strings.Contains(srv.logText(), "ghost@example.org has no account") {
		t.Errorf("the missing account was not logged:\n%s", srv.logText())
	}
	page := string(httpGet(t, "http://"+srv.http+"/"))
	if strings.Contains(page, "alpha") {
		t.Errorf("the private list shows on the home page")
	}

	write(`domain = "lists.example.org"

[[list]]
name = "alpha"
visibility = "public"
maintainers = ["m2@example.org"]

[[list]]
name = "beta"
`)
	srv.cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(lists(), "beta\t") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	ls := lists()
	if !strings.Contains(ls, "alpha\talpha@lists.example.org\tpublic") || !strings.Contains(ls, "beta\t") || !strings.Contains(ls, "the first") {
		t.Errorf("list ls after SIGHUP:\n%s", ls)
	}
	us := users()
	for _, line := range strings.Split(us, "\n") {
		if strings.HasPrefix(line, "m1@") && strings.Contains(line, "alpha:") || strings.HasPrefix(line, "m2@") && !strings.Contains(line, "alpha:maintainer") {
			t.Errorf("user ls after SIGHUP (m1 undeclared, m2 declared):\n%s", us)
		}
	}
	if !strings.Contains(srv.logText(), "SIGHUP: configuration's lists reconciled") {
		t.Errorf("no log line for SIGHUP:\n%s", srv.logText())
	}
	// A broken file on SIGHUP changes nothing and the server goes on.
	write("[[list]]\nname = \"Bad\"\n")
	srv.cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(srv.logText(), "configuration not applied") && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(srv.logText(), "configuration not applied") || !strings.Contains(srv.logText(), conf+":2") {
		t.Errorf("a bad file on SIGHUP was not reported with its line:\n%s", srv.logText())
	}
	if code := srv.getJSON("/api/v1/lists", nil); code != 200 {
		t.Errorf("server after a bad SIGHUP: %d", code)
	}
}
