package submit

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cgi"
	"net/mail"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"patchwell/outbound"
	"patchwell/review"
	"patchwell/store"
)

const domain = "lists.test"

func needGit(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("git is needed")
		}
		t.Skip("git is not installed")
	}
}

// run runs a developer's git (author from the environment given).
func run(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	return strings.TrimSpace(runRaw(t, dir, env, args...))
}

// runRaw is run with the output as git wrote it.
func runRaw(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(t.TempDir()), append([]string{"GIT_AUTHOR_NAME=Ada Lovelace", "GIT_AUTHOR_EMAIL=ada@example.org",
		"GIT_COMMITTER_NAME=Ada Lovelace", "GIT_COMMITTER_EMAIL=ada@example.org"}, env...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

type fixture struct {
	ctx    context.Context
	st     *store.DB
	in     *review.Ingester
	svc    *review.Service
	sub    *Service
	user   *store.User
	origin string // the list's repository (bare)
	dev    string // Ada's clone
	pub    string // Ada's public repository (bare), where she pushes branches
	data   string
	cfg    Config
}

func newFixture(t *testing.T, p Policy, lim Limits) *fixture {
	needGit(t)
	f := &fixture{ctx: context.Background()}
	dir := t.TempDir()
	f.data = filepath.Join(dir, "data")
	var err error
	if f.st, err = store.Open(f.ctx, f.data); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.CreateList(f.ctx, store.List{Name: "dev"}); err != nil {
		t.Fatal(err)
	}
	f.in = review.NewIngester(f.st, review.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	t.Cleanup(func() { f.in.Close(); f.st.Close() })
	f.svc = review.NewService(f.st)
	f.user, err = f.st.CreateUser(f.ctx, store.User{Email: "ada@example.org", Name: "Ada Lovelace", Confirmed: true}, "x")
	if err != nil {
		t.Fatal(err)
	}
	f.origin, f.dev, f.pub = filepath.Join(dir, "origin.git"), filepath.Join(dir, "dev"), filepath.Join(dir, "pub.git")
	run(t, dir, nil, "init", "-q", "--bare", "-b", "main", f.origin)
	run(t, dir, nil, "init", "-q", "--bare", "-b", "main", f.pub)
	run(t, dir, nil, "init", "-q", "-b", "main", f.dev)
	f.write(t, "README", "patchwell test\n")
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "base")
	run(t, f.dev, nil, "push", "-q", f.origin, "main")
	if err := f.st.SetListRepo(f.ctx, store.ListRepo{List: "dev", Repo: f.origin, Branch: "main"}); err != nil {
		t.Fatal(err)
	}
	f.cfg = Config{Store: f.st, Poster: f.in, Archive: f.svc,
		Repos: f.st, Domain: domain, DataDir: f.data, Policy: p, Limits: lim}
	f.sub = New(f.cfg)
	return f
}

func (f *fixture) write(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dev, name), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// topic makes branch "topic" off main with three commits, two of them by
// Ada and one by Bob, and pushes it to Ada's public repository.
func (f *fixture) topic(t *testing.T) {
	t.Helper()
	run(t, f.dev, nil, "checkout", "-q", "-B", "topic", "main")
	f.write(t, "a.c", "int a(void)\n{\n\treturn 1;\n}\n")
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "a: add a()", "-m", "The first function.", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	f.write(t, "b.c", "int b(void) \n{\n\treturn 2;\n}\n")
	run(t, f.dev, []string{"GIT_AUTHOR_NAME=Bob Babbage", "GIT_AUTHOR_EMAIL=bob@example.org"}, "add", "-A")
	run(t, f.dev, []string{"GIT_AUTHOR_NAME=Bob Babbage", "GIT_AUTHOR_EMAIL=bob@example.org"}, "commit", "-q", "-m",
		"b: add b(), a function with a subject long enough that a shortlog has to wrap it onto a second line")
	f.write(t, "a.c", "int a(void)\n{\n\treturn 3;\n}\n")
	run(t, f.dev, nil, "commit", "-q", "-am", "a: return 3", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	run(t, f.dev, nil, "push", "-q", "-f", f.pub, "topic")
}

func (f *fixture) prepare(t *testing.T, req store.SubmitRequest) *store.Submission {
	t.Helper()
	if req.List == "" {
		req.List = "dev"
	}
	sub, err := f.sub.Prepare(f.ctx, f.user, req)
	if err != nil {
		t.Fatalf("Prepare(%+v) = %v", req, err)
	}
	return sub
}

func local() Policy { return Policy{AllowLocal: true} }

// mapResolver answers host names from a map, counting the lookups.
type mapResolver struct {
	m     map[string][]string // host -> answers, one per lookup (the last repeats)
	calls atomic.Int32
}

func (r *mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	ans, ok := r.m[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	i := int(r.calls.Add(1)) - 1
	if i >= len(ans) {
		i = len(ans) - 1
	}
	return []netip.Addr{netip.MustParseAddr(ans[i])}, nil
}

// TestRefusals: what the fetch never does, each with a clear message.
func TestRefusals(t *testing.T) {
	res := &mapResolver{m: map[string][]string{"inside.test": {"10.1.2.3"}, "public.test": {"93.184.216.34"}, "meta.test": {"169.254.169.254"}}}
	cases := []struct {
		name string
		p    Policy
		src  Source
		want string
	}{
		{"ftp", Policy{}, Source{"ftp://example.org/r.git", "main"}, `scheme "ftp" is not offered`},
		{"ext", Policy{}, Source{"ext::sh -c touch% /tmp/pwned", "main"}, "give the repository's URL"},
		{"ext no space", Policy{}, Source{"ext::sh", "main"}, "ssh is not offered"},
		{"ssh", Policy{}, Source{"ssh://example.org/r.git", "main"}, `scheme "ssh" is not offered`},
		{"scp-like", Policy{}, Source{"example.org:r.git", "main"}, "ssh is not offered"},
		{"local path", Policy{}, Source{"/srv/git/r.git", "main"}, "local paths are not allowed"},
		{"file URL", Policy{}, Source{"file:///srv/git/r.git", "main"}, "file URLs are not allowed"},
		{"relative path", local(), Source{"r.git", "main"}, "give an absolute path"},
		{"loopback", Policy{}, Source{"http://127.0.0.1:8080/r.git", "main"}, "127.0.0.1 is a loopback address"},
		{"loopback v6", Policy{}, Source{"https://[::1]/r.git", "main"}, "::1 is a loopback address"},
		{"private", Policy{}, Source{"http://192.168.1.10/r.git", "main"}, "192.168.1.10 is a private address"},
		{"link-local", Policy{}, Source{"http://169.254.169.254/latest/meta-data", "main"}, "169.254.169.254 is a link-local address"},
		{"link-local v6", Policy{}, Source{"git://[fe80::1]/r.git", "main"}, "fe80::1 is a link-local address"},
		{"mapped v4", Policy{}, Source{"http://[::ffff:127.0.0.1]/r.git", "main"}, "127.0.0.1 is a loopback address"},
		{"cgnat", Policy{}, Source{"http://100.64.0.1/r.git", "main"}, "100.64.0.1 is a reserved address"},
		{"name of a private address", Policy{Resolver: res}, Source{"https://inside.test/r.git", "main"}, "inside.test resolves to 10.1.2.3 is a private address"},
		{"name of the metadata address", Policy{Resolver: res}, Source{"http://meta.test/r.git", "main"}, "meta.test resolves to 169.254.169.254 is a link-local address"},
		{"unknown host", Policy{Resolver: res}, Source{"https://nowhere.test/r.git", "main"}, "host nowhere.test: no address"},
		{"credentials", Policy{Resolver: res}, Source{"https://u:secret@public.test/r.git", "main"}, "with a user name or password is refused"},
		{"option as branch", Policy{Resolver: res}, Source{"https://public.test/r.git", "--upload-pack=touch"}, "is not a branch name"},
		{"option as URL", Policy{}, Source{"--upload-pack=touch /tmp/x", "main"}, "give the repository's URL"},
		{"loopback allowed, private not", Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Source{"http://10.0.0.1/r.git", "main"}, "10.0.0.1 is a private address"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := c.p.check(context.Background(), c.src)
			var re *RefusedError
			if !errors.As(err, &re) || !strings.Contains(re.Msg, c.want) {
				t.Errorf("check(%q, %q) = %v, want a refusal saying %q", c.src.URL, c.src.Branch, err, c.want)
			}
		})
	}
	ok := []struct {
		p   Policy
		src Source
	}{
		{Policy{Resolver: res}, Source{"https://public.test/r.git", "topic/x-1"}},
		{Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Source{"http://127.0.0.1:8080/r.git", "main"}},
		{Policy{Resolver: res, AllowHosts: []string{"inside.test"}}, Source{"git://inside.test/r.git", "main"}},
		{local(), Source{"/srv/git/r.git", "main"}},
	}
	for _, c := range ok {
		if _, _, err := c.p.check(context.Background(), c.src); err != nil {
			t.Errorf("check(%q) = %v, want allowed", c.src.URL, err)
		}
	}
}

func TestParsePolicy(t *testing.T) {
	p, err := ParsePolicy("file, 127.0.0.0/8,::1,git.internal")
	if err != nil {
		t.Fatal(err)
	}
	if !p.AllowLocal || len(p.AllowNets) != 2 || len(p.AllowHosts) != 1 || p.AllowHosts[0] != "git.internal" {
		t.Errorf("ParsePolicy = %+v", p)
	}
	if err := p.CheckAddr(netip.MustParseAddr("127.0.0.5")); err != nil {
		t.Errorf("127.0.0.5 with 127.0.0.0/8 allowed: %v", err)
	}
	for _, bad := range []string{"10.0.0.0/99", "user@host", "host:22"} {
		if _, err := ParsePolicy(bad); err == nil {
			t.Errorf("ParsePolicy(%q) accepted", bad)
		}
	}
}

// gitHTTP serves the bare repositories under root over git's smart HTTP
// protocol (git http-backend as CGI) on loopback; hits counts requests.
func gitHTTP(t *testing.T, root string) (string, *atomic.Int32) {
	t.Helper()
	backend := "/usr/lib/git-core/git-http-backend"
	if out, err := exec.Command("git", "--exec-path").Output(); err == nil {
		backend = filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	}
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git http-backend: %v", err)
	}
	var hits atomic.Int32
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1); h.ServeHTTP(w, r) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &hits
}

// TestFetchOverHTTP fetches a branch from a real git smart-HTTP server
// through the proxy: refused on loopback by default, fetched when the
// operator allows loopback; the scratch repository is gone after.
func TestFetchOverHTTP(t *testing.T) {
	f := newFixture(t, Policy{}, Limits{})
	f.topic(t)
	addr, hits := gitHTTP(t, filepath.Dir(f.pub))
	url := "http://" + addr + "/pub.git"
	_, err := f.sub.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: url, Branch: "topic"})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "127.0.0.1 is a loopback address") || hits.Load() != 0 {
		t.Fatalf("Prepare from loopback without the operator's leave = %v (%d requests), want a refusal before any request", err, hits.Load())
	}
	f.sub = New(Config{Store: f.st, Poster: f.in, Archive: f.svc, Repos: f.cfg.Repos, Domain: domain, DataDir: f.data,
		Policy: Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}})
	sub := f.prepare(t, store.SubmitRequest{Repo: url, Branch: "topic"})
	if len(sub.Draft.Patches) != 3 || hits.Load() == 0 {
		t.Fatalf("fetched %d patches in %d requests", len(sub.Draft.Patches), hits.Load())
	}
	if base := run(t, f.dev, nil, "rev-parse", "main"); sub.Draft.Base != base {
		t.Errorf("base %s, want the merge-base with main %s", sub.Draft.Base, base)
	}
	if ents, _ := os.ReadDir(filepath.Join(f.data, "submit")); len(ents) != 0 {
		t.Errorf("scratch left behind: %v", ents)
	}
	_, err = f.sub.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: url, Branch: "nosuch"})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "no branch nosuch") {
		t.Errorf("Prepare of a missing branch = %v", err)
	}
}

// TestDNSRebinding: a name that resolves to a public address when the
// URL is checked and to loopback when git connects gets nowhere: the
// address is checked again where the connection is made.
func TestDNSRebinding(t *testing.T) {
	f := newFixture(t, Policy{}, Limits{})
	f.topic(t)
	addr, hits := gitHTTP(t, filepath.Dir(f.pub))
	_, port, _ := net.SplitHostPort(addr)
	for _, scheme := range []string{"http", "https", "git"} {
		res := &mapResolver{m: map[string][]string{"rebind.test": {"93.184.216.34", "127.0.0.1"}}}
		f.sub = New(Config{Store: f.st, Poster: f.in, Archive: f.svc, Repos: f.cfg.Repos, Domain: domain, DataDir: f.data,
			Policy: Policy{Resolver: res}})
		_, err := f.sub.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: scheme + "://rebind.test:" + port + "/pub.git", Branch: "topic"})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "127.0.0.1 is a loopback address") {
			t.Errorf("%s: Prepare through a rebinding name = %v, want the loopback refusal", scheme, err)
		}
		if res.calls.Load() < 2 {
			t.Errorf("%s: the name was looked up %d times, want again at connect time", scheme, res.calls.Load())
		}
	}
	if hits.Load() != 0 {
		t.Errorf("the loopback server got %d requests", hits.Load())
	}
}

// TestLimits: bytes and objects of a fetch, patches of a series, series
// per hour of an account.
func TestLimits(t *testing.T) {
	f := newFixture(t, Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Limits{FetchBytes: 64 << 10})
	f.topic(t)
	big := make([]byte, 256<<10)
	rand.Read(big)
	run(t, f.dev, nil, "checkout", "-q", "-B", "big", "main")
	os.WriteFile(filepath.Join(f.dev, "blob.bin"), big, 0o644)
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "big")
	run(t, f.dev, nil, "push", "-q", f.pub, "big")
	addr, _ := gitHTTP(t, filepath.Dir(f.pub))
	_, err := f.sub.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: "http://" + addr + "/pub.git", Branch: "big"})
	if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "more than") {
		t.Errorf("fetch over the byte limit = %v", err)
	}

	lim := func(l Limits) *Service {
		return New(Config{Store: f.st, Poster: f.in, Archive: f.svc, Repos: f.cfg.Repos, Domain: domain, DataDir: f.data, Policy: local(), Limits: l})
	}
	for _, c := range []struct {
		l    Limits
		want string
	}{
		{Limits{FetchObjects: 3}, "objects, more than 3"},
		{Limits{Patches: 2}, "3 commits: a series may have at most 2 patches"},
		{Limits{SeriesBytes: 1 << 10}, "more than the 1 KiB allowed"},
	} {
		_, err := lim(c.l).Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "topic"})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("limits %+v: Prepare = %v, want %q", c.l, err, c.want)
		}
	}
	busy := lim(Limits{PerHour: 1})
	for i := 0; i < 5; i++ {
		busy.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "nosuch"})
	}
	if _, err := busy.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "nosuch"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "previews in the last hour") {
		t.Errorf("a sixth preview within the hour at 1 series an hour = %v", err)
	}
	s := lim(Limits{PerHour: 1})
	sub, err := s.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "topic"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Send(f.ctx, f.user, sub.ID, store.SubmitEdit{Version: 1}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "needs a cover letter") {
		t.Errorf("Send of 3 patches without a cover letter = %v", err)
	}
	if _, err := s.Send(f.ctx, f.user, sub.ID, store.SubmitEdit{Version: 1, CoverSubject: "Functions", CoverBody: "Two of them."}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "topic"}); !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), "in the last hour") {
		t.Errorf("a second series within the hour = %v", err)
	}
	unconfirmed := *f.user
	unconfirmed.Confirmed = false
	if _, err := f.sub.Prepare(f.ctx, &unconfirmed, store.SubmitRequest{List: "dev", Repo: f.pub, Branch: "topic"}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("Prepare by an unconfirmed user = %v", err)
	}
}

var rangeDiffHashes = regexp.MustCompile(`(?m)^(\s*(?:\d+|-):\s+)([0-9a-f]{7,}|-{7,})( [=!<>] (?:\d+|-):\s+)([0-9a-f]{7,}|-{7,})`)

// normalize blanks the commit ids of range-diff lines (the archive's
// copy of v1 is applied anew, so its commits have other ids).
func normalize(s string) string {
	return rangeDiffHashes.ReplaceAllString(s, "${1}HASH${3}HASH")
}

type parsed struct {
	h    mail.Header
	body string
}

func parseMails(t *testing.T, raws [][]byte) []parsed {
	t.Helper()
	var out []parsed
	for _, r := range raws {
		m, err := mail.ReadMessage(bytes.NewReader(r))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(m.Body)
		out = append(out, parsed{m.Header, string(b)})
	}
	return out
}

func addrs(t *testing.T, h mail.Header, field string) string {
	l, err := h.AddressList(field)
	if err != nil {
		t.Fatalf("%s: %v", field, err)
	}
	var s []string
	for _, a := range l {
		s = append(s, a.String())
	}
	return strings.Join(s, ", ")
}

func ids(s string) []string {
	return strings.Fields(strings.NewReplacer("<", " ", ">", " ").Replace(s))
}

// TestMessagesAsFormatPatch sends v1 of a series, re-rolls it, and
// compares the mails of v2 (and of a one-patch series) with what real
// git format-patch --cover-letter --thread writes for the same commits
// with the same From, To, Cc, Reply-To, version, In-Reply-To, base and
// range-diff: the same subjects, addresses, threading and bodies, byte
// for byte (but the range-diff's commit ids, see normalize).
func TestMessagesAsFormatPatch(t *testing.T) {
	f := newFixture(t, local(), Limits{})
	f.topic(t)
	v1 := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "topic"})
	if v1.Version != 1 || v1.Draft.Previous != nil {
		t.Fatalf("first submission: version %d, previous %+v", v1.Version, v1.Draft.Previous)
	}
	id1, err := f.sub.Send(f.ctx, f.user, v1.ID, store.SubmitEdit{Version: 1, CoverSubject: "*** SUBJECT HERE ***", CoverBody: "*** BLURB HERE ***"})
	if err != nil {
		t.Fatal(err)
	}
	s1, err := f.svc.SeriesInfo(f.ctx, id1)
	if err != nil || s1.Total != 3 || s1.Received != 3 || s1.BaseCommit == "" {
		t.Fatalf("v1 series: %+v, %v", s1, err)
	}
	if _, err := f.sub.Send(f.ctx, f.user, v1.ID, store.SubmitEdit{Version: 1, CoverSubject: "x", CoverBody: "y"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second Send of one draft = %v, want ErrConflict", err)
	}
	run(t, f.dev, nil, "tag", "v1", "topic")

	// v2: the second commit changes.
	run(t, f.dev, nil, "checkout", "-q", "topic~1")
	f.write(t, "b.c", "int b(void)\n{\n\treturn 22;\n}\n")
	run(t, f.dev, nil, "commit", "-q", "-a", "--amend", "--no-edit", "--author=Bob Babbage <bob@example.org>")
	run(t, f.dev, nil, "cherry-pick", "topic")
	run(t, f.dev, nil, "branch", "-f", "topic", "HEAD")
	run(t, f.dev, nil, "checkout", "-q", "topic")
	run(t, f.dev, nil, "push", "-q", "-f", f.pub, "topic")
	v2 := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "topic"})
	if v2.Version != 2 || v2.Draft.Previous == nil || v2.Draft.Previous.SeriesID != id1 || !v2.Draft.Reroll || v2.Draft.RangeDiff == "" {
		t.Fatalf("re-roll: version %d, previous %+v, range-diff %q", v2.Version, v2.Draft.Previous, v2.Draft.RangeDiff)
	}
	if v2.Draft.CoverSubject != "*** SUBJECT HERE ***" {
		t.Errorf("v2's cover subject %q, want v1's offered", v2.Draft.CoverSubject)
	}
	var warned bool
	for _, w := range v2.Draft.Warnings {
		if strings.Contains(w, "patch 2") && strings.Contains(w, "no Signed-off-by") {
			warned = true
		}
	}
	if !warned {
		t.Errorf("warnings %q lack patch 2's missing Signed-off-by", v2.Draft.Warnings)
	}
	v2.Draft.Cc = []string{"Carol <carol@example.org>"}
	now := time.Now()
	mine, err := Write(v2, domain, now)
	if err != nil {
		t.Fatal(err)
	}

	listAddr := "dev@" + domain
	via := "Ada Lovelace via dev <" + listAddr + ">"
	base := run(t, f.dev, nil, "rev-parse", "main")
	fp := runRaw(t, f.dev, []string{"GIT_COMMITTER_NAME=Ada Lovelace via dev", "GIT_COMMITTER_EMAIL=" + listAddr},
		"format-patch", "--stdout", "--cover-letter", "--thread", "--from="+via, "--to="+listAddr,
		"--cc=Ada Lovelace <ada@example.org>", "--cc=Carol <carol@example.org>", "--add-header=Reply-To: Ada Lovelace <ada@example.org>",
		"-v2", "--base="+base, "--in-reply-to="+s1.MessageID, "--range-diff=main..v1", "main..topic")
	compare(t, f, mine, fp)

	// One patch, no cover letter: base-commit at its end.
	run(t, f.dev, nil, "checkout", "-q", "-B", "one", "main")
	f.write(t, "c.c", "int c;\n")
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "c: add c", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	run(t, f.dev, nil, "push", "-q", f.pub, "one")
	one := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "one"})
	if one.Version != 1 || len(one.Draft.Warnings) != 0 {
		t.Errorf("one patch: version %d, warnings %q", one.Version, one.Draft.Warnings)
	}
	mine, err = Write(one, domain, now)
	if err != nil {
		t.Fatal(err)
	}
	fp = runRaw(t, f.dev, nil, "format-patch", "--stdout", "--thread", "--from="+via, "--to="+listAddr,
		"--cc=Ada Lovelace <ada@example.org>", "--add-header=Reply-To: Ada Lovelace <ada@example.org>", "--base="+base, "main..one")
	compare(t, f, mine, fp)
}

// compare checks mine against git format-patch's output fp.
func compare(t *testing.T, f *fixture, mine []Mail, fp string) {
	t.Helper()
	var raws [][]byte
	for _, loc := range fpFrom.FindAllStringIndex(fp, -1) {
		raws = append(raws, []byte(fp[loc[1]:]))
	}
	for i := range raws {
		if i+1 < len(raws) {
			next := fpFrom.FindStringIndex(string(raws[i]))
			raws[i] = raws[i][:next[0]]
		}
	}
	var mineRaw [][]byte
	for _, m := range mine {
		mineRaw = append(mineRaw, m.Raw)
	}
	want, got := parseMails(t, raws), parseMails(t, mineRaw)
	if len(got) != len(want) {
		t.Fatalf("%d mails, git format-patch wrote %d", len(got), len(want))
	}
	idmap := map[string]string{} // git's Message-ID -> ours
	for i := range want {
		idmap[strings.Trim(want[i].h.Get("Message-Id"), "<>")] = mine[i].MessageID
	}
	mapped := func(s string) string {
		var out []string
		for _, id := range ids(s) {
			if m, ok := idmap[id]; ok {
				id = m
			}
			out = append(out, id)
		}
		return strings.Join(out, " ")
	}
	for i := range want {
		w, g := want[i], got[i]
		for _, field := range []string{"From", "To", "Cc", "Reply-To"} {
			if a, b := addrs(t, g.h, field), addrs(t, w.h, field); a != b {
				t.Errorf("mail %d %s: %q, git: %q", i, field, a, b)
			}
		}
		if a, b := g.h.Get("Subject"), strings.Join(strings.Fields(w.h.Get("Subject")), " "); a != b {
			t.Errorf("mail %d Subject: %q, git: %q", i, a, b)
		}
		for _, field := range []string{"In-Reply-To", "References"} {
			if a, b := strings.Join(ids(g.h.Get(field)), " "), mapped(w.h.Get(field)); a != b {
				t.Errorf("mail %d %s: %q, git: %q", i, field, a, b)
			}
		}
		if i > 0 || !strings.Contains(g.h.Get("Subject"), "/") {
			gd, _ := g.h.Date()
			wd, _ := w.h.Date()
			if !gd.Equal(wd) {
				t.Errorf("mail %d Date %v, git: %v", i, gd, wd)
			}
		}
		if a, b := normalize(g.body), normalize(w.body); a != b {
			t.Errorf("mail %d body differs from git format-patch's:\n--- ours\n%s\n--- git\n%s", i, a, b)
		}
	}
}

// TestPaste: git format-patch output pasted (with its cover letter, with
// CRLF line ends, one mail without an mbox line) gives the same patches
// as the branch; what is not format-patch output is refused.
func TestPaste(t *testing.T) {
	f := newFixture(t, local(), Limits{})
	f.topic(t)
	fromBranch := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "topic"})
	fp := run(t, f.dev, nil, "format-patch", "--stdout", "--cover-letter", "--base=main", "main..topic")
	fp = strings.Replace(fp, "*** SUBJECT HERE ***", "Two functions", 1)
	fp = strings.Replace(fp, "*** BLURB HERE ***", "They return numbers.", 1)
	one := run(t, f.dev, nil, "format-patch", "--stdout", "-1", "topic~2")
	for name, text := range map[string]string{
		"mbox with cover": fp,
		"CRLF":            strings.ReplaceAll(fp, "\n", "\r\n"),
	} {
		t.Run(name, func(t *testing.T) {
			sub := f.prepare(t, store.SubmitRequest{Patches: text})
			if len(sub.Draft.Patches) != 3 || sub.Draft.CoverSubject != "Two functions" || sub.Draft.CoverBody != "They return numbers." {
				t.Fatalf("paste: %d patches, cover %q / %q", len(sub.Draft.Patches), sub.Draft.CoverSubject, sub.Draft.CoverBody)
			}
			for i, p := range sub.Draft.Patches {
				b := fromBranch.Draft.Patches[i]
				if p.Author != b.Author || p.Subject != b.Subject || p.Diff != b.Diff || p.Message != b.Message || !p.Date.Equal(b.Date) {
					t.Errorf("patch %d from the paste %+v, from the branch %+v", i+1, p, b)
				}
			}
		})
	}
	headerOnly := one[strings.Index(one, "\n")+1:]
	sub := f.prepare(t, store.SubmitRequest{Patches: headerOnly})
	if len(sub.Draft.Patches) != 1 || sub.Draft.Patches[0].Subject != "a: add a()" || sub.Draft.CoverSubject != "a: add a()" {
		t.Errorf("one mail without its From line: %+v", sub.Draft.Patches)
	}
	for _, c := range []struct{ text, want string }{
		{"hello, please merge my branch", "not git format-patch output"},
		{"From: Ada <ada@example.org>\nSubject: [PATCH] words\n\nNo diff here.\n", "has no diff"},
		{run(t, f.dev, nil, "format-patch", "--stdout", "-1", "topic"), "do not apply"},
	} {
		_, err := f.sub.Prepare(f.ctx, f.user, store.SubmitRequest{List: "dev", Patches: c.text})
		if !errors.Is(err, store.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("paste %.30q: %v, want %q", c.text, err, c.want)
		}
	}
}

// TestSentSeriesApplies: the series sent lands in the archive as one
// series, and git am of its mbox gives the branch's commits with their
// authors.
func TestSentSeriesApplies(t *testing.T) {
	f := newFixture(t, local(), Limits{})
	// Distributed as serve does: the outbox, the subscribers and the Cc's.
	f.in.Close()
	f.in = review.NewIngester(f.st, review.Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Distribute: outbound.NewQueue(f.st, domain, nil, nil).Distribute})
	f.cfg.Poster = f.in
	f.sub = New(f.cfg)
	f.topic(t)
	sub := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "topic"})
	id, err := f.sub.Send(f.ctx, f.user, sub.ID, store.SubmitEdit{Version: 1, RFC: true, CoverSubject: "Add functions", CoverBody: "a and b.",
		Cc: []string{"carol@example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	se, patches, err := f.svc.Series(f.ctx, id)
	if err != nil || se.Total != 3 || len(patches) != 3 || !se.RFC || se.Subject != "Add functions" || !se.Complete {
		t.Fatalf("series %+v (%d patches), %v", se, len(patches), err)
	}
	var mbox bytes.Buffer
	if err := f.svc.SeriesMbox(f.ctx, id, &mbox); err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "clone")
	run(t, filepath.Dir(clone), nil, "clone", "-q", f.origin, clone)
	cmd := exec.Command("git", "am", "--patch-format=mboxrd")
	cmd.Dir, cmd.Stdin = clone, &mbox
	cmd.Env = append(gitEnv(t.TempDir()), "GIT_COMMITTER_NAME=M", "GIT_COMMITTER_EMAIL=m@example.org")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git am: %v\n%s", err, out)
	}
	got := run(t, clone, nil, "log", "--format=%an <%ae> %s%n%b", "origin/main..HEAD")
	want := run(t, f.dev, nil, "log", "--format=%an <%ae> %s%n%b", "main..topic")
	if got != want {
		t.Errorf("applied from the archive:\n%s\nthe branch:\n%s", got, want)
	}
	if a, b := run(t, clone, nil, "rev-parse", "HEAD^{tree}"), run(t, f.dev, nil, "rev-parse", "topic^{tree}"); a != b {
		t.Errorf("tree %s, the branch's %s", a, b)
	}
	raw, err := f.svc.Raw(f.ctx, "dev", se.MessageID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"From: Ada Lovelace via dev <dev@lists.test>", "Reply-To: Ada Lovelace <ada@example.org>",
		"Subject: [RFC PATCH 0/3] Add functions", "carol@example.org"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("cover letter lacks %q:\n%s", want, raw)
		}
	}
}

// TestWarnings: the preview warns about a patch without Signed-off-by,
// whitespace errors (trailing, space before tab in the indent, not in
// the text), a large patch, and a series that does not apply to the
// head of the list's branch (it is sent with its own base).
func TestWarnings(t *testing.T) {
	f := newFixture(t, local(), Limits{PatchBytes: 2 << 10})
	run(t, f.dev, nil, "checkout", "-q", "-B", "topic", "main")
	f.write(t, "README", "patchwell test, changed by the topic\n")
	f.write(t, "w.c", "int w(void)\n{\n \treturn 1;\n\treturn \" \t\";\n}\n")
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "w: add w", "-m", "Signed-off-by: Ada Lovelace <ada@example.org>")
	big := strings.Repeat("a line of a large file\n", 150)
	f.write(t, "big.txt", big)
	run(t, f.dev, nil, "add", "-A")
	run(t, f.dev, nil, "commit", "-q", "-m", "big: add a large file")
	run(t, f.dev, nil, "push", "-q", f.pub, "topic")
	// main moves on and changes README too.
	run(t, f.dev, nil, "checkout", "-q", "main")
	f.write(t, "README", "patchwell test, changed on main\n")
	run(t, f.dev, nil, "commit", "-q", "-am", "README: change")
	run(t, f.dev, nil, "push", "-q", f.origin, "main")
	sub := f.prepare(t, store.SubmitRequest{Repo: f.pub, Branch: "topic"})
	want := []string{
		"does not apply to the head of main",
		"patch 1 (w: add w) adds 1 line(s) with whitespace errors",
		"patch 2 (big: add a large file) has no Signed-off-by: line",
		"patch 2 (big: add a large file) is 3 KiB: many lists and readers refuse mail over 2 KiB",
	}
	all := strings.Join(sub.Draft.Warnings, "\n")
	for _, w := range want {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
	if len(sub.Draft.Warnings) != len(want) {
		t.Errorf("%d warnings, want %d:\n%s", len(sub.Draft.Warnings), len(want), all)
	}
	if base := run(t, f.dev, nil, "rev-parse", "main~1"); sub.Draft.Base != base {
		t.Errorf("base %s, want the merge-base %s", sub.Draft.Base, base)
	}
}

// TestFetchOverGit fetches over git:// from a real git daemon on
// loopback (allowed by the operator) through the relay.
func TestFetchOverGit(t *testing.T) {
	f := newFixture(t, Policy{AllowNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, Limits{})
	f.topic(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	daemon := exec.Command("git", "daemon", "--reuseaddr", "--export-all", "--listen=127.0.0.1", "--port="+port,
		"--base-path="+filepath.Dir(f.pub), filepath.Dir(f.pub))
	daemon.Env = gitEnv(t.TempDir())
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { daemon.Process.Kill(); daemon.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	start := time.Now()
	sub := f.prepare(t, store.SubmitRequest{Repo: "git://127.0.0.1:" + port + "/pub.git", Branch: "topic"})
	t.Logf("prepared over git:// in %v", time.Since(start))
	if len(sub.Draft.Patches) != 3 || sub.Draft.Patches[1].Author.Name != "Bob Babbage" {
		t.Errorf("fetched over git://: %+v", sub.Draft.Patches)
	}
}
