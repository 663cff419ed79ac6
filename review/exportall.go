package review

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"patchwell/store"
)

// ExportFormat is the version of the directory ExportAll writes
// (docs/export.md); ImportAll reads only this one.
const ExportFormat = 1

// ErrNotEmpty: ImportAll fills an empty store only.
var ErrNotEmpty = errors.New("the store is not empty")

// ErrBadExport: ImportAll refused the directory (malformed or
// inconsistent) before touching the store.
var ErrBadExport = errors.New("bad export directory")

// ExportOptions are ExportAll's.
type ExportOptions struct {
	// WithSecrets writes password hashes, session, API token and feed
	// token hashes, webhook secrets and the server's secrets.
	WithSecrets bool
	// Version is the patchwell version written in the manifest.
	Version string
	// Progress, when set, follows the messages written.
	Progress Progress
	// Now is the manifest's time (nil: time.Now).
	Now func() time.Time
}

// The documents of an export directory (docs/export.md). Users are named
// by address, series, patches and review comments by Message-ID: ids are
// the store's own and are not written.
type (
	manifestDoc struct {
		Format    int       `json:"format"`
		Patchwell string    `json:"patchwell"`
		Created   time.Time `json:"created"`
		Lists     []string  `json:"lists"`
		Includes  []string  `json:"includes"`
		Secrets   bool      `json:"secrets"`
	}
	listDoc struct {
		Name         string           `json:"name"`
		Description  string           `json:"description"`
		Owner        string           `json:"owner"`
		Visibility   string           `json:"visibility"`
		Created      time.Time        `json:"created"`
		UIDValidity  uint32           `json:"uidvalidity"`
		Posting      string           `json:"posting"`
		DMARC        string           `json:"dmarc"`
		Rules        []ruleDoc        `json:"rules"`
		Repository   *store.ListRepo  `json:"repository"`
		NotifyThread bool             `json:"notify_thread"`
		Messages     int              `json:"messages"`
		Arrived      []int64          `json:"arrived"`
		Subscribers  []subscriberDoc  `json:"subscribers"`
		AuthResults  []authDoc        `json:"auth_results"`
		PatchStates  []patchStateDoc  `json:"patch_states"`
		Events       []eventDoc       `json:"events"`
		Bundles      []bundleDoc      `json:"bundles"`
		Held         []heldDoc        `json:"held"`
		Series       []seriesStateDoc `json:"-"` // series.json
	}
	ruleDoc struct {
		Pattern string `json:"pattern"`
		Action  string `json:"action"`
	}
	subscriberDoc struct {
		Email   string    `json:"email"`
		Name    string    `json:"name"`
		State   string    `json:"state"`
		Created time.Time `json:"created"`
		Bounces int       `json:"bounces"`
	}
	authDoc struct {
		MessageID string `json:"message_id"`
		Result    string `json:"result"`
	}
	patchStateDoc struct {
		MessageID string `json:"message_id"`
		State     string `json:"state"`
		Delegate  string `json:"delegate"`
		Archived  bool   `json:"archived"`
		CommitRef string `json:"commit_ref"`
	}
	// eventDoc is a stored change event (patchwork's patch-state-changed,
	// patch-delegated, check-created; the creation events are derived
	// from the mail and need no document): what it is about by
	// Message-ID, who by address (and the delegates, for
	// patch-delegated).
	eventDoc struct {
		Category string      `json:"category"`
		Date     time.Time   `json:"date"`
		Actor    string      `json:"actor"`
		Patch    string      `json:"patch"`
		Series   string      `json:"series"`
		Check    *eventCheck `json:"check"`
		Previous string      `json:"previous"`
		Current  string      `json:"current"`
	}
	eventCheck struct {
		Series     string `json:"series"`
		PatchIndex int    `json:"patch_index"`
		Context    string `json:"context"`
	}
	bundleDoc struct {
		Owner   string    `json:"owner"`
		Name    string    `json:"name"`
		Public  bool      `json:"public"`
		Created time.Time `json:"created"`
		Patches []string  `json:"patches"`
	}
	heldDoc struct {
		MessageID string    `json:"message_id"`
		From      string    `json:"from"`
		Subject   string    `json:"subject"`
		Reason    string    `json:"reason"`
		Auth      string    `json:"auth"`
		Arrived   time.Time `json:"arrived"`
		State     string    `json:"state"`
		DecidedBy string    `json:"decided_by"`
		DecidedAt time.Time `json:"decided_at"`
		Raw       []byte    `json:"raw"`
	}
	seriesStateDoc struct {
		List      string `json:"list"`
		MessageID string `json:"message_id"`
		// Subject, Version and Status are for the reader: import
		// derives them from the mail and the status history (and warns
		// when the status comes out otherwise).
		Subject       string       `json:"subject"`
		Version       int          `json:"version"`
		Status        string       `json:"status"`
		StatusHistory []historyDoc `json:"status_history"`
		Applied       *appliedDoc  `json:"applied,omitempty"`
		Checks        []checkDoc   `json:"checks"`
		CIJobs        []jobDoc     `json:"ci_jobs"`
	}
	historyDoc struct {
		By      string    `json:"by"`
		At      time.Time `json:"at"`
		From    string    `json:"from"`
		To      string    `json:"to"`
		Comment string    `json:"comment"`
	}
	appliedDoc struct {
		Commits   []string  `json:"commits"`
		Branch    string    `json:"branch"`
		AppliedAt time.Time `json:"applied_at"`
		By        string    `json:"by"`
	}
	checkDoc struct {
		Context     string    `json:"context"`
		State       string    `json:"state"`
		Description string    `json:"description"`
		TargetURL   string    `json:"target_url"`
		Log         string    `json:"log"`
		PatchIndex  int       `json:"patch_index"`
		Created     time.Time `json:"created"`
		Updated     time.Time `json:"updated"`
	}
	jobDoc struct {
		State     string    `json:"state"`
		LastError string    `json:"last_error"`
		Attempts  int       `json:"attempts"`
		Released  bool      `json:"released"`
		Created   time.Time `json:"created"`
		Updated   time.Time `json:"updated"`
	}
	accountsDoc struct {
		Users []userDoc `json:"users"`
	}
	userDoc struct {
		Email        string            `json:"email"`
		Name         string            `json:"name"`
		Admin        bool              `json:"admin"`
		Confirmed    bool              `json:"confirmed"`
		Disabled     bool              `json:"disabled"`
		Created      time.Time         `json:"created"`
		StatusMail   bool              `json:"status_mail"`
		Roles        map[string]string `json:"roles"`
		PasswordHash string            `json:"password_hash,omitempty"`
		APITokens    []tokenDoc        `json:"api_tokens"`
		Sessions     []sessionDoc      `json:"sessions,omitempty"`
		FeedTokens   []feedTokenDoc    `json:"feed_tokens,omitempty"`
	}
	tokenDoc struct {
		Name     string    `json:"name"`
		Created  time.Time `json:"created"`
		LastUsed time.Time `json:"last_used"`
		Hash     []byte    `json:"hash,omitempty"`
	}
	sessionDoc struct {
		Hash    []byte    `json:"hash"`
		Created time.Time `json:"created"`
		Expires time.Time `json:"expires"`
	}
	feedTokenDoc struct {
		Hash    []byte    `json:"hash"`
		Created time.Time `json:"created"`
	}
	commentsDoc struct {
		Resolutions []markDoc `json:"resolutions"`
		OpenIssues  []markDoc `json:"open_issues"`
	}
	markDoc struct {
		ReplyMessageID string    `json:"reply_message_id"`
		PatchMessageID string    `json:"patch_message_id"`
		File           string    `json:"file"`
		Side           string    `json:"side"`
		Line           int       `json:"line"`
		By             string    `json:"by"`
		At             time.Time `json:"at"`
	}
	webhooksDoc struct {
		Webhooks []webhookDoc `json:"webhooks"`
	}
	webhookDoc struct {
		URL     string    `json:"url"`
		List    string    `json:"list"`
		Events  []string  `json:"events"`
		Created time.Time `json:"created"`
		Secret  []byte    `json:"secret,omitempty"`
	}
	secretsDoc struct {
		Secrets []secretDoc `json:"secrets"`
	}
	secretDoc struct {
		Name  string `json:"name"`
		Value []byte `json:"value"`
	}
)

func unix(t int64) time.Time { return time.Unix(t, 0).UTC() }

// ExportAll writes everything a list owner owns in st to the directory
// dir (made if missing; it must be empty), as docs/export.md describes:
// each list's messages as mboxrd, byte for byte, and JSON documents for
// the rest. Two exports of the same store differ only in the manifest's
// time. Its files are the owner's only (private lists' mail, hashes):
// 0600 in directories of 0700.
func ExportAll(ctx context.Context, st store.Store, dir string, opts ExportOptions) error {
	if err := os.MkdirAll(filepath.Join(dir, "lists"), 0o700); err != nil {
		return err
	}
	if ents, err := os.ReadDir(dir); err != nil {
		return err
	} else if len(ents) != 1 {
		return fmt.Errorf("%s is not empty: export into a new directory", dir)
	}
	// What is not in the mail first, then the lists and their mail: on a
	// server that runs meanwhile, a list or message that arrives between
	// is exported without state rather than state without its list or
	// message.
	c, err := readCarried(ctx, st, false)
	if err != nil {
		return err
	}
	lists, err := st.Lists(ctx)
	if err != nil {
		return err
	}
	slices.SortFunc(lists, func(a, b store.List) int { return cmp.Compare(a.Name, b.Name) })
	var add func(int)
	if opts.Progress != nil {
		var n int64
		for _, l := range lists {
			n += int64(l.Messages)
		}
		add = opts.Progress(n)
	}
	email := map[int64]string{}
	for _, u := range c.Accounts.Users {
		email[u.ID] = u.Email
	}
	docs := map[string]*listDoc{}
	man := manifestDoc{Format: ExportFormat, Patchwell: opts.Version, Secrets: opts.WithSecrets,
		Includes: []string{"messages", "lists", "accounts", "roles", "series_status", "patch_states", "checks", "ci_jobs",
			"applied", "review_marks", "subscribers", "webhooks", "bundles"}}
	if opts.WithSecrets {
		man.Includes = append(man.Includes, "secrets")
	}
	for _, l := range lists {
		man.Lists = append(man.Lists, l.Name)
		d := &listDoc{Name: l.Name, Description: l.Description, Owner: l.Owner, Visibility: cmp.Or(l.Visibility, store.VisibilityPublic),
			Created: l.Created.UTC(), UIDValidity: l.UIDValidity, Messages: l.Messages}
		if err := writeMbox(ctx, st, filepath.Join(dir, "lists", l.Name+".mbox"), l.Name, add, &d.Arrived); err != nil {
			return fmt.Errorf("list %s: %w", l.Name, err)
		}
		d.Messages = len(d.Arrived) // those that arrived since Lists too
		held, err := st.HeldMessages(ctx, l.Name, "")
		if err != nil {
			return err
		}
		for _, h := range held {
			m, err := st.HeldMessage(ctx, h.ID)
			if err != nil {
				return fmt.Errorf("held message %d: %w", h.ID, err)
			}
			d.Held = append(d.Held, heldDoc{h.MessageID, h.From, h.Subject, h.Reason, h.Auth, h.Arrived.UTC(), h.State,
				h.DecidedBy, h.DecidedAt.UTC(), m.Raw})
		}
		docs[l.Name] = d
	}
	of := func(list, what string) (*listDoc, error) {
		if d := docs[list]; d != nil {
			return d, nil
		}
		return nil, fmt.Errorf("%s of unknown list %q (was a list made meanwhile?)", what, list)
	}
	ml := c.MailingList
	for _, p := range ml.Policies {
		if d := docs[p.List]; d != nil {
			d.Posting, d.DMARC = p.Posting, p.DMARC
		}
	}
	for _, r := range ml.Rules {
		d, err := of(r.List, "rule")
		if err != nil {
			return err
		}
		d.Rules = append(d.Rules, ruleDoc{r.Pattern, r.Action})
	}
	for _, s := range ml.Subs {
		d, err := of(s.List, "subscriber")
		if err != nil {
			return err
		}
		d.Subscribers = append(d.Subscribers, subscriberDoc{s.Email, s.Name, s.State, unix(s.Created), s.Bounces})
	}
	for _, a := range ml.Auth {
		d, err := of(a.List, "authentication result")
		if err != nil {
			return err
		}
		d.AuthResults = append(d.AuthResults, authDoc{a.MessageID, a.Result})
	}
	for _, name := range c.Accounts.NotifyThread {
		if d := docs[name]; d != nil {
			d.NotifyThread = true
		}
	}
	for _, r := range c.Git.Repos {
		if d := docs[r.List]; d != nil {
			d.Repository = &r
		}
	}
	for _, p := range c.PatchStates {
		d, err := of(p.List, "patch state")
		if err != nil {
			return err
		}
		d.PatchStates = append(d.PatchStates, patchStateDoc{p.MessageID, p.State, email[p.Delegate], p.Archived, p.CommitRef})
	}
	for _, ev := range c.Events {
		d, err := of(ev.List, "event")
		if err != nil {
			return err
		}
		e := eventDoc{Category: ev.Category, Date: unix(ev.Date), Actor: email[ev.Actor], Patch: ev.PatchMessageID,
			Series: ev.SeriesMessageID, Previous: ev.Previous, Current: ev.Current}
		if ev.HasCheck {
			e.Check = &eventCheck{ev.CheckSeriesMessageID, ev.CheckIndex, ev.CheckContext}
		}
		if ev.Category == store.EventPatchDelegated {
			e.Previous, e.Current = delegateEmail(email, ev.Previous), delegateEmail(email, ev.Current)
		}
		d.Events = append(d.Events, e)
	}
	for _, b := range c.Bundles.Bundles {
		d, err := of(b.List, "bundle")
		if err != nil {
			return err
		}
		d.Bundles = append(d.Bundles, bundleDoc{email[b.OwnerID], b.Name, b.Public, unix(b.Created), b.Messages})
	}
	// Series: what is kept of each beside its mail, keyed by Message-ID.
	series := map[string]map[string]*seriesStateDoc{}
	at := func(list, msgid string) (*seriesStateDoc, error) {
		if _, err := of(list, "series"); err != nil {
			return nil, err
		}
		if series[list] == nil {
			series[list] = map[string]*seriesStateDoc{}
		}
		s := series[list][msgid]
		if s == nil {
			s = &seriesStateDoc{List: list, MessageID: msgid}
			series[list][msgid] = s
		}
		return s, nil
	}
	for _, l := range lists {
		ss, err := allSeries(ctx, st, l.Name)
		if err != nil {
			return err
		}
		for _, x := range ss {
			s, err := at(l.Name, x.MessageID)
			if err != nil {
				return err
			}
			s.Subject, s.Version, s.Status = x.Subject, x.Version, x.Status
		}
	}
	for _, h := range c.Accounts.History {
		s, err := at(h.List, h.SeriesMessageID)
		if err != nil {
			return err
		}
		s.StatusHistory = append(s.StatusHistory, historyDoc{email[h.UserID], unix(h.At), h.From, h.To, h.Comment})
	}
	for _, a := range c.Git.Applied {
		s, err := at(a.List, a.SeriesMessageID)
		if err != nil {
			return err
		}
		s.Applied = &appliedDoc{a.Applied.Commits, a.Applied.Branch, a.Applied.AppliedAt.UTC(), a.Applied.By}
	}
	for _, k := range ml.Checks {
		s, err := at(k.List, k.SeriesMessageID)
		if err != nil {
			return err
		}
		s.Checks = append(s.Checks, checkDoc{k.Context, k.State, k.Description, k.URL, k.Log, k.PatchIndex, unix(k.Created), unix(k.Updated)})
	}
	for _, j := range ml.Jobs {
		s, err := at(j.List, j.SeriesMessageID)
		if err != nil {
			return err
		}
		s.CIJobs = append(s.CIJobs, jobDoc{j.State, j.LastError, j.Attempts, j.Released, unix(j.Created), unix(j.Updated)})
	}
	var allSS []*seriesStateDoc // by list, then Message-ID
	for _, l := range lists {
		d := docs[l.Name]
		slices.SortStableFunc(d.Subscribers, func(a, b subscriberDoc) int { return cmp.Compare(a.Email, b.Email) })
		slices.SortStableFunc(d.AuthResults, func(a, b authDoc) int { return cmp.Compare(a.MessageID, b.MessageID) })
		slices.SortStableFunc(d.PatchStates, func(a, b patchStateDoc) int { return cmp.Compare(a.MessageID, b.MessageID) })
		slices.SortStableFunc(d.Rules, func(a, b ruleDoc) int {
			return cmp.Or(cmp.Compare(a.Pattern, b.Pattern), cmp.Compare(a.Action, b.Action))
		})
		var ss []*seriesStateDoc
		for _, s := range series[l.Name] {
			slices.SortStableFunc(s.Checks, func(a, b checkDoc) int {
				return cmp.Or(a.Created.Compare(b.Created), cmp.Compare(a.Context, b.Context), cmp.Compare(a.PatchIndex, b.PatchIndex))
			})
			slices.SortStableFunc(s.CIJobs, func(a, b jobDoc) int { return a.Created.Compare(b.Created) })
			ss = append(ss, s)
		}
		slices.SortFunc(ss, func(a, b *seriesStateDoc) int { return cmp.Compare(a.MessageID, b.MessageID) })
		allSS = append(allSS, ss...)
		if err := writeJSON(filepath.Join(dir, "lists", l.Name+".json"), d); err != nil {
			return err
		}
	}
	// One file for every list's series: lists/NAME.series.json would be
	// the document of a list named NAME.series.
	if err := writeJSON(filepath.Join(dir, "series.json"), struct {
		Series []*seriesStateDoc `json:"series"`
	}{allSS}); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "accounts.json"), exportAccounts(c.Accounts, opts.WithSecrets)); err != nil {
		return err
	}
	cd := commentsDoc{Resolutions: marks(c.Resolutions), OpenIssues: marks(c.Issues)}
	if err := writeJSON(filepath.Join(dir, "comments.json"), cd); err != nil {
		return err
	}
	var wd webhooksDoc
	for _, w := range ml.Webhooks {
		x := webhookDoc{URL: w.URL, List: w.List, Events: w.Events, Created: w.Created.UTC()}
		if opts.WithSecrets {
			x.Secret = w.Secret
		}
		wd.Webhooks = append(wd.Webhooks, x)
	}
	if err := writeJSON(filepath.Join(dir, "webhooks.json"), wd); err != nil {
		return err
	}
	if opts.WithSecrets {
		var sd secretsDoc
		for _, s := range ml.Secrets {
			sd.Secrets = append(sd.Secrets, secretDoc{s.Name, s.Value})
		}
		slices.SortFunc(sd.Secrets, func(a, b secretDoc) int { return cmp.Compare(a.Name, b.Name) })
		if err := writeJSON(filepath.Join(dir, "secrets.json"), sd); err != nil {
			return err
		}
	}
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	man.Created = now().UTC().Truncate(time.Second)
	// The manifest last: a directory with one is complete.
	return writeJSON(filepath.Join(dir, "manifest.json"), man)
}

// allSeries returns every series of list, oldest first.
func allSeries(ctx context.Context, st store.Store, list string) ([]store.Series, error) {
	var out []store.Series
	for p := (store.Page{Limit: 1000}); ; p.Offset += p.Limit {
		ss, err := st.SeriesList(ctx, list, "", p)
		if err != nil {
			return nil, err
		}
		out = append(out, ss...)
		if len(ss) < p.Limit {
			break
		}
	}
	slices.Reverse(out)
	return out, nil
}

// exportAccounts is accounts.json: users in the store's order, with
// their roles, tokens' names and, withSecrets, what authenticates them.
func exportAccounts(a *store.AccountData, withSecrets bool) accountsDoc {
	var d accountsDoc
	at := map[int64]int{}
	for i, u := range a.Users {
		at[u.ID] = i
		x := userDoc{Email: u.Email, Name: u.Name, Admin: u.Admin, Confirmed: u.Confirmed, Disabled: u.Disabled,
			Created: u.Created.UTC(), StatusMail: !slices.Contains(a.NoStatusMail, u.ID), Roles: map[string]string{}}
		if withSecrets {
			x.PasswordHash = u.Password
		}
		d.Users = append(d.Users, x)
	}
	user := func(id int64) *userDoc {
		if i, ok := at[id]; ok {
			return &d.Users[i]
		}
		return nil
	}
	for _, r := range a.Roles {
		if u := user(r.UserID); u != nil {
			u.Roles[r.List] = r.Role
		}
	}
	for _, t := range a.Tokens {
		if u := user(t.UserID); u != nil {
			x := tokenDoc{Name: t.Name, Created: unix(t.Created), LastUsed: unix(t.LastUsed)}
			if withSecrets {
				x.Hash = t.Hash
			}
			u.APITokens = append(u.APITokens, x)
		}
	}
	if withSecrets {
		for _, s := range a.Sessions {
			if u := user(s.UserID); u != nil {
				u.Sessions = append(u.Sessions, sessionDoc{s.Hash, unix(s.Created), unix(s.Expires)})
			}
		}
		for _, f := range a.FeedTokens {
			if u := user(f.UserID); u != nil {
				u.FeedTokens = append(u.FeedTokens, feedTokenDoc{f.Hash, unix(f.Created)})
			}
		}
		for i := range d.Users {
			u := &d.Users[i]
			slices.SortFunc(u.Sessions, func(a, b sessionDoc) int { return bytes.Compare(a.Hash, b.Hash) })
			slices.SortFunc(u.FeedTokens, func(a, b feedTokenDoc) int { return bytes.Compare(a.Hash, b.Hash) })
		}
	}
	return d
}

func marks(rs []store.Resolution) []markDoc {
	out := make([]markDoc, 0, len(rs))
	for _, r := range rs {
		out = append(out, markDoc{r.ReplyMessageID, r.PatchMessageID, r.File, r.Side, r.Line, r.By, r.At.UTC()})
	}
	slices.SortFunc(out, func(a, b markDoc) int {
		return cmp.Or(cmp.Compare(a.PatchMessageID, b.PatchMessageID), cmp.Compare(a.ReplyMessageID, b.ReplyMessageID),
			cmp.Compare(a.File, b.File), cmp.Compare(a.Side, b.Side), cmp.Compare(a.Line, b.Line))
	})
	return out
}

// writeMbox writes list's messages to the new file path (exportMbox).
func writeMbox(ctx context.Context, st store.Store, path, list string, add func(int), arrived *[]int64) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := exportMbox(ctx, st, list, f, add, arrived); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// writeJSON writes v, indented, to the new file path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// delegateEmail is a patch-delegated event's user id (as text, "" or "0"
// for nobody) as an address.
func delegateEmail(email map[int64]string, id string) string {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n == 0 {
		return ""
	}
	return email[n]
}
