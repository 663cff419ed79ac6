package b4send

import (
	"context"
	"encoding/base64"
	"errors"
	"mime"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"patchwell/mailauth"
	"patchwell/review"
	"patchwell/store"
)

func decodeBase64Lines(body string) (string, error) {
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	return string(b), err
}

// checked is one message of a receive, its signature verified.
type checked struct {
	raw     []byte
	subject string
	lists   []string
	outside []string
}

// receive checks every message of a series (all must pass) and posts
// them in one transaction, or (reflect) sends them to their sender.
func (h *Handler) receive(ctx context.Context, reflect bool, msgs []string) error {
	if len(msgs) == 0 {
		return refuse(http.StatusBadRequest, "no messages")
	}
	if len(msgs) > h.cfg.MaxPatches {
		return refuse(http.StatusRequestEntityTooLarge, "%d messages: a series may have at most %d", len(msgs), h.cfg.MaxPatches)
	}
	var size int64
	for _, m := range msgs {
		size += int64(len(m))
	}
	if size > h.cfg.MaxBytes {
		return refuse(http.StatusRequestEntityTooLarge, "%d bytes: a series may have at most %d", size, h.cfg.MaxBytes)
	}
	var sender string
	var out []checked
	for i, raw := range msgs {
		c, from, err := h.check(ctx, i+1, []byte(raw))
		if err != nil {
			return err
		}
		if sender == "" {
			sender = from
		} else if from != sender {
			return refuse(http.StatusBadRequest, "message %d is from %s, message 1 from %s: one sender per submission", i+1, from, sender)
		}
		out = append(out, c)
	}
	now := h.cfg.Now()
	n, err := h.keys.Submissions(ctx, sender, now.Add(-time.Hour))
	if err != nil {
		return err
	}
	if n >= h.cfg.MaxPerHour {
		return refuse(http.StatusTooManyRequests, "%s submitted %d series in the last hour, the most this site takes; try again later", sender, n)
	}
	if reflect {
		for _, c := range out {
			if err := h.refl.Send(ctx, c.lists[0], []string{sender}, c.raw); err != nil {
				return err
			}
		}
	} else {
		rewrite := false
		if h.cfg.DMARCPolicy != nil {
			_, domain, _ := strings.Cut(sender, "@")
			p, err := h.cfg.DMARCPolicy(ctx, domain)
			rewrite = err == nil && (p == "reject" || p == "quarantine")
		}
		posts := make([]review.Post, len(out))
		for i, c := range out {
			posts[i] = review.Post{Lists: c.lists, Raw: c.raw, Distribute: true, RewriteFrom: rewrite, Also: c.outside}
		}
		if err := h.in.PostAll(ctx, posts); err != nil {
			return err
		}
	}
	if err := h.keys.AddSubmission(ctx, sender, now, len(out)); err != nil {
		return err
	}
	h.cfg.Log.Info("b4 series received", "from", sender, "messages", len(out), "reflect", reflect, "list", out[0].lists[0])
	return nil
}

// check verifies one message: signed by a verified key of its From
// identity, addressed to lists of this site that take it from that
// sender, and to not too many others. It returns the lower-case sender.
func (h *Handler) check(ctx context.Context, n int, raw []byte) (checked, string, error) {
	c := checked{raw: raw}
	msg, err := mail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		return c, "", refuse(http.StatusBadRequest, "message %d: %v", n, err)
	}
	c.subject = msg.Header.Get("Subject")
	if dec, err := new(mime.WordDecoder).DecodeHeader(c.subject); err == nil {
		c.subject = dec
	}
	pm, err := mailauth.ParsePatatt(raw)
	if err != nil {
		return c, "", refuse(http.StatusBadRequest, "message %d (%s): %v", n, c.subject, err)
	}
	from := strings.ToLower(pm.From)
	if from == "" {
		return c, "", refuse(http.StatusBadRequest, "message %d (%s) has no From address", n, c.subject)
	}
	if len(pm.Sigs) == 0 {
		return c, "", refuse(http.StatusForbidden, "message %d (%s) is not signed: this endpoint takes only patatt-signed mail (b4 send signs it; do not use --no-sign)", n, c.subject)
	}
	var sig *mailauth.DevSig
	for i := range pm.Sigs {
		if strings.EqualFold(pm.Sigs[i].Identity, from) {
			sig = &pm.Sigs[i]
		}
	}
	if sig == nil {
		return c, "", refuse(http.StatusForbidden, "message %d (%s): From %s is not the identity that signed it (%s)", n, c.subject, from, pm.Sigs[0].Identity)
	}
	keys, err := h.keys.DevKeys(ctx, from)
	if err != nil {
		return c, "", err
	}
	if len(keys) == 0 {
		return c, "", refuse(http.StatusForbidden, "%s has no verified key here: run b4 send --web-auth-new, then b4 send --web-auth-verify with the mailed challenge", from)
	}
	verr := mailauth.ErrBadSignature
	for _, k := range keys {
		if k.Algorithm != sig.Algorithm {
			continue
		}
		verr = mailauth.VerifyPatatt(ctx, h.cfg.Mailinfo, pm, *sig, mailauth.PatattKey{Algorithm: k.Algorithm, Public: k.Public})
		if verr == nil || !errors.Is(verr, mailauth.ErrBadSignature) {
			break
		}
	}
	if errors.Is(verr, mailauth.ErrBadSignature) {
		return c, "", refuse(http.StatusForbidden, "message %d (%s): the signature does not verify with a key verified for %s (%v)", n, c.subject, from, verr)
	}
	if verr != nil {
		return c, "", verr
	}
	seen := map[string]bool{}
	for _, field := range []string{"To", "Cc"} {
		for _, v := range msg.Header[field] {
			addrs, err := mail.ParseAddressList(v)
			if err != nil {
				return c, "", refuse(http.StatusBadRequest, "message %d (%s): %s: %v", n, c.subject, field, err)
			}
			for _, a := range addrs {
				addr := strings.ToLower(a.Address)
				if seen[addr] {
					continue
				}
				seen[addr] = true
				list, err := h.listOf(ctx, addr)
				if err != nil {
					return c, "", err
				}
				if list == "" {
					c.outside = append(c.outside, addr)
					continue
				}
				if err := h.mayPost(ctx, list, from); err != nil {
					return c, "", err
				}
				c.lists = append(c.lists, list)
			}
		}
	}
	if len(c.lists) == 0 {
		return c, "", refuse(http.StatusBadRequest, "message %d (%s) is addressed to no list of this site (LIST@%s)", n, c.subject, h.cfg.Domain)
	}
	if len(c.outside) > h.cfg.MaxOutside {
		return c, "", refuse(http.StatusBadRequest, "message %d (%s) names %d addresses besides the lists; at most %d", n, c.subject, len(c.outside), h.cfg.MaxOutside)
	}
	return c, from, nil
}

// listOf returns the list an address is (NAME@Domain), or "" when it
// is another address. A list's command address (NAME+subscribe ...) is
// refused: commands go by mail.
func (h *Handler) listOf(ctx context.Context, addr string) (string, error) {
	local, domain, _ := strings.Cut(addr, "@")
	if !strings.EqualFold(domain, h.cfg.Domain) {
		return "", nil
	}
	name, detail, _ := strings.Cut(local, "+")
	if _, err := h.lists.ListInfo(ctx, name); errors.Is(err, store.ErrNotFound) {
		return "", refuse(http.StatusBadRequest, "%s: no such list here", addr)
	} else if err != nil {
		return "", err
	}
	if detail != "" {
		return "", refuse(http.StatusBadRequest, "%s is a command address of the list %s: send commands by mail", addr, name)
	}
	return name, nil
}

// mayPost refuses a list the sender may not post to (access, as for
// SMTP) or whose policy would hold or refuse it.
func (h *Handler) mayPost(ctx context.Context, list, from string) error {
	ok, err := h.in.MayPost(ctx, list, from)
	if err != nil {
		return err
	}
	if !ok {
		return refuse(http.StatusForbidden, "%s may not post to the list %s", from, list)
	}
	why, err := h.lists.Admits(ctx, list, from)
	if err != nil {
		return err
	}
	if why != "" {
		return refuse(http.StatusForbidden, "the list %s does not take this from %s: %s; send it by SMTP instead", list, from, why)
	}
	return nil
}
