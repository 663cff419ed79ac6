// Package server builds one patchwell node from its Config and runs it:
// the store, the one road to a list (review.Ingester) and its commit
// hook, the mailing list (lists), the outbound queue and its worker, the
// web UI and API, IMAP, SMTP and LMTP, CI, webhooks and metrics, wired
// together. It owns the order of things (every socket is bound before
// the store is touched; shutdown stops intake, then drains), not their
// policy, which is in the packages it wires. cmd/patchwell's serve only
// turns flags into a Config and runs it until a signal.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"patchwell/b4send"
	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/imapd"
	"patchwell/lists"
	"patchwell/mailauth"
	"patchwell/metrics"
	"patchwell/notify"
	"patchwell/outbound"
	"patchwell/pwapi"
	"patchwell/review"
	"patchwell/smtpd"
	"patchwell/store"
	"patchwell/submit"
	"patchwell/web"
	"patchwell/webhook"
)

// Config is one node's configuration: serve's flags.
type Config struct {
	// Data is the data directory (absolute): the SQLite database unless
	// DB names PostgreSQL, repository mirrors, CI work, the lock.
	Data string
	DB   string
	// Listen addresses; "" disables. LMTP may be a unix socket's path.
	// Metrics serves /metrics and /healthz apart from the public web.
	SMTP, LMTP, HTTP, IMAP, IMAPS, Metrics string
	// TLSCert and TLSKey (PEM files) give IMAP STARTTLS and IMAPS.
	TLSCert, TLSKey string
	IMAPMaxPerIP    int
	// IMAPPoll is how often IDLE looks for mail another process
	// committed (this node's commits wake it at once).
	IMAPPoll time.Duration
	// Domain is the mail domain: lists are NAME@Domain.
	Domain string
	// NoDefaultList: do not create the list dev in an empty store.
	NoDefaultList  bool
	MaxMessageSize int64
	Signup         bool
	SecureCookies  bool
	// Smarthost delivers list mail (HOST:PORT; "" leaves it queued).
	Smarthost, SmarthostUser, SmarthostPasswordFile string
	SmarthostStartTLS                               bool
	// PublicURL is the web UI's address as people reach it, for links in
	// pages, feeds and mail (default http://HTTP).
	PublicURL string
	// MailAuth verifies DKIM, SPF and DMARC of posts; Resolver is the
	// DNS server for it (HOST:PORT; "" the system's).
	MailAuth bool
	Resolver string
	// CI runs checks on complete revisions; CIGrace runs an incomplete
	// one after this long (0 never); CIMail replies with the summary.
	CI      bool
	CIGrace time.Duration
	CIMail  bool
	// CIQueueOnly queues CI jobs for remote runners and runs none here.
	CIQueueOnly bool
	// ProxyProtocolFrom lists the load balancers (addresses, CIDRs)
	// whose connections start with a PROXY protocol header.
	ProxyProtocolFrom string
	// SubmitAllowHosts is what a series submitted from the browser may
	// be fetched from besides public http(s) and git URLs
	// (submit.ParsePolicy: "file" for local paths, address prefixes,
	// host names).
	SubmitAllowHosts string
	// DrainDelay is how long a node keeps serving after SIGTERM with its
	// health checks already failing (a load balancer's time to stop
	// sending); DrainTimeout bounds what comes after: transactions,
	// requests and IMAP sessions finishing (default 30 s).
	DrainDelay, DrainTimeout time.Duration
	// Lists are the lists the configuration file declares, reconciled
	// when the node starts (Server.Reconcile does it again on SIGHUP);
	// with any, no default list is made.
	Lists []ListDecl
}

// ConfigError is a Config that cannot run as given (the command line's
// mistake, not a fault).
type ConfigError struct{ Msg string }

func (e *ConfigError) Error() string { return e.Msg }

// Check reports, as a ConfigError, what in c cannot run; it touches
// nothing (no socket, file or store), so `patchwell config check` can
// call it.
func (c Config) Check() error {
	if c.IMAPS != "" && (c.TLSCert == "" || c.TLSKey == "") {
		return &ConfigError{"--imaps needs --tls-cert and --tls-key"}
	}
	if c.DrainDelay < 0 || c.DrainTimeout < 0 {
		return &ConfigError{"--drain-delay and --drain-timeout cannot be negative"}
	}
	if c.CIGrace < 0 {
		return &ConfigError{fmt.Sprintf("--ci-grace %s: negative (0 never runs incomplete revisions)", c.CIGrace)}
	}
	if (c.SmarthostUser == "") != (c.SmarthostPasswordFile == "") {
		return &ConfigError{"--smarthost-user and --smarthost-password-file go together"}
	}
	if _, _, err := proxyListen(c.ProxyProtocolFrom); err != nil {
		return &ConfigError{err.Error()}
	}
	if _, err := submit.ParsePolicy(c.SubmitAllowHosts); err != nil {
		return &ConfigError{"--" + err.Error()}
	}
	return nil
}

// Server is one running node.
type Server struct {
	cfg    Config
	log    *slog.Logger
	ls     listeners
	unlock func()
	st     *store.DB

	in      *review.Ingester
	worker  *outbound.Worker
	hooks   *webhook.Dispatcher
	notices *notify.Worker
	sched   *ci.Scheduler
	applier *gitrepo.Applier
	mets    *metrics.Metrics

	imap             *imapd.Server
	smtp, lmtp       *smtpd.Server
	web, metricsHTTP *http.Server
	errc             chan error
	// draining is set when shutdown begins: health checks answer 503.
	draining atomic.Bool
}

// New checks cfg, binds every listener, then locks the data directory,
// opens (creating if needed) the store and builds the node. Nothing is
// served until Run.
func New(cfg Config, log *slog.Logger) (_ *Server, err error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	listen, wrap, err := proxyListen(cfg.ProxyProtocolFrom)
	if err != nil {
		return nil, &ConfigError{err.Error()}
	}
	given, err := activated()
	if err != nil {
		return nil, &ConfigError{err.Error()}
	}
	// A socket systemd passed is served whatever its flag says.
	for name, addr := range map[string]*string{"smtp": &cfg.SMTP, "lmtp": &cfg.LMTP, "http": &cfg.HTTP,
		"imap": &cfg.IMAP, "imaps": &cfg.IMAPS, "metrics": &cfg.Metrics} {
		if l := given[name]; l != nil {
			*addr = l.Addr().String()
		}
	}
	s := &Server{cfg: cfg, log: log, errc: make(chan error, 8)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	// Every socket first: a port in use fails serve before the data
	// directory or the store is touched.
	if s.ls, err = bindListeners(listen, wrap, given, map[string]string{"smtp": cfg.SMTP, "lmtp": cfg.LMTP, "http": cfg.HTTP,
		"imap": cfg.IMAP, "imaps": cfg.IMAPS, "metrics": cfg.Metrics}); err != nil {
		return nil, err
	}
	if s.unlock, err = store.LockDir(cfg.Data); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if s.st, err = store.OpenAt(ctx, cfg.Data, cfg.DB); err != nil {
		return nil, err
	}
	if err := s.build(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// build constructs the node's parts on the open store.
func (s *Server) build(ctx context.Context) error {
	cfg, st, log := s.cfg, s.st, s.log
	if n, err := st.SearchUnindexed(ctx); err == nil && n > 0 {
		log.Warn("messages stored before the search index existed are not searchable; run patchwell reindex", "messages", n)
	}
	if err := s.defaultList(ctx); err != nil {
		return err
	}
	webURL, pageURL := s.urls()
	secret, err := st.Secret(ctx, "unsubscribe")
	if err != nil {
		return err
	}
	s.mets = newMetrics(st, log.With("proto", "metrics"))
	health := s.unlessDraining(healthCheck(st, cfg.Data))
	acc := review.NewAccounts(st, review.DefaultArgon2)
	if s.worker, err = s.newWorker(webURL, secret); err != nil {
		return err
	}
	queue := outbound.NewQueue(st, cfg.Domain, nil, s.worker.Kick)
	// The one road to a list: SMTP, LMTP, web reviews, CI summaries and
	// "Applied, thanks" replies all post through it.
	s.in = review.NewIngester(st, review.Config{Log: log, Distribute: queue.Distribute})
	s.hooks = webhook.New(st, log.With("proto", "webhook"), webURL)
	// The submitter told of each status change, by whatever road.
	s.notices = notify.New(st, s.in, notify.Config{Domain: cfg.Domain, WebURL: webURL, Poll: 2 * time.Second, Sent: s.worker.Kick},
		log.With("proto", "notify"))
	svc := review.New(st, review.ServiceConfig{Ingester: s.in, Domain: cfg.Domain,
		RangeDiffer: &gitrepo.RangeDiffer{Store: st, Service: review.NewService(st), DataDir: cfg.Data}, Mailinfo: gitrepo.Mailinfo})
	// One applier for the web page, the API and the mail command.
	s.applier = &gitrepo.Applier{Store: st, Service: svc, DataDir: cfg.Data, WebURL: webURL, Replies: svc, Log: log.With("proto", "apply")}
	lcfg := lists.Config{Domain: cfg.Domain, WebURL: webURL, ParseVERP: outbound.ParseVERPDetail, ParseDSN: outbound.ParseDSN, Apply: s.applier}
	if cfg.MailAuth {
		lcfg.Verify = verifier(cfg.Domain, mailauth.Options{Resolver: dnsResolver(cfg.Resolver)})
	}
	listSrv := lists.New(st, s.in, acc, queue, lcfg, log.With("proto", "lists"))
	if cfg.IMAP != "" || cfg.IMAPS != "" {
		var tlsConf *tls.Config
		if cfg.TLSCert != "" || cfg.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
			if err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		if s.imap, err = imapd.New(st, acc, imapd.Config{TLS: tlsConf, MaxConnsPerIP: cfg.IMAPMaxPerIP, Domain: cfg.Domain,
			Poll: cfg.IMAPPoll, Observe: s.mets.IMAPCommand, NeedsMe: svc}, log.With("proto", "imap")); err != nil {
			return err
		}
	}
	ws, err := gitrepo.NewWorkspace(gitrepo.WorkspaceConfig{Store: st, Service: svc, DataDir: cfg.Data, WebURL: webURL, Logger: log.With("proto", "ci")})
	if err != nil {
		return err
	}
	if s.sched, err = ci.NewScheduler(ci.SchedulerConfig{Store: newTimedJobs(st, s.mets.CIJob), Workspace: ws, Domain: cfg.Domain, WebURL: webURL, QueueOnly: cfg.CIQueueOnly,
		Mail: cfg.CIMail, Replies: svc, Notify: s.hooks, Grace: cfg.CIGrace, WorkDir: gitrepo.WorkDir(cfg.Data), Logger: log.With("proto", "ci")}); err != nil {
		return err
	}
	// The commit hook: whatever road a message came by.
	s.in.Subscribe(s.committed)
	be := smtpBackend{in: s.in, lists: listSrv}
	for _, name := range []string{"smtp", "lmtp"} {
		if s.ls[name] == nil {
			continue
		}
		srv, err := smtpd.New(smtpd.Config{Domain: cfg.Domain, MaxMessageBytes: cfg.MaxMessageSize, LMTP: name == "lmtp", Observe: s.mets.SMTPData(name)}, be, log)
		if err != nil {
			return err
		}
		if name == "smtp" {
			s.smtp = srv
		} else {
			s.lmtp = srv
		}
	}
	if s.ls["http"] != nil {
		var sendMail func(ctx context.Context, to, subject, body string) error
		if cfg.Smarthost != "" {
			sendMail = s.worker.SendNow
		}
		policy, _ := submit.ParsePolicy(cfg.SubmitAllowHosts) // checked by New
		sub := submit.New(submit.Config{Store: st, Poster: s.in, Archive: svc, Repos: st, Domain: cfg.Domain,
			DataDir: cfg.Data, Policy: policy, Log: log.With("proto", "submit")})
		h := web.New(svc, web.Config{Domain: cfg.Domain, BaseURL: pageURL, SMTPAddr: cfg.SMTP,
			Accounts: acc, Workload: st, Signup: cfg.Signup, SecureCookies: cfg.SecureCookies,
			Lists: listSrv, Notify: s.hooks, SendMail: sendMail, CIRelease: s.sched.Release, CIRerun: s.sched, Apply: s.applier.ApplySeries, PathFlags: pathFlags,
			BaseFile:         gitrepo.NewBaseFiles(s.applier).File,
			UnsubscribeCheck: func(list, tok string) (string, bool) { return outbound.CheckUnsubscribeToken(secret, list, tok) },
			Health:           health, Observe: s.mets.HTTPRequest, Submit: sub, Bundles: st, NeedsMe: svc},
			log.With("proto", "http"))
		mux := http.NewServeMux()
		mux.Handle("/api/v1/ci/", s.mets.Instrument("/api/v1/ci/", s.sched.RemoteHandler(acc)))
		// b4's web submission endpoint (b4.send-endpoint-web).
		bcfg := b4send.Config{Domain: cfg.Domain, Mailinfo: gitrepo.Mailinfo, SendMail: sendMail, Log: log.With("proto", "b4send")}
		if cfg.MailAuth {
			o := mailauth.Options{Resolver: dnsResolver(cfg.Resolver)}
			bcfg.DMARCPolicy = func(ctx context.Context, domain string) (string, error) { return mailauth.DMARCPolicy(ctx, domain, o) }
		}
		mux.Handle("/_b4_submit", s.mets.Instrument("/_b4_submit", b4send.New(st, s.in, b4Lists{st, listSrv}, queue, bcfg)))
		// patchwork's REST API (git-pw, pwclient, snowpatch), beside /api/v1/.
		pw := pwapi.New(pwapi.Config{Lists: st, Patches: st, Series: st, Checks: st, Events: st, Mbox: svc, Revisions: svc, Tokens: acc, Users: st, Bundles: st, Notify: s.hooks,
			BaseURL: pageURL, Domain: cfg.Domain, Log: log.With("proto", "pwapi")})
		pwh := s.mets.Instrument("/api/1.x/", pw)
		for _, p := range pwapi.Patterns() {
			mux.Handle(p, pwh)
		}
		mux.Handle("/", h)
		s.web = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	}
	if s.ls["metrics"] != nil {
		s.metricsHTTP = metricsServer(s.mets, health)
	}
	return nil
}

// committed is the ingester's commit hook: IMAP IDLE, CI, the delivery
// worker and the metrics hear of every commit, whatever road the mail
// came by.
func (s *Server) committed(c review.Committed) {
	if s.imap != nil {
		s.imap.Notify()
	}
	s.sched.Kick()
	s.worker.Kick()
	for _, o := range c.Outcomes {
		s.mets.Stored(o)
	}
}

// defaultList makes the list dev in an empty store (unless told not
// to). Nodes starting together on a new database may race for it: one
// makes it, the others find it made.
func (s *Server) defaultList(ctx context.Context) error {
	if len(s.cfg.Lists) > 0 {
		if err := s.Reconcile(ctx, s.cfg.Lists); err != nil {
			return &ConfigError{err.Error()}
		}
		return nil
	}
	if s.cfg.NoDefaultList {
		return nil
	}
	existing, err := s.st.Lists(ctx)
	if err != nil || len(existing) > 0 {
		return err
	}
	_, err = s.st.CreateList(ctx, store.List{Name: "dev", Description: "patches for development"})
	if errors.Is(err, store.ErrExists) {
		return nil
	}
	if err == nil {
		s.log.Info("created list", "list", "dev")
	}
	return err
}

// Reconcile makes the store say what the declared lists say (at start,
// and when the configuration file is read again on SIGHUP), logging each
// change.
func (s *Server) Reconcile(ctx context.Context, decls []ListDecl) error {
	did, err := Reconcile(ctx, s.st, decls)
	for _, d := range did {
		s.log.Info("configuration: " + d)
	}
	return err
}

// urls returns the site's address for mail and webhooks, and for the
// pages' own links ("" when no address is known: then they follow each
// request's Host, which serve warns of).
func (s *Server) urls() (webURL, pageURL string) {
	webURL = strings.TrimRight(s.cfg.PublicURL, "/")
	if webURL != "" {
		return webURL, webURL
	}
	webURL = "http://" + s.cfg.HTTP
	if host := hostOf(s.cfg.HTTP); host != "" && !net.ParseIP(host).IsUnspecified() {
		return webURL, webURL
	}
	if s.cfg.HTTP != "" {
		s.log.Warn("no --public-url: links in pages and feeds follow the Host header of each request, and list mail links to "+webURL, "http", s.cfg.HTTP)
	}
	return webURL, ""
}

// newWorker builds the delivery worker. Without a smarthost it is built
// but not run: mail stays queued (and goes once serve runs with one).
func (s *Server) newWorker(webURL string, secret []byte) (*outbound.Worker, error) {
	var pass string
	if f := s.cfg.SmarthostPasswordFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("smarthost password: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	host := s.cfg.Smarthost
	if host == "" {
		host = "127.0.0.1:25" // not used: the worker does not run
	}
	return outbound.New(s.st, outbound.Config{
		Smarthost: host, Username: s.cfg.SmarthostUser, Password: pass, StartTLS: s.cfg.SmarthostStartTLS,
		Domain: s.cfg.Domain, WebURL: webURL, Secret: secret,
	}, s.log.With("proto", "outbound"))
}

// Run serves until ctx ends or a listener fails, then shuts down: stop
// taking connections and finish what is in flight (SMTP and LMTP answer
// their last messages; at most 30 s), stop the workers, commit what the
// ingester holds, close the store.
func (s *Server) Run(ctx context.Context) error {
	serve := func(name string, fn func(net.Listener) error) {
		if l := s.ls.take(name); l != nil {
			go func() { s.errc <- fn(l) }()
		}
	}
	if s.imap != nil {
		serve("imap", s.imap.Serve)
		serve("imaps", s.imap.ServeTLS)
	}
	if s.smtp != nil {
		serve("smtp", s.smtp.Serve)
	}
	if s.lmtp != nil {
		serve("lmtp", s.lmtp.Serve)
	}
	if s.web != nil {
		serve("http", s.web.Serve)
	}
	if s.metricsHTTP != nil {
		serve("metrics", s.metricsHTTP.Serve)
	}
	wctx, stopWorkers := context.WithCancel(context.Background())
	defer stopWorkers()
	var running []chan struct{}
	start := func(fn func(ctx context.Context)) {
		done := make(chan struct{})
		running = append(running, done)
		go func() { defer close(done); fn(wctx) }()
	}
	if s.cfg.Smarthost != "" {
		start(func(ctx context.Context) { s.worker.Run(ctx) })
	}
	start(func(ctx context.Context) { s.hooks.Run(ctx) })
	start(func(ctx context.Context) { s.notices.Run(ctx) })
	if s.cfg.CI {
		start(s.sched.Run)
		// Series applied by a direct push to a repository we do not host.
		start(func(ctx context.Context) { s.applier.Watch(ctx, 5*time.Minute) })
	}
	s.ready(ctx)

	var failed error
	select {
	case <-ctx.Done():
		// Draining: /healthz and /readyz answer 503 at once, so that a
		// load balancer stops sending here, while everything is still
		// served for DrainDelay (the balancer's time to notice).
		s.draining.Store(true)
		s.log.Info("draining", "signal", context.Cause(ctx).Error(), "delay", s.cfg.DrainDelay.String())
		select {
		case <-time.After(s.cfg.DrainDelay):
		case err := <-s.errc:
			failed = s.failed(err)
		}
	case err := <-s.errc:
		failed = s.failed(err)
	}
	s.draining.Store(true)
	s.log.Info("shutting down", "timeout", s.cfg.DrainTimeout.String())
	// Then each server finishes what it has begun, at once and within
	// DrainTimeout: SMTP and LMTP their transactions (new clients get
	// 421), HTTP its requests, IMAP says BYE to its sessions.
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.DrainTimeout)
	defer cancel()
	var wg sync.WaitGroup
	shut := func(fn func(context.Context) error) {
		wg.Add(1)
		go func() { defer wg.Done(); fn(sctx) }()
	}
	for _, srv := range []*smtpd.Server{s.smtp, s.lmtp} {
		if srv != nil {
			shut(srv.Shutdown)
		}
	}
	for _, srv := range []*http.Server{s.web, s.metricsHTTP} {
		if srv != nil {
			shut(srv.Shutdown)
		}
	}
	if s.imap != nil {
		shut(s.imap.Shutdown)
	}
	wg.Wait()
	stopWorkers()
	for _, done := range running {
		<-done
	}
	return errors.Join(failed, s.Close())
}

// ready logs where the node listens and how to send it patches.
func (s *Server) ready(ctx context.Context) {
	first := "dev"
	if ls, _ := s.st.Lists(ctx); len(ls) > 0 {
		first = ls[0].Name
	}
	c := s.cfg
	s.log.Info("patchwell ready",
		"send", fmt.Sprintf("git send-email --to=%s@%s --smtp-server=%s --smtp-server-port=%s --suppress-cc=all", first, c.Domain, hostOf(c.SMTP), portOf(c.SMTP)),
		"smtp", c.SMTP, "lmtp", c.LMTP, "web", "http://"+c.HTTP+"/", "imap", c.IMAP, "imaps", c.IMAPS, "metrics", c.Metrics, "data", c.Data)
}

// failed logs a server's failure (its listener's end is none).
func (s *Server) failed(err error) error {
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.log.Error("server failed", "err", err)
		return err
	}
	return nil
}

// Close releases what New took: the ingester (committing what it holds),
// IMAP, the store, the data directory's lock and any listener not served.
func (s *Server) Close() error {
	var errs []error
	if s.in != nil {
		errs = append(errs, s.in.Close())
		s.in = nil
	}
	if s.imap != nil {
		s.imap.Close()
		s.imap = nil
	}
	if s.st != nil {
		errs = append(errs, s.st.Close())
		s.st = nil
	}
	if s.unlock != nil {
		s.unlock()
		s.unlock = nil
	}
	s.ls.close()
	return errors.Join(errs...)
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

func portOf(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "25"
	}
	return p
}
