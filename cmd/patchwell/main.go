// Command patchwell is a mailing-list code review server: it receives
// patches over SMTP/LMTP, archives and threads them, recognises series
// and their revisions, and serves them on the web and as JSON.
//
// main only parses flags, builds objects, starts servers and waits for a
// signal; the work is in the packages it wires together.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"patchwell/archive"
	"patchwell/gitrepo"
	"patchwell/imapd"
	"patchwell/internal/progress"
	"patchwell/lists"
	"patchwell/mailauth"
	"patchwell/outbound"
	"patchwell/review"
	"patchwell/smtpd"
	"patchwell/store"
	"patchwell/web"
	"patchwell/webhook"
)

// command is one subcommand; its usage line and help double as the
// manual (patchwell help).
type command struct {
	usage string
	help  string
	run   func(args []string) error
}

var commands map[string]command

func init() {
	commands = map[string]command{
		"serve":   {"serve [--data DIR] [--db URL] [--smtp ADDR] [--lmtp ADDR] [--http ADDR] [--imap ADDR] [--imaps ADDR --tls-cert F --tls-key F] [--metrics ADDR] [--proxy-protocol-from CIDRS] [--domain DOMAIN] [--no-default-list] [--signup] [--secure-cookies] [--smarthost HOST:PORT [--smarthost-starttls] [--smarthost-user U --smarthost-password-file F]] [--mail-auth=false] [--resolver HOST:PORT] [--ci-grace DURATION] [--ci-mail]", "run the server (SMTP/LMTP ingest, web UI and API, IMAP, list mail delivery)", cmdServe},
		"list":    {"list create NAME [--description TEXT] [--owner EMAIL] [--visibility public|unlisted|private] [--repo PATH_OR_URL --branch BRANCH --check CMD] | list update NAME [--repo PATH_OR_URL] [--branch BRANCH] [--check CMD] [--first-timer-gate=false] | list ls | list visibility NAME public|unlisted|private | list policy NAME [--posting open|subscribers|moderated] [--dmarc accept|hold|reject] [--allow A,@D] [--deny A,@D]   [--data DIR] [--db URL]", "create and show mailing lists, set who may see them and who may post", cmdList},
		"sub":     {"sub add EMAIL|--file F --list NAME [--name NAME] | sub rm EMAIL --list NAME | sub ls --list NAME [--state STATE]   [--data DIR] [--db URL]", "manage a list's subscribers (added by an operator: no confirmation)", cmdSub},
		"user":    {"user add EMAIL [--name NAME] [--admin] [--password-file FILE] | user ls | user role EMAIL LIST owner|maintainer|none | user token EMAIL NAME | user passwd EMAIL [--password-file FILE] | user disable EMAIL | user enable EMAIL   [--data DIR] [--db URL]", "manage accounts, list roles and API tokens", cmdUser},
		"apply":   {"apply --data DIR [--db URL] SERIES-ID [--by EMAIL] [--public-url URL]", "apply a series to its list's repository branch (git am -3, trailers from replies, a Link: per patch), push it and mark it applied", cmdApply},
		"hook":    {"hook post-receive --data DIR [--db URL] --list NAME [--git-dir DIR]", "git post-receive hook of a list's repository: series whose patches were pushed are marked applied", cmdHook},
		"import":  {"import --data DIR [--db URL] --list NAME [--cpuprofile FILE] FILE|DIR|- ...", "import mbox (mboxo, mboxrd, .gz), maildir or .eml files into a list", cmdImport},
		"export":  {"export --data DIR [--db URL] --list NAME [--out FILE]", "write every message of a list as mboxrd, in arrival order, byte for byte", cmdExport},
		"check":   {"check --data DIR [--db URL]", "verify the database and every stored message against its sha256", cmdCheck},
		"backup":  {"backup --data DIR --out FILE [--db URL]", "write a consistent copy of the SQLite database while the server runs (FILE must not exist; PostgreSQL: pg_dump, see docs/deploy.md)", cmdBackup},
		"migrate": {"migrate --from DIR|URL --to URL|DIR", "copy a store into an empty one (a SQLite data directory to PostgreSQL, or back; stop the server first): every message replayed, accounts, lists and queues carried", cmdMigrate},
		"reindex": {"reindex --data DIR", "rebuild threads, series, patches and the search index from the raw messages (stop the server first; the old database is kept beside the new one)", cmdReindex},
		"webhook": {"webhook add URL --secret-file FILE [--events E1,E2] [--list NAME] | webhook ls | webhook rm ID   [--data DIR] [--db URL]", "send signed series and check events to outside systems (CI): " + strings.Join(webhook.Types, ", "), cmdWebhook},
		"runner":  {"runner --server URL --token TOKEN|--token-file F [--name NAME] [--poll 5s] [--once] [-v]", "run CI jobs of a patchwell server on this machine (in the bubblewrap sandbox)", cmdRunner},
		"help":    {"help", "show this help", cmdHelp},
	}
}

// usageError is a bad command line: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func main() {
	if len(os.Args) < 2 {
		cmdHelp(nil)
		os.Exit(2)
	}
	c, ok := commands[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "patchwell: unknown command %q (try 'patchwell help')\n", os.Args[1])
		os.Exit(2)
	}
	if err := c.run(os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "patchwell %s: %v\n", os.Args[1], err)
		var ue usageError
		if errors.As(err, &ue) || errors.Is(err, flag.ErrHelp) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

func cmdHelp([]string) error {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(os.Stderr, "usage: patchwell COMMAND [flags]")
	for _, n := range names {
		fmt.Fprintf(os.Stderr, "\n  patchwell %s\n      %s\n", commands[n].usage, commands[n].help)
	}
	return nil
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

const defaultData = "./patchwell-data"

// defaultDomain is where lists live out of the box. Not plain "localhost":
// git send-email refuses recipient addresses whose domain has no dot
// ("unable to extract a valid address"), and .localhost is reserved for
// this machine (RFC 6761).
const defaultDomain = "patchwell.localhost"

// storeFlags defines --data and --db, the flags naming the store of every
// command that opens one. --db defaults to $PATCHWELL_DB. The data
// directory is made absolute once, here: git and the CI sandbox run in
// other working directories, where a relative path means another place.
func storeFlags(fs *flag.FlagSet) (data, db *string) {
	d := &absDir{}
	if err := d.Set(defaultData); err != nil {
		d.path = defaultData
	}
	fs.Var(d, "data", "data directory (the SQLite database, repository mirrors, CI work)")
	db = fs.String("db", os.Getenv("PATCHWELL_DB"), "PostgreSQL database URL, postgres://USER:PASSWORD@HOST/DB (empty: SQLite in the data directory; default $PATCHWELL_DB)")
	return &d.path, db
}

// absDir is a directory flag kept as an absolute path.
type absDir struct{ path string }

func (d *absDir) String() string { return d.path }

func (d *absDir) Set(s string) error {
	if s == "" {
		return errors.New("empty directory")
	}
	p, err := filepath.Abs(s)
	if err != nil {
		return err
	}
	d.path = p
	return nil
}

// openStore opens the store --data and --db name, which must exist: only
// serve and list create make a new one (createStore), so a mistyped
// --data is an error, not an empty database.
func openStore(dir, db string) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.OpenExisting(ctx, dir, db)
}

// createStore opens the store --data and --db name, creating it if needed.
func createStore(dir, db string) (*store.DB, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return store.OpenAt(ctx, dir, db)
}

func newLogger(level slog.Level) *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
}

func cmdServe(args []string) error {
	fs := newFlags("serve")
	data, dbURL := storeFlags(fs)
	smtpAddr := fs.String("smtp", "127.0.0.1:2525", "SMTP listen address (empty disables)")
	lmtpAddr := fs.String("lmtp", "", "LMTP listen address: host:port or a unix socket path (empty disables)")
	httpAddr := fs.String("http", "127.0.0.1:8080", "HTTP listen address (empty disables)")
	imapAddr := fs.String("imap", "127.0.0.1:1143", "IMAP listen address, plain with STARTTLS when --tls-cert is set (empty disables)")
	imapsAddr := fs.String("imaps", "", "IMAP listen address with implicit TLS (needs --tls-cert and --tls-key)")
	tlsCert := fs.String("tls-cert", "", "TLS certificate (PEM) for IMAP STARTTLS and imaps")
	tlsKey := fs.String("tls-key", "", "TLS private key (PEM) for --tls-cert")
	imapPerIP := fs.Int("imap-max-per-ip", 50, "IMAP connections allowed per client address")
	domain := fs.String("domain", defaultDomain, "mail domain: lists are NAME@DOMAIN")
	noDefault := fs.Bool("no-default-list", false, "do not create the list 'dev' in an empty data directory")
	maxSize := fs.Int64("max-message-size", 32<<20, "largest message accepted, in bytes")
	debug := fs.Bool("debug", false, "log at debug level")
	signup := fs.Bool("signup", false, "let visitors create accounts (the confirmation link is mailed through --smarthost, or written to the log without one)")
	secure := fs.Bool("secure-cookies", false, "mark session cookies Secure: the site is served over https by a proxy")
	smarthost := fs.String("smarthost", "", "deliver list mail through this SMTP relay, HOST:PORT (empty: mail stays queued)")
	smartUser := fs.String("smarthost-user", "", "AUTH PLAIN user name at the smarthost")
	smartPassFile := fs.String("smarthost-password-file", "", "file holding the smarthost password")
	smartTLS := fs.Bool("smarthost-starttls", false, "use STARTTLS with the smarthost (needed for AUTH unless it is on loopback)")
	publicURL := fs.String("public-url", "", "the web UI's address as people reach it, for links in pages, feeds and mail (default http://HTTP-ADDR)")
	mailAuth := fs.Bool("mail-auth", true, "verify DKIM, SPF and DMARC of list posts (needs DNS)")
	resolverAddr := fs.String("resolver", "", "DNS server, HOST:PORT, for the DKIM, SPF and DMARC checks (default: the system's)")
	runCI := fs.Bool("ci", true, "run CI on complete revisions of lists with a repository (needs bubblewrap)")
	ciGrace := fs.Duration("ci-grace", defaultCIGrace, "run CI on an incomplete revision (k of n patches) after this long without its missing patches (0: never)")
	ciMail := fs.Bool("ci-mail", false, "reply on the series' thread with the CI summary and log links when a job finishes (archived and sent to the list)")
	metricsAddr := fs.String("metrics", "", "serve Prometheus /metrics (and /healthz) on this address, apart from the public web listener (empty disables)")
	proxyFrom := fs.String("proxy-protocol-from", "", "load balancers (addresses or CIDR prefixes, comma-separated) whose connections to the SMTP, LMTP, IMAP and HTTP listeners start with a PROXY protocol header (HAProxy send-proxy or send-proxy-v2)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *ciGrace < 0 {
		return usageError{fmt.Sprintf("--ci-grace %s: negative (0 never runs incomplete revisions)", *ciGrace)}
	}
	listen, err := proxyListen(*proxyFrom)
	if err != nil {
		return usageError{err.Error()}
	}
	if *imapsAddr != "" && (*tlsCert == "" || *tlsKey == "") {
		return usageError{"--imaps needs --tls-cert and --tls-key"}
	}
	// Every socket first: a port in use fails serve before the data
	// directory or the store is touched.
	ls, err := bindListeners(listen, map[string]string{"smtp": *smtpAddr, "lmtp": *lmtpAddr, "http": *httpAddr,
		"imap": *imapAddr, "imaps": *imapsAddr, "metrics": *metricsAddr})
	if err != nil {
		return err
	}
	defer ls.close()
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	log := newLogger(level)

	unlock, err := lockData(*data)
	if err != nil {
		return err
	}
	defer unlock()
	st, err := createStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if n, err := st.SearchUnindexed(ctx); err == nil && n > 0 {
		log.Warn("messages stored before the search index existed are not searchable; run patchwell reindex", "messages", n)
	}
	existing, err := st.Lists(ctx)
	if err != nil {
		return err
	}
	if len(existing) == 0 && !*noDefault {
		// Nodes starting together on one new database all get here: the
		// first makes the list.
		_, err := st.CreateList(ctx, store.List{Name: "dev", Description: "patches for development"})
		switch {
		case err == nil:
			log.Info("created list", "list", "dev")
		case !errors.Is(err, store.ErrExists):
			return err
		}
	}

	in := review.NewIngester(st, log)
	mets := newMetrics(st, log.With("proto", "metrics"))
	in.SetObserver(mets.Stored)
	health := healthCheck(st, *data)
	acc := review.NewAccounts(st, review.DefaultArgon2)
	webURL := strings.TrimRight(*publicURL, "/")
	pageURL := webURL // what pages link to; "" follows each request's Host
	if webURL == "" {
		webURL = "http://" + *httpAddr
		if host := hostOf(*httpAddr); host != "" && !net.ParseIP(host).IsUnspecified() {
			pageURL = webURL
		} else if *httpAddr != "" {
			log.Warn("no --public-url: links in pages and feeds follow the Host header of each request, and list mail links to "+webURL, "http", *httpAddr)
		}
	}
	secret, err := st.Secret(ctx, "unsubscribe")
	if err != nil {
		return err
	}
	worker, err := newOutbound(st, *domain, webURL, secret, *smarthost, *smartUser, *smartPassFile, *smartTLS, log.With("proto", "outbound"))
	if err != nil {
		return err
	}
	queue := outbound.NewQueue(st, *domain, activeSubscribers(st), worker.Kick)
	hooks := webhook.New(st, log.With("proto", "webhook"))
	hooks.BaseURL = webURL
	svc := review.NewService(st)
	svc.EnableReviews(in, *domain)
	svc.SetDistributor(queue.Distribute)
	// One applier for the web page, the API and the mail command.
	aw := &applyWiring{st: st, svc: svc, data: *data, webURL: webURL, domain: *domain, log: log.With("proto", "apply")}
	lcfg := lists.Config{Domain: *domain, WebURL: webURL, ParseVERP: outbound.ParseVERPDetail, ParseDSN: outbound.ParseDSN, Apply: aw}
	if *mailAuth {
		lcfg.Verify = verifier(*domain, mailauth.Options{Resolver: dnsResolver(*resolverAddr)})
	}
	listSrv := lists.New(st, in, acc, queue, lcfg, log.With("proto", "lists"))
	var (
		smtpSrv, lmtpSrv *smtpd.Server
		httpSrv          *http.Server
		imapSrv          *imapd.Server
		errc             = make(chan error, 6)
	)
	if *imapAddr != "" || *imapsAddr != "" {
		var tlsConf *tls.Config
		if *tlsCert != "" || *tlsKey != "" {
			cert, err := tls.LoadX509KeyPair(*tlsCert, *tlsKey)
			if err != nil {
				return fmt.Errorf("tls: %w", err)
			}
			tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		imapSrv, err = imapd.New(st, acc, imapd.Config{TLS: tlsConf, MaxConnsPerIP: *imapPerIP, Domain: *domain,
			Observe: mets.IMAPCommand}, log.With("proto", "imap"))
		if err != nil {
			return err
		}
		defer imapSrv.Close()
		for _, a := range []struct {
			l     net.Listener
			serve func(net.Listener) error
		}{{ls.take("imap"), imapSrv.Serve}, {ls.take("imaps"), imapSrv.ServeTLS}} {
			if a.l != nil {
				go func() { errc <- a.serve(a.l) }()
			}
		}
	}
	svc.SetRangeDiffer(&gitrepo.RangeDiffer{Store: st, Service: svc, DataDir: *data})
	cw, err := newCI(newTimedJobs(st, mets.CIJob), svc, *data, webURL, hooks, log.With("proto", "ci"))
	if err != nil {
		return err
	}
	cw.domain = *domain
	cw.grace, cw.mail, cw.kickOutbound = *ciGrace, *ciMail, worker.Kick
	be := smtpBackend{in: in, lists: listSrv}
	be.committed = func() {
		if imapSrv != nil {
			imapSrv.Notify()
		}
		cw.Kick()
	}
	if l := ls.take("smtp"); l != nil {
		smtpSrv, err = smtpd.New(smtpd.Config{Domain: *domain, MaxMessageBytes: *maxSize, Observe: mets.SMTPData("smtp")}, be, log)
		if err != nil {
			return err
		}
		go func() { errc <- smtpSrv.Serve(l) }()
	}
	if l := ls.take("lmtp"); l != nil {
		lmtpSrv, err = smtpd.New(smtpd.Config{Domain: *domain, MaxMessageBytes: *maxSize, LMTP: true, Observe: mets.SMTPData("lmtp")}, be, log)
		if err != nil {
			return err
		}
		go func() { errc <- lmtpSrv.Serve(l) }()
	}
	var sendMail func(ctx context.Context, to, subject, body string) error
	if *smarthost != "" {
		pass := ""
		if *smartPassFile != "" {
			b, err := os.ReadFile(*smartPassFile)
			if err != nil {
				return fmt.Errorf("smarthost password: %w", err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		sendMail = siteMailer(*smarthost, *smartUser, pass, *smartTLS, "patchwell@"+*domain)
	}
	if l := ls.take("http"); l != nil {
		h := web.New(svc, web.Config{Domain: *domain, BaseURL: pageURL, SMTPAddr: *smtpAddr,
			Accounts: acc, Signup: *signup, SecureCookies: *secure,
			Lists: listSrv, ListData: st, Checks: st, Notify: hooks, SendMail: sendMail, CIRelease: cw.release, Apply: aw.web, Repos: st, PathFlags: pathFlags,
			UnsubscribeCheck: func(list, tok string) (string, bool) { return outbound.CheckUnsubscribeToken(secret, list, tok) },
			Health:           health, Observe: mets.HTTPRequest},
			log.With("proto", "http"))
		mux := http.NewServeMux()
		mux.Handle("/api/v1/ci/", mets.Instrument("/api/v1/ci/", cw.remoteHandler(acc)))
		mux.Handle("/", h)
		httpSrv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
		go func() { errc <- httpSrv.Serve(l) }()
	}
	var metricsSrv *http.Server
	if l := ls.take("metrics"); l != nil {
		metricsSrv = serveMetrics(l, mets, health, errc)
	}
	var outDone chan struct{}
	octx, stopOutbound := context.WithCancel(ctx)
	defer stopOutbound()
	if *smarthost != "" {
		outDone = make(chan struct{})
		go func() { defer close(outDone); worker.Run(octx) }()
	}
	hooksDone := make(chan struct{})
	go func() { defer close(hooksDone); _ = hooks.Run(octx) }()
	if *runCI {
		go cw.Run(octx)
	}
	defer func() { stopOutbound(); <-hooksDone }()
	first := "dev"
	if ls, _ := st.Lists(ctx); len(ls) > 0 {
		first = ls[0].Name
	}
	log.Info("patchwell ready",
		"send", fmt.Sprintf("git send-email --to=%s@%s --smtp-server=%s --smtp-server-port=%s --suppress-cc=all", first, *domain, hostOf(*smtpAddr), portOf(*smtpAddr)),
		"smtp", *smtpAddr, "lmtp", *lmtpAddr, "web", "http://"+*httpAddr+"/", "imap", *imapAddr, "imaps", *imapsAddr, "metrics", *metricsAddr, "data", *data)

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		log.Info("shutting down", "signal", s.String())
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server failed", "err", err)
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if smtpSrv != nil {
		smtpSrv.Shutdown(sctx)
	}
	if lmtpSrv != nil {
		lmtpSrv.Shutdown(sctx)
	}
	if httpSrv != nil {
		httpSrv.Shutdown(sctx)
	}
	if metricsSrv != nil {
		metricsSrv.Shutdown(sctx)
	}
	stopOutbound()
	if outDone != nil {
		<-outDone
	}
	return in.Close()
}

// boundListeners are serve's sockets, bound before anything else.
type boundListeners map[string]net.Listener

// bindListeners binds each named address that is not empty: TCP, or a
// unix socket for an LMTP path. The metrics listener never takes the
// PROXY protocol (it is for the monitoring network).
func bindListeners(listen func(network, addr string) (net.Listener, error), addrs map[string]string) (boundListeners, error) {
	ls := boundListeners{}
	for _, name := range []string{"smtp", "lmtp", "imap", "imaps", "http", "metrics"} {
		addr := addrs[name]
		if addr == "" {
			continue
		}
		network := "tcp"
		if name == "lmtp" && strings.Contains(addr, "/") {
			network = "unix"
			os.Remove(addr)
		}
		var l net.Listener
		var err error
		if name == "metrics" {
			l, err = net.Listen(network, addr)
		} else {
			l, err = listen(network, addr)
		}
		if err != nil {
			ls.close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		ls[name] = l
	}
	return ls, nil
}

// take hands the listener named over to its server (nil when not bound).
func (ls boundListeners) take(name string) net.Listener {
	l := ls[name]
	delete(ls, name)
	return l
}

// close closes the listeners no server took.
func (ls boundListeners) close() {
	for name, l := range ls {
		l.Close()
		delete(ls, name)
	}
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

// smtpBackend adapts the Ingester to what smtpd needs; committed, when
// set, is told after every delivery (IMAP IDLE wakes on it).
type smtpBackend struct {
	in        *review.Ingester
	lists     *lists.Server
	committed func()
}

var _ smtpd.PostChecker = smtpBackend{}

func (b smtpBackend) ListExists(ctx context.Context, name string) (bool, error) {
	return b.in.ListExists(ctx, name)
}

// MayPost makes smtpd ask access.Post for every recipient (smtpd.PostChecker).
func (b smtpBackend) MayPost(ctx context.Context, name, mailFrom string) (bool, error) {
	return b.in.MayPost(ctx, name, mailFrom)
}

func (b smtpBackend) Deliver(ctx context.Context, d smtpd.Delivery) error {
	err := b.lists.Receive(ctx, lists.Envelope{MailFrom: d.MailFrom, Remote: d.Remote, Helo: d.Helo, Received: d.Received}, d.Lists, d.Raw)
	if err == nil && b.committed != nil {
		b.committed()
	}
	return err
}

func cmdList(args []string) error {
	if len(args) == 0 {
		return usageError{"usage: patchwell " + commands["list"].usage}
	}
	fs := newFlags("list")
	data, dbURL := storeFlags(fs)
	desc := fs.String("description", "", "what the list is for")
	owner := fs.String("owner", "", "owner's e-mail address")
	domain := fs.String("domain", defaultDomain, "mail domain, for showing addresses")
	vis := fs.String("visibility", store.VisibilityPublic, "who sees the list: public, unlisted or private")
	posting := fs.String("posting", "", "who may post (policy): open, subscribers or moderated")
	dmarc := fs.String("dmarc", "", "what to do with mail failing DMARC (policy): accept, hold or reject")
	allow := fs.String("allow", "-", "addresses and @domains that may always post, comma-separated (policy; empty clears)")
	deny := fs.String("deny", "-", "addresses and @domains refused, comma-separated (policy; empty clears)")
	repo := addRepoFlags(fs)
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "update":
		if len(pos) != 1 {
			return usageError{"usage: patchwell list update NAME [--repo PATH_OR_URL] [--branch BRANCH] [--check CMD] [--first-timer-gate=false] [--data DIR]"}
		}
		st, err := openStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		return repo.set(context.Background(), st, fs, pos[0], false)
	case "policy":
		if len(pos) != 1 {
			return usageError{"usage: patchwell list policy NAME [--posting open|subscribers|moderated] [--dmarc accept|hold|reject] [--allow LIST] [--deny LIST] [--data DIR]"}
		}
		if *posting != "" && !store.ValidPosting(*posting) {
			return usageError{fmt.Sprintf("bad posting policy %q: open, subscribers or moderated", *posting)}
		}
		if *dmarc != "" && !store.ValidDMARCAction(*dmarc) {
			return usageError{fmt.Sprintf("bad dmarc action %q: accept, hold or reject", *dmarc)}
		}
		st, err := openStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		return cmdPolicy(st, pos[0], posting, dmarc, allow, deny)
	case "visibility":
		if len(pos) != 2 {
			return usageError{"usage: patchwell list visibility NAME public|unlisted|private [--data DIR]"}
		}
		if !store.ValidVisibility(pos[1]) {
			return usageError{fmt.Sprintf("bad visibility %q: public, unlisted or private", pos[1])}
		}
		st, err := openStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.SetVisibility(context.Background(), pos[0], pos[1]); err != nil {
			return err
		}
		fmt.Printf("list %s is %s\n", pos[0], pos[1])
		return nil
	case "create":
		if len(pos) != 1 {
			return usageError{"usage: patchwell list create NAME [--description TEXT] [--owner EMAIL] [--data DIR]"}
		}
		if !store.ValidListName(pos[0]) {
			return usageError{fmt.Sprintf("bad list name %q: use lowercase letters, digits, '.', '_' and '-'", pos[0])}
		}
		if !store.ValidVisibility(*vis) {
			return usageError{fmt.Sprintf("bad visibility %q: public, unlisted or private", *vis)}
		}
		st, err := createStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		l, err := st.CreateList(context.Background(), store.List{Name: pos[0], Description: *desc, Owner: *owner, Visibility: *vis})
		if err != nil {
			return err
		}
		fmt.Printf("created list %s <%s@%s>\n", l.Name, l.Name, *domain)
		return repo.set(context.Background(), st, fs, l.Name, true)
	case "ls":
		if len(pos) != 0 {
			return usageError{"usage: patchwell list ls [--data DIR]"}
		}
		st, err := openStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		lists, err := st.Lists(context.Background())
		if err != nil {
			return err
		}
		for _, l := range lists {
			fmt.Printf("%s\t%s@%s\t%s\t%d messages\t%d series\t%s\n", l.Name, l.Name, *domain, l.Visibility, l.Messages, l.Series, l.Description)
		}
		return nil
	}
	return usageError{fmt.Sprintf("unknown list command %q (create, update, ls, visibility, policy)", args[0])}
}

func cmdImport(args []string) error {
	fs := newFlags("import")
	data, dbURL := storeFlags(fs)
	list := fs.String("list", "", "list to import into")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile (go tool pprof) to this file")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *list == "" || len(pos) == 0 {
		return usageError{"usage: patchwell " + commands["import"].usage}
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	ctx := context.Background()
	if _, err := st.List(ctx, *list); err != nil {
		return err
	}
	// Bulk import allocates fast and keeps little: trade some memory for
	// less GC work (peak RSS stays well under 300 MB on the bench corpus).
	debug.SetGCPercent(200)
	in := review.NewIngester(st, newLogger(slog.LevelWarn))
	defer in.Close()
	var total review.ImportStats
	bar := progress.New(os.Stderr, countMessages(pos), "import")
	for _, p := range pos {
		src, err := archive.OpenSource(p)
		if err != nil {
			bar.Done()
			return err
		}
		s, err := in.Import(ctx, *list, countingSource{src, bar})
		src.Close()
		total.Imported += s.Imported
		total.Duplicates += s.Duplicates
		total.Unparsable += s.Unparsable
		total.NoMessageID += s.NoMessageID
		if err != nil {
			bar.Done()
			fmt.Printf("imported %d, duplicate %d, unparsable (stored raw) %d, without Message-ID %d\n",
				total.Imported, total.Duplicates, total.Unparsable, total.NoMessageID)
			return fmt.Errorf("%s: %w", p, err)
		}
	}
	bar.Done()
	fmt.Printf("imported %d, duplicate %d, unparsable (stored raw) %d, without Message-ID %d\n",
		total.Imported, total.Duplicates, total.Unparsable, total.NoMessageID)
	return nil
}

func cmdExport(args []string) error {
	fs := newFlags("export")
	data, dbURL := storeFlags(fs)
	list := fs.String("list", "", "list to export")
	out := fs.String("out", "-", "output file (- for stdout)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *list == "" || len(pos) != 0 {
		return usageError{"usage: patchwell " + commands["export"].usage}
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	var w io.Writer = os.Stdout
	var f *os.File
	if *out != "-" {
		f, err = os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	mw := archive.NewMboxWriter(bw)
	var bar *progress.Bar
	if l, err := st.List(context.Background(), *list); err == nil {
		bar = progress.New(os.Stderr, int64(l.Messages), "export")
	}
	err = st.Walk(context.Background(), *list, func(m *store.Message, raw []byte) error {
		bar.Add(1)
		return mw.Write(raw, "mboxrd@z", time.Time{})
	})
	bar.Done()
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return err
		}
		return f.Close()
	}
	return nil
}

func cmdCheck(args []string) error {
	fs := newFlags("check")
	data, dbURL := storeFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	st, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := st.Check(context.Background()); err != nil {
		return err
	}
	fmt.Println("ok")
	return nil
}

// countingSource counts on bar each message its Source hands out.
type countingSource struct {
	archive.Source
	bar *progress.Bar
}

func (c countingSource) Next() ([]byte, error) {
	raw, err := c.Source.Next()
	if err == nil {
		c.bar.Add(1)
	}
	return raw, err
}

// countMessages is how many messages the import sources hold, read ahead
// for the progress line (only on a terminal: this is a second pass);
// -1 when one of them is standard input.
func countMessages(paths []string) int64 {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return -1
	}
	var n int64
	for _, p := range paths {
		if p == "-" {
			return -1
		}
		src, err := archive.OpenSource(p)
		if err != nil {
			return -1
		}
		for {
			if _, err := src.Next(); err != nil {
				break
			}
			n++
		}
		src.Close()
	}
	return n
}

// storeTotal is how many messages the lists of st hold (-1 if unknown).
func storeTotal(ctx context.Context, st store.Store) int64 {
	lists, err := st.Lists(ctx)
	if err != nil {
		return -1
	}
	var n int64
	for _, l := range lists {
		n += int64(l.Messages)
	}
	return n
}

// lockData takes the data directory's lock file, held by serve and
// reindex: reindex replaces the database, which a running server must not
// have open.
func lockData(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "patchwell.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("data directory %s is in use by another patchwell serve or reindex", dir)
	}
	return func() { f.Close() }, nil
}

func cmdReindex(args []string) error {
	fs := newFlags("reindex")
	data, dbURL := storeFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"usage: patchwell " + commands["reindex"].usage}
	}
	if *dbURL != "" {
		return usageError{"reindex rebuilds a SQLite data directory; to rebuild a PostgreSQL database, copy it into an empty one: patchwell migrate --from URL --to NEW-URL"}
	}
	if _, err := os.Stat(filepath.Join(*data, store.DBFile)); err != nil {
		return fmt.Errorf("no database in %s: %w", *data, err)
	}
	unlock, err := lockData(*data)
	if err != nil {
		return err
	}
	defer unlock()
	stamp := time.Now().UTC().Format("20060102T150405")
	tmp := filepath.Join(*data, "reindex-"+stamp)
	old, err := openStore(*data, *dbURL)
	if err != nil {
		return err
	}
	fresh, err := createStore(tmp, "")
	if err != nil {
		old.Close()
		return err
	}
	bar := progress.New(os.Stderr, storeTotal(context.Background(), old), "reindex")
	stats, err := review.Reindex(context.Background(), old, fresh, newLogger(slog.LevelWarn), bar.Add)
	bar.Done()
	cerr1, cerr2 := old.Close(), fresh.Close()
	if err == nil {
		err = errors.Join(cerr1, cerr2)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	// Keep the old database beside the new one, then move the new one in.
	for _, suffix := range []string{"", "-wal", "-shm"} {
		src := filepath.Join(*data, store.DBFile+suffix)
		if _, err := os.Stat(src); err == nil {
			if err := os.Rename(src, src+".before-reindex-"+stamp); err != nil {
				return err
			}
		}
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		src := filepath.Join(tmp, store.DBFile+suffix)
		if _, err := os.Stat(src); err == nil {
			if err := os.Rename(src, filepath.Join(*data, store.DBFile+suffix)); err != nil {
				return err
			}
		}
	}
	os.RemoveAll(tmp)
	names := make([]string, 0, len(stats))
	for n := range stats {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Printf("%s: %d messages reindexed\n", n, stats[n].Imported)
	}
	fmt.Printf("old database kept as %s\n", store.DBFile+".before-reindex-"+stamp)
	return nil
}

// newOutbound builds the delivery worker of serve. Without a smarthost
// it is built but not run: mail stays queued (and is delivered once serve
// runs with --smarthost).
func newOutbound(st store.Store, domain, webURL string, secret []byte, smarthost, user, passFile string, starttls bool, log *slog.Logger) (*outbound.Worker, error) {
	var pass string
	if passFile != "" {
		b, err := os.ReadFile(passFile)
		if err != nil {
			return nil, fmt.Errorf("smarthost password: %w", err)
		}
		pass = strings.TrimRight(string(b), "\r\n")
	}
	if (user == "") != (passFile == "") {
		return nil, usageError{"--smarthost-user and --smarthost-password-file go together"}
	}
	if smarthost == "" {
		smarthost = "127.0.0.1:25" // not used: the worker does not run
	}
	return outbound.New(st, outbound.Config{
		Smarthost: smarthost, Username: user, Password: pass, StartTLS: starttls,
		Domain: domain, WebURL: webURL, Secret: secret,
	}, log)
}
