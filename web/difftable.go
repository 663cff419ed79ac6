package web

import (
	"html/template"
	"strconv"
	"strings"
)

// The rows of a diff table are written here rather than by a template:
// a 30-patch series has thousands of lines, and html/template's escaping
// through reflection cost about 10 µs a line (three quarters of a series
// page's time once highlighting is cached). Every value is escaped as
// html/template escapes text and attributes (escapeHTML); the markup is
// the fixed set the diff template made before: tr, td, a, details,
// summary, textarea, and the highlighter's spans. Comments under a line
// are still rendered by the "comment" template.

// escapeHTML writes s escaped for an HTML text node or a quoted
// attribute value, as html/template does (the same entities, so that
// pages read alike whichever wrote them).
func escapeHTML(b *strings.Builder, s string) {
	last := 0
	for i := 0; i < len(s); i++ {
		var rep string
		switch s[i] {
		case '&':
			rep = "&amp;"
		case '<':
			rep = "&lt;"
		case '>':
			rep = "&gt;"
		case '"':
			rep = "&#34;"
		case '\'':
			rep = "&#39;"
		case '+':
			rep = "&#43;"
		case 0:
			rep = "\uFFFD"
		default:
			continue
		}
		b.WriteString(s[last:i])
		b.WriteString(rep)
		last = i + 1
	}
	b.WriteString(s[last:])
}

// rowWriter writes the rows of diff tables.
type rowWriter struct {
	b strings.Builder
	// exec renders a template of the page's set: "comment" for each
	// comment, "lineDrafts" for the reader's pending comments.
	exec func(b *strings.Builder, name string, data any) error
}

// draftRow is what the "lineDrafts" template shows under a line: the
// reader's pending comments on it, across span columns.
type draftRow struct {
	Drafts []draftView
	Span   string
}

// attr writes ` name="value"`, value escaped; nothing for "".
func (w *rowWriter) attr(name, value string) {
	if value == "" {
		return
	}
	w.b.WriteString(" " + name + `="`)
	escapeHTML(&w.b, value)
	w.b.WriteByte('"')
}

// numLink writes a line number linking to the row's anchor.
func (w *rowWriter) numLink(no int, anchor string) {
	if no == 0 {
		return
	}
	w.b.WriteString(`<a href="#`)
	escapeHTML(&w.b, anchor)
	w.b.WriteString(`">` + strconv.Itoa(no) + "</a>")
}

// code writes a line's comment box (when box and the reader may
// comment) and its text, highlighted or plain.
func (w *rowWriter) code(l *line, box bool) {
	if box && l.Form != "" {
		w.b.WriteString(`<details class="cl"><summary title="comment on this line">✎</summary><textarea`)
		w.attr("form", l.Form)
		w.attr("name", l.Field)
		if side, no, path, ok := parseCommentField(l.Field); ok {
			w.attr("aria-label", "Comment on "+side+" line "+strconv.Itoa(no)+" of "+visible(path))
		}
		w.b.WriteString(` rows="4" cols="72" placeholder="your comment on this line"></textarea>`)
		// What to do with it (verdicts.html told the same): open an issue,
		// add it to the pending review, or send it now.
		w.b.WriteString(`<div class="cl-actions"><label><input type="checkbox"`)
		w.attr("form", l.Form)
		w.attr("name", "i:"+l.Field)
		w.b.WriteString(` value="1"> Open an issue</label>` + "\n" + `<button`)
		w.attr("form", l.Form)
		w.b.WriteString(` name="op" value="draft" class="add-draft">Add to review</button>` + "\n" + `<button`)
		w.attr("form", l.Form)
		w.b.WriteString(` name="op" value="send">Send now</button></div></details>`)
	}
	if l.HTML != "" {
		w.b.WriteString(string(l.HTML))
	} else {
		escapeHTML(&w.b, l.Text)
	}
}

// comments writes the row of comments under a line, if it has any;
// span is the number of columns.
func (w *rowWriter) comments(span string, cs ...[]viewComment) error {
	n := 0
	for _, c := range cs {
		n += len(c)
	}
	if n == 0 {
		return nil
	}
	w.b.WriteString("\n" + `<tr class="comments"><td colspan="` + span + `">`)
	for _, c := range cs {
		for i := range c {
			if err := w.exec(&w.b, "comment", c[i]); err != nil {
				return err
			}
		}
	}
	w.b.WriteString("</td></tr>")
	return nil
}

// drafts writes the row of the reader's pending comments under a line,
// if it has any.
func (w *rowWriter) drafts(span string, ds []draftView) error {
	if len(ds) == 0 {
		return nil
	}
	return w.exec(&w.b, "lineDrafts", draftRow{Drafts: ds, Span: span})
}

// unified writes f's lines as rows of three cells: old and new line
// numbers (links to the row's anchor), then the line.
func (w *rowWriter) unified(f *diffFile) error {
	for i := range f.Lines {
		l := &f.Lines[i]
		w.b.WriteString("<tr")
		w.b.WriteString(` class="`)
		escapeHTML(&w.b, l.Class)
		w.b.WriteByte('"')
		w.attr("id", l.ID)
		w.b.WriteString(`><td class="no"`)
		w.attr("id", l.OldID)
		w.b.WriteByte('>')
		old := l.OldID
		if old == "" {
			old = l.ID
		}
		w.numLink(l.Old, old)
		w.b.WriteString(`</td><td class="no">`)
		w.numLink(l.New, l.ID)
		w.b.WriteString(`</td><td class="chroma">`)
		w.expand(l.Expand)
		w.code(l, true)
		w.b.WriteString("</td></tr>")
		if err := w.comments("3", l.Comments); err != nil {
			return err
		}
		if err := w.drafts("3", l.Drafts); err != nil {
			return err
		}
	}
	w.more(f.More, `<td class="no"></td><td class="no"></td><td class="chroma">`)
	return nil
}

// expand writes a link to the lines a diff leaves out (context.go).
func (w *rowWriter) expand(e *expandLink) {
	if e == nil {
		return
	}
	w.b.WriteString(`<a class="expand"`)
	w.attr("href", e.URL)
	dir, text := "down", "⋯ show more lines"
	if e.Up {
		dir, text = "up", "⋯ show lines "+strconv.Itoa(e.From)+"–"+strconv.Itoa(e.To)
		w.attr("data-min", strconv.Itoa(e.Min))
	}
	w.attr("data-dir", dir)
	w.b.WriteString(`>` + text + `</a> `)
}

// more writes the row of the link to the lines after a file's last
// hunk, its cells opened by cells.
func (w *rowWriter) more(e *expandLink, cells string) {
	if e == nil {
		return
	}
	w.b.WriteString(`<tr class="hunk more">` + cells)
	w.expand(e)
	w.b.WriteString("</td></tr>")
}

// split writes f's lines side by side, as rows of four cells: the old
// line's number and text, the new line's number and text. A context line
// fills both sides; in a change block the i-th deleted line faces the
// i-th added line (the pairs whose words are marked, words.go), the rest
// face an empty side. The anchors are the unified view's, on the number
// cells (a pair's row holds two lines); other lines (file header, hunk
// header) span the row.
func (w *rowWriter) split(f *diffFile) error {
	var dels, adds, notes []*line
	flush := func() error {
		for k := 0; k < max(len(dels), len(adds)); k++ {
			var d, a *line
			if k < len(dels) {
				d = dels[k]
			}
			if k < len(adds) {
				a = adds[k]
			}
			w.b.WriteString(`<tr class="chg">`)
			w.side(d, true, "del", true)
			w.side(a, false, "add", true)
			w.b.WriteString("</tr>")
			var cs [2][]viewComment
			if d != nil {
				cs[0] = d.Comments
			}
			if a != nil {
				cs[1] = a.Comments
			}
			if err := w.comments("4", cs[0], cs[1]); err != nil {
				return err
			}
		}
		for _, l := range notes {
			w.wide(l)
		}
		dels, adds, notes = dels[:0], adds[:0], notes[:0]
		return nil
	}
	for i := range f.Lines {
		l := &f.Lines[i]
		switch l.Class {
		case "del":
			if len(adds) > 0 {
				if err := flush(); err != nil {
					return err
				}
			}
			dels = append(dels, l)
			continue
		case "add":
			adds = append(adds, l)
			continue
		case "nonl":
			if len(dels)+len(adds) > 0 {
				notes = append(notes, l)
				continue
			}
		}
		if err := flush(); err != nil {
			return err
		}
		if l.Class != "ctx" {
			w.wide(l)
			continue
		}
		w.b.WriteString(`<tr class="ctx">`)
		w.side(l, true, "", false)
		w.side(l, false, "", true)
		w.b.WriteString("</tr>")
		if err := w.comments("4", l.Comments); err != nil {
			return err
		}
		if err := w.drafts("4", l.Drafts); err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	w.more(f.More, `<td class="no"></td><td class="chroma" colspan="3">`)
	return nil
}

// side writes one side of a split row: l's number on the old or the new
// side, linking to its anchor there, and its text, with its comment box
// when box; an empty side for a nil l. cls marks deleted and added
// lines.
func (w *rowWriter) side(l *line, old bool, cls string, box bool) {
	if l == nil {
		w.b.WriteString(`<td class="no empty"></td><td class="chroma empty"></td>`)
		return
	}
	no, id := l.New, l.ID
	if old {
		no = l.Old
		if l.OldID != "" {
			id = l.OldID
		}
	}
	sp := ""
	if cls != "" {
		sp = " " + cls
	}
	w.b.WriteString(`<td class="no` + sp + `"`)
	w.attr("id", id)
	w.b.WriteByte('>')
	w.numLink(no, id)
	w.b.WriteString(`</td><td class="chroma` + sp + `">`)
	w.code(l, box)
	w.b.WriteString("</td>")
}

// wide writes a line that belongs to neither side (a file or hunk
// header, "\ No newline at end of file") across the row.
func (w *rowWriter) wide(l *line) {
	w.b.WriteString("<tr")
	w.b.WriteString(` class="`)
	escapeHTML(&w.b, l.Class)
	w.b.WriteString(`"><td class="no"></td><td class="chroma" colspan="3">`)
	w.expand(l.Expand)
	if l.HTML != "" {
		w.b.WriteString(string(l.HTML))
	} else {
		escapeHTML(&w.b, l.Text)
	}
	w.b.WriteString("</td></tr>")
}

// diffRowsFunc is the template function diffRows: a file's table rows,
// with comments rendered by t's "comment" template.
func diffRowsFunc(t **template.Template) func(f diffFile) (template.HTML, error) {
	return func(f diffFile) (template.HTML, error) {
		w := rowWriter{exec: func(b *strings.Builder, name string, data any) error {
			return (*t).ExecuteTemplate(b, name, data)
		}}
		w.b.Grow(len(f.Lines) * 160)
		write := w.unified
		if f.Split {
			write = w.split
		}
		if err := write(&f); err != nil {
			return "", err
		}
		return template.HTML(w.b.String()), nil
	}
}
