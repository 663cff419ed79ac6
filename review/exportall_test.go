package review

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"patchwell/core"
	"patchwell/store"
	"patchwell/store/pgtest"
)

// exportFixture fills st (with its list dev) with a bit of everything
// ExportAll writes, and returns the secrets that must not leak.
func exportFixture(t *testing.T, in *Ingester, st *store.DB) (secrets []string) {
	t.Helper()
	ctx := context.Background()
	if _, err := st.CreateList(ctx, store.List{Name: "sec", Description: "security", Owner: "sec-owner@example.org",
		Visibility: store.VisibilityPrivate}); err != nil {
		t.Fatal(err)
	}
	// A name with a dot: its files must not be another list's.
	if _, err := st.CreateList(ctx, store.List{Name: "dev.series"}); err != nil {
		t.Fatal(err)
	}
	deliver(t, in, patchMail(1, 1, testDiff), patchMail(1, 2, secondDiff), patchMail(2, 1, testDiff), patchMail(2, 2, secondDiff))
	if err := in.Post(ctx, Post{Lists: []string{"sec"}, Raw: []byte("From: A <a@example.org>\nSubject: embargo\nMessage-ID: <s1@x>\nDate: Mon, 5 Aug 2024 10:00:00 +0000\n\nquiet\n")}); err != nil {
		t.Fatal(err)
	}
	svc := New(st, ServiceConfig{Ingester: in, Domain: "lists.example.org"})
	v2 := seriesOf(t, st, "v2-1@example.org")
	msgid, _, err := svc.SubmitReview(ctx, store.ReviewDraft{SeriesID: v2, From: core.Person{Name: "Rita", Email: "rita@example.org"},
		Comments: []store.DraftComment{
			{PatchMessageID: "v2-1@example.org", File: "Makefile", Side: "new", Line: 88, Body: "Sort."},
			{PatchMessageID: "v2-1@example.org", File: "Makefile", Side: "new", Line: 89, Body: "Fix this.", Issue: true},
		}})
	if err != nil {
		t.Fatal(err)
	}
	k := store.Resolution{ReplyMessageID: msgid, PatchMessageID: "v2-1@example.org", File: "Makefile", Side: "new", Line: 88}
	if err := svc.ResolveComment(ctx, v2, k, "ann@example.org", true); err != nil {
		t.Fatal(err)
	}
	acc := NewAccounts(st, testArgon2)
	m, err := acc.AddUser(ctx, "m@example.org", "M", "a good password", false)
	if err != nil {
		t.Fatal(err)
	}
	o, err := acc.AddUser(ctx, "o@example.org", "O", "another good password", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, m.ID, "dev", store.RoleMaintainer); err != nil {
		t.Fatal(err)
	}
	if err := st.SetRole(ctx, o.ID, "sec", store.RoleOwner); err != nil {
		t.Fatal(err)
	}
	tok, _, err := acc.NewToken(ctx, m.ID, "ci")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetStatus(ctx, v2, m.ID, store.StatusNeedsRevision, "see the review"); err != nil {
		t.Fatal(err)
	}
	if _, err := acc.SetStatus(ctx, v2, o.ID, store.StatusApproved, "ship it"); err != nil {
		t.Fatal(err)
	}
	ps, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{"dev"}, Limit: 100})
	if err != nil || len(ps) != 4 {
		t.Fatalf("patches of dev: %d, %v", len(ps), err)
	}
	var p2 store.TrackedPatch
	for _, p := range ps {
		if p.MessageID == "v2-2@example.org" {
			p2 = p
		}
	}
	ref, archived := "abc123", true
	if _, err := st.UpdatePatch(ctx, p2.ID, store.PatchUpdate{Delegate: &m.ID, CommitRef: &ref, Archived: &archived}, m.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetCheck(ctx, &store.Check{SeriesID: v2, Context: "ci/build", State: "success", Description: "built",
		URL: "https://ci.example.org/1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SetCheck(ctx, &store.Check{SeriesID: v2, PatchIndex: 1, Context: "ci/lint", State: "fail", Description: "3 warnings"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Subscribe(ctx, "dev", "s1@example.org", "S1", store.SubActive); err != nil {
		t.Fatal(err)
	}
	if err := st.Subscribe(ctx, "sec", "s2@example.org", "", store.SubPending); err != nil {
		t.Fatal(err)
	}
	for i, state := range []string{store.HeldWaiting, store.HeldRejected} {
		id, err := st.Hold(ctx, &store.Held{List: "sec", Raw: []byte(fmt.Sprintf("Subject: held %d\n\nx\n", i)), MessageID: fmt.Sprintf("h%d@x", i),
			From: "h@example.net", Subject: "held", Reason: "moderated", Arrived: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if state != store.HeldWaiting {
			if err := st.DecideHeld(ctx, id, state, "o@example.org", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
	}
	hookSecret := "whsec-0123456789abcdef"
	if _, err := st.AddWebhook(ctx, store.Webhook{URL: "https://hooks.example.org/pw", Secret: []byte(hookSecret),
		Events: []string{"series.created"}, List: "dev"}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateBundle(ctx, store.Bundle{OwnerID: m.ID, List: "dev", Name: "next", Public: true}, []int64{ps[3].ID, ps[0].ID}); err != nil {
		t.Fatal(err)
	}
	_, pw, err := st.Credentials(ctx, "m@example.org")
	if err != nil {
		t.Fatal(err)
	}
	toks, err := st.Tokens(ctx, m.ID)
	if err != nil || len(toks) != 1 {
		t.Fatalf("tokens: %v %v", toks, err)
	}
	_ = tok
	return []string{pw, hookSecret}
}

// snapshot is what the read side answers about st, with store ids
// replaced by Message-IDs and addresses.
func snapshot(t *testing.T, st *store.DB) map[string]any {
	t.Helper()
	ctx := context.Background()
	svc := NewService(st)
	out := map[string]any{}
	users, err := st.Users(ctx)
	if err != nil {
		t.Fatal(err)
	}
	email := map[int64]string{}
	for _, u := range users {
		email[u.ID] = u.Email
		roles, err := st.Roles(ctx, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		u.ID = 0
		out["user "+u.Email] = []any{u, roles}
	}
	lists, err := st.Lists(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		l.ID = 0
		out["list "+l.Name] = l
		ss, err := st.SeriesList(ctx, l.Name, "", store.Page{})
		if err != nil {
			t.Fatal(err)
		}
		msgid := map[int64]string{}
		for _, s := range ss {
			msgid[s.ID] = s.MessageID
		}
		for _, s := range ss {
			hist, err := st.StatusHistory(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i := range hist {
				hist[i].ID, hist[i].SeriesID, hist[i].UserID = 0, 0, 0
			}
			checks, err := st.Checks(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			for i := range checks {
				checks[i].ID, checks[i].SeriesID = 0, 0
			}
			cs, err := svc.SeriesComments(ctx, s.ID)
			if err != nil {
				t.Fatal(err)
			}
			prev, sup := msgid[s.Previous], msgid[s.SupersededBy]
			id := s.ID
			s.ID, s.Previous, s.SupersededBy, s.ThreadID = 0, 0, 0, 0
			out["series "+l.Name+" "+s.MessageID] = map[string]any{"series": s, "previous": prev, "superseded_by": sup,
				"history": hist, "checks": checks, "comments": cs}
			_ = id
		}
		ps, err := st.TrackedPatches(ctx, store.PatchFilter{Lists: []string{l.Name}, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			d := email[p.Delegate]
			p.ID, p.SeriesID, p.Delegate = 0, 0, 0
			out["patch "+l.Name+" "+p.MessageID] = []any{p, d}
		}
		// The messages: bytes, UIDs, arrival times, what was parsed.
		var msgs []store.Message
		err = st.Walk(ctx, l.Name, func(m *store.Message, raw []byte) error {
			x := *m
			x.ID, x.ListID, x.ThreadID, x.SeriesID = 0, 0, 0, 0
			x.SHA256 = fmt.Sprintf("%x", sha256.Sum256(raw))
			msgs = append(msgs, x)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		out["messages "+l.Name] = msgs
		subs, err := st.Subscribers(ctx, l.Name, "")
		if err != nil {
			t.Fatal(err)
		}
		out["subscribers "+l.Name] = subs
		pol, err := st.Policy(ctx, l.Name)
		if err != nil {
			t.Fatal(err)
		}
		out["policy "+l.Name] = pol
		held, err := st.HeldMessages(ctx, l.Name, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range held {
			m, err := st.HeldMessage(ctx, h.ID)
			if err != nil {
				t.Fatal(err)
			}
			m.ID = 0
			out["held "+l.Name+" "+h.MessageID] = []any{*m, string(m.Raw)}
		}
	}
	hooks, err := st.Webhooks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range hooks {
		hooks[i].ID, hooks[i].Secret = 0, nil
	}
	out["webhooks"] = hooks
	bs, err := st.ExportBundles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range bs.Bundles {
		bs.Bundles[i].ID, bs.Bundles[i].OwnerID = 0, int64(len(email[bs.Bundles[i].OwnerID]))
	}
	out["bundles"] = bs
	// The stored change events (patchwork's), users by address.
	evs, err := st.ExportEvents(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byEmail := func(id string) string {
		n, _ := strconv.ParseInt(id, 10, 64)
		return email[n]
	}
	var events []store.EventRecord
	for _, e := range evs {
		e.Actor = int64(len(email[e.Actor]))
		if e.Category == store.EventPatchDelegated {
			e.Previous, e.Current = byEmail(e.Previous), byEmail(e.Current)
		}
		events = append(events, e)
		out[fmt.Sprintf("event %d by", len(events))] = email[evs[len(events)-1].Actor]
	}
	out["events"] = events
	return out
}

func TestExportImportAll(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	secrets := exportFixture(t, in, old)
	before := snapshot(t, old)
	// The fixture has what the test is about (or it proves nothing).
	v2 := before["series dev v2-1@example.org"].(map[string]any)
	if h := v2["history"].([]store.StatusChange); len(h) < 2 {
		t.Fatalf("status history: %+v", h)
	}
	if evs := before["events"].([]store.EventRecord); !slices.ContainsFunc(evs, func(e store.EventRecord) bool {
		return e.Category == store.EventPatchStateChanged
	}) || !slices.ContainsFunc(evs, func(e store.EventRecord) bool { return e.Category == store.EventCheckCreated }) {
		t.Fatalf("events: %+v", evs)
	}
	if c := v2["checks"].([]store.Check); len(c) != 2 {
		t.Fatalf("checks: %+v", c)
	}
	if cs := v2["comments"].([]store.LineComment); len(cs) != 2 || cs[0].Resolved == cs[1].Resolved || cs[0].Issue == cs[1].Issue {
		t.Fatalf("comments: %+v", cs)
	}
	if h, ok := before["held sec h1@x"].([]any); !ok || h[0].(store.Held).State != store.HeldRejected {
		t.Fatalf("held: %+v", before["held sec h1@x"])
	}
	if p := before["patch dev v2-2@example.org"].([]any); p[1] != "m@example.org" {
		t.Fatalf("patch state: %+v", p)
	}
	log := slog.New(slog.DiscardHandler)

	dir := filepath.Join(t.TempDir(), "out")
	fixed := func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }
	if err := ExportAll(ctx, old, dir, ExportOptions{Version: "test", Now: fixed}); err != nil {
		t.Fatalf("ExportAll() = %v", err)
	}
	// Again, later: the same bytes but the manifest's time.
	again := filepath.Join(t.TempDir(), "again")
	if err := ExportAll(ctx, old, again, ExportOptions{Version: "test"}); err != nil {
		t.Fatalf("ExportAll() = %v", err)
	}
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if fi, err := d.Info(); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", rel, fi.Mode())
		}
		a, _ := os.ReadFile(path)
		b, err := os.ReadFile(filepath.Join(again, rel))
		if err != nil {
			t.Errorf("second export lacks %s", rel)
		} else if rel != "manifest.json" && !bytes.Equal(a, b) {
			t.Errorf("%s differs between two exports", rel)
		}
		// Without --with-secrets no hash or secret is written.
		for _, s := range secrets {
			if bytes.Contains(a, []byte(s)) {
				t.Errorf("%s holds a secret (%.12s...)", rel, s)
			}
		}
		for _, word := range []string{"argon2", "password_hash", "\"hash\"", "\"secret\""} {
			if bytes.Contains(a, []byte(word)) {
				t.Errorf("%s holds %s", rel, word)
			}
		}
		return nil
	})
	// The mbox is the messages byte for byte (the single-list export).
	var mb bytes.Buffer
	if err := Export(ctx, old, "dev", &mb, nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "lists", "dev.mbox")); !bytes.Equal(got, mb.Bytes()) {
		t.Error("lists/dev.mbox is not what export --list dev writes")
	}

	withSecrets := filepath.Join(t.TempDir(), "secrets")
	if err := ExportAll(ctx, old, withSecrets, ExportOptions{WithSecrets: true}); err != nil {
		t.Fatalf("ExportAll(--with-secrets) = %v", err)
	}

	for _, backend := range []string{"sqlite", "postgres"} {
		for _, from := range []string{dir, withSecrets} {
			name := backend
			if from == withSecrets {
				name += "-with-secrets"
			}
			t.Run(name, func(t *testing.T) {
				var fresh *store.DB
				var err error
				if backend == "postgres" {
					fresh, err = store.OpenPostgres(ctx, pgtest.URL(t))
				} else {
					fresh, err = store.Open(ctx, t.TempDir())
				}
				if err != nil {
					t.Fatal(err)
				}
				defer fresh.Close()
				var logs bytes.Buffer
				if _, err := ImportAll(ctx, from, fresh, slog.New(slog.NewTextHandler(&logs, nil)), nil); err != nil {
					t.Fatalf("ImportAll() = %v", err)
				}
				if strings.Contains(logs.String(), "level=WARN") && !strings.Contains(logs.String(), "webhook") {
					t.Errorf("ImportAll() warned:\n%s", logs.String())
				}
				after := snapshot(t, fresh)
				if diff := cmp.Diff(before, after); diff != "" {
					t.Errorf("the store after export and import (-before +after):\n%s", diff)
				}
				acc := NewAccounts(fresh, testArgon2)
				_, err = acc.Authenticate(ctx, "m@example.org", "a good password")
				if from == withSecrets && err != nil {
					t.Errorf("password after an import with secrets: %v", err)
				} else if from == dir && err == nil {
					t.Error("a password works after an import without secrets")
				}
				// A second import into the now full store is refused.
				if _, err := ImportAll(ctx, from, fresh, log, nil); !errors.Is(err, ErrNotEmpty) {
					t.Errorf("ImportAll() into a full store = %v, want ErrNotEmpty", err)
				}
			})
		}
	}
}

// TestExportImportAllRefuses: a malformed or inconsistent directory is
// refused before the store is touched, with the file and what is wrong.
func TestExportImportAllRefuses(t *testing.T) {
	ctx := context.Background()
	in, old := newTestIngester(t)
	deliver(t, in, patchMail(1, 1, testDiff))
	dir := filepath.Join(t.TempDir(), "out")
	if err := ExportAll(ctx, old, dir, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	read := func(rel string) map[string]any {
		var m map[string]any
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := []struct {
		name, file string
		edit       func(m map[string]any)
		raw        string
		want       string
	}{
		{name: "format", file: "manifest.json", edit: func(m map[string]any) { m["format"] = 2 }, want: "manifest.json: format 2"},
		{name: "slash", file: "manifest.json", edit: func(m map[string]any) { m["lists"] = []string{"../dev"} }, want: `bad list name "../dev"`},
		{name: "dot", file: "manifest.json", edit: func(m map[string]any) { m["lists"] = []string{".."} }, want: `bad list name ".."`},
		{name: "twice", file: "manifest.json", edit: func(m map[string]any) { m["lists"] = []string{"dev", "dev"} }, want: `list "dev" twice`},
		{name: "unknown field", file: "manifest.json", edit: func(m map[string]any) { m["extra"] = 1 }, want: "manifest.json: json: unknown field"},
		{name: "garbage", file: "accounts.json", raw: "{\"users\": [", want: "accounts.json: unexpected EOF"},
		{name: "arrivals", file: "lists/dev.json", edit: func(m map[string]any) { m["messages"] = 5 }, want: "lists/dev.json: 1 arrival times for 5 messages"},
		{name: "name", file: "lists/dev.json", edit: func(m map[string]any) { m["name"] = "other" }, want: `lists/dev.json: name "other"`},
		{name: "role", file: "accounts.json", edit: func(m map[string]any) {
			m["users"] = []map[string]any{{"email": "x@example.org", "roles": map[string]string{"nope": "owner"}}}
		}, want: `accounts.json: user x@example.org has a role on unknown list "nope"`},
		{name: "subscriber state", file: "lists/dev.json", edit: func(m map[string]any) {
			m["subscribers"] = []map[string]any{{"email": "s@example.org", "state": "evil"}}
		}, want: `lists/dev.json: subscriber s@example.org: bad state "evil"`},
		{name: "status", file: "series.json", edit: func(m map[string]any) {
			m["series"] = []map[string]any{{"list": "dev", "message_id": "v1-1@example.org", "status_history": []map[string]any{{"to": "merged"}}}}
		}, want: `series.json: series v1-1@example.org: status change to "merged"`},
		{name: "series list", file: "series.json", edit: func(m map[string]any) {
			m["series"] = []map[string]any{{"list": "nope", "message_id": "v1-1@example.org"}}
		}, want: `series.json: series v1-1@example.org of unknown list "nope"`},
		{name: "history by", file: "series.json", edit: func(m map[string]any) {
			m["series"] = []map[string]any{{"list": "dev", "message_id": "v1-1@example.org", "status_history": []map[string]any{{"by": "who@example.org", "to": "applied"}}}}
		}, want: `series.json: a status change of v1-1@example.org names unknown account "who@example.org"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := filepath.Join(t.TempDir(), "bad")
			if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
				t.Fatal(err)
			}
			b := []byte(c.raw)
			if c.edit != nil {
				m := read(c.file)
				c.edit(m)
				b, _ = json.Marshal(m)
			}
			if err := os.WriteFile(filepath.Join(bad, c.file), b, 0o644); err != nil {
				t.Fatal(err)
			}
			fresh, err := store.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			_, err = ImportAll(ctx, bad, fresh, slog.New(slog.DiscardHandler), nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("ImportAll() = %v, want %q", err, c.want)
			}
			if ls, _ := fresh.Lists(ctx); len(ls) != 0 {
				t.Errorf("a refused import made lists: %v", ls)
			}
		})
	}
	t.Run("not empty", func(t *testing.T) {
		_, err := ImportAll(ctx, dir, old, slog.New(slog.DiscardHandler), nil)
		if !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("ImportAll() into a store with a list = %v", err)
		}
	})
	t.Run("link", func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(bad, "accounts.json"))
		if err := os.Symlink("/etc/passwd", filepath.Join(bad, "accounts.json")); err != nil {
			t.Fatal(err)
		}
		fresh, err := store.Open(ctx, t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Close()
		if _, err := ImportAll(ctx, bad, fresh, slog.New(slog.DiscardHandler), nil); err == nil || !strings.Contains(err.Error(), "accounts.json: not a regular file") {
			t.Fatalf("ImportAll() with a link = %v", err)
		}
	})
}

// FuzzImportAllDocs: whatever bytes a document of an export holds,
// readExport refuses them or accepts them without a panic.
func FuzzImportAllDocs(f *testing.F) {
	ctx := context.Background()
	st, err := store.Open(ctx, f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	if _, err := st.CreateList(ctx, store.List{Name: "dev"}); err != nil {
		f.Fatal(err)
	}
	dir := filepath.Join(f.TempDir(), "out")
	if err := ExportAll(ctx, st, dir, ExportOptions{WithSecrets: true}); err != nil {
		f.Fatal(err)
	}
	files := []string{"manifest.json", "lists/dev.json", "series.json", "accounts.json", "comments.json", "webhooks.json", "secrets.json"}
	for i, name := range files {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), b)
	}
	f.Add(uint8(1), []byte(`{"name":"dev","visibility":"public","posting":"open","dmarc":"accept","messages":-1,"arrived":null}`))
	f.Fuzz(func(t *testing.T, which uint8, doc []byte) {
		bad := filepath.Join(t.TempDir(), "bad")
		if err := os.CopyFS(bad, os.DirFS(dir)); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(bad, files[int(which)%len(files)]), doc, 0o644); err != nil {
			t.Fatal(err)
		}
		if e, err := readExport(bad); err == nil {
			e.carried()
		}
	})
}
