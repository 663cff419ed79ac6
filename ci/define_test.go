package ci

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestParseDefinition(t *testing.T) {
	good := []struct {
		name string
		in   string
		want *Definition
	}{
		{"two steps", "steps:\n  - name: build\n    run: make\n  - name: test\n    run: make test\n",
			&Definition{Steps: []Step{{"build", "make"}, {"test", "make test"}}}},
		{"timeout and image", "timeout: 90s\nimage: debian:12\nsteps:\n  - {name: t, run: 'true'}\n",
			&Definition{Timeout: 90 * time.Second, Image: "debian:12", Steps: []Step{{"t", "true"}}}},
		{"per patch", "per_patch: true\nsteps:\n  - {name: t, run: make}\n",
			&Definition{PerPatch: true, Steps: []Step{{"t", "make"}}}},
		{"timeout in seconds", "timeout: 120\nsteps:\n  - name: a\n    run: |\n      set -e\n      make\n",
			&Definition{Timeout: 2 * time.Minute, Steps: []Step{{"a", "set -e\nmake\n"}}}},
	}
	for _, tc := range good {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDefinition([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseDefinition() = %v", err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("ParseDefinition() (-want +got):\n%s", d)
			}
		})
	}
	bad := []struct {
		name, in, want string
	}{
		{"empty", "", "'.patchwell.yml': empty: it needs a list of steps"},
		{"syntax", "steps:\n  - name: a\n    run: x: y\n", "'.patchwell.yml': line 3: mapping values are not allowed in this context"},
		{"tab", "steps:\n  - name: a\n\trun: x\n", "'.patchwell.yml': line 2: found a tab character"},
		{"not a mapping", "- make\n", "'.patchwell.yml': line 1: expected a mapping"},
		{"unknown key", "steps:\n  - name: a\n    run: make\nimagee: x\n", `'.patchwell.yml': line 4: unknown key "imagee"`},
		{"unknown step key", "steps:\n  - name: a\n    run: make\n    env: x\n", `'.patchwell.yml': line 4: step 1: unknown key "env"`},
		{"no steps", "timeout: 1m\n", "'.patchwell.yml': line 1: no steps"},
		{"steps not a list", "steps: make\n", "'.patchwell.yml': line 1: steps: expected a list"},
		{"empty list", "steps: []\n", "'.patchwell.yml': line 1: steps: the list is empty"},
		{"step is a string", "steps:\n  - make\n", "'.patchwell.yml': line 2: step 1: expected a mapping"},
		{"no run", "steps:\n  - name: a\n", "'.patchwell.yml': line 2: step 1 (a): no run command"},
		{"no name", "steps:\n  - run: make\n", "'.patchwell.yml': line 2: step 1: no name"},
		{"empty run", "steps:\n  - name: a\n    run: ' '\n", "'.patchwell.yml': line 3: step 1: run is empty"},
		{"run is a list", "steps:\n  - name: a\n    run: [make]\n", "'.patchwell.yml': line 3: step 1: run: expected a string"},
		{"duplicate name", "steps:\n  - {name: a, run: x}\n  - {name: a, run: y}\n", `'.patchwell.yml': line 3: step 2: the name "a" is used twice`},
		{"control in name", "steps:\n  - name: \"a\\u202eb\"\n    run: x\n", "'.patchwell.yml': line 2: step 1: a name is"},
		{"duplicate key", "steps:\n  - {name: a, run: x}\nsteps:\n  - {name: b, run: y}\n", `'.patchwell.yml': line 3: key "steps" given twice`},
		{"bad per_patch", "per_patch: yes\nsteps:\n  - {name: a, run: x}\n", "'.patchwell.yml': line 1: per_patch: expected true or false"},
		{"bad timeout", "timeout: soon\nsteps:\n  - {name: a, run: x}\n", `'.patchwell.yml': line 1: timeout: "soon" is not a duration`},
		{"timeout out of range", "timeout: 48h\nsteps:\n  - {name: a, run: x}\n", "'.patchwell.yml': line 1: timeout: 48h0m0s is out of range"},
		{"alias", "x: &a {name: a, run: x}\nsteps:\n  - *a\n", "'.patchwell.yml': line 1: anchors and aliases are not allowed"},
		{"two documents", "steps:\n  - {name: a, run: x}\n---\nsteps: []\n", "'.patchwell.yml': line 3: a second YAML document"},
		{"too big", "# " + strings.Repeat("x", MaxDefinitionSize) + "\n", "'.patchwell.yml': larger than"},
		{"not utf-8", "steps:\n  - {name: \xff, run: x}\n", "'.patchwell.yml': not UTF-8"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDefinition([]byte(tc.in))
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("ParseDefinition() = %+v, %v; want a *DefinitionError", got, err)
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("ParseDefinition() error = %q, want prefix %q", err, tc.want)
			}
		})
	}
}

func FuzzParseDefinition(f *testing.F) {
	f.Add([]byte("steps:\n  - name: build\n    run: make\n"))
	f.Add([]byte("timeout: 10m\nimage: x\nsteps: [{name: a, run: b}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		def, err := ParseDefinition(b)
		if err != nil {
			var de *DefinitionError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DefinitionError", err)
			}
			return
		}
		if len(def.Steps) == 0 || len(def.Steps) > maxSteps {
			t.Fatalf("%d steps", len(def.Steps))
		}
		for _, s := range def.Steps {
			if s.Name == "" || strings.TrimSpace(s.Run) == "" {
				t.Fatalf("step %+v", s)
			}
		}
	})
}
