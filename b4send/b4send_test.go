package b4send

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"patchwell/gitrepo"
	"patchwell/review"
	"patchwell/store"
)

// poster records what would be posted; may says who may post.
type poster struct {
	posts [][]review.Post
	may   bool
}

func (p *poster) PostAll(ctx context.Context, posts []review.Post) error {
	p.posts = append(p.posts, posts)
	return nil
}

func (p *poster) MayPost(ctx context.Context, list, from string) (bool, error) { return p.may, nil }

// lists knows the list dev; policy is Admits' answer.
type lists struct{ policy string }

func (l *lists) ListInfo(ctx context.Context, name string) (*store.List, error) {
	if name == "dev" {
		return &store.List{Name: name}, nil
	}
	return nil, store.ErrNotFound
}

func (l *lists) Admits(ctx context.Context, list, from string) (string, error) { return l.policy, nil }

type sent struct {
	list  string
	rcpts []string
}

type reflector struct{ sent []sent }

func (r *reflector) Send(ctx context.Context, list string, rcpts []string, raw []byte) error {
	r.sent = append(r.sent, sent{list, rcpts})
	return nil
}

type env struct {
	t     *testing.T
	st    *store.DB
	in    *poster
	lists *lists
	refl  *reflector
	mails []string
	srv   *httptest.Server
	dmarc string
}

func newEnv(t *testing.T, cfg Config) *env {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{t: t, st: st, in: &poster{may: true}, lists: &lists{}, refl: &reflector{}}
	cfg.Domain = "patchwell.localhost"
	cfg.Mailinfo = gitrepo.Mailinfo
	if cfg.SendMail == nil {
		cfg.SendMail = func(ctx context.Context, to, subject, body string) error {
			e.mails = append(e.mails, to+"\n"+body)
			return nil
		}
	}
	cfg.DMARCPolicy = func(ctx context.Context, domain string) (string, error) { return e.dmarc, nil }
	e.srv = httptest.NewServer(New(st, e.in, e.lists, e.refl, cfg))
	t.Cleanup(e.srv.Close)
	return e
}

// post sends a request; it returns the status and the error message
// ("" for success).
func (e *env) post(req any) (int, string) {
	e.t.Helper()
	b, _ := json.Marshal(req)
	resp, err := http.Post(e.srv.URL+"/_b4_submit", "application/json", bytes.NewReader(b))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Result, Message string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		e.t.Fatal(err)
	}
	if (out.Result == "success") != (resp.StatusCode == 200) || (out.Result == "error") == (out.Message == "") {
		e.t.Errorf("answer %d %+v", resp.StatusCode, out)
	}
	return resp.StatusCode, out.Message
}

// verifyAda makes the key of the patatt vector verified for ada, as
// auth-verify would.
func (e *env) verifyAda() {
	e.t.Helper()
	pub, err := os.ReadFile("../mailauth/testdata/patatt/ed25519.pub")
	if err != nil {
		e.t.Fatal(err)
	}
	ctx := context.Background()
	k := store.DevKey{Identity: "ada@example.org", Name: "Ada", Selector: "vec", Algorithm: "ed25519", Public: string(pub), KeyID: strings.TrimSpace(string(pub))}
	if _, err := e.st.AddDevKeyChallenge(ctx, k, "c", time.Now().Add(time.Hour)); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.st.VerifyDevKey(ctx, "c", time.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// signed is the patatt vector (signed by ada; To is not signed).
func signed(t *testing.T, to string) string {
	t.Helper()
	b, err := os.ReadFile("../mailauth/testdata/patatt/ed25519.eml")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "To: dev@patchwell.localhost", "To: "+to, 1)
}

// TestAuthNew: a key is recorded and a single-use challenge mailed with
// the command to run; bad identities and keys are refused, and so is a
// sixth challenge in an hour.
func TestAuthNew(t *testing.T) {
	e := newEnv(t, Config{})
	pub, _ := os.ReadFile("../mailauth/testdata/patatt/ed25519.pub")
	req := map[string]string{"action": "auth-new", "name": "Ada", "identity": "ada@example.org", "selector": "vec", "pubkey": string(pub)}
	if code, msg := e.post(req); code != 200 {
		t.Fatalf("auth-new = %d %s", code, msg)
	}
	if len(e.mails) != 1 || !strings.HasPrefix(e.mails[0], "ada@example.org\n") || !strings.Contains(e.mails[0], "b4 send --web-auth-verify ") {
		t.Fatalf("challenge mail: %q", e.mails)
	}
	challenge := strings.Fields(e.mails[0][strings.Index(e.mails[0], "--web-auth-verify"):])[1]
	k, err := e.st.DevKeyChallenge(context.Background(), challenge, time.Now())
	if err != nil || k.Identity != "ada@example.org" || k.Selector != "vec" || !k.Verified.IsZero() {
		t.Errorf("DevKeyChallenge(%s) = %+v, %v", challenge, k, err)
	}
	pgp, _ := os.ReadFile("../mailauth/testdata/patatt/openpgp.pub")
	for name, c := range map[string]struct {
		req  map[string]string
		code int
		want string
	}{
		"openpgp key":  {map[string]string{"action": "auth-new", "identity": "ada@example.org", "pubkey": string(pgp)}, 200, ""},
		"bad identity": {map[string]string{"action": "auth-new", "identity": "Ada <ada@example.org>", "pubkey": string(pub)}, 400, "not an e-mail address"},
		"bad key":      {map[string]string{"action": "auth-new", "identity": "ada@example.org", "pubkey": "AAAA"}, 400, "pubkey"},
		"openssh key":  {map[string]string{"action": "auth-new", "identity": "ada@example.org", "pubkey": "ssh-ed25519 AAAAC3Nz"}, 400, "pubkey"},
	} {
		if code, msg := e.post(c.req); code != c.code || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want %d %q", name, code, msg, c.code, c.want)
		}
	}
	for i := 0; i < 3; i++ {
		e.post(req)
	}
	if code, msg := e.post(req); code != http.StatusTooManyRequests || !strings.Contains(msg, "challenges were mailed") {
		t.Errorf("sixth auth-new = %d %q, want 429", code, msg)
	}
	// One client may ask for 20 challenges an hour, whatever the
	// identities.
	many := newEnv(t, Config{})
	for i := 0; i < 20; i++ {
		if code, msg := many.post(map[string]string{"action": "auth-new", "identity": fmt.Sprintf("p%d@example.org", i), "pubkey": string(pub)}); code != 200 {
			t.Fatalf("auth-new %d = %d %q", i, code, msg)
		}
	}
	if code, msg := many.post(map[string]string{"action": "auth-new", "identity": "p20@example.org", "pubkey": string(pub)}); code != http.StatusTooManyRequests || !strings.Contains(msg, "from your address") {
		t.Errorf("21st auth-new from one client = %d %q, want 429", code, msg)
	}
	noMail := newEnv(t, Config{SendMail: func(context.Context, string, string, string) error { return errors.New("smarthost down") }})
	if code, msg := noMail.post(req); code != http.StatusBadGateway || strings.Contains(msg, "smarthost down") {
		t.Errorf("auth-new, mail failing = %d %q, want 502 without the details", code, msg)
	}
}

// TestAuthVerifyRefusals: a message that is unsigned, carries an unknown
// challenge, or comes from another identity than the challenge's does
// not verify the key.
func TestAuthVerifyRefusals(t *testing.T) {
	e := newEnv(t, Config{})
	pub, _ := os.ReadFile("../mailauth/testdata/patatt/ed25519.pub")
	e.post(map[string]string{"action": "auth-new", "identity": "eve@example.org", "pubkey": string(pub)})
	challenge := strings.Fields(e.mails[0][strings.Index(e.mails[0], "--web-auth-verify"):])[1]
	for name, c := range map[string]struct {
		msg, want string
	}{
		"unsigned":          {"From: eve@example.org\nSubject: b4-send-verify\n\nverify:" + challenge + "\n", "not signed"},
		"unknown challenge": {signed(t, "x@example.org") + "\nverify:0123abcd\n", "unknown, used or expired challenge"},
		"other identity":    {signed(t, "x@example.org") + "\nverify:" + challenge + "\n", "the challenge was mailed to eve@example.org"},
	} {
		if code, msg := e.post(map[string]string{"action": "auth-verify", "msg": c.msg}); code != http.StatusForbidden || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 403 %q", name, code, msg, c.want)
		}
	}
	if keys, _ := e.st.DevKeys(context.Background(), "eve@example.org"); len(keys) != 0 {
		t.Errorf("a refused auth-verify verified %+v", keys)
	}
}

// TestReceive: a message signed by a verified key of its From is posted
// to the list, to the subscribers, with the other recipients as Also;
// everything else is refused with a reason and posts nothing.
func TestReceive(t *testing.T) {
	e := newEnv(t, Config{MaxPatches: 3, MaxBytes: 8000, MaxPerHour: 3})
	msg := signed(t, "dev@patchwell.localhost, Ann <ann@example.org>")
	if code, m := e.post(map[string]any{"action": "receive", "messages": []string{msg}}); code != http.StatusForbidden || !strings.Contains(m, "ada@example.org has no verified key here") {
		t.Errorf("before verifying: %d %q", code, m)
	}
	e.verifyAda()
	if code, m := e.post(map[string]any{"action": "receive", "messages": []string{msg}}); code != 200 {
		t.Fatalf("receive = %d %q", code, m)
	}
	if len(e.in.posts) != 1 || len(e.in.posts[0]) != 1 {
		t.Fatalf("posts = %+v", e.in.posts)
	}
	p := e.in.posts[0][0]
	if strings.Join(p.Lists, ",") != "dev" || !p.Distribute || p.RewriteFrom || strings.Join(p.Also, ",") != "ann@example.org" || string(p.Raw) != msg {
		t.Errorf("post = %+v", p)
	}
	// The author's domain publishes p=reject: the list's copies say
	// "via" (the archive keeps the bytes as signed).
	e.dmarc = "reject"
	e.post(map[string]any{"action": "receive", "messages": []string{msg}})
	if len(e.in.posts) != 2 || !e.in.posts[1][0].RewriteFrom {
		t.Errorf("p=reject: posts = %+v", e.in.posts)
	}
	e.dmarc = ""
	e.post(map[string]any{"action": "reflect", "messages": []string{msg, msg}})
	if len(e.refl.sent) != 2 || e.refl.sent[0].list != "dev" || strings.Join(e.refl.sent[0].rcpts, ",") != "ada@example.org" || len(e.in.posts) != 2 {
		t.Errorf("reflect: sent %+v, posts %d", e.refl.sent, len(e.in.posts))
	}
	// Three submissions this hour: the fourth is refused.
	if code, m := e.post(map[string]any{"action": "receive", "messages": []string{msg}}); code != http.StatusTooManyRequests || !strings.Contains(m, "submitted 3 series in the last hour") {
		t.Errorf("fourth submission: %d %q", code, m)
	}
	posted := len(e.in.posts)

	f := newEnv(t, Config{MaxPatches: 3, MaxBytes: 8000})
	f.verifyAda()
	unsigned := "From: Ada <ada@example.org>\nTo: dev@patchwell.localhost\nSubject: x\n\nbody\n"
	for name, c := range map[string]struct {
		msgs   []string
		policy string
		may    bool
		code   int
		want   string
	}{
		"unsigned":           {[]string{msg, unsigned}, "", true, 403, "message 2 (x) is not signed"},
		"forged from":        {[]string{strings.Replace(msg, "<ada@example.org>", "<eve@example.org>", 1)}, "", true, 403, "From eve@example.org is not the identity that signed it (ada@example.org)"},
		"changed body":       {[]string{strings.Replace(msg, "+world", "+World", 1)}, "", true, 403, "does not verify with a key verified for ada@example.org"},
		"no list":            {[]string{signed(t, "ann@example.org")}, "", true, 400, "addressed to no list of this site"},
		"unknown list":       {[]string{signed(t, "nosuch@patchwell.localhost")}, "", true, 400, "nosuch@patchwell.localhost: no such list here"},
		"command address":    {[]string{signed(t, "dev+subscribe@patchwell.localhost")}, "", true, 400, "command address"},
		"too many":           {[]string{msg, msg, msg, msg}, "", true, 413, "at most 3"},
		"too big":            {[]string{msg, msg + strings.Repeat("x", 8000)}, "", true, 413, "bytes"},
		"held by policy":     {[]string{msg}, "the list would hold it for a moderator (the list is moderated)", true, 403, "send it by SMTP instead"},
		"private list":       {[]string{msg}, "", false, 403, "may not post to the list dev"},
		"many outsiders":     {[]string{signed(t, "dev@patchwell.localhost, "+outsiders(21))}, "", true, 400, "names 21 addresses besides the lists"},
		"not a message":      {[]string{"garbage"}, "", true, 400, "message 1"},
		"no messages at all": {nil, "", true, 400, "no messages"},
	} {
		f.lists.policy, f.in.may = c.policy, c.may
		if code, m := f.post(map[string]any{"action": "receive", "messages": c.msgs}); code != c.code || !strings.Contains(m, c.want) {
			t.Errorf("%s: %d %q, want %d %q", name, code, m, c.code, c.want)
		}
	}
	if len(f.in.posts) != 0 || len(e.in.posts) != posted {
		t.Errorf("refused submissions were posted: %+v", f.in.posts)
	}
	for name, c := range map[string]struct {
		method, body string
		code         int
	}{
		"GET":            {"GET", "", 405},
		"not JSON":       {"POST", "{", 400},
		"unknown action": {"POST", `{"action":"delete"}`, 400},
	} {
		req, _ := http.NewRequest(c.method, f.srv.URL+"/_b4_submit", strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.code || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: %d %s, want %d JSON", name, resp.StatusCode, resp.Header.Get("Content-Type"), c.code)
		}
	}
}

func outsiders(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("p" + strings.Repeat("x", i) + "@example.net")
	}
	return b.String()
}
