package main

import (
	"bytes"
	"os"
	"os/exec"
	"patchwell/internal/testcorpus"
	"path/filepath"
	"strings"
	"testing"
)

// corpusPath is a file of the shared mail corpus (see internal/testcorpus).
func corpusPath(t *testing.T, rel string) string { return testcorpus.Path(t, rel) }

// cli runs the binary and returns stdout, stderr and the exit code.
func cli(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	return cliDir(t, "", stdin, args...)
}

// cliIn runs the binary in the working directory dir.
func cliIn(t *testing.T, dir string, args ...string) (string, string, int) {
	t.Helper()
	return cliDir(t, dir, nil, args...)
}

func cliDir(t *testing.T, dir string, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	e2eBackend(t)
	cmd := exec.Command(binary, args...)
	cmd.Dir = dir
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// TestImportExportRoundTrip imports an mbox (from a file and from stdin),
// exports it, and imports the export into another list: the same bytes.
func TestImportExportRoundTrip(t *testing.T) {
	mbox := corpusPath(t, "b4/trailers-thread-with-followups.mbox")
	data := t.TempDir()
	for _, l := range []string{"a", "b"} {
		if out, errs, code := cli(t, nil, "list", "create", l, "--data", data, "--description", "list "+l); code != 0 {
			t.Fatalf("list create: %d %s %s", code, out, errs)
		}
	}
	out, errs, code := cli(t, nil, "import", "--data", data, "--list", "a", mbox)
	if code != 0 || !strings.HasPrefix(out, "imported ") || strings.Contains(out, "imported 0,") {
		t.Fatalf("import: %d %q %q", code, out, errs)
	}
	raw, _ := os.ReadFile(mbox)
	out, _, code = cli(t, raw, "import", "--data", data, "--list", "a", "-")
	if code != 0 || !strings.HasPrefix(out, "imported 0,") {
		t.Fatalf("second import from stdin should find only duplicates: %d %q", code, out)
	}
	exp := filepath.Join(t.TempDir(), "a.mbox")
	if _, errs, code := cli(t, nil, "export", "--data", data, "--list", "a", "--out", exp); code != 0 {
		t.Fatalf("export: %d %s", code, errs)
	}
	if _, _, code := cli(t, nil, "import", "--data", data, "--list", "b", exp); code != 0 {
		t.Fatal("import of the export failed")
	}
	ea, _, _ := cli(t, nil, "export", "--data", data, "--list", "a")
	eb, _, _ := cli(t, nil, "export", "--data", data, "--list", "b")
	if ea == "" || ea != eb {
		t.Fatalf("export of the re-import differs (%d vs %d bytes)", len(ea), len(eb))
	}
	out, _, _ = cli(t, nil, "list", "ls", "--data", data)
	if !strings.Contains(out, "a\ta@patchwell.localhost\t") || !strings.Contains(out, "list b") {
		t.Fatalf("list ls: %q", out)
	}
	if out, _, code := cli(t, nil, "check", "--data", data); code != 0 || out != "ok\n" {
		t.Fatalf("check: %d %q", code, out)
	}
}

// TestCLIErrors: each bad command line gets exit code 2, each failure 1,
// and one line on stderr.
func TestCLIErrors(t *testing.T) {
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	for _, tc := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"list", "create", "Bad Name", "--data", data}, 2, "bad list name"},
		{[]string{"list", "create", "dev", "--data", data}, 1, "already exists"},
		{[]string{"import", "--data", data}, 2, "usage"},
		{[]string{"import", "--data", data, "--list", "nope", "x.mbox"}, 1, "not found"},
		{[]string{"import", "--data", data, "--list", "dev", "/does/not/exist"}, 1, "no such file"},
		{[]string{"export", "--data", data, "--list", "nope"}, 1, "not found"},
		{[]string{"export", "--all", "--data", data}, 2, "usage: patchwell export --all"},
		{[]string{"export", "--data", data, "--list", "dev", "--with-secrets"}, 2, "--with-secrets goes with --all"},
		{[]string{"import", "--all", "--data", data}, 2, "usage: patchwell import --all"},
		{[]string{"import", "--all", "--data", data, "/does/not/exist"}, 1, "manifest.json: lstat"},
		{[]string{"serve", "--bogus"}, 2, "flag provided but not defined"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errs, code := cli(t, nil, tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) || strings.Count(strings.TrimSpace(errs), "\n") != 0 {
				t.Fatalf("exit %d, stderr %q; want %d and one line with %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}

// TestReindexCLI rebuilds a data directory: same export, integrity check
// passes, and it refuses while a server holds the directory.
func TestReindexCLI(t *testing.T) {
	if os.Getenv("PATCHWELL_E2E_BACKEND") == "postgres" {
		t.Skip("reindex rebuilds a SQLite data directory (TestMigrateToPostgres covers PostgreSQL)")
	}
	mbox := corpusPath(t, "patchwork/series/revision-basic.mbox")
	data := t.TempDir()
	cli(t, nil, "list", "create", "dev", "--data", data)
	if _, errs, code := cli(t, nil, "import", "--data", data, "--list", "dev", mbox); code != 0 {
		t.Fatalf("import: %s", errs)
	}
	before, _, _ := cli(t, nil, "export", "--data", data, "--list", "dev")
	out, errs, code := cli(t, nil, "reindex", "--data", data)
	if code != 0 || !strings.Contains(out, "dev: 6 messages reindexed") {
		t.Fatalf("reindex: %d %q %q", code, out, errs)
	}
	after, _, _ := cli(t, nil, "export", "--data", data, "--list", "dev")
	if before == "" || before != after {
		t.Fatal("export differs after reindex")
	}
	if out, _, code := cli(t, nil, "check", "--data", data); code != 0 || out != "ok\n" {
		t.Fatalf("check after reindex: %d %q", code, out)
	}
	srv := startServer(t, data)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 2 || list.Series[0].Previous == nil {
		t.Fatalf("series after reindex: %+v", list.Series)
	}
	_, errs, code = cli(t, nil, "reindex", "--data", data)
	if code != 1 || !strings.Contains(errs, "in use") {
		t.Fatalf("reindex while serving: exit %d, %q", code, errs)
	}
}

// TestSubCLI: operator subscriptions, one by one and from a file, and
// the list policy command, with their errors.
func TestSubCLI(t *testing.T) {
	data := t.TempDir()
	if _, errOut, code := cli(t, nil, "list", "create", "dev", "--data", data); code != 0 {
		t.Fatalf("list create: %s", errOut)
	}
	if out, errOut, code := cli(t, nil, "sub", "add", "Ann@Example.org", "--list", "dev", "--name", "Ann", "--data", data); code != 0 || !strings.Contains(out, "subscribed ann@example.org") {
		t.Fatalf("sub add: %q %q %d", out, errOut, code)
	}
	if out, errOut, code := cli(t, []byte("# team\nbob@example.org\n\ncat@example.net\n"), "sub", "add", "--file", "-", "--list", "dev", "--data", data); code != 0 || !strings.Contains(out, "subscribed 2 addresses") {
		t.Fatalf("sub add --file: %q %q %d", out, errOut, code)
	}
	if _, errOut, code := cli(t, []byte("dan@example.org\nnot an address\n"), "sub", "add", "--file", "-", "--list", "dev", "--data", data); code != 1 || !strings.Contains(errOut, "-:2:") {
		t.Errorf("bad line: %q %d", errOut, code)
	}
	out, _, _ := cli(t, nil, "sub", "ls", "--list", "dev", "--data", data)
	if strings.Count(out, "active") != 4 {
		t.Errorf("sub ls:\n%s", out)
	}
	if _, _, code := cli(t, nil, "sub", "rm", "bob@example.org", "--list", "dev", "--data", data); code != 0 {
		t.Error("sub rm failed")
	}
	if _, errOut, code := cli(t, nil, "sub", "rm", "bob@example.org", "--list", "dev", "--data", data); code != 1 || !strings.Contains(errOut, "not found") {
		t.Errorf("second rm: %q %d", errOut, code)
	}
	if _, _, code := cli(t, nil, "sub", "add", "x@example.org", "--data", data); code != 2 {
		t.Errorf("sub add without --list: exit %d, want 2", code)
	}
	if out, errOut, code := cli(t, nil, "list", "policy", "dev", "--posting", "subscribers", "--deny", "@spam.example", "--data", data); code != 0 || !strings.Contains(out, "posting subscribers") || !strings.Contains(out, "deny @spam.example") {
		t.Errorf("policy: %q %q %d", out, errOut, code)
	}
	if _, _, code := cli(t, nil, "list", "policy", "dev", "--dmarc", "maybe", "--data", data); code != 2 {
		t.Errorf("bad dmarc action: exit %d, want 2", code)
	}
}
