package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"patchwell/internal/conffile"
	"patchwell/server"
	"patchwell/store"
)

// applyConfig applies the configuration file at path to serve's flags
// (fs, already parsed: the command line wins) and fills c.Lists.
func applyConfig(fs *flag.FlagSet, path string, c *server.Config) error {
	f, err := conffile.Read(path)
	if err != nil {
		return err
	}
	lists, lerr := server.ListDecls(f)
	if err := errors.Join(f.ApplyFlags(fs, "config"), lerr); err != nil {
		return err
	}
	c.Lists = lists
	return nil
}

// declaredLists reads the lists of the configuration file again.
func declaredLists(path string) ([]server.ListDecl, error) {
	f, err := conffile.Read(path)
	if err != nil {
		return nil, err
	}
	return server.ListDecls(f)
}

// cmdConfig checks a configuration file or prints the configuration
// serve would run with.
func cmdConfig(args []string) error {
	if len(args) == 0 {
		return usageError{"usage: patchwell " + commands["config"].usage}
	}
	fs := newFlags("serve")
	c, data, dbURL, _, config := serveFlags(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "check":
		if len(pos) != 1 {
			return usageError{"usage: patchwell config check FILE"}
		}
		*config = pos[0]
	case "print":
		if len(pos) != 0 {
			return usageError{"usage: patchwell config print [--config FILE] [serve's flags]"}
		}
	default:
		return usageError{fmt.Sprintf("unknown config command %q (check, print)", args[0])}
	}
	if *config != "" {
		if err := applyConfig(fs, *config, c); err != nil {
			return usageError{err.Error()}
		}
	}
	c.Data, c.DB = *data, *dbURL
	if err := c.Check(); err != nil {
		var ce *server.ConfigError
		if errors.As(err, &ce) {
			return usageError{ce.Msg}
		}
		return err
	}
	if args[0] == "check" {
		fmt.Printf("%s: ok\n", *config)
		return nil
	}
	return printConfig(os.Stdout, fs)
}

// printConfig writes every serve flag as a configuration file: each key
// with its help as a comment and its value (the file's, the command
// line's or the default), so that reading it back gives the same.
func printConfig(w *os.File, fs *flag.FlagSet) error {
	var names []string
	fs.VisitAll(func(fl *flag.Flag) {
		if fl.Name != "config" {
			names = append(names, fl.Name)
		}
	})
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("# patchwell serve configuration (patchwell config print)\n")
	for _, n := range names {
		fl := fs.Lookup(n)
		var v any = fl.Value.String()
		if n == "db" {
			v = store.RedactURL(fl.Value.String()) // a password stays out of files and logs
		}
		if g, ok := fl.Value.(flag.Getter); ok {
			switch x := g.Get().(type) {
			case bool, int, int64:
				v = x
			}
		}
		line, err := toml.Marshal(map[string]any{n: v})
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "\n# %s\n%s", fl.Usage, line)
	}
	_, err := w.WriteString(b.String())
	return err
}
