package server

import (
	"context"
	"errors"
	"net"

	"patchwell/b4send"
	"patchwell/ci"
	"patchwell/gitrepo"
	"patchwell/imapd"
	"patchwell/lists"
	"patchwell/mailauth"
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

// Each consumer declares what it needs; these prove at compile time that
// what the node hands it provides it (a drifted signature fails the
// build, never turns a feature off).
var (
	_ web.Reader        = (*review.Service)(nil)
	_ web.ListReader    = (*review.Service)(nil)
	_ web.SeriesReader  = (*review.Service)(nil)
	_ web.Dashboarder   = (*review.Service)(nil)
	_ web.SeriesDiffer  = (*review.Service)(nil)
	_ web.ThreadReader  = (*review.Service)(nil)
	_ web.MessageReader = (*review.Service)(nil)
	_ web.Mboxer        = (*review.Service)(nil)
	_ web.Searcher      = (*review.Service)(nil)
	_ web.Reviewer      = (*review.Service)(nil)
	_ web.Viewed        = (*review.Service)(nil)
	_ web.CheckStore    = (*review.Service)(nil)
	_ web.ListData      = (*review.Service)(nil)
	_ web.RepoReader    = (*review.Service)(nil)
	_ web.Generationer  = (*review.Service)(nil)
	_ web.Signatures    = (*review.Service)(nil)
	_ web.Accounts      = (*review.Accounts)(nil)
	_ web.ListServer    = (*lists.Server)(nil)
	_ web.Notifier      = (*webhook.Dispatcher)(nil)
	_ web.CIRerunner    = (*ci.Scheduler)(nil)
	_ web.Submitter     = (*submit.Service)(nil)
	_ web.Bundles       = (*store.DB)(nil)
	_ web.NeedsMe       = (*review.Service)(nil)
	_ imapd.NeedsMe     = (*review.Service)(nil)
	_ web.Workload      = (*store.DB)(nil)

	_ submit.Poster  = (*review.Ingester)(nil)
	_ submit.Archive = (*review.Service)(nil)

	_ ci.SchedulerStore = (*timedJobs)(nil)
	_ ci.Workspace      = (*gitrepo.Workspace)(nil)
	_ ci.Replier        = (*review.Service)(nil)
	_ ci.Notifier       = (*webhook.Dispatcher)(nil)
	_ ci.Tokens         = (*review.Accounts)(nil)

	_ lists.Applier     = (*gitrepo.Applier)(nil)
	_ gitrepo.Replier   = (*review.Service)(nil)
	_ smtpd.Backend     = smtpBackend{}
	_ smtpd.PostChecker = smtpBackend{}

	// The store: the whole of it for the node, the parts each consumer
	// declares for the rest.
	_ store.Store            = (*store.DB)(nil)
	_ outbound.Store         = (*store.DB)(nil)
	_ outbound.QueueStore    = (*store.DB)(nil)
	_ webhook.Queue          = (*store.DB)(nil)
	_ gitrepo.ApplyStore     = (*store.DB)(nil)
	_ gitrepo.WorkspaceStore = (*store.DB)(nil)
	_ gitrepo.RangeDiffStore = (*store.DB)(nil)
	_ gitrepo.RepoStore      = (*store.DB)(nil)
	_ lists.Store            = (*store.DB)(nil)
	_ lists.Subscriptions    = (*store.DB)(nil)
	_ lists.Policies         = (*store.DB)(nil)
	_ imapd.Store            = (*store.DB)(nil)
	_ review.AccountStore    = (*store.DB)(nil)
	_ review.IngestStore     = (*store.DB)(nil)
	_ submit.Store           = (*store.DB)(nil)
	_ submit.Repos           = (*store.DB)(nil)
	_ b4send.Keys            = (*store.DB)(nil)

	_ pwapi.Lists     = (*store.DB)(nil)
	_ pwapi.Patches   = (*store.DB)(nil)
	_ pwapi.Series    = (*store.DB)(nil)
	_ pwapi.Checks    = (*store.DB)(nil)
	_ pwapi.Events    = (*store.DB)(nil)
	_ pwapi.Users     = (*store.DB)(nil)
	_ pwapi.Bundles   = (*store.DB)(nil)
	_ pwapi.Mboxer    = (*review.Service)(nil)
	_ pwapi.Revisions = (*review.Service)(nil)
	_ pwapi.Tokens    = (*review.Accounts)(nil)
	_ pwapi.Notifier  = (*webhook.Dispatcher)(nil)

	_ notify.Store  = (*store.DB)(nil)
	_ notify.Poster = (*review.Ingester)(nil)

	_ b4send.Poster    = (*review.Ingester)(nil)
	_ b4send.Lists     = b4Lists{}
	_ b4send.Reflector = (*outbound.Queue)(nil)
)

// b4Lists is what b4's endpoint asks about lists: that one exists (the
// store) and what its policy says of a sender (the list server).
type b4Lists struct {
	st    *store.DB
	lists *lists.Server
}

func (b b4Lists) ListInfo(ctx context.Context, name string) (*store.List, error) {
	return b.st.ListInfo(ctx, name)
}

func (b b4Lists) Admits(ctx context.Context, list, from string) (string, error) {
	return b.lists.Admits(ctx, list, from)
}

// smtpBackend is what smtpd needs: lists exist, who may post, and the
// delivery, which goes through the list server (policy, commands) to the
// one road (the ingester).
type smtpBackend struct {
	in    *review.Ingester
	lists *lists.Server
}

func (b smtpBackend) ListExists(ctx context.Context, name string) (bool, error) {
	return b.in.ListExists(ctx, name)
}

// MayPost makes smtpd ask access.Post for every recipient (smtpd.PostChecker).
func (b smtpBackend) MayPost(ctx context.Context, name, mailFrom string) (bool, error) {
	return b.in.MayPost(ctx, name, mailFrom)
}

func (b smtpBackend) Deliver(ctx context.Context, d smtpd.Delivery) error {
	return b.lists.Receive(ctx, lists.Envelope{MailFrom: d.MailFrom, Remote: d.Remote, Helo: d.Helo, Received: d.Received}, d.Lists, d.Raw)
}

// verifier adapts mailauth to what lists needs. authserv is the name in
// Authentication-Results (the mail domain).
func verifier(authserv string, o mailauth.Options) func(ctx context.Context, raw []byte, env lists.Envelope) *lists.Auth {
	return func(ctx context.Context, raw []byte, env lists.Envelope) *lists.Auth {
		var ip net.IP
		if host, _, err := net.SplitHostPort(env.Remote); err == nil {
			ip = net.ParseIP(host)
		}
		r := mailauth.Verify(ctx, raw, ip, env.Helo, env.MailFrom, o)
		return &lists.Auth{
			DMARC:       string(r.DMARC),
			DMARCPolicy: r.Policy,
			DKIMAligned: r.AlignedDKIM,
			FromDomain:  r.From,
			SignedBy:    r.SignedBy(),
			Header:      r.Header(authserv),
		}
	}
}

// dnsResolver asks the DNS server at addr (HOST:PORT) instead of the
// system's; nil (the system's) for "".
func dnsResolver(addr string) mailauth.Resolver {
	if addr == "" {
		return nil
	}
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

// pathFlags is web.Config.PathFlags: gitrepo.CheckPatches without the
// base tree (the symbolic links it holds are checked when applying).
func pathFlags(diffs []string) ([]web.PathFlag, error) {
	flags, err := gitrepo.CheckPatches(diffs, nil)
	var pe *gitrepo.PathError
	if errors.As(err, &pe) {
		return []web.PathFlag{{Patch: pe.Patch, Path: pe.Path, Reason: pe.Reason, Refused: true}}, nil
	}
	if err != nil {
		return nil, err
	}
	out := make([]web.PathFlag, len(flags))
	for i, f := range flags {
		out[i] = web.PathFlag{Patch: f.Patch, Path: f.Path, Reason: f.Reason}
	}
	return out, nil
}
