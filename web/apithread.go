package web

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// messageJSON is a message's metadata in API v1.
type messageJSON struct {
	MessageID  string        `json:"message_id"`
	List       string        `json:"list"`
	UID        uint32        `json:"uid"`
	Subject    string        `json:"subject"`
	From       personJSON    `json:"from"`
	Date       *time.Time    `json:"date"`
	Arrived    time.Time     `json:"arrived"`
	InReplyTo  *string       `json:"in_reply_to"`
	References []string      `json:"references"`
	ThreadID   int64         `json:"thread_id"`
	Kind       *string       `json:"kind"`
	SeriesID   *int64        `json:"series_id"`
	Size       int           `json:"size"`
	SHA256     string        `json:"sha256"`
	Trailers   []trailerJSON `json:"trailers"`
	URL        string        `json:"url"`
	RawURL     string        `json:"raw_url"`
	ThreadURL  string        `json:"thread_url"`
	MboxURL    string        `json:"mbox_url"`
}

// threadMessageJSON is a message in a thread: parent is its In-Reply-To
// when that message is in the thread (null for the root and for replies
// to messages the archive does not have); depth is its nesting.
type threadMessageJSON struct {
	messageJSON
	Parent *string `json:"parent"`
	Depth  int     `json:"depth"`
	// Body is the decoded text body, with ?bodies=1 only.
	Body *string `json:"body,omitempty"`
}

type threadDetailJSON struct {
	Thread   threadSummaryJSON   `json:"thread"`
	Messages []threadMessageJSON `json:"messages"`
}

type threadSummaryJSON struct {
	threadJSON
	List string `json:"list"`
	URL  string `json:"url"`
}

type messageDetailJSON struct {
	messageJSON
	Headers []core.Header `json:"headers"`
	Body    string        `json:"body"`
}

var errBadBodies = errors.New("bodies must be 1 or 0 (true or false)")

// msgPath is the escaped /{list}/{message-id} prefix of a message's URLs.
func msgPath(list, id string) string {
	return "/" + url.PathEscape(list) + "/" + url.PathEscape(id)
}

func toMessage(m *store.Message) messageJSON {
	out := messageJSON{
		MessageID:  m.MessageID,
		List:       m.List,
		UID:        m.UID,
		Subject:    m.Subject,
		From:       personJSON(m.From),
		Arrived:    m.Arrived,
		InReplyTo:  nullString(m.InReplyTo),
		References: m.References,
		ThreadID:   m.ThreadID,
		Kind:       nullString(m.Kind),
		SeriesID:   nullID(m.SeriesID),
		Size:       m.Size,
		SHA256:     m.SHA256,
		Trailers:   make([]trailerJSON, 0, len(m.Trailers)),
		URL:        msgPath(m.List, m.MessageID) + "/",
		RawURL:     msgPath(m.List, m.MessageID) + "/raw",
		MboxURL:    msgPath(m.List, m.MessageID) + "/t.mbox.gz",
		ThreadURL:  "/api/v1/lists/" + url.PathEscape(m.List) + "/threads/" + url.PathEscape(m.MessageID),
	}
	if !m.Date.IsZero() {
		d := m.Date
		out.Date = &d
	}
	if out.References == nil {
		out.References = []string{}
	}
	for _, t := range m.Trailers {
		if t.FromMessageID == "" {
			t.FromMessageID = m.MessageID // this message gave it
		}
		out.Trailers = append(out.Trailers, trailerJSON(t))
	}
	return out
}

// messageRoute is how both message API routes
// (/api/v1/lists/{name}/threads/{msgid} and .../messages/{msgid}) start:
// the list name and the Message-ID of the path, with or without angle
// brackets, escaped or not (400 when either is malformed), and the read
// check on the list (404). When it returns false it has answered.
func (h *Handler) messageRoute(w http.ResponseWriter, r *http.Request) (list, id string, ok bool) {
	list, err := listName(r, "name")
	id = trimAngle(r.PathValue("msgid"))
	if err == nil && (id == "" || len(id) > maxMessageIDLen || strings.ContainsAny(id, "\r\n")) {
		err = errBadMsgID
	}
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return "", "", false
	}
	if _, ok := h.readable(w, r, list, "list"); !ok {
		return "", "", false
	}
	return list, id, true
}

// apiThread serves GET /api/v1/lists/{name}/threads/{msgid}: the thread of
// a message, its messages in arrival order (limit, offset: default all, at
// most 1000 a page); with bodies=1 each message's decoded text body too.
func (h *Handler) apiThread(w http.ResponseWriter, r *http.Request) {
	q, err := query(r)
	var p store.Page
	if err == nil {
		p, err = parsePage(q)
	}
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, err.Error())
		return
	}
	if q.Get("limit") == "" {
		p.Limit = 1000
	}
	withBodies, err := strconv.ParseBool(cmp.Or(q.Get("bodies"), "false"))
	if err != nil {
		h.httpError(w, r, http.StatusBadRequest, errBadBodies.Error())
		return
	}
	name, id, ok := h.messageRoute(w, r)
	if !ok {
		return
	}
	th, msgs, err := h.r.Thread(r.Context(), name, id)
	if err == nil && th == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		h.failMessage(w, r, name, err)
		return
	}
	var bodies map[string]string
	if withBodies {
		ms, bs, err := h.r.ThreadBodies(r.Context(), name, id)
		if err != nil {
			h.failMessage(w, r, name, err)
			return
		}
		bodies = make(map[string]string, len(ms))
		for i := range ms {
			if _, dup := bodies[ms[i].MessageID]; !dup {
				bodies[ms[i].MessageID] = bs[i]
			}
		}
	}
	out := threadDetailJSON{
		Thread: threadSummaryJSON{threadJSON: threadJSON(*th), List: name,
			URL: msgPath(name, th.RootMessageID) + "/t/"},
		Messages: make([]threadMessageJSON, 0, min(len(msgs), p.Limit)),
	}
	if th.RootMessageID == "" {
		out.Thread.URL = msgPath(name, id) + "/t/"
	}
	depth := make(map[string]int, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		tm := threadMessageJSON{messageJSON: toMessage(m)}
		if d, ok := depth[m.InReplyTo]; ok && m.InReplyTo != "" {
			tm.Parent = nullString(m.InReplyTo)
			tm.Depth = d + 1
		}
		if _, seen := depth[m.MessageID]; !seen {
			depth[m.MessageID] = tm.Depth
		}
		if b, ok := bodies[m.MessageID]; ok {
			tm.Body = &b
		} else if withBodies {
			empty := ""
			tm.Body = &empty
		}
		if i >= p.Offset && len(out.Messages) < p.Limit {
			out.Messages = append(out.Messages, tm)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// apiMessage serves GET /api/v1/lists/{name}/messages/{msgid}: one
// message's metadata, header fields and decoded text body.
func (h *Handler) apiMessage(w http.ResponseWriter, r *http.Request) {
	name, id, ok := h.messageRoute(w, r)
	if !ok {
		return
	}
	m, headers, body, err := h.r.MessageDetail(r.Context(), name, id)
	if err == nil && m == nil {
		err = store.ErrNotFound
	}
	if err != nil {
		h.failMessage(w, r, name, err)
		return
	}
	if headers == nil {
		headers = []core.Header{}
	}
	writeJSON(w, http.StatusOK, messageDetailJSON{messageJSON: toMessage(m), Headers: headers, Body: body})
}

// failMessage answers an error of a message lookup: a 404 says whether
// the list or the message is unknown (the list is looked up only then, as
// List counts the list's messages).
func (h *Handler) failMessage(w http.ResponseWriter, r *http.Request, list string, err error) {
	if errors.Is(err, store.ErrNotFound) && !h.knownList(w, r, list) {
		return
	}
	h.fail(w, r, "message", err)
}

// diffstatJSON sums a patch's (or a series') files.
type diffstatJSON struct {
	Files   int `json:"files"`
	Added   int `json:"added"`
	Deleted int `json:"deleted"`
}

func diffstat(files []core.File) diffstatJSON {
	d := diffstatJSON{Files: len(files)}
	for _, f := range files {
		d.Added += f.Added
		d.Deleted += f.Deleted
	}
	return d
}

// seriesLinks are the URLs of a series.
type seriesLinks struct {
	WebURL    string  `json:"web_url"`
	MboxURL   string  `json:"mbox_url"`
	ThreadURL *string `json:"thread_url"`
}

func toSeriesLinks(s *store.Series) seriesLinks {
	id := strconv.FormatInt(s.ID, 10)
	l := seriesLinks{WebURL: "/series/" + id + "/", MboxURL: "/api/v1/series/" + id + "/mbox"}
	if s.MessageID != "" && s.List != "" {
		u := "/api/v1/lists/" + url.PathEscape(s.List) + "/threads/" + url.PathEscape(s.MessageID)
		l.ThreadURL = &u
	}
	return l
}
