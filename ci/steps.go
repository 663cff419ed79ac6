package ci

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// SandboxFunc runs one command in the sandbox (sandbox.Run).
type SandboxFunc func(ctx context.Context, spec sandbox.Spec) (*sandbox.Result, error)

// RunDefinition runs def's steps in order in the sandbox, in the
// worktree wt, and returns the "patchwell/check" check: success when
// every step passed, fail at the first step that failed (the later ones
// are not run). The wall-time limit covers all the steps together:
// limits.Wall, lowered (never raised) by def.Timeout. The log shows
// each step: its command, its output (the end of it, within an equal
// share of logCap) and its result, then a summary. The worktree's disk
// budget covers all the steps too (a sandbox.Disk for their length):
// limits.Disk, lowered (never raised) by def.Disk; a step that reaches it
// is stopped and fails ("disk budget of 2 GiB exceeded"). An error means
// a step could not be run at all (the sandbox is unavailable), or the
// disk could not be made or undone.
func RunDefinition(ctx context.Context, run SandboxFunc, wt string, def *Definition, limits sandbox.Limits, logCap int) (_ store.Check, err error) {
	if run == nil {
		run = sandbox.Run
	}
	if logCap <= 0 {
		logCap = 64 << 10
	}
	wall := limits.Wall
	if wall <= 0 {
		wall = sandbox.DefaultLimits.Wall
	}
	if def.Timeout > 0 && def.Timeout < wall {
		wall = def.Timeout
	}
	budget := limits.Disk
	if budget <= 0 {
		budget = sandbox.DefaultLimits.Disk
	}
	if def.Disk > 0 && def.Disk < budget {
		budget = def.Disk
	}
	limits.Disk = budget
	n := len(def.Steps)
	var head, summary strings.Builder
	if def.Source != "" {
		fmt.Fprintf(&head, "check: %s\n", def.Source)
	}
	if def.Timeout > 0 {
		fmt.Fprintf(&head, "timeout: %s (limit applied: %s)\n", def.Timeout, wall)
	}
	disk, err := sandbox.NewDisk(ctx, wt, budget)
	if errors.Is(err, sandbox.ErrDiskFull) {
		d := fmt.Sprintf("disk budget of %s exceeded by the worktree before the check", formatSize(budget))
		return store.Check{Context: ContextCheck, State: store.CheckFail, Description: d,
			Log: capLog(head.String()+d+": "+err.Error()+"\n", logCap)}, nil
	}
	if err != nil {
		return store.Check{}, err
	}
	defer func() {
		if cerr := disk.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	fmt.Fprintf(&head, "disk: %s, %s\n", formatSize(budget), disk.Note)
	if def.Disk > budget {
		fmt.Fprintf(&head, "disk: %s asked, the server's limit applies\n", formatSize(def.Disk))
	}
	if def.Image != "" {
		fmt.Fprintf(&head, "image: %q is not used: this server's bubblewrap sandbox runs on the host's read-only system\n", def.Image)
	}
	// The steps share the log, apart from the head and the summary
	// (each at most an eighth of it).
	reserve := min(head.Len(), logCap/8)
	if n > 1 {
		reserve += logCap / 8
	}
	share := max((logCap-reserve)/n, 512)
	c := store.Check{Context: ContextCheck, State: store.CheckSuccess}
	var logs []string
	start := time.Now()
	failed := -1
	for i, st := range def.Steps {
		label := st.Name
		if n > 1 {
			label = fmt.Sprintf("step %d/%d %q", i+1, n, st.Name)
		}
		left := wall - time.Since(start)
		if left <= 0 {
			failed = i
			c.State = store.CheckFail
			c.Description = fmt.Sprintf("killed: wall-time limit exceeded (%s) before %s", wall, label)
			fmt.Fprintf(&summary, "%s: not run (no time left)\n", st.Name)
			break
		}
		l := limits
		l.Wall = left
		res, err := run(ctx, sandbox.Spec{Dir: wt, Shell: st.Run, Limits: l, Disk: disk})
		if err != nil {
			return store.Check{}, fmt.Errorf("%s: %w", label, err)
		}
		ok, what := stepResult(res, budget)
		var b strings.Builder
		if n > 1 {
			fmt.Fprintf(&b, "== %s\n", label)
		}
		fmt.Fprintf(&b, "$ %s\n", st.Run)
		if res.Truncated {
			fmt.Fprintf(&b, "[output truncated: %d bytes, the last %d follow]\n", res.Total, len(res.Output))
		}
		b.Write(res.Output)
		if len(res.Output) > 0 && res.Output[len(res.Output)-1] != '\n' {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "[%s]\n", what)
		logs = append(logs, capLog(b.String(), share))
		fmt.Fprintf(&summary, "%s: %s\n", st.Name, what)
		if !ok {
			failed = i
			c.State = store.CheckFail
			c.Description = what
			if n > 1 {
				c.Description = label + ": " + what
			}
			break
		}
	}
	if failed >= 0 {
		for _, st := range def.Steps[failed+1:] {
			fmt.Fprintf(&summary, "%s: not run\n", st.Name)
		}
	}
	d := time.Since(start).Round(100 * time.Millisecond)
	if c.State == store.CheckSuccess {
		c.Description = fmt.Sprintf("passed in %s", d)
		if n > 1 {
			c.Description = fmt.Sprintf("passed: %d steps in %s", n, d)
		}
	}
	var out strings.Builder
	out.WriteString(capLog(head.String(), logCap/8))
	for _, l := range logs {
		out.WriteString(l)
	}
	if n > 1 {
		out.WriteString("\nsummary:\n")
		out.WriteString(capLog(summary.String(), logCap/8))
	}
	c.Description = clip(c.Description, 2000)
	c.Log = capLog(out.String(), logCap)
	return c, nil
}

// stepResult says whether a step passed and how it ended.
func stepResult(res *sandbox.Result, disk int64) (bool, string) {
	d := res.Duration.Round(100 * time.Millisecond)
	switch {
	case res.DiskFull:
		return false, fmt.Sprintf("disk budget of %s exceeded after %s", formatSize(disk), d)
	case res.TimedOut:
		return false, fmt.Sprintf("killed: wall-time limit exceeded (%s)", d)
	case res.ExitCode == 0:
		return true, fmt.Sprintf("passed in %s", d)
	case res.Signal != "":
		return false, fmt.Sprintf("signal %q after %s (a CPU, memory or file size limit?)", res.Signal, d)
	default:
		return false, fmt.Sprintf("exit status %d after %s", res.ExitCode, d)
	}
}

// formatSize writes a size in bytes as df -h does: "64 MiB", "2 GiB",
// "1.5 GiB", "512 bytes".
func formatSize(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	f, u := float64(n)/1024, 0
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	for f >= 1024 && u < len(units)-1 {
		f, u = f/1024, u+1
	}
	return strings.TrimSuffix(strconv.FormatFloat(f, 'f', 1, 64), ".0") + " " + units[u]
}
