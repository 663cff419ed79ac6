package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// chromium runs Debian's headless Chromium the way this machine allows:
// no sandbox (root), no GPU, no network but loopback, a fresh profile.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir()}
	out, err := exec.CommandContext(ctx, "chromium", append(base, args...)...).Output()
	if err != nil {
		t.Fatalf("chromium %v: %v", args, err)
	}
	return out
}

// TestSeriesPageInBrowser loads the pages of a real series (sent with git
// send-email, reviewed by mail) in headless Chromium: the rendered DOM
// shows the series, its trailers and the diff, and a screenshot is taken
// (kept in $PATCHWELL_ARTIFACTS when set).
func TestSeriesPageInBrowser(t *testing.T) {
	needTool(t, "chromium", "--version")
	needTool(t, "git", "send-email", "--help")
	srv := startServer(t, t.TempDir())
	repo := makeRepo(t)
	s := sendSeries(t, srv, repo, "br", "Seen in a browser <b>bold?</b>")
	url := fmt.Sprintf("http://%s/series/%d/", srv.http, s.ID)
	dom := string(chromium(t, "--dump-dom", url))
	for _, want := range []string{"Seen in a browser &lt;b&gt;bold?&lt;/b&gt;", "rename a to b", `class="add"`, "git am -3"} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered series page lacks %q", want)
		}
	}
	if strings.Contains(dom, "<b>bold?</b>") {
		t.Error("the subject's HTML was rendered")
	}
	dir := os.Getenv("PATCHWELL_ARTIFACTS")
	if dir == "" {
		dir = t.TempDir()
	}
	png := filepath.Join(dir, "series-page.png")
	chromium(t, "--window-size=1280,1600", "--screenshot="+png, url)
	b, err := os.ReadFile(png)
	if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) || len(b) < 10000 {
		t.Fatalf("screenshot %s: %d bytes, %v", png, len(b), err)
	}
}
