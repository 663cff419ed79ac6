package web

import (
	"fmt"

	"patchwell/store"
)

// Developer signatures (patatt, as b4 signs) on the series page and in
// the API: what review.Service.SeriesSignatures found, said no stronger
// than it is. "signed by KEY of IDENTITY" only for a signature a key
// the identity proved here (b4's web endpoint, auth-verify) verifies;
// "key unknown" for one no such key verifies; nothing for unsigned mail.

// sigView is one message's signature as the page shows it.
type sigView struct {
	Class string // valid, unknown, bad: the CSS class
	Text  string
}

// keyName is a key as people read it: its algorithm, a short form of
// the key (the ed25519 key's first characters, the OpenPGP fingerprint's
// last 16) and its selector.
func keyName(k *store.DevKey) string {
	id := k.KeyID
	switch {
	case k.Algorithm == "openpgp" && len(id) > 16:
		id = id[len(id)-16:]
	case len(id) > 12:
		id = id[:12] + "…"
	}
	return fmt.Sprintf("%s key %s (selector %s)", k.Algorithm, id, k.Selector)
}

func toSigView(s store.MessageSig) *sigView {
	switch s.State {
	case store.SigValid:
		if s.Key == nil {
			return nil
		}
		who := s.Key.Identity
		if s.Key.Name != "" {
			who = s.Key.Name + " <" + s.Key.Identity + ">"
		}
		return &sigView{"valid", "signed by " + keyName(s.Key) + " of " + who + ": valid"}
	case store.SigUnknown:
		return &sigView{"unknown", "signed as " + s.Identity + " (" + s.Algorithm + "), key unknown: not verified"}
	case store.SigBad:
		return &sigView{"bad", "signature (" + s.Identity + ") does not match the message"}
	}
	return nil
}

// seriesSigSummary is the series' line: the cover letter's signature,
// else the first patch's, with how many of the messages share its state.
func seriesSigSummary(sigs map[string]store.MessageSig, ids []string) *sigView {
	var first *store.MessageSig
	same := 0
	for _, id := range ids {
		s, ok := sigs[id]
		if !ok {
			continue
		}
		if first == nil {
			first = &s
		}
		if s.State == first.State && (s.Key == nil) == (first.Key == nil) && (s.Key == nil || s.Key.ID == first.Key.ID) {
			same++
		}
	}
	if first == nil {
		return nil
	}
	v := toSigView(*first)
	if v == nil {
		return nil
	}
	v.Text = fmt.Sprintf("%d of %d messages %s", same, len(ids), v.Text)
	return v
}

// signatureJSON is one message's developer signature in the API.
type signatureJSON struct {
	MessageID string `json:"message_id"`
	// State is valid, unknown (signed, no verified key of the identity
	// verifies it) or bad (the message changed since it was signed).
	State     string `json:"state"`
	Identity  string `json:"identity"`
	Selector  string `json:"selector"`
	Algorithm string `json:"algorithm"`
	// Key is the verified key (state valid): the ed25519 key or the
	// OpenPGP fingerprint; Name the name given with it.
	Key  string `json:"key,omitempty"`
	Name string `json:"name,omitempty"`
}

func signaturesJSON(sigs map[string]store.MessageSig, ids []string) []signatureJSON {
	out := []signatureJSON{}
	for _, id := range ids {
		s, ok := sigs[id]
		if !ok {
			continue
		}
		j := signatureJSON{MessageID: id, State: s.State, Identity: s.Identity, Selector: s.Selector, Algorithm: s.Algorithm}
		if s.State == store.SigValid && s.Key != nil {
			j.Key, j.Name = s.Key.KeyID, s.Key.Name
		}
		out = append(out, j)
	}
	return out
}

// seriesMessageIDs are the cover letter's and the patches' Message-IDs.
func seriesMessageIDs(s *store.Series, ps []store.Patch) []string {
	var ids []string
	if s.CoverMessageID != "" {
		ids = append(ids, s.CoverMessageID)
	}
	for _, p := range ps {
		ids = append(ids, p.MessageID)
	}
	return ids
}
