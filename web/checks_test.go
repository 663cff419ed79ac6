package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"patchwell/store"
	"patchwell/webhook"
)

func TestPostCheck(t *testing.T) {
	e := newAuthEnv(t, Config{})
	pub, sec := fmt.Sprint(e.series["pub"]), fmt.Sprint(e.series["sec"])
	good := `{"context":"build/gcc","state":"success","description":"built","target_url":"https://ci.example.org/1"}`
	for _, c := range []struct {
		name, who, series, body string
		code                    int
		err                     string
	}{
		{"maintainer", "maint", sec, good, 201, ""},
		{"owner", "owner", sec, `{"context":"c","state":"pending"}`, 201, ""},
		{"admin", "admin", pub, good, 201, ""},
		{"patch index", "admin", pub, `{"context":"c","state":"warning","patch_index":1,"url":"http://x/"}`, 201, ""},
		{"same url twice", "admin", pub, `{"context":"c","state":"fail","url":"http://x/","target_url":"http://x/"}`, 201, ""},
		{"bad json", "admin", pub, `{"context":`, 400, "bad request body"},
		{"two values", "admin", pub, good + good, 400, "bad request body"},
		{"unknown field", "admin", pub, `{"context":"c","state":"success","color":"red"}`, 400, "bad request body"},
		{"bad state", "admin", pub, `{"context":"c","state":"passed"}`, 400, `bad state "passed": one of pending, success, warning, fail`},
		{"no context", "admin", pub, `{"state":"success"}`, 400, "bad context"},
		{"control chars", "admin", pub, `{"context":"a\nb","state":"success"}`, 400, "bad context"},
		{"long description", "admin", pub, `{"context":"c","state":"success","description":"` + strings.Repeat("x", 2001) + `"}`, 400, "bad description"},
		{"urls differ", "admin", pub, `{"context":"c","state":"success","url":"http://a/","target_url":"http://b/"}`, 400, "url and target_url differ"},
		{"patch index too big", "admin", pub, `{"context":"c","state":"success","patch_index":2}`, 400, "bad patch_index"},
		{"negative patch index", "admin", pub, `{"context":"c","state":"success","patch_index":-1}`, 400, "bad patch_index"},
		{"no token", "", pub, good, 401, "sign in"},
		{"no token, bad json", "", pub, `x`, 401, "sign in"},
		{"wrong role", "user", pub, good, 403, "you may not"},
		{"maintainer elsewhere", "maint", pub, good, 403, "you may not"},
		{"private list, no role", "user", sec, good, 404, "series not found"},
		{"private list, anonymous", "", sec, good, 404, "series not found"},
		{"unknown series", "admin", "999999", good, 404, "series not found"},
		{"bad series id", "admin", "x", good, 400, "series id"},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := e.do(req{Method: "POST", Path: "/api/v1/series/" + c.series + "/checks", Body: c.body, Type: "application/json", Token: e.tokens[c.who]})
			if res.code != c.code {
				t.Fatalf("%d %s, want %d", res.code, res.body, c.code)
			}
			if c.code != 201 {
				var er errorJSON
				if err := json.Unmarshal(res.body, &er); err != nil || !strings.Contains(er.Error, c.err) {
					t.Errorf("error %s, want %q", res.body, c.err)
				}
				return
			}
			var got checkJSON
			if err := json.Unmarshal(res.body, &got); err != nil || got.ID == 0 || got.State == "" {
				t.Errorf("answer %s: %v", res.body, err)
			}
		})
	}
	// A bad token is refused before anything else.
	if res := e.do(req{Method: "POST", Path: "/api/v1/series/" + pub + "/checks", Body: good, Token: "nope"}); res.code != 401 {
		t.Errorf("bad token: %d", res.code)
	}
}

func TestChecksAPI(t *testing.T) {
	e := newAuthEnv(t, Config{})
	pub := fmt.Sprint(e.series["pub"])
	// Without checks: [] and null.
	var empty map[string]any
	if res := e.do(req{Path: "/api/v1/series/" + pub + "/checks"}); res.code != 200 || json.Unmarshal(res.body, &empty) != nil ||
		fmt.Sprint(empty["checks"]) != "[]" || empty["check_state"] != nil {
		t.Fatalf("no checks: %d %s", res.code, res.body)
	}
	post := func(body string) checkJSON {
		t.Helper()
		res := e.do(req{Method: "POST", Path: "/api/v1/series/" + pub + "/checks", Body: body, Type: "application/json", Token: e.tokens["admin"]})
		var c checkJSON
		if res.code != 201 || json.Unmarshal(res.body, &c) != nil {
			t.Fatalf("POST %s: %d %s", body, res.code, res.body)
		}
		return c
	}
	post(`{"context":"lint","state":"success"}`)
	b := post(`{"context":"build","state":"pending","description":"queued"}`)
	if b.URL != nil || b.LogURL != nil {
		t.Errorf("empty url and log: %s %s, want null", *b.URL, *b.LogURL)
	}
	// Reported again: replaced, same id, now with a log.
	b2 := post(`{"context":"build","state":"fail","description":"gcc failed","target_url":"https://ci.example.org/2","log":"error: x.c:1: boom\n"}`)
	if b2.ID != b.ID || b2.LogURL == nil || *b2.URL != "https://ci.example.org/2" {
		t.Errorf("replaced check: %+v (first id %d)", b2, b.ID)
	}
	var list struct {
		Checks     []checkJSON `json:"checks"`
		CheckState *string     `json:"check_state"`
	}
	res := e.do(req{Path: "/api/v1/series/" + pub + "/checks"})
	if err := json.Unmarshal(res.body, &list); err != nil || len(list.Checks) != 2 || list.CheckState == nil || *list.CheckState != "fail" {
		t.Fatalf("checks: %d %s", res.code, res.body)
	}
	if list.Checks[0].Context != "build" || list.Checks[1].Context != "lint" {
		t.Errorf("order: %+v", list.Checks)
	}
	// The series API carries the same.
	var s struct {
		Checks     []checkJSON `json:"checks"`
		CheckState *string     `json:"check_state"`
	}
	res = e.do(req{Path: "/api/v1/series/" + pub})
	if err := json.Unmarshal(res.body, &s); err != nil || len(s.Checks) != 2 || *s.CheckState != "fail" {
		t.Errorf("series: %s", res.body)
	}
	// The log, as text.
	res = e.do(req{Path: *b2.LogURL})
	if res.code != 200 || string(res.body) != "error: x.c:1: boom\n" || res.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		res.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("log: %d %v %q", res.code, res.header, res.body)
	}
	for path, code := range map[string]int{
		fmt.Sprintf("/api/v1/checks/%d/log", list.Checks[1].ID): 404, // no log
		"/api/v1/checks/999999/log":                             404,
		"/api/v1/checks/x/log":                                  400,
		"/api/v1/checks/0/log":                                  400,
		"/api/v1/series/999999/checks":                          404,
		"/api/v1/series/x/checks":                               400,
	} {
		if res := e.do(req{Path: path}); res.code != code || !strings.HasPrefix(res.header.Get("Content-Type"), "application/json") {
			t.Errorf("GET %s: %d %s, want %d (JSON)", path, res.code, res.body, code)
		}
	}
}

func TestCombinedState(t *testing.T) {
	for _, c := range []struct {
		states []string
		want   string
	}{
		{nil, ""},
		{[]string{"success"}, "success"},
		{[]string{"success", "pending"}, "pending"},
		{[]string{"pending", "warning", "success"}, "warning"},
		{[]string{"fail", "warning", "pending"}, "fail"},
	} {
		var cs []store.Check
		for _, s := range c.states {
			cs = append(cs, store.Check{State: s})
		}
		got := ""
		if p := combinedState(cs); p != nil {
			got = *p
		}
		if got != c.want {
			t.Errorf("combinedState(%v) = %q, want %q", c.states, got, c.want)
		}
	}
}

// TestSeriesPageChecks: the Checks section, escaped; only http(s) URLs
// are links; patch checks go with their patch.
func TestSeriesPageChecks(t *testing.T) {
	e := newAuthEnv(t, Config{})
	pub := fmt.Sprint(e.series["pub"])
	res := e.do(req{Path: "/series/" + pub + "/"})
	if res.code != 200 || !strings.Contains(string(res.body), "No checks yet") {
		t.Fatalf("empty state: %d %s", res.code, res.body)
	}
	ctx := context.Background()
	for _, c := range []store.Check{
		{Context: `<script>alert("ctx")</script>`, State: "fail", Description: `<img src=x onerror=alert(1)>`, URL: "javascript:alert(2)", Log: "log"},
		{Context: "build", State: "success", Description: "ok & done", URL: `https://ci.example.org/run?a=1&b="2"`},
		{Context: "per-patch", State: "warning", PatchIndex: 1, Description: "patch one", URL: "data:text/html,<b>x</b>"},
	} {
		c.SeriesID = e.series["pub"]
		if _, err := e.st.SetCheck(ctx, &c); err != nil {
			t.Fatalf("SetCheck() = %v", err)
		}
	}
	res = e.do(req{Path: "/series/" + pub + "/"})
	page := string(res.body)
	if res.code != 200 {
		t.Fatalf("%d %s", res.code, page)
	}
	for _, bad := range []string{`<script>alert("ctx")`, `<img src=x`, `href="javascript:`, `<b>x</b>`, `href="data:`, "No checks yet"} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, want := range []string{
		`&lt;script&gt;alert(&#34;ctx&#34;)&lt;/script&gt;`,
		`&lt;img src=x onerror=alert(1)&gt;`,
		`<code>javascript:alert(2)</code>`,
		`<a href="https://ci.example.org/run?a=1&amp;b=%222%22" rel="nofollow noopener noreferrer">details</a>`,
		`ok &amp; done`,
		`<span class="check check-fail">fail</span>`,
		`/log">log</a>`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The patch's check is in the patch's section, not the series'.
	checks, patch := strings.Index(page, `id="checks"`), strings.Index(page, `id="patch-1"`)
	pc := strings.Index(page, "patch one")
	if checks < 0 || patch < 0 || pc < patch {
		t.Errorf("patch check at %d, patch section at %d, checks at %d", pc, patch, checks)
	}
}

// recordingNotifier records what web tells it.
type recordingNotifier struct {
	mu     sync.Mutex
	events []string
}

func (n *recordingNotifier) StatusChanged(_ context.Context, s *store.Series, c *store.StatusChange) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, fmt.Sprintf("status %d %s->%s %s", s.ID, c.From, c.To, s.Status))
	return nil
}

func (n *recordingNotifier) CheckCreated(_ context.Context, s *store.Series, c *store.Check) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.events = append(n.events, fmt.Sprintf("check %d %s %s", s.ID, c.Context, c.State))
	return nil
}

func TestNotify(t *testing.T) {
	n := &recordingNotifier{}
	e := newAuthEnv(t, Config{Notify: n})
	pub := e.series["pub"]
	path := fmt.Sprintf("/api/v1/series/%d/", pub)
	e.do(req{Method: "POST", Path: path + "status", Body: `{"status":"approved"}`, Type: "application/json", Token: e.tokens["admin"]})
	e.do(req{Method: "POST", Path: path + "status", Body: `{"status":"approved"}`, Type: "application/json", Token: e.tokens["admin"]}) // 409: nothing
	e.do(req{Method: "POST", Path: path + "checks", Body: `{"context":"ci","state":"pending"}`, Token: e.tokens["admin"]})
	e.do(req{Method: "POST", Path: path + "checks", Body: `{"context":"ci","state":"nope"}`, Token: e.tokens["admin"]}) // 400: nothing
	want := []string{fmt.Sprintf("status %d proposed->approved approved", pub), fmt.Sprintf("check %d ci pending", pub)}
	if fmt.Sprint(n.events) != fmt.Sprint(want) {
		t.Errorf("events %q, want %q", n.events, want)
	}
}

// TestCheckWebhook: a check posted over the API reaches a webhook
// receiver, signed, once.
func TestCheckWebhook(t *testing.T) {
	var mu sync.Mutex
	var bodies [][]byte
	var sigOK []bool
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		sigOK = append(sigOK, webhook.Verify([]byte("topsecret"), b, r.Header.Get(webhook.HeaderSignature)))
		mu.Unlock()
	}))
	defer rcv.Close()
	e := newAuthEnv(t, Config{})
	if _, err := e.st.AddWebhook(context.Background(), store.Webhook{URL: rcv.URL, Secret: []byte("topsecret"), Events: []string{webhook.CheckCreated}}); err != nil {
		t.Fatal(err)
	}
	d := webhook.New(e.st, nil, "")
	e.h.cfg.Notify = d
	res := e.do(req{Method: "POST", Path: fmt.Sprintf("/api/v1/series/%d/checks", e.series["pub"]),
		Body: `{"context":"ci","state":"success","description":"<b>ok</b>"}`, Token: e.tokens["admin"]})
	if res.code != 201 {
		t.Fatalf("POST: %d %s", res.code, res.body)
	}
	// The status change is queued too, but no subscription wants it.
	e.do(req{Method: "POST", Path: fmt.Sprintf("/api/v1/series/%d/status", e.series["pub"]), Body: `{"status":"approved"}`, Token: e.tokens["admin"]})
	for range 2 {
		if _, err := d.DeliverDue(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !sigOK[0] {
		t.Fatalf("receiver got %d deliveries (signatures ok: %v)", len(bodies), sigOK)
	}
	var p struct {
		Event string `json:"event"`
		Check struct {
			Context, State, Description string
		} `json:"check"`
	}
	if err := json.Unmarshal(bodies[0], &p); err != nil || p.Event != "check.created" || p.Check.State != "success" || p.Check.Description != "<b>ok</b>" {
		t.Errorf("payload %s", bodies[0])
	}
}
