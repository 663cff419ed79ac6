package archive

import (
	"patchwell/core"
	"strings"
	"testing"
	"time"
)

func TestCompose(t *testing.T) {
	date := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	raw, id := Compose(Outgoing{
		From: `"Ada L." <ada@example.org>`, To: []string{"dev@patchwell.localhost"}, Cc: []string{"bob@example.org"},
		Subject: "Re: [PATCH 1/2] café\r\nBcc: evil@example.org", Domain: "patchwell.localhost",
		InReplyTo: "p1@example.org", References: []string{"c0@example.org"}, Date: date,
		Extra: []core.Header{{Name: "Auto-Submitted", Value: "auto-replied"}},
		Body:  "Looks good.\r\n\r\nReviewed-by: Ada <ada@example.org>\n",
	})
	if strings.Contains(string(raw), "\r") {
		t.Errorf("CR in the message: %q", raw)
	}
	h := ParseHeader(raw)
	if h.MessageID != id || !strings.HasSuffix(id, "@patchwell.localhost") {
		t.Errorf("Message-ID %q, returned %q", h.MessageID, id)
	}
	if h.InReplyTo != "p1@example.org" || strings.Join(h.References, " ") != "c0@example.org p1@example.org" {
		t.Errorf("threading: In-Reply-To %q, References %q", h.InReplyTo, h.References)
	}
	if h.Subject != "Re: [PATCH 1/2] café Bcc: evil@example.org" {
		t.Errorf("Subject %q: want it decoded, on one line", h.Subject)
	}
	if !h.Date.Equal(date) || h.From.Email != "ada@example.org" || h.From.Name != "Ada L." {
		t.Errorf("Date %v, From %+v", h.Date, h.From)
	}
	for _, f := range Fields(raw) {
		if strings.EqualFold(f.Name, "Bcc") {
			t.Errorf("a header field was smuggled in through the subject: %+v", f)
		}
	}
	if !strings.Contains(string(raw), "\nAuto-Submitted: auto-replied\n") ||
		!strings.HasSuffix(string(raw), "\n\nLooks good.\n\nReviewed-by: Ada <ada@example.org>\n") {
		t.Errorf("extra field or body:\n%s", raw)
	}
}

func TestComposeLongLines(t *testing.T) {
	long := strings.Repeat("x", 1200)
	raw, _ := Compose(Outgoing{From: "a@example.org", Subject: "s", Body: "short\n" + long + "\n"})
	if !strings.Contains(string(raw), "Content-Transfer-Encoding: quoted-printable\n") {
		t.Fatalf("a 1,200-byte line not quoted-printable:\n%.300s", raw)
	}
	for _, l := range strings.Split(string(raw), "\n") {
		if len(l) > 998 {
			t.Fatalf("a line of %d bytes", len(l))
		}
	}
}

func TestComposeReferencesTrimmed(t *testing.T) {
	var refs []string
	for i := range 40 {
		refs = append(refs, strings.Repeat("r", i+1)+"@x")
	}
	raw, _ := Compose(Outgoing{From: "a@example.org", Subject: "s", InReplyTo: "last@x", References: refs})
	h := ParseHeader(raw)
	if len(h.References) != maxReferences || h.References[0] != refs[0] || h.References[maxReferences-1] != "last@x" {
		t.Errorf("References %d: %q; want the root, the newest and %d in all", len(h.References), h.References, maxReferences)
	}
}
