package ci

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// DefinitionFile is the check definition a repository may carry at the
// top of its target branch.
const DefinitionFile = ".patchwell.yml"

// Bounds of a definition: it comes from the repository, so it is only
// as trusted as the branch, and it is kept small.
const (
	MaxDefinitionSize = 64 << 10
	maxSteps          = 50
	maxStepName       = 100
	maxStepRun        = 16 << 10
	maxTimeout        = 24 * time.Hour
	minDisk           = 1 << 20
	maxDisk           = 1 << 40
)

// Definition is a check: steps run in order, each with sh -c in the
// sandbox, in the same worktree (what one step writes the next sees).
// The check fails at the first failing step; the later ones do not run.
type Definition struct {
	// Source says where the definition came from, for the log:
	// ".patchwell.yml on main at 1a2b3c4d5e6f" or "the list's check command".
	Source string
	Steps  []Step
	// Timeout bounds the whole check (all steps); 0 leaves the server's
	// wall-time limit, and it never raises it.
	Timeout time.Duration
	// Disk bounds the bytes the worktree may hold during the check (the
	// checkout and everything the steps write); 0 leaves the server's
	// budget, and it never raises it.
	Disk int64
	// Image is accepted for compatibility with container-based CI
	// definitions; the bubblewrap sandbox runs on the host's read-only
	// system, so it is only noted in the log.
	Image string
	// PerPatch also runs the steps at each patch of the series (each in
	// a fresh worktree with the patches up to it applied), recorded as a
	// check on each patch; the in-process runner only.
	PerPatch bool
}

// Step is one command of a Definition.
type Step struct {
	Name string
	Run  string
}

// CommandDefinition is the one-step definition of a list's check
// command; nil when cmd is blank (no check).
func CommandDefinition(cmd, source string) *Definition {
	if strings.TrimSpace(cmd) == "" {
		return nil
	}
	return &Definition{Source: source, Steps: []Step{{Name: "check", Run: cmd}}}
}

// DefinitionError is a malformed definition file: a result of the check
// (it fails, with this message), not a failure of the runner.
type DefinitionError struct {
	File string
	Line int // 0 when the error is not at a line
	Msg  string
}

func (e *DefinitionError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("'%s': line %d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("'%s': %s", e.File, e.Msg)
}

// ParseDefinition parses a .patchwell.yml:
//
//	timeout: 10m          # optional: the whole check; "90s", "1h", or seconds
//	disk: 512M            # optional: the worktree's size; 512M, 2G, or bytes (K, M, G, T are 1024s)
//	image: debian:12      # optional: accepted, not used (see Definition.Image)
//	per_patch: true       # optional: also check each patch (Definition.PerPatch)
//	steps:
//	  - name: build
//	    run: make
//	  - name: test
//	    run: make test
//
// Unknown keys, aliases, a second document and out-of-bounds values are
// errors (*DefinitionError), named by line.
func ParseDefinition(data []byte) (*Definition, error) {
	bad := func(line int, format string, a ...any) error {
		return &DefinitionError{File: DefinitionFile, Line: line, Msg: fmt.Sprintf(format, a...)}
	}
	if len(data) > MaxDefinitionSize {
		return nil, bad(0, "larger than %d bytes", MaxDefinitionSize)
	}
	if !utf8.Valid(data) {
		return nil, bad(0, "not UTF-8")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, bad(0, "empty: it needs a list of steps")
		}
		return nil, yamlError(err)
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, yamlError(err)
		}
		return nil, bad(more.Line, "a second YAML document: the file must hold one")
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind != yaml.MappingNode {
		return nil, bad(root.Line, "expected a mapping with the keys steps, timeout, disk, image and per_patch")
	}
	def := &Definition{}
	seen := map[string]bool{}
	var steps *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if err := plain(k, v, bad); err != nil {
			return nil, err
		}
		if seen[k.Value] {
			return nil, bad(k.Line, "key %q given twice", k.Value)
		}
		seen[k.Value] = true
		switch k.Value {
		case "steps":
			steps = v
		case "timeout":
			if v.Kind != yaml.ScalarNode {
				return nil, bad(v.Line, "timeout: expected a duration such as 10m or 90s")
			}
			d, err := parseTimeout(v.Value)
			if err != nil {
				return nil, bad(v.Line, "timeout: %v", err)
			}
			def.Timeout = d
		case "disk":
			if v.Kind != yaml.ScalarNode {
				return nil, bad(v.Line, "disk: expected a size such as 512M or 2G")
			}
			n, err := parseSize(v.Value)
			if err != nil {
				return nil, bad(v.Line, "disk: %v", err)
			}
			def.Disk = n
		case "per_patch":
			if v.Kind != yaml.ScalarNode || (v.Value != "true" && v.Value != "false") {
				return nil, bad(v.Line, "per_patch: expected true or false")
			}
			def.PerPatch = v.Value == "true"
		case "image":
			if v.Kind != yaml.ScalarNode || !printable(v.Value) || len(v.Value) > 200 {
				return nil, bad(v.Line, "image: expected a name such as debian:12")
			}
			def.Image = v.Value
		default:
			return nil, bad(k.Line, "unknown key %q (the keys are steps, timeout, disk, image and per_patch)", clipName(k.Value))
		}
	}
	if steps == nil {
		return nil, bad(root.Line, "no steps: add a list of steps, each with a name and a run command")
	}
	if steps.Kind != yaml.SequenceNode {
		return nil, bad(steps.Line, "steps: expected a list of steps, each with a name and a run command")
	}
	if len(steps.Content) == 0 {
		return nil, bad(steps.Line, "steps: the list is empty")
	}
	if len(steps.Content) > maxSteps {
		return nil, bad(steps.Line, "steps: %d steps, at most %d", len(steps.Content), maxSteps)
	}
	names := map[string]bool{}
	for n, s := range steps.Content {
		if s.Kind != yaml.MappingNode {
			return nil, bad(s.Line, "step %d: expected a mapping with name and run", n+1)
		}
		var st Step
		var nameLine int
		got := map[string]bool{}
		for i := 0; i+1 < len(s.Content); i += 2 {
			k, v := s.Content[i], s.Content[i+1]
			if err := plain(k, v, bad); err != nil {
				return nil, err
			}
			if got[k.Value] {
				return nil, bad(k.Line, "step %d: key %q given twice", n+1, k.Value)
			}
			got[k.Value] = true
			if v.Kind != yaml.ScalarNode {
				return nil, bad(v.Line, "step %d: %s: expected a string", n+1, clipName(k.Value))
			}
			switch k.Value {
			case "name":
				st.Name, nameLine = v.Value, v.Line
			case "run":
				st.Run = v.Value
				if strings.TrimSpace(st.Run) == "" {
					return nil, bad(v.Line, "step %d: run is empty", n+1)
				}
				if len(st.Run) > maxStepRun {
					return nil, bad(v.Line, "step %d: run is longer than %d bytes", n+1, maxStepRun)
				}
				if strings.ContainsRune(st.Run, 0) {
					return nil, bad(v.Line, "step %d: run contains a NUL byte", n+1)
				}
			default:
				return nil, bad(k.Line, "step %d: unknown key %q (a step has name and run)", n+1, clipName(k.Value))
			}
		}
		switch {
		case !got["name"]:
			return nil, bad(s.Line, "step %d: no name", n+1)
		case !got["run"]:
			return nil, bad(s.Line, "step %d (%s): no run command", n+1, st.Name)
		case st.Name == "" || len(st.Name) > maxStepName || !printable(st.Name):
			return nil, bad(nameLine, "step %d: a name is 1 to %d printable characters on one line", n+1, maxStepName)
		case names[st.Name]:
			return nil, bad(nameLine, "step %d: the name %q is used twice", n+1, st.Name)
		}
		names[st.Name] = true
		def.Steps = append(def.Steps, st)
	}
	return def, nil
}

// plain refuses what ParseDefinition does not follow: aliases (and with
// them alias bombs), non-scalar keys.
func plain(k, v *yaml.Node, bad func(int, string, ...any) error) error {
	if k.Kind == yaml.AliasNode || v.Kind == yaml.AliasNode || v.Anchor != "" || k.Anchor != "" {
		return bad(k.Line, "anchors and aliases are not allowed")
	}
	if k.Kind != yaml.ScalarNode {
		return bad(k.Line, "expected a key")
	}
	return nil
}

// yamlError turns the YAML library's syntax error ("yaml: line 3: did
// not find expected key") into a DefinitionError.
func yamlError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, err := strconv.Atoi(rest[:i]); err == nil {
				line, msg = n, strings.TrimSpace(rest[i+1:])
			}
		}
	}
	return &DefinitionError{File: DefinitionFile, Line: line, Msg: msg}
}

func parseTimeout(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.Atoi(s)
		if nerr != nil {
			return 0, fmt.Errorf("%q is not a duration such as 10m, 90s or 1h30m", clipName(s))
		}
		d = time.Duration(n) * time.Second
	}
	if d < time.Second || d > maxTimeout {
		return 0, fmt.Errorf("%s is out of range (1s to %s)", d, maxTimeout)
	}
	return d, nil
}

// parseSize reads a size in bytes: a number, then optionally K, M, G or
// T (powers of 1024, as df -h and docker mean them), followed or not by
// B or iB: "512M", "2G", "2GiB", "1073741824".
func parseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "KMGTkmgtIiBb ")
	unit := strings.ToUpper(strings.TrimSpace(s[len(num):]))
	if len(unit) == 3 {
		unit = strings.TrimSuffix(unit, "IB")
	}
	if len(unit) == 2 {
		unit = strings.TrimSuffix(unit, "B")
	}
	shift, ok := map[string]uint{"": 0, "K": 10, "M": 20, "G": 30, "T": 40}[unit]
	n, err := strconv.ParseInt(num, 10, 64)
	if !ok || err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size such as 512M or 2G", clipName(s))
	}
	if n > maxDisk>>shift || n<<shift < minDisk {
		return 0, fmt.Errorf("%s is out of range (1M to 1T)", clipName(s))
	}
	return n << shift, nil
}

func printable(s string) bool {
	for _, r := range s {
		if !unicode.IsPrint(r) || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// clipName bounds a value quoted in an error message.
func clipName(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
