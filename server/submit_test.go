package server

import (
	"errors"
	"strings"
	"testing"
)

// TestSubmitAllowHostsChecked: a bad --submit-allow-hosts stops serve
// before anything is bound or opened, naming the flag.
func TestSubmitAllowHostsChecked(t *testing.T) {
	_, err := New(Config{Data: t.TempDir(), SubmitAllowHosts: "127.0.0.0/8,git.internal:22"}, nil)
	var ce *ConfigError
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "--submit-allow-hosts") || !strings.Contains(ce.Msg, "git.internal:22") {
		t.Fatalf("New with a bad --submit-allow-hosts = %v", err)
	}
}
