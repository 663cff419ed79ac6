// Package conffile reads patchwell's configuration file: TOML (parsed by
// pelletier/go-toml/v2), whose top-level keys are the flags of a command
// (serve's, for `patchwell serve --config FILE`) and whose array tables
// ([[list]]) declare things for the caller to reconcile. It knows no flag
// or table by name: it reports each key with the line it is on, applies
// top-level keys to a flag.FlagSet (the command line wins), and words
// every mistake as FILE:LINE: reason.
package conffile

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// Entry is one key = value of the file.
type Entry struct {
	Key string
	// Value is a scalar as flag.Value.Set takes it; an array's items
	// joined with commas.
	Value string
	// List holds an array's items (nil for a scalar).
	List []string
	// IsList reports whether the value was an array.
	IsList bool
	Line   int
}

// Table is one [[Name]] table and its keys.
type Table struct {
	Name    string
	Line    int
	Entries []Entry
}

// Get returns the entry for key, if the table has it.
func (t *Table) Get(key string) (Entry, bool) {
	for _, e := range t.Entries {
		if e.Key == key {
			return e, true
		}
	}
	return Entry{}, false
}

// File is a parsed configuration file.
type File struct {
	Path    string
	Entries []Entry // top-level keys, in file order
	Tables  []Table // [[name]] tables, in file order
}

// Read reads and parses the file at path.
func Read(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Errorf words a mistake at a line of the file.
func (f *File) Errorf(line int, format string, args ...any) error {
	return fmt.Errorf("%s:%d: %s", f.Path, line, fmt.Sprintf(format, args...))
}

// Parse parses data, the contents of the file at path. Only top-level
// keys and array tables are read: a [table], a dotted key or an inline
// table is refused with its line, as is anything that is not TOML.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path}
	// The decoder checks the whole document (syntax, duplicate keys,
	// types) and gives the typed values; the parser below gives each
	// key's line.
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			row, _ := de.Position()
			return nil, f.Errorf(row, "%s", de.Error())
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var p unstable.Parser
	p.Reset(data)
	seen := map[string]int{} // array table name: tables read so far
	cur := -1                // index in f.Tables; -1: top level
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			key, line := keyOf(&p, e)
			return nil, f.Errorf(line, "[%s]: only top-level keys and [[table]] arrays are read here", key)
		case unstable.ArrayTable:
			key, line := keyOf(&p, e)
			if strings.Contains(key, ".") {
				return nil, f.Errorf(line, "[[%s]]: a nested table is not read here", key)
			}
			f.Tables = append(f.Tables, Table{Name: key, Line: line})
			cur = len(f.Tables) - 1
			seen[key]++
		case unstable.KeyValue:
			key, line := keyOf(&p, e)
			if strings.Contains(key, ".") {
				return nil, f.Errorf(line, "%s: a dotted key is not read here (write the key as it is named)", key)
			}
			scope := doc
			if cur >= 0 {
				t := f.Tables[cur]
				scope = tableAt(doc, t.Name, seen[t.Name]-1)
			}
			en, err := entry(key, scope[key])
			if err != nil {
				return nil, f.Errorf(line, "%s: %v", key, err)
			}
			en.Line = line
			if cur >= 0 {
				f.Tables[cur].Entries = append(f.Tables[cur].Entries, en)
			} else {
				f.Entries = append(f.Entries, en)
			}
		}
	}
	if err := p.Error(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// keyOf returns a table's or key-value's key, dotted parts joined, and
// the line it starts on.
func keyOf(p *unstable.Parser, n *unstable.Node) (string, int) {
	var parts []string
	line := 0
	it := n.Key()
	for it.Next() {
		k := it.Node()
		if line == 0 {
			line = p.Shape(k.Raw).Start.Line
		}
		parts = append(parts, string(k.Data))
	}
	return strings.Join(parts, "."), line
}

// tableAt is the i-th [[name]] table of the decoded document.
func tableAt(doc map[string]any, name string, i int) map[string]any {
	switch ts := doc[name].(type) {
	case []any:
		if i < len(ts) {
			m, _ := ts[i].(map[string]any)
			return m
		}
	case []map[string]any:
		if i < len(ts) {
			return ts[i]
		}
	}
	return nil
}

// entry formats a decoded value.
func entry(key string, v any) (Entry, error) {
	e := Entry{Key: key}
	if items, ok := v.([]any); ok {
		e.IsList, e.List = true, []string{}
		for _, it := range items {
			s, err := scalar(it)
			if err != nil {
				return e, err
			}
			e.List = append(e.List, s)
		}
		e.Value = strings.Join(e.List, ",")
		return e, nil
	}
	s, err := scalar(v)
	e.Value = s
	return e, err
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case nil:
		return "", errors.New("no value")
	}
	return "", fmt.Errorf("a %T is not a value here (strings, numbers, booleans and arrays of them are)", v)
}

// ApplyFlags sets fs's flags from the top-level keys, except those set on
// the command line (already parsed into fs): they win. A key that is not
// one of fs's flags, or is one of except, or whose value the flag
// refuses, is an error naming its line; every such error is returned.
func (f *File) ApplyFlags(fs *flag.FlagSet, except ...string) error {
	given := map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { given[fl.Name] = true })
	var errs []error
	for _, e := range f.Entries {
		if fs.Lookup(e.Key) == nil || slices.Contains(except, e.Key) {
			errs = append(errs, f.Errorf(e.Line, "unknown key %q (the keys are %s's flags, without the dashes)", e.Key, fs.Name()))
			continue
		}
		if given[e.Key] {
			continue
		}
		if err := fs.Set(e.Key, e.Value); err != nil {
			errs = append(errs, f.Errorf(e.Line, "%s = %q: %v%s", e.Key, e.Value, err, wants(fs.Lookup(e.Key))))
		}
	}
	return errors.Join(errs...)
}

// CheckTables refuses array tables other than names.
func (f *File) CheckTables(names ...string) error {
	var errs []error
	for _, t := range f.Tables {
		if !slices.Contains(names, t.Name) {
			errs = append(errs, f.Errorf(t.Line, "unknown table [[%s]] (known: %s)", t.Name, strings.Join(names, ", ")))
		}
	}
	return errors.Join(errs...)
}

// wants says what kind of value a flag takes, after the flag package's
// terse "parse error".
func wants(fl *flag.Flag) string {
	g, ok := fl.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return " (a duration with its unit, such as \"90s\", \"5m\" or \"1h30m\")"
	case int, int64, uint, uint64:
		return " (a whole number)"
	case bool:
		return " (true or false)"
	}
	return ""
}
