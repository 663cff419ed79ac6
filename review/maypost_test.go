package review

import (
	"context"
	"errors"
	"testing"

	"patchwell/store"
)

// TestMayPost: who may send mail to a list, decided by access.Post on the
// envelope sender's account and role.
func TestMayPost(t *testing.T) {
	in, st := newTestIngester(t)
	ctx := context.Background()
	for _, l := range []struct{ name, vis string }{{"pub", store.VisibilityPublic}, {"hid", store.VisibilityUnlisted}, {"sec", store.VisibilityPrivate}} {
		if _, err := st.CreateList(ctx, store.List{Name: l.name, Visibility: l.vis}); err != nil {
			t.Fatal(err)
		}
	}
	a := NewAccounts(st, testArgon2)
	for _, u := range []struct {
		email, role string
		admin       bool
	}{{"maint@example.org", store.RoleMaintainer, false}, {"owner@example.org", store.RoleOwner, false},
		{"admin@example.org", "", true}, {"user@example.org", "", false}, {"off@example.org", store.RoleMaintainer, false}} {
		nu, err := a.AddUser(ctx, u.email, "U", "correct horse", u.admin)
		if err != nil {
			t.Fatal(err)
		}
		if u.role != "" {
			if err := st.SetRole(ctx, nu.ID, "sec", u.role); err != nil {
				t.Fatal(err)
			}
		}
	}
	// off is a maintainer of sec whose account is disabled: the role
	// stays stored but works no more (patchwell user disable).
	if _, err := a.SetDisabled(ctx, "off@example.org", true); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		list, from string
		want       bool
	}{
		{"pub", "anyone@example.net", true},
		{"pub", "", true},
		{"hid", "anyone@example.net", true},
		{"sec", "maint@example.org", true},
		{"sec", "Maint@EXAMPLE.ORG", true}, // accounts' addresses ignore case
		{"sec", "owner@example.org", true},
		{"sec", "admin@example.org", true},
		{"sec", "user@example.org", false}, // an account without a role on the list
		{"sec", "off@example.org", false},  // a disabled account: anyone
		{"pub", "off@example.org", true},
		{"sec", "anyone@example.net", false},
		{"sec", "", false},
	}
	for _, tt := range tests {
		got, err := in.MayPost(ctx, tt.list, tt.from)
		if err != nil || got != tt.want {
			t.Errorf("MayPost(%q, %q) = %v, %v; want %v", tt.list, tt.from, got, err, tt.want)
		}
	}
	if _, err := in.MayPost(ctx, "nosuch", "maint@example.org"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("MayPost(unknown list) = %v, want ErrNotFound", err)
	}
}
