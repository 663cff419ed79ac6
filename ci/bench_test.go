package ci

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

var sandboxLimits = sandbox.Limits{Wall: 30 * time.Second}

// BenchmarkEnqueueToResult measures one revision from Enqueue to its
// recorded check with an idle runner waiting: the queue, a real git
// worktree, bwrap and the trivial check `test -f x`.
func BenchmarkEnqueueToResult(b *testing.B) {
	needSandbox(b)
	e := newEnv(b)
	ctx := context.Background()
	finished := make(chan int64, 1)
	r := e.runner(Config{Poll: time.Hour, Finished: func(j *store.Job, _ string, _ []store.Check) { finished <- j.SeriesID }})
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go r.Run(rctx)
	ids := e.series(b.N, "pass")
	b.ResetTimer()
	for _, id := range ids {
		if _, err := r.Enqueue(ctx, id); err != nil {
			b.Fatal(err)
		}
		if got := <-finished; got != id {
			b.Fatalf("finished %d, want %d", got, id)
		}
	}
}

// BenchmarkThroughput100 runs 100 queued revisions with 2 workers; the
// figure is per 100 jobs.
func BenchmarkThroughput100(b *testing.B) {
	needSandbox(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		e := newEnv(b)
		b.StartTimer()
		el := run100(b, e, 2)
		b.ReportMetric(float64(el.Milliseconds())/100, "ms/job")
	}
}

// BenchmarkEnqueueToResultNoGit is the same with a Prepare that hands
// over a ready directory: the queue, the store writes and bwrap alone.
func BenchmarkEnqueueToResultNoGit(b *testing.B) {
	needSandbox(b)
	e := newEnv(b)
	ctx := context.Background()
	finished := make(chan int64, 1)
	prep := func(context.Context, int64) (string, func(), PrepareResult, error) {
		dir := b.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "x"), nil, 0o644); err != nil {
			return "", nil, PrepareResult{}, err
		}
		return dir, nil, PrepareResult{Applied: true}, nil
	}
	r := e.runner(Config{Poll: time.Hour, Prepare: prep, Finished: func(j *store.Job, _ string, _ []store.Check) { finished <- j.SeriesID }})
	rctx, stop := context.WithCancel(ctx)
	defer stop()
	go r.Run(rctx)
	ids := e.series(b.N, "pass")
	b.ResetTimer()
	for _, id := range ids {
		if _, err := r.Enqueue(ctx, id); err != nil {
			b.Fatal(err)
		}
		<-finished
	}
	b.StopTimer()
	for _, id := range ids {
		if c := e.checks(id)[ContextCheck]; c.State != store.CheckSuccess {
			b.Fatalf("series %d: %+v", id, c)
		}
	}
}

// BenchmarkRunDefinition is the cost of a definition's steps apart from
// their commands: each step is one bwrap run of `true`.
func BenchmarkRunDefinition(b *testing.B) {
	needSandbox(b)
	for _, n := range []int{1, 3} {
		b.Run(strconv.Itoa(n)+"steps", func(b *testing.B) {
			def := &Definition{}
			for i := 0; i < n; i++ {
				def.Steps = append(def.Steps, Step{Name: "s" + strconv.Itoa(i), Run: "true"})
			}
			dir := b.TempDir()
			for i := 0; i < b.N; i++ {
				c, err := RunDefinition(context.Background(), nil, dir, def, sandboxLimits, 0)
				if err != nil || c.State != store.CheckSuccess {
					b.Fatalf("RunDefinition() = %+v, %v", c, err)
				}
			}
		})
	}
}

// BenchmarkParseDefinition parses a typical .patchwell.yml.
func BenchmarkParseDefinition(b *testing.B) {
	yml := []byte("timeout: 10m\nimage: debian:12\nsteps:\n  - name: build\n    run: make -j2\n  - name: test\n    run: |\n      make check\n      ./lint.sh\n")
	for i := 0; i < b.N; i++ {
		if _, err := ParseDefinition(yml); err != nil {
			b.Fatal(err)
		}
	}
}
