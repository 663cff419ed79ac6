// Package submit prepares and sends patch series from the browser: a
// signed-in user with a confirmed address gives a git repository's URL
// and a branch (fetched on the server) or git format-patch output; the
// series is checked, shown as a preview (a draft kept in the store for
// its user, expiring), and on "Send" written as git format-patch
// --cover-letter --thread writes it and posted through the one road to
// a list (review.Ingester.PostAll: every message in one transaction, or
// none).
//
// It owns the fetch on a user's behalf (fetch.go, guard.go: schemes,
// addresses checked at connect time, time, bytes and objects bounded,
// a scratch repository that is removed, git's protocols and
// configuration locked down), the parsing of pasted patches (paste.go),
// the checks and warnings, and the writing of the mails (write.go). It
// never writes into a list's mirror: the scratch repository borrows its
// objects (alternates). It reaches the store, the ingester, the archive
// and the lists' repositories through the small interfaces below,
// proved in server/wire.go.
package submit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/mail"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"patchwell/archive"
	"patchwell/core"
	"patchwell/gitrepo"
	"patchwell/review"
	"patchwell/store"
)

// Drafts keeps submissions (store.DB).
type Drafts interface {
	SaveSubmission(ctx context.Context, sub *store.Submission) error
	Submission(ctx context.Context, id string, userID int64) (*store.Submission, error)
	SentSubmissions(ctx context.Context, userID int64, list string, since time.Time) ([]store.Submission, error)
	DeleteDraftSubmissions(ctx context.Context, before time.Time) error
}

// Sent records that a submission went out (store.DB).
type Sent interface {
	MarkSubmissionSent(ctx context.Context, id string, userID int64, messageID string, at time.Time) error
	UnmarkSubmissionSent(ctx context.Context, id string, userID int64) error
	SubmissionByMessage(ctx context.Context, messageID string) (*store.Submission, error)
}

// Store is the store's part submit uses.
type Store interface {
	Drafts
	Sent
}

// Poster is the one road to a list (review.Ingester).
type Poster interface {
	PostAll(ctx context.Context, posts []review.Post) error
}

// Archive reads what a re-roll compares with and where a sent series
// landed (review.Service).
type Archive interface {
	Message(ctx context.Context, list, messageID string) (*store.Message, error)
	SeriesInfo(ctx context.Context, id int64) (*store.Series, error)
	SeriesMbox(ctx context.Context, id int64, w io.Writer) error
}

// Repos tells a list's repository (store.DB); store.ErrNotFound when it
// has none. A git repository's mirror (gitrepo.Mirror) gives the base
// and lends its objects; a Mercurial one counts as none here.
type Repos interface {
	ListRepo(ctx context.Context, list string) (*store.ListRepo, error)
}

// Limits bound what one submission, and one account, may do.
type Limits struct {
	Patches     int   // patches in a series
	SeriesBytes int64 // the series' mails together
	PatchBytes  int64 // a patch mail larger than this is warned about
	PerHour     int   // series one account may send in an hour
	// The fetch: how long, how many bytes over the network (and in the
	// scratch repository), how many objects.
	FetchTime    time.Duration
	FetchBytes   int64
	FetchObjects int64
	DraftAge     time.Duration // a draft expires after this
}

// DefaultLimits are the limits serve runs with.
var DefaultLimits = Limits{Patches: 50, SeriesBytes: 5 << 20, PatchBytes: 100 << 10, PerHour: 10,
	FetchTime: 2 * time.Minute, FetchBytes: 256 << 20, FetchObjects: 200000, DraftAge: 24 * time.Hour}

// Config is what a Service needs.
type Config struct {
	Store   Store
	Poster  Poster
	Archive Archive
	Repos   Repos // nil: no list has a repository
	// Domain is the mail domain (a list is NAME@Domain); DataDir the
	// data directory (scratch repositories go in DATA/submit).
	Domain  string
	DataDir string
	Policy  Policy
	Limits  Limits // zero fields: DefaultLimits'
	Log     *slog.Logger
}

// Service prepares and sends submissions.
type Service struct {
	cfg    Config
	policy Policy
	limits Limits
	log    *slog.Logger

	mu       sync.Mutex
	synced   map[string]time.Time  // list -> last mirror fetch
	prepared map[int64][]time.Time // user -> their Prepares in the last hour (this node's)
	busy     chan struct{}         // Prepares running at once (fetches, git am)
}

// maxPreparing bounds the Prepares running at once on a node: each
// fetches and runs git.
const maxPreparing = 4

// New returns a Service.
func New(cfg Config) *Service {
	l := cfg.Limits
	d := DefaultLimits
	for _, f := range []struct {
		v   *int64
		def int64
	}{{&l.SeriesBytes, d.SeriesBytes}, {&l.PatchBytes, d.PatchBytes}, {&l.FetchBytes, d.FetchBytes}, {&l.FetchObjects, d.FetchObjects}} {
		if *f.v <= 0 {
			*f.v = f.def
		}
	}
	if l.Patches <= 0 {
		l.Patches = d.Patches
	}
	if l.PerHour <= 0 {
		l.PerHour = d.PerHour
	}
	if l.FetchTime <= 0 {
		l.FetchTime = d.FetchTime
	}
	if l.DraftAge <= 0 {
		l.DraftAge = d.DraftAge
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, policy: cfg.Policy, limits: l, log: log, synced: map[string]time.Time{},
		prepared: map[int64][]time.Time{}, busy: make(chan struct{}, maxPreparing)}
}

// invalid is a refusal for the user: store.ErrInvalid with their words.
func invalid(f string, a ...any) error {
	return fmt.Errorf("%w: %s", store.ErrInvalid, fmt.Sprintf(f, a...))
}

// userError turns a refusal of the fetch into store.ErrInvalid.
func userError(err error) error {
	var re *RefusedError
	if errors.As(err, &re) {
		return fmt.Errorf("%w: %s", store.ErrInvalid, re.Msg)
	}
	return err
}

func (s *Service) mayPrepare(ctx context.Context, u *store.User) error {
	if u == nil || !u.Confirmed || u.Disabled {
		return invalid("sign in with a confirmed e-mail address first")
	}
	sent, err := s.cfg.Store.SentSubmissions(ctx, u.ID, "", time.Now().Add(-time.Hour))
	if err != nil {
		return err
	}
	if len(sent) >= s.limits.PerHour {
		return invalid("you sent %d series in the last hour, the most this server takes; try again later", len(sent))
	}
	return nil
}

// Prepare fetches the branch (or takes the pasted patches), checks the
// series and keeps it as a draft of u's; nothing is sent. Errors
// wrapping store.ErrInvalid are refusals worded for the user.
func (s *Service) Prepare(ctx context.Context, u *store.User, req store.SubmitRequest) (*store.Submission, error) {
	if err := s.mayPrepare(ctx, u); err != nil {
		return nil, err
	}
	// Each preview fetches: an account gets a few per series it may send.
	s.mu.Lock()
	var recent []time.Time
	for _, at := range s.prepared[u.ID] {
		if time.Since(at) < time.Hour {
			recent = append(recent, at)
		}
	}
	if len(recent) >= 5*s.limits.PerHour {
		s.prepared[u.ID] = recent
		s.mu.Unlock()
		return nil, invalid("you prepared %d previews in the last hour, the most this server makes; try again later", len(recent))
	}
	s.prepared[u.ID] = append(recent, time.Now())
	s.mu.Unlock()
	select {
	case s.busy <- struct{}{}:
		defer func() { <-s.busy }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if err := s.cfg.Store.DeleteDraftSubmissions(ctx, time.Now().Add(-s.limits.DraftAge)); err != nil {
		s.log.Warn("delete expired drafts", "err", err)
	}
	req.Repo, req.Branch, req.Base = strings.TrimSpace(req.Repo), strings.TrimSpace(req.Branch), strings.TrimSpace(req.Base)
	pasteIn := strings.TrimSpace(req.Patches) != ""
	if pasteIn == (req.Repo != "") {
		return nil, invalid("give either a repository URL and a branch, or git format-patch output")
	}
	if req.Base != "" && !hexCommit.MatchString(req.Base) {
		return nil, invalid("the base commit is a commit id (7 to 40 hexadecimal digits)")
	}

	// The list's mirror, fetched at most once a minute for this.
	var mirror *gitrepo.Mirror
	var lrepo *store.ListRepo
	head := ""
	if s.cfg.Repos != nil {
		lr, err := s.cfg.Repos.ListRepo(ctx, req.List)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return nil, err
		case lr.VCS == store.VCSHg:
			// Mercurial: no git history to find the base in.
		default:
			mirror, lrepo = gitrepo.NewMirror(s.cfg.DataDir, req.List, lr.Repo), lr
			if head, err = s.listHead(ctx, req.List, mirror, lr.Branch); err != nil {
				return nil, err
			}
		}
	}

	r, cleanup, err := s.scratch(ctx, mirror)
	if err != nil {
		return nil, err
	}
	defer cleanup()

	sub := &store.Submission{UserID: u.ID, List: req.List, Version: 1,
		Draft: store.SubmitDraft{From: core.Person{Name: u.Name, Email: u.Email}}}
	if lrepo != nil {
		sub.Draft.ListBranch = lrepo.Branch
	}
	var base, tip string
	var pasted *paste
	if !pasteIn {
		sub.Repo, sub.Branch = req.Repo, req.Branch
		if tip, err = s.fetch(ctx, r, Source{URL: req.Repo, Branch: req.Branch}); err != nil {
			return nil, userError(err)
		}
		switch {
		case req.Base != "":
			if base, err = r.commit(ctx, req.Base); err != nil {
				return nil, invalid("base %s: no such commit in the branch or the list's repository", req.Base)
			}
			if _, err := r.git(ctx, nil, "merge-base", "--is-ancestor", base, tip); err != nil {
				return nil, invalid("base %s is not an ancestor of %s", req.Base, req.Branch)
			}
		case head != "":
			out, err := r.git(ctx, nil, "merge-base", head, tip)
			if err != nil {
				return nil, invalid("%s shares no history with %s of the list's repository; give the base commit", req.Branch, lrepo.Branch)
			}
			base = strings.TrimSpace(string(out))
		default:
			return nil, invalid("this list has no repository to find the base in; give the base commit")
		}
	} else {
		if int64(len(req.Patches)) > s.limits.SeriesBytes {
			return nil, invalid("the patches are %d KiB, more than the %d KiB a series may be", len(req.Patches)>>10, s.limits.SeriesBytes>>10)
		}
		if pasted, err = parsePaste(req.Patches); err != nil {
			return nil, invalid("%s", err.Error())
		}
		if len(pasted.mails) > s.limits.Patches {
			return nil, invalid("%d patches: a series may have at most %d", len(pasted.mails), s.limits.Patches)
		}
		want := req.Base
		if want == "" {
			want = pasted.base
		}
		if want == "" {
			want = head
		}
		if want == "" {
			return nil, invalid("this list has no repository to apply the patches to; give a repository URL and branch instead")
		}
		if base, err = r.commit(ctx, want); err != nil {
			return nil, invalid("base %s: no such commit in the list's repository", want)
		}
		if tip, err = r.am(ctx, base, pasted.mbox()); err != nil {
			return nil, invalid("the patches do not apply to %s: %s", short(base), err.Error())
		}
	}
	sub.Draft.Base = base

	n, err := r.count(ctx, base, tip)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, invalid("%s has no commits after %s", orBranch(req.Branch), short(base))
	}
	if n > s.limits.Patches {
		return nil, invalid("%d commits: a series may have at most %d patches", n, s.limits.Patches)
	}
	if out, err := r.git(ctx, nil, "rev-list", "--merges", "--count", base+".."+tip); err != nil || strings.TrimSpace(string(out)) != "0" {
		return nil, invalid("%s has merge commits after %s; a series is a line of commits", orBranch(req.Branch), short(base))
	}
	fp, err := r.git(ctx, nil, "format-patch", "--stdout", "-k", "--no-numbered", base+".."+tip)
	if err != nil {
		return nil, err
	}
	if int64(len(fp)) > s.limits.SeriesBytes {
		return nil, invalid("the series is %d KiB, more than the %d KiB allowed", len(fp)>>10, s.limits.SeriesBytes>>10)
	}
	if sub.Draft.Patches, sub.Draft.Signature, err = splitFormatPatch(fp); err != nil {
		return nil, err
	}
	if len(sub.Draft.Patches) != n {
		return nil, fmt.Errorf("format-patch wrote %d patches for %d commits", len(sub.Draft.Patches), n)
	}
	if n > 1 {
		if sub.Draft.CoverStats, err = r.coverStats(ctx, base, tip); err != nil {
			return nil, err
		}
	}

	// The cover letter's words, and an earlier version.
	title := ""
	switch {
	case pasted != nil && pasted.coverSubject != "":
		title, sub.Draft.CoverSubject, sub.Draft.CoverBody = pasted.coverSubject, pasted.coverSubject, pasted.coverBody
	case n == 1:
		title = sub.Draft.Patches[0].Subject
	}
	if err := s.findPrevious(ctx, r, u, sub, title, base, tip); err != nil {
		return nil, err
	}
	if sub.Draft.CoverSubject == "" && n == 1 {
		sub.Draft.CoverSubject = sub.Draft.Patches[0].Subject
	}
	sub.Title = sub.Draft.CoverSubject

	// Warnings.
	if head != "" && head != base {
		if _, err := r.am(ctx, head, fp); err != nil {
			sub.Draft.Warnings = append(sub.Draft.Warnings, fmt.Sprintf("does not apply to the head of %s (%s): %s; it is sent with base-commit %s",
				lrepo.Branch, short(head), err.Error(), short(base)))
		}
	}
	sub.Draft.Warnings = append(sub.Draft.Warnings, s.warnings(sub.Draft.Patches)...)

	id := make([]byte, 16)
	rand.Read(id)
	sub.ID = hex.EncodeToString(id)
	sub.Created = time.Now()
	if err := s.cfg.Store.SaveSubmission(ctx, sub); err != nil {
		return nil, err
	}
	s.log.Info("submission prepared", "list", sub.List, "user", u.ID, "patches", n, "repo", sub.Repo)
	return sub, nil
}

func orBranch(b string) string {
	if b == "" {
		return "the paste"
	}
	return b
}

var hexCommit = regexp.MustCompile(`^[0-9a-f]{7,40}$`)

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// listHead fetches the list's mirror (at most once a minute) and
// returns its branch's head.
func (s *Service) listHead(ctx context.Context, list string, m *gitrepo.Mirror, branch string) (string, error) {
	s.mu.Lock()
	due := time.Since(s.synced[list]) > time.Minute
	if due {
		s.synced[list] = time.Now()
	}
	s.mu.Unlock()
	_, statErr := os.Stat(filepath.Join(m.Dir, "HEAD"))
	if due || statErr != nil {
		sctx, cancel := context.WithTimeout(ctx, s.limits.FetchTime)
		defer cancel()
		unlock, err := m.Lock(sctx)
		if err != nil {
			return "", err
		}
		err = m.Sync(sctx)
		unlock()
		if err != nil {
			return "", fmt.Errorf("fetch the repository of %s: %w", list, err)
		}
	}
	return m.Resolve(ctx, "refs/heads/"+branch)
}

// scratch makes a scratch repository under DATA/submit that borrows the
// mirror's objects; cleanup removes it.
func (s *Service) scratch(ctx context.Context, m *gitrepo.Mirror) (*repo, func(), error) {
	root := filepath.Join(s.cfg.DataDir, "submit")
	if err := os.MkdirAll(root, 0o750); err != nil {
		return nil, nil, err
	}
	dir, err := os.MkdirTemp(root, "work-")
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	r := &repo{dir: filepath.Join(dir, "repo"), home: filepath.Join(dir, "home")}
	for _, d := range []string{r.dir, r.home} {
		if err := os.Mkdir(d, 0o750); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	if _, err := r.git(ctx, nil, "init", "-q", "-b", "submit"); err != nil {
		cleanup()
		return nil, nil, err
	}
	if m != nil {
		if _, err := os.Stat(filepath.Join(m.Dir, "objects")); err == nil {
			alt := filepath.Join(r.dir, ".git", "objects", "info", "alternates")
			if err := os.WriteFile(alt, []byte(filepath.Join(m.Dir, "objects")+"\n"), 0o640); err != nil {
				cleanup()
				return nil, nil, err
			}
		}
	}
	return r, cleanup, nil
}

func (r *repo) commit(ctx context.Context, rev string) (string, error) {
	out, err := r.git(ctx, nil, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	return strings.TrimSpace(string(out)), err
}

func (r *repo) count(ctx context.Context, base, tip string) (int, error) {
	out, err := r.git(ctx, nil, "rev-list", "--count", base+".."+tip)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(out)))
}

var patchFailed = regexp.MustCompile(`(?m)^Patch failed at (\d+) (.*)$`)

// am applies mbox at base in the scratch worktree and returns the new
// head; a failure says which patch.
func (r *repo) am(ctx context.Context, base string, mbox []byte) (string, error) {
	if _, err := r.git(ctx, nil, "checkout", "-q", "--detach", "--force", base); err != nil {
		return "", err
	}
	if _, err := r.git(ctx, mbox, "am", "-3", "--quiet", "--no-gpg-sign"); err != nil {
		r.git(context.Background(), nil, "am", "--abort")
		var ge *GitError
		if errors.As(err, &ge) {
			if m := patchFailed.FindStringSubmatch(ge.Output); m != nil {
				return "", fmt.Errorf("patch %s (%s) fails", m[1], m[2])
			}
			return "", errors.New(firstLine(ge.Output))
		}
		return "", err
	}
	out, err := r.git(ctx, nil, "rev-parse", "HEAD")
	return strings.TrimSpace(string(out)), err
}

func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return s
}

const blurbMark = "*** BLURB HERE ***\n\n"

// coverStats is the shortlog and diffstat git format-patch writes in a
// cover letter for base..tip.
func (r *repo) coverStats(ctx context.Context, base, tip string) (string, error) {
	out, err := r.git(ctx, nil, "format-patch", "--stdout", "--cover-letter", "-k", base+".."+tip)
	if err != nil {
		return "", err
	}
	i := bytes.Index(out, []byte(blurbMark))
	if i < 0 {
		return "", errors.New("format-patch wrote no cover letter")
	}
	rest := out[i+len(blurbMark):]
	j := bytes.Index(rest, []byte("\n-- \n"))
	if j < 0 {
		return "", errors.New("format-patch's cover letter has no signature")
	}
	return string(rest[:j+1]), nil
}

// findPrevious looks for u's earlier version of this series (same
// branch of the same repository, or same title) and, when found, makes
// this its next version with the range-diff against it.
func (s *Service) findPrevious(ctx context.Context, r *repo, u *store.User, sub *store.Submission, title, base, tip string) error {
	sent, err := s.cfg.Store.SentSubmissions(ctx, u.ID, sub.List, time.Time{})
	if err != nil {
		return err
	}
	var prev *store.Submission
	for i := range sent {
		p := &sent[i]
		if (sub.Repo != "" && p.Repo == sub.Repo && p.Branch == sub.Branch) ||
			(title != "" && review.NormalizeSubject(p.Title) == review.NormalizeSubject(title)) {
			prev = p
			break
		}
	}
	if prev == nil {
		return nil
	}
	m, err := s.cfg.Archive.Message(ctx, sub.List, prev.MessageID)
	if err != nil || m.SeriesID == 0 {
		return nil // not archived (deleted): a new series
	}
	sub.Version = prev.Version + 1
	sub.Draft.Previous = &store.SubmitPrevious{SeriesID: m.SeriesID, MessageID: prev.MessageID, Version: prev.Version, Title: prev.Title}
	sub.Draft.Reroll = true
	if sub.Draft.CoverSubject == "" && len(sub.Draft.Patches) > 1 {
		sub.Draft.CoverSubject, sub.Draft.CoverBody = prev.Draft.CoverSubject, prev.Draft.CoverBody
	}
	rd, err := s.rangeDiff(ctx, r, m.SeriesID, base, tip)
	if err != nil {
		sub.Draft.Warnings = append(sub.Draft.Warnings, fmt.Sprintf("no range-diff against v%d: %v", prev.Version, err))
		return nil
	}
	sub.Draft.RangeDiff = fmt.Sprintf("Range-diff against v%d:\n%s", prev.Version, rd)
	return nil
}

// rangeDiff applies the earlier series (from the archive) at its base in
// the scratch repository and compares it with base..tip.
func (s *Service) rangeDiff(ctx context.Context, r *repo, seriesID int64, base, tip string) (string, error) {
	se, err := s.cfg.Archive.SeriesInfo(ctx, seriesID)
	if err != nil {
		return "", err
	}
	pb := se.BaseCommit
	if pb == "" {
		return "", errors.New("it names no base commit")
	}
	if pb, err = r.commit(ctx, pb); err != nil {
		return "", fmt.Errorf("its base %s is not in the repository", short(se.BaseCommit))
	}
	var mbox bytes.Buffer
	if err := s.cfg.Archive.SeriesMbox(ctx, seriesID, &mbox); err != nil {
		return "", err
	}
	ptip, err := r.am(ctx, pb, mbox.Bytes())
	if err != nil {
		return "", fmt.Errorf("it does not apply at its base: %v", err)
	}
	out, err := r.git(ctx, nil, "range-diff", "--no-color", pb+".."+ptip, base+".."+tip)
	return string(out), err
}

var trailingWS = regexp.MustCompile(`[ \t]+$`)

// spaceBeforeTab reports a space before a tab in a line's indent (git's
// space-before-tab whitespace error).
func spaceBeforeTab(l string) bool {
	indent := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
	return strings.Contains(indent, " \t")
}

// warnings are the preview's per-patch warnings.
func (s *Service) warnings(ps []store.SubmitPatch) []string {
	var out []string
	for i, p := range ps {
		n := i + 1
		if !strings.Contains("\n"+p.Message, "\nSigned-off-by: ") {
			out = append(out, fmt.Sprintf("patch %d (%s) has no Signed-off-by: line", n, p.Subject))
		}
		file, bad, first := "", 0, ""
		for _, l := range strings.Split(p.Diff, "\n") {
			switch {
			case strings.HasPrefix(l, "+++ "):
				file = strings.TrimPrefix(strings.TrimPrefix(l, "+++ "), "b/")
			case strings.HasPrefix(l, "+") && (trailingWS.MatchString(l[1:]) || spaceBeforeTab(l[1:])):
				bad++
				if first == "" {
					first = file
				}
			}
		}
		if bad > 0 {
			out = append(out, fmt.Sprintf("patch %d (%s) adds %d line(s) with whitespace errors (trailing whitespace or a space before a tab), first in %s", n, p.Subject, bad, first))
		}
		if size := int64(len(p.Body)); size > s.limits.PatchBytes {
			out = append(out, fmt.Sprintf("patch %d (%s) is %d KiB: many lists and readers refuse mail over %d KiB", n, p.Subject, size>>10, s.limits.PatchBytes>>10))
		}
	}
	return out
}

// Submission returns u's submission.
func (s *Service) Submission(ctx context.Context, id string, userID int64) (*store.Submission, error) {
	return s.cfg.Store.Submission(ctx, id, userID)
}

// SubmissionByMessage returns the sent submission a series started with.
func (s *Service) SubmissionByMessage(ctx context.Context, messageID string) (*store.Submission, error) {
	return s.cfg.Store.SubmissionByMessage(ctx, messageID)
}

// Limits on the preview's fields.
const (
	maxSubject = 200
	maxBody    = 64 << 10
	maxCc      = 20
)

// edit applies the preview form to a draft.
func edit(sub *store.Submission, e store.SubmitEdit) error {
	e.CoverSubject = strings.TrimSpace(archive.OneLine(e.CoverSubject))
	e.CoverBody = strings.TrimSpace(strings.ReplaceAll(e.CoverBody, "\r\n", "\n"))
	switch {
	case len(e.CoverSubject) > maxSubject:
		return invalid("the subject is longer than %d characters", maxSubject)
	case len(e.CoverBody) > maxBody:
		return invalid("the cover letter is longer than %d KiB", maxBody>>10)
	case e.Version < 1 || e.Version > 99:
		return invalid("the version is a number from 1 to 99")
	case len(e.Cc) > maxCc:
		return invalid("at most %d Cc addresses", maxCc)
	}
	var cc []string
	for _, a := range e.Cc {
		if a = strings.TrimSpace(a); a == "" {
			continue
		}
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return invalid("Cc %q is not an e-mail address", a)
		}
		cc = append(cc, addr.String())
	}
	sub.Draft.CoverSubject, sub.Draft.CoverBody, sub.Draft.RFC, sub.Draft.Cc = e.CoverSubject, e.CoverBody, e.RFC, cc
	sub.Version = e.Version
	sub.Draft.Reroll = e.Reroll && sub.Draft.Previous != nil
	sub.Title = e.CoverSubject
	if len(sub.Draft.Patches) == 1 {
		sub.Title = sub.Draft.Patches[0].Subject
	}
	return nil
}

// Update saves the preview's edits to u's draft.
func (s *Service) Update(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (*store.Submission, error) {
	sub, err := s.cfg.Store.Submission(ctx, id, u.ID)
	if err != nil {
		return nil, err
	}
	if !sub.Sent.IsZero() {
		return nil, fmt.Errorf("%w: this series was sent already", store.ErrConflict)
	}
	if err := edit(sub, e); err != nil {
		return sub, err
	}
	return sub, s.cfg.Store.SaveSubmission(ctx, sub)
}

// Send writes u's draft as mail with the preview's edits and posts every
// message to the list in one transaction; it returns the series' id.
// Nothing is sent when it fails.
func (s *Service) Send(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (int64, error) {
	if err := s.mayPrepare(ctx, u); err != nil {
		return 0, err
	}
	sub, err := s.Update(ctx, u, id, e)
	if err != nil {
		return 0, err
	}
	if time.Since(sub.Created) > s.limits.DraftAge {
		return 0, invalid("this preview expired; prepare the series again")
	}
	if len(sub.Draft.Patches) > 1 && (sub.Draft.CoverSubject == "" || sub.Draft.CoverBody == "") {
		return 0, invalid("a series of %d patches needs a cover letter: write its subject and body", len(sub.Draft.Patches))
	}
	now := time.Now()
	mails, err := Write(sub, s.cfg.Domain, now)
	if err != nil {
		return 0, err
	}
	var posts []review.Post
	for _, m := range mails {
		posts = append(posts, review.Post{Lists: []string{sub.List}, Raw: m.Raw, Distribute: true, Also: m.Also,
			Submitter: &core.Person{Name: u.Name, Email: u.Email}})
	}
	first := mails[0].MessageID
	if err := s.cfg.Store.MarkSubmissionSent(ctx, sub.ID, u.ID, first, now); err != nil {
		return 0, err
	}
	if err := s.cfg.Poster.PostAll(ctx, posts); err != nil {
		if uerr := s.cfg.Store.UnmarkSubmissionSent(context.Background(), sub.ID, u.ID); uerr != nil {
			s.log.Error("unmark submission", "id", sub.ID, "err", uerr)
		}
		return 0, fmt.Errorf("post the series: %w", err)
	}
	s.log.Info("submission sent", "list", sub.List, "user", u.ID, "msgid", first, "patches", len(sub.Draft.Patches), "version", sub.Version)
	m, err := s.cfg.Archive.Message(ctx, sub.List, first)
	if err != nil {
		return 0, err
	}
	return m.SeriesID, nil
}
