package imapd_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"patchwell/imapd"
	"patchwell/review"
	"patchwell/store"
)

// The tests of this file drive the server with Python's imaplib, a real
// client; what they expect is computed in Go from the stored messages
// (store.Walk), never taken from the server's answers.

const testDomain = "lists.example.org"

// need returns the path of a tool, skipping the test when it is missing
// (failing under CI, where it must be installed).
func need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI: %v", tool, err)
		}
		t.Skipf("%s not installed: %v", tool, err)
	}
	return p
}

// fixture is an IMAP server on 127.0.0.1 over a real SQLite store, with
// an ingester to add mail while it runs.
type fixture struct {
	t    testing.TB
	dir  string
	st   *store.DB
	in   *review.Ingester
	acc  *review.Accounts
	srv  *imapd.Server
	addr string
}

func newFixture(t testing.TB, cfg imapd.Config, lists ...string) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, dir: t.TempDir()}
	st, err := store.Open(ctx, f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.st = st
	for _, l := range lists {
		if _, err := st.CreateList(ctx, store.List{Name: l}); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	f.in = review.NewIngester(st, review.Config{Log: log})
	t.Cleanup(func() { f.in.Close() })
	f.acc = review.NewAccounts(st, review.DefaultArgon2)
	if cfg.Domain == "" {
		cfg.Domain = testDomain
	}
	f.srv, err = imapd.New(st, f.acc, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go f.srv.Serve(ln)
	t.Cleanup(func() { f.srv.Close() })
	return f
}

func (f *fixture) deliver(list string, raw []byte) {
	f.t.Helper()
	if err := f.in.Post(context.Background(), review.Post{Lists: []string{list}, Raw: raw}); err != nil {
		f.t.Fatalf("Deliver: %v", err)
	}
	f.srv.Notify()
}

// stored is one message as the store has it.
type stored struct {
	m   store.Message
	raw []byte
}

// wire is the message as IMAP must send it: every line ending CRLF.
func (s stored) wire() []byte { return crlf(s.raw) }

// messages returns the list's messages in UID order.
func (f *fixture) messages(list string) []stored {
	f.t.Helper()
	var out []stored
	err := f.st.Walk(context.Background(), list, func(m *store.Message, raw []byte) error {
		out = append(out, stored{*m, bytes.Clone(raw)})
		return nil
	})
	if err != nil {
		f.t.Fatal(err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].m.UID < out[j].m.UID })
	return out
}

func (f *fixture) host() string { h, _, _ := net.SplitHostPort(f.addr); return h }
func (f *fixture) port() string { _, p, _ := net.SplitHostPort(f.addr); return p }

// lf makes every line end in LF; crlf in CRLF.
func lf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")) }
func crlf(b []byte) []byte {
	return bytes.ReplaceAll(lf(b), []byte("\n"), []byte("\r\n"))
}

// testMessages makes the mail the tests archive: a real git
// format-patch series (cover letter and three patches, bare LF), a
// reply with CRLF line ends, a MIME multipart message, a message whose
// body has lines starting with "From ", and a big log.
func testMessages(t testing.TB) [][]byte {
	t.Helper()
	out := formatPatchSeries(t)
	out = append(out, []byte(strings.ReplaceAll(`From: Bob Reviewer <bob@example.com>
To: dev@lists.example.org
Cc: Dave Bystander <dave@example.com>
Subject: Re: [PATCH 1/3] frob: add the frobnicator
Date: Wed, 06 Mar 2024 10:00:00 +0000
Message-ID: <reply-1@example.com>
In-Reply-To: <series-1@example.org>
MIME-Version: 1.0
Content-Type: text/plain; charset=utf-8

Looks fine to me, apart from the naming.

Reviewed-by: Bob Reviewer <bob@example.com>
`, "\n", "\r\n")))
	out = append(out, []byte(`From: Erin Builder <erin@example.net>
To: dev@lists.example.org
Subject: Build logs for the new scheduler
Date: Thu, 07 Mar 2024 11:00:00 +0100
Message-ID: <multi-1@example.net>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="b0undary"

This is a multi-part message in MIME format.

--b0undary
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: quoted-printable

The caf=C3=A9 build failed with zebraword errors.
See the attached log.

--b0undary
Content-Type: application/octet-stream; name="build.log"
Content-Transfer-Encoding: base64
Content-Disposition: attachment; filename="build.log"

`+base64.StdEncoding.EncodeToString([]byte("line 1: ok\nline 2: error\n"))+`
--b0undary--
`))
	out = append(out, []byte(`From: Frank Quoter <frank@example.org>
To: dev@lists.example.org
Subject: mbox quoting check
Date: Fri, 08 Mar 2024 12:00:00 -0500
Message-ID: <fromline-1@example.org>
X-Tracker: ticket-4242

Some lines below start with From, which mbox formats must escape:

From the beginning, this was a trap.
>From here it is already quoted.
From
`))
	var big strings.Builder
	big.WriteString(`From: Gina Logger <gina@example.com>
To: dev@lists.example.org
Subject: full test log
Date: Sat, 09 Mar 2024 13:00:00 +0000
Message-ID: <big-1@example.com>

`)
	for i := 0; big.Len() < 20000; i++ {
		fmt.Fprintf(&big, "test %04d: passed in %d ms\n", i, i%97)
	}
	out = append(out, []byte(big.String()))
	return out
}

// formatPatchSeries commits three changes in a new git repository and
// returns `git format-patch --cover-letter --thread` of them, each file
// without its mbox "From " line, as git send-email sends them.
func formatPatchSeries(t testing.TB) [][]byte {
	t.Helper()
	need(t, "git")
	dir := t.TempDir()
	env := append(os.Environ(), "GIT_AUTHOR_NAME=Alice Author", "GIT_AUTHOR_EMAIL=alice@example.org",
		"GIT_COMMITTER_NAME=Alice Author", "GIT_COMMITTER_EMAIL=alice@example.org",
		"GIT_AUTHOR_DATE=2024-03-05T09:00:00Z", "GIT_COMMITTER_DATE=2024-03-05T09:00:00Z",
		"HOME="+dir, "GIT_CONFIG_NOSYSTEM=1")
	git := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = dir, env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	git("init", "-q", "-b", "main")
	steps := []struct{ file, body, msg string }{
		{"frob.c", "int frob(void)\n{\n\treturn 1;\n}\n", "frob: add the frobnicator\n\nThe frobnicator frobs.\n\nSigned-off-by: Alice Author <alice@example.org>\n"},
		{"frob.c", "int frob(void)\n{\n\treturn 2;\n}\n", "frob: return two\n\nTwo is better.\n\nSigned-off-by: Alice Author <alice@example.org>\n"},
		{"README", "frob docs\n", "doc: describe frob\n\nSigned-off-by: Alice Author <alice@example.org>\n"},
	}
	for _, s := range steps {
		if err := os.WriteFile(filepath.Join(dir, s.file), []byte(s.body), 0o644); err != nil {
			t.Fatal(err)
		}
		git("add", s.file)
		git("commit", "-q", "-m", s.msg)
	}
	outDir := filepath.Join(dir, "out")
	git("format-patch", "-q", "--cover-letter", "--thread=shallow",
		"--to=dev@lists.example.org", "--cc=Carol Reviewer <carol@example.net>", "-o", outDir, "-3")
	files, err := filepath.Glob(filepath.Join(outDir, "*.patch"))
	if err != nil || len(files) != 4 {
		t.Fatalf("format-patch made %v (%v)", files, err)
	}
	sort.Strings(files)
	var out [][]byte
	for _, fn := range files {
		b, err := os.ReadFile(fn)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.HasPrefix(b, []byte("From ")) {
			b = b[bytes.IndexByte(b, '\n')+1:]
		}
		// The cover letter's blurb placeholders, filled as a person would.
		b = bytes.Replace(b, []byte("*** SUBJECT HERE ***"), []byte("frob: the frobnicator"), 1)
		b = bytes.Replace(b, []byte("*** BLURB HERE ***"), []byte("This series adds the frobnicator."), 1)
		out = append(out, b)
	}
	return out
}

// pyStep is one call on an imaplib.IMAP4 object: method name and string
// arguments. pyResult is what it returned (typ and data with bytes as
// base64) or the error it raised.
type pyStep struct {
	Call string   `json:"call"`
	Args []string `json:"args"`
}

type pyResult struct {
	Typ  string `json:"typ"`
	Data []any  `json:"data"`
	Err  string `json:"err"`
}

// runner runs a list of steps against the server and prints the results
// as JSON; the test decides what they should be.
const runner = `
import base64, imaplib, json, sys
spec = json.load(open(sys.argv[1]))
M = imaplib.IMAP4(spec["host"], int(spec["port"]))
def enc(x):
    if isinstance(x, bytes):
        return {"b": base64.b64encode(x).decode()}
    if isinstance(x, (list, tuple)):
        return [enc(y) for y in x]
    return x
out = []
for step in spec["steps"]:
    try:
        typ, data = getattr(M, step["call"])(*step["args"])
        out.append({"typ": typ, "data": enc(data)})
    except Exception as e:
        out.append({"err": "%s: %s" % (type(e).__name__, e)})
try:
    M.logout()
except Exception:
    pass
json.dump(out, sys.stdout)
`

func runPython(t testing.TB, f *fixture, steps []pyStep) []pyResult {
	t.Helper()
	py := need(t, "python3")
	dir := t.TempDir()
	script := filepath.Join(dir, "run.py")
	spec := filepath.Join(dir, "spec.json")
	b, _ := json.Marshal(map[string]any{"host": f.host(), "port": f.port(), "steps": steps})
	if err := os.WriteFile(spec, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(script, []byte(runner), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(py, script, spec)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	var res []pyResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("python output %q: %v", out, err)
	}
	if len(res) != len(steps) {
		t.Fatalf("python ran %d steps of %d", len(res), len(steps))
	}
	return res
}

// flat joins the bytes of a result's data (literals included, in order)
// into one string per top-level element.
func (r pyResult) flat() []string {
	var out []string
	for _, d := range r.Data {
		var b bytes.Buffer
		flatten(d, &b)
		out = append(out, b.String())
	}
	return out
}

func flatten(x any, b *bytes.Buffer) {
	switch v := x.(type) {
	case map[string]any:
		s, _ := v["b"].(string)
		d, _ := base64.StdEncoding.DecodeString(s)
		b.Write(d)
	case []any:
		for _, y := range v {
			flatten(y, b)
		}
	case nil:
	default:
		fmt.Fprint(b, v)
	}
}

// literal returns the first literal of a FETCH answer (imaplib gives it
// as the second element of a tuple).
func (r pyResult) literal(t testing.TB) []byte {
	t.Helper()
	for _, d := range r.Data {
		if tup, ok := d.([]any); ok && len(tup) == 2 {
			var b bytes.Buffer
			flatten(tup[1], &b)
			return b.Bytes()
		}
	}
	t.Fatalf("no literal in %+v", r)
	return nil
}

func (r pyResult) ok(t testing.TB, what string) {
	t.Helper()
	if r.Err != "" || r.Typ != "OK" {
		t.Fatalf("%s: %s %s %v", what, r.Typ, r.Err, r.flat())
	}
}

// refused reports whether the command was answered NO with the response
// code (imaplib raises for some commands and returns "NO" for others).
func (r pyResult) refused(code string) bool {
	if r.Err != "" {
		return strings.Contains(r.Err, "["+code+"]")
	}
	return r.Typ == "NO" && strings.Contains(strings.Join(r.flat(), ""), "["+code+"]")
}

func step(call string, args ...string) pyStep { return pyStep{call, args} }

// header returns the value of a header field of a raw message.
func header(raw []byte, key string) string {
	m, err := mail.ReadMessage(bytes.NewReader(crlf(raw)))
	if err != nil {
		return ""
	}
	return m.Header.Get(key)
}

// bodyOf is the message after its header.
func bodyOf(raw []byte) []byte {
	w := crlf(raw)
	if i := bytes.Index(w, []byte("\r\n\r\n")); i >= 0 {
		return w[i+4:]
	}
	return nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func TestImaplib(t *testing.T) {
	f := newFixture(t, imapd.Config{}, "dev", "other")
	for _, raw := range testMessages(t) {
		f.deliver("dev", raw)
	}
	f.deliver("other", []byte("From: x@example.com\nSubject: elsewhere\nMessage-ID: <o1@example.com>\n\nnot in dev\n"))
	msgs := f.messages("dev")
	if len(msgs) != 8 {
		t.Fatalf("stored %d messages, want 8", len(msgs))
	}
	byMID := map[string]stored{}
	for _, s := range msgs {
		byMID[s.m.MessageID] = s
	}
	multi, big := byMID["multi-1@example.net"], byMID["big-1@example.com"]
	if multi.m.UID == 0 || big.m.UID == 0 {
		t.Fatalf("test messages missing: %v", byMID)
	}

	// Expected SEARCH results, computed from the stored messages.
	uidsWhere := func(pred func(s stored) bool) []uint32 {
		var out []uint32
		for _, s := range msgs {
			if pred(s) {
				out = append(out, s.m.UID)
			}
		}
		return out
	}
	today := msgs[0].m.Arrived.UTC()
	imapDate := func(t time.Time) string { return t.Format("2-Jan-2006") }
	dayOf := func(t time.Time) time.Time {
		y, m, d := t.UTC().Date()
		return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	tomorrow := dayOf(today).AddDate(0, 0, 1)
	u2, u3 := msgs[1].m.UID, msgs[2].m.UID
	bigWire := int64(len(big.wire()))
	searches := []struct {
		name, crit string
		want       []uint32
	}{
		{"all", "ALL", uidsWhere(func(stored) bool { return true })},
		{"uid-range", fmt.Sprintf("UID %d:%d", u2, u3), uidsWhere(func(s stored) bool { return s.m.UID >= u2 && s.m.UID <= u3 })},
		{"uid-star", fmt.Sprintf("UID %d:*", u3), uidsWhere(func(s stored) bool { return s.m.UID >= u3 })},
		{"from", `FROM "alice@example.org"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "From"), "alice@example.org") })},
		{"to", `TO "carol"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "To"), "carol") })},
		{"cc", `CC "dave"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "Cc"), "dave") })},
		{"cc-carol", `CC "carol"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "Cc"), "carol") })},
		{"subject", `SUBJECT "scheduler"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "Subject"), "scheduler") })},
		{"header", `HEADER X-Tracker "ticket-4242"`, uidsWhere(func(s stored) bool { return containsFold(header(s.raw, "X-Tracker"), "ticket-4242") })},
		{"body", `BODY "zebraword"`, uidsWhere(func(s stored) bool { return containsFold(string(bodyOf(s.raw)), "zebraword") })},
		{"body-frobs", `BODY "frobs"`, uidsWhere(func(s stored) bool { return containsFold(string(bodyOf(s.raw)), "frobs") })},
		{"text", `TEXT "frobnicator"`, uidsWhere(func(s stored) bool { return containsFold(string(s.raw), "frobnicator") })},
		{"since-today", "SINCE " + imapDate(today), uidsWhere(func(s stored) bool { return !dayOf(s.m.Arrived).Before(dayOf(today)) })},
		{"since-tomorrow", "SINCE " + imapDate(tomorrow), uidsWhere(func(s stored) bool { return !dayOf(s.m.Arrived).Before(tomorrow) })},
		{"before-tomorrow", "BEFORE " + imapDate(tomorrow), uidsWhere(func(s stored) bool { return dayOf(s.m.Arrived).Before(tomorrow) })},
		{"before-today", "BEFORE " + imapDate(today), uidsWhere(func(s stored) bool { return dayOf(s.m.Arrived).Before(dayOf(today)) })},
		{"on-today", "ON " + imapDate(today), uidsWhere(func(s stored) bool { return dayOf(s.m.Arrived).Equal(dayOf(today)) })},
		// RFC 3501: LARGER and SMALLER compare RFC822.SIZE, which is the
		// size as sent (CRLF): the big message is stored with bare LF,
		// so its stored size is below its RFC822.SIZE.
		{"larger", fmt.Sprintf("LARGER %d", len(big.raw)), uidsWhere(func(s stored) bool { return int64(len(s.wire())) > int64(len(big.raw)) })},
		{"smaller", fmt.Sprintf("SMALLER %d", bigWire), uidsWhere(func(s stored) bool { return int64(len(s.wire())) < bigWire })},
		{"smaller-1000", "SMALLER 1000", uidsWhere(func(s stored) bool { return len(s.wire()) < 1000 })},
		{"not", `NOT FROM "alice@example.org"`, uidsWhere(func(s stored) bool { return !containsFold(header(s.raw, "From"), "alice@example.org") })},
		{"or", `OR SUBJECT "scheduler" HEADER X-Tracker "ticket-4242"`, uidsWhere(func(s stored) bool {
			return containsFold(header(s.raw, "Subject"), "scheduler") || containsFold(header(s.raw, "X-Tracker"), "ticket-4242")
		})},
		{"and-not-or", `TEXT "frobnicator" NOT OR FROM "bob" SUBJECT "cover"`, uidsWhere(func(s stored) bool {
			return containsFold(string(s.raw), "frobnicator") && !(containsFold(header(s.raw, "From"), "bob") || containsFold(header(s.raw, "Subject"), "cover"))
		})},
	}

	steps := []pyStep{
		step("login", "anonymous", "x"),
		step("list", `""`, "*"),
		step("status", "dev", "(MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"),
		step("select", "dev", "True"), // EXAMINE (readonly=True)
		step("uid", "FETCH", "1:*", "(FLAGS)"),
		step("uid", "FETCH", fmt.Sprint(multi.m.UID), "(BODY[])"), // EXAMINE: must not set \Seen
		step("uid", "FETCH", fmt.Sprint(multi.m.UID), "(FLAGS)"),
		step("select", "dev"),
	}
	nBase := len(steps)
	for _, s := range searches {
		steps = append(steps, step("uid", "SEARCH", s.crit))
	}
	nFetch := len(steps)
	for _, s := range msgs {
		steps = append(steps,
			step("uid", "FETCH", fmt.Sprint(s.m.UID), "(BODY.PEEK[])"),
			step("uid", "FETCH", fmt.Sprint(s.m.UID), "(RFC822.SIZE INTERNALDATE ENVELOPE)"))
	}
	nItems := len(steps)
	mu := fmt.Sprint(multi.m.UID)
	steps = append(steps,
		step("uid", "FETCH", mu, "(BODYSTRUCTURE)"),
		step("uid", "FETCH", mu, "(BODY.PEEK[HEADER.FIELDS (SUBJECT FROM)])"),
		step("uid", "FETCH", mu, "(BODY.PEEK[TEXT])"),
		step("uid", "FETCH", mu, "(BODY.PEEK[1])"),
		step("uid", "FETCH", mu, "(BODY.PEEK[]<0.100>)"),
		step("uid", "FETCH", mu, "(BINARY.PEEK[1])"),
		step("uid", "FETCH", mu, "(FLAGS)"),
		step("uid", "FETCH", mu, "(BODY[1])"), // not PEEK: sets \Seen
		step("uid", "FETCH", mu, "(FLAGS)"),
		step("uid", "STORE", fmt.Sprint(big.m.UID), "+FLAGS", `(\Flagged)`),
		step("uid", "SEARCH", "FLAGGED"),
		step("status", "dev", "(MESSAGES UNSEEN)"),
	)
	res := runPython(t, f, steps)

	res[0].ok(t, "LOGIN")
	res[1].ok(t, "LIST")
	listed := strings.Join(res[1].flat(), "\n")
	for _, want := range []string{`"dev"`, `"dev/patches"`, `"other"`, "INBOX"} {
		if !strings.Contains(listed, want) && !strings.Contains(listed, strings.Trim(want, `"`)) {
			t.Errorf("LIST lacks %s:\n%s", want, listed)
		}
	}
	res[2].ok(t, "STATUS")
	l, err := f.st.ListInfo(context.Background(), "dev")
	if err != nil {
		t.Fatal(err)
	}
	status := strings.Join(res[2].flat(), " ")
	for _, want := range []string{fmt.Sprintf("MESSAGES %d", len(msgs)), fmt.Sprintf("UIDNEXT %d", msgs[len(msgs)-1].m.UID+1),
		fmt.Sprintf("UIDVALIDITY %d", l.UIDValidity), fmt.Sprintf("UNSEEN %d", len(msgs))} {
		if !strings.Contains(status, want) {
			t.Errorf("STATUS = %s, lacks %s", status, want)
		}
	}
	res[3].ok(t, "EXAMINE")
	if got := res[3].flat(); len(got) != 1 || got[0] != strconv.Itoa(len(msgs)) {
		t.Errorf("EXAMINE EXISTS = %v, want %d", got, len(msgs))
	}
	res[4].ok(t, "FETCH FLAGS")
	if got := len(res[4].flat()); got != len(msgs) {
		t.Errorf("UID FETCH 1:* FLAGS gave %d answers, want %d", got, len(msgs))
	}
	res[6].ok(t, "FETCH FLAGS")
	if got := strings.Join(res[6].flat(), ""); strings.Contains(got, `\Seen`) {
		t.Errorf("FETCH BODY[] under EXAMINE set \\Seen: %s", got)
	}
	res[7].ok(t, "SELECT")
	if got := res[7].flat(); len(got) != 1 || got[0] != strconv.Itoa(len(msgs)) {
		t.Errorf("SELECT EXISTS = %v, want %d", got, len(msgs))
	}

	for i, s := range searches {
		r := res[nBase+i]
		if r.Err != "" || r.Typ != "OK" {
			t.Errorf("UID SEARCH %s: %s %s", s.crit, r.Typ, r.Err)
			continue
		}
		var got []uint32
		for _, f := range strings.Fields(strings.Join(r.flat(), " ")) {
			n, err := strconv.ParseUint(f, 10, 32)
			if err != nil {
				t.Errorf("UID SEARCH %s: bad number %q", s.crit, f)
			}
			got = append(got, uint32(n))
		}
		if len(s.want) == 0 && len(got) == 0 {
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(s.want) {
			t.Errorf("UID SEARCH %s (%s) = %v, want %v", s.crit, s.name, got, s.want)
		}
	}

	for i, s := range msgs {
		r := res[nFetch+2*i]
		r.ok(t, "FETCH BODY.PEEK[]")
		body := r.literal(t)
		if !bytes.Equal(lf(body), lf(s.raw)) {
			t.Errorf("UID %d (%s): BODY[] differs from the stored bytes:\n got %q\nwant %q", s.m.UID, s.m.MessageID, trunc(body), trunc(s.raw))
		}
		r = res[nFetch+2*i+1]
		r.ok(t, "FETCH RFC822.SIZE")
		meta := strings.Join(r.flat(), "")
		if want := fmt.Sprintf("RFC822.SIZE %d", len(body)); !strings.Contains(meta, want) {
			t.Errorf("UID %d: %s lacks %s (the length of BODY[] as sent)", s.m.UID, meta, want)
		}
		i1 := strings.Index(meta, `INTERNALDATE "`)
		if i1 < 0 {
			t.Errorf("UID %d: no INTERNALDATE in %s", s.m.UID, meta)
		} else if d, err := time.Parse("_2-Jan-2006 15:04:05 -0700", meta[i1+14:i1+14+26]); err != nil {
			t.Errorf("UID %d: INTERNALDATE: %v", s.m.UID, err)
		} else if diff := d.Sub(s.m.Arrived); diff < -time.Second || diff > time.Second {
			t.Errorf("UID %d: INTERNALDATE %v, arrived %v", s.m.UID, d, s.m.Arrived)
		}
		subj := header(s.raw, "Subject")
		if !strings.Contains(meta, "ENVELOPE (") || !strings.Contains(meta, subj) {
			t.Errorf("UID %d: ENVELOPE lacks the subject %q: %s", s.m.UID, subj, meta)
		}
		from, _ := mail.ParseAddress(header(s.raw, "From"))
		if at := strings.LastIndexByte(from.Address, '@'); at < 0 ||
			!strings.Contains(meta, `"`+from.Address[:at]+`" "`+from.Address[at+1:]+`"`) {
			t.Errorf("UID %d: ENVELOPE lacks the sender %s: %s", s.m.UID, from.Address, meta)
		}
	}

	r := res[nItems]
	r.ok(t, "FETCH BODYSTRUCTURE")
	bs := strings.ToLower(strings.Join(r.flat(), ""))
	for _, want := range []string{`"mixed"`, `"boundary" "b0undary"`, `"quoted-printable"`, `"application" "octet-stream"`, `"base64"`} {
		if !strings.Contains(bs, want) {
			t.Errorf("BODYSTRUCTURE lacks %s: %s", want, bs)
		}
	}
	r = res[nItems+1]
	r.ok(t, "FETCH HEADER.FIELDS")
	hf := string(r.literal(t))
	if want := "Subject: " + header(multi.raw, "Subject"); !strings.Contains(hf, want) || !strings.Contains(hf, "From: ") || strings.Contains(hf, "Message-ID") {
		t.Errorf("HEADER.FIELDS (SUBJECT FROM) = %q", hf)
	}
	r = res[nItems+2]
	r.ok(t, "FETCH BODY[TEXT]")
	if got := r.literal(t); !bytes.Equal(got, bodyOf(multi.raw)) {
		t.Errorf("BODY[TEXT] = %q, want %q", got, bodyOf(multi.raw))
	}
	r = res[nItems+3]
	r.ok(t, "FETCH BODY[1]")
	wantPart := "The caf=C3=A9 build failed with zebraword errors.\r\nSee the attached log.\r\n"
	if got := string(r.literal(t)); strings.TrimRight(got, "\r\n") != strings.TrimRight(wantPart, "\r\n") {
		t.Errorf("BODY[1] = %q, want %q", got, wantPart)
	}
	r = res[nItems+4]
	r.ok(t, "FETCH BODY[]<0.100>")
	if got := r.literal(t); !bytes.Equal(got, multi.wire()[:100]) {
		t.Errorf("BODY[]<0.100> = %q, want %q", got, multi.wire()[:100])
	}
	r = res[nItems+5]
	r.ok(t, "FETCH BINARY[1]")
	if got := string(r.literal(t)); strings.TrimRight(got, "\r\n") != "The café build failed with zebraword errors.\r\nSee the attached log." {
		t.Errorf("BINARY[1] = %q", got)
	}
	r = res[nItems+6]
	r.ok(t, "FETCH FLAGS")
	if got := strings.Join(r.flat(), ""); strings.Contains(got, `\Seen`) {
		t.Errorf("PEEK fetches set \\Seen: %s", got)
	}
	r = res[nItems+8]
	r.ok(t, "FETCH FLAGS")
	if got := strings.Join(r.flat(), ""); !strings.Contains(got, `\Seen`) {
		t.Errorf("FETCH BODY[1] did not set \\Seen: %s", got)
	}
	r = res[nItems+9]
	r.ok(t, "STORE +FLAGS")
	r = res[nItems+10]
	r.ok(t, "SEARCH FLAGGED")
	if got := strings.TrimSpace(strings.Join(r.flat(), "")); got != fmt.Sprint(big.m.UID) {
		t.Errorf("UID SEARCH FLAGGED = %q, want %d", got, big.m.UID)
	}
	r = res[nItems+11]
	r.ok(t, "STATUS")
	if got, want := strings.Join(r.flat(), ""), fmt.Sprintf("UNSEEN %d", len(msgs)-1); !strings.Contains(got, want) {
		t.Errorf("STATUS after a \\Seen = %s, want %s", got, want)
	}
}

func trunc(b []byte) []byte {
	if len(b) > 300 {
		return b[:300]
	}
	return b
}

// idler is a Python client that IDLEs on a mailbox: it prints "idling"
// once the server accepted IDLE, waits for a line on stdin (the test
// committed a message), then must see "* N EXISTS" within one second.
const idler = `
import imaplib, socket, sys, time
host, port, box, want = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
M = imaplib.IMAP4(host, port)
M.login("anonymous", "x")
M.select(box)
tag = M._new_tag()
M.send(tag + b" IDLE\r\n")
line = M.readline()
if not line.startswith(b"+"):
    print("IDLE refused: %r" % line, flush=True)
    sys.exit(2)
print("idling", flush=True)
sys.stdin.readline()
start = time.monotonic()
M.sock.settimeout(1.0)
try:
    while True:
        line = M.readline()
        if not line:
            print("connection closed", flush=True)
            sys.exit(3)
        parts = line.split()
        if len(parts) == 3 and parts[2].upper() == b"EXISTS" and int(parts[1]) >= want:
            break
except socket.timeout:
    print("no EXISTS within 1 s", flush=True)
    sys.exit(4)
print("seen %r after %.3f s" % (line.strip(), time.monotonic() - start), flush=True)
M.sock.settimeout(5.0)
M.send(b"DONE\r\n")
while True:
    line = M.readline()
    if line.startswith(tag):
        break
print("done %r" % line.strip(), flush=True)
`

func TestIdle(t *testing.T) {
	py := need(t, "python3")
	msgs := testMessages(t)
	run := func(t *testing.T, deliver func(f *fixture, raw []byte)) {
		f := newFixture(t, imapd.Config{}, "dev")
		f.deliver("dev", msgs[0])
		script := filepath.Join(t.TempDir(), "idle.py")
		if err := os.WriteFile(script, []byte(idler), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(py, script, f.host(), f.port(), "dev", "2")
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer cmd.Process.Kill()
		out := bufio.NewReader(stdout)
		line, err := out.ReadString('\n')
		if err != nil || line != "idling\n" {
			t.Fatalf("idler: %q %v %s", line, err, stderr.String())
		}
		deliver(f, msgs[4])
		io.WriteString(stdin, "go\n")
		rest, _ := io.ReadAll(out)
		err = cmd.Wait()
		t.Logf("idler: %s", rest)
		if err != nil {
			t.Fatalf("idler failed: %v\n%s%s", err, rest, stderr.String())
		}
		if !strings.Contains(string(rest), "EXISTS") || !strings.Contains(string(rest), "OK") {
			t.Fatalf("idler output: %s", rest)
		}
	}
	t.Run("notify", func(t *testing.T) {
		run(t, func(f *fixture, raw []byte) { f.deliver("dev", raw) })
	})
	t.Run("other-process", func(t *testing.T) {
		// A second store handle on the same directory, as `patchwell
		// import` in another process: no Notify, the watcher's poll
		// must find it.
		run(t, func(f *fixture, raw []byte) {
			ctx := context.Background()
			st2, err := store.Open(ctx, f.dir)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Close()
			in2 := review.NewIngester(st2, review.Config{Log: slog.New(slog.DiscardHandler)})
			defer in2.Close()
			if err := in2.Post(ctx, review.Post{Lists: []string{"dev"}, Raw: raw}); err != nil {
				t.Fatal(err)
			}
		})
	})
}

func TestPrivateList(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, imapd.Config{}, "dev", "sec")
	msgs := testMessages(t)
	f.deliver("dev", msgs[0])
	f.deliver("sec", msgs[5])
	if err := f.st.SetVisibility(ctx, "sec", store.VisibilityPrivate); err != nil {
		t.Fatal(err)
	}
	mia, err := f.acc.AddUser(ctx, "mia@example.org", "Mia Member", "correct horse battery", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.st.SetRole(ctx, mia.ID, "sec", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	if _, err := f.acc.AddUser(ctx, "nora@example.org", "Nora Outsider", "another good password", false); err != nil {
		t.Fatal(err)
	}
	tok, _, err := f.acc.NewToken(ctx, mia.ID, "imap")
	if err != nil {
		t.Fatal(err)
	}
	secRaw := f.messages("sec")[0].raw

	// outsider: anonymous, or an account without a role on the list.
	for _, login := range [][2]string{{"anonymous", "x"}, {"nora@example.org", "another good password"}} {
		res := runPython(t, f, []pyStep{
			step("login", login[0], login[1]),
			step("list", `""`, "*"),
			step("select", "sec"),
			step("select", "sec/patches"),
			step("status", "sec", "(MESSAGES)"),
			step("select", "dev"),
		})
		res[0].ok(t, "LOGIN "+login[0])
		res[1].ok(t, "LIST")
		if l := strings.Join(res[1].flat(), "\n"); strings.Contains(l, "sec") || !strings.Contains(l, "dev") {
			t.Errorf("%s: LIST = %s", login[0], l)
		}
		for _, r := range res[2:5] {
			if !r.refused("NONEXISTENT") {
				t.Errorf("%s: SELECT/STATUS of the private list = %+v, want NO [NONEXISTENT]", login[0], r)
			}
		}
		res[5].ok(t, "SELECT dev")
	}
	// members, with the password or an API token as the password.
	for _, pass := range []string{"correct horse battery", tok} {
		res := runPython(t, f, []pyStep{
			step("login", "mia@example.org", pass),
			step("list", `""`, "*"),
			step("select", "sec"),
			step("uid", "FETCH", "1:*", "(BODY.PEEK[])"),
		})
		res[0].ok(t, "LOGIN mia")
		if l := strings.Join(res[1].flat(), "\n"); !strings.Contains(l, "sec") {
			t.Errorf("member: LIST lacks the private list: %s", l)
		}
		res[2].ok(t, "SELECT sec")
		res[3].ok(t, "FETCH")
		if got := res[3].literal(t); !bytes.Equal(lf(got), lf(secRaw)) {
			t.Errorf("member: private message = %q", trunc(got))
		}
	}
	// Wrong passwords: AUTHENTICATIONFAILED, then UNAVAILABLE for the
	// address once it made LoginFailures (10) of them, even with the
	// right password.
	steps := []pyStep{}
	for range 10 {
		steps = append(steps, step("login", "mia@example.org", "wrong"))
	}
	steps = append(steps, step("login", "mia@example.org", "correct horse battery"), step("login", "anonymous", "x"))
	res := runPython(t, f, steps)
	for i, r := range res[:10] {
		if !r.refused("AUTHENTICATIONFAILED") {
			t.Errorf("wrong password %d: %+v, want NO [AUTHENTICATIONFAILED]", i+1, r)
		}
	}
	if !res[10].refused("UNAVAILABLE") {
		t.Errorf("login after 10 failures: %+v, want NO [UNAVAILABLE]", res[10])
	}
	res[11].ok(t, "anonymous LOGIN after the account was blocked")
}
