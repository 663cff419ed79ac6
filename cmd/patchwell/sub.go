package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"patchwell/lists"
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

// addFromFile subscribes every address of a file (- for standard input).
func addFromFile(ctx context.Context, st store.Store, list, path string) error {
	f := os.Stdin
	if path != "-" {
		var err error
		if f, err = os.Open(path); err != nil {
			return err
		}
		defer f.Close()
	}
	n, err := lists.SubscribeAll(ctx, st, list, f, path)
	if err != nil {
		return err
	}
	fmt.Printf("subscribed %d addresses to %s\n", n, list)
	return nil
}
