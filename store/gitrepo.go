package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ListRepo is a list's repository (git or Mercurial): where its
// patches are applied and tested.
type ListRepo struct {
	List string `json:"list"`
	Repo string `json:"repo"` // a URL or a local repository's path
	// VCS is the repository's system: VCSGit ("" reads as git) or VCSHg.
	VCS    string `json:"vcs"`
	Branch string `json:"branch"` // the target branch (without refs/heads/)
	Check  string `json:"check"`  // the check command, when the branch has no .patchwell.yml
	// FirstTimerGate: a first-time contributor's series waits for a
	// maintainer's go-ahead before CI runs its code (on by default).
	FirstTimerGate bool `json:"first_timer_gate"`
}

// The version control systems a list's repository may use.
const (
	VCSGit = "git"
	VCSHg  = "hg"
)

// Applied records the commits a series was applied as.
type Applied struct {
	SeriesID  int64     `json:"series_id"`
	Commits   []string  `json:"commits"` // in order, oldest first
	Branch    string    `json:"branch"`
	AppliedAt time.Time `json:"applied_at"`
	By        string    `json:"by"` // who applied it (an address), or "" (found on the branch)
}

// SetListRepo implements Store.
func (s *DB) SetListRepo(ctx context.Context, r ListRepo) error {
	if r.Repo == "" || r.Branch == "" || len(r.Repo) > 2000 || len(r.Branch) > 250 || len(r.Check) > 4000 ||
		strings.ContainsAny(r.Repo+r.Branch, "\x00\n\r") || strings.HasPrefix(r.Repo, "-") {
		return fmt.Errorf("%w: a repository needs a URL or path (at most 2000 bytes, not starting with '-') and a branch (at most 250), on one line", ErrInvalid)
	}
	if !ValidBranch(r.Branch) {
		return fmt.Errorf("%w: bad branch name %q", ErrInvalid, r.Branch)
	}
	switch r.VCS {
	case "":
		r.VCS = VCSGit
	case VCSGit, VCSHg:
	default:
		return fmt.Errorf("%w: unknown version control system %q (git or hg)", ErrInvalid, r.VCS)
	}
	l, err := s.ListInfo(ctx, r.List)
	if err != nil {
		return err
	}
	gate := 0
	if r.FirstTimerGate {
		gate = 1
	}
	_, err = s.write(ctx, `INSERT INTO list_repos(list_id, repo, branch, check_cmd, first_timer_gate, vcs) VALUES(?,?,?,?,?,?)
		ON CONFLICT(list_id) DO UPDATE SET repo = excluded.repo, branch = excluded.branch,
		check_cmd = excluded.check_cmd, first_timer_gate = excluded.first_timer_gate, vcs = excluded.vcs`,
		l.ID, r.Repo, r.Branch, r.Check, gate, r.VCS)
	if err != nil {
		return fmt.Errorf("set list repository: %w", err)
	}
	return nil
}

// ListRepo implements Store.
func (s *DB) ListRepo(ctx context.Context, list string) (*ListRepo, error) {
	r := ListRepo{List: list}
	var gate int
	err := s.r.QueryRowContext(ctx, `SELECT r.repo, r.branch, r.check_cmd, r.first_timer_gate, r.vcs
		FROM list_repos r JOIN lists l ON l.id = r.list_id WHERE l.name = ?`, list).
		Scan(&r.Repo, &r.Branch, &r.Check, &gate, &r.VCS)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("list %q has no repository: %w", list, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("list repository: %w", err)
	}
	r.FirstTimerGate = gate != 0
	return &r, nil
}

// RecordApplied implements Store.
func (s *DB) RecordApplied(ctx context.Context, a Applied) error {
	if len(a.Commits) == 0 {
		return fmt.Errorf("%w: no commits", ErrInvalid)
	}
	_, err := s.write(ctx, `INSERT INTO applied_series(series_id, commits, branch, applied_at, applied_by) VALUES(?,?,?,?,?)
		ON CONFLICT(series_id) DO NOTHING`,
		a.SeriesID, strings.Join(a.Commits, " "), a.Branch, a.AppliedAt.Unix(), a.By)
	if err != nil {
		return fmt.Errorf("record applied: %w", err)
	}
	return nil
}

// AppliedSeries implements Store.
func (s *DB) AppliedSeries(ctx context.Context, seriesID int64) (*Applied, error) {
	a := Applied{SeriesID: seriesID}
	var commits string
	var at int64
	err := s.r.QueryRowContext(ctx, `SELECT commits, branch, applied_at, applied_by FROM applied_series WHERE series_id = ?`, seriesID).
		Scan(&commits, &a.Branch, &at, &a.By)
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("applied series %d", seriesID))
	}
	a.Commits = strings.Fields(commits)
	a.AppliedAt = time.Unix(at, 0).UTC()
	return &a, nil
}

// SeriesByPatchIDs implements Store.
func (s *DB) SeriesByPatchIDs(ctx context.Context, list string, patchIDs []string) ([]int64, error) {
	have := map[string]bool{}
	for _, p := range patchIDs {
		if p != "" {
			have[p] = true
		}
	}
	cand := map[int64]bool{}
	for p := range have {
		rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT p.series_id FROM patches p JOIN series s ON s.id = p.series_id
			JOIN lists l ON l.id = s.list_id WHERE p.patch_id = ? AND l.name = ?
			AND s.status NOT IN ('applied', 'rejected', 'superseded')`, p, list)
		if err != nil {
			return nil, fmt.Errorf("series by patch-id: %w", err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return nil, err
			}
			cand[id] = true
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	var out []int64
	for id := range cand {
		se, err := s.Series(ctx, id)
		if err != nil {
			return nil, err
		}
		if !se.Complete {
			continue
		}
		ps, err := s.Patches(ctx, id)
		if err != nil {
			return nil, err
		}
		all := len(ps) > 0
		for _, p := range ps {
			all = all && have[p.PatchID]
		}
		if all {
			out = append(out, id)
		}
	}
	return out, nil
}

// GitData is what ExportGit carries across a reindex: list repositories
// by list name, applied series by their list and Message-ID.
type GitData struct {
	Repos   []ListRepo
	Applied []struct {
		List, SeriesMessageID string
		Applied               Applied
	}
}

// ExportGit implements Store.
func (s *DB) ExportGit(ctx context.Context) (*GitData, error) {
	var d GitData
	rows, err := s.r.QueryContext(ctx, `SELECT l.name, r.repo, r.branch, r.check_cmd, r.first_timer_gate, r.vcs
		FROM list_repos r JOIN lists l ON l.id = r.list_id ORDER BY l.name`)
	if err != nil {
		return nil, fmt.Errorf("export repositories: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r ListRepo
		var gate int
		if err := rows.Scan(&r.List, &r.Repo, &r.Branch, &r.Check, &gate, &r.VCS); err != nil {
			return nil, err
		}
		r.FirstTimerGate = gate != 0
		d.Repos = append(d.Repos, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows2, err := s.r.QueryContext(ctx, `SELECT l.name, s.message_id, a.series_id, a.commits, a.branch, a.applied_at, a.applied_by
		FROM applied_series a JOIN series s ON s.id = a.series_id JOIN lists l ON l.id = s.list_id ORDER BY a.series_id`)
	if err != nil {
		return nil, fmt.Errorf("export applied series: %w", err)
	}
	defer rows2.Close()
	for rows2.Next() {
		var x struct {
			List, SeriesMessageID string
			Applied               Applied
		}
		var commits string
		var at int64
		if err := rows2.Scan(&x.List, &x.SeriesMessageID, &x.Applied.SeriesID, &commits, &x.Applied.Branch, &at, &x.Applied.By); err != nil {
			return nil, err
		}
		x.Applied.Commits, x.Applied.AppliedAt = strings.Fields(commits), time.Unix(at, 0).UTC()
		d.Applied = append(d.Applied, x)
	}
	return &d, rows2.Err()
}

// ImportGit implements Store; applied series not found in this store are
// dropped and counted.
func (s *DB) ImportGit(ctx context.Context, d *GitData) (dropped int, err error) {
	for _, r := range d.Repos {
		if err := s.SetListRepo(ctx, r); err != nil {
			return dropped, err
		}
	}
	for _, x := range d.Applied {
		var id int64
		err := s.r.QueryRowContext(ctx, `SELECT s.id FROM series s JOIN lists l ON l.id = s.list_id
			WHERE l.name = ? AND s.message_id = ? ORDER BY s.id LIMIT 1`, x.List, x.SeriesMessageID).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			dropped++
			continue
		}
		if err != nil {
			return dropped, fmt.Errorf("import applied series: %w", err)
		}
		a := x.Applied
		a.SeriesID = id
		if err := s.RecordApplied(ctx, a); err != nil {
			return dropped, err
		}
	}
	return dropped, nil
}

// ValidBranch reports whether name is a branch name git accepts (a
// conservative subset of git check-ref-format --branch).
func ValidBranch(name string) bool {
	if name == "" || strings.HasPrefix(name, "-") || strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") ||
		strings.HasSuffix(name, ".") || strings.HasSuffix(name, ".lock") || strings.Contains(name, "..") ||
		strings.Contains(name, "//") || strings.Contains(name, "@{") || name == "@" || strings.Contains(name, "/.") || strings.HasPrefix(name, ".") {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == 0x7f || strings.ContainsRune("~^:?*[\\", r) {
			return false
		}
	}
	return true
}
