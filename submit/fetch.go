package submit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// A fetch runs git in a scratch repository with a private HOME and no
// system or global configuration (no credentials of the operator's, no
// url rewrites), hooks off, every protocol but http, https and git off
// (file only when the operator allows local paths), and git's network
// traffic through a proxy of ours on loopback: an HTTP proxy for http
// and https (CONNECT), a relay for git:// (git then names the relay in
// its request's host=, which only virtual-hosting daemons read). The
// proxy connects with Policy.Dial, counts the bytes and stops at the
// limit.

// Source is where a series is fetched from.
type Source struct {
	URL    string // http(s)://, git://, or (when allowed) a local path or file://
	Branch string
}

var branchName = regexp.MustCompile(`^[A-Za-z0-9._/+-]{1,200}$`)

// check validates a source against the policy before anything runs;
// errors are *RefusedError, worded for the user.
func (p *Policy) check(ctx context.Context, s Source) (*url.URL, bool, error) {
	refuse := func(f string, a ...any) (*url.URL, bool, error) {
		return nil, false, &RefusedError{Msg: fmt.Sprintf(f, a...)}
	}
	if s.URL == "" || strings.HasPrefix(s.URL, "-") || strings.ContainsAny(s.URL, " \t\r\n\x00") || len(s.URL) > 2000 {
		return refuse("give the repository's URL (http, https or git)")
	}
	if !branchName.MatchString(s.Branch) || strings.HasPrefix(s.Branch, "-") || strings.Contains(s.Branch, "..") ||
		strings.HasSuffix(s.Branch, ".lock") || strings.HasSuffix(s.Branch, "/") || strings.HasPrefix(s.Branch, "/") {
		return refuse("%q is not a branch name", s.Branch)
	}
	if !strings.Contains(s.URL, "://") {
		if strings.Contains(s.URL, ":") && !strings.HasPrefix(s.URL, "/") {
			return refuse("%s: ssh is not offered; give an http, https or git URL", s.URL)
		}
		if !p.AllowLocal {
			return refuse("%s: local paths are not allowed here; give an http, https or git URL", s.URL)
		}
		if !filepath.IsAbs(s.URL) {
			return refuse("%s: give an absolute path", s.URL)
		}
		return &url.URL{Scheme: "file", Path: s.URL}, true, nil
	}
	u, err := url.Parse(s.URL)
	if err != nil {
		return refuse("%s: not a URL", s.URL)
	}
	switch u.Scheme {
	case "http", "https", "git":
	case "file":
		if !p.AllowLocal {
			return refuse("%s: file URLs are not allowed here; give an http, https or git URL", s.URL)
		}
		if u.Host != "" && u.Host != "localhost" {
			return refuse("%s: a file URL names no host", s.URL)
		}
		return u, true, nil
	default:
		return refuse("%s: the scheme %q is not offered; give an http, https or git URL", s.URL, u.Scheme)
	}
	if u.User != nil {
		return refuse("%s: a URL with a user name or password is refused; the repository must be public", u.Redacted())
	}
	if u.Hostname() == "" {
		return refuse("%s: no host", s.URL)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return refuse("%s: bad port", s.URL)
		}
	}
	if _, err := p.lookup(ctx, u.Hostname()); err != nil {
		return nil, false, err
	}
	return u, false, nil
}

// gitEnv is the environment of every git this package runs.
func gitEnv(home string) []string {
	var out []string
	for _, e := range os.Environ() {
		k, _, _ := strings.Cut(e, "=")
		switch {
		case strings.HasPrefix(k, "GIT_"), k == "HOME", k == "XDG_CONFIG_HOME", k == "LC_ALL", k == "LANG",
			strings.EqualFold(k, "http_proxy"), strings.EqualFold(k, "https_proxy"), strings.EqualFold(k, "all_proxy"),
			strings.EqualFold(k, "no_proxy"), k == "SSH_ASKPASS", k == "SSH_AUTH_SOCK", k == "CURL_CA_BUNDLE":
			continue
		}
		out = append(out, e)
	}
	return append(out, "HOME="+home, "XDG_CONFIG_HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_TERMINAL_PROMPT=0", "GIT_ASKPASS=/bin/false", "LC_ALL=C")
}

// repo is a scratch repository; git runs git in it.
type repo struct {
	dir, home string
	local     bool   // file protocol allowed (a local source)
	proxy     string // http.proxy, when fetching over the network
	limit     int64  // bytes of output kept
}

// maxGitOutput bounds git's output kept in memory (a diff of the whole
// series is bounded by the series limit before it is asked for).
const maxGitOutput = 64 << 20

func (r *repo) git(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	base := []string{"-c", "core.hooksPath=/dev/null", "-c", "commit.gpgSign=false", "-c", "core.fsmonitor=false",
		"-c", "protocol.allow=never", "-c", "protocol.http.allow=always", "-c", "protocol.https.allow=always",
		"-c", "protocol.git.allow=always", "-c", "submodule.recurse=false", "-c", "fetch.recurseSubmodules=false",
		"-c", "credential.helper=", "-c", "core.askPass=/bin/false", "-c", "http.followRedirects=initial",
		"-c", "gc.auto=0", "-c", "core.quotePath=false", "-c", "diff.noprefix=false", "-c", "format.coverLetter=false",
		"-c", "user.name=patchwell", "-c", "user.email=submit@patchwell.invalid"}
	if r.local {
		base = append(base, "-c", "protocol.file.allow=always")
	} else {
		base = append(base, "-c", "protocol.file.allow=never")
	}
	if r.proxy != "" {
		base = append(base, "-c", "http.proxy="+r.proxy)
	}
	cmd := exec.CommandContext(ctx, "git", append(base, args...)...)
	cmd.Dir = r.dir
	cmd.Env = gitEnv(r.home)
	cmd.WaitDelay = 5 * time.Second
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	limit := r.limit
	if limit == 0 {
		limit = maxGitOutput
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &cappedWriter{b: &out, max: limit}, &cappedWriter{b: &errb, max: 64 << 10}
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return out.Bytes(), ctx.Err()
		}
		return out.Bytes(), &GitError{Args: args, Output: strings.TrimSpace(errb.String()), Err: err}
	}
	return out.Bytes(), nil
}

// GitError is a git command that failed, with what it said.
type GitError struct {
	Args   []string
	Output string
	Err    error
}

func (e *GitError) Error() string {
	return fmt.Sprintf("git %s: %v: %s", strings.Join(e.Args, " "), e.Err, e.Output)
}

type cappedWriter struct {
	b   *bytes.Buffer
	max int64
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	if room := c.max - int64(c.b.Len()); room > 0 {
		c.b.Write(p[:min(int64(len(p)), room)])
	}
	return len(p), nil
}

// proxy is the loopback HTTP proxy (and git:// relay) a fetch's git goes
// through.
type proxy struct {
	p       *Policy
	ln      net.Listener
	relay   net.Listener // git://
	target  string       // host:port the relay connects to
	max     int64
	n       atomic.Int64
	mu      sync.Mutex
	refused error // the first refusal, for the user
	wg      sync.WaitGroup
	ctx     context.Context
	conns   sync.Map
}

func newProxy(ctx context.Context, p *Policy, max int64) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	px := &proxy{p: p, ln: ln, max: max, ctx: ctx}
	srv := &http.Server{Handler: px, ReadHeaderTimeout: 10 * time.Second}
	px.wg.Add(1)
	go func() { defer px.wg.Done(); srv.Serve(ln) }()
	return px, nil
}

func (px *proxy) URL() string { return "http://" + px.ln.Addr().String() }

// startRelay listens for git's git:// connection and relays it to
// target (host:port), returning the address git should use instead.
func (px *proxy) startRelay(target string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	px.relay, px.target = ln, target
	px.wg.Add(1)
	go func() {
		defer px.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			px.wg.Add(1)
			go func() {
				defer px.wg.Done()
				defer c.Close()
				up, err := px.dial(target)
				if err != nil {
					return
				}
				defer up.Close()
				px.pipe(c, up)
			}()
		}
	}()
	return ln.Addr().String(), nil
}

func (px *proxy) close() {
	px.ln.Close()
	if px.relay != nil {
		px.relay.Close()
	}
	px.conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
	px.wg.Wait()
}

func (px *proxy) refuse(err error) {
	px.mu.Lock()
	if px.refused == nil {
		px.refused = err
	}
	px.mu.Unlock()
}

func (px *proxy) err() error {
	px.mu.Lock()
	defer px.mu.Unlock()
	return px.refused
}

var errTooBig = errors.New("too big")

func (px *proxy) dial(hostport string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(px.ctx, 20*time.Second)
	defer cancel()
	c, err := px.p.Dial(ctx, "tcp", hostport)
	if err != nil {
		var re *RefusedError
		if errors.As(err, &re) {
			px.refuse(re)
		}
		return nil, err
	}
	px.conns.Store(c, true)
	return c, nil
}

// count adds n bytes to the fetch and reports whether it is still
// within the limit.
func (px *proxy) count(n int) bool {
	if px.n.Add(int64(n)) > px.max {
		px.refuse(&RefusedError{Msg: fmt.Sprintf("refused: the repository sent more than %d MiB; push the branch to a smaller repository, or paste the patches", px.max>>20)})
		return false
	}
	return true
}

type countingReader struct {
	r  io.Reader
	px *proxy
}

func (c countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 && !c.px.count(n) {
		return 0, errTooBig
	}
	return n, err
}

func (px *proxy) pipe(client, up net.Conn) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, client); done <- struct{}{} }()
	go func() { io.Copy(client, countingReader{up, px}); done <- struct{}{} }()
	<-done
	client.Close()
	up.Close()
	<-done
}

// ServeHTTP is the proxy: CONNECT for https, absolute URLs for http.
func (px *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		up, err := px.dial(r.Host)
		if err != nil {
			http.Error(w, "refused", http.StatusForbidden)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			up.Close()
			return
		}
		client, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		px.conns.Store(client, true)
		client.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
		if n := buf.Reader.Buffered(); n > 0 {
			b, _ := buf.Reader.Peek(n)
			up.Write(b)
		}
		px.pipe(client, up)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "not a proxy request", http.StatusBadRequest)
		return
	}
	tr := &http.Transport{Proxy: nil, DisableKeepAlives: true, ResponseHeaderTimeout: 30 * time.Second,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) { return px.dial(addr) }}
	defer tr.CloseIdleConnections()
	out := r.Clone(px.ctx)
	out.RequestURI = ""
	for _, h := range []string{"Proxy-Connection", "Proxy-Authorization", "Connection", "Keep-Alive", "Te", "Trailer", "Upgrade"} {
		out.Header.Del(h)
	}
	resp, err := tr.RoundTrip(out)
	if err != nil {
		http.Error(w, "refused", http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	w.WriteHeader(resp.StatusCode)
	io.Copy(w, countingReader{resp.Body, px})
}

// fetch fetches s's branch into r (refs/submit/tip) within the limits
// and returns the commit it names.
func (s *Service) fetch(ctx context.Context, r *repo, src Source) (string, error) {
	u, local, err := s.policy.check(ctx, src)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.limits.FetchTime)
	defer cancel()
	remote := u.String()
	if local {
		r.local = true
		defer func() { r.local = false }()
		remote = u.Path
	} else {
		px, err := newProxy(ctx, &s.policy, s.limits.FetchBytes)
		if err != nil {
			return "", err
		}
		defer px.close()
		if u.Scheme == "git" {
			port := u.Port()
			if port == "" {
				port = "9418"
			}
			addr, err := px.startRelay(net.JoinHostPort(u.Hostname(), port))
			if err != nil {
				return "", err
			}
			ru := *u
			ru.Host = addr
			remote = ru.String()
		} else {
			r.proxy = px.URL()
			defer func() { r.proxy = "" }()
		}
		tip, ferr := r.fetchRef(ctx, remote, src.Branch)
		if rerr := px.err(); rerr != nil {
			return "", rerr
		}
		if ferr != nil {
			return "", fetchFailed(ctx, src, ferr, s.limits.FetchTime)
		}
		return tip, s.checkObjects(ctx, r)
	}
	tip, err := r.fetchRef(ctx, remote, src.Branch)
	if err != nil {
		return "", fetchFailed(ctx, src, err, s.limits.FetchTime)
	}
	return tip, s.checkObjects(ctx, r)
}

func (r *repo) fetchRef(ctx context.Context, remote, branch string) (string, error) {
	if _, err := r.git(ctx, nil, "fetch", "--no-tags", "--no-recurse-submodules", "--no-write-fetch-head", "--quiet",
		"--", remote, "+refs/heads/"+branch+":refs/submit/tip"); err != nil {
		return "", err
	}
	out, err := r.git(ctx, nil, "rev-parse", "--verify", "refs/submit/tip^{commit}")
	return strings.TrimSpace(string(out)), err
}

// fetchFailed words a failed fetch for the user.
func fetchFailed(ctx context.Context, src Source, err error, d time.Duration) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return &RefusedError{Msg: fmt.Sprintf("fetching %s took longer than %s", src.URL, d)}
	}
	var ge *GitError
	if errors.As(err, &ge) {
		msg := ge.Output
		if i := strings.LastIndex(msg, "fatal: "); i >= 0 {
			msg = msg[i+len("fatal: "):]
		}
		if strings.Contains(msg, "couldn't find remote ref") {
			msg = "no branch " + src.Branch
		}
		if len(msg) > 300 {
			msg = msg[:300]
		}
		return &RefusedError{Msg: fmt.Sprintf("could not fetch %s from %s: %s", src.Branch, src.URL, strings.TrimSpace(msg))}
	}
	return err
}

// checkObjects refuses a fetch that brought more objects or bytes than
// the limits allow.
func (s *Service) checkObjects(ctx context.Context, r *repo) error {
	out, err := r.git(ctx, nil, "count-objects", "-v")
	if err != nil {
		return err
	}
	var count, inPack, sizeKiB, packKiB int64
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ": ")
		n, _ := strconv.ParseInt(v, 10, 64)
		switch k {
		case "count":
			count = n
		case "in-pack":
			inPack = n
		case "size":
			sizeKiB = n
		case "size-pack":
			packKiB = n
		}
	}
	if count+inPack > s.limits.FetchObjects {
		return &RefusedError{Msg: fmt.Sprintf("refused: the branch brought %d objects, more than %d", count+inPack, s.limits.FetchObjects)}
	}
	if (sizeKiB+packKiB)<<10 > s.limits.FetchBytes {
		return &RefusedError{Msg: fmt.Sprintf("refused: the branch brought %d MiB, more than %d MiB", (sizeKiB+packKiB)>>10, s.limits.FetchBytes>>20)}
	}
	return nil
}
