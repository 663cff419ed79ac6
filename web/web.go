// Package web serves patchwell over HTTP: the JSON API under /api/v1, raw
// messages at /{list}/{message-id}/raw, the HTML pages, sign-in and account
// pages, and /healthz, /readyz and /livez.
//
// It owns request routing, the JSON shapes of the API (a contract: fields may
// be added, never renamed or removed), HTML rendering from embedded templates,
// request logging, panic recovery, sessions and CSRF checks. It writes
// nothing itself: data comes through the Reader interface (reader.go, a few
// small interfaces grouped by area), and account actions (sign-in, tokens,
// status changes) through Accounts, both declared here and implemented by
// the review layer; the maintainer's workload (delegation, bulk actions,
// archiving, the status mail setting) through Workload, implemented by
// the store; the wiring proves that at compile time. Every access to a list's data is
// decided by access.Allowed (see authorize in auth.go). It imports no other
// patchwell package than store, for the shared data types, and access.
package web

import (
	"context"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"patchwell/store"
)

// Config is what the web side shows about the installation.
type Config struct {
	// Domain is the mail domain: a list's address is name@Domain.
	Domain string
	// BaseURL is the site's address as readers reach it, without a
	// trailing slash (serve --public-url, default http://HTTP-ADDR): the
	// absolute links of pages, feeds and mail (sign-up confirmations).
	BaseURL string
	// SMTPAddr is the host:port of the SMTP listener, shown on the home
	// page in the git send-email example. An empty or unspecified host is
	// replaced by Domain; a missing port means 25.
	SMTPAddr string
	// Accounts, when set, enables sign-in, sessions, API tokens, roles and
	// maintainer actions; without it every request is anonymous.
	Accounts Accounts
	// Signup lets visitors create accounts (confirmed by e-mail).
	Signup bool
	// Apply applies a series to its list's repository as by (an
	// address) and returns the "Applied, thanks" text
	// (gitrepo.Applier.ApplySeries); a refusal is an error that is
	// store.ErrConflict (409), store.ErrInvalid (422) or
	// store.ErrNotFound (404), worded for the user; nil: the apply
	// routes answer 404.
	Apply func(ctx context.Context, seriesID int64, by string) (string, error)
	// PathFlags, when set, checks a series' diffs (one per patch, in
	// order) for paths a reviewer should look at and paths apply
	// refuses (gitrepo.CheckPatches); the series page shows them as a
	// warning, GET /api/v1/series/{id} as "flags". An error says why the
	// diffs could not be checked.
	PathFlags func(diffs []string) ([]PathFlag, error)
	// BaseFile, when set, returns the file at path in commit (a series'
	// base commit) from the list's repository, for the lines a diff
	// leaves out (context.go); an error wrapping store.ErrNotFound when
	// the list has no repository or the repository no such commit or
	// file, or refuses the path. The path comes from a patch: BaseFile
	// checks it. nil: no context links.
	BaseFile func(ctx context.Context, list, commit, path string) ([]byte, error)
	// CIRelease gives a first-time contributor's series the maintainer's
	// go-ahead to run CI (store.ErrNotFound: no job; store.ErrConflict:
	// the job is not held); nil: the route answers 404.
	CIRelease func(ctx context.Context, seriesID int64) error
	// CIRerun queues a series' CI job again (a maintainer's re-run);
	// nil: its routes answer 404.
	CIRerun CIRerunner
	// SendMail sends a message the site writes (the sign-up
	// confirmation) to one address; nil writes the link to the log
	// instead, for the operator to pass on.
	SendMail func(ctx context.Context, to, subject, body string) error
	// SecureCookies marks the session cookie Secure even on plain HTTP
	// requests: the site is behind an https proxy.
	SecureCookies bool
	// Lists, when set, is the mailing list (package lists): the subscribe
	// form, confirmation and one-click unsubscribe pages, the moderation
	// queue and its API (mlist.go). Without it these routes answer 404.
	Lists ListServer
	// UnsubscribeCheck verifies the token of a one-click unsubscribe link
	// /{list}/unsubscribe?t=TOKEN and returns the address it was made
	// for (outbound.CheckUnsubscribeToken with the server's secret); nil
	// refuses every link.
	UnsubscribeCheck func(list, token string) (email string, ok bool)
	// Notify, when set, is told of status changes and checks made
	// through the web (the webhook dispatcher).
	Notify Notifier
	// Health, when set, is asked by GET /healthz and /readyz (/livez
	// answers 200 while the process serves at all): nil answers 200 "ok",
	// an error 503 with its text (one line; keep it free of secrets).
	Health func(ctx context.Context) error
	// Submit, when set, lets signed-in users with a confirmed address send
	// series from the browser (submit.go: a form on each list, a preview,
	// Send); nil: its routes answer 404.
	Submit Submitter
	// Bundles, when set, are the users' bundles of patches (bundles.go:
	// the bundle page and its mbox, /account/bundles, the series page's
	// "add to bundle" form); nil: their routes answer 404.
	Bundles Bundles
	// NeedsMe, when set, serves "needs me" (needsme.go): the page, its
	// feed and feed tokens; nil: their routes answer 404.
	NeedsMe NeedsMe
	// Workload, when set, is the maintainer's workload: delegation on the
	// series page, bulk actions and the archived filter on the list page,
	// the account's status mail setting (delegate.go, bulk.go); nil:
	// their routes answer 404.
	Workload Workload
	// Observe, when set, is told of every request once it is answered:
	// the route pattern that matched ("GET /{list}/{rest...}"; "" for
	// none), the status written (0: none, sent as 200) and how long it
	// took (metrics). It must not block.
	Observe func(route string, status int, d time.Duration)
}

// Limits on untrusted request input.
const (
	// maxMessageIDLen bounds a Message-ID taken from a URL (RFC 5322 lines
	// are at most 998 octets).
	maxMessageIDLen = 998
	// maxListNameLen bounds a list name taken from a URL.
	maxListNameLen = 255
	// maxQueryLen bounds the raw query string of API requests.
	maxQueryLen = 1024
)

// Handler is the http.Handler returned by New. Besides serving it counts the
// panics it recovered from (see Panics).
type Handler struct {
	r       Reader
	cfg     Config
	log     *slog.Logger
	mux     *routeMux
	tmpl    *template.Template
	acc     Accounts
	cop     *http.CrossOriginProtection
	limit   *limiter // sign-up, subscribing (mlist.go), sign-in per (address, account)
	signins *limiter // sign-in per address, over every account
	tmplErr error
	pages   *pageCache // cache.go

	reqs   atomic.Uint64 // request ids
	panics atomic.Int64
}

// New returns the HTTP handler of patchwell: API, raw messages, home page and
// health check, wrapped in request logging and panic recovery. A nil log
// discards logs. The returned value is a *Handler.
func New(r Reader, cfg Config, log *slog.Logger) http.Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{r: r, cfg: cfg, log: log, mux: &routeMux{ServeMux: http.NewServeMux()}, acc: cfg.Accounts,
		cop: http.NewCrossOriginProtection(), limit: newLimiter(10, 6*time.Second), signins: newLimiter(30, 2*time.Second),
		pages: newPageCache()}
	h.tmpl, h.tmplErr = parseTemplates()
	if h.tmplErr != nil {
		log.Error("parse templates", "err", h.tmplErr)
	}

	// Go 1.22 patterns: the most specific one wins, so the API routes take
	// precedence over the raw-message catch-all /{list}/{rest...}.
	h.mux.HandleFunc("GET /{$}", h.home)
	h.mux.HandleFunc("GET /healthz", h.healthz)
	h.mux.HandleFunc("GET /readyz", h.healthz)
	h.mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write([]byte("ok\n"))
	})
	h.mux.HandleFunc("GET /api/v1/lists", h.apiLists)
	h.mux.HandleFunc("GET /api/v1/lists/{name}", h.apiList)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/series", h.apiSeriesList)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/threads", h.apiThreads)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/threads/{msgid...}", h.apiThread)
	h.mux.HandleFunc("GET /api/v1/lists/{name}/messages/{msgid...}", h.apiMessage)
	h.mux.HandleFunc("GET /api/v1/series/{id}", h.apiSeries)
	h.mux.HandleFunc("GET /api/v1/series/{id}/mbox", h.seriesMbox)
	h.mux.HandleFunc("GET /series/{id}/{$}", func(w http.ResponseWriter, r *http.Request) {
		h.cached(w, r, func(w http.ResponseWriter) { h.seriesPage(w, r) })
	})
	h.mux.HandleFunc("GET /series/{id}/diff/{other}/{$}", h.seriesDiffPage)
	h.mux.HandleFunc("GET /api/v1/series/{id}/diff/{other}", h.apiSeriesDiff)
	h.mux.HandleFunc("GET /static/style.css", static("text/css; charset=utf-8", styleCSS))
	h.mux.HandleFunc("GET /static/review.js", static("text/javascript; charset=utf-8", reviewJS))
	h.mux.HandleFunc("POST /{list}/{$}", h.search)
	h.mux.HandleFunc("GET /{list}/{rest...}", h.raw)
	h.mux.HandleFunc("GET /", h.notFound)
	// An unknown API path is not a list ("api" is a reserved list name).
	h.mux.HandleFunc("GET /api/{rest...}", h.notFound)
	h.authRoutes()
	h.commentRoutes()
	h.verdictRoutes()
	h.mux.HandleFunc("POST /series/{id}/viewed", h.viewedForm)
	h.mux.HandleFunc("GET /series/{id}/context", h.contextLines)
	h.mlistRoutes()
	h.ciReleaseRoutes()
	h.applyRoutes()
	h.checkRoutes()
	h.dashRoutes()
	h.ciRerunRoutes()
	h.pickerRoutes()
	h.submitRoutes()
	h.bundleRoutes()
	h.needsMeRoutes()
	h.workloadRoutes()
	return h
}

// Panics reports how many handler panics were recovered. Tests fail when it
// is not zero.
func (h *Handler) Panics() int64 { return h.panics.Load() }

// ServeHTTP logs the request with a child logger and recovers from panics.
// Errors of the Reader are logged here, once, at the request boundary.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rw := &recorder{ResponseWriter: w}
	log := h.log.With("req", strconv.FormatUint(h.reqs.Add(1), 10))
	var route string // the pattern, a bounded label for metrics
	if h.cfg.Observe != nil {
		_, route = h.mux.Handler(r)
	}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				// net/http's way to abort a response; not a bug.
				panic(v)
			}
			h.panics.Add(1)
			log.Error("panic in handler", "method", r.Method, "path", r.URL.Path,
				"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			if !rw.wrote {
				h.httpError(rw, r, http.StatusInternalServerError, "internal error")
			}
			return
		}
		if h.cfg.Observe != nil {
			h.cfg.Observe(route, rw.status, time.Since(start))
		}
		attrs := []any{"method", r.Method, "path", r.URL.Path, "status", rw.status, "dur", time.Since(start)}
		if rw.err != nil {
			log.Error("request failed", append(attrs, "err", rw.err)...)
			return
		}
		log.Debug("request", attrs...)
	}()
	h.serve(rw, r)
}

// routeMux is the ServeMux that remembers its patterns, so that a test can
// walk every route (the private-list test does).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) HandleFunc(pattern string, fn func(http.ResponseWriter, *http.Request)) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.HandleFunc(pattern, fn)
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

// recorder remembers the status written and the internal error, if any, to
// be logged once by ServeHTTP.
type recorder struct {
	http.ResponseWriter
	status int
	wrote  bool
	err    error
}

func (rw *recorder) WriteHeader(code int) {
	if !rw.wrote {
		rw.status, rw.wrote = code, true
	}
	rw.ResponseWriter.WriteHeader(code)
}

func (rw *recorder) Write(b []byte) (int, error) {
	if !rw.wrote {
		rw.status, rw.wrote = http.StatusOK, true
	}
	return rw.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (rw *recorder) Unwrap() http.ResponseWriter { return rw.ResponseWriter }

// invalidText is the message of a store.ErrInvalid error for the client:
// the error's own words, without the sentinel's generic "invalid request"
// that wrapping leaves at its start, middle or end.
func invalidText(err error) string {
	s := err.Error()
	sentinel := store.ErrInvalid.Error()
	for _, cut := range []string{": " + sentinel, sentinel + ": "} {
		if t := strings.Replace(s, cut, "", 1); t != s && t != "" {
			return t
		}
	}
	return s
}

// healthz answers load balancers: 200 "ok" when Config.Health says the
// node can work (its store answers, its data directory is writable),
// 503 and the reason, on one line, when not.
func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if h.cfg.Health != nil {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := h.cfg.Health(ctx); err != nil {
			msg := strings.Join(strings.Fields(err.Error()), " ")
			if len(msg) > 300 {
				msg = strings.ToValidUTF8(msg[:300], "")
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("unavailable: " + msg + "\n"))
			return
		}
	}
	_, _ = w.Write([]byte("ok"))
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	h.httpError(w, r, http.StatusNotFound, "not found")
}
