package review

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"patchwell/store"
)

// TestSeriesSignatures: a patatt-signed patch that came by any road is
// "unknown" until its sender's key is verified, then "valid" with that
// key; results are kept (git mailinfo runs once per message and key
// set); a patch changed after signing is "bad" once a key of its
// identity is known; unsigned series show nothing.
func TestSeriesSignatures(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	runs := 0
	mailinfo := func(ctx context.Context, raw []byte) ([]byte, []byte, []byte, error) {
		runs++
		dir := t.TempDir()
		cmd := exec.CommandContext(ctx, "git", "mailinfo", "--encoding=utf-8", "--no-scissors", filepath.Join(dir, "m"), filepath.Join(dir, "p"))
		cmd.Stdin = bytes.NewReader(raw)
		info, err := cmd.Output()
		m, _ := os.ReadFile(filepath.Join(dir, "m"))
		p, _ := os.ReadFile(filepath.Join(dir, "p"))
		return m, p, info, err
	}
	in, st := newTestIngester(t)
	ctx := context.Background()
	raw, err := os.ReadFile("../mailauth/testdata/patatt/ed25519.eml")
	if err != nil {
		t.Fatal(err)
	}
	changed := bytes.Replace(bytes.Replace(raw, []byte("+world"), []byte("+World"), 1), []byte("20240101.abc@"), []byte("20240101.abd@"), 1)
	changed = bytes.Replace(changed, []byte("[PATCH v2 1/2] readme: say  hello\n world"), []byte("[PATCH v2 2/2] readme: say  hello\n world"), 1)
	for _, m := range [][]byte{raw, changed} {
		if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: m}); err != nil {
			t.Fatal(err)
		}
	}
	svc := New(st, ServiceConfig{Ingester: in, Mailinfo: mailinfo})
	series, err := st.SeriesList(ctx, "dev", "", store.Page{})
	if err != nil || len(series) != 1 {
		t.Fatalf("series = %+v, %v", series, err)
	}
	id := series[0].ID
	sigs, err := svc.SeriesSignatures(ctx, id)
	if err != nil || len(sigs) != 2 {
		t.Fatalf("SeriesSignatures() = %+v, %v", sigs, err)
	}
	for mid, s := range sigs {
		if s.State != store.SigUnknown || s.Identity != "ada@example.org" || s.Selector != "vec" || s.Key != nil {
			t.Errorf("%s before any key: %+v, want unknown", mid, s)
		}
	}
	pub, _ := os.ReadFile("../mailauth/testdata/patatt/ed25519.pub")
	if _, err := st.AddDevKeyChallenge(ctx, store.DevKey{Identity: "ada@example.org", Name: "Ada", Selector: "vec", Algorithm: "ed25519",
		Public: string(pub), KeyID: strings.TrimSpace(string(pub))}, "c", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.VerifyDevKey(ctx, "c", time.Now()); err != nil {
		t.Fatal(err)
	}
	sigs, err = svc.SeriesSignatures(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if s := sigs["20240101.abc@example.org"]; s.State != store.SigValid || s.Key == nil || s.Key.Name != "Ada" {
		t.Errorf("signed patch after its key was verified: %+v, want valid", s)
	}
	if s := sigs["20240101.abd@example.org"]; s.State != store.SigBad {
		t.Errorf("patch changed after signing: %+v, want bad", s)
	}
	before := runs
	if again, err := svc.SeriesSignatures(ctx, id); err != nil || len(again) != 2 || runs != before {
		t.Errorf("second SeriesSignatures() = %d results, %v; git mailinfo ran %d more times, want 0", len(again), err, runs-before)
	}
	// Unsigned mail: nothing, and the check is kept too.
	if err := in.Post(ctx, Post{Lists: []string{"dev"}, Raw: []byte("From: Bob <bob@example.org>\nSubject: [PATCH] b\nMessage-ID: <b@x>\n\n---\ndiff --git a/b b/b\n")}); err != nil {
		t.Fatal(err)
	}
	series, _ = st.SeriesList(ctx, "dev", "", store.Page{})
	for _, se := range series {
		if se.ID == id {
			continue
		}
		if sigs, err := svc.SeriesSignatures(ctx, se.ID); err != nil || len(sigs) != 0 {
			t.Errorf("unsigned series: %+v, %v", sigs, err)
		}
	}
}
