package web

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"patchwell/core"
	"patchwell/store"
)

var errBoom = errors.New("database on fire: secret detail")

// fakeReader serves fixed data; err, when set, is returned by every method
// (per method with failOn), and calls records the arguments received.
type fakeReader struct {
	lists   []store.List
	series  []store.Series       // returned by SeriesList for any known list
	details map[int64]fakeSeries // for Series
	threads []store.Thread       // returned by Threads for any known list
	raw     map[[2]string][]byte // (list, message-id) -> bytes
	err     error
	failOn  string // method name err applies to; "" means all
	panicOn string // method name that panics

	mu     sync.Mutex
	calls  []call
	viewed map[store.ViewedFile]bool   // keys without At
	sigs   map[string]store.MessageSig // SeriesSignatures, by Message-ID
}

type fakeSeries struct {
	s       store.Series
	patches []store.Patch
}

type call struct {
	Method string
	List   string
	Status string
	Page   store.Page
	ID     int64
	MsgID  string
}

func (f *fakeReader) record(c call) error {
	f.mu.Lock()
	f.calls = append(f.calls, c)
	f.mu.Unlock()
	if f.panicOn == c.Method {
		panic("fake panic in " + c.Method)
	}
	if f.err != nil && (f.failOn == "" || f.failOn == c.Method) {
		return f.err
	}
	return nil
}

func (f *fakeReader) Calls() []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]call(nil), f.calls...)
}

func (f *fakeReader) Lists(ctx context.Context) ([]store.List, error) {
	if err := f.record(call{Method: "Lists"}); err != nil {
		return nil, err
	}
	return f.lists, nil
}

func (f *fakeReader) List(ctx context.Context, name string) (*store.List, error) {
	if err := f.record(call{Method: "List", List: name}); err != nil {
		return nil, err
	}
	for i := range f.lists {
		if f.lists[i].Name == name {
			l := f.lists[i]
			return &l, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fakeReader) SeriesList(ctx context.Context, list, status string, p store.Page) ([]store.Series, error) {
	if err := f.record(call{Method: "SeriesList", List: list, Status: status, Page: p}); err != nil {
		return nil, err
	}
	return f.series, nil
}

func (f *fakeReader) Series(ctx context.Context, id int64) (*store.Series, []store.Patch, error) {
	if err := f.record(call{Method: "Series", ID: id}); err != nil {
		return nil, nil, err
	}
	d, ok := f.details[id]
	if !ok {
		return nil, nil, store.ErrNotFound
	}
	return &d.s, d.patches, nil
}

// SeriesInfo is Series without the patches.
func (f *fakeReader) SeriesInfo(ctx context.Context, id int64) (*store.Series, error) {
	if err := f.record(call{Method: "SeriesInfo", ID: id}); err != nil {
		return nil, err
	}
	d, ok := f.details[id]
	if !ok {
		return nil, store.ErrNotFound
	}
	return &d.s, nil
}

func (f *fakeReader) Threads(ctx context.Context, list string, p store.Page) ([]store.Thread, error) {
	if err := f.record(call{Method: "Threads", List: list, Page: p}); err != nil {
		return nil, err
	}
	return f.threads, nil
}

func (f *fakeReader) Raw(ctx context.Context, list, messageID string) ([]byte, error) {
	if err := f.record(call{Method: "Raw", List: list, MsgID: messageID}); err != nil {
		return nil, err
	}
	b, ok := f.raw[[2]string{list, messageID}]
	if !ok {
		return nil, store.ErrNotFound
	}
	return b, nil
}

// ListInfo is List: the fake has no cheaper lookup.
func (f *fakeReader) ListInfo(ctx context.Context, name string) (*store.List, error) {
	return f.List(ctx, name)
}

// MessageExists reads the message: the fake has no cheaper lookup.
func (f *fakeReader) MessageExists(ctx context.Context, list, messageID string) error {
	_, err := f.Raw(ctx, list, messageID)
	return err
}

// ThreadBodies is the thread of one message, its raw bytes as its body.
func (f *fakeReader) ThreadBodies(ctx context.Context, list, messageID string) ([]store.Message, []string, error) {
	b, err := f.Raw(ctx, list, messageID)
	if err != nil {
		return nil, nil, err
	}
	return []store.Message{{List: list, MessageID: messageID}}, []string{string(b)}, nil
}

// The fake archive keeps no other texts, no comments, revision diffs,
// checks, mailing list data or repositories: the rest of the Reader
// answers as an archive without them does. The fakes that embed
// fakeReader add what their tests look at.

func (f *fakeReader) SeriesTexts(ctx context.Context, id int64) (string, map[int]string, map[int]string, error) {
	return "", nil, nil, nil
}

func (f *fakeReader) Revisions(ctx context.Context, id int64) ([]store.Series, error) {
	s, _, err := f.Series(ctx, id)
	if err != nil {
		return nil, err
	}
	return []store.Series{*s}, nil
}

// SetViewed keeps marks of files the fake's series have (in
// Patch.Files), as review.Service does.
func (f *fakeReader) SetViewed(ctx context.Context, userID, seriesID int64, patch int, path string, viewed bool) error {
	_, ps, err := f.Series(ctx, seriesID)
	if err != nil {
		return err
	}
	for _, p := range ps {
		for _, fl := range p.Files {
			if p.Index == patch && (fl.Path == path || fl.OldPath == path) {
				f.mu.Lock()
				defer f.mu.Unlock()
				if f.viewed == nil {
					f.viewed = map[store.ViewedFile]bool{}
				}
				k := store.ViewedFile{UserID: userID, SeriesID: seriesID, Patch: patch, Path: path}
				if viewed {
					f.viewed[k] = true
				} else {
					delete(f.viewed, k)
				}
				return nil
			}
		}
	}
	return store.ErrNotFound
}

func (f *fakeReader) ViewedFiles(ctx context.Context, userID, seriesID int64) ([]store.ViewedFile, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []store.ViewedFile
	for k := range f.viewed {
		if k.UserID == userID && k.SeriesID == seriesID {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b store.ViewedFile) int {
		return cmp.Or(a.Patch-b.Patch, strings.Compare(a.Path, b.Path))
	})
	return out, nil
}

func (f *fakeReader) SeriesDiff(ctx context.Context, id, other int64) (*store.SeriesDiff, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) Thread(ctx context.Context, list, messageID string) (*store.Thread, []store.Message, error) {
	return nil, nil, store.ErrNotFound
}

func (f *fakeReader) ThreadHeaders(ctx context.Context, list, messageID string) (map[uint32]string, error) {
	return map[uint32]string{}, nil
}

func (f *fakeReader) MessageDetail(ctx context.Context, list, messageID string) (*store.Message, []core.Header, string, error) {
	return nil, nil, "", store.ErrNotFound
}

func (f *fakeReader) ListsOf(ctx context.Context, messageID string) ([]string, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) SeriesMbox(ctx context.Context, id int64, w io.Writer) error {
	return store.ErrNotFound
}

func (f *fakeReader) ThreadMboxGz(ctx context.Context, list, messageID string) ([]byte, string, error) {
	return nil, "", store.ErrNotFound
}

func (f *fakeReader) Search(ctx context.Context, lists []string, query string, p store.Page) ([]store.SearchHit, error) {
	return nil, nil
}

func (f *fakeReader) SearchMbox(ctx context.Context, lists []string, query string, w io.Writer) error {
	return store.ErrNotFound
}

func (f *fakeReader) RecentMessages(ctx context.Context, list string, limit int) ([]store.Message, error) {
	return nil, nil
}

func (f *fakeReader) SeriesComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	return nil, nil
}

// SubmitReview answers as review.Service without web reviews.
func (f *fakeReader) SubmitReview(ctx context.Context, d store.ReviewDraft) (string, string, error) {
	return "", "", store.ErrReadOnly
}

func (f *fakeReader) ResolveComment(ctx context.Context, seriesID int64, k store.Resolution, who string, resolved bool) error {
	return store.ErrNotFound
}

func (f *fakeReader) ResolvableComments(ctx context.Context, id int64) ([]store.LineComment, error) {
	return nil, nil
}

// The fake keeps no pending reviews, verdicts or issues.
func (f *fakeReader) DraftComments(ctx context.Context, userID, seriesID int64) ([]store.DraftComment, error) {
	return nil, nil
}

func (f *fakeReader) SaveDraftComment(ctx context.Context, userID, seriesID int64, c store.DraftComment) (*store.DraftComment, error) {
	return nil, store.ErrReadOnly
}

func (f *fakeReader) DeleteDraftComments(ctx context.Context, userID, seriesID int64, ids []int64) error {
	return nil
}

func (f *fakeReader) SubmitPending(ctx context.Context, p store.PendingReview) ([]string, error) {
	return nil, store.ErrReadOnly
}

func (f *fakeReader) Verdicts(ctx context.Context, seriesID int64) ([]store.Verdict, error) {
	return nil, nil
}

func (f *fakeReader) Issues(ctx context.Context, seriesID int64) ([]store.Issue, error) {
	return nil, nil
}

// SetCheck refuses: the fake keeps no checks.
func (f *fakeReader) SetCheck(ctx context.Context, c *store.Check) (*store.Check, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) Checks(ctx context.Context, seriesID int64) ([]store.Check, error) {
	return nil, nil
}

func (f *fakeReader) SeriesSignatures(ctx context.Context, id int64) (map[string]store.MessageSig, error) {
	return f.sigs, nil
}

func (f *fakeReader) CheckByID(ctx context.Context, id int64) (*store.Check, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) Subscribers(ctx context.Context, list, state string) ([]store.Subscriber, error) {
	return nil, nil
}

func (f *fakeReader) HeldMessages(ctx context.Context, list, state string) ([]store.Held, error) {
	return nil, nil
}

func (f *fakeReader) HeldMessage(ctx context.Context, id int64) (*store.Held, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) MessageAuth(ctx context.Context, list, messageID string) (string, error) {
	return "", store.ErrNotFound
}

func (f *fakeReader) ListRepo(ctx context.Context, list string) (*store.ListRepo, error) {
	return nil, store.ErrNotFound
}

func (f *fakeReader) AppliedSeries(ctx context.Context, seriesID int64) (*store.Applied, error) {
	return nil, store.ErrNotFound
}

// Generation fails: the fake's pages are never cached.
func (f *fakeReader) Generation(ctx context.Context) (uint64, error) {
	return 0, errors.New("the fake has no generation")
}

var t0 = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)

// fixture is a small archive: two lists, two series (a v1 and its v2 with
// a cover letter), two threads and a few raw messages.
func fixture() *fakeReader {
	v1 := store.Series{
		ID: 1, List: "dev", Subject: "[PATCH] fix it", Version: 1, Status: store.StatusSuperseded,
		Submitter: core.Person{Name: "Ann", Email: "ann@example.org"}, Total: 1, Received: 1, Complete: true,
		MessageID: "p1@example.org", Date: t0, SupersededBy: 2, ThreadID: 7,
	}
	v2 := store.Series{
		ID: 2, List: "dev", Subject: "[PATCH v2 0/2] fix it", Version: 2, Status: store.StatusProposed,
		Submitter: core.Person{Name: "Ann", Email: "ann@example.org"}, Total: 2, Received: 2, Complete: true,
		MessageID: "c2@example.org", CoverMessageID: "c2@example.org", Date: t0.Add(time.Hour), Previous: 1, ThreadID: 8,
	}
	return &fakeReader{
		lists: []store.List{
			{Name: "dev", Description: "Development", Created: t0, Messages: 12, Series: 2, OpenSeries: 1},
			{Name: "empty", Created: t0},
		},
		series: []store.Series{v2, v1},
		details: map[int64]fakeSeries{
			1: {s: v1, patches: []store.Patch{{
				Index: 1, Subject: "[PATCH] fix it", MessageID: "p1@example.org",
				Author: core.Person{Name: "Ann", Email: "ann@example.org"}, Date: t0,
				CommitSubject: "fix it", PatchID: "abc",
			}}},
			2: {s: v2, patches: []store.Patch{
				{
					Index: 1, Subject: "[PATCH v2 1/2] rename", MessageID: "p21@example.org",
					Author: core.Person{Name: "Bob", Email: "bob@example.org"}, Date: t0.Add(time.Hour),
					CommitSubject: "rename", PatchID: "def",
					Files: []core.File{
						{Path: "new.go", OldPath: "old.go", Added: 1, Deleted: 2},
						{Path: "logo.png", Binary: true},
					},
					Trailers: []core.Trailer{{Key: "Reviewed-by", Value: "Cy <cy@example.org>", FromMessageID: "r1@example.org"}},
				},
				{
					Index: 2, Subject: "[PATCH v2 2/2] empty", MessageID: "p22@example.org",
					Author: core.Person{Name: "Bob", Email: "bob@example.org"}, Date: t0.Add(time.Hour),
					CommitSubject: "empty", PatchID: "ghi", Files: []core.File{}, Trailers: nil,
				},
			}},
		},
		threads: []store.Thread{
			{ID: 8, Subject: "[PATCH v2 0/2] fix it", RootMessageID: "c2@example.org", Messages: 4, FirstDate: t0.Add(time.Hour), LastDate: t0.Add(2 * time.Hour)},
			{ID: 7, Subject: "[PATCH] fix it", RootMessageID: "p1@example.org", Messages: 1, FirstDate: t0, LastDate: t0},
		},
		raw: map[[2]string][]byte{},
	}
}

// testLogger sends logs to the test output.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newServer starts the handler on a real listener; when the test ends it
// checks that no panic was recovered (unless the test expects some).
func newServer(t *testing.T, r Reader, expectPanics int64) string {
	t.Helper()
	h := New(r, Config{Domain: "lists.example.org", SMTPAddr: "mail.example.org:2525"}, testLogger(t))
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		srv.Close()
		if n := h.(*Handler).Panics(); n != expectPanics {
			t.Errorf("Panics() = %d, want %d", n, expectPanics)
		}
	})
	return srv.URL
}

type response struct {
	code   int
	header http.Header
	body   []byte
}

func get(t *testing.T, url string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatalf("NewRequest(%q) = %v", url, err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s = %v", url, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body of %s = %v", url, err)
	}
	return response{res.StatusCode, res.Header, b}
}

func decodeObject(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("json.Unmarshal(%q) = %v", b, err)
	}
	return m
}

func TestHealthz(t *testing.T) {
	base := newServer(t, fixture(), 0)
	res := get(t, base+"/healthz")
	if res.code != http.StatusOK || string(res.body) != "ok" {
		t.Errorf("GET /healthz = %d %q, want 200 \"ok\"", res.code, res.body)
	}
}

func TestPanicRecovered(t *testing.T) {
	f := fixture()
	f.panicOn = "Lists"
	base := newServer(t, f, 2)
	for _, path := range []string{"/api/v1/lists", "/"} {
		res := get(t, base+path)
		if res.code != http.StatusInternalServerError {
			t.Errorf("GET %s = %d, want 500", path, res.code)
		}
	}
	// The server still works after recovering.
	if res := get(t, base+"/healthz"); res.code != http.StatusOK {
		t.Errorf("GET /healthz after panic = %d, want 200", res.code)
	}
}

// TestInvalidText: a client reads the error's own words, not the store's
// generic sentinel that wrapping puts before, inside or after them.
func TestInvalidText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("empty review: write a summary or a comment: %w", store.ErrInvalid), "empty review: write a summary or a comment"},
		{fmt.Errorf("%w: a series compared with itself", store.ErrInvalid), "a series compared with itself"},
		{fmt.Errorf("bad query: %w", fmt.Errorf("%w: nothing to search for in %q", store.ErrInvalid, "s:")), `bad query: nothing to search for in "s:"`},
		{store.ErrInvalid, "invalid request"},
	} {
		if got := invalidText(tc.err); got != tc.want {
			t.Errorf("invalidText(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
