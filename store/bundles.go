package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
)

// Bundle is a named set of patches of one list, as patchwork has them:
// its owner's, public (anyone who may read the list sees it) or private
// (its owner only), its patches in the order they were put in. Its name
// is unique per owner and list.
type Bundle struct {
	ID         int64
	OwnerID    int64
	OwnerEmail string
	OwnerName  string
	List       string
	Name       string
	Public     bool
	Created    time.Time
	Patches    int // how many, filled by Bundles and Bundle
}

// MaxBundleName bounds a bundle's name (bytes); MaxBundlePatches the
// patches one bundle holds.
const (
	MaxBundleName    = 255
	MaxBundlePatches = 5000
)

// BundleFilter selects bundles for Bundles. Lists must name at least one
// list (the caller's readable ones). A private bundle is selected only
// for its owner, Viewer (0: anonymous, who sees public ones only).
type BundleFilter struct {
	Lists  []string
	Viewer int64
	// Owners are user ids or addresses (compared without case); empty
	// does not filter.
	Owners []string
	Public *bool
	Name   string // a substring of the name, without case
	// Order is id, name or owner, with "-" before it for descending.
	Order  string
	Limit  int
	Offset int
}

// BundleUpdate changes a bundle; nil fields stay. Patches replaces the
// bundle's patches (in that order), as patchwork's API does.
type BundleUpdate struct {
	Name    *string
	Public  *bool
	Patches *[]int64
}

const bundleCols = `b.id, b.user_id, u.email, u.name, l.name, b.name, b.public, b.created,
	(SELECT COUNT(*) FROM bundle_patches bp WHERE bp.bundle_id = b.id)`

const bundleFrom = ` FROM bundles b JOIN users u ON u.id = b.user_id JOIN lists l ON l.id = b.list_id`

func scanBundle(sc scanner) (*Bundle, error) {
	var b Bundle
	var public, created int64
	if err := sc.Scan(&b.ID, &b.OwnerID, &b.OwnerEmail, &b.OwnerName, &b.List, &b.Name, &public, &created, &b.Patches); err != nil {
		return nil, err
	}
	b.Public, b.Created = public != 0, time.Unix(created, 0).UTC()
	return &b, nil
}

// checkBundleName refuses an empty name, one too long, or one with
// control characters.
func checkBundleName(name string) error {
	if strings.TrimSpace(name) == "" {
		return fmt.Errorf("%w: a bundle needs a name", ErrInvalid)
	}
	if len(name) > MaxBundleName {
		return fmt.Errorf("%w: bundle name longer than %d bytes", ErrInvalid, MaxBundleName)
	}
	if strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return fmt.Errorf("%w: bundle name with control characters", ErrInvalid)
	}
	return nil
}

// CreateBundle creates a bundle of b.OwnerID on b.List named b.Name with
// these patches, in this order (repeats are dropped): ErrInvalid for a
// bad name or a patch of another list, ErrExists when the owner has a
// bundle of that name on the list, ErrNotFound for an unknown list,
// owner or patch.
func (s *DB) CreateBundle(ctx context.Context, b Bundle, patches []int64) (*Bundle, error) {
	if err := checkBundleName(b.Name); err != nil {
		return nil, err
	}
	if len(patches) > MaxBundlePatches {
		return nil, fmt.Errorf("%w: more than %d patches in a bundle", ErrInvalid, MaxBundlePatches)
	}
	var id int64
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var listID int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, b.List).Scan(&listID); err != nil {
			return userErr(err, "list "+b.List)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM users WHERE id = ?`, b.OwnerID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("user %d: %w", b.OwnerID, ErrNotFound)
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO bundles(user_id, list_id, name, public, created) VALUES(?,?,?,?,?) RETURNING id`,
			b.OwnerID, listID, b.Name, boolInt(b.Public), time.Now().Unix()).Scan(&id)
		if isUnique(err) {
			return fmt.Errorf("bundle %q: %w", b.Name, ErrExists)
		}
		if err != nil {
			return err
		}
		return setBundlePatches(ctx, tx, id, listID, patches, false)
	})
	if err != nil {
		return nil, fmt.Errorf("create bundle: %w", err)
	}
	return s.bundle(ctx, id)
}

// setBundlePatches puts patches into bundle id (of list listID) after
// those it holds, or in their place when replace is set; repeats and
// patches it holds already are left out.
func setBundlePatches(ctx context.Context, tx *sql.Tx, id, listID int64, patches []int64, replace bool) error {
	if len(patches) > 0 {
		args := make([]any, len(patches))
		for i, p := range patches {
			args[i] = p
		}
		rows, err := tx.QueryContext(ctx, `SELECT p.id, s.list_id FROM patches p JOIN series s ON s.id = p.series_id
			WHERE p.id IN (`+placeholders(len(args))+`)`, args...)
		if err != nil {
			return err
		}
		found := map[int64]int64{}
		for rows.Next() {
			var pid, lid int64
			if err := rows.Scan(&pid, &lid); err != nil {
				rows.Close()
				return err
			}
			found[pid] = lid
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		for _, p := range patches {
			lid, ok := found[p]
			if !ok {
				return fmt.Errorf("patch %d: %w", p, ErrNotFound)
			}
			if lid != listID {
				return fmt.Errorf("%w: patch %d is not of the bundle's list (a bundle holds the patches of one list)", ErrInvalid, p)
			}
		}
	}
	if replace {
		if _, err := tx.ExecContext(ctx, `DELETE FROM bundle_patches WHERE bundle_id = ?`, id); err != nil {
			return err
		}
	}
	var pos, n int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(pos), 0), COUNT(*) FROM bundle_patches WHERE bundle_id = ?`, id).Scan(&pos, &n); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, p := range patches {
		if seen[p] {
			continue
		}
		seen[p] = true
		res, err := tx.ExecContext(ctx, `INSERT INTO bundle_patches(bundle_id, patch_id, pos) VALUES(?,?,?) ON CONFLICT DO NOTHING`, id, p, pos+1)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k > 0 {
			pos++
			n++
		}
	}
	if n > MaxBundlePatches {
		return fmt.Errorf("%w: more than %d patches in a bundle", ErrInvalid, MaxBundlePatches)
	}
	return nil
}

// UpdateBundle renames a bundle, makes it public or private, or replaces
// its patches (see CreateBundle for the errors).
func (s *DB) UpdateBundle(ctx context.Context, id int64, u BundleUpdate) (*Bundle, error) {
	if u.Name != nil {
		if err := checkBundleName(*u.Name); err != nil {
			return nil, err
		}
	}
	if u.Patches != nil && len(*u.Patches) > MaxBundlePatches {
		return nil, fmt.Errorf("%w: more than %d patches in a bundle", ErrInvalid, MaxBundlePatches)
	}
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var listID int64
		if err := tx.QueryRowContext(ctx, `SELECT list_id FROM bundles WHERE id = ?`+s.rowLock("FOR UPDATE"), id).Scan(&listID); err != nil {
			return userErr(err, fmt.Sprintf("bundle %d", id))
		}
		if u.Name != nil {
			_, err := tx.ExecContext(ctx, `UPDATE bundles SET name = ? WHERE id = ?`, *u.Name, id)
			if isUnique(err) {
				return fmt.Errorf("bundle %q: %w", *u.Name, ErrExists)
			}
			if err != nil {
				return err
			}
		}
		if u.Public != nil {
			if _, err := tx.ExecContext(ctx, `UPDATE bundles SET public = ? WHERE id = ?`, boolInt(*u.Public), id); err != nil {
				return err
			}
		}
		if u.Patches != nil {
			return setBundlePatches(ctx, tx, id, listID, *u.Patches, true)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("update bundle: %w", err)
	}
	return s.bundle(ctx, id)
}

// AddBundlePatches puts patches at the end of a bundle (those it holds
// stay where they are).
func (s *DB) AddBundlePatches(ctx context.Context, id int64, patches []int64) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var listID int64
		if err := tx.QueryRowContext(ctx, `SELECT list_id FROM bundles WHERE id = ?`+s.rowLock("FOR UPDATE"), id).Scan(&listID); err != nil {
			return userErr(err, fmt.Sprintf("bundle %d", id))
		}
		return setBundlePatches(ctx, tx, id, listID, patches, false)
	})
	if err != nil {
		return fmt.Errorf("add to bundle: %w", err)
	}
	return nil
}

// RemoveBundlePatches takes patches out of a bundle (those it does not
// hold are no error).
func (s *DB) RemoveBundlePatches(ctx context.Context, id int64, patches []int64) error {
	err := s.inWrite(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM bundles WHERE id = ?`, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("bundle %d: %w", id, ErrNotFound)
		}
		for _, p := range patches {
			if _, err := tx.ExecContext(ctx, `DELETE FROM bundle_patches WHERE bundle_id = ? AND patch_id = ?`, id, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("remove from bundle: %w", err)
	}
	return nil
}

// DeleteBundle removes a bundle; ErrNotFound for an unknown id.
func (s *DB) DeleteBundle(ctx context.Context, id int64) error {
	res, err := s.write(ctx, `DELETE FROM bundles WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete bundle: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("bundle %d: %w", id, ErrNotFound)
	}
	return nil
}

// Bundles returns one page of the bundles matching f, by id unless
// f.Order says otherwise.
func (s *DB) Bundles(ctx context.Context, f BundleFilter) ([]Bundle, error) {
	if len(f.Lists) == 0 {
		return nil, nil
	}
	var where []string
	var args []any
	where = append(where, "l.name IN ("+placeholders(len(f.Lists))+")")
	for _, l := range f.Lists {
		args = append(args, l)
	}
	where, args = append(where, "(b.public != 0 OR b.user_id = ?)"), append(args, f.Viewer)
	if len(f.Owners) > 0 {
		var or []string
		for _, o := range f.Owners {
			if id, err := parseID(o); err == nil {
				or, args = append(or, "b.user_id = ?"), append(args, id)
			} else {
				or, args = append(or, "LOWER(u.email) = ?"), append(args, strings.ToLower(o))
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	if f.Public != nil {
		where, args = append(where, "b.public = ?"), append(args, boolInt(*f.Public))
	}
	if f.Name != "" {
		where, args = append(where, "LOWER(b.name) LIKE ? ESCAPE '\\'"), append(args, "%"+likeEscape(strings.ToLower(f.Name))+"%")
	}
	order := "b.id"
	switch strings.TrimPrefix(f.Order, "-") {
	case "name":
		order = "b.name, b.id"
	case "owner":
		order = "u.email, b.id"
	}
	if strings.HasPrefix(f.Order, "-") {
		order = strings.ReplaceAll(order, ",", " DESC,") + " DESC"
	}
	limit := f.Limit
	if limit <= 0 {
		limit = -1
		if s.pg {
			limit = 1 << 30
		}
	}
	args = append(args, limit, f.Offset)
	rows, err := s.r.QueryContext(ctx, `SELECT `+bundleCols+bundleFrom+` WHERE `+strings.Join(where, " AND ")+
		` ORDER BY `+order+` LIMIT ? OFFSET ?`, args...)
	return collect(rows, err, "bundles", scanBundle)
}

func parseID(s string) (int64, error) {
	var id int64
	_, err := fmt.Sscan(s, &id)
	if err != nil || id <= 0 || fmt.Sprint(id) != s {
		return 0, errors.New("not an id")
	}
	return id, nil
}

func (s *DB) bundle(ctx context.Context, id int64) (*Bundle, error) {
	b, err := scanBundle(s.r.QueryRowContext(ctx, `SELECT `+bundleCols+bundleFrom+` WHERE b.id = ?`, id))
	if err != nil {
		return nil, userErr(err, fmt.Sprintf("bundle %d", id))
	}
	return b, nil
}

// Bundle returns a bundle and its patches in order; ErrNotFound for an
// unknown id. Who may see it is the caller's to decide (Public, OwnerID).
func (s *DB) Bundle(ctx context.Context, id int64) (*Bundle, []TrackedPatch, error) {
	b, err := s.bundle(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+trackedCols+trackedFrom+` JOIN bundle_patches bp ON bp.patch_id = p.id
		WHERE bp.bundle_id = ? ORDER BY bp.pos`, id)
	ps, err := collect(rows, err, "bundle patches", scanTracked)
	if err != nil {
		return nil, nil, err
	}
	return b, ps, nil
}

// BundlePatches returns the patches of several bundles, each in its
// order, in one query (a page of bundles).
func (s *DB) BundlePatches(ctx context.Context, ids []int64) (map[int64][]TrackedPatch, error) {
	out := map[int64][]TrackedPatch{}
	if len(ids) == 0 {
		return out, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := s.r.QueryContext(ctx, `SELECT bp.bundle_id, `+trackedCols+trackedFrom+` JOIN bundle_patches bp ON bp.patch_id = p.id
		WHERE bp.bundle_id IN (`+placeholders(len(ids))+`) ORDER BY bp.bundle_id, bp.pos`, args...)
	type row struct {
		bundle int64
		p      *TrackedPatch
	}
	rs, err := collect(rows, err, "bundle patches", func(sc scanner) (*row, error) {
		var r row
		var err error
		r.p, err = scanTracked(prefixed{sc, &r.bundle})
		return &r, err
	})
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		out[r.bundle] = append(out[r.bundle], *r.p)
	}
	return out, nil
}

// prefixed scans one more column, first, into first.
type prefixed struct {
	sc    scanner
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.sc.Scan(append([]any{p.first}, dest...)...) }

// BundlesOf returns the bundles of a user on a list, by name (for the
// series page's "add to bundle" form).
func (s *DB) BundlesOf(ctx context.Context, userID int64, list string) ([]Bundle, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+bundleCols+bundleFrom+` WHERE b.user_id = ? AND l.name = ? ORDER BY b.name, b.id`, userID, list)
	return collect(rows, err, "bundles", scanBundle)
}

// UserBundles returns every bundle of a user, by list and name.
func (s *DB) UserBundles(ctx context.Context, userID int64) ([]Bundle, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+bundleCols+bundleFrom+` WHERE b.user_id = ? ORDER BY l.name, b.name, b.id`, userID)
	return collect(rows, err, "bundles", scanBundle)
}

// BundleData carries bundles across a reindex or a migration: patch ids
// change, so each patch is named by its list and Message-ID.
type BundleData struct {
	Bundles []BundleExport
}

// BundleExport is one bundle with its patches' Message-IDs in order.
type BundleExport struct {
	ID       int64
	OwnerID  int64
	List     string
	Name     string
	Public   bool
	Created  int64
	Messages []string
}

// ExportBundles returns every bundle for ImportBundles.
func (s *DB) ExportBundles(ctx context.Context) (*BundleData, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT b.id, b.user_id, l.name, b.name, b.public, b.created FROM bundles b
		JOIN lists l ON l.id = b.list_id ORDER BY b.id`)
	bs, err := collect(rows, err, "export bundles", func(sc scanner) (*BundleExport, error) {
		var b BundleExport
		var public int64
		err := sc.Scan(&b.ID, &b.OwnerID, &b.List, &b.Name, &public, &b.Created)
		b.Public = public != 0
		return &b, err
	})
	if err != nil {
		return nil, err
	}
	at := map[int64]int{}
	for i := range bs {
		at[bs[i].ID] = i
	}
	type member struct {
		bundle int64
		msgid  string
	}
	rows, err = s.r.QueryContext(ctx, `SELECT bp.bundle_id, m.message_id FROM bundle_patches bp
		JOIN patches p ON p.id = bp.patch_id JOIN messages m ON m.id = p.message ORDER BY bp.bundle_id, bp.pos`)
	ms, err := collect(rows, err, "export bundles", func(sc scanner) (*member, error) {
		var m member
		return &m, sc.Scan(&m.bundle, &m.msgid)
	})
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		if i, ok := at[m.bundle]; ok {
			bs[i].Messages = append(bs[i].Messages, m.msgid)
		}
	}
	return &BundleData{Bundles: bs}, nil
}

// ImportBundles stores the bundles of ExportBundles in a store holding
// the same lists, accounts and messages (a reindex, after
// ImportAccounts), with their ids; each patch is found again by its
// list and Message-ID. dropped counts the patches no longer found.
func (s *DB) ImportBundles(ctx context.Context, d *BundleData) (dropped int, err error) {
	err = s.inWrite(ctx, func(tx *sql.Tx) error {
		for _, b := range d.Bundles {
			var listID int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM lists WHERE name = ?`, b.List).Scan(&listID)
			if err != nil {
				return userErr(err, "list "+b.List)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO bundles(id, user_id, list_id, name, public, created) VALUES(?,?,?,?,?,?)`,
				b.ID, b.OwnerID, listID, b.Name, boolInt(b.Public), b.Created); err != nil {
				return err
			}
			pos := 0
			for _, msgid := range b.Messages {
				var pid int64
				err := tx.QueryRowContext(ctx, `SELECT p.id FROM patches p JOIN series s ON s.id = p.series_id
					JOIN messages m ON m.id = p.message WHERE s.list_id = ? AND m.message_id = ? ORDER BY p.id LIMIT 1`,
					listID, msgid).Scan(&pid)
				if errors.Is(err, sql.ErrNoRows) {
					dropped++
					continue
				}
				if err != nil {
					return err
				}
				pos++
				if _, err := tx.ExecContext(ctx, `INSERT INTO bundle_patches(bundle_id, patch_id, pos) VALUES(?,?,?) ON CONFLICT DO NOTHING`,
					b.ID, pid, pos); err != nil {
					return err
				}
			}
		}
		return s.syncSequences(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("import bundles: %w", err)
	}
	return dropped, nil
}
