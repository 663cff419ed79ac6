package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"golang.org/x/term"

	"patchwell/review"
	"patchwell/store"
)

// cmdUser manages accounts: add, ls, role, token, passwd, disable, enable.
func cmdUser(args []string) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"usage: patchwell " + commands["user"].usage}
	}
	fs := newFlags("user")
	data, dbURL := storeFlags(fs)
	name := fs.String("name", "", "display name")
	admin := fs.Bool("admin", false, "make the user a site admin")
	pwFile := fs.String("password-file", "", "read the password from this file's first line")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	want := map[string]int{"add": 1, "ls": 0, "role": 3, "token": 2, "passwd": 1, "disable": 1, "enable": 1}
	n, ok := want[args[0]]
	if !ok {
		return usageError{fmt.Sprintf("unknown user command %q (add, ls, role, token, passwd, disable, enable)", args[0])}
	}
	if len(pos) != n {
		return usageError{"usage: patchwell " + commands["user"].usage}
	}
	if args[0] == "role" {
		switch pos[2] {
		case store.RoleOwner, store.RoleMaintainer, "none":
		default:
			return usageError{fmt.Sprintf("bad role %q: owner, maintainer or none", pos[2])}
		}
	}
	var password string
	if args[0] == "add" || args[0] == "passwd" {
		if password, err = readPassword(*pwFile); err != nil {
			return err
		}
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	acc := review.NewAccounts(st, review.DefaultArgon2)
	switch args[0] {
	case "add":
		u, err := acc.AddUser(ctx, pos[0], *name, password, *admin)
		if err != nil {
			return err
		}
		kind := "user"
		if u.Admin {
			kind = "site admin"
		}
		fmt.Printf("created %s %s\n", kind, u.Email)
	case "passwd":
		if err := acc.SetPassword(ctx, pos[0], password); err != nil {
			return err
		}
		fmt.Printf("password of %s changed, its sessions ended\n", pos[0])
	case "disable", "enable":
		u, err := acc.SetDisabled(ctx, pos[0], args[0] == "disable")
		if err != nil {
			return err
		}
		fmt.Printf("%s %sd\n", u.Email, args[0])
	case "ls":
		users, err := st.Users(ctx)
		if err != nil {
			return err
		}
		for _, u := range users {
			roles, err := st.Roles(ctx, u.ID)
			if err != nil {
				return err
			}
			var rs []string
			for l, r := range roles {
				rs = append(rs, l+":"+r)
			}
			slices.Sort(rs)
			flags := []string{}
			if u.Admin {
				flags = append(flags, "admin")
			}
			if !u.Confirmed {
				flags = append(flags, "unconfirmed")
			}
			if u.Disabled {
				flags = append(flags, "disabled")
			}
			fmt.Printf("%s\t%s\t%s\t%s\n", u.Email, u.Name, strings.Join(flags, ","), strings.Join(rs, " "))
		}
	case "role":
		u, err := st.UserByEmail(ctx, pos[0])
		if err != nil {
			return err
		}
		role := pos[2]
		if role == "none" {
			role = ""
		}
		if err := st.SetRole(ctx, u.ID, pos[1], role); err != nil {
			return err
		}
		fmt.Printf("%s on %s: %s\n", u.Email, pos[1], pos[2])
	case "token":
		u, err := st.UserByEmail(ctx, pos[0])
		if err != nil {
			return err
		}
		tok, _, err := acc.NewToken(ctx, u.ID, pos[1])
		if err != nil {
			return err
		}
		fmt.Println(tok)
	}
	return nil
}

// readPassword reads a password from a file's first line, or prompts
// twice without echo on a terminal, or reads stdin's first line.
func readPassword(file string) (string, error) {
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		return firstLine(f)
	}
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(os.Stderr, "Password: ")
		a, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(os.Stderr, "Again: ")
		b, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ")
		}
		return string(a), nil
	}
	return firstLine(os.Stdin)
}

func firstLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, review.MaxPassword+2)).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("no password given (on stdin, a terminal or --password-file)")
	}
	return line, nil
}
