package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"patchwell/store"
)

// cmdSub manages subscribers: added by an operator, they need no
// confirmation.
func cmdSub(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"usage: patchwell " + commands["sub"].usage}
	}
	fs := newFlags("sub")
	data, dbURL := storeFlags(fs)
	list := fs.String("list", "", "the list")
	name := fs.String("name", "", "subscriber's name (add)")
	state := fs.String("state", "", "only subscribers in this state (ls): pending, active or disabled")
	file := fs.String("file", "", "add every address in this file, one per line (add; - for standard input)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "rm": 1, "ls": 0}
	n, ok := want[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown sub command %q (add, rm, ls)", args[0])}
	}
	if args[0] == "add" && *file != "" {
		n = 0
	}
	if len(pos) != n || *list == "" {
		return usageError{"usage: patchwell " + commands["sub"].usage}
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	switch args[0] {
	case "add":
		if *file != "" {
			return addFromFile(ctx, st, *list, *file)
		}
		if err := st.Subscribe(ctx, *list, pos[0], *name, store.SubActive); err != nil {
			return err
		}
		fmt.Printf("subscribed %s to %s\n", strings.ToLower(pos[0]), *list)
	case "rm":
		if err := st.Unsubscribe(ctx, *list, pos[0]); err != nil {
			return err
		}
		fmt.Printf("unsubscribed %s from %s\n", strings.ToLower(pos[0]), *list)
	case "ls":
		if _, err := st.ListInfo(ctx, *list); err != nil {
			return err
		}
		subs, err := st.Subscribers(ctx, *list, *state)
		if err != nil {
			return err
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		for _, s := range subs {
			fmt.Fprintf(w, "%s\t%s\t%s\tbounces %d\n", s.Email, s.State, s.Name, s.Bounces)
		}
		w.Flush()
	}
	return nil
}

// cmdPolicy shows or sets a list's posting policy.
func cmdPolicy(st store.Store, list string, posting, dmarc, allow, deny *string) error {
	ctx := context.Background()
	p, err := st.Policy(ctx, list)
	if err != nil {
		return err
	}
	changed := false
	if *posting != "" {
		p.Posting, changed = *posting, true
	}
	if *dmarc != "" {
		p.DMARC, changed = *dmarc, true
	}
	split := func(s string) []string {
		var out []string
		for _, f := range strings.Split(s, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	if *allow != "-" {
		p.Allow, changed = split(*allow), true
	}
	if *deny != "-" {
		p.Deny, changed = split(*deny), true
	}
	if changed {
		if err := st.SetPolicy(ctx, list, *p); err != nil {
			return err
		}
	}
	fmt.Printf("posting %s\ndmarc %s\nallow %s\ndeny %s\n", p.Posting, p.DMARC, strings.Join(p.Allow, ","), strings.Join(p.Deny, ","))
	return nil
}

// addFromFile subscribes every address of a file (blank lines and lines
// starting with # skipped); a bad line stops it with its line number.
func addFromFile(ctx context.Context, st store.Store, list, path string) error {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return err
		}
		defer f.Close()
	}
	sc := bufio.NewScanner(f)
	n, line := 0, 0
	for sc.Scan() {
		line++
		a := strings.TrimSpace(sc.Text())
		if a == "" || strings.HasPrefix(a, "#") {
			continue
		}
		if err := st.Subscribe(ctx, list, a, "", store.SubActive); err != nil {
			return fmt.Errorf("%s:%d: %w", path, line, err)
		}
		n++
	}
	if err := sc.Err(); err != nil {
		return err
	}
	fmt.Printf("subscribed %d addresses to %s\n", n, list)
	return nil
}
