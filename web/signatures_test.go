package web

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"patchwell/store"
)

// TestSeriesSignatures: the series page and the API say "signed by KEY
// of IDENTITY: valid" only for a signature a verified key checks; a
// signature no known key checks is "key unknown: not verified", a
// changed message's is called out, and unsigned messages say nothing.
func TestSeriesSignatures(t *testing.T) {
	f := fixture()
	key := &store.DevKey{ID: 3, Identity: "ann@example.org", Name: "Ann", Selector: "laptop", Algorithm: "ed25519", KeyID: "x7DmgcykgSsMDsF4mOuG2H04MC37aiT0qHWpb56HC98="}
	f.sigs = map[string]store.MessageSig{
		"c2@example.org":  {State: store.SigValid, Identity: "ann@example.org", Selector: "laptop", Algorithm: "ed25519", Key: key},
		"p21@example.org": {State: store.SigValid, Identity: "ann@example.org", Selector: "laptop", Algorithm: "ed25519", Key: key},
		"p22@example.org": {State: store.SigUnknown, Identity: "ann@example.org", Selector: "other", Algorithm: "ed25519"},
	}
	base := newServer(t, f, 0)
	page := get(t, base+"/series/2/")
	if page.code != http.StatusOK {
		t.Fatalf("GET /series/2/ = %d", page.code)
	}
	body := string(page.body)
	for _, want := range []string{
		`<p id="signature" class="devsig valid"`,
		`2 of 3 messages signed by ed25519 key x7DmgcykgSsM… (selector laptop) of Ann &lt;ann@example.org&gt;: valid`,
		`<span class="devsig valid">signed by ed25519 key x7DmgcykgSsM… (selector laptop) of Ann &lt;ann@example.org&gt;: valid</span>`,
		`<span class="devsig unknown">signed as ann@example.org (ed25519), key unknown: not verified</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("series page lacks %q", want)
		}
	}
	if n := strings.Count(body, `class="devsig`); n != 3 {
		t.Errorf("series page shows %d signatures, want 3 (the summary and two patches)", n)
	}
	var detail struct{ Signatures []signatureJSON }
	if err := json.Unmarshal(get(t, base+"/api/v1/series/2").body, &detail); err != nil {
		t.Fatal(err)
	}
	want := []signatureJSON{
		{MessageID: "c2@example.org", State: "valid", Identity: "ann@example.org", Selector: "laptop", Algorithm: "ed25519", Key: key.KeyID, Name: "Ann"},
		{MessageID: "p21@example.org", State: "valid", Identity: "ann@example.org", Selector: "laptop", Algorithm: "ed25519", Key: key.KeyID, Name: "Ann"},
		{MessageID: "p22@example.org", State: "unknown", Identity: "ann@example.org", Selector: "other", Algorithm: "ed25519"},
	}
	if len(detail.Signatures) != len(want) {
		t.Fatalf("API signatures = %+v", detail.Signatures)
	}
	for i := range want {
		if detail.Signatures[i] != want[i] {
			t.Errorf("API signature %d = %+v, want %+v", i, detail.Signatures[i], want[i])
		}
	}
	// The unsigned series 1: nothing claimed.
	if body := string(get(t, base+"/series/1/").body); strings.Contains(body, "devsig") {
		t.Errorf("unsigned series shows a signature")
	}
	if v := toSigView(store.MessageSig{State: store.SigBad, Identity: "ann@example.org"}); v == nil || v.Class != "bad" || !strings.Contains(v.Text, "does not match") {
		t.Errorf("bad signature view = %+v", v)
	}
}
