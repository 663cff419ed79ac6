package ci

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// RemoteRunner takes jobs from a patchwell server over HTTP (see
// Handler), applies each series with `git am -3` in a fresh clone of the
// repository the server names, runs the check in the sandbox and posts
// the result. Killed mid-job, it leaves the job to its lease: the server
// hands it to another runner when the lease lapses.
type RemoteRunner struct {
	Server string // base URL, e.g. https://patchwell.example.org
	Token  string
	Name   string // this runner (default: the host name and pid)
	Client *http.Client
	Poll   time.Duration // idle wait between claims (default 5s)
	LogCap int           // default 64 KiB
	Logger *slog.Logger
	// MaxMbox bounds the downloaded series (default 64 MiB).
	MaxMbox int64
	// WorkDir is where each job gets a directory of its own, named
	// jobPrefix+random and locked (flock) while the job runs (default
	// os.TempDir()). The first RunOnce cleans those of this user no
	// runner holds: a runner killed mid-check left them, perhaps with
	// the check's Disk mounted.
	WorkDir string

	cleanOnce sync.Once
}

// jobPrefix names the job directories in RemoteRunner.WorkDir; one
// being made is named "."+jobPrefix+random until it is locked.
const jobPrefix = "patchwell-job-"

var errLeaseLost = errors.New("lease lost")

func (rr *RemoteRunner) defaults() {
	if rr.Name == "" {
		h, _ := os.Hostname()
		rr.Name = fmt.Sprintf("%s-%d", h, os.Getpid())
	}
	if rr.Client == nil {
		rr.Client = &http.Client{Timeout: 5 * time.Minute}
	}
	if rr.Poll <= 0 {
		rr.Poll = 5 * time.Second
	}
	if rr.LogCap <= 0 {
		rr.LogCap = 64 << 10
	}
	if rr.MaxMbox <= 0 {
		rr.MaxMbox = 64 << 20
	}
	if rr.Logger == nil {
		rr.Logger = slog.New(slog.DiscardHandler)
	}
	if rr.WorkDir == "" {
		rr.WorkDir = os.TempDir()
	}
	rr.Server = strings.TrimRight(rr.Server, "/")
}

// Run claims and runs jobs until ctx is done.
func (rr *RemoteRunner) Run(ctx context.Context) error {
	rr.defaults()
	for {
		ran, err := rr.RunOnce(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			rr.Logger.Error("ci remote job", slog.Any("err", err))
		}
		if !ran || err != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(rr.Poll):
			}
		}
	}
}

func (rr *RemoteRunner) post(ctx context.Context, path string, in, out any) (int, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rr.Server+path, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+rr.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := rr.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusOK && out != nil:
		if err := json.Unmarshal(body, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s: bad JSON: %w", path, err)
		}
	case resp.StatusCode == http.StatusConflict:
		return resp.StatusCode, errLeaseLost
	case resp.StatusCode >= 300:
		return resp.StatusCode, fmt.Errorf("%s: %s: %s", path, resp.Status, bytes.TrimSpace(body))
	}
	return resp.StatusCode, nil
}

// RunOnce claims one job and runs it; false when the server had none.
func (rr *RemoteRunner) RunOnce(ctx context.Context) (bool, error) {
	rr.defaults()
	rr.cleanOnce.Do(func() { rr.cleanLeftovers(ctx) })
	var j RemoteJob
	code, err := rr.post(ctx, "/api/v1/ci/claim", map[string]string{"runner": rr.Name}, &j)
	if err != nil || code == http.StatusNoContent {
		return false, err
	}
	log := rr.Logger.With(slog.Int64("job", j.ID), slog.Int64("patchset", j.SeriesID))
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	lease := time.Duration(j.LeaseSeconds) * time.Second
	if lease < 3*time.Second {
		lease = 3 * time.Second
	}
	go func() {
		t := time.NewTicker(lease / 3)
		defer t.Stop()
		for {
			select {
			case <-jctx.Done():
				return
			case <-t.C:
				if _, err := rr.post(jctx, fmt.Sprintf("/api/v1/ci/jobs/%d/renew", j.ID), map[string]string{"runner": rr.Name}, nil); errors.Is(err, errLeaseLost) {
					cancel(err)
					return
				}
			}
		}
	}()
	res := rr.work(jctx, &j)
	if j.Note != "" && res.State == store.JobDone {
		for i := range res.Checks {
			res.Checks[i].Description = clip(res.Checks[i].Description+" ("+j.Note+")", 2000)
		}
	}
	if ctx.Err() != nil {
		return true, ctx.Err()
	}
	if cause := context.Cause(jctx); errors.Is(cause, errLeaseLost) {
		return true, fmt.Errorf("job %d: %w", j.ID, cause)
	}
	res.Runner = rr.Name
	if _, err := rr.post(ctx, fmt.Sprintf("/api/v1/ci/jobs/%d/result", j.ID), res, nil); err != nil {
		return true, fmt.Errorf("job %d: report: %w", j.ID, err)
	}
	log.Info("ci remote job finished", slog.String("state", res.State), slog.Int("checks", len(res.Checks)))
	return true, nil
}

func (rr *RemoteRunner) failed(err error, checks ...RemoteCheck) RemoteResult {
	return RemoteResult{State: store.JobFailed, Error: clip(err.Error(), 2000), Checks: checks}
}

// work clones, applies and checks; every outcome is a result.
func (rr *RemoteRunner) work(ctx context.Context, j *RemoteJob) RemoteResult {
	dir, release, err := rr.jobDir()
	if err != nil {
		return rr.failed(err)
	}
	defer release()
	wt := filepath.Join(dir, "wt")
	warn := func(what string, err error) RemoteResult {
		return rr.failed(err, RemoteCheck{Context: ContextApply, State: store.CheckWarning, Description: clip(what+": "+err.Error(), 2000)})
	}
	vcs := gitVCS
	if j.VCS == store.VCSHg {
		vcs = hgVCS
	}
	if out, err := vcs.clone(ctx, j.RepoURL, j.Branch, wt); err != nil {
		return warn("could not clone the repository", fmt.Errorf("%w: %s", err, out))
	}
	base := j.Branch
	if hexRev.MatchString(j.Base) && vcs.checkout(ctx, wt, j.Base) == nil {
		base = j.Base
	}
	mbox := filepath.Join(dir, "series.mbox")
	if err := rr.download(ctx, j.MboxURL, mbox); err != nil {
		return warn("could not download the series", err)
	}
	out, err := vcs.apply(ctx, wt, mbox)
	if err != nil {
		if ctx.Err() != nil {
			return rr.failed(ctx.Err())
		}
		return RemoteResult{State: store.JobDone, Checks: []RemoteCheck{
			{Context: ContextApply, State: store.CheckFail, Description: "does not apply on " + clip(base, 100), Log: capLog(out, rr.LogCap)},
			{Context: ContextCheck, State: store.CheckWarning, Description: "not run: the series does not apply"},
		}}
	}
	apply := RemoteCheck{Context: ContextApply, State: store.CheckSuccess, Description: "applied on " + clip(base, 100), Log: capLog(out, rr.LogCap)}
	if j.DefinitionError != "" {
		return RemoteResult{State: store.JobDone, Checks: []RemoteCheck{apply, {Context: ContextCheck, State: store.CheckFail, Description: clip(j.DefinitionError, 2000), Log: j.DefinitionError + "\n"}}}
	}
	def := j.Definition()
	if def == nil {
		return RemoteResult{State: store.JobDone, Checks: []RemoteCheck{apply, {Context: ContextCheck, State: store.CheckWarning, Description: "no check command for this list"}}}
	}
	c, err := RunDefinition(ctx, sandbox.Run, wt, def, j.Limits.Sandbox(), rr.LogCap)
	if err != nil {
		return rr.failed(err, apply, RemoteCheck{Context: ContextCheck, State: store.CheckWarning, Description: clip("could not run the check: "+err.Error(), 2000)})
	}
	return RemoteResult{State: store.JobDone, Checks: []RemoteCheck{apply, {Context: c.Context, State: c.State, Description: c.Description, Log: c.Log}}}
}

// jobDir makes a job's directory in WorkDir, locked until release
// removes it. It is made under a hidden name and renamed once locked,
// so that a runner starting meanwhile (cleanLeftovers) never takes it
// for one left by a dead runner.
func (rr *RemoteRunner) jobDir() (string, func(), error) {
	tmp, err := os.MkdirTemp(rr.WorkDir, "."+jobPrefix)
	if err != nil {
		return "", nil, err
	}
	f, err := os.Open(tmp)
	if err == nil {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != nil {
			f.Close()
		}
	}
	dir := filepath.Join(rr.WorkDir, strings.TrimPrefix(filepath.Base(tmp), "."))
	if err == nil {
		if err = os.Rename(tmp, dir); err != nil {
			f.Close()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("job directory: %w", err)
	}
	return dir, func() { os.RemoveAll(dir); f.Close() }, nil
}

// cleanLeftovers removes the job directories in WorkDir that belong to
// this user and whose lock is free (the runner that made them is dead),
// once sandbox.CleanDisks has unmounted what is mounted under them.
// Runners at work hold their directories' locks: theirs are left alone.
func (rr *RemoteRunner) cleanLeftovers(ctx context.Context) {
	ents, err := os.ReadDir(rr.WorkDir)
	if err != nil {
		rr.Logger.Warn("ci cannot look for job directories left by a killed runner", slog.String("dir", rr.WorkDir), slog.Any("err", err))
		return
	}
	for _, e := range ents {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), jobPrefix) {
			continue
		}
		dir := filepath.Join(rr.WorkDir, e.Name())
		f, err := os.Open(dir)
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Fstat(int(f.Fd()), &st) != nil || st.Uid != uint32(os.Geteuid()) ||
			syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			f.Close()
			continue
		}
		if cleanDisks(ctx, rr.Logger, dir) {
			if err := os.RemoveAll(dir); err != nil {
				rr.Logger.Warn("ci cannot remove a job directory left by a killed runner", slog.String("dir", dir), slog.Any("err", err))
			} else {
				rr.Logger.Info("ci removed a job directory left by a killed runner", slog.String("dir", dir))
			}
		}
		f.Close()
	}
}

func (rr *RemoteRunner) download(ctx context.Context, url, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	// The token goes only to our own server.
	if strings.HasPrefix(url, rr.Server+"/") {
		req.Header.Set("Authorization", "Bearer "+rr.Token)
	}
	resp, err := rr.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, rr.MaxMbox+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > rr.MaxMbox {
		err = fmt.Errorf("series larger than %d bytes", rr.MaxMbox)
	}
	return err
}

// git runs git with hooks off, no prompts and a fixed identity for the
// commits `git am` makes.
// hexRev is a (prefix of a) commit or changeset id: a series' base comes
// from its mail, and is used only when it is one.
var hexRev = regexp.MustCompile(`^[0-9a-f]{7,64}$`)

// runnerVCS is what a remote runner does in a repository: clone the
// branch (no remote URL, which may carry credentials, left where the
// sandbox sees it), go to the series' base, apply its mbox.
type runnerVCS struct {
	clone    func(ctx context.Context, url, branch, dir string) (string, error)
	checkout func(ctx context.Context, dir, rev string) error
	apply    func(ctx context.Context, dir, mbox string) (string, error)
}

var gitVCS = runnerVCS{
	clone: func(ctx context.Context, url, branch, dir string) (string, error) {
		if out, err := git(ctx, "", "clone", "--quiet", "--no-tags", "--single-branch", "--branch", branch, "--", url, dir); err != nil {
			return out, err
		}
		return git(ctx, dir, "remote", "remove", "origin")
	},
	checkout: func(ctx context.Context, dir, rev string) error {
		_, err := git(ctx, dir, "checkout", "--quiet", "--detach", rev+"^{commit}")
		return err
	},
	apply: func(ctx context.Context, dir, mbox string) (string, error) {
		out, err := git(ctx, dir, "am", "-3", "--quiet", mbox)
		if err != nil {
			git(context.Background(), dir, "am", "--abort")
		}
		return out, err
	},
}

var hgVCS = runnerVCS{
	clone: func(ctx context.Context, url, branch, dir string) (string, error) {
		if out, err := hgRun(ctx, "", "clone", "--quiet", "--updaterev", branch, "--", url, dir); err != nil {
			return out, err
		}
		// hg keeps the source as the default path in .hg/hgrc.
		return "", os.Remove(filepath.Join(dir, ".hg", "hgrc"))
	},
	checkout: func(ctx context.Context, dir, rev string) error {
		_, err := hgRun(ctx, dir, "update", "--quiet", "--clean", "--rev", rev)
		return err
	},
	apply: func(ctx context.Context, dir, mbox string) (string, error) {
		return hgRun(ctx, dir, "import", "--", mbox)
	},
}

// hgRun runs hg in dir, never interactive, with HGPLAIN.
func hgRun(ctx context.Context, dir string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "hg", append([]string{"--config", "ui.interactive=false", "--config", "ui.username=patchwell CI <ci@patchwell.invalid>"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HGPLAIN=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func git(ctx context.Context, dir string, args ...string) (string, error) {
	full := append([]string{"-c", "core.hooksPath=/dev/null", "-c", "user.name=patchwell CI", "-c", "user.email=ci@patchwell.invalid", "-c", "protocol.file.allow=always"}, args...)
	if dir != "" {
		full = append([]string{"-C", dir}, full...)
	}
	cmd := exec.CommandContext(ctx, "git", full...)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	return string(out), err
}
