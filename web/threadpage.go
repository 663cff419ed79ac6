package web

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"patchwell/core"
	"patchwell/store"
)

// threadPageSize is how many messages a thread page shows.
const threadPageSize = 50

// maxDepth bounds the indentation of nested replies.
const maxDepth = 12

type threadMessage struct {
	M      store.Message
	Depth  int
	Blocks []block
	// Files is a patch's diff, coloured as on the series page (Blocks
	// then hold the text before it).
	Files   []diffFile
	Headers string
	// Focus marks the message the URL names.
	Focus bool
	// ShowSubject is false when the subject only repeats the parent's
	// (the root's, in the flat view) behind "Re:".
	ShowSubject bool
	// Parent links to the message this one answers, when it is in the
	// thread (the flat view shows it).
	Parent, ParentFrom string
	// Auth is the message's authentication and maintainer command note
	// (message page only; mlist.go).
	Auth *authNote
}

type pageLink struct {
	N       int
	URL     string
	Current bool
}

type threadPage struct {
	List     string
	Subject  string
	Messages []threadMessage
	// ID is the Message-ID the URL names.
	ID    string
	Flat  bool
	Total int
	// Paging: Page of Pages; Pager is empty when there is one page.
	Page, Pages int
	Pager       []pageLink
	Prev, Next  string
	// Thread links to the whole thread when the page shows one message.
	Thread string
}

// anchor is the fragment of a message on thread pages.
func anchor(m *store.Message) string { return "m" + strconv.FormatUint(uint64(m.UID), 10) }

// treeOrder returns the indexes of msgs (in arrival order) in thread
// order: each message followed by its replies, depth first, siblings in
// arrival order; with each one's depth. A message's parent is the message
// its In-Reply-To names, or else the last of its References that is in the
// thread. Messages in a reference cycle, which no root reaches, come last.
func treeOrder(msgs []store.Message) (order, depth []int) {
	at := make(map[string]int, len(msgs))
	for i := range msgs {
		if _, ok := at[msgs[i].MessageID]; !ok {
			at[msgs[i].MessageID] = i
		}
	}
	parent := make([]int, len(msgs))
	children := make([][]int, len(msgs))
	var roots []int
	for i := range msgs {
		parent[i] = -1
		if p, ok := at[msgs[i].InReplyTo]; ok && p != i {
			parent[i] = p
		} else {
			for j := len(msgs[i].References) - 1; j >= 0; j-- {
				if p, ok := at[msgs[i].References[j]]; ok && p != i {
					parent[i] = p
					break
				}
			}
		}
		if parent[i] < 0 {
			roots = append(roots, i)
		} else {
			children[parent[i]] = append(children[parent[i]], i)
		}
	}
	depth = make([]int, len(msgs))
	seen := make([]bool, len(msgs))
	order = make([]int, 0, len(msgs))
	var stack []int
	walk := func(root int) {
		stack = append(stack[:0], root)
		for len(stack) > 0 {
			i := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			if seen[i] {
				continue
			}
			seen[i] = true
			order = append(order, i)
			for j := len(children[i]) - 1; j >= 0; j-- {
				c := children[i][j]
				if !seen[c] {
					depth[c] = depth[i] + 1
					stack = append(stack, c)
				}
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	for i := range msgs {
		if !seen[i] {
			walk(i)
		}
	}
	return order, depth
}

// dateOrder returns the indexes of msgs sorted by their Date header, as
// public-inbox's flat view; a message without one counts its arrival.
func dateOrder(msgs []store.Message) []int {
	order := make([]int, len(msgs))
	for i := range order {
		order[i] = i
	}
	key := func(i int) time.Time {
		if msgs[i].Date.IsZero() {
			return msgs[i].Arrived
		}
		return msgs[i].Date
	}
	slices.SortStableFunc(order, func(a, b int) int { return key(a).Compare(key(b)) })
	return order
}

// threadPage serves GET /{list}/{message-id}/t/ (nested: each message
// followed by its replies) and /T/ (flat: by date, each message saying
// which one it answers), as public-inbox names them. Long threads are
// paged (?page=N, 50 messages a page); without ?page the page holding the
// named message is shown, so /{list}/{message-id}/t/#m{UID} lands on it.
func (h *Handler) threadPage(w http.ResponseWriter, r *http.Request, list, id string, flat bool) {
	if id == "" || len(id) > maxMessageIDLen {
		h.httpError(w, r, http.StatusNotFound, "not found")
		return
	}
	page := 0
	if r.URL.Query().Has("page") {
		s := r.URL.Query().Get("page")
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bad page=%q: want a page number from 1", s))
			return
		}
		page = n
	}
	msgs, bodies, err := h.r.ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	if len(msgs) == 0 {
		h.httpError(w, r, http.StatusNotFound, "message not found")
		return
	}
	var order, depth []int
	if flat {
		order = dateOrder(msgs)
	} else {
		order, depth = treeOrder(msgs)
	}
	pages := (len(order) + threadPageSize - 1) / threadPageSize
	if page > pages {
		h.httpError(w, r, http.StatusBadRequest, fmt.Sprintf("bad page=%d: the thread has %d page(s)", page, pages))
		return
	}
	pos := make([]int, len(msgs)) // position of each message in order
	focus := -1
	for p, i := range order {
		pos[i] = p
		if focus < 0 && msgs[i].MessageID == id {
			focus = i
		}
	}
	if page == 0 {
		page = 1
		if focus >= 0 {
			page = pos[focus]/threadPageSize + 1
		}
	}
	headers, err := h.r.ThreadHeaders(r.Context(), list, id)
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	at := make(map[string]int, len(msgs))
	for i := range msgs {
		if _, ok := at[msgs[i].MessageID]; !ok {
			at[msgs[i].MessageID] = i
		}
	}
	base := "/" + url.PathEscape(list) + "/" + url.PathEscape(id)
	view := "/t/"
	if flat {
		view = "/T/"
	}
	pageURL := func(n int) string { return base + view + "?page=" + strconv.Itoa(n) }
	d := threadPage{List: list, ID: id, Flat: flat, Total: len(msgs), Page: page, Pages: pages,
		Subject: visible(msgs[order[0]].Subject)}
	hl := newHighlighter()
	for _, i := range order[(page-1)*threadPageSize : min(page*threadPageSize, len(order))] {
		m := msgs[i]
		m.Subject = visible(m.Subject)
		m.From.Name = visible(m.From.Name)
		tm := threadMessage{M: m, Focus: i == focus, ShowSubject: true}
		tm.Blocks, tm.Files = messageBody(hl, anchor(&m), m.Kind, bodies[i])
		if p := parentOf(msgs, at, i, flat, order); p >= 0 && baseSubject(msgs[p].Subject) == baseSubject(msgs[i].Subject) {
			tm.ShowSubject = false
		}
		if hd, ok := headers[m.UID]; ok {
			tm.Headers = visible(hd)
		} else {
			tm.Headers = metaHeaders(&m)
		}
		if depth != nil {
			tm.Depth = min(depth[i], maxDepth)
		}
		if flat && m.InReplyTo != "" {
			if p, ok := at[m.InReplyTo]; ok && p != i {
				tm.Parent = "#" + anchor(&msgs[p])
				if pp := pos[p]/threadPageSize + 1; pp != page {
					tm.Parent = pageURL(pp) + tm.Parent
				}
				tm.ParentFrom = visible(msgs[p].From.Name)
				if tm.ParentFrom == "" {
					tm.ParentFrom = msgs[p].From.Email
				}
			}
		}
		d.Messages = append(d.Messages, tm)
	}
	if pages > 1 {
		for n := 1; n <= pages; n++ {
			d.Pager = append(d.Pager, pageLink{N: n, URL: pageURL(n), Current: n == page})
		}
		if page > 1 {
			d.Prev = pageURL(page - 1)
		}
		if page < pages {
			d.Next = pageURL(page + 1)
		}
	}
	h.render(w, r, "thread.html", d)
}

// parentOf is the message whose subject a message's is compared with:
// its parent in the thread, or, in the flat view, the first message.
func parentOf(msgs []store.Message, at map[string]int, i int, flat bool, order []int) int {
	if flat {
		if order[0] == i {
			return -1
		}
		return order[0]
	}
	if p, ok := at[msgs[i].InReplyTo]; ok && p != i {
		return p
	}
	for j := len(msgs[i].References) - 1; j >= 0; j-- {
		if p, ok := at[msgs[i].References[j]]; ok && p != i {
			return p
		}
	}
	return -1
}

// baseSubject strips reply prefixes ("Re:", "RE:", "Aw:", "Fwd:" is kept)
// and surrounding space, to tell a repeated subject from a new one.
func baseSubject(s string) string {
	for {
		s = strings.TrimSpace(s)
		if len(s) >= 3 && (strings.EqualFold(s[:3], "re:") || strings.EqualFold(s[:3], "aw:")) {
			s = s[3:]
			continue
		}
		return s
	}
}

// metaHeaders shows the header fields the stored metadata has, for a
// message ThreadHeaders has none of.
func metaHeaders(m *store.Message) string {
	var b strings.Builder
	if m.From.Name != "" {
		fmt.Fprintf(&b, "From: %s <%s>\n", m.From.Name, m.From.Email)
	} else if m.From.Email != "" {
		fmt.Fprintf(&b, "From: %s\n", m.From.Email)
	}
	fmt.Fprintf(&b, "Subject: %s\n", m.Subject)
	if !m.Date.IsZero() {
		fmt.Fprintf(&b, "Date: %s\n", m.Date.Format(time.RFC1123Z))
	}
	fmt.Fprintf(&b, "Message-ID: <%s>\n", m.MessageID)
	if m.InReplyTo != "" {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\n", m.InReplyTo)
	}
	if len(m.References) > 0 {
		fmt.Fprintf(&b, "References: <%s>\n", strings.Join(m.References, ">\n  <"))
	}
	return visible(b.String())
}

// messagePage serves GET /{list}/{message-id}/: one message, its headers
// and body, with links to its thread (the page lore shows there).
func (h *Handler) messagePage(w http.ResponseWriter, r *http.Request, list, id string) {
	msgs, bodies, err := h.r.ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	for i, m := range msgs {
		if m.MessageID != id {
			continue
		}
		m.Subject = visible(m.Subject)
		m.From.Name = visible(m.From.Name)
		tm := threadMessage{M: m, Focus: true, Headers: metaHeaders(&m), ShowSubject: true}
		tm.Blocks, tm.Files = messageBody(newHighlighter(), anchor(&m), m.Kind, bodies[i])
		tm.Auth = h.messageAuth(r.Context(), list, id)
		hds, err := h.r.ThreadHeaders(r.Context(), list, id)
		if err != nil {
			h.fail(w, r, "message", err)
			return
		}
		if hd, ok := hds[m.UID]; ok {
			tm.Headers = visible(hd)
		}
		for j := range msgs {
			if msgs[j].MessageID == m.InReplyTo && j != i {
				tm.Parent = "/" + url.PathEscape(list) + "/" + url.PathEscape(m.InReplyTo) + "/"
				tm.ParentFrom = visible(msgs[j].From.Name)
				if tm.ParentFrom == "" {
					tm.ParentFrom = msgs[j].From.Email
				}
				break
			}
		}
		h.render(w, r, "thread.html", threadPage{List: list, ID: id, Subject: m.Subject, Total: len(msgs),
			Messages: []threadMessage{tm},
			Thread:   "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/t/#" + anchor(&m)})
		return
	}
	h.httpError(w, r, http.StatusNotFound, "message not found")
}

// messageBody splits a message's text for its page: quoted and plain
// blocks, and for a patch its diff, cut into files and coloured as on the
// series page (anchors under prefix).
func messageBody(hl *highlighter, prefix, kind, body string) ([]block, []diffFile) {
	if kind == core.KindPatch {
		if i := diffStart(body); i >= 0 {
			diff := withoutSignature(body[i:])
			files := splitDiff(prefix, diff)
			hl.patch(diff, files)
			var blocks []block
			if strings.TrimSpace(body[:i]) != "" {
				blocks = splitBody(body[:i])
			}
			return blocks, files
		}
	}
	return splitBody(body), nil
}

// withoutSignature cuts the signature git format-patch puts after a
// diff ("-- " and the git version): a "-- " line followed by at most
// four short lines none of which reads as a diff line.
func withoutSignature(diff string) string {
	i := strings.LastIndex(diff, "\n-- \n")
	if i < 0 {
		return diff
	}
	tail := strings.Split(strings.TrimRight(diff[i+5:], "\n"), "\n")
	if len(tail) > 4 {
		return diff
	}
	for _, l := range tail {
		if len(l) > 80 || strings.HasPrefix(l, "diff --git ") || (l != "" && strings.ContainsRune(" +-@\\", rune(l[0]))) {
			return diff // a diff line: the "-- " was a deleted "- "
		}
	}
	return diff[:i+1]
}

// diffStart is where a patch mail's diff begins: its first "diff --git"
// line, else a "--- " line followed by "+++ " (a diff without git's
// header); -1 when there is none.
func diffStart(body string) int {
	if strings.HasPrefix(body, "diff --git ") {
		return 0
	}
	if i := strings.Index(body, "\ndiff --git "); i >= 0 {
		return i + 1
	}
	for i := 0; i < len(body); {
		j := strings.Index(body[i:], "\n--- ")
		if j < 0 {
			return -1
		}
		at := i + j + 1
		if nl := strings.IndexByte(body[at:], '\n'); nl >= 0 && strings.HasPrefix(body[at+nl+1:], "+++ ") {
			return at
		}
		i = at
	}
	return -1
}
