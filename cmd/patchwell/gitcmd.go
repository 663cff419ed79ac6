package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"patchwell/gitrepo"
	"patchwell/outbound"
	"patchwell/review"
	"patchwell/store"
)

// repoFlags are the repository flags of list create and list update.
type repoFlags struct {
	repo, branch, check, vcs *string
	gate                     *bool
}

func addRepoFlags(fs *flag.FlagSet) *repoFlags {
	return &repoFlags{
		repo:   fs.String("repo", "", "the list's repository: a local path or a URL git (or hg) pulls from and pushes to"),
		branch: fs.String("branch", "", "the branch series are applied to and tested against (main, or default for Mercurial, when not given)"),
		vcs:    fs.String("vcs", "", "the repository's system, git or hg (found from the repository when not given)"),
		check:  fs.String("check", "", "check command CI runs when the branch has no .patchwell.yml"),
		gate:   fs.Bool("first-timer-gate", true, "a first-time contributor's series waits for a maintainer's go-ahead before CI runs it"),
	}
}

// set stores the repository flags given (fs parsed) for list: on create
// only when --repo is given; on update the flags not given keep their
// values.
func (r *repoFlags) set(ctx context.Context, st store.Store, fs *flag.FlagSet, list string, create bool) error {
	var c gitrepo.RepoChange
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "repo":
			c.Repo = r.repo
		case "branch":
			c.Branch = r.branch
		case "check":
			c.Check = r.check
		case "first-timer-gate":
			c.FirstTimerGate = r.gate
		case "vcs":
			c.VCS = r.vcs
		}
	})
	if c == (gitrepo.RepoChange{}) {
		if create {
			return nil
		}
		return usageError{"usage: patchwell list update NAME [--repo PATH_OR_URL] [--vcs git|hg] [--branch BRANCH] [--check CMD] [--first-timer-gate=false] [--data DIR]"}
	}
	cur, err := gitrepo.SetListRepo(ctx, st, list, c)
	var bad *gitrepo.BadRepoError
	if errors.As(err, &bad) {
		return usageError{err.Error()}
	}
	if err != nil {
		return err
	}
	gate := "on"
	if !cur.FirstTimerGate {
		gate = "off"
	}
	fmt.Printf("list %s: %s repository %s, branch %s, check %q, first-timer gate %s\n", list, cur.VCS, cur.Repo, cur.Branch, cur.Check, gate)
	return nil
}

func cmdApply(args []string) error {
	fs := newFlags("apply")
	data, dbURL := storeFlags(fs)
	by := fs.String("by", "", "the maintainer applying it (an address): the commits' committer")
	publicURL := fs.String("public-url", "http://127.0.0.1:8080", "the web UI's address, for each commit's Link: trailer")
	domain := fs.String("domain", defaultDomain, "mail domain (the reply comes from NAME@DOMAIN)")
	noReply := fs.Bool("no-reply", false, "do not send the \"Applied, thanks\" reply to the list")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"usage: patchwell " + commands["apply"].usage}
	}
	id, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || id <= 0 {
		return usageError{fmt.Sprintf("bad series id %q", pos[0])}
	}
	// Like import, apply works beside a running server: SQLite (WAL)
	// takes writers from several processes, and the mirror has a lock.
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	// The reply goes the one road to the list, as the server's does (a
	// running server's delivery worker sends it).
	in := review.NewIngester(st, review.Config{Distribute: outbound.NewQueue(st, *domain, nil, nil).Distribute})
	defer in.Close()
	svc := review.New(st, review.ServiceConfig{Ingester: in, Domain: *domain})
	ap := &gitrepo.Applier{Store: st, Service: svc, DataDir: *data, WebURL: *publicURL}
	if !*noReply {
		ap.Replies = svc
	}
	r, err := ap.Apply(context.Background(), id, *by)
	if err != nil {
		return err
	}
	for _, f := range r.Flags {
		fmt.Printf("note: patch %d touches %s: %s\n", f.Patch, f.Path, f.Reason)
	}
	fmt.Print(r.Reply())
	if r.ReplyErr != nil {
		return fmt.Errorf("applied, but the reply was not posted: %w", r.ReplyErr)
	}
	return nil
}

func cmdHook(args []string) error {
	if len(args) == 0 || args[0] != "post-receive" {
		return usageError{"usage: patchwell " + commands["hook"].usage}
	}
	fs := newFlags("hook")
	data, dbURL := storeFlags(fs)
	list := fs.String("list", "", "the list whose repository this is")
	gitDir := fs.String("git-dir", os.Getenv("GIT_DIR"), "the repository pushed to (default $GIT_DIR, as git sets it for hooks, else .)")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	if *list == "" || len(pos) != 0 {
		return usageError{"usage: patchwell " + commands["hook"].usage}
	}
	if *gitDir == "" {
		*gitDir = "."
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ap := &gitrepo.Applier{Store: st, Service: review.NewService(st), DataDir: *data}
	rs, err := ap.PostReceive(context.Background(), *list, *gitDir, os.Stdin)
	for _, r := range rs {
		fmt.Printf("patchwell: series %d (%s) applied to %s\n", r.Series.ID, r.Series.Subject, r.Branch)
	}
	return err
}
