package review

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"patchwell/mailauth"
	"patchwell/store"
)

// Developer signatures (patatt, as b4 signs): a message that carries one
// is checked against the keys the site knows, those an identity proved
// through b4's web endpoint (auth-verify). Whatever road the message
// came by (SMTP, import, b4's endpoint) the check is the same, made the
// first time a series page asks and kept by the message's sha256
// (store.MessageSig); verifying a new key of an identity forgets its
// results, so they are checked again.
//
// The states say no more than is known: valid only when a verified key
// of the signing identity verifies it; "unknown" when signed but no
// such key verifies it (a key the site has not seen); "bad" when the
// signature cannot be right whatever the key (the body or the signed
// headers changed since: bh= does not match, or it does not parse).

// DevKeyReader returns an identity's verified keys.
type DevKeyReader interface {
	DevKeys(ctx context.Context, identity string) ([]store.DevKey, error)
}

// CheckSignature checks raw's developer signature (the first one that
// verifies, of at most mailauth.MaxPatattSigs) against the verified keys
// of its identity. An error is a failure to check (git mailinfo, the
// store), not a bad signature.
func CheckSignature(ctx context.Context, mi mailauth.Mailinfo, keys DevKeyReader, raw []byte) (store.MessageSig, error) {
	out := store.MessageSig{State: store.SigNone, Checked: time.Now()}
	m, err := mailauth.ParsePatatt(raw)
	if err != nil {
		if strings.Contains(string(headerOf(raw)), "X-Developer-Signature:") {
			out.State = store.SigBad
		}
		return out, nil
	}
	if len(m.Sigs) > 0 {
		s := m.Sigs[0]
		out.State, out.Identity, out.Selector, out.Algorithm = store.SigUnknown, strings.ToLower(s.Identity), s.Selector, s.Algorithm
	}
	for _, s := range m.Sigs {
		ks, err := keys.DevKeys(ctx, s.Identity)
		if err != nil {
			return out, err
		}
		for _, k := range ks {
			if k.Algorithm != s.Algorithm {
				continue
			}
			err := mailauth.VerifyPatatt(ctx, mi, m, s, mailauth.PatattKey{Algorithm: k.Algorithm, Public: k.Public})
			switch {
			case err == nil:
				out.State, out.Identity, out.Selector, out.Algorithm, out.Key = store.SigValid, strings.ToLower(s.Identity), s.Selector, s.Algorithm, &k
				return out, nil
			case errors.Is(err, mailauth.ErrBodyChanged):
				out.State = store.SigBad
			case errors.Is(err, mailauth.ErrBadSignature):
				// Another key, perhaps one the site has not seen.
			default:
				return out, err
			}
		}
	}
	return out, nil
}

// headerOf is raw up to its first empty line.
func headerOf(raw []byte) []byte {
	s := string(raw)
	if i := strings.Index(s, "\n\n"); i >= 0 {
		return raw[:i]
	}
	if i := strings.Index(s, "\r\n\r\n"); i >= 0 {
		return raw[:i]
	}
	return raw
}

// SeriesSignatures returns the developer signatures of a series' cover
// letter and patches by Message-ID (messages without one are absent):
// recorded results, and a check of the messages never checked (then
// recorded; one that cannot be checked, git mailinfo failing, is
// absent). Without git mailinfo (ServiceConfig.Mailinfo) it returns
// none.
func (s *Service) SeriesSignatures(ctx context.Context, id int64) (map[string]store.MessageSig, error) {
	if s.mailinfo == nil {
		return nil, nil
	}
	se, patches, err := s.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(patches)+1)
	if se.CoverMessageID != "" {
		ids = append(ids, se.CoverMessageID)
	}
	for _, p := range patches {
		ids = append(ids, p.MessageID)
	}
	// The series' thread holds its messages as a rule: one query; any
	// other (a series sent without threading) one each.
	sums := map[string]string{}
	if se.ThreadID != 0 {
		ms, err := s.st.ThreadMessages(ctx, []int64{se.ThreadID})
		if err != nil {
			return nil, fmt.Errorf("series signatures: %w", err)
		}
		for _, m := range ms {
			sums[m.MessageID] = m.SHA256
		}
	}
	hashes := make([][]byte, 0, len(ids))
	byHash := map[string]string{}
	for _, mid := range ids {
		sum, ok := sums[mid]
		if !ok {
			m, err := s.st.Message(ctx, se.List, mid)
			if err != nil {
				return nil, fmt.Errorf("series signatures: %w", err)
			}
			sum = m.SHA256
		}
		h, err := hex.DecodeString(sum)
		if err != nil {
			return nil, fmt.Errorf("series signatures: message %s: bad sha256", mid)
		}
		hashes = append(hashes, h)
		byHash[string(h)] = mid
	}
	known, err := s.st.MessageSigs(ctx, hashes)
	if err != nil {
		return nil, err
	}
	var fresh []store.MessageSig
	for _, h := range hashes {
		if _, ok := known[string(h)]; ok {
			continue
		}
		raw, err := s.st.Raw(ctx, se.List, byHash[string(h)])
		if err != nil {
			return nil, err
		}
		sig, err := CheckSignature(ctx, s.mailinfo, s.st, raw)
		if err != nil {
			// Not checked (git mailinfo failed): nothing is claimed,
			// nothing kept; the next view tries again.
			continue
		}
		sig.SHA256 = h
		known[string(h)] = sig
		fresh = append(fresh, sig)
	}
	if err := s.st.SetMessageSigs(ctx, fresh); err != nil {
		return nil, err
	}
	out := map[string]store.MessageSig{}
	for h, sig := range known {
		if sig.State != store.SigNone {
			out[byHash[h]] = sig
		}
	}
	return out, nil
}
