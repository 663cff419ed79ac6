package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"patchwell/store"
)

// TestCIGoAheadButton: a series CI holds for a go-ahead shows the button
// to maintainers only, and the form (with its CSRF field) releases it.
func TestCIGoAheadButton(t *testing.T) {
	var released []int64
	e := newAuthEnv(t, Config{CIRelease: func(ctx context.Context, id int64) error {
		released = append(released, id)
		return nil
	}})
	id := e.series["sec"]
	if _, err := e.st.SetCheck(context.Background(), &store.Check{SeriesID: id, Context: "patchwell/check", State: store.CheckPending,
		Description: "waiting for a maintainer's go-ahead: first series from ann@example.org on sec"}); err != nil {
		t.Fatal(err)
	}
	path := fmt.Sprintf("/series/%d/", id)
	u := e.signin("user@example.org")
	if page := string(e.do(req{Path: fmt.Sprintf("/series/%d/", e.series["pub"]), Cookie: u.Value}).body); strings.Contains(page, "Allow CI") {
		t.Error("a reader without a role sees the go-ahead button")
	}
	c := e.signin("maint@example.org")
	page := string(e.do(req{Path: path, Cookie: c.Value}).body)
	if !strings.Contains(page, "Allow CI to run this series") {
		t.Fatalf("the maintainer sees no go-ahead button:\n%s", page)
	}
	form := fmt.Sprintf("/series/%d/ci/release", id)
	if res := e.do(req{Method: "POST", Path: form, Cookie: c.Value}); res.code != http.StatusForbidden || len(released) != 0 {
		t.Errorf("without the CSRF field: %d, released %v", res.code, released)
	}
	res := e.do(req{Method: "POST", Path: form, Cookie: c.Value, Body: "csrf=" + e.csrf(c.Value)})
	if res.code != http.StatusSeeOther || len(released) != 1 || released[0] != id {
		t.Errorf("go-ahead: %d, released %v", res.code, released)
	}
	if res := e.do(req{Method: "POST", Path: form, Cookie: u.Value, Body: "csrf=" + e.csrf(u.Value)}); res.code != http.StatusNotFound {
		t.Errorf("a user who may not read the private list: %d", res.code)
	}
}
