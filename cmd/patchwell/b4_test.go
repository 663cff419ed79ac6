package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"html"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fromLine is a commit message line that looks like the separator git
// format-patch writes: an mbox reader that does not escape it cuts the
// patch in two.
const fromLine = "From 1234567890abcdef1234567890abcdef12345678 Mon Sep 17 00:00:00 2001"

// b4Config is the .b4-config README documents for a list.
func b4Config(httpAddr, list string) string {
	base := "http://" + httpAddr + "/" + list + "/"
	return "[b4]\n\tmidmask = " + base + "%s\n\tlinkmask = " + base + "%s\n\tsearchmask = " + base + "?x=m&t=1&q=%s\n" +
		"\tsend-endpoint-web = http://" + httpAddr + "/_b4_submit\n"
}

// b4In runs the real b4 in dir (a repository, for shazam) with a private
// HOME whose git config holds cfg, and returns its output.
func b4In(t *testing.T, dir, cfg string, args ...string) string {
	t.Helper()
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return b4Home(t, dir, home, args...)
}

// b4Home runs the real b4 in dir with HOME home (its git config as it
// is, plus a user identity) and returns its output.
func b4Home(t *testing.T, dir, home string, args ...string) string {
	t.Helper()
	gc := filepath.Join(home, ".gitconfig")
	old, _ := os.ReadFile(gc)
	if err := os.WriteFile(gc, append([]byte("[user]\n\tname = Maintainer\n\temail = m@example.org\n"), old...), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("b4", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_DATA_HOME="+filepath.Join(home, ".local"), "XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"GIT_CONFIG_NOSYSTEM=1", "GIT_COMMITTER_NAME=Maintainer", "GIT_COMMITTER_EMAIL=m@example.org")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("b4 %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestB4Shazam sends a series with git send-email and applies it with the
// real `b4 shazam` onto the base of a clone, configured only by the
// .b4-config README documents (in the repository, where b4 looks for it):
// the commits and the tree are the sender's.
func TestB4Shazam(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "b4", "--version")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	series := sendSeries(t, srv, repo, "sh", "Add a and rename it")
	// The configuration the list page gives, in both of its forms.
	page := string(httpGet(t, "http://"+srv.http+"/dev/"))
	file, commands := pageBlock(t, page, "b4-config"), pageBlock(t, page, "b4-git-config")
	if file != b4Config(srv.http, "dev") {
		t.Errorf("the list page's .b4-config:\n%s\nwant:\n%s", file, b4Config(srv.http, "dev"))
	}
	for _, form := range []string{".b4-config", "git config --global"} {
		t.Run(form, func(t *testing.T) {
			clone := t.TempDir()
			run(t, clone, "git", "clone", "-q", repo, ".")
			run(t, clone, "git", "checkout", "-q", "-b", "work", "HEAD~3")
			home := t.TempDir()
			if form == ".b4-config" {
				if err := os.WriteFile(filepath.Join(clone, ".b4-config"), []byte(file), 0o644); err != nil {
					t.Fatal(err)
				}
			} else {
				sh := exec.Command("bash", "-ec", commands)
				sh.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1")
				if out, err := sh.CombinedOutput(); err != nil {
					t.Fatalf("the list page's git config commands: %v\n%s", err, out)
				}
			}
			shazam := b4Home(t, clone, home, "shazam", series.MessageID)
			if !strings.Contains(shazam, "Applying: rename a to b") {
				t.Errorf("b4 shazam:\n%s", shazam)
			}
			want := run(t, repo, "git", "log", "--format=%an <%ae>%n%B", "-3")
			got := run(t, clone, "git", "log", "--format=%an <%ae>%n%B", "-3")
			if got != want {
				t.Errorf("commits after b4 shazam differ from the sender's:\n--- sender\n%s\n--- shazam\n%s", want, got)
			}
			if a, b := run(t, repo, "git", "rev-parse", "HEAD^{tree}"), run(t, clone, "git", "rev-parse", "HEAD^{tree}"); a != b {
				t.Errorf("tree after b4 shazam %s, sender's %s", b, a)
			}
		})
	}
}

// pageBlock returns the text of the page's <pre class="class">, unescaped.
func pageBlock(t *testing.T, page, class string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<pre class="` + regexp.QuoteMeta(class) + `">(.*?)</pre>`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no <pre class=%q> on the page", class)
	}
	return html.UnescapeString(m[1]) + "\n"
}

// TestFromLineRoundTrip sends, with git send-email, a patch whose commit
// message quotes an mbox separator line (and a ">From " line). The thread
// mbox escapes both, mboxrd style; b4 am reads them back exactly; and our
// series mbox applied with git am --patch-format=mboxrd gives the sender's
// commit, those lines intact.
//
// b4 0.12 itself cannot hand such a patch to git am: it writes its am
// mbox unescaped (save_git_am_mbox, "the format git-am expects"), and git
// am cuts the message at the separator-like line, whatever the server
// (lore included). The test logs what git am makes of b4's file.
func TestFromLineRoundTrip(t *testing.T) {
	needTool(t, "git", "send-email", "--help")
	needTool(t, "b4", "--version")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	if err := os.WriteFile(filepath.Join(repo, "c.txt"), []byte("c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, repo, "git", "add", "c.txt")
	msg := "quote an mbox separator\n\nThe next line looks like the start of a message:\n\n" + fromLine +
		"\n>From the quoted kind too\n\nand both must survive.\n\nSigned-off-by: Ada Lovelace <ada@example.org>"
	run(t, repo, "git", "commit", "-q", "-m", msg)
	out := filepath.Join(repo, "fl")
	run(t, repo, "git", "format-patch", "-q", "-o", out, "HEAD~1")
	sendEmail(t, repo, srv.smtp, out)
	var list struct{ Series []apiSeries }
	srv.getJSON("/api/v1/lists/dev/series", &list)
	if len(list.Series) != 1 || !list.Series[0].Complete {
		t.Fatalf("series: %+v", list.Series)
	}
	s := list.Series[0]

	// The thread mbox escapes the lines, mboxrd style.
	resp, err := http.Get("http://" + srv.http + "/dev/" + s.MessageID + "/t.mbox.gz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("t.mbox.gz: %v %v", err, resp.StatusCode)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	mbox, err := io.ReadAll(zr)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(mbox, []byte("\n>"+fromLine+"\n>>From the quoted kind too\n")) || bytes.Contains(mbox, []byte("\n"+fromLine+"\n")) {
		t.Errorf("t.mbox.gz does not escape the From lines:\n%s", mbox)
	}
	if n := bytes.Count(mbox, []byte("From mboxrd@z Thu Jan  1 00:00:00 1970\n")); n != 1 {
		t.Errorf("t.mbox.gz has %d separators, want 1", n)
	}

	// b4 am undoes the escaping: its file has the lines as committed.
	mbx, am, b4out := runB4(t, b4Config(srv.http, "dev"), "am", s.MessageID)
	if !strings.Contains(am, "\n"+fromLine+"\n>From the quoted kind too\n") {
		t.Errorf("b4 am did not give back the lines:\n%s\n%s", am, b4out)
	}
	clone := t.TempDir()
	run(t, clone, "git", "clone", "-q", repo, ".")
	run(t, clone, "git", "checkout", "-q", "HEAD~1")
	cmd := exec.Command("git", "am", mbx)
	cmd.Dir = clone
	amOut, amErr := cmd.CombinedOutput()
	t.Logf("git am of b4's file (b4 0.12 writes it unescaped; git am splits at the From line): %v\n%s", amErr, amOut)

	// Our series mbox, read as the mboxrd it is, gives the commit back.
	resp, err = http.Get(fmt.Sprintf("http://%s/api/v1/series/%d/mbox", srv.http, s.ID))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("series mbox: %v %v", err, resp.StatusCode)
	}
	ours, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	oursFile := filepath.Join(t.TempDir(), "series.mbox")
	if err := os.WriteFile(oursFile, ours, 0o644); err != nil {
		t.Fatal(err)
	}
	clone2 := t.TempDir()
	run(t, clone2, "git", "clone", "-q", repo, ".")
	run(t, clone2, "git", "checkout", "-q", "HEAD~1")
	run(t, clone2, "git", "am", "-q", "--patch-format=mboxrd", oursFile)
	if got, want := run(t, clone2, "git", "log", "-1", "--format=%an <%ae>%n%B"), run(t, repo, "git", "log", "-1", "--format=%an <%ae>%n%B"); got != want {
		t.Errorf("commit from our series mbox:\n%s\nwant:\n%s", got, want)
	}
	if a, b := run(t, repo, "git", "rev-parse", "HEAD^{tree}"), run(t, clone2, "git", "rev-parse", "HEAD^{tree}"); a != b {
		t.Errorf("tree %s, sender's %s", b, a)
	}
}
