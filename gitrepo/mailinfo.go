package gitrepo

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Mailinfo runs `git mailinfo --encoding=utf-8 --no-scissors` on one
// mail, as patatt does to canonicalise what a developer signature covers
// (mailauth.Mailinfo): it returns the commit message, the patch and the
// info lines (Author:, Email:, Subject:, Date:). It needs no repository;
// git runs with the environment and safety settings of every other git
// call here, for at most ten seconds.
func Mailinfo(ctx context.Context, raw []byte) (msg, patch, info []byte, err error) {
	dir, err := os.MkdirTemp("", "patchwell-mailinfo")
	if err != nil {
		return nil, nil, nil, err
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	m, p := filepath.Join(dir, "m"), filepath.Join(dir, "p")
	args := []string{"-c", "core.hooksPath=/dev/null", "mailinfo", "--encoding=utf-8", "--no-scissors", m, p}
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = env()
	cmd.Stdin = bytes.NewReader(raw)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &capped{b: &errb}
	if err := cmd.Run(); err != nil {
		return nil, nil, nil, &GitError{Args: args[2:], Err: err, Output: strings.TrimSpace(errb.String())}
	}
	if msg, err = os.ReadFile(m); err != nil {
		return nil, nil, nil, fmt.Errorf("mailinfo: %w", err)
	}
	if patch, err = os.ReadFile(p); err != nil {
		return nil, nil, nil, fmt.Errorf("mailinfo: %w", err)
	}
	return msg, patch, out.Bytes(), nil
}
