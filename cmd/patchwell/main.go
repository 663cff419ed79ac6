// Command patchwell is a mailing-list code review server: it receives
// patches over SMTP/LMTP, archives and threads them, recognises series
// and their revisions, and serves them on the web and as JSON.
//
// main only parses flags, builds objects, starts servers and waits for a
// signal; the work is in the packages it wires together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"patchwell/archive"
	"patchwell/ci"
	"patchwell/internal/progress"
	"patchwell/lists"
	"patchwell/review"
	"patchwell/server"
	"patchwell/store"
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
		"serve":   {"serve [--config FILE] [--data DIR] [--db URL] [--smtp ADDR] [--lmtp ADDR] [--http ADDR] [--imap ADDR] [--imaps ADDR --tls-cert F --tls-key F] [--imap-poll DURATION] [--metrics ADDR] [--proxy-protocol-from CIDRS] [--domain DOMAIN] [--no-default-list] [--signup] [--secure-cookies] [--smarthost HOST:PORT [--smarthost-starttls] [--smarthost-user U --smarthost-password-file F]] [--mail-auth=false] [--resolver HOST:PORT] [--ci-grace DURATION] [--ci-mail] [--submit-allow-hosts LIST] [--drain-delay D] [--drain-timeout D]", "run the server (SMTP/LMTP ingest, web UI and API, IMAP, list mail delivery)", cmdServe},
		"config":  {"config check FILE | config print [--config FILE] [serve's flags]", "check a configuration file without starting, or print the configuration serve would run with (every key, as a file)", cmdConfig},
		"list":    {"list create NAME [--description TEXT] [--owner EMAIL] [--visibility public|unlisted|private] [--repo PATH_OR_URL --vcs git|hg --branch BRANCH --check CMD] | list update NAME [--repo PATH_OR_URL] [--vcs git|hg] [--branch BRANCH] [--check CMD] [--first-timer-gate=false] | list ls | list visibility NAME public|unlisted|private | list notify NAME submitter|thread | list policy NAME [--posting open|subscribers|moderated] [--dmarc accept|hold|reject] [--allow A,@D] [--deny A,@D]   [--data DIR] [--db URL]", "create and show mailing lists, set who may see them and who may post", cmdList},
		"sub":     {"sub add EMAIL|--file F --list NAME [--name NAME] | sub rm EMAIL --list NAME | sub ls --list NAME [--state STATE]   [--data DIR] [--db URL]", "manage a list's subscribers (added by an operator: no confirmation)", cmdSub},
		"user":    {"user add EMAIL [--name NAME] [--admin] [--password-file FILE] | user ls | user role EMAIL LIST owner|maintainer|none | user token EMAIL NAME | user passwd EMAIL [--password-file FILE] | user disable EMAIL | user enable EMAIL   [--data DIR] [--db URL]", "manage accounts, list roles and API tokens", cmdUser},
		"apply":   {"apply --data DIR [--db URL] SERIES-ID [--by EMAIL] [--public-url URL]", "apply a series to its list's repository branch (git am -3, trailers from replies, a Link: per patch), push it and mark it applied", cmdApply},
		"hook":    {"hook post-receive|hg-changegroup --data DIR [--db URL] --list NAME [--git-dir DIR] [--hg-repo DIR]", "git post-receive or hg changegroup hook of a list's repository: series whose patches were pushed are marked applied", cmdHook},
		"import":  {"import --data DIR [--db URL] --list NAME [--cpuprofile FILE] FILE|DIR|- ... | import --all --data DIR [--db URL] EXPORT-DIR", "import mbox (mboxo, mboxrd, .gz), maildir or .eml files into a list; with --all, a whole export (export --all) into an empty store", cmdImport},
		"export":  {"export --data DIR [--db URL] --list NAME [--out FILE] | export --all --data DIR [--db URL] --out DIR [--with-secrets]", "write every message of a list as mboxrd, in arrival order, byte for byte; with --all, everything the lists' owners own (docs/export.md)", cmdExport},
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

// serveFlags defines serve's flags on fs, into the returned Config (its
// Data and DB are filled from data and db after parsing). They are also
// the keys of the configuration file (--config).
func serveFlags(fs *flag.FlagSet) (c *server.Config, data, dbURL *string, debug *bool, config *string) {
	data, dbURL = storeFlags(fs)
	c = &server.Config{}
	config = fs.String("config", "", "configuration file (TOML): serve's flags as keys, and [[list]] tables (flags on the command line win)")
	fs.StringVar(&c.SMTP, "smtp", "127.0.0.1:2525", "SMTP listen address (empty disables)")
	fs.StringVar(&c.LMTP, "lmtp", "", "LMTP listen address: host:port or a unix socket path (empty disables)")
	fs.StringVar(&c.HTTP, "http", "127.0.0.1:8080", "HTTP listen address (empty disables)")
	fs.StringVar(&c.IMAP, "imap", "127.0.0.1:1143", "IMAP listen address, plain with STARTTLS when --tls-cert is set (empty disables)")
	fs.StringVar(&c.IMAPS, "imaps", "", "IMAP listen address with implicit TLS (needs --tls-cert and --tls-key)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM) for IMAP STARTTLS and imaps")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	fs.IntVar(&c.IMAPMaxPerIP, "imap-max-per-ip", 50, "IMAP connections allowed per client address")
	fs.DurationVar(&c.IMAPPoll, "imap-poll", 250*time.Millisecond, "how often IMAP IDLE looks for mail another process committed (this server's own commits wake it at once)")
	fs.StringVar(&c.Domain, "domain", defaultDomain, "mail domain: lists are NAME@DOMAIN")
	fs.BoolVar(&c.NoDefaultList, "no-default-list", false, "do not create the list 'dev' in an empty data directory")
	fs.Int64Var(&c.MaxMessageSize, "max-message-size", 32<<20, "largest message accepted, in bytes")
	debug = fs.Bool("debug", false, "log at debug level")
	fs.BoolVar(&c.Signup, "signup", false, "let visitors create accounts (the confirmation link is mailed through --smarthost, or written to the log without one)")
	fs.BoolVar(&c.SecureCookies, "secure-cookies", false, "mark session cookies Secure: the site is served over https by a proxy")
	fs.StringVar(&c.Smarthost, "smarthost", "", "deliver list mail through this SMTP relay, HOST:PORT (empty: mail stays queued)")
	fs.StringVar(&c.SmarthostUser, "smarthost-user", "", "AUTH PLAIN user name at the smarthost")
	fs.StringVar(&c.SmarthostPasswordFile, "smarthost-password-file", os.Getenv("PATCHWELL_SMARTHOST_PASSWORD_FILE"), "file holding the smarthost password (default $PATCHWELL_SMARTHOST_PASSWORD_FILE)")
	fs.BoolVar(&c.SmarthostStartTLS, "smarthost-starttls", false, "use STARTTLS with the smarthost (needed for AUTH unless it is on loopback)")
	fs.StringVar(&c.PublicURL, "public-url", "", "the web UI's address as people reach it, for links in pages, feeds and mail (default http://HTTP-ADDR)")
	fs.BoolVar(&c.MailAuth, "mail-auth", true, "verify DKIM, SPF and DMARC of list posts (needs DNS)")
	fs.StringVar(&c.Resolver, "resolver", "", "DNS server, HOST:PORT, for the DKIM, SPF and DMARC checks (default: the system's)")
	fs.BoolVar(&c.CI, "ci", true, "run CI on complete revisions of lists with a repository (needs bubblewrap)")
	fs.DurationVar(&c.CIGrace, "ci-grace", ci.DefaultGrace, "run CI on an incomplete revision (k of n patches) after this long without its missing patches (0: never)")
	fs.BoolVar(&c.CIQueueOnly, "ci-queue-only", false, "queue CI jobs for remote runners (patchwell runner) and run none in this process")
	fs.BoolVar(&c.CIMail, "ci-mail", false, "reply on the series' thread with the CI summary and log links when a job finishes (archived and sent to the list)")
	fs.StringVar(&c.Metrics, "metrics", "", "serve Prometheus /metrics (and /healthz) on this address, apart from the public web listener (empty disables)")
	fs.StringVar(&c.ProxyProtocolFrom, "proxy-protocol-from", "", "load balancers (addresses or CIDR prefixes, comma-separated) whose connections to the SMTP, LMTP, IMAP and HTTP listeners start with a PROXY protocol header (HAProxy send-proxy or send-proxy-v2)")
	fs.DurationVar(&c.DrainDelay, "drain-delay", 0, "on SIGTERM, keep serving this long with /healthz and /readyz already answering 503, so that a load balancer stops sending first (5s behind HAProxy or Kubernetes)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "on SIGTERM, after --drain-delay, how long SMTP transactions, HTTP requests and IMAP sessions get to finish")
	fs.StringVar(&c.SubmitAllowHosts, "submit-allow-hosts", "", "what series submitted from the browser may be fetched from besides public http(s) and git URLs, comma-separated: address prefixes or addresses (127.0.0.0/8, fd00::/8), host names, and \"file\" for local paths and file:// URLs (default: none; loopback, private and link-local addresses are refused)")
	return c, data, dbURL, debug, config
}

func cmdServe(args []string) error {
	fs := newFlags("serve")
	c, data, dbURL, debug, config := serveFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *config != "" {
		if err := applyConfig(fs, *config, c); err != nil {
			return usageError{err.Error()}
		}
	}
	c.Data, c.DB = *data, *dbURL
	level := slog.LevelInfo
	if *debug {
		level = slog.LevelDebug
	}
	srv, err := server.New(*c, newLogger(level))
	var ce *server.ConfigError
	if errors.As(err, &ce) {
		return usageError{ce.Msg}
	}
	if err != nil {
		return err
	}
	ctx, stop := signalContext()
	defer stop()
	if *config != "" {
		// SIGHUP reads the file's lists again (other keys wait for a
		// restart).
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		log := newLogger(level)
		go func() {
			for range hup {
				decls, err := declaredLists(*config)
				if err == nil {
					err = srv.Reconcile(ctx, decls)
				}
				if err != nil {
					log.Error("SIGHUP: configuration not applied", "err", err)
				} else {
					log.Info("SIGHUP: configuration's lists reconciled", "file", *config)
				}
			}
		}()
	}
	return srv.Run(ctx)
}

// signalContext ends on SIGINT or SIGTERM, with the signal as its cause.
func signalContext() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case s := <-sig:
			cancel(errors.New(s.String()))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { signal.Stop(sig); cancel(nil) }
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
			return usageError{"usage: patchwell list update NAME [--repo PATH_OR_URL] [--vcs git|hg] [--branch BRANCH] [--check CMD] [--first-timer-gate=false] [--data DIR]"}
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
		c := lists.PolicyChange{Posting: *posting, DMARC: *dmarc}
		if *allow != "-" {
			c.Allow = allow
		}
		if *deny != "-" {
			c.Deny = deny
		}
		p, err := lists.SetPolicy(context.Background(), st, pos[0], c)
		if err != nil {
			return err
		}
		fmt.Printf("posting %s\ndmarc %s\nallow %s\ndeny %s\n", p.Posting, p.DMARC, strings.Join(p.Allow, ","), strings.Join(p.Deny, ","))
		return nil
	case "notify":
		if len(pos) != 2 || pos[1] != "submitter" && pos[1] != "thread" {
			return usageError{"usage: patchwell list notify NAME submitter|thread [--data DIR]"}
		}
		st, err := openStore(*data, *dbURL)
		if err != nil {
			return err
		}
		defer st.Close()
		if err := st.SetNotifyThread(context.Background(), pos[0], pos[1] == "thread"); err != nil {
			return err
		}
		if pos[1] == "thread" {
			fmt.Printf("list %s: status notices are posted to the series' thread (the submitter gets that post)\n", pos[0])
		} else {
			fmt.Printf("list %s: status notices are mailed to the submitter only\n", pos[0])
		}
		return nil
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
		all, err := st.Lists(context.Background())
		if err != nil {
			return err
		}
		for _, l := range all {
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
	all := fs.Bool("all", false, "import a whole export directory (export --all) into an empty store")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *all {
		if *list != "" || len(pos) != 1 {
			return usageError{"usage: patchwell import --all --data DIR [--db URL] EXPORT-DIR"}
		}
		return importAll(*data, *dbURL, pos[0])
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
	in := review.NewIngester(st, review.Config{Log: newLogger(slog.LevelWarn)})
	defer in.Close()
	bar := progress.New(os.Stderr, -1, "import")
	if bar != nil {
		// Counted beside the import, not before it: the line gets its
		// total and time left once the count is done.
		go func() {
			if n := archive.CountMessages(pos); n >= 0 {
				bar.SetTotal(n)
			}
		}()
	}
	total, err := in.ImportFiles(ctx, *list, pos, bar.Add)
	bar.Done()
	// The summary, also of an import stopped part way (not of a path
	// that could not be opened).
	var fe *review.FileError
	if err == nil || errors.As(err, &fe) {
		fmt.Printf("imported %d, duplicate %d, unparsable (stored raw) %d, without Message-ID %d\n",
			total.Imported, total.Duplicates, total.Unparsable, total.NoMessageID)
	}
	return err
}

func cmdExport(args []string) error {
	fs := newFlags("export")
	data, dbURL := storeFlags(fs)
	list := fs.String("list", "", "list to export")
	out := fs.String("out", "-", "output file (- for stdout); with --all, a new directory")
	all := fs.Bool("all", false, "export every list and what is not in the mail (docs/export.md)")
	withSecrets := fs.Bool("with-secrets", false, "with --all: also password, session and token hashes, webhook and server secrets")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *all {
		if *list != "" || len(pos) != 0 || *out == "-" {
			return usageError{"usage: patchwell export --all --data DIR [--db URL] --out DIR [--with-secrets]"}
		}
		return exportAll(*data, *dbURL, *out, *withSecrets)
	}
	if *withSecrets {
		return usageError{"--with-secrets goes with --all"}
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
	bar, done := progressLine("export")
	err = review.Export(context.Background(), st, *list, w, bar)
	done()
	if err != nil {
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
	bar, done := progressLine("reindex")
	stats, kept, err := review.ReindexDir(context.Background(), *data, newLogger(slog.LevelWarn), bar)
	done()
	if err != nil {
		return err
	}
	printStats(stats, "%s: %d messages reindexed\n")
	fmt.Printf("old database kept as %s\n", kept)
	return nil
}

// progressLine is a review.Progress that draws a progress line for what
// (progress.New); done ends the line.
func progressLine(what string) (p review.Progress, done func()) {
	var bar *progress.Bar
	return func(total int64) func(int) {
		bar = progress.New(os.Stderr, total, what)
		return bar.Add
	}, func() { bar.Done() }
}

// printStats prints a line of format (the list's name and the messages
// imported) per list, sorted by name.
func printStats(stats map[string]review.ImportStats, format string) {
	for _, n := range slices.Sorted(maps.Keys(stats)) {
		fmt.Printf(format, n, stats[n].Imported)
	}
}
