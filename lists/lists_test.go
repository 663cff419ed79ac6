package lists

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"patchwell/review"
	"patchwell/store"
)

// recorder is an Outbox that keeps what it was asked to send, so tests
// can read the mail the list writes. The real outbox (package outbound)
// is tested with a real SMTP sink in cmd/patchwell.
type recorder struct {
	mu          sync.Mutex
	distributed []string // Message-IDs
	rewrite     map[string]bool
	sent        []sent
}

type sent struct {
	to  []string
	raw string
}

func (r *recorder) Distribute(ctx context.Context, tx store.Tx, l *store.List, a *store.Added, raw []byte, rewrite bool, also []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.distributed = append(r.distributed, a.MessageID)
	if r.rewrite == nil {
		r.rewrite = map[string]bool{}
	}
	r.rewrite[a.MessageID] = rewrite
	return nil
}

func (r *recorder) Send(ctx context.Context, list string, rcpts []string, raw []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, sent{to: rcpts, raw: string(raw)})
	return nil
}

// last returns the newest message sent to addr.
func (r *recorder) last(t *testing.T, addr string) string {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.sent) - 1; i >= 0; i-- {
		for _, to := range r.sent[i].to {
			if strings.EqualFold(to, addr) {
				return r.sent[i].raw
			}
		}
	}
	t.Fatalf("nothing sent to %s (sent: %d)", addr, len(r.sent))
	return ""
}

type env struct {
	st   *store.DB
	in   *review.Ingester
	acc  *review.Accounts
	out  *recorder
	srv  *Server
	auth map[string]*Auth // by From address
}

func newEnv(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateList(ctx, store.List{Name: "dev", Owner: "owner@example.org"}); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	out := &recorder{}
	in := review.NewIngester(st, review.Config{Log: log, Distribute: out.Distribute})
	t.Cleanup(func() { in.Close() })
	e := &env{st: st, in: in, acc: review.NewAccounts(st, review.Argon2Params{Memory: 64, Time: 1, Threads: 1}),
		out: out, auth: map[string]*Auth{}}
	e.srv = New(st, in, e.acc, e.out, Config{Domain: "lists.example.org", WebURL: "https://lists.example.org",
		Verify: func(ctx context.Context, raw []byte, env Envelope) *Auth {
			return e.auth[strings.ToLower(parse(raw).From.Email)]
		},
		ParseVERP:    func(d string) (string, bool) { return strings.Replace(d, "=", "@", 1), strings.Contains(d, "=") },
		ParseDSN:     func(raw []byte) (string, bool, bool) { return "", strings.Contains(string(raw), "Status: 5."), true },
		DisableAfter: 2}, log)
	return e
}

func msg(from, id, subject, extra, body string) []byte {
	return []byte("From: " + from + "\nTo: dev@lists.example.org\nSubject: " + subject + "\nMessage-ID: <" + id + ">\n" +
		"Date: Mon, 1 Jan 2024 00:00:00 +0000\n" + extra + "\n" + body + "\n")
}

func (e *env) receive(t *testing.T, rcpt string, raw []byte) error {
	t.Helper()
	return e.srv.Receive(context.Background(), Envelope{MailFrom: "sender@example.org", Remote: "192.0.2.1:1234"}, []string{rcpt}, raw)
}

func (e *env) archived(id string) bool {
	_, err := e.st.Message(context.Background(), "dev", id)
	return err == nil
}

func smtpCode(err error) string {
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		c := se.EnhancedCode
		return fmt.Sprintf("%d.%d.%d", c[0], c[1], c[2])
	}
	return ""
}

func TestPostPolicies(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	if err := e.receive(t, "dev", msg("Ann <ann@example.org>", "p1@x", "hello", "", "hi")); err != nil {
		t.Fatal(err)
	}
	if !e.archived("p1@x") || len(e.out.distributed) != 1 {
		t.Fatalf("open list: archived=%v distributed=%v", e.archived("p1@x"), e.out.distributed)
	}

	// Our own List-Id or X-Loop coming back: refused, not archived.
	for i, extra := range []string{"List-Id: Dev <dev.lists.example.org>\n", "X-Loop: dev@lists.example.org\n"} {
		id := []string{"loop1@x", "loop2@x"}[i]
		err := e.receive(t, "dev", msg("ann@example.org", id, "loop", extra, "again"))
		if smtpCode(err) != "5.4.6" || e.archived(id) {
			t.Errorf("loop %q: %v, archived %v", extra, err, e.archived(id))
		}
	}

	// Auto-replies are archived, not redistributed.
	if err := e.receive(t, "dev", msg("bot@example.org", "auto@x", "Out of office", "Auto-Submitted: auto-replied\n", "away")); err != nil {
		t.Fatal(err)
	}
	if !e.archived("auto@x") || len(e.out.distributed) != 1 {
		t.Errorf("auto-reply: archived=%v distributed=%v", e.archived("auto@x"), e.out.distributed)
	}

	// Deny beats everything; allow passes moderation.
	if err := e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostModerated, DMARC: store.DMARCAccept,
		Allow: []string{"@trusted.example"}, Deny: []string{"spam@bad.example"}}); err != nil {
		t.Fatal(err)
	}
	if err := e.receive(t, "dev", msg("spam@bad.example", "spam@x", "buy", "", "now")); smtpCode(err) != "5.7.1" {
		t.Errorf("denied sender: %v", err)
	}
	if err := e.receive(t, "dev", msg("dev@sub.trusted.example", "ok@x", "fine", "", "ok")); err != nil || !e.archived("ok@x") {
		t.Errorf("allowed sender: %v archived %v", err, e.archived("ok@x"))
	}

	// Moderated: held, not archived; owner and sender told; approve
	// archives and distributes it.
	if err := e.receive(t, "dev", msg("Ann <ann@example.org>", "held@x", "please", "", "wait")); err != nil {
		t.Fatal(err)
	}
	if e.archived("held@x") {
		t.Fatal("a held message was archived")
	}
	held, err := e.st.HeldMessages(ctx, "dev", store.HeldWaiting)
	if err != nil || len(held) != 1 || held[0].MessageID != "held@x" || held[0].Reason != "the list is moderated" {
		t.Fatalf("held = %+v %v", held, err)
	}
	if note := e.out.last(t, "owner@example.org"); !strings.Contains(note, "held for moderation") {
		t.Errorf("owner notice: %s", note)
	}
	if note := e.out.last(t, "ann@example.org"); !strings.Contains(note, "held for a moderator") {
		t.Errorf("sender notice: %s", note)
	}
	n := len(e.out.distributed)
	if err := e.srv.Approve(ctx, held[0].ID, "owner@example.org"); err != nil {
		t.Fatal(err)
	}
	if !e.archived("held@x") || len(e.out.distributed) != n+1 {
		t.Errorf("after approve: archived=%v distributed=%v", e.archived("held@x"), e.out.distributed)
	}
	if err := e.srv.Approve(ctx, held[0].ID, "owner@example.org"); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second approve: %v", err)
	}

	// Subscribers only: a stranger is held, a subscriber is not.
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostSubscribers, DMARC: store.DMARCAccept})
	e.st.Subscribe(ctx, "dev", "sub@example.org", "", store.SubActive)
	if err := e.receive(t, "dev", msg("sub@example.org", "s1@x", "member", "", "hi")); err != nil || !e.archived("s1@x") {
		t.Errorf("subscriber post: %v %v", err, e.archived("s1@x"))
	}
	if err := e.receive(t, "dev", msg("stranger@example.org", "s2@x", "stranger", "", "hi")); err != nil || e.archived("s2@x") {
		t.Errorf("stranger post: %v archived %v", err, e.archived("s2@x"))
	}
}

func TestDMARC(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.auth["eve@strict.example"] = &Auth{DMARC: "fail", DMARCPolicy: "reject", FromDomain: "strict.example"}
	e.auth["bob@strict.example"] = &Auth{DMARC: "pass", DMARCPolicy: "reject", DKIMAligned: true, FromDomain: "strict.example"}
	e.auth["cat@relaxed.example"] = &Auth{DMARC: "pass", DMARCPolicy: "none", DKIMAligned: true, FromDomain: "relaxed.example"}

	// accept (default): a DMARC failure is archived like anything else.
	if err := e.receive(t, "dev", msg("eve@strict.example", "d1@x", "spoof", "", "x")); err != nil || !e.archived("d1@x") {
		t.Errorf("accept: %v %v", err, e.archived("d1@x"))
	}
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostOpen, DMARC: store.DMARCReject})
	if err := e.receive(t, "dev", msg("eve@strict.example", "d2@x", "spoof", "", "x")); smtpCode(err) != "5.7.1" || e.archived("d2@x") {
		t.Errorf("reject: %v %v", err, e.archived("d2@x"))
	}
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostOpen, DMARC: store.DMARCHold})
	if err := e.receive(t, "dev", msg("eve@strict.example", "d3@x", "spoof", "", "x")); err != nil || e.archived("d3@x") {
		t.Errorf("hold: %v %v", err, e.archived("d3@x"))
	}
	// A p=reject author's post goes out with From rewritten; p=none does not.
	e.receive(t, "dev", msg("bob@strict.example", "d4@x", "real", "", "x"))
	e.receive(t, "dev", msg("cat@relaxed.example", "d5@x", "real", "", "x"))
	if !e.out.rewrite["d4@x"] || e.out.rewrite["d5@x"] {
		t.Errorf("rewrite flags: %v", e.out.rewrite)
	}
	if r, err := e.st.MessageAuth(ctx, "dev", "d4@x"); err != nil || !strings.Contains(r, `"DKIMAligned":true`) {
		t.Errorf("auth kept with the message: %q %v", r, err)
	}
}

var confirmAddr = regexp.MustCompile(`dev\+confirm-([0-9a-f]+)@lists\.example\.org`)

func TestSubscribeByMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if err := e.receive(t, "dev+subscribe", msg("Zed <zed@example.org>", "sub1@x", "subscribe", "", "")); err != nil {
		t.Fatal(err)
	}
	if sub, err := e.st.Subscriber(ctx, "dev", "zed@example.org"); err != nil || sub.State != store.SubPending {
		t.Fatalf("after request: %+v %v", sub, err)
	}
	m := confirmAddr.FindStringSubmatch(e.out.last(t, "zed@example.org"))
	if m == nil {
		t.Fatal("no confirm address in the confirmation")
	}
	// A wrong token changes nothing and says so.
	e.receive(t, "dev+confirm-0123", msg("zed@example.org", "c0@x", "Re: confirm", "", "yes"))
	if !strings.Contains(e.out.last(t, "zed@example.org"), "unknown or has expired") {
		t.Error("a wrong token was not answered")
	}
	if err := e.receive(t, "dev+confirm-"+m[1], msg("zed@example.org", "c1@x", "Re: confirm", "", "yes")); err != nil {
		t.Fatal(err)
	}
	if sub, _ := e.st.Subscriber(ctx, "dev", "zed@example.org"); sub == nil || sub.State != store.SubActive || sub.Name != "Zed" {
		t.Fatalf("after confirm: %+v", sub)
	}
	if !strings.Contains(e.out.last(t, "zed@example.org"), "Welcome") {
		t.Error("no welcome")
	}
	// Unsubscribe is confirmed too (a forged request reaches the owner
	// of the address, not the forger).
	e.receive(t, "dev+unsubscribe", msg("zed@example.org", "u1@x", "unsubscribe", "", ""))
	m = confirmAddr.FindStringSubmatch(e.out.last(t, "zed@example.org"))
	if m == nil {
		t.Fatal("no unsubscribe confirmation")
	}
	if msg, err := e.srv.Confirm(ctx, m[1]); err != nil || !strings.Contains(msg, "no longer subscribed") {
		t.Fatalf("confirm unsubscribe: %q %v", msg, err)
	}
	if _, err := e.st.Subscriber(ctx, "dev", "zed@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("still subscribed: %v", err)
	}
	// help, owner, unknown command, and no answer to automatic mail.
	e.receive(t, "dev+help", msg("q@example.org", "h@x", "help", "", ""))
	if !strings.Contains(e.out.last(t, "q@example.org"), "dev+subscribe@lists.example.org") {
		t.Error("help text")
	}
	e.receive(t, "dev+owner", msg("q@example.org", "o@x", "question", "", "hello owner"))
	if !strings.Contains(e.out.last(t, "owner@example.org"), "hello owner") {
		t.Error("owner forward")
	}
	if err := e.receive(t, "dev+frobnicate", msg("q@example.org", "f@x", "x", "", "")); smtpCode(err) != "5.1.1" {
		t.Errorf("unknown command: %v", err)
	}
	n := len(e.out.sent)
	e.receive(t, "dev+help", msg("bot@example.org", "a@x", "help", "Auto-Submitted: auto-replied\n", ""))
	if len(e.out.sent) != n {
		t.Error("answered an auto-reply")
	}
}

func TestBounces(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.st.Subscribe(ctx, "dev", "gone@example.net", "", store.SubActive)
	dsn := msg("MAILER-DAEMON@mx.example.net", "b1@x", "Undelivered", "", "Status: 5.1.1")
	for i := 0; i < 2; i++ {
		if err := e.srv.Receive(ctx, Envelope{}, []string{"dev+bounces-gone=example.net"}, dsn); err != nil {
			t.Fatal(err)
		}
	}
	sub, _ := e.st.Subscriber(ctx, "dev", "gone@example.net")
	if sub.State != store.SubDisabled || sub.Bounces != 2 {
		t.Fatalf("after 2 hard bounces: %+v", sub)
	}
	if !strings.Contains(e.out.last(t, "owner@example.org"), "gone@example.net bounced 2 times") {
		t.Error("owners not told")
	}
	soft := msg("MAILER-DAEMON@mx.example.net", "b2@x", "Delayed", "", "Status: 4.2.2")
	e.st.Subscribe(ctx, "dev", "slow@example.net", "", store.SubActive)
	e.srv.Receive(ctx, Envelope{}, []string{"dev+bounces-slow=example.net"}, soft)
	if sub, _ := e.st.Subscriber(ctx, "dev", "slow@example.net"); sub.Bounces != 0 {
		t.Errorf("a soft bounce counted: %+v", sub)
	}
}

const patchBody = "Fix the thing.\n\nSigned-off-by: Ann Dev <ann@example.org>\n---\n a.txt | 2 +-\n" +
	" 1 file changed, 1 insertion(+), 1 deletion(-)\n\ndiff --git a/a.txt b/a.txt\nindex 1111111..2222222 100644\n" +
	"--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-old\n+new\n-- \n2.40.0"

func TestStatusByMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.acc.AddUser(ctx, "mai@example.org", "Mai", "pw pw pw pw", false)
	if err != nil {
		t.Fatal(err)
	}
	e.st.SetRole(ctx, u.ID, "dev", store.RoleMaintainer)
	if err := e.receive(t, "dev", msg("Ann Dev <ann@example.org>", "patch@x", "[PATCH] fix the thing", "", patchBody)); err != nil {
		t.Fatal(err)
	}
	m, err := e.st.Message(ctx, "dev", "patch@x")
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("patch not a series: %+v %v", m, err)
	}
	reply := func(id, from string) []byte {
		return msg(from, id, "Re: [PATCH] fix the thing", "In-Reply-To: <patch@x>\nReferences: <patch@x>\nX-Patchwell-Status: approved looks good\n", "> -old\nThanks.")
	}
	// Spoofed: From the maintainer, but not signed by their domain.
	e.auth["mai@example.org"] = &Auth{DMARC: "fail", DMARCPolicy: "none", FromDomain: "example.org"}
	if err := e.receive(t, "dev", reply("r1@x", "Mai <mai@example.org>")); err != nil {
		t.Fatal(err)
	}
	if s, _ := e.st.Series(ctx, m.SeriesID); s.Status != store.StatusProposed {
		t.Fatalf("a spoofed command changed the status to %s", s.Status)
	}
	if !e.archived("r1@x") {
		t.Error("the spoofed command was not archived as an ordinary reply")
	}
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "Not done") || !strings.Contains(note, "not signed") {
		t.Errorf("answer to the spoofed command: %s", note)
	}
	if r, _ := e.st.MessageAuth(ctx, "dev", "r1@x"); !strings.Contains(r, "Not done") {
		t.Errorf("the reason is not kept with the message: %s", r)
	}
	// A non-maintainer, even signed, is refused.
	e.auth["ann@example.org"] = &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	e.receive(t, "dev", reply("r2@x", "Ann Dev <ann@example.org>"))
	if s, _ := e.st.Series(ctx, m.SeriesID); s.Status != store.StatusProposed {
		t.Fatal("a contributor's command was obeyed")
	}
	// Signed by the maintainer's domain: obeyed, with the comment.
	e.auth["mai@example.org"] = &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	e.receive(t, "dev", reply("r3@x", "Mai <mai@example.org>"))
	s, _ := e.st.Series(ctx, m.SeriesID)
	if s.Status != store.StatusApproved {
		t.Fatalf("status %s after a signed command", s.Status)
	}
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "Done: series") || !strings.Contains(note, "approved") {
		t.Errorf("answer: %s", note)
	}
	hist, _ := e.st.StatusHistory(ctx, m.SeriesID)
	if len(hist) != 1 || hist[0].Comment != "looks good" {
		t.Errorf("history %+v", hist)
	}
	// Same status again: the same rule as the web (a conflict), said.
	e.receive(t, "dev", reply("r4@x", "Mai <mai@example.org>"))
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "Not done") {
		t.Errorf("repeat: %s", note)
	}
	_ = time.Now
}

// TestSubscribeAgainKeepsActive: a subscription request for an active
// address changes nothing (it would otherwise let anyone stop its mail).
func TestSubscribeAgainKeepsActive(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.st.Subscribe(ctx, "dev", "ann@example.org", "Ann", store.SubActive)
	if err := e.receive(t, "dev+subscribe", msg("Mallory <ann@example.org>", "again@x", "subscribe", "", "")); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RequestSubscription(ctx, "dev", "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	if sub, _ := e.st.Subscriber(ctx, "dev", "ann@example.org"); sub.State != store.SubActive {
		t.Fatalf("state %s after a new request", sub.State)
	}
	if !strings.Contains(e.out.last(t, "ann@example.org"), "already subscribed") {
		t.Error("no answer saying so")
	}
}

// TestModerateByMail: an owner approves a held post by replying to the
// notice; a forged reply (not signed by the owner's domain) is refused
// and said so; a reply from someone without a role is refused.
func TestModerateByMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, err := e.acc.AddUser(ctx, "owner@example.org", "Owner", "pw pw pw pw", false)
	if err != nil {
		t.Fatal(err)
	}
	e.st.SetRole(ctx, u.ID, "dev", store.RoleOwner)
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostModerated, DMARC: store.DMARCAccept})
	if err := e.receive(t, "dev", msg("ann@example.org", "mod1@x", "please post", "", "hi")); err != nil {
		t.Fatal(err)
	}
	notice := e.out.last(t, "owner@example.org")
	m := regexp.MustCompile(`dev\+moderate-(\d+)@lists\.example\.org`).FindStringSubmatch(notice)
	if m == nil {
		t.Fatalf("no moderation address in the notice:\n%s", notice)
	}
	approve := msg("Owner <owner@example.org>", "a1@x", "Re: Held", "", "approve\n\n> held for moderation")
	// Forged: not signed by example.org.
	e.auth["owner@example.org"] = &Auth{DMARC: "fail", FromDomain: "example.org"}
	e.receive(t, "dev+moderate-"+m[1], approve)
	if e.archived("mod1@x") || !strings.Contains(e.out.last(t, "owner@example.org"), "Not done") {
		t.Fatal("a forged approval was obeyed or not answered")
	}
	// Someone without a role, signed.
	e.auth["eve@example.org"] = &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	e.receive(t, "dev+moderate-"+m[1], msg("eve@example.org", "a2@x", "Re: Held", "", "approve"))
	if e.archived("mod1@x") || !strings.Contains(e.out.last(t, "eve@example.org"), "Not done") {
		t.Fatal("an approval from someone without a role was obeyed or not answered")
	}
	// The owner, signed.
	e.auth["owner@example.org"] = &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	e.receive(t, "dev+moderate-"+m[1], approve)
	if !e.archived("mod1@x") {
		t.Fatal("the approved post is not archived")
	}
	if !strings.Contains(e.out.last(t, "owner@example.org"), "approved and sent") {
		t.Error("no answer to the owner")
	}
	if h, _ := e.st.HeldMessages(ctx, "dev", store.HeldApproved); len(h) != 1 || h[0].DecidedBy != "owner@example.org" {
		t.Errorf("decision not recorded: %+v", h)
	}
}

// fakeApplier records the series it is asked to apply; the real one
// (gitrepo through cmd) is tested with real git in cmd/patchwell.
type fakeApplier struct {
	calls []string // "series by"
	err   error
}

func (f *fakeApplier) ApplySeries(ctx context.Context, seriesID int64, by string) (string, error) {
	f.calls = append(f.calls, fmt.Sprintf("%d %s", seriesID, by))
	if f.err != nil {
		return "", f.err
	}
	f.err = fmt.Errorf("the series is applied already: %w", store.ErrConflict)
	return "Applied to main, thanks!\n\n[1/1] fix the thing\n      commit: 0123456789abcdef\n", nil
}

// TestApplyByMail: X-Patchwell-Apply: yes on a reply to a series applies
// it only for a maintainer whose mail passes DMARC through aligned
// DKIM; a spoofed or role-less command is an ordinary reply; every
// command is answered and its result kept with the message.
func TestApplyByMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	ap := &fakeApplier{}
	e.srv.cfg.Apply = ap
	u, err := e.acc.AddUser(ctx, "mai@example.org", "Mai", "pw pw pw pw", false)
	if err != nil {
		t.Fatal(err)
	}
	e.st.SetRole(ctx, u.ID, "dev", store.RoleMaintainer)
	if _, err := e.acc.AddUser(ctx, "ann@example.org", "Ann", "pw pw pw pw", false); err != nil {
		t.Fatal(err)
	}
	if err := e.receive(t, "dev", msg("Ann Dev <ann@example.org>", "patch@x", "[PATCH] fix the thing", "", patchBody)); err != nil {
		t.Fatal(err)
	}
	m, err := e.st.Message(ctx, "dev", "patch@x")
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("patch not a series: %+v %v", m, err)
	}
	reply := func(id, from, value string) []byte {
		return msg(from, id, "Re: [PATCH] fix the thing", "In-Reply-To: <patch@x>\nReferences: <patch@x>\nX-Patchwell-Apply: "+value+"\n", "Thanks, applying.")
	}
	signed := &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	for _, c := range []struct {
		name, id, from, value string
		auth                  *Auth
		want                  string // in the answer
	}{
		{"spoofed", "r1@x", "Mai <mai@example.org>", "yes", &Auth{DMARC: "fail", DMARCPolicy: "none", FromDomain: "example.org"}, "not signed (DKIM) by example.org"},
		{"signed by another domain", "r2@x", "Mai <mai@example.org>", "yes", &Auth{DMARC: "fail", FromDomain: "example.org", SignedBy: []string{"evil.example"}}, "not signed (DKIM)"},
		{"no role", "r3@x", "Ann Dev <ann@example.org>", "yes", signed, "ann@example.org may not apply on dev"},
		{"no account", "r4@x", "Zed <zed@example.org>", "yes", signed, "zed@example.org has no account here"},
		{"not yes", "r5@x", "Mai <mai@example.org>", "maybe", signed, `takes "yes"`},
	} {
		t.Run(c.name, func(t *testing.T) {
			e.auth[strings.ToLower(parse(reply(c.id, c.from, c.value)).From.Email)] = c.auth
			if err := e.receive(t, "dev", reply(c.id, c.from, c.value)); err != nil {
				t.Fatal(err)
			}
			if len(ap.calls) != 0 {
				t.Fatalf("applied: %v", ap.calls)
			}
			if !e.archived(c.id) {
				t.Error("not archived as an ordinary reply")
			}
			addr := strings.ToLower(parse(reply(c.id, c.from, c.value)).From.Email)
			if note := e.out.last(t, addr); !strings.Contains(note, "Not done") || !strings.Contains(note, c.want) {
				t.Errorf("answer lacks %q:\n%s", c.want, note)
			}
			if r, _ := e.st.MessageAuth(ctx, "dev", c.id); !strings.Contains(r, "X-Patchwell-Apply") || !strings.Contains(r, "Not done") {
				t.Errorf("not kept with the message: %s", r)
			}
		})
	}
	if s, _ := e.st.Series(ctx, m.SeriesID); s.Status != store.StatusProposed {
		t.Fatalf("status %s after refused commands", s.Status)
	}

	// The maintainer, signed by their domain: applied as them.
	e.auth["mai@example.org"] = signed
	if err := e.receive(t, "dev", reply("r6@x", "Mai <Mai@Example.org>", "yes")); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d mai@example.org", m.SeriesID); len(ap.calls) != 1 || ap.calls[0] != want {
		t.Fatalf("calls %v, want [%s]", ap.calls, want)
	}
	note := e.out.last(t, "mai@example.org")
	if !strings.Contains(note, fmt.Sprintf("Done: series %d is applied", m.SeriesID)) || !strings.Contains(note, "commit: 0123456789abcdef") {
		t.Errorf("answer:\n%s", note)
	}
	if r, _ := e.st.MessageAuth(ctx, "dev", "r6@x"); !strings.Contains(r, "Done: series") {
		t.Errorf("result not kept: %s", r)
	}
	// Again: the applier's refusal is passed on.
	e.receive(t, "dev", reply("r7@x", "Mai <mai@example.org>", "yes"))
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "Not done") || !strings.Contains(note, "applied already") {
		t.Errorf("second apply answer:\n%s", note)
	}
	// A server fault is not shown to the sender.
	ap.err = errors.New("push to https://secret@example.net/repo: denied")
	e.receive(t, "dev", reply("r8@x", "Mai <mai@example.org>", "yes"))
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "server error") || strings.Contains(note, "secret") {
		t.Errorf("fault answer:\n%s", note)
	}
	// Not a reply to a series.
	n := len(ap.calls)
	e.receive(t, "dev", msg("Mai <mai@example.org>", "r9@x", "Apply what?", "X-Patchwell-Apply: yes\n", "hm"))
	if note := e.out.last(t, "mai@example.org"); len(ap.calls) != n || !strings.Contains(note, "does not reply to a patch series") {
		t.Errorf("apply without a series: calls %v, answer:\n%s", ap.calls, note)
	}
	// Automatic mail carrying the header is never obeyed nor answered.
	sent := len(e.out.sent)
	e.receive(t, "dev", msg("Mai <mai@example.org>", "r10@x", "Re: [PATCH] fix the thing",
		"In-Reply-To: <patch@x>\nAuto-Submitted: auto-replied\nX-Patchwell-Apply: yes\n", "away"))
	if len(ap.calls) != n || len(e.out.sent) != sent {
		t.Errorf("automatic mail: calls %v, %d answers", ap.calls, len(e.out.sent)-sent)
	}
}

// TestApplyByMailOff: without an Applier the command is answered, not
// obeyed.
func TestApplyByMailOff(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.acc.AddUser(ctx, "mai@example.org", "Mai", "pw pw pw pw", false)
	e.st.SetRole(ctx, u.ID, "dev", store.RoleOwner)
	e.auth["mai@example.org"] = &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	e.receive(t, "dev", msg("Ann Dev <ann@example.org>", "patch@x", "[PATCH] fix the thing", "", patchBody))
	e.receive(t, "dev", msg("mai@example.org", "r1@x", "Re: [PATCH] fix the thing", "In-Reply-To: <patch@x>\nX-Patchwell-Apply: yes\n", "ok"))
	if note := e.out.last(t, "mai@example.org"); !strings.Contains(note, "does not apply series by mail") {
		t.Errorf("answer:\n%s", note)
	}
}

// TestAdmits: what b4's web endpoint asks of a list's policy: an open
// list admits anyone, the deny rules refuse, moderation and subscribers
// only would hold (a reason each), the allow rules and a subscription
// pass.
func TestAdmits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	admits := func(from, want string) {
		t.Helper()
		got, err := e.srv.Admits(ctx, "dev", from)
		if err != nil || !strings.Contains(got, want) || (want == "" && got != "") {
			t.Errorf("Admits(%s) = %q, %v, want %q", from, got, err, want)
		}
	}
	admits("ann@example.org", "")
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostModerated, DMARC: store.DMARCAccept,
		Allow: []string{"@trusted.example"}, Deny: []string{"spam@bad.example"}})
	admits("Spam@bad.example", "may not post")
	admits("ann@example.org", "moderated")
	admits("dev@trusted.example", "")
	e.st.SetPolicy(ctx, "dev", store.ListPolicy{Posting: store.PostSubscribers, DMARC: store.DMARCAccept})
	e.st.Subscribe(ctx, "dev", "sub@example.org", "", store.SubActive)
	admits("sub@example.org", "")
	admits("stranger@example.org", "not subscribed")
	if _, err := e.srv.Admits(ctx, "nosuch", "ann@example.org"); err == nil {
		t.Error("Admits(unknown list) = nil error")
	}
}

// TestDelegateByMail: X-Patchwell-Delegate on a reply to a series, under
// the rules of X-Patchwell-Status (a role, DKIM-aligned DMARC pass).
func TestDelegateByMail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	mai, err := e.acc.AddUser(ctx, "mai@example.org", "Mai", "pw pw pw pw", false)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := e.acc.AddUser(ctx, "bob@example.org", "Bob", "pw pw pw pw", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.acc.AddUser(ctx, "ann@example.org", "Ann", "pw pw pw pw", false); err != nil {
		t.Fatal(err)
	}
	e.st.SetRole(ctx, mai.ID, "dev", store.RoleMaintainer)
	e.st.SetRole(ctx, bob.ID, "dev", store.RoleMaintainer)
	if err := e.receive(t, "dev", msg("Ann Dev <ann@example.org>", "patch@x", "[PATCH] fix the thing", "", patchBody)); err != nil {
		t.Fatal(err)
	}
	m, err := e.st.Message(ctx, "dev", "patch@x")
	if err != nil || m.SeriesID == 0 {
		t.Fatalf("patch not a series: %+v %v", m, err)
	}
	delegate := func() int64 {
		w, err := e.st.SeriesWork(ctx, []int64{m.SeriesID})
		if err != nil {
			t.Fatal(err)
		}
		return w[m.SeriesID].DelegateID
	}
	n := 0
	reply := func(from, value string) string {
		t.Helper()
		n++
		id := fmt.Sprintf("d%d@x", n)
		raw := msg(from, id, "Re: [PATCH] fix the thing", "In-Reply-To: <patch@x>\nReferences: <patch@x>\nX-Patchwell-Delegate: "+value+"\n", "Bob, yours.")
		if err := e.receive(t, "dev", raw); err != nil {
			t.Fatal(err)
		}
		if !e.archived(id) {
			t.Fatalf("command %s not archived as a reply", id)
		}
		addr := strings.TrimSuffix(from[strings.Index(from, "<")+1:], ">")
		return e.out.last(t, addr)
	}
	signed := &Auth{DMARC: "pass", DKIMAligned: true, FromDomain: "example.org"}
	for _, tc := range []struct {
		name, from, value string
		auth              *Auth
		says              string
		want              int64
	}{
		{"not signed", "Mai <mai@example.org>", "bob@example.org", &Auth{DMARC: "fail", FromDomain: "example.org"}, "not signed (DKIM)", 0},
		{"no role", "Ann Dev <ann@example.org>", "bob@example.org", signed, "ann@example.org may not", 0},
		{"unknown delegate", "Mai <mai@example.org>", "nobody@example.org", signed, "nobody@example.org has no account here", 0},
		{"delegate without a role", "Mai <mai@example.org>", "Ann <ann@example.org>", signed, "ann@example.org is not a maintainer of the list", 0},
		{"not an address", "Mai <mai@example.org>", "bob", signed, `takes the address of a maintainer of dev, or none; "bob" is neither`, 0},
		{"done", "Mai <mai@example.org>", "Bob <bob@example.org>", signed, "Done: series", bob.ID},
		{"cleared", "Mai <mai@example.org>", "none", signed, "is delegated to nobody", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := strings.TrimSuffix(tc.from[strings.Index(tc.from, "<")+1:], ">")
			e.auth[addr] = tc.auth
			if note := reply(tc.from, tc.value); !strings.Contains(note, tc.says) {
				t.Errorf("answer lacks %q:\n%s", tc.says, note)
			}
			if got := delegate(); got != tc.want {
				t.Errorf("delegate = %d, want %d", got, tc.want)
			}
		})
	}
	if r, _ := e.st.MessageAuth(ctx, "dev", "d6@x"); !strings.Contains(r, "X-Patchwell-Delegate") || !strings.Contains(r, "Done") {
		t.Errorf("the command's result is not kept with the message: %s", r)
	}
}
