// Package access decides who may do what on a mailing list. Allowed is the
// one authorization function of patchwell: every path that shows or changes
// a list's data (web pages, the JSON API, raw and mbox downloads, the b4
// endpoints, search, Atom feeds, and the IMAP server (imapd), which calls
// the same function for every mailbox it lists or opens) asks it, with a
// Subject built from the signed-in user and their role on that list.
//
// Rules. A public list is readable by everyone and shown in every index.
// An unlisted list is readable by everyone who knows its URL but shown in
// indexes (home page, /all/, API list index) only to its members and site
// admins. A private list is readable only by its members (any role) and
// site admins; for everyone else it does not exist: callers answer 404, not
// 403, so that private list names do not leak. Post (sending mail to the
// list) follows Read: anyone on public and unlisted lists, members on
// private ones (a list that takes reports from outsiders, like security@,
// would need an open-posting setting, which does not exist yet).
//
// Who posts. Mail arrives without a sign-in, so for Post the SMTP and LMTP
// servers (smtpd, through review.Ingester.MayPost) take as the subject the
// user whose account address is the envelope sender (MAIL FROM, compared
// without regard to case), with that user's role on the list; any other
// sender, the null sender <> included, is anonymous. A private list thus
// refuses outsiders' mail at RCPT with 550 5.7.1 (command addresses,
// NAME+subscribe and the like, are not posts and are not checked). The
// envelope sender is only a claim anyone can make: this keeps strangers'
// mail and spam off a private list, it does not prove that a member sent
// it (that would take tying the decision to SPF/DKIM/DMARC results or SMTP
// AUTH, which this check does not do).
//
// Disabled accounts. A subject whose user is disabled (patchwell user
// disable) is anonymous here, whatever its role or admin flag: its roles
// stay stored and work again once the account is enabled. Sessions and
// API tokens of a disabled account are refused before a request gets
// this far (review.Accounts), so this is what holds for the paths that
// find a user without them: mail (Post, commands by mail) and open IMAP
// sessions.
//
// Comment needs a signed-in, confirmed user who can
// read. SetStatus, Moderate and Apply need the maintainer or owner role (or
// site admin); Admin (roles, list settings) needs owner or site admin.
//
// The package is a leaf: it imports only the store's data types, holds no
// state and does no I/O, so it is cheap to call on every request.
package access

import "patchwell/store"

// Action is something a subject wants to do on a list.
type Action int

// The actions.
const (
	// Read: see the list, its messages, threads, series, downloads (raw,
	// mbox, t.mbox.gz), search, Atom feeds and API reads.
	Read Action = iota + 1
	// Post: send mail to the list.
	Post
	// Comment: review on the web.
	Comment
	// SetStatus: change a series' status.
	SetStatus
	// Moderate: act on held mail and the list's subscribers.
	Moderate
	// Apply: apply a series to the list's repository.
	Apply
	// Admin: manage roles and list settings.
	Admin
)

var actionNames = [...]string{Read: "read", Post: "post", Comment: "comment", SetStatus: "set-status",
	Moderate: "moderate", Apply: "apply", Admin: "admin"}

// String names the action.
func (a Action) String() string {
	if a > 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return "unknown"
}

// Actions lists every action, for tests and documentation.
var Actions = []Action{Read, Post, Comment, SetStatus, Moderate, Apply, Admin}

// Subject is who asks: User is nil for an anonymous request. Admin is the
// user's site-admin flag and Role their role on the list in question
// (store.RoleOwner, store.RoleMaintainer or "").
type Subject struct {
	User  *store.User
	Admin bool
	Role  string
}

// effective is the subject as the rules see it: anonymous when its user
// is disabled.
func (s Subject) effective() Subject {
	if s.User != nil && s.User.Disabled {
		return Subject{}
	}
	return s
}

// member reports whether the subject has any role on the list or is a
// site admin.
func (s Subject) member() bool {
	return s.User != nil && (s.Admin || s.Role == store.RoleOwner || s.Role == store.RoleMaintainer)
}

// visibility returns the list's visibility; "" is public (the default),
// and anything unknown is treated as private (fail closed).
func visibility(l *store.List) string {
	switch l.Visibility {
	case "", store.VisibilityPublic:
		return store.VisibilityPublic
	case store.VisibilityUnlisted:
		return store.VisibilityUnlisted
	}
	return store.VisibilityPrivate
}

// Allowed reports whether subj may do act on list l. A nil list allows
// nothing.
func Allowed(subj Subject, l *store.List, act Action) bool {
	if l == nil {
		return false
	}
	subj = subj.effective()
	canRead := visibility(l) != store.VisibilityPrivate || subj.member()
	if !canRead {
		return false
	}
	signedIn := subj.User != nil
	maintainer := signedIn && (subj.Admin || subj.Role == store.RoleOwner || subj.Role == store.RoleMaintainer)
	switch act {
	case Read, Post:
		return true
	case Comment:
		return signedIn && subj.User.Confirmed
	case SetStatus, Moderate, Apply:
		return maintainer
	case Admin:
		return signedIn && (subj.Admin || subj.Role == store.RoleOwner)
	}
	return false
}

// Listed reports whether l appears in indexes (the home page, /all/, the
// API's list index) shown to subj: public lists always, unlisted and
// private ones only to their members and site admins.
func Listed(subj Subject, l *store.List) bool {
	if l == nil {
		return false
	}
	return visibility(l) == store.VisibilityPublic || subj.effective().member()
}
