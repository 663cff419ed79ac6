package web

import (
	"net/http"
	"net/url"

	"patchwell/store"
)

type threadMessage struct {
	M      store.Message
	Depth  int
	Blocks []block
}

type threadPage struct {
	List     string
	Subject  string
	Messages []threadMessage
	// Thread links to the whole thread when the page shows one message.
	Thread string
}

// threadPage serves GET /{list}/{message-id}/T/: the message's thread in
// arrival order, nested by reply, quoted text folded.
func (h *Handler) threadPage(w http.ResponseWriter, r *http.Request, list, id string) {
	pr, ok := h.r.(PageReader)
	if !ok {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	msgs, bodies, err := pr.ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
		return
	}
	depth := map[string]int{}
	d := threadPage{List: list}
	for i, m := range msgs {
		dep := 0
		if p, ok := depth[m.InReplyTo]; ok {
			dep = min(p+1, 12)
		}
		depth[m.MessageID] = dep
		if i == 0 {
			d.Subject = m.Subject
		}
		m.Subject = visible(m.Subject)
		d.Messages = append(d.Messages, threadMessage{M: m, Depth: dep, Blocks: splitBody(bodies[i])})
	}
	h.render(w, "thread.html", d)
}

// messagePage serves GET /{list}/{message-id}/: one message, its headers
// and body, with links to its thread (the page lore shows there).
func (h *Handler) messagePage(w http.ResponseWriter, r *http.Request, list, id string) {
	msgs, bodies, err := h.r.(PageReader).ThreadBodies(r.Context(), list, id)
	if err != nil {
		h.fail(w, "message", err)
		return
	}
	for i, m := range msgs {
		if m.MessageID != id {
			continue
		}
		m.Subject = visible(m.Subject)
		h.render(w, "thread.html", threadPage{List: list, Subject: m.Subject,
			Messages: []threadMessage{{M: m, Blocks: splitBody(bodies[i])}},
			Thread:   "/" + url.PathEscape(list) + "/" + url.PathEscape(id) + "/T/"})
		return
	}
	writeError(w, http.StatusNotFound, "message not found")
}
