package access

import (
	"strings"
	"testing"

	"patchwell/store"
)

// The subject kinds of the matrix.
var subjects = map[string]Subject{
	"anonymous":   {},
	"unconfirmed": {User: &store.User{ID: 1}},
	"user":        {User: &store.User{ID: 2, Confirmed: true}},
	"maintainer":  {User: &store.User{ID: 3, Confirmed: true}, Role: store.RoleMaintainer},
	"owner":       {User: &store.User{ID: 4, Confirmed: true}, Role: store.RoleOwner},
	"admin":       {User: &store.User{ID: 5, Confirmed: true, Admin: true}, Admin: true},
	// A role string without a user is not a member: anonymous requests
	// cannot carry roles.
	"anonymous-with-role": {Role: store.RoleOwner},
	// An unconfirmed maintainer keeps the role's rights but may not
	// comment until confirmed.
	"unconfirmed-maintainer": {User: &store.User{ID: 6}, Role: store.RoleMaintainer},
	// A disabled account is anonymous, whatever its role or admin flag
	// (patchwell user disable; the roles come back with enable).
	"disabled-owner": {User: &store.User{ID: 7, Confirmed: true, Disabled: true}, Role: store.RoleOwner},
	"disabled-admin": {User: &store.User{ID: 8, Confirmed: true, Admin: true, Disabled: true}, Admin: true},
}

// TestAllowedMatrix spells out, for every visibility and subject kind,
// the actions allowed: the full matrix, written by hand.
func TestAllowedMatrix(t *testing.T) {
	const (
		all      = "read post comment set-status moderate apply admin"
		maint    = "read post comment set-status moderate apply"
		readOnly = "read post"
		reader   = "read post comment"
		none     = ""
	)
	want := map[string]map[string]string{
		store.VisibilityPublic: {
			"anonymous": readOnly, "unconfirmed": readOnly, "user": reader, "maintainer": maint,
			"owner": all, "admin": all, "anonymous-with-role": readOnly,
			"unconfirmed-maintainer": "read post set-status moderate apply",
			"disabled-owner":         readOnly, "disabled-admin": readOnly,
		},
		store.VisibilityUnlisted: {
			"anonymous": readOnly, "unconfirmed": readOnly, "user": reader, "maintainer": maint,
			"owner": all, "admin": all, "anonymous-with-role": readOnly,
			"unconfirmed-maintainer": "read post set-status moderate apply",
			"disabled-owner":         readOnly, "disabled-admin": readOnly,
		},
		store.VisibilityPrivate: {
			"anonymous": none, "unconfirmed": none, "user": none, "maintainer": maint,
			"owner": all, "admin": all, "anonymous-with-role": none,
			"unconfirmed-maintainer": "read post set-status moderate apply",
			"disabled-owner":         none, "disabled-admin": none,
		},
	}
	// The zero value is public; an unknown value fails closed (private).
	want[""] = want[store.VisibilityPublic]
	want["secret"] = want[store.VisibilityPrivate]
	n := 0
	for vis, row := range want {
		for kind, allowed := range row {
			l := &store.List{Name: "l", Visibility: vis}
			var got []string
			for _, act := range Actions {
				if Allowed(subjects[kind], l, act) {
					got = append(got, act.String())
				}
				n++
			}
			if g := strings.Join(got, " "); g != allowed {
				t.Errorf("visibility %q, %s: allowed %q, want %q", vis, kind, g, allowed)
			}
		}
	}
	if n != 5*len(subjects)*len(Actions) {
		t.Fatalf("matrix incomplete: %d cells", n)
	}
}

// TestListed: indexes show public lists to all, the others to members.
func TestListed(t *testing.T) {
	want := map[string]map[string]bool{
		store.VisibilityPublic:   {"anonymous": true, "unconfirmed": true, "user": true, "maintainer": true, "owner": true, "admin": true, "anonymous-with-role": true, "unconfirmed-maintainer": true, "disabled-owner": true, "disabled-admin": true},
		store.VisibilityUnlisted: {"maintainer": true, "owner": true, "admin": true, "unconfirmed-maintainer": true},
		store.VisibilityPrivate:  {"maintainer": true, "owner": true, "admin": true, "unconfirmed-maintainer": true},
	}
	for vis, row := range want {
		for kind, subj := range subjects {
			if got := Listed(subj, &store.List{Visibility: vis}); got != row[kind] {
				t.Errorf("Listed(%s, %s) = %v, want %v", vis, kind, got, row[kind])
			}
		}
	}
}

func TestNilListAndUnknownAction(t *testing.T) {
	admin := subjects["admin"]
	if Allowed(admin, nil, Read) || Listed(admin, nil) {
		t.Fatal("a nil list must allow nothing")
	}
	if Allowed(admin, &store.List{}, Action(0)) || Allowed(admin, &store.List{}, Action(99)) {
		t.Fatal("unknown actions must be refused")
	}
	if Action(99).String() != "unknown" || Read.String() != "read" {
		t.Fatal("action names")
	}
}
