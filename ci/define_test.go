package ci

import (
	"encoding/json"
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
		{"disk", "disk: 512M\nsteps:\n  - {name: t, run: make}\n",
			&Definition{Disk: 512 << 20, Steps: []Step{{"t", "make"}}}},
		{"disk in GiB", "disk: 2GiB\nsteps:\n  - {name: t, run: make}\n",
			&Definition{Disk: 2 << 30, Steps: []Step{{"t", "make"}}}},
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
		{"bad disk", "disk: lots\nsteps:\n  - {name: a, run: x}\n", `'.patchwell.yml': line 1: disk: "lots" is not a size such as 512M or 2G`},
		{"fractional disk", "disk: 1.5G\nsteps:\n  - {name: a, run: x}\n", `'.patchwell.yml': line 1: disk: "1.5G" is not a size`},
		{"disk in decimal units", "disk: 2P\nsteps:\n  - {name: a, run: x}\n", `'.patchwell.yml': line 1: disk: "2P" is not a size`},
		{"disk too small", "disk: 4096\nsteps:\n  - {name: a, run: x}\n", "'.patchwell.yml': line 1: disk: 4096 is out of range (1M to 1T)"},
		{"disk too large", "disk: 2T\nsteps:\n  - {name: a, run: x}\n", "'.patchwell.yml': line 1: disk: 2T is out of range"},
		{"disk is a list", "disk: [1G]\nsteps:\n  - {name: a, run: x}\n", "'.patchwell.yml': line 1: disk: expected a size"},
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

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "1M": 1 << 20, "64m": 64 << 20, "64MB": 64 << 20, "64MiB": 64 << 20,
		"2G": 2 << 30, "2 G": 2 << 30, "3072K": 3 << 20, "1T": 1 << 40, "1tib": 1 << 40,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "G", "1iB", "1GG", "1Gi", "-1G", "1.5G", "1e9", "0", "1023K", "1025G0", "9223372036854775807T", "1X"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

// A definition crosses the wire to a remote runner whole.
func TestRemoteJobDefinition(t *testing.T) {
	want := &Definition{Source: "s", Steps: []Step{{"a", "make"}}, Timeout: time.Minute, Disk: 64 << 20, Image: "debian:12"}
	var j RemoteJob
	if err := j.SetDefinition(want, nil); err != nil {
		t.Fatalf("SetDefinition() = %v", err)
	}
	b, err := json.Marshal(j)
	if err != nil {
		t.Fatal(err)
	}
	var back RemoteJob
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, back.Definition()); d != "" {
		t.Errorf("Definition() after the wire (-want +got):\n%s", d)
	}
}
