package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"patchwell/gitrepo"
	"patchwell/internal/conffile"
	"patchwell/lists"
	"patchwell/store"
)

// ListDecl is a list as the configuration file declares it, one
// [[list]] table. Only the keys the table gives are enforced, at start
// and on every Reconcile (SIGHUP): what it leaves out stays as the web,
// the command line or an earlier reconcile made it. A list missing from
// the file is left alone, never deleted.
type ListDecl struct {
	Name string
	// Where it is declared, for messages.
	Where string
	// Description and Owner (an address) are set when given.
	Description, Owner, Visibility *string
	Policy                         lists.PolicyChange
	Repo                           gitrepo.RepoChange
	// Owners and Maintainers, when given (non-nil), are exactly the
	// accounts with that role on the list: others lose it.
	Owners, Maintainers []string
}

// listKeys are the keys a [[list]] table may have.
var listKeys = []string{"name", "description", "owner", "visibility", "posting", "dmarc", "allow", "deny",
	"repo", "vcs", "branch", "check", "first-timer-gate", "owners", "maintainers"}

// ListDecls reads the [[list]] tables of a configuration file (the
// only tables it may have), checking every value; each mistake names its
// line.
func ListDecls(f *conffile.File) ([]ListDecl, error) {
	var out []ListDecl
	errs := []error{f.CheckTables("list")}
	names := map[string]int{}
	for _, t := range f.Tables {
		if t.Name != "list" {
			continue
		}
		d := ListDecl{Where: fmt.Sprintf("%s:%d", f.Path, t.Line)}
		bad := func(e conffile.Entry, format string, args ...any) {
			errs = append(errs, f.Errorf(e.Line, "%s: %s", e.Key, fmt.Sprintf(format, args...)))
		}
		str := func(e conffile.Entry) *string {
			if e.IsList {
				bad(e, "a string, not an array")
				return nil
			}
			v := e.Value
			return &v
		}
		list := func(e conffile.Entry) []string {
			if !e.IsList {
				return strings.Fields(strings.ReplaceAll(e.Value, ",", " "))
			}
			return e.List
		}
		for _, e := range t.Entries {
			switch e.Key {
			case "name":
				if v := str(e); v != nil {
					d.Name = *v
					if !store.ValidListName(d.Name) {
						bad(e, "bad list name %q: use lowercase letters, digits, '.', '_' and '-'", d.Name)
					} else if prev, dup := names[d.Name]; dup {
						bad(e, "list %q is declared twice (first on line %d)", d.Name, prev)
					}
					names[d.Name] = e.Line
				}
			case "description":
				d.Description = str(e)
			case "owner":
				d.Owner = str(e)
			case "visibility":
				if d.Visibility = str(e); d.Visibility != nil && !store.ValidVisibility(*d.Visibility) {
					bad(e, "%q: public, unlisted or private", *d.Visibility)
				}
			case "posting":
				if v := str(e); v != nil {
					if d.Policy.Posting = *v; !store.ValidPosting(*v) {
						bad(e, "%q: open, subscribers or moderated", *v)
					}
				}
			case "dmarc":
				if v := str(e); v != nil {
					if d.Policy.DMARC = *v; !store.ValidDMARCAction(*v) {
						bad(e, "%q: accept, hold or reject", *v)
					}
				}
			case "allow":
				v := strings.Join(list(e), ",")
				d.Policy.Allow = &v
			case "deny":
				v := strings.Join(list(e), ",")
				d.Policy.Deny = &v
			case "repo":
				d.Repo.Repo = str(e)
			case "vcs":
				if d.Repo.VCS = str(e); d.Repo.VCS != nil && *d.Repo.VCS != store.VCSGit && *d.Repo.VCS != store.VCSHg {
					bad(e, "%q: git or hg", *d.Repo.VCS)
				}
			case "branch":
				if d.Repo.Branch = str(e); d.Repo.Branch != nil && !store.ValidBranch(*d.Repo.Branch) {
					bad(e, "%q is not a branch name", *d.Repo.Branch)
				}
			case "check":
				d.Repo.Check = str(e)
			case "first-timer-gate":
				if v := str(e); v != nil {
					b, err := strconv.ParseBool(*v)
					if err != nil {
						bad(e, "%q: true or false", *v)
					}
					d.Repo.FirstTimerGate = &b
				}
			case "owners":
				d.Owners = list(e)
			case "maintainers":
				d.Maintainers = list(e)
			default:
				bad(e, "unknown key (a [[list]] has %s)", strings.Join(listKeys, ", "))
			}
		}
		if d.Name == "" {
			errs = append(errs, f.Errorf(t.Line, "[[list]] without a name"))
		}
		for _, a := range d.Owners {
			if slices.Contains(d.Maintainers, a) {
				errs = append(errs, f.Errorf(t.Line, "%s is both an owner and a maintainer of %s", a, d.Name))
			}
		}
		out = append(out, d)
	}
	return out, errors.Join(errs...)
}

// ReconcileStore is what Reconcile needs of the store.
type ReconcileStore interface {
	gitrepo.RepoStore
	lists.Policies
	CreateList(ctx context.Context, l store.List) (*store.List, error)
	SetListInfo(ctx context.Context, list, description, owner string) error
	SetVisibility(ctx context.Context, list, visibility string) error
	UserByEmail(ctx context.Context, email string) (*store.User, error)
	ListMaintainers(ctx context.Context, list string) ([]store.User, error)
	Role(ctx context.Context, userID int64, list string) (string, error)
	SetRole(ctx context.Context, userID int64, list, role string) error
}

// Reconcile makes the store say what decls declare, and returns what it
// changed, a line each (for the log). Declared accounts that do not
// exist are reported, not created (accounts have passwords; see
// patchwell user add). It stops at the first error, which names the
// declaration.
func Reconcile(ctx context.Context, st ReconcileStore, decls []ListDecl) ([]string, error) {
	var did []string
	for _, d := range decls {
		changes, err := reconcileList(ctx, st, d)
		did = append(did, changes...)
		if err != nil {
			return did, fmt.Errorf("%s: list %s: %w", d.Where, d.Name, err)
		}
	}
	return did, nil
}

func reconcileList(ctx context.Context, st ReconcileStore, d ListDecl) ([]string, error) {
	var did []string
	note := func(format string, args ...any) { did = append(did, d.Name+": "+fmt.Sprintf(format, args...)) }
	l, err := st.ListInfo(ctx, d.Name)
	if errors.Is(err, store.ErrNotFound) {
		nl := store.List{Name: d.Name, Visibility: store.VisibilityPublic}
		set(&nl.Description, d.Description)
		set(&nl.Owner, d.Owner)
		set(&nl.Visibility, d.Visibility)
		if l, err = st.CreateList(ctx, nl); err != nil {
			return did, err
		}
		note("created")
	} else if err != nil {
		return did, err
	}
	desc, owner := l.Description, l.Owner
	set(&desc, d.Description)
	set(&owner, d.Owner)
	if desc != l.Description || owner != l.Owner {
		if err := st.SetListInfo(ctx, d.Name, desc, owner); err != nil {
			return did, err
		}
		note("description and owner set")
	}
	if d.Visibility != nil && *d.Visibility != l.Visibility {
		if err := st.SetVisibility(ctx, d.Name, *d.Visibility); err != nil {
			return did, err
		}
		note("visibility %s (was %s)", *d.Visibility, l.Visibility)
	}
	if d.Policy != (lists.PolicyChange{}) {
		before, err := st.Policy(ctx, d.Name)
		if err != nil {
			return did, err
		}
		after, err := lists.SetPolicy(ctx, st, d.Name, d.Policy)
		if err != nil {
			return did, err
		}
		if policyKey(before) != policyKey(after) {
			note("posting policy set")
		}
	}
	if changed, err := repoDiffers(ctx, st, d.Name, d.Repo); err != nil {
		return did, err
	} else if changed {
		if _, err := gitrepo.SetListRepo(ctx, st, d.Name, d.Repo); err != nil {
			return did, err
		}
		note("repository set")
	}
	for _, r := range []struct {
		role   string
		emails []string
	}{{store.RoleOwner, d.Owners}, {store.RoleMaintainer, d.Maintainers}} {
		if r.emails == nil {
			continue
		}
		changes, err := reconcileRole(ctx, st, d.Name, r.role, r.emails)
		for _, c := range changes {
			note("%s", c)
		}
		if err != nil {
			return did, err
		}
	}
	return did, nil
}

// repoDiffers reports whether c would change the list's repository
// settings (so that a reconcile that changes nothing probes nothing).
func repoDiffers(ctx context.Context, st ReconcileStore, list string, c gitrepo.RepoChange) (bool, error) {
	if c == (gitrepo.RepoChange{}) {
		return false, nil
	}
	cur, err := st.ListRepo(ctx, list)
	if errors.Is(err, store.ErrNotFound) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	differs := func(p *string, v string) bool { return p != nil && *p != v }
	return differs(c.Repo, cur.Repo) && !(c.Repo != nil && sameLocalRepo(*c.Repo, cur.Repo)) ||
		differs(c.Branch, cur.Branch) || differs(c.Check, cur.Check) || differs(c.VCS, cur.VCS) ||
		c.FirstTimerGate != nil && *c.FirstTimerGate != cur.FirstTimerGate, nil
}

// sameLocalRepo: a local path is stored absolute (SetListRepo), so a
// declared relative path names the stored one when they resolve alike.
func sameLocalRepo(declared, stored string) bool {
	if strings.Contains(declared, ":") { // a URL (scp-like ones too)
		return false
	}
	abs, err := filepath.Abs(declared)
	return err == nil && abs == stored
}

// reconcileRole gives role on list to exactly the accounts of emails.
func reconcileRole(ctx context.Context, st ReconcileStore, list, role string, emails []string) ([]string, error) {
	var did []string
	want := map[int64]bool{}
	for _, e := range emails {
		u, err := st.UserByEmail(ctx, e)
		if errors.Is(err, store.ErrNotFound) {
			did = append(did, fmt.Sprintf("%s %s has no account (patchwell user add): no role given", role, e))
			continue
		}
		if err != nil {
			return did, err
		}
		want[u.ID] = true
		if cur, err := st.Role(ctx, u.ID, list); err != nil {
			return did, err
		} else if cur != role {
			if err := st.SetRole(ctx, u.ID, list, role); err != nil {
				return did, err
			}
			did = append(did, fmt.Sprintf("%s is %s", e, role))
		}
	}
	users, err := st.ListMaintainers(ctx, list)
	if err != nil {
		return did, err
	}
	for _, u := range users {
		if want[u.ID] {
			continue
		}
		if cur, err := st.Role(ctx, u.ID, list); err != nil {
			return did, err
		} else if cur == role {
			if err := st.SetRole(ctx, u.ID, list, ""); err != nil {
				return did, err
			}
			did = append(did, fmt.Sprintf("%s is no longer %s (not declared)", u.Email, role))
		}
	}
	return did, nil
}

func set[T any](dst *T, v *T) {
	if v != nil {
		*dst = *v
	}
}

// policyKey compares policies whatever the order and case of their rules
// (the store keeps them sorted, lower case).
func policyKey(p *store.ListPolicy) string {
	norm := func(rs []string) string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = strings.ToLower(r)
		}
		slices.Sort(out)
		return strings.Join(out, ",")
	}
	return p.Posting + "|" + p.DMARC + "|" + norm(p.Allow) + "|" + norm(p.Deny)
}
