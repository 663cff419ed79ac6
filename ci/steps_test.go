package ci

import (
	"context"
	"strings"
	"testing"
	"time"

	"patchwell/sandbox"
	"patchwell/store"
)

// TestRunnerSteps runs .patchwell.yml definitions in the real sandbox:
// every step passes; the second of three fails (the third does not
// run); a malformed file is a failed check, not a runner failure.
func TestRunnerSteps(t *testing.T) {
	needSandbox(t)
	e := newEnv(t)
	ctx := context.Background()
	cases := []struct {
		name, yml   string
		state, desc string
		log         []string // in this order
		notInLog    []string
		jobState    string
	}{
		{"pass", "image: debian:12\nsteps:\n  - name: build\n    run: echo built > out\n  - name: test\n    run: test -f x && grep built out && echo tested\n",
			store.CheckSuccess, "passed: 2 steps in ",
			[]string{"image: \"debian:12\" is not used", `== step 1/2 "build"`, "$ echo built > out", "[passed in", `== step 2/2 "test"`, "tested", "summary:\nbuild: passed in", "test: passed in"}, nil, store.JobDone},
		{"second fails", "steps:\n  - {name: one, run: echo first}\n  - {name: two, run: 'echo broken; exit 3'}\n  - {name: three, run: echo never}\n",
			store.CheckFail, `step 2/3 "two": exit status 3 after`,
			[]string{"first", "broken", "[exit status 3 after", "summary:", "three: not run"}, []string{"never"}, store.JobDone},
		{"timeout", "timeout: 2s\nsteps:\n  - {name: slow, run: sleep 60}\n  - {name: after, run: echo never}\n",
			store.CheckFail, `step 1/2 "slow": killed: wall-time limit exceeded`,
			[]string{"timeout: 2s (limit applied: 2s)", "after: not run"}, []string{"never"}, store.JobDone},
		{"malformed", "steps:\n  - name: a\n    run: make\nimagee: x\n",
			store.CheckFail, `'.patchwell.yml': line 4: unknown key "imagee"`, nil, nil, store.JobDone},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sid := e.series(1, "pass")[0]
			r := e.runner(Config{CheckFor: func(context.Context, int64) (*Definition, sandbox.Limits, error) {
				def, err := ParseDefinition([]byte(tc.yml))
				return def, sandbox.Limits{Wall: 30 * time.Second}, err
			}})
			r.Enqueue(ctx, sid)
			if n := drain(t, r, "t"); n != 1 {
				t.Fatalf("ran %d jobs", n)
			}
			c := e.checks(sid)
			if c[ContextApply].State != store.CheckSuccess {
				t.Errorf("apply: %+v", c[ContextApply])
			}
			ch := c[ContextCheck]
			if ch.State != tc.state || !strings.HasPrefix(ch.Description, tc.desc) {
				t.Errorf("check = %s %q, want %s %q...\n%s", ch.State, ch.Description, tc.state, tc.desc, ch.Log)
			}
			at := 0
			for _, want := range tc.log {
				i := strings.Index(ch.Log[at:], want)
				if i < 0 {
					t.Errorf("log lacks %q after offset %d:\n%s", want, at, ch.Log)
					break
				}
				at += i + len(want)
			}
			for _, no := range tc.notInLog {
				if strings.Contains(ch.Log, no+"\n") {
					t.Errorf("log has %q:\n%s", no, ch.Log)
				}
			}
			if j, _ := e.st.JobForSeries(ctx, sid); j.State != tc.jobState {
				t.Errorf("job %+v, want %s", j, tc.jobState)
			}
		})
	}
}

// The log of many steps stays within the cap and shows every step.
func TestRunDefinitionLogCap(t *testing.T) {
	var calls int
	fake := func(_ context.Context, spec sandbox.Spec) (*sandbox.Result, error) {
		calls++
		return &sandbox.Result{Output: []byte(strings.Repeat("o", 10000) + "END-" + spec.Shell + "\n"), Duration: time.Second}, nil
	}
	def := &Definition{Source: "test"}
	for _, n := range []string{"a", "b", "c", "d"} {
		def.Steps = append(def.Steps, Step{Name: n, Run: "run-" + n})
	}
	c, err := RunDefinition(context.Background(), fake, t.TempDir(), def, sandbox.Limits{}, 8000)
	if err != nil {
		t.Fatal(err)
	}
	if calls != 4 || c.State != store.CheckSuccess || !strings.HasPrefix(c.Description, "passed: 4 steps in ") {
		t.Fatalf("calls %d, check %+v", calls, c)
	}
	if len(c.Log) > 8000 {
		t.Errorf("log is %d bytes, cap 8000", len(c.Log))
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		if !strings.Contains(c.Log, "END-run-"+n+"\n[passed in 1s]") {
			t.Errorf("log lacks the end of step %s", n)
		}
	}
}

// One step (a list's check command) keeps nearly the whole log.
func TestRunDefinitionOneStepLog(t *testing.T) {
	fake := func(_ context.Context, spec sandbox.Spec) (*sandbox.Result, error) {
		return &sandbox.Result{Output: []byte(strings.Repeat("o", 100000) + "END\n"), Duration: time.Second}, nil
	}
	c, err := RunDefinition(context.Background(), fake, t.TempDir(), CommandDefinition("make", "the list's check command"), sandbox.Limits{}, 64<<10)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(c.Log, "o"); len(c.Log) > 64<<10 || n < 60<<10 || !strings.HasSuffix(c.Log, "END\n[passed in 1s]\n") {
		t.Errorf("log: %d bytes, %d of output, ends %q", len(c.Log), n, c.Log[len(c.Log)-40:])
	}
}
