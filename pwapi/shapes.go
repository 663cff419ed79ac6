package pwapi

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// The JSON shapes, with patchwork's field names. Absent values are null
// as patchwork gives them.

type project struct {
	ID                   int64  `json:"id"`
	URL                  string `json:"url"`
	Name                 string `json:"name"`
	LinkName             string `json:"link_name"`
	ListID               string `json:"list_id"`
	ListEmail            string `json:"list_email"`
	WebURL               string `json:"web_url"`
	SCMURL               string `json:"scm_url"`
	WebSCMURL            string `json:"webscm_url"`
	Maintainers          []user `json:"maintainers"`
	SubjectMatch         string `json:"subject_match"`
	ListArchiveURL       string `json:"list_archive_url"`
	ListArchiveURLFormat string `json:"list_archive_url_format"`
	CommitURLFormat      string `json:"commit_url_format"`
	ShowDependencies     bool   `json:"show_dependencies"`
}

type user struct {
	ID        int64  `json:"id"`
	URL       string `json:"url"`
	Username  string `json:"username"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
	Email     string `json:"email"`
}

type person struct {
	ID    int64  `json:"id"`
	URL   string `json:"url"`
	Name  string `json:"name"`
	Email string `json:"email"`
	User  *user  `json:"user,omitempty"`
}

type seriesRef struct {
	ID      int64  `json:"id"`
	URL     string `json:"url"`
	WebURL  string `json:"web_url"`
	Name    string `json:"name"`
	Date    string `json:"date"`
	Version int    `json:"version"`
	Mbox    string `json:"mbox"`
}

type submissionRef struct {
	ID             int64  `json:"id"`
	URL            string `json:"url"`
	WebURL         string `json:"web_url"`
	MsgID          string `json:"msgid"`
	ListArchiveURL string `json:"list_archive_url"`
	Date           string `json:"date"`
	Name           string `json:"name"`
	Mbox           string `json:"mbox"`
}

type patchJSON struct {
	ID             int64           `json:"id"`
	URL            string          `json:"url"`
	WebURL         string          `json:"web_url"`
	Project        *project        `json:"project"`
	MsgID          string          `json:"msgid"`
	ListArchiveURL string          `json:"list_archive_url"`
	Date           string          `json:"date"`
	Name           string          `json:"name"`
	CommitRef      *string         `json:"commit_ref"`
	PullURL        *string         `json:"pull_url"`
	State          string          `json:"state"`
	Archived       bool            `json:"archived"`
	Hash           *string         `json:"hash"`
	Submitter      person          `json:"submitter"`
	Delegate       *user           `json:"delegate"`
	Mbox           string          `json:"mbox"`
	Series         []seriesRef     `json:"series"`
	Comments       string          `json:"comments"`
	Check          string          `json:"check"`
	Checks         string          `json:"checks"`
	Tags           map[string]int  `json:"tags"`
	Related        []submissionRef `json:"related"`
	Headers        map[string]any  `json:"headers,omitempty"`
	Content        *string         `json:"content,omitempty"`
	Diff           *string         `json:"diff,omitempty"`
	Prefixes       []string        `json:"prefixes,omitempty"`
}

type seriesJSON struct {
	ID            int64           `json:"id"`
	URL           string          `json:"url"`
	WebURL        string          `json:"web_url"`
	Project       *project        `json:"project"`
	Name          string          `json:"name"`
	Date          string          `json:"date"`
	Submitter     person          `json:"submitter"`
	Version       int             `json:"version"`
	Total         int             `json:"total"`
	ReceivedTotal int             `json:"received_total"`
	ReceivedAll   bool            `json:"received_all"`
	Mbox          string          `json:"mbox"`
	CoverLetter   *submissionRef  `json:"cover_letter"`
	Patches       []submissionRef `json:"patches"`
}

type coverJSON struct {
	ID             int64          `json:"id"`
	URL            string         `json:"url"`
	WebURL         string         `json:"web_url"`
	Project        *project       `json:"project"`
	MsgID          string         `json:"msgid"`
	ListArchiveURL string         `json:"list_archive_url"`
	Date           string         `json:"date"`
	Name           string         `json:"name"`
	Submitter      person         `json:"submitter"`
	Mbox           string         `json:"mbox"`
	Series         []seriesRef    `json:"series"`
	Comments       string         `json:"comments"`
	Headers        map[string]any `json:"headers,omitempty"`
	Content        *string        `json:"content,omitempty"`
}

type checkJSON struct {
	ID          int64   `json:"id"`
	URL         string  `json:"url"`
	User        *user   `json:"user"`
	Date        string  `json:"date"`
	State       string  `json:"state"`
	TargetURL   *string `json:"target_url"`
	Context     string  `json:"context"`
	Description *string `json:"description"`
}

type commentJSON struct {
	ID             int64          `json:"id"`
	WebURL         string         `json:"web_url"`
	MsgID          string         `json:"msgid"`
	ListArchiveURL string         `json:"list_archive_url"`
	Date           string         `json:"date"`
	Subject        string         `json:"subject"`
	Submitter      person         `json:"submitter"`
	Content        string         `json:"content"`
	Headers        map[string]any `json:"headers"`
}

// date formats a time as patchwork does (UTC, no zone).
func date(t time.Time) string {
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t.UTC().Format("2006-01-02T15:04:05")
}

func strOrNil(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// msgid is a Message-ID as patchwork shows it, in angle brackets.
func msgid(id string) string { return "<" + id + ">" }

// view builds the shapes for one request, caching what several items
// share (projects, users).
type view struct {
	h        *Handler
	q        *req
	projects map[string]*project
	users    []store.User
	byEmail  map[string]*store.User
}

func (h *Handler) view(q *req) *view {
	return &view{h: h, q: q, projects: map[string]*project{}}
}

func (v *view) ctx() context.Context { return v.q.Context() }

func (v *view) loadUsers() error {
	if v.byEmail != nil {
		return nil
	}
	us, err := v.h.cfg.Users.Users(v.ctx())
	if err != nil {
		return err
	}
	v.users, v.byEmail = us, map[string]*store.User{}
	for i := range v.users {
		v.byEmail[strings.ToLower(v.users[i].Email)] = &v.users[i]
	}
	return nil
}

func (v *view) user(u *store.User) *user {
	first, last, _ := strings.Cut(u.Name, " ")
	return &user{ID: u.ID, URL: fmt.Sprintf("%s/users/%d/", v.q.base, u.ID), Username: u.Email,
		FirstName: first, LastName: last, Email: u.Email}
}

// userByID returns the user with that id, nil if none.
func (v *view) userByID(id int64) (*user, error) {
	if id == 0 {
		return nil, nil
	}
	if err := v.loadUsers(); err != nil {
		return nil, err
	}
	for i := range v.users {
		if v.users[i].ID == id {
			return v.user(&v.users[i]), nil
		}
	}
	return nil, nil
}

// person is someone who sent mail; their id is their account's, when
// they have one, else 0 (patchwell keeps no table of people).
func (v *view) person(p core.Person) (person, error) {
	if err := v.loadUsers(); err != nil {
		return person{}, err
	}
	out := person{Name: p.Name, Email: p.Email}
	if u := v.byEmail[strings.ToLower(p.Email)]; u != nil {
		out.ID, out.URL, out.User = u.ID, fmt.Sprintf("%s/people/%d/", v.q.base, u.ID), v.user(u)
	}
	return out, nil
}

func (v *view) project(l *store.List) (*project, error) {
	if p := v.projects[l.Name]; p != nil {
		return p, nil
	}
	ms, err := v.h.cfg.Lists.ListMaintainers(v.ctx(), l.Name)
	if err != nil {
		return nil, err
	}
	p := &project{ID: l.ID, URL: fmt.Sprintf("%s/projects/%d/", v.q.base, l.ID), Name: l.Name, LinkName: l.Name,
		ListID: l.Name + "." + v.h.cfg.Domain, ListEmail: l.Name + "@" + v.h.cfg.Domain,
		WebURL: v.q.site + "/" + url.PathEscape(l.Name) + "/", Maintainers: []user{},
		ListArchiveURL: v.q.site + "/" + url.PathEscape(l.Name) + "/", ListArchiveURLFormat: v.q.site + "/" + url.PathEscape(l.Name) + "/{}/"}
	if v.h.cfg.Domain == "" {
		p.ListID, p.ListEmail = l.Name, l.Name
	}
	for i := range ms {
		p.Maintainers = append(p.Maintainers, *v.user(&ms[i]))
	}
	v.projects[l.Name] = p
	return p, nil
}

// projectNamed is project for a list known by name only.
func (v *view) projectNamed(name string) (*project, error) {
	if p := v.projects[name]; p != nil {
		return p, nil
	}
	l, err := v.h.cfg.Lists.ListInfo(v.ctx(), name)
	if err != nil {
		return nil, err
	}
	return v.project(l)
}

func (v *view) archiveURL(list, id string) string {
	return v.q.site + "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/"
}

func (v *view) seriesRef(id int64, name string, version int, d time.Time) seriesRef {
	return seriesRef{ID: id, URL: fmt.Sprintf("%s/series/%d/", v.q.base, id), WebURL: fmt.Sprintf("%s/series/%d/", v.q.site, id),
		Name: name, Date: date(d), Version: version, Mbox: fmt.Sprintf("%s/series/%d/mbox/", v.q.base, id)}
}

// patch is one patch's list shape.
func (v *view) patch(p *store.TrackedPatch, check string) (*patchJSON, error) {
	proj, err := v.projectNamed(p.List)
	if err != nil {
		return nil, err
	}
	sub, err := v.person(p.Author)
	if err != nil {
		return nil, err
	}
	del, err := v.userByID(p.Delegate)
	if err != nil {
		return nil, err
	}
	self := fmt.Sprintf("%s/patches/%d/", v.q.base, p.ID)
	out := &patchJSON{ID: p.ID, URL: self, WebURL: v.archiveURL(p.List, p.MessageID), Project: proj,
		MsgID: msgid(p.MessageID), ListArchiveURL: v.archiveURL(p.List, p.MessageID), Date: date(p.Date), Name: p.Subject,
		CommitRef: strOrNil(p.CommitRef), State: p.State, Archived: p.Archived, Hash: strOrNil(p.PatchID),
		Submitter: sub, Delegate: del, Mbox: self + "mbox/",
		Series:   []seriesRef{v.seriesRef(p.SeriesID, p.SeriesSubject, p.SeriesVersion, p.SeriesDate)},
		Comments: self + "comments/", Check: check, Checks: self + "checks/", Tags: map[string]int{}, Related: []submissionRef{}}
	return out, nil
}

// worst is the combined state of checks as patchwork gives it: pending
// without any, else the worst of fail > warning > success > pending.
func worst(cs []store.Check, index int) string {
	rank := map[string]int{store.CheckPending: 0, store.CheckSuccess: 1, store.CheckWarning: 2, store.CheckFail: 3}
	out := store.CheckPending
	for _, c := range cs {
		if c.PatchIndex != 0 && c.PatchIndex != index {
			continue
		}
		if rank[c.State] > rank[out] {
			out = c.State
		}
	}
	return out
}

func (v *view) check(patchURL string, c *store.Check) checkJSON {
	return checkJSON{ID: c.ID, URL: fmt.Sprintf("%schecks/%d/", patchURL, c.ID), Date: date(c.Updated), State: c.State,
		TargetURL: strOrNil(c.URL), Context: c.Context, Description: strOrNil(c.Description)}
}

// headers are a message's header fields as patchwork gives them: a
// name with one value maps to it, with several to their list.
func headers(fields []core.Header) map[string]any {
	out := map[string]any{}
	for _, f := range fields {
		switch old := out[f.Name].(type) {
		case nil:
			out[f.Name] = f.Value
		case string:
			out[f.Name] = []string{old, f.Value}
		case []string:
			out[f.Name] = append(old, f.Value)
		}
	}
	return out
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
