package imapd_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"

	"patchwell/imapd"
)

// mbsyncrc is a configuration for isync 1.4 (SSLType; 1.5 renamed it
// TLSType and still accepts the old name) pulling one list into a
// Maildir.
const mbsyncrc = `IMAPAccount patchwell
Host %s
Port %s
User anonymous
Pass x
SSLType None
AuthMechs LOGIN
Timeout 10

IMAPStore remote
Account patchwell

MaildirStore local
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel archive
Far :remote:
Near :local:
Patterns %s
Sync Pull
Create Near
SyncState *
`

// maildirFile is a message mbsync wrote, with the UID its name carries.
type maildirFile struct {
	path  string
	uid   uint32
	inode uint64
	mtime time.Time
}

var xTUID = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)

var uidInName = regexp.MustCompile(`,U=(\d+)`)

func readMaildir(t *testing.T, dir string) map[uint32]maildirFile {
	t.Helper()
	out := map[uint32]maildirFile{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(dir, sub))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			m := uidInName.FindStringSubmatch(e.Name())
			if m == nil {
				t.Fatalf("maildir file without a UID: %s", e.Name())
			}
			uid, _ := strconv.ParseUint(m[1], 10, 32)
			p := filepath.Join(dir, sub, e.Name())
			fi, err := os.Stat(p)
			if err != nil {
				t.Fatal(err)
			}
			if _, dup := out[uint32(uid)]; dup {
				t.Fatalf("UID %d twice in the maildir", uid)
			}
			out[uint32(uid)] = maildirFile{p, uint32(uid), fi.Sys().(*syscall.Stat_t).Ino, fi.ModTime()}
		}
	}
	return out
}

func TestMbsync(t *testing.T) {
	mbsync := need(t, "mbsync")
	f := newFixture(t, imapd.Config{}, "dev")
	msgs := testMessages(t)
	for _, raw := range msgs[:6] {
		f.deliver("dev", raw)
	}
	dir := t.TempDir()
	mail := filepath.Join(dir, "mail")
	if err := os.MkdirAll(mail, 0o755); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "mbsyncrc")
	if err := os.WriteFile(rc, []byte(fmt.Sprintf(mbsyncrc, f.host(), f.port(), mail, mail, "dev")), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		t.Helper()
		cmd := exec.Command(mbsync, "-V", "-c", rc, "archive")
		cmd.Env = append(os.Environ(), "HOME="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("mbsync: %v\n%s", err, out)
		}
		return string(out)
	}
	check := func(files map[uint32]maildirFile) {
		t.Helper()
		stored := f.messages("dev")
		if len(files) != len(stored) {
			t.Fatalf("maildir holds %d messages, the list %d", len(files), len(stored))
		}
		for _, s := range stored {
			mf, ok := files[s.m.UID]
			if !ok {
				t.Errorf("UID %d missing from the maildir", s.m.UID)
				continue
			}
			got, err := os.ReadFile(mf.path)
			if err != nil {
				t.Fatal(err)
			}
			// mbsync adds an X-TUID header to find the message again
			// (its own, documented); the rest must be the stored bytes.
			got = xTUID.ReplaceAll(lf(got), nil)
			if !bytes.Equal(got, lf(s.raw)) {
				t.Errorf("UID %d: maildir copy differs from the stored bytes:\n got %q\nwant %q", s.m.UID, trunc(got), trunc(s.raw))
			}
		}
	}

	out1 := run()
	first := readMaildir(t, filepath.Join(mail, "dev"))
	check(first)

	f.deliver("dev", msgs[6])
	f.deliver("dev", msgs[7])
	out2 := run()
	second := readMaildir(t, filepath.Join(mail, "dev"))
	check(second)
	if len(second) != len(first)+2 {
		t.Fatalf("second sync: %d messages, want %d", len(second), len(first)+2)
	}
	for uid, a := range first {
		if b := second[uid]; b.inode != a.inode || !b.mtime.Equal(a.mtime) {
			t.Errorf("second sync rewrote UID %d (%s -> %s)", uid, a.path, b.path)
		}
	}
	// mbsync -V says what each side held before it synchronised.
	for _, want := range []string{fmt.Sprintf("far side: %d messages", len(first)), "near side: 0 messages"} {
		if !bytes.Contains([]byte(out1), []byte(want)) {
			t.Errorf("first mbsync run does not say %q:\n%s", want, out1)
		}
	}
	for _, want := range []string{fmt.Sprintf("far side: %d messages", len(second)), fmt.Sprintf("near side: %d messages", len(first))} {
		if !bytes.Contains([]byte(out2), []byte(want)) {
			t.Errorf("second mbsync run does not say %q:\n%s", want, out2)
		}
	}
}
