package pwapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"patchwell/store"
)

// patchIDs returns the ids of a list's patches by Message-ID.
func (e *env) patchIDs(list string) map[string]int64 {
	e.t.Helper()
	ps, err := e.st.TrackedPatches(context.Background(), store.PatchFilter{Lists: []string{list}, Limit: 100})
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[string]int64{}
	for _, p := range ps {
		out[p.MessageID] = p.ID
	}
	return out
}

func TestBundlesAPI(t *testing.T) {
	e := newEnv(t)
	pub, sec := e.patchIDs("pub"), e.patchIDs("sec")
	a1, a2, a3, b1 := pub["a-1@example.org"], pub["a-2@example.org"], pub["a-3@example.org"], pub["b-1@example.org"]
	s1 := sec["s-1@example.org"]
	const form = "application/x-www-form-urlencoded"

	// Created as git-pw sends it: form-encoded, one patches= per patch.
	r := e.do("POST", "/api/1.2/bundles/", "reader", form, fmt.Sprintf("name=to+apply&patches=%d&patches=%d&public=False", a3, a1))
	if r.code != http.StatusCreated {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	b := decode[bundleJSON](t, r)
	patchIDs := func(b bundleJSON) []int64 {
		var out []int64
		for _, p := range b.Patches {
			out = append(out, p.ID)
		}
		return out
	}
	if b.Name != "to apply" || b.Public || b.Owner == nil || b.Owner.Username != "reader@example.org" || b.Project == nil ||
		b.Project.LinkName != "pub" || !cmp.Equal(patchIDs(b), []int64{a3, a1}) {
		t.Fatalf("created %+v", b)
	}
	if want := fmt.Sprintf("http://pw.example/api/1.2/bundles/%d/mbox/", b.ID); b.Mbox != want {
		t.Errorf("mbox %q, want %q", b.Mbox, want)
	}
	if want := fmt.Sprintf("http://pw.example/bundle/%d/", b.ID); b.WebURL != want {
		t.Errorf("web_url %q, want %q", b.WebURL, want)
	}
	if p := b.Patches[0]; p.MsgID != "<a-3@example.org>" || p.Mbox != fmt.Sprintf("http://pw.example/api/1.2/patches/%d/mbox/", a3) {
		t.Errorf("patch ref %+v", p)
	}
	self := fmt.Sprintf("/api/1.2/bundles/%d/", b.ID)

	// JSON, public, by another user.
	r = e.do("POST", "/api/bundles/", "maint", "application/json", fmt.Sprintf(`{"name": "docs", "patches": [%d], "public": true}`, b1))
	if r.code != http.StatusCreated {
		t.Fatalf("create JSON: %d %s", r.code, r.body)
	}
	docs := decode[bundleJSON](t, r)

	// Refusals of a create.
	for _, tc := range []struct {
		name, path, who, ctype, body string
		code                         int
		detail                       string
	}{
		{"before 1.2", "/api/1.1/bundles/", "reader", form, fmt.Sprintf("name=x&patches=%d", a1), 405, `Method "POST" not allowed.`},
		{"anonymous", "/api/1.2/bundles/", "", form, fmt.Sprintf("name=x&patches=%d", a1), 401, "Authentication credentials were not provided."},
		{"no patches", "/api/1.2/bundles/", "reader", form, "name=x", 400, "Bundles cannot be empty."},
		{"no name", "/api/1.2/bundles/", "reader", form, fmt.Sprintf("patches=%d", a1), 400, "A bundle needs a name."},
		{"two projects", "/api/1.2/bundles/", "maint", form, fmt.Sprintf("name=x&patches=%d&patches=%d", a1, s1), 400,
			"Bundle patches must belong to the same project."},
		{"a patch hidden from the caller", "/api/1.2/bundles/", "reader", form, fmt.Sprintf("name=x&patches=%d", s1), 400,
			fmt.Sprintf(`Invalid pk "%d" - object does not exist.`, s1)},
		{"unknown patch", "/api/1.2/bundles/", "reader", form, "name=x&patches=99999", 400, `Invalid pk "99999" - object does not exist.`},
		{"not an id", "/api/1.2/bundles/", "reader", form, "name=x&patches=abc", 400, `Incorrect type. Expected pk value, received "abc".`},
		{"bad public", "/api/1.2/bundles/", "reader", form, fmt.Sprintf("name=x&patches=%d&public=maybe", a1), 400, `Invalid public "maybe": true or false.`},
		{"name taken", "/api/1.2/bundles/", "reader", form, fmt.Sprintf("name=to+apply&patches=%d", a2), 400,
			"You already have a bundle of that name on this project."},
		{"bad JSON", "/api/1.2/bundles/", "reader", "application/json", `{"name": `, 400, ""},
		{"control character", "/api/1.2/bundles/", "reader", "application/json", fmt.Sprintf(`{"name": "a\u0007b", "patches": [%d]}`, a1), 400,
			"Bundle name with control characters."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do("POST", tc.path, tc.who, tc.ctype, tc.body)
			if r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
			d := decode[map[string]string](t, r)
			if tc.detail != "" && d["detail"] != tc.detail || d["detail"] == "" {
				t.Fatalf("detail %q, want %q", d["detail"], tc.detail)
			}
		})
	}

	// Who sees what.
	names := func(path, who string) []string {
		t.Helper()
		r := e.get(path, who)
		if r.code != http.StatusOK {
			t.Fatalf("GET %s as %q: %d %s", path, who, r.code, r.body)
		}
		out := []string{}
		for _, b := range decode[[]bundleJSON](t, r) {
			out = append(out, b.Name)
		}
		return out
	}
	for _, tc := range []struct {
		path, who string
		want      []string
	}{
		{"/api/1.2/bundles/", "", []string{"docs"}},
		{"/api/1.2/bundles/", "reader", []string{"to apply", "docs"}},
		{"/api/1.2/bundles/", "maint", []string{"docs"}},
		{"/api/1.2/bundles/?order=-name", "reader", []string{"to apply", "docs"}},
		{"/api/1.2/bundles/?order=name", "reader", []string{"docs", "to apply"}},
		{"/api/1.2/bundles/?q=APP", "reader", []string{"to apply"}},
		{"/api/1.2/bundles/?owner=maint@example.org", "reader", []string{"docs"}},
		{fmt.Sprintf("/api/1.2/bundles/?owner=%d", e.users["reader"]), "reader", []string{"to apply"}},
		{"/api/1.2/bundles/?public=false", "reader", []string{"to apply"}},
		{"/api/1.2/bundles/?project=pub", "", []string{"docs"}},
		{"/api/1.2/bundles/?per_page=1&page=2", "reader", []string{"docs"}},
	} {
		if got := names(tc.path, tc.who); !cmp.Equal(got, tc.want) {
			t.Errorf("GET %s as %q: %v, want %v", tc.path, tc.who, got, tc.want)
		}
	}
	if r := e.get("/api/1.2/bundles/?order=size", "reader"); r.code != http.StatusBadRequest {
		t.Errorf("bad order: %d", r.code)
	}
	if r := e.get("/api/1.2/bundles/?project=sec", ""); r.code != http.StatusNotFound {
		t.Errorf("a private list's bundles, anonymous: %d", r.code)
	}
	for _, who := range []string{"", "maint", "admin", "bad"} {
		want := http.StatusNotFound
		if who == "bad" {
			want = http.StatusUnauthorized
		}
		for _, p := range []string{self, self + "mbox/"} {
			if r := e.get(p, who); r.code != want {
				t.Errorf("private bundle %s as %q: %d %s, want %d", p, who, r.code, r.body, want)
			}
		}
	}
	if r := e.get(self, "reader"); r.code != http.StatusOK {
		t.Fatalf("own private bundle: %d %s", r.code, r.body)
	}
	if r := e.get(fmt.Sprintf("/api/1.0/bundles/%d/", docs.ID), ""); r.code != http.StatusOK {
		t.Errorf("1.0: %d %s", r.code, r.body)
	} else if _, ok := decode[map[string]any](t, r)["web_url"]; ok {
		t.Errorf("1.0 has no web_url: %s", r.body)
	}

	// The mbox: the patches in the bundle's order.
	r = e.get(self+"mbox/", "reader")
	if r.code != http.StatusOK || !strings.Contains(r.header.Get("Content-Disposition"), "filename=") {
		t.Fatalf("mbox: %d %v", r.code, r.header)
	}
	i3, i1 := strings.Index(string(r.body), "Message-ID: <a-3@example.org>"), strings.Index(string(r.body), "Message-ID: <a-1@example.org>")
	if i3 < 0 || i1 < 0 || i3 > i1 || strings.Count(string(r.body), "\nFrom ")+1 != 2 {
		t.Fatalf("mbox not a-3 then a-1:\n%s", r.body)
	}

	// Updates: the owner only.
	docsPath := fmt.Sprintf("/api/1.2/bundles/%d/", docs.ID)
	for _, tc := range []struct {
		name, method, path, who, body string
		code                          int
	}{
		{"someone else's public bundle", "PATCH", docsPath, "reader", "name=mine", 403},
		{"someone else's private bundle", "PATCH", self, "maint", "name=mine", 404},
		{"anonymous", "PATCH", docsPath, "", "name=mine", 401},
		{"before 1.2", "PATCH", fmt.Sprintf("/api/1.1/bundles/%d/", docs.ID), "maint", "name=mine", 405},
		{"delete someone else's", "DELETE", docsPath, "reader", "", 403},
		{"empty patches", "PATCH", self, "reader", `{"patches": []}`, 400},
		{"other project's patch", "PATCH", self, "reader", fmt.Sprintf(`{"patches": [%d]}`, s1), 400},
		{"empty name", "PATCH", self, "reader", `{"name": ""}`, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct := form
			if strings.HasPrefix(tc.body, "{") {
				ct = "application/json"
			}
			if r := e.do(tc.method, tc.path, tc.who, ct, tc.body); r.code != tc.code {
				t.Fatalf("%d %s, want %d", r.code, r.body, tc.code)
			}
		})
	}
	// git-pw's "bundle add": the new patches, then those it held.
	r = e.do("PATCH", self, "reader", form, fmt.Sprintf("patches=%d&patches=%d&patches=%d&name=renamed&public=True", a2, a3, a1))
	if r.code != http.StatusOK {
		t.Fatalf("update: %d %s", r.code, r.body)
	}
	if u := decode[bundleJSON](t, r); u.Name != "renamed" || !u.Public || !cmp.Equal(patchIDs(u), []int64{a2, a3, a1}) {
		t.Fatalf("updated %+v", u)
	}
	if r := e.get(self, ""); r.code != http.StatusOK {
		t.Fatalf("public now, anonymous: %d", r.code)
	}
	r = e.do("PUT", self, "reader", "application/json", `{"public": false}`)
	if u := decode[bundleJSON](t, r); r.code != http.StatusOK || u.Public || len(u.Patches) != 3 {
		t.Fatalf("PUT public=false: %d %s", r.code, r.body)
	}
	if r := e.do("DELETE", self, "reader", "", ""); r.code != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.code, r.body)
	}
	if r := e.get(self, "reader"); r.code != http.StatusNotFound {
		t.Fatalf("deleted: %d", r.code)
	}
}
