package outbound

import (
	"bytes"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestVERP(t *testing.T) {
	tests := []struct {
		name, rcpt, want string
	}{
		{"plain", "bob@example.org", "dev+bounces-bob=example.org@lists.test"},
		{"plus and dash", "bob+git-list@example.org", "dev+bounces-bob+git-list=example.org@lists.test"},
		{"equals in local part", "a=b=c@example.org", "dev+bounces-a=b=c=example.org@lists.test"},
		{"bounces lookalike", "x+bounces-y=z@mail.example.org", "dev+bounces-x+bounces-y=z=mail.example.org@lists.test"},
		{"quoted local part", `"john doe"@example.org`, "dev+bounces@lists.test"},
		{"address literal", "root@[192.0.2.1]", "dev+bounces@lists.test"},
		{"no domain", "bob", "dev+bounces@lists.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := VERP("dev", "lists.test", tt.rcpt)
			if got != tt.want {
				t.Fatalf("VERP(%q) = %q, want %q", tt.rcpt, got, tt.want)
			}
			local := got[:strings.LastIndexByte(got, '@')]
			list, rcpt, ok := ParseVERP(local)
			wantRcpt := tt.rcpt
			if tt.want == "dev+bounces@lists.test" {
				wantRcpt = ""
			}
			if !ok || list != "dev" || rcpt != wantRcpt {
				t.Errorf("ParseVERP(%q) = %q, %q, %v; want dev, %q", local, list, rcpt, ok, wantRcpt)
			}
			if detail, found := strings.CutPrefix(local, "dev+bounces-"); found {
				if r, ok := ParseVERPDetail(detail); !ok || r != tt.rcpt {
					t.Errorf("ParseVERPDetail(%q) = %q, %v; want %q", detail, r, ok, tt.rcpt)
				}
			}
		})
	}
	for _, bad := range []string{"", "dev", "dev+help", "dev+bounce-x=y.org", "dev+bounces-", "dev+bounces-x", "dev+bounces-=y.org",
		"dev+bounces-x=", "dev+bounces-x=a_b.org", "Dev+bounces-x=y.org", "+bounces-x=y.org", "dev+bouncesx=y.org", "dev+bounces-a..b=y.org"} {
		if list, rcpt, ok := ParseVERP(bad); ok {
			t.Errorf("ParseVERP(%q) = %q, %q, true; want not ok", bad, list, rcpt)
		}
	}
}

func TestUnsubscribeToken(t *testing.T) {
	secret := []byte("a secret of enough length")
	tok := UnsubscribeToken(secret, "dev", "Bob@Example.org")
	if email, ok := CheckUnsubscribeToken(secret, "dev", tok); !ok || email != "Bob@Example.org" {
		t.Fatalf("CheckUnsubscribeToken(own token) = %q, %v", email, ok)
	}
	other := UnsubscribeToken(secret, "dev", "eve@example.org")
	_, mac, _ := strings.Cut(other, ".")
	forged := tok[:strings.IndexByte(tok, '.')+1] + mac
	for name, tc := range map[string]struct{ secret, list, tok string }{
		"other list":    {string(secret), "ops", tok},
		"other secret":  {"another secret of length", "dev", tok},
		"swapped MAC":   {string(secret), "dev", forged},
		"no dot":        {string(secret), "dev", strings.ReplaceAll(tok, ".", "")},
		"not base64":    {string(secret), "dev", "!!!." + mac},
		"too long":      {string(secret), "dev", strings.Repeat("A", 600) + "." + mac},
		"empty":         {string(secret), "dev", ""},
		"truncated MAC": {string(secret), "dev", tok[:len(tok)-2]},
	} {
		if email, ok := CheckUnsubscribeToken([]byte(tc.secret), tc.list, tc.tok); ok {
			t.Errorf("%s: CheckUnsubscribeToken = %q, true", name, email)
		}
	}
	if strings.ContainsAny(tok, "+/=&?# ") {
		t.Errorf("token %q is not URL-safe", tok)
	}
}

func TestRewriteFrom(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			"name and reply-to added",
			"Subject: x\r\nFrom: Alice Example <alice@example.org>\r\nTo: dev@lists.test\r\n\r\nbody\r\nFrom: not a header\r\n",
			"Subject: x\r\nFrom: \"Alice Example via dev\" <dev@lists.test>\r\nReply-To: Alice Example <alice@example.org>\r\nTo: dev@lists.test\r\n\r\nbody\r\nFrom: not a header\r\n",
		},
		{
			"folded, encoded, existing reply-to kept",
			"from: =?utf-8?q?Ren=C3=A9e?=\r\n <renee@example.org>\r\nReply-To: team@example.org\r\n\r\nbody\r\n",
			"From: =?utf-8?q?Ren=C3=A9e_via_dev?= <dev@lists.test>\r\nReply-To: team@example.org\r\n\r\nbody\r\n",
		},
		{
			"bare address, quotes escaped, LF endings",
			"From: \"Bob \\\"the\\\" Builder\" <bob@example.org>\n\nbody\n",
			"From: \"Bob \\\"the\\\" Builder via dev\" <dev@lists.test>\nReply-To: \"Bob \\\"the\\\" Builder\" <bob@example.org>\n\nbody\n",
		},
		{
			"address only",
			"From: carol@example.org\r\n\r\nbody\r\n",
			"From: \"carol@example.org via dev\" <dev@lists.test>\r\nReply-To: carol@example.org\r\n\r\nbody\r\n",
		},
		{"no from", "Subject: x\r\n\r\nFrom: body\r\n", "Subject: x\r\n\r\nFrom: body\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(RewriteFrom([]byte(tt.in), "dev", "lists.test"))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("RewriteFrom (-want +got):\n%s", diff)
			}
			if m, err := mail.ReadMessage(strings.NewReader(got)); err != nil {
				t.Errorf("rewritten message does not parse: %v", err)
			} else if a, err := m.Header.AddressList("From"); tt.name != "no from" && (err != nil || a[0].Address != "dev@lists.test") {
				t.Errorf("rewritten From = %v, %v", a, err)
			}
		})
	}
	// Every byte but the From field's is kept: the body and the other
	// headers, DKIM-Signature included.
	in := []byte(post)
	out := RewriteFrom(in, "dev", "lists.test")
	i := bytes.Index(in, []byte("From: "))
	j := i + bytes.Index(in[i:], []byte("\r\n")) + 2
	if !bytes.HasPrefix(out, in[:i]) || !bytes.HasSuffix(out, in[j:]) {
		t.Errorf("RewriteFrom changed more than From:\n%s", out)
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		file     string
		rcpt     string
		hard, ok bool
	}{
		{"postfix-hard.eml", "bob@example.org", true, true},
		{"postfix-delayed.eml", "bob@example.org", false, true},
		{"exim-hard.eml", "carol@example.com", true, true},
		{"exim-soft.eml", "carol@example.com", false, true},
		{"exim-delivered.eml", "", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			rcpt, hard, ok := ParseDSN(raw)
			if rcpt != tt.rcpt || hard != tt.hard || ok != tt.ok {
				t.Errorf("ParseDSN() = %q, %v, %v; want %q, %v, %v", rcpt, hard, ok, tt.rcpt, tt.hard, tt.ok)
			}
		})
	}
	for name, raw := range map[string]string{
		"auto-reply":  "From: bob@example.org\r\nAuto-Submitted: auto-replied\r\nSubject: Out of office\r\n\r\nAway until Monday.\r\n",
		"garbage":     "\x00\x01not mail",
		"no boundary": "Content-Type: multipart/report; report-type=delivery-status\r\n\r\n--x\r\n",
		"no status":   "Content-Type: multipart/report; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--b--\r\n",
	} {
		if rcpt, hard, ok := ParseDSN([]byte(raw)); ok {
			t.Errorf("%s: ParseDSN() = %q, %v, true; want not ok", name, rcpt, hard)
		}
	}
}

// FuzzParseDSN: no input makes ParseDSN panic, and what it returns is an
// address.
func FuzzParseDSN(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		rcpt, _, ok := ParseDSN(raw)
		if ok && (!strings.Contains(rcpt, "@") || strings.ContainsAny(rcpt, "\r\n ")) {
			t.Errorf("ParseDSN() = %q", rcpt)
		}
	})
}

// FuzzVERP: every decodable bounce address encodes back to itself.
func FuzzVERP(f *testing.F) {
	for _, s := range []string{"dev+bounces-bob=example.org", "dev+bounces", "a+bounces-x=y=z.org"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, local string) {
		list, rcpt, ok := ParseVERP(local)
		if !ok || rcpt == "" {
			return
		}
		if got := VERP(list, "d.test", rcpt); !strings.EqualFold(got, local+"@d.test") {
			t.Errorf("VERP(ParseVERP(%q)) = %q", local, got)
		}
	})
}
