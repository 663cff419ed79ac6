// Package b4send is b4's web submission endpoint (b4.send-endpoint-web,
// as b4 0.12 speaks it): POST /_b4_submit with a JSON body whose action
// is
//
//   - auth-new: name, identity, selector, pubkey (base64 ed25519 or an
//     armored OpenPGP key). The key is recorded, unverified, and a
//     single-use challenge is mailed to the identity.
//   - auth-verify: msg, a patatt-signed message whose body is
//     "verify:CHALLENGE". Signed by that key and from that identity, it
//     verifies the key.
//   - receive: messages, a series b4 signed. Each must be signed by a
//     verified key of its From address, to at least one list of this
//     site; the lists' policy must take it from that sender. The series
//     is posted through the one road to a list (review.Ingester.PostAll:
//     all of it or none), to the subscribers; the other To and Cc
//     addresses get a copy each (as they would from b4's SMTP sending).
//   - reflect: the same checks; the messages go to the sender only.
//
// It answers {"result":"success"} or {"result":"error","message":...}
// with a fitting HTTP status. It owns the protocol and its limits; the
// signature check is mailauth's (patatt.go), what a list accepts is
// lists', the posting is review's.
package b4send

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"patchwell/mailauth"
	"patchwell/review"
	"patchwell/store"
)

// Keys is what the endpoint keeps: developer keys, challenges and
// submissions (store.DevKeys).
type Keys interface {
	AddDevKeyChallenge(ctx context.Context, k store.DevKey, challenge string, expires time.Time) (*store.DevKey, error)
	DevKeyChallenge(ctx context.Context, challenge string, now time.Time) (*store.DevKey, error)
	VerifyDevKey(ctx context.Context, challenge string, now time.Time) (*store.DevKey, error)
	DevKeys(ctx context.Context, identity string) ([]store.DevKey, error)
	AddSubmission(ctx context.Context, identity string, at time.Time, messages int) error
	Submissions(ctx context.Context, identity string, since time.Time) (int, error)
}

// Poster posts a series to lists, all of it or none (review.Ingester),
// and says who may post to a list (access, as for SMTP).
type Poster interface {
	PostAll(ctx context.Context, posts []review.Post) error
	MayPost(ctx context.Context, list, mailFrom string) (bool, error)
}

// Lists knows the lists and their policy (lists.Server.Admits).
type Lists interface {
	ListInfo(ctx context.Context, name string) (*store.List, error)
	Admits(ctx context.Context, list, from string) (string, error)
}

// Reflector queues raw bytes to some addresses under a list, not
// archived (outbound.Queue.Send): reflect mode.
type Reflector interface {
	Send(ctx context.Context, list string, rcpts []string, raw []byte) error
}

// Config is the endpoint's settings; zero limits take the defaults.
type Config struct {
	// Domain is the mail domain: lists are NAME@Domain.
	Domain string
	// Mailinfo is git mailinfo (gitrepo.Mailinfo), for the signatures.
	Mailinfo mailauth.Mailinfo
	// SendMail mails the challenge (outbound.Worker.SendNow); nil: the
	// site sends no mail, and auth-new says so.
	SendMail func(ctx context.Context, to, subject, body string) error
	// DMARCPolicy returns a domain's DMARC p= (mailauth.DMARCPolicy);
	// nil: From is never rewritten.
	DMARCPolicy func(ctx context.Context, domain string) (string, error)
	// MaxPatches is the most messages of one receive (default 100),
	// MaxBytes their total size (default 10 MiB), MaxPerHour the
	// receives and reflects of one identity in an hour (default 10),
	// MaxOutside the addresses besides lists a message may name (20).
	MaxPatches, MaxPerHour, MaxOutside int
	MaxBytes                           int64
	// ChallengeTTL is how long a challenge proves a key (default 24h).
	ChallengeTTL time.Duration
	Log          *slog.Logger
	Now          func() time.Time
}

// Handler serves POST /_b4_submit.
type Handler struct {
	keys  Keys
	in    Poster
	lists Lists
	refl  Reflector
	cfg   Config
}

// Challenges mailed in an hour: to one identity, at the request of one
// client address, from the whole site (so the endpoint cannot be made
// to mail many strangers).
const (
	maxAuthNew       = 5
	maxAuthNewClient = 20
	maxAuthNewSite   = 200
)

// New returns the endpoint.
func New(keys Keys, in Poster, lists Lists, refl Reflector, cfg Config) *Handler {
	if cfg.MaxPatches <= 0 {
		cfg.MaxPatches = 100
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 10 << 20
	}
	if cfg.MaxPerHour <= 0 {
		cfg.MaxPerHour = 10
	}
	if cfg.MaxOutside <= 0 {
		cfg.MaxOutside = 20
	}
	if cfg.ChallengeTTL <= 0 {
		cfg.ChallengeTTL = 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Handler{keys: keys, in: in, lists: lists, refl: refl, cfg: cfg}
}

// request is every action's body.
type request struct {
	Action   string   `json:"action"`
	Name     string   `json:"name"`
	Identity string   `json:"identity"`
	Selector string   `json:"selector"`
	PubKey   string   `json:"pubkey"`
	Msg      string   `json:"msg"`
	Messages []string `json:"messages"`
}

// refusal is an answer other than success: the status and the message
// b4 shows.
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) error {
	return &refusal{status, fmt.Sprintf(format, args...)}
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := h.serve(r)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if err == nil {
		io.WriteString(w, `{"result":"success"}`+"\n")
		return
	}
	var rf *refusal
	if !errors.As(err, &rf) {
		h.cfg.Log.Error("b4 submission failed", "err", err)
		rf = &refusal{http.StatusInternalServerError, "internal error; try again later"}
	} else {
		h.cfg.Log.Info("b4 submission refused", "status", rf.status, "reason", rf.msg)
	}
	w.WriteHeader(rf.status)
	json.NewEncoder(w).Encode(map[string]string{"result": "error", "message": rf.msg})
}

func (h *Handler) serve(r *http.Request) error {
	if r.Method != http.MethodPost {
		return refuse(http.StatusMethodNotAllowed, "POST a JSON request (b4 send with b4.send-endpoint-web)")
	}
	// JSON escapes a message's bytes, at worst six for one.
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, 2*h.cfg.MaxBytes+1<<20))
	if err != nil {
		return refuse(http.StatusRequestEntityTooLarge, "request too large: a series may have at most %d bytes", h.cfg.MaxBytes)
	}
	var req request
	if err := json.Unmarshal(body, &req); err != nil {
		return refuse(http.StatusBadRequest, "not a JSON request: %v", err)
	}
	ctx := r.Context()
	switch req.Action {
	case "auth-new":
		return h.authNew(ctx, req, clientOf(r))
	case "auth-verify":
		return h.authVerify(ctx, req)
	case "receive", "reflect":
		return h.receive(ctx, req.Action == "reflect", req.Messages)
	}
	return refuse(http.StatusBadRequest, "unknown action %q (auth-new, auth-verify, receive, reflect)", req.Action)
}

// clientOf is the request's remote host (the proxy's, behind one).
func clientOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func (h *Handler) authNew(ctx context.Context, req request, client string) error {
	a, err := mail.ParseAddress(req.Identity)
	if err != nil || a.Address != strings.TrimSpace(req.Identity) {
		return refuse(http.StatusBadRequest, "identity %q is not an e-mail address", req.Identity)
	}
	identity := strings.ToLower(a.Address)
	key := mailauth.PatattKey{Algorithm: mailauth.AlgEd25519, Public: strings.TrimSpace(req.PubKey)}
	if strings.Contains(req.PubKey, "BEGIN PGP PUBLIC KEY BLOCK") {
		key.Algorithm = mailauth.AlgOpenPGP
	}
	keyID, err := key.ID()
	if err != nil {
		return refuse(http.StatusBadRequest, "pubkey: %v", err)
	}
	if req.Selector == "" {
		req.Selector = "default"
	}
	if h.cfg.SendMail == nil {
		return refuse(http.StatusServiceUnavailable, "this site sends no mail (no smarthost), so it cannot mail you a challenge")
	}
	now := h.cfg.Now()
	buckets := []struct {
		key string
		max int
		msg string
	}{
		{"auth-new:" + identity, maxAuthNew, "challenges were mailed to " + identity + " in the last hour; use one of them, or wait"},
		{"auth-new-client:" + client, maxAuthNewClient, "challenges were asked from your address in the last hour; wait"},
		{"auth-new-site:", maxAuthNewSite, "challenges were mailed by this site in the last hour; try again later"},
	}
	for _, b := range buckets {
		n, err := h.keys.Submissions(ctx, b.key, now.Add(-time.Hour))
		if err != nil {
			return err
		}
		if n >= b.max {
			return refuse(http.StatusTooManyRequests, "%d %s", n, b.msg)
		}
	}
	challenge := newChallenge()
	if _, err := h.keys.AddDevKeyChallenge(ctx, store.DevKey{Identity: identity, Name: req.Name, Selector: req.Selector,
		Algorithm: key.Algorithm, Public: key.Public, KeyID: keyID, Created: now}, challenge, now.Add(h.cfg.ChallengeTTL)); err != nil {
		return err
	}
	for _, b := range buckets {
		if err := h.keys.AddSubmission(ctx, b.key, now, 0); err != nil {
			return err
		}
	}
	body := fmt.Sprintf(`Someone (we hope you) asked to send patches to the lists of %s
with b4, signed by this %s key (selector %s):

    %s

If it was you, run this in your repository to prove it:

    b4 send --web-auth-verify %s

The challenge works once, for %s. If it was not you, ignore this mail:
nothing is sent in your name without the key.
`, h.cfg.Domain, key.Algorithm, req.Selector, keyID, challenge, h.cfg.ChallengeTTL)
	if err := h.cfg.SendMail(ctx, identity, "b4 web submission: verify your key", body); err != nil {
		h.cfg.Log.Error("mail challenge", "rcpt", identity, "err", err)
		return refuse(http.StatusBadGateway, "could not mail the challenge to %s; try again later", identity)
	}
	h.cfg.Log.Info("b4 key challenge mailed", "identity", identity, "algorithm", key.Algorithm, "selector", req.Selector)
	return nil
}

func newChallenge() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func (h *Handler) authVerify(ctx context.Context, req request) error {
	m, err := mailauth.ParsePatatt([]byte(req.Msg))
	if err != nil {
		return refuse(http.StatusBadRequest, "msg: %v", err)
	}
	if len(m.Sigs) == 0 {
		return refuse(http.StatusForbidden, "the verification message is not signed (X-Developer-Signature)")
	}
	// The challenge is in the body; which body is only known once the
	// signature is checked, so first find the key it names.
	challenge := findChallenge(req.Msg)
	if challenge == "" {
		return refuse(http.StatusBadRequest, "no verify:CHALLENGE line in the message")
	}
	now := h.cfg.Now()
	k, err := h.keys.DevKeyChallenge(ctx, challenge, now)
	if errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusForbidden, "unknown, used or expired challenge; run b4 send --web-auth-new again")
	}
	if err != nil {
		return err
	}
	if !strings.EqualFold(m.From, k.Identity) {
		return refuse(http.StatusForbidden, "the message is from %s, the challenge was mailed to %s", m.From, k.Identity)
	}
	var verr error = mailauth.ErrUnsigned
	for _, s := range m.Sigs {
		if strings.EqualFold(s.Identity, k.Identity) {
			verr = mailauth.VerifyPatatt(ctx, h.cfg.Mailinfo, m, s, mailauth.PatattKey{Algorithm: k.Algorithm, Public: k.Public})
			if verr == nil {
				break
			}
		}
	}
	if errors.Is(verr, mailauth.ErrBadSignature) || errors.Is(verr, mailauth.ErrUnsigned) {
		return refuse(http.StatusForbidden, "the verification message is not signed by the key registered for %s: %v", k.Identity, verr)
	}
	if verr != nil {
		return verr
	}
	if !strings.Contains(string(m.SignedBody()), "verify:"+challenge) {
		return refuse(http.StatusForbidden, "the challenge is not in the signed body")
	}
	if _, err := h.keys.VerifyDevKey(ctx, challenge, now); errors.Is(err, store.ErrNotFound) {
		return refuse(http.StatusForbidden, "unknown, used or expired challenge; run b4 send --web-auth-new again")
	} else if err != nil {
		return err
	}
	h.cfg.Log.Info("b4 key verified", "identity", k.Identity, "algorithm", k.Algorithm, "selector", k.Selector)
	return nil
}

// findChallenge returns the hex after "verify:" in a message, whatever
// its transfer encoding (b4 writes the body in base64): the raw text,
// else each base64-looking line decoded.
func findChallenge(msg string) string {
	texts := []string{msg}
	if _, body, ok := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n"); ok {
		if d, err := decodeBase64Lines(body); err == nil {
			texts = append(texts, d)
		}
	}
	for _, t := range texts {
		if _, rest, ok := strings.Cut(t, "verify:"); ok {
			end := 0
			for end < len(rest) && strings.ContainsRune("0123456789abcdef", rune(rest[end])) {
				end++
			}
			if end > 0 {
				return rest[:end]
			}
		}
	}
	return ""
}
