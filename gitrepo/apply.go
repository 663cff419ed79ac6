package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"patchwell/review"
	"patchwell/store"
)

// ErrAlreadyApplied refuses to apply a series twice.
var ErrAlreadyApplied = errors.New("series already applied")

// Refusal is why a series was not applied, worded for the person who
// asked: on the web, by the API, by mail (X-Patchwell-Apply) or on the
// command line, the same refusal. Kind says what sort it is, for the
// answer's status: store.ErrConflict (applied already, incomplete, a
// patch that does not apply), store.ErrInvalid (a pull request, a
// refused path) or store.ErrNotFound (the list has no repository).
// errors.Is and errors.As also find what it words (ErrAlreadyApplied,
// a *Conflict, a *PathError).
type Refusal struct {
	Kind  error
	Msg   string
	Cause error
}

func (r *Refusal) Error() string { return r.Msg }

func (r *Refusal) Unwrap() []error {
	if r.Cause == nil {
		return []error{r.Kind}
	}
	return []error{r.Kind, r.Cause}
}

// Replier posts a reply on a series' thread (review.Service.PostReply).
type Replier interface {
	PostReply(ctx context.Context, r review.Reply) (string, error)
}

// ApplyStore is what an Applier needs of the store.
type ApplyStore interface {
	RawReader
	Lists(ctx context.Context) ([]store.List, error)
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
	Series(ctx context.Context, id int64) (*store.Series, error)
	SeriesByPatchIDs(ctx context.Context, list string, patchIDs []string) ([]int64, error)
	AppliedSeries(ctx context.Context, seriesID int64) (*store.Applied, error)
	RecordApplied(ctx context.Context, a store.Applied) error
	SetSeriesStatus(ctx context.Context, seriesID int64, status string, userID int64, comment string, at time.Time) (*store.StatusChange, error)
	UserByEmail(ctx context.Context, email string) (*store.User, error)
}

// Applier applies series to their list's repository: the one apply
// service of the web page, the API, the mail command and the command
// line.
type Applier struct {
	Store   ApplyStore
	Service *review.Service
	DataDir string
	// WebURL is the web UI's address, for each commit's "Link:" trailer
	// (none when empty).
	WebURL string
	// Committer is the identity commits are made as when the applier
	// gives no address (default "patchwell <patchwell@localhost>").
	CommitterName, CommitterEmail string
	// Replies, when set, posts the "Applied to BRANCH, thanks" reply
	// (Result.Reply) on the series' thread after Apply, from the
	// maintainer who applied it.
	Replies Replier
	// OnApplied, when set, is called after a series was applied
	// (through Apply or found on the branch), to notify webhooks.
	OnApplied func(ctx context.Context, r *Result)
	Now       func() time.Time
	// Log, when set, is told of a reply that could not be posted.
	Log *slog.Logger
}

// Result is an applied series.
type Result struct {
	Series  *store.Series
	Branch  string
	Commits []Commit // one per patch, in order
	Flags   []Flag   // paths a reviewer should look at (CheckPatches)
	By      string   // who applied it; "" when found on the branch
	// ReplyErr is why the "Applied, thanks" reply could not be posted
	// (the series is applied all the same).
	ReplyErr error
}

// Reply is the text of the "Applied, thanks" reply to the series.
func (r *Result) Reply() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Applied to %s, thanks!\n\n", r.Branch)
	for i, c := range r.Commits {
		fmt.Fprintf(&b, "[%d/%d] %s\n      commit: %s\n", i+1, len(r.Commits), c.Subject, c.ID)
	}
	return b.String()
}

func (a *Applier) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Mirror returns list's mirror and repository settings.
func (a *Applier) Mirror(ctx context.Context, list string) (Repo, *store.ListRepo, error) {
	repo, err := a.Store.ListRepo(ctx, list)
	if err != nil {
		return nil, nil, err
	}
	return Open(a.DataDir, list, repo), repo, nil
}

// Apply applies a complete series on its list's branch head with
// `git am -3`, trailers collected from replies and a Link: to each
// archived patch added, authorship and dates kept, committed as by (an
// address; the Committer identity when ""), pushes it, records the
// commits, sets the series applied and posts the "Applied, thanks"
// reply (Replies). Nothing is pushed and the status is unchanged when
// it refuses: a *Refusal says why (a patch that does not apply, a
// refused path, applied already, incomplete, a pull request, no
// repository); any other error is a fault.
func (a *Applier) Apply(ctx context.Context, seriesID int64, by string) (*Result, error) {
	r, err := a.apply(ctx, seriesID, by)
	var conflict *Conflict
	var pathErr *PathError
	switch {
	case err == nil:
	case errors.Is(err, ErrAlreadyApplied):
		return nil, &Refusal{Kind: store.ErrConflict, Msg: "the series is applied already", Cause: err}
	case errors.Is(err, errIncomplete), errors.Is(err, errPull):
		return nil, err
	case errors.As(err, &conflict):
		return nil, &Refusal{Kind: store.ErrConflict, Msg: "nothing was pushed: " + conflict.Error(), Cause: err}
	case errors.As(err, &pathErr):
		return nil, &Refusal{Kind: store.ErrInvalid, Msg: "nothing was pushed: " + pathErr.Error(), Cause: err}
	case errors.Is(err, store.ErrNotFound):
		if se, serr := a.Store.Series(ctx, seriesID); serr == nil {
			if _, rerr := a.Store.ListRepo(ctx, se.List); errors.Is(rerr, store.ErrNotFound) {
				return nil, &Refusal{Kind: store.ErrNotFound, Msg: "the list has no repository to apply to", Cause: err}
			}
		}
		return nil, err
	default:
		return r, err
	}
	if a.Replies != nil {
		_, r.ReplyErr = a.Replies.PostReply(ctx, review.Reply{Series: r.Series, From: by, Tag: "applied", Body: r.Reply()})
		if r.ReplyErr != nil && a.Log != nil {
			a.Log.Error("applied, but the reply was not posted", "series", seriesID, "err", r.ReplyErr)
		}
	}
	return r, nil
}

// ApplySeries is Apply for those who need only the reply's text (the
// web page, the API and the X-Patchwell-Apply command): the "Applied,
// thanks" text, or the *Refusal or fault.
func (a *Applier) ApplySeries(ctx context.Context, seriesID int64, by string) (string, error) {
	r, err := a.Apply(ctx, seriesID, by)
	if err != nil {
		return "", err
	}
	return r.Reply(), nil
}

// errIncomplete and errPull are refusals made before any git work.
var (
	errIncomplete = errors.New("incomplete")
	errPull       = errors.New("pull request")
)

func (a *Applier) apply(ctx context.Context, seriesID int64, by string) (*Result, error) {
	if by != "" && (!strings.Contains(by, "@") || strings.ContainsAny(by, "<>\" \t\r\n\x00") || len(by) > 254) {
		return nil, fmt.Errorf("%w: %q is not an e-mail address", store.ErrInvalid, by)
	}
	se, patches, err := a.Service.Series(ctx, seriesID)
	if err != nil {
		return nil, err
	}
	if se.Status == store.StatusApplied {
		return nil, fmt.Errorf("series %d: %w", seriesID, ErrAlreadyApplied)
	}
	if _, err := a.Store.AppliedSeries(ctx, seriesID); err == nil {
		return nil, fmt.Errorf("series %d: %w", seriesID, ErrAlreadyApplied)
	}
	if se.PullURL != "" {
		return nil, &Refusal{Kind: store.ErrInvalid, Msg: "the series is a pull request: fetch and merge it", Cause: errPull}
	}
	if !se.Complete || len(patches) == 0 {
		return nil, &Refusal{Kind: store.ErrConflict, Msg: fmt.Sprintf("the series is incomplete (%d of %d patches received)", se.Received, se.Total), Cause: errIncomplete}
	}
	m, repo, err := a.Mirror(ctx, se.List)
	if err != nil {
		return nil, err
	}
	diffs, err := SeriesDiffs(ctx, a.Store, se.List, patches)
	if err != nil {
		return nil, err
	}
	var mbox bytes.Buffer
	if err := a.Service.SeriesMboxLinked(ctx, seriesID, a.WebURL, &mbox); err != nil {
		return nil, err
	}

	unlock, err := m.Lock(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Applied meanwhile by another process?
	if _, err := a.Store.AppliedSeries(ctx, seriesID); err == nil {
		return nil, fmt.Errorf("series %d: %w", seriesID, ErrAlreadyApplied)
	}
	if err := m.Sync(ctx); err != nil {
		return nil, err
	}
	wt, err := m.Checkout(ctx, "", repo.Branch)
	if err != nil {
		return nil, err
	}
	defer wt.Close()
	links, err := wt.Symlinks(ctx)
	if err != nil {
		return nil, err
	}
	flags, err := CheckPatches(diffs, links)
	if err != nil {
		return nil, err
	}
	name, email := a.CommitterName, a.CommitterEmail
	if name == "" {
		name = "patchwell"
	}
	if email == "" {
		email = "patchwell@localhost"
	}
	if by != "" {
		email = by
		if u, err := a.Store.UserByEmail(ctx, by); err == nil && u.Name != "" {
			name = u.Name
		} else {
			name = by
		}
	}
	name = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == '<' || r == '>' {
			return -1
		}
		return r
	}, name)
	ids, err := wt.Apply(ctx, mbox.Bytes(), name, email)
	if err != nil {
		var c *Conflict
		if errors.As(err, &c) && c.Patch >= 1 && c.Patch <= len(patches) && c.Subject == "" {
			c.Subject = patches[c.Patch-1].CommitSubject
		}
		return nil, err
	}
	if len(ids) != len(patches) {
		return nil, fmt.Errorf("git am made %d commits of %d patches: not pushed", len(ids), len(patches))
	}
	if err := wt.VerifyCommits(ctx, ids); err != nil {
		return nil, err
	}
	if err := wt.Push(ctx, repo.Branch); err != nil {
		return nil, err
	}
	r := &Result{Series: se, Branch: repo.Branch, Flags: flags, By: by}
	for i, id := range ids {
		r.Commits = append(r.Commits, Commit{ID: id, Subject: patches[i].CommitSubject})
	}
	if err := a.record(ctx, r); err != nil {
		return r, err
	}
	return r, nil
}

// record stores an applied series, sets its status and calls OnApplied.
func (a *Applier) record(ctx context.Context, r *Result) error {
	ids := make([]string, len(r.Commits))
	for i, c := range r.Commits {
		ids[i] = c.ID
	}
	if err := a.Store.RecordApplied(ctx, store.Applied{SeriesID: r.Series.ID, Commits: ids, Branch: r.Branch, AppliedAt: a.now(), By: r.By}); err != nil {
		return err
	}
	var uid int64
	comment := "found on " + r.Branch
	if r.By != "" {
		comment = "applied to " + r.Branch + " by " + r.By
		if u, err := a.Store.UserByEmail(ctx, r.By); err == nil {
			uid = u.ID
		}
	}
	if _, err := a.Store.SetSeriesStatus(ctx, r.Series.ID, store.StatusApplied, uid, comment, a.now()); err != nil && !errors.Is(err, store.ErrConflict) {
		return err
	}
	r.Series.Status = store.StatusApplied
	if a.OnApplied != nil {
		a.OnApplied(ctx, r)
	}
	return nil
}

// MarkApplied marks applied the open series of list whose every patch
// has the patch-id of one of the commits old..new (old empty or zeros:
// all of new's history) of the repository at dir (the list's mirror when
// ""), as patchwork does for commits pushed directly.
func (a *Applier) MarkApplied(ctx context.Context, list, dir, old, new string) ([]*Result, error) {
	m, repo, err := a.Mirror(ctx, list)
	if err != nil {
		return nil, err
	}
	commits, err := m.Commits(ctx, dir, old, new)
	if err != nil {
		return nil, err
	}
	byPID := map[string]Commit{}
	var pids []string
	for _, c := range commits {
		if c.PatchID != "" {
			byPID[c.PatchID] = c
			pids = append(pids, c.PatchID)
		}
	}
	ids, err := a.Store.SeriesByPatchIDs(ctx, list, pids)
	if err != nil {
		return nil, err
	}
	var out []*Result
	for _, id := range ids {
		se, patches, err := a.Service.Series(ctx, id)
		if err != nil {
			return out, err
		}
		r := &Result{Series: se, Branch: repo.Branch}
		for _, p := range patches {
			r.Commits = append(r.Commits, byPID[p.PatchID])
		}
		if err := a.record(ctx, r); err != nil {
			return out, err
		}
		out = append(out, r)
	}
	return out, nil
}

// PostReceive is the post-receive hook of list's repository at dir: in
// is the hook's standard input, a line "OLD NEW REF" per ref pushed
// (githooks(5)), and for each push to the list's branch (not a deletion)
// the series whose patches it brought are marked applied (MarkApplied).
// Other refs are skipped; an error of one push does not stop the others.
func (a *Applier) PostReceive(ctx context.Context, list, dir string, in io.Reader) ([]*Result, error) {
	repo, err := a.Store.ListRepo(ctx, list)
	if err != nil {
		return nil, err
	}
	var out []*Result
	var errs []error
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[2] != "refs/heads/"+repo.Branch || strings.Trim(f[1], "0") == "" {
			continue
		}
		rs, err := a.MarkApplied(ctx, list, dir, f[0], f[1])
		if err != nil {
			errs = append(errs, err)
		}
		out = append(out, rs...)
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// Refresh fetches list's mirror and marks applied the series whose
// patches arrived on its branch since the last fetch: for a periodic
// fetch of repositories patchwell does not host.
func (a *Applier) Refresh(ctx context.Context, list string) ([]*Result, error) {
	m, repo, err := a.Mirror(ctx, list)
	if err != nil {
		return nil, err
	}
	unlock, err := m.Lock(ctx)
	if err != nil {
		return nil, err
	}
	old, _ := m.Resolve(ctx, "refs/heads/"+repo.Branch)
	err = m.Sync(ctx)
	unlock()
	if err != nil {
		return nil, err
	}
	head, err := m.Resolve(ctx, "refs/heads/"+repo.Branch)
	if err != nil || head == old || old == "" { // the first fetch is the baseline
		return nil, err
	}
	return a.MarkApplied(ctx, list, "", old, head)
}

// RefreshAll refreshes (Refresh) the mirror of every list with a
// repository; a list whose repository cannot be fetched is logged and
// the others are refreshed all the same.
func (a *Applier) RefreshAll(ctx context.Context) {
	log := a.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	lists, err := a.Store.Lists(ctx)
	if err != nil {
		return
	}
	for _, l := range lists {
		if _, err := a.Store.ListRepo(ctx, l.Name); err != nil {
			continue
		}
		rs, err := a.Refresh(ctx, l.Name)
		if err != nil {
			log.Warn("fetch repository", "list", l.Name, "err", err)
			continue
		}
		for _, r := range rs {
			log.Info("series found applied on the branch", "list", l.Name, "series", r.Series.ID)
		}
	}
}

// Watch calls RefreshAll every so often until ctx ends: it finds the
// series applied by a direct push to a repository patchwell does not
// host (a post-receive hook finds them at once).
func (a *Applier) Watch(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.RefreshAll(ctx)
		}
	}
}
