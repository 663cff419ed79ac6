package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"patchwell/store"
)

// Reindex rebuilds, in the empty store to, everything derived from the raw
// messages of from (threads, series, revisions, patches, flags), list by
// list in arrival order, so that UIDs and UIDVALIDITY stay as they were.
// It is how a change to recognition or assembly reaches an existing
// archive. What is not derived from the messages comes along: accounts,
// roles, tokens, status history, patches' own states (patchwork's),
// bundles, the resolved marks of review comments and the outbox.
// progress, when set, is told of each message replayed
// (for a progress line).
func Reindex(ctx context.Context, from, to store.Store, log *slog.Logger, progress func(n int)) (map[string]ImportStats, error) {
	lists, err := from.Lists(ctx)
	if err != nil {
		return nil, err
	}
	in := NewIngester(to, Config{Log: log})
	defer in.Close()
	out := map[string]ImportStats{}
	for _, l := range lists {
		if _, err := to.CreateList(ctx, store.List{Name: l.Name, Description: l.Description, Owner: l.Owner,
			Created: l.Created, UIDValidity: l.UIDValidity, Visibility: l.Visibility}); err != nil {
			return out, err
		}
		src := newWalkSource(ctx, from, l.Name, progress)
		st, err := in.Import(ctx, l.Name, src)
		src.Close()
		out[l.Name] = st
		if err != nil {
			return out, fmt.Errorf("list %s: %w", l.Name, err)
		}
		if st.Imported != l.Messages {
			return out, fmt.Errorf("list %s: %d messages rebuilt of %d", l.Name, st.Imported, l.Messages)
		}
	}
	// Accounts, roles, tokens and status decisions are not in the mail:
	// carry them over.
	if err := in.Close(); err != nil {
		return out, err
	}
	c, err := readCarried(ctx, from, true)
	if err != nil {
		return out, err
	}
	return out, c.apply(ctx, to, log)
}

// carried is what is not derived from the mail, read from one store
// (readCarried) or from an export's documents (ImportAll), and given to
// a store rebuilt from the mail by apply: the one sequence Reindex,
// Migrate and ImportAll share.
type carried struct {
	Accounts    *store.AccountData
	MailingList *store.MailingListData
	Git         *store.GitData
	PatchStates []store.PatchStateRecord
	Events      []store.EventRecord
	Bundles     *store.BundleData
	Resolutions []store.Resolution
	Issues      []store.Resolution
	// Outbox is the mail still queued, with the recipients it is still
	// pending for (a reindex only: an export leaves it out).
	Outbox []queuedMail
}

// queuedMail is an outbox message and its pending recipients.
type queuedMail struct {
	Message store.OutboxMessage
	Pending []string
}

// readCarried reads from st what apply carries; outbox: the outbox too.
func readCarried(ctx context.Context, st store.Store, outbox bool) (*carried, error) {
	var c carried
	var err error
	if c.Accounts, err = st.ExportAccounts(ctx); err != nil {
		return nil, err
	}
	if c.MailingList, err = st.ExportMailingList(ctx); err != nil {
		return nil, err
	}
	if c.Git, err = st.ExportGit(ctx); err != nil {
		return nil, err
	}
	if c.PatchStates, err = st.ExportPatchStates(ctx); err != nil {
		return nil, err
	}
	if c.Events, err = st.ExportEvents(ctx); err != nil {
		return nil, err
	}
	if c.Bundles, err = st.ExportBundles(ctx); err != nil {
		return nil, err
	}
	if c.Resolutions, err = st.Resolutions(ctx, nil); err != nil {
		return nil, err
	}
	if c.Issues, err = st.Issues(ctx, nil); err != nil {
		return nil, err
	}
	if !outbox {
		return &c, nil
	}
	box, err := st.Outbox(ctx, "")
	if err != nil {
		return nil, err
	}
	for _, m := range box {
		ds, err := st.Deliveries(ctx, m.ID)
		if err != nil {
			return nil, err
		}
		q := queuedMail{Message: m}
		for _, d := range ds {
			if d.State == store.DeliveryPending {
				q.Pending = append(q.Pending, d.Rcpt)
			}
		}
		c.Outbox = append(c.Outbox, q)
	}
	return &c, nil
}

// apply gives the store to, whose lists were rebuilt from the mail, what
// c carries; what names a series or patch that to lacks is dropped, and
// logged.
func (c *carried) apply(ctx context.Context, to store.Store, log *slog.Logger) error {
	if c.Accounts != nil {
		dropped, err := to.ImportAccounts(ctx, c.Accounts)
		if err != nil {
			return err
		}
		if dropped > 0 {
			log.Warn("carry: status changes of series that no longer exist were dropped", "count", dropped)
		}
	}
	if c.MailingList != nil {
		if err := to.ImportMailingList(ctx, c.MailingList); err != nil {
			return err
		}
	}
	if c.Git != nil {
		if dropped, err := to.ImportGit(ctx, c.Git); err != nil {
			return err
		} else if dropped > 0 {
			log.Warn("carry: applied series that no longer exist were dropped", "count", dropped)
		}
	}
	if dropped, err := to.ImportPatchStates(ctx, c.PatchStates); err != nil {
		return err
	} else if dropped > 0 {
		log.Warn("carry: states of patches that no longer exist were dropped", "count", dropped)
	}
	// Bundles name patches by id, which the rebuild gives anew: carried
	// by list and Message-ID (after the accounts, their owners).
	if c.Bundles != nil {
		if dropped, err := to.ImportBundles(ctx, c.Bundles); err != nil {
			return err
		} else if dropped > 0 {
			log.Warn("carry: bundled patches that no longer exist were dropped", "count", dropped)
		}
	}
	if err := c.applyReviewState(ctx, to); err != nil {
		return err
	}
	// Last: the events name patches, series and checks, all there now.
	if dropped, err := to.ImportEvents(ctx, c.Events); err != nil {
		return err
	} else if dropped > 0 {
		log.Warn("carry: change events about what no longer exists were dropped", "count", dropped)
	}
	return nil
}

// Progress follows a long operation over messages (ReindexDir, Migrate,
// Export): it is called once, before the first message, with how many
// there are (-1: unknown), and returns what is told of each message done
// (nil: nothing).
type Progress func(total int64) func(n int)

// start calls p with the number of messages in st.
func (p Progress) start(ctx context.Context, st store.Store) func(n int) {
	if p == nil {
		return nil
	}
	lists, err := st.Lists(ctx)
	if err != nil {
		return p(-1)
	}
	var n int64
	for _, l := range lists {
		n += int64(l.Messages)
	}
	return p(n)
}

// ReindexDir rebuilds the SQLite store of the data directory dir in place
// (Reindex): into a new database beside it, which then takes the old
// one's place. The old database is kept in dir; kept is its file name.
// dir is locked (store.LockDir) throughout, so that no server has it
// open. On an error the old database stays as it was.
func ReindexDir(ctx context.Context, dir string, log *slog.Logger, progress Progress) (stats map[string]ImportStats, kept string, err error) {
	old, unlock, err := openLocked(ctx, dir, true)
	if err != nil {
		return nil, "", err
	}
	defer unlock()
	stamp := time.Now().UTC().Format("20060102T150405")
	tmp := filepath.Join(dir, "reindex-"+stamp)
	fresh, err := openStore(ctx, tmp, "")
	if err != nil {
		old.Close()
		return nil, "", err
	}
	stats, err = Reindex(ctx, old, fresh, log, progress.start(ctx, old))
	cerr1, cerr2 := old.Close(), fresh.Close()
	if err == nil {
		err = errors.Join(cerr1, cerr2)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return stats, "", err
	}
	keep := ".before-reindex-" + stamp
	if err := store.ReplaceDB(dir, tmp, keep); err != nil {
		return stats, "", err
	}
	os.RemoveAll(tmp)
	return stats, store.DBFile + keep, nil
}

// Migrate copies the store from into the empty store to: each is a data
// directory (SQLite) or a postgres:// URL, so a deployment moves from
// SQLite to PostgreSQL (the way past one machine), or back, or from one
// PostgreSQL database to another. It is Reindex with another target:
// every message is replayed in arrival order (UIDs and UIDVALIDITY
// stay), what is derived from the mail is rebuilt, and what is not
// (accounts, roles, tokens, status history, subscribers, policies, held
// mail, checks, CI jobs, webhooks, repositories, secrets, pending
// deliveries) is carried. A data directory is locked (store.LockDir)
// throughout, and from must hold a database. When the copy fails part
// way, to is left incomplete.
func Migrate(ctx context.Context, from, to string, log *slog.Logger, progress Progress) (stats map[string]ImportStats, err error) {
	src, unlockSrc, err := openLocked(ctx, from, true)
	if err != nil {
		return nil, err
	}
	defer unlockSrc()
	defer src.Close()
	dst, unlockDst, err := openLocked(ctx, to, false)
	if err != nil {
		return nil, err
	}
	defer unlockDst()
	defer func() {
		if cerr := dst.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close the target: %w", cerr)
		}
	}()
	if lists, err := dst.Lists(ctx); err != nil {
		return nil, err
	} else if len(lists) > 0 {
		return nil, fmt.Errorf("%s is not empty (it has %d lists): migrate fills an empty store", store.RedactURL(to), len(lists))
	}
	stats, err = Reindex(ctx, src, dst, log, progress.start(ctx, src))
	if err != nil {
		return stats, fmt.Errorf("migrate: %w (the target is incomplete: empty it before trying again)", err)
	}
	return stats, nil
}

// openLocked opens the store where names: a postgres:// URL, or a data
// directory, which is locked (store.LockDir) until unlock is called and,
// with mustExist, must hold a database.
func openLocked(ctx context.Context, where string, mustExist bool) (st *store.DB, unlock func(), err error) {
	if store.IsPostgresURL(where) {
		st, err := openStore(ctx, "", where)
		return st, func() {}, err
	}
	if where, err = filepath.Abs(where); err != nil {
		return nil, nil, err
	}
	if mustExist {
		if _, err := os.Stat(filepath.Join(where, store.DBFile)); err != nil {
			return nil, nil, fmt.Errorf("no database in %s: %w", where, err)
		}
	}
	if unlock, err = store.LockDir(where); err != nil {
		return nil, nil, err
	}
	if st, err = openStore(ctx, where, ""); err != nil {
		unlock()
		return nil, nil, err
	}
	return st, unlock, nil
}

// openStore opens (creating if needed) the store dir and db name
// (store.OpenAt), giving it 30 seconds.
func openStore(ctx context.Context, dir, db string) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return store.OpenAt(ctx, dir, db)
}

// applyReviewState gives to the resolved marks, the open-issue marks,
// the outbox and the deliveries still pending (sent ones are not sent
// again). Pending reviews (drafts) are not carried: they name series by
// id, which a reindex gives anew.
func (c *carried) applyReviewState(ctx context.Context, to store.Store) error {
	if len(c.Issues) > 0 {
		if err := to.SetIssues(ctx, c.Issues, true); err != nil {
			return err
		}
	}
	ids := map[string]int64{}
	for _, q := range c.Outbox {
		if _, ok := ids[q.Message.List]; !ok {
			l, err := to.List(ctx, q.Message.List)
			if err != nil {
				return fmt.Errorf("outbox of list %s: %w", q.Message.List, err)
			}
			ids[q.Message.List] = l.ID
		}
	}
	return to.Update(ctx, func(tx store.Tx) error {
		for _, r := range c.Resolutions {
			if err := tx.SetResolution(ctx, r, true); err != nil {
				return err
			}
		}
		for _, q := range c.Outbox {
			m := q.Message
			m.ListID = ids[m.List]
			id, err := tx.AddOutbox(ctx, m)
			if err != nil {
				return err
			}
			if len(q.Pending) > 0 {
				if err := tx.QueueDeliveries(ctx, id, q.Pending); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

type walked struct {
	raw     []byte
	arrived time.Time
}

// walkSource replays a stored list as an ArrivalSource.
type walkSource struct {
	progress func(n int)
	ch       chan walked
	errc     chan error
	stop     chan struct{}
	arrived  time.Time
}

func newWalkSource(ctx context.Context, st store.Store, list string, progress func(n int)) *walkSource {
	w := &walkSource{progress: progress, ch: make(chan walked, 256), errc: make(chan error, 1), stop: make(chan struct{})}
	go func() {
		defer close(w.ch)
		w.errc <- st.Walk(ctx, list, func(m *store.Message, raw []byte) error {
			select {
			case w.ch <- walked{raw: append([]byte(nil), raw...), arrived: m.Arrived}:
				return nil
			case <-w.stop:
				return errors.New("reindex stopped")
			}
		})
	}()
	return w
}

func (w *walkSource) Next() ([]byte, error) {
	m, ok := <-w.ch
	if !ok {
		if err := <-w.errc; err != nil {
			return nil, err
		}
		return nil, io.EOF
	}
	w.arrived = m.arrived
	if w.progress != nil {
		w.progress(1)
	}
	return m.raw, nil
}

func (w *walkSource) Arrived() time.Time { return w.arrived }

func (w *walkSource) Close() error {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	return nil
}
