package web

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// fakeSubmitter records what the submit pages ask and answers with a
// one-patch draft on list; a request naming repo "refuse" is refused.
type fakeSubmitter struct {
	list     string
	prepared []store.SubmitRequest
	edits    []store.SubmitEdit
	sent     int
}

func (f *fakeSubmitter) draft(id string, userID int64) *store.Submission {
	return &store.Submission{ID: id, UserID: userID, List: f.list, Repo: "https://example.org/r.git", Branch: "topic", Version: 1,
		Draft: store.SubmitDraft{From: core.Person{Name: "Ada", Email: "ada@example.org"}, Base: strings.Repeat("1", 40),
			Warnings: []string{"patch 1 (a: <b>x</b>) has no Signed-off-by: line"},
			Patches: []store.SubmitPatch{{Author: core.Person{Name: "Ada", Email: "ada@example.org"}, Date: time.Unix(1700000000, 0),
				Subject: "a: <b>x</b>", Message: "Why.", Stat: " a.c | 1 +\n 1 file changed", Diff: "diff --git a/a.c b/a.c\n--- a/a.c\n+++ b/a.c\n@@ -1 +1,2 @@\n x\n+int y;\n"}}}}
}

func (f *fakeSubmitter) Prepare(ctx context.Context, u *store.User, req store.SubmitRequest) (*store.Submission, error) {
	f.prepared = append(f.prepared, req)
	if req.Repo == "refuse" {
		return nil, fmt.Errorf("%w: refused: 127.0.0.1 is a loopback address", store.ErrInvalid)
	}
	return f.draft(strings.Repeat("ab", 16), u.ID), nil
}

func (f *fakeSubmitter) Submission(ctx context.Context, id string, userID int64) (*store.Submission, error) {
	return f.draft(id, userID), nil
}

func (f *fakeSubmitter) SubmissionByMessage(ctx context.Context, messageID string) (*store.Submission, error) {
	return nil, store.ErrNotFound
}

func (f *fakeSubmitter) Update(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (*store.Submission, error) {
	f.edits = append(f.edits, e)
	return f.draft(id, u.ID), nil
}

func (f *fakeSubmitter) Send(ctx context.Context, u *store.User, id string, e store.SubmitEdit) (int64, error) {
	f.edits = append(f.edits, e)
	if e.Version > 9 {
		return 0, fmt.Errorf("%w: the version is a number from 1 to 9", store.ErrInvalid)
	}
	f.sent++
	return 42, nil
}

// TestSubmitPages: the form, a refusal shown on it, the preview (escaped,
// with the warnings and the diff), Save, a refused Send and a Send that
// goes to the series page; anonymous readers are sent to sign in.
func TestSubmitPages(t *testing.T) {
	f := &fakeSubmitter{list: "pub"}
	e := newAuthEnv(t, Config{Submit: f})
	tok := e.tokens["user"]
	if res := e.do(req{Path: "/pub/submit", Header: acceptHTML}); res.code != http.StatusSeeOther || !strings.Contains(res.header.Get("Location"), "/signin?next=") {
		t.Errorf("anonymous form: %d %s", res.code, res.header.Get("Location"))
	}
	res := e.do(req{Path: "/pub/submit", Token: tok})
	if res.code != 200 || !strings.Contains(string(res.body), `action="/pub/submit"`) || !strings.Contains(string(res.body), `name="patches"`) {
		t.Fatalf("form: %d %s", res.code, res.body)
	}
	if list := e.do(req{Path: "/pub/"}); !strings.Contains(string(list.body), `href="/pub/submit"`) {
		t.Errorf("the list page lacks the Submit patches link")
	}
	res = e.do(req{Method: "POST", Path: "/pub/submit", Token: tok, Body: "repo=refuse&branch=main"})
	if res.code != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "127.0.0.1 is a loopback address") ||
		!strings.Contains(string(res.body), `value="refuse"`) {
		t.Errorf("refusal: %d %s", res.code, res.body)
	}
	res = e.do(req{Method: "POST", Path: "/pub/submit", Token: tok, Body: "repo=" + url.QueryEscape("https://example.org/r.git") + "&branch=topic&base=abc1234"})
	id := strings.Repeat("ab", 16)
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/submit/"+id+"/" {
		t.Fatalf("prepare: %d %s", res.code, res.header.Get("Location"))
	}
	if p := f.prepared[len(f.prepared)-1]; p.List != "pub" || p.Branch != "topic" || p.Base != "abc1234" {
		t.Errorf("prepared %+v", p)
	}
	// An uploaded file is the pasted patches; pasting as well is refused.
	var mp bytes.Buffer
	mw := multipart.NewWriter(&mp)
	fw, _ := mw.CreateFormFile("patchfile", "series.mbox")
	fw.Write([]byte("From: Ada <ada@example.org>\nSubject: [PATCH] x\n\n---\ndiff --git a/x b/x\n"))
	mw.Close()
	res = e.do(req{Method: "POST", Path: "/pub/submit", Token: tok, Type: mw.FormDataContentType(), Body: mp.String()})
	if p := f.prepared[len(f.prepared)-1]; res.code != http.StatusSeeOther || !strings.HasPrefix(p.Patches, "From: Ada") || p.Repo != "" {
		t.Errorf("upload: %d, prepared %+v", res.code, p)
	}
	mp.Reset()
	mw = multipart.NewWriter(&mp)
	mw.WriteField("patches", "From: Ada <ada@example.org>\n")
	fw, _ = mw.CreateFormFile("patchfile", "series.mbox")
	fw.Write([]byte("From: Ada <ada@example.org>\n"))
	mw.Close()
	n := len(f.prepared)
	res = e.do(req{Method: "POST", Path: "/pub/submit", Token: tok, Type: mw.FormDataContentType(), Body: mp.String()})
	if res.code != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "give the patches once") || len(f.prepared) != n {
		t.Errorf("paste and upload: %d %s", res.code, res.body)
	}
	res = e.do(req{Path: "/submit/" + id + "/", Token: tok})
	page := string(res.body)
	for _, want := range []string{"a: &lt;b&gt;x&lt;/b&gt;", "has no Signed-off-by", "[PATCH]", `class="add"`, `<span class="kt">int</span>`, `name="action" value="send"`, "Ada via pub"} {
		if !strings.Contains(page, want) {
			t.Errorf("preview lacks %q", want)
		}
	}
	if strings.Contains(page, "<b>x</b>") || strings.Contains(page, `id="cover"`) {
		t.Errorf("preview renders HTML of the subject, or a cover letter for one patch")
	}
	if res := e.do(req{Path: "/submit/" + id + "/"}); res.code != http.StatusNotFound {
		t.Errorf("anonymous preview: %d", res.code)
	}
	res = e.do(req{Method: "POST", Path: "/submit/" + id + "/", Token: tok, Body: "action=save&version=2&rfc=1&cc=" + url.QueryEscape("a@example.org, b@example.org")})
	if res.code != 200 || !strings.Contains(string(res.body), "Nothing is sent until you press Send") || f.sent != 0 {
		t.Errorf("save: %d, %d sent", res.code, f.sent)
	}
	if ed := f.edits[len(f.edits)-1]; ed.Version != 2 || !ed.RFC || len(ed.Cc) != 2 {
		t.Errorf("saved edit %+v", ed)
	}
	res = e.do(req{Method: "POST", Path: "/submit/" + id + "/", Token: tok, Body: "action=send&version=10"})
	if res.code != http.StatusUnprocessableEntity || !strings.Contains(string(res.body), "from 1 to 9") || f.sent != 0 {
		t.Errorf("refused send: %d, %d sent", res.code, f.sent)
	}
	res = e.do(req{Method: "POST", Path: "/submit/" + id + "/", Token: tok, Body: "action=send&version=1"})
	if res.code != http.StatusSeeOther || res.header.Get("Location") != "/series/42/?sent=1" || f.sent != 1 {
		t.Errorf("send: %d %s, %d sent", res.code, res.header.Get("Location"), f.sent)
	}
}
