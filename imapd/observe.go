package imapd

import (
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// timedSession is a session whose commands are timed for
// Config.Observe. It embeds the session, so it has every ability
// (interface) the session has; the commands that do real work are timed,
// under names from this file only (bounded label values). IDLE is not:
// its length is the client's choice.
type timedSession struct {
	*session
	observe func(command string, d time.Duration)
}

func (t timedSession) done(command string, start time.Time) {
	t.observe(command, time.Since(start))
}

func (t timedSession) Login(username, password string) error {
	defer t.done("LOGIN", time.Now())
	return t.session.Login(username, password)
}

func (t timedSession) Select(name string, options *imap.SelectOptions) (*imap.SelectData, error) {
	cmd := "SELECT"
	if options != nil && options.ReadOnly {
		cmd = "EXAMINE"
	}
	defer t.done(cmd, time.Now())
	return t.session.Select(name, options)
}

func (t timedSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	defer t.done("LIST", time.Now())
	return t.session.List(w, ref, patterns, options)
}

func (t timedSession) Status(name string, options *imap.StatusOptions) (*imap.StatusData, error) {
	defer t.done("STATUS", time.Now())
	return t.session.Status(name, options)
}

func (t timedSession) Namespace() (*imap.NamespaceData, error) {
	defer t.done("NAMESPACE", time.Now())
	return t.session.Namespace()
}

func (t timedSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	defer t.done(uidName("FETCH", numSet), time.Now())
	return t.session.Fetch(w, numSet, options)
}

func (t timedSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	defer t.done(uidName("STORE", numSet), time.Now())
	return t.session.Store(w, numSet, flags, options)
}

func (t timedSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	cmd := "SEARCH"
	if kind == imapserver.NumKindUID {
		cmd = "UID SEARCH"
	}
	defer t.done(cmd, time.Now())
	return t.session.Search(kind, criteria, options)
}

func uidName(cmd string, numSet imap.NumSet) string {
	if _, ok := numSet.(imap.UIDSet); ok {
		return "UID " + cmd
	}
	return cmd
}
