package review

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/archive"
	"patchwell/store"
)

// maxDoc bounds one JSON document of an export directory.
const maxDoc = 1 << 30

// readDoc reads the JSON document rel (a path inside dir, made of
// validated names) into v: a regular file (not a link), within maxDoc,
// one value with no unknown field.
func readDoc(dir, rel string, v any) error {
	f, err := openIn(dir, rel)
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(io.LimitReader(f, maxDoc+1))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", rel, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("%s: more than one JSON value", rel)
	}
	return nil
}

// openIn opens the regular file rel of dir, refusing a link or anything
// but a file.
func openIn(dir, rel string) (*os.File, error) {
	path := filepath.Join(dir, rel)
	fi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", rel)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", rel, err)
	}
	return f, nil
}

// export is an export directory as read and checked by readExport.
type export struct {
	manifest manifestDoc
	lists    []*listDoc
	accounts accountsDoc
	comments commentsDoc
	webhooks webhooksDoc
	secrets  secretsDoc
}

// readExport reads and checks every JSON document of dir (not the
// mboxes), so that nothing reaches the store from a directory that is
// malformed or names what it lacks.
func readExport(dir string) (*export, error) {
	var e export
	if err := readDoc(dir, "manifest.json", &e.manifest); err != nil {
		return nil, err
	}
	if e.manifest.Format != ExportFormat {
		return nil, fmt.Errorf("manifest.json: format %d, this patchwell reads format %d", e.manifest.Format, ExportFormat)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "lists")); err != nil || !fi.IsDir() {
		return nil, errors.New("lists: not a directory (a link is not followed)")
	}
	lists := map[string]*listDoc{}
	for _, name := range e.manifest.Lists {
		if !store.ValidListName(name) {
			return nil, fmt.Errorf("manifest.json: bad list name %q", name)
		}
		if lists[name] != nil {
			return nil, fmt.Errorf("manifest.json: list %q twice", name)
		}
		rel := filepath.Join("lists", name+".json")
		var d listDoc
		if err := readDoc(dir, rel, &d); err != nil {
			return nil, err
		}
		if d.Name != name {
			return nil, fmt.Errorf("%s: name %q, not %q", rel, d.Name, name)
		}
		if d.Messages < 0 || len(d.Arrived) != d.Messages {
			return nil, fmt.Errorf("%s: %d arrival times for %d messages", rel, len(d.Arrived), d.Messages)
		}
		if !store.ValidVisibility(d.Visibility) {
			return nil, fmt.Errorf("%s: bad visibility %q", rel, d.Visibility)
		}
		if d.Repository != nil {
			d.Repository.List = name
		}
		if err := d.check(); err != nil {
			return nil, fmt.Errorf("%s: %w", rel, err)
		}
		lists[name] = &d
		e.lists = append(e.lists, &d)
	}
	var ss struct {
		Series []seriesStateDoc `json:"series"`
	}
	if err := readDoc(dir, "series.json", &ss); err != nil {
		return nil, err
	}
	seen := map[[2]string]bool{}
	for _, s := range ss.Series {
		d := lists[s.List]
		if d == nil {
			return nil, fmt.Errorf("series.json: series %s of unknown list %q", s.MessageID, s.List)
		}
		k := [2]string{s.List, s.MessageID}
		if s.MessageID == "" || seen[k] {
			return nil, fmt.Errorf("series.json: series Message-ID %q of list %s empty or twice", s.MessageID, s.List)
		}
		seen[k] = true
		if err := s.check(); err != nil {
			return nil, fmt.Errorf("series.json: series %s: %w", s.MessageID, err)
		}
		d.Series = append(d.Series, s)
	}
	if err := readDoc(dir, "accounts.json", &e.accounts); err != nil {
		return nil, err
	}
	users := map[string]bool{}
	for _, u := range e.accounts.Users {
		k := strings.ToLower(u.Email)
		if k == "" || users[k] {
			return nil, fmt.Errorf("accounts.json: user %q empty or twice", u.Email)
		}
		users[k] = true
		for l, r := range u.Roles {
			if lists[l] == nil {
				return nil, fmt.Errorf("accounts.json: user %s has a role on unknown list %q", u.Email, l)
			}
			if r != store.RoleOwner && r != store.RoleMaintainer {
				return nil, fmt.Errorf("accounts.json: user %s has unknown role %q", u.Email, r)
			}
		}
	}
	known := func(rel, what, email string) error {
		if email != "" && !users[strings.ToLower(email)] {
			return fmt.Errorf("%s: %s names unknown account %q", rel, what, email)
		}
		return nil
	}
	for _, d := range e.lists {
		rel := filepath.Join("lists", d.Name+".json")
		for _, p := range d.PatchStates {
			if err := known(rel, "the delegate of "+p.MessageID, p.Delegate); err != nil {
				return nil, err
			}
		}
		for _, ev := range d.Events {
			for what, addr := range map[string]string{"the actor": ev.Actor} {
				if err := known(rel, what+" of a "+ev.Category+" event", addr); err != nil {
					return nil, err
				}
			}
			if ev.Category == store.EventPatchDelegated {
				for _, addr := range []string{ev.Previous, ev.Current} {
					if err := known(rel, "a delegate of a patch-delegated event", addr); err != nil {
						return nil, err
					}
				}
			}
		}
		for _, b := range d.Bundles {
			if b.Owner == "" {
				return nil, fmt.Errorf("%s: bundle %q has no owner", rel, b.Name)
			}
			if err := known(rel, "bundle "+b.Name, b.Owner); err != nil {
				return nil, err
			}
		}
		for _, s := range d.Series {
			for _, h := range s.StatusHistory {
				if err := known("series.json", "a status change of "+s.MessageID, h.By); err != nil {
					return nil, err
				}
			}
		}
	}
	if err := readDoc(dir, "comments.json", &e.comments); err != nil {
		return nil, err
	}
	for _, m := range slices.Concat(e.comments.Resolutions, e.comments.OpenIssues) {
		if m.ReplyMessageID == "" || m.PatchMessageID == "" {
			return nil, errors.New("comments.json: a mark without its reply's or patch's Message-ID")
		}
	}
	if err := readDoc(dir, "webhooks.json", &e.webhooks); err != nil {
		return nil, err
	}
	for _, w := range e.webhooks.Webhooks {
		if w.List != "" && lists[w.List] == nil {
			return nil, fmt.Errorf("webhooks.json: webhook %s of unknown list %q", w.URL, w.List)
		}
	}
	if e.manifest.Secrets {
		if err := readDoc(dir, "secrets.json", &e.secrets); err != nil {
			return nil, err
		}
	}
	return &e, nil
}

// check refuses what the store would refuse part way through an import,
// or would keep without meaning.
func (d *listDoc) check() error {
	if !store.ValidPosting(d.Posting) || !store.ValidDMARCAction(d.DMARC) {
		return fmt.Errorf("bad posting policy %q or DMARC action %q", d.Posting, d.DMARC)
	}
	subs := map[string]bool{}
	for _, s := range d.Subscribers {
		k := strings.ToLower(s.Email)
		if k == "" || subs[k] {
			return fmt.Errorf("subscriber %q empty or twice", s.Email)
		}
		subs[k] = true
		if s.State != store.SubPending && s.State != store.SubActive && s.State != store.SubDisabled {
			return fmt.Errorf("subscriber %s: bad state %q", s.Email, s.State)
		}
	}
	patches := map[string]bool{}
	for _, p := range d.PatchStates {
		if p.MessageID == "" || patches[p.MessageID] {
			return fmt.Errorf("patch state of %q empty or twice", p.MessageID)
		}
		patches[p.MessageID] = true
		if p.State != "" && !store.ValidPatchState(p.State) {
			return fmt.Errorf("patch %s: bad state %q", p.MessageID, p.State)
		}
	}
	for _, h := range d.Held {
		if h.State != store.HeldWaiting && h.State != store.HeldApproved && h.State != store.HeldRejected {
			return fmt.Errorf("held message %s: bad state %q", h.MessageID, h.State)
		}
	}
	bundles := map[string]bool{}
	for _, b := range d.Bundles {
		k := strings.ToLower(b.Owner) + "\x00" + b.Name
		if b.Name == "" || bundles[k] {
			return fmt.Errorf("bundle %q of %s empty or twice", b.Name, b.Owner)
		}
		bundles[k] = true
	}
	return nil
}

func (s *seriesStateDoc) check() error {
	for _, h := range s.StatusHistory {
		if h.To != store.StatusSuperseded && !slices.Contains(store.SettableStatuses, h.To) {
			return fmt.Errorf("status change to %q", h.To)
		}
	}
	contexts := map[[2]any]bool{}
	for _, c := range s.Checks {
		k := [2]any{c.Context, c.PatchIndex}
		if c.Context == "" || contexts[k] || !store.ValidCheckState(c.State) || c.PatchIndex < 0 {
			return fmt.Errorf("check %q (patch %d, state %q): empty, twice or bad", c.Context, c.PatchIndex, c.State)
		}
		contexts[k] = true
	}
	if len(s.CIJobs) > 1 {
		return fmt.Errorf("%d CI jobs (a series has one)", len(s.CIJobs))
	}
	return nil
}

// carried turns the documents into what apply gives the store, with new
// ids for users (in the order of accounts.json), tokens and bundles.
func (e *export) carried() *carried {
	ids := map[string]int64{}
	a := &store.AccountData{}
	ml := &store.MailingListData{}
	g := &store.GitData{}
	c := &carried{Accounts: a, MailingList: ml, Git: g, Bundles: &store.BundleData{}}
	var tokenID int64
	for i, u := range e.accounts.Users {
		id := int64(i + 1)
		ids[strings.ToLower(u.Email)] = id
		a.Users = append(a.Users, struct {
			store.User
			Password string
		}{store.User{ID: id, Email: u.Email, Name: u.Name, Admin: u.Admin, Confirmed: u.Confirmed, Disabled: u.Disabled, Created: u.Created}, u.PasswordHash})
		if !u.StatusMail {
			a.NoStatusMail = append(a.NoStatusMail, id)
		}
		for _, l := range slices.Sorted(maps.Keys(u.Roles)) {
			a.Roles = append(a.Roles, struct {
				UserID     int64
				List, Role string
			}{id, l, u.Roles[l]})
		}
		for _, t := range u.APITokens {
			if len(t.Hash) == 0 {
				continue // exported without secrets: no use
			}
			tokenID++
			a.Tokens = append(a.Tokens, struct {
				ID, UserID        int64
				Hash              []byte
				Name              string
				Created, LastUsed int64
			}{tokenID, id, t.Hash, t.Name, t.Created.Unix(), t.LastUsed.Unix()})
		}
		for _, s := range u.Sessions {
			a.Sessions = append(a.Sessions, struct {
				Hash             []byte
				UserID           int64
				Created, Expires int64
			}{s.Hash, id, s.Created.Unix(), s.Expires.Unix()})
		}
		for _, f := range u.FeedTokens {
			a.FeedTokens = append(a.FeedTokens, struct {
				UserID, Created int64
				Hash            []byte
			}{id, f.Created.Unix(), f.Hash})
		}
	}
	user := func(email string) int64 { return ids[strings.ToLower(email)] }
	type history = struct {
		List, SeriesMessageID string
		From, To, Comment     string
		UserID, At            int64
	}
	type check = struct {
		List, SeriesMessageID, Context, State, Description, URL, Log string
		PatchIndex                                                   int
		Created, Updated                                             int64
	}
	var bundles []store.BundleExport
	for _, d := range e.lists {
		if d.NotifyThread {
			a.NotifyThread = append(a.NotifyThread, d.Name)
		}
		ml.Policies = append(ml.Policies, struct{ List, Posting, DMARC string }{d.Name, d.Posting, d.DMARC})
		for _, r := range d.Rules {
			ml.Rules = append(ml.Rules, struct{ List, Pattern, Action string }{d.Name, r.Pattern, r.Action})
		}
		for _, s := range d.Subscribers {
			ml.Subs = append(ml.Subs, struct {
				List, Email, Name, State string
				Created                  int64
				Bounces                  int
			}{d.Name, s.Email, s.Name, s.State, s.Created.Unix(), s.Bounces})
		}
		for _, x := range d.AuthResults {
			ml.Auth = append(ml.Auth, struct{ List, MessageID, Result string }{d.Name, x.MessageID, x.Result})
		}
		if d.Repository != nil {
			g.Repos = append(g.Repos, *d.Repository)
		}
		for _, p := range d.PatchStates {
			c.PatchStates = append(c.PatchStates, store.PatchStateRecord{List: d.Name, MessageID: p.MessageID, State: p.State,
				Delegate: user(p.Delegate), Archived: p.Archived, CommitRef: p.CommitRef})
		}
		for _, ev := range d.Events {
			r := store.EventRecord{List: d.Name, Category: ev.Category, Date: ev.Date.Unix(), Actor: user(ev.Actor),
				PatchMessageID: ev.Patch, SeriesMessageID: ev.Series, Previous: ev.Previous, Current: ev.Current}
			if ev.Check != nil {
				r.HasCheck, r.CheckSeriesMessageID, r.CheckIndex, r.CheckContext = true, ev.Check.Series, ev.Check.PatchIndex, ev.Check.Context
			}
			if ev.Category == store.EventPatchDelegated {
				r.Previous, r.Current = delegateID(user, ev.Previous), delegateID(user, ev.Current)
			}
			c.Events = append(c.Events, r)
		}
		for _, b := range d.Bundles {
			bundles = append(bundles, store.BundleExport{OwnerID: user(b.Owner), List: d.Name, Name: b.Name, Public: b.Public,
				Created: b.Created.Unix(), Messages: b.Patches})
		}
		for _, s := range d.Series {
			for _, h := range s.StatusHistory {
				a.History = append(a.History, history{d.Name, s.MessageID, h.From, h.To, h.Comment, user(h.By), h.At.Unix()})
			}
			if s.Applied != nil {
				g.Applied = append(g.Applied, struct {
					List, SeriesMessageID string
					Applied               store.Applied
				}{d.Name, s.MessageID, store.Applied{Commits: s.Applied.Commits, Branch: s.Applied.Branch,
					AppliedAt: s.Applied.AppliedAt, By: s.Applied.By}})
			}
			for _, k := range s.Checks {
				ml.Checks = append(ml.Checks, check{d.Name, s.MessageID, k.Context, k.State, k.Description, k.TargetURL, k.Log,
					k.PatchIndex, k.Created.Unix(), k.Updated.Unix()})
			}
			for _, j := range s.CIJobs {
				ml.Jobs = append(ml.Jobs, store.ExportedJob{List: d.Name, SeriesMessageID: s.MessageID, State: j.State,
					LastError: j.LastError, Attempts: j.Attempts, Released: j.Released, Created: j.Created.Unix(), Updated: j.Updated.Unix()})
			}
		}
	}
	// Rows that were made in time order get their ids in time order.
	slices.SortStableFunc(a.History, func(x, y history) int { return cmp.Compare(x.At, y.At) })
	slices.SortStableFunc(ml.Checks, func(x, y check) int { return cmp.Compare(x.Created, y.Created) })
	slices.SortStableFunc(bundles, func(x, y store.BundleExport) int { return cmp.Compare(x.Created, y.Created) })
	for i := range bundles {
		bundles[i].ID = int64(i + 1)
	}
	c.Bundles.Bundles = bundles
	for i, w := range e.webhooks.Webhooks {
		ml.Webhooks = append(ml.Webhooks, store.Webhook{ID: int64(i + 1), URL: w.URL, Secret: w.Secret, Events: w.Events,
			List: w.List, Created: w.Created})
	}
	for _, s := range e.secrets.Secrets {
		ml.Secrets = append(ml.Secrets, struct {
			Name  string
			Value []byte
		}{s.Name, s.Value})
	}
	for _, m := range e.comments.Resolutions {
		c.Resolutions = append(c.Resolutions, m.resolution())
	}
	for _, m := range e.comments.OpenIssues {
		c.Issues = append(c.Issues, m.resolution())
	}
	return c
}

func (m markDoc) resolution() store.Resolution {
	return store.Resolution{ReplyMessageID: m.ReplyMessageID, PatchMessageID: m.PatchMessageID, File: m.File,
		Side: m.Side, Line: m.Line, By: m.By, At: m.At}
}

// ImportAll fills the empty store to from the export directory dir
// (ExportAll): it checks every document first, creates the lists,
// replays each list's mbox in order through the ingester (UIDs,
// UIDVALIDITY and arrival times stay, everything derived from the mail
// is rebuilt) and gives the store what is not in the mail, as Reindex
// does. ErrNotEmpty when to has lists or accounts. When it fails part
// way, to is left incomplete.
func ImportAll(ctx context.Context, dir string, to store.Store, log *slog.Logger, progress Progress) (map[string]ImportStats, error) {
	e, err := readExport(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadExport, err)
	}
	if lists, err := to.Lists(ctx); err != nil {
		return nil, err
	} else if len(lists) > 0 {
		return nil, fmt.Errorf("%w: it has %d lists (import --all fills an empty store)", ErrNotEmpty, len(lists))
	}
	if users, err := to.Users(ctx); err != nil {
		return nil, err
	} else if len(users) > 0 {
		return nil, fmt.Errorf("%w: it has %d accounts (import --all fills an empty store)", ErrNotEmpty, len(users))
	}
	var add func(int)
	if progress != nil {
		var n int64
		for _, d := range e.lists {
			n += int64(d.Messages)
		}
		add = progress(n)
	}
	in := NewIngester(to, Config{Log: log})
	defer in.Close()
	out := map[string]ImportStats{}
	for _, d := range e.lists {
		if _, err := to.CreateList(ctx, store.List{Name: d.Name, Description: d.Description, Owner: d.Owner,
			Created: d.Created, UIDValidity: d.UIDValidity, Visibility: d.Visibility}); err != nil {
			return out, fmt.Errorf("list %s: %w", d.Name, err)
		}
		rel := filepath.Join("lists", d.Name+".mbox")
		f, err := openIn(dir, rel)
		if err != nil {
			return out, err
		}
		src := &arrivalMbox{r: archive.NewMboxReader(f, archive.MboxRD), arrived: d.Arrived, progress: add}
		st, err := in.Import(ctx, d.Name, src)
		f.Close()
		out[d.Name] = st
		if err != nil {
			return out, fmt.Errorf("%s: %w", rel, err)
		}
		if src.n != d.Messages || st.Imported != d.Messages {
			return out, fmt.Errorf("%s: %d messages read, %d stored, of %d in lists/%s.json", rel, src.n, st.Imported, d.Messages, d.Name)
		}
	}
	if err := in.Close(); err != nil {
		return out, err
	}
	c := e.carried()
	for i := range c.MailingList.Webhooks {
		w := &c.MailingList.Webhooks[i]
		if len(w.Secret) == 0 {
			// Exported without secrets: a new one nobody knows, so that
			// nothing signs with an empty key; the owner sets the
			// receiver's again (patchwell webhook).
			w.Secret = make([]byte, 32)
			rand.Read(w.Secret)
			log.Warn("import: webhook exported without its secret got a new one", "url", w.URL)
		}
	}
	if err := c.apply(ctx, to, log); err != nil {
		return out, err
	}
	for _, d := range e.lists {
		for _, h := range d.Held {
			id, err := to.Hold(ctx, &store.Held{List: d.Name, MessageID: h.MessageID, From: h.From, Subject: h.Subject,
				Reason: h.Reason, Auth: h.Auth, Arrived: h.Arrived, Raw: h.Raw})
			if err != nil {
				return out, fmt.Errorf("lists/%s.json: held message %s: %w", d.Name, h.MessageID, err)
			}
			if h.State != store.HeldWaiting {
				if err := to.DecideHeld(ctx, id, h.State, h.DecidedBy, h.DecidedAt); err != nil {
					return out, fmt.Errorf("lists/%s.json: held message %s: %w", d.Name, h.MessageID, err)
				}
			}
		}
	}
	for _, d := range e.lists {
		ss, err := allSeries(ctx, to, d.Name)
		if err != nil {
			return out, err
		}
		status := map[string]string{}
		for _, s := range ss {
			status[s.MessageID] = s.Status
		}
		for _, s := range d.Series {
			if s.Status != "" && status[s.MessageID] != s.Status {
				log.Warn("import: a series' status differs from the export's", "list", d.Name, "msgid", s.MessageID,
					"export", s.Status, "now", status[s.MessageID])
			}
		}
	}
	return out, nil
}

// arrivalMbox replays an exported mbox with each message's arrival time.
type arrivalMbox struct {
	r        *archive.MboxReader
	arrived  []int64
	n        int
	progress func(int)
}

func (a *arrivalMbox) Next() ([]byte, error) {
	raw, err := a.r.Next()
	if err != nil {
		return nil, err
	}
	if a.n >= len(a.arrived) {
		return nil, fmt.Errorf("more messages than the %d the list's document has", len(a.arrived))
	}
	a.n++
	if a.progress != nil {
		a.progress(1)
	}
	return raw, nil
}

func (a *arrivalMbox) Arrived() time.Time {
	if a.n == 0 {
		return time.Now()
	}
	return unix(a.arrived[a.n-1])
}

func (a *arrivalMbox) Close() error { return nil }

// delegateID is delegateEmail's way back: a patch-delegated event's
// delegate as the user id text the events table keeps ("0" for nobody).
func delegateID(user func(string) int64, email string) string {
	return strconv.FormatInt(user(email), 10)
}
