package web

import (
	"bytes"
	"embed"
	"html/template"
	"net"
	"net/http"
	"strconv"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

// parseTemplates parses the embedded templates. The web UI proper will add
// pages here; each page is one file defining its own template name.
func parseTemplates() (*template.Template, error) {
	var t *template.Template
	t, err := template.New("").Funcs(pageFuncs).Funcs(template.FuncMap{"diffRows": diffRowsFunc(&t)}).
		ParseFS(templateFS, "templates/*.html")
	return t, err
}

type homeList struct {
	Name         string
	Address      string
	Description  string
	Messages     int
	Series       int
	OpenSeries   int
	LastActivity time.Time
}

type homeData struct {
	Domain   string
	SMTPHost string
	SMTPPort string
	Lists    []homeList
}

// smtpHostPort splits Config.SMTPAddr for the send-email example: an empty
// or unspecified host becomes the domain, a missing port 25.
func smtpHostPort(cfg Config) (host, port string) {
	host, port, err := net.SplitHostPort(cfg.SMTPAddr)
	if err != nil {
		host, port = cfg.SMTPAddr, ""
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = cfg.Domain
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		port = "25"
	}
	return host, port
}

// setHTMLHeaders sets the security headers of every HTML page.
func setHTMLHeaders(w http.ResponseWriter) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Content-Security-Policy", "default-src 'self'")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	if h.tmplErr != nil {
		h.fail(w, r, "page", h.tmplErr)
		return
	}
	ls, err := h.r.ListsByActivity(r.Context())
	if err == nil {
		ls, err = h.listed(r, ls)
	}
	if err != nil {
		h.fail(w, r, "lists", err)
		return
	}
	d := homeData{Domain: h.cfg.Domain, Lists: make([]homeList, 0, len(ls))}
	d.SMTPHost, d.SMTPPort = smtpHostPort(h.cfg)
	for _, l := range ls {
		d.Lists = append(d.Lists, homeList{
			Name:         l.Name,
			Address:      l.Name + "@" + h.cfg.Domain,
			Description:  l.Description,
			Messages:     l.Messages,
			Series:       l.Series,
			OpenSeries:   l.OpenSeries,
			LastActivity: l.LastActivity,
		})
	}
	var buf bytes.Buffer
	if err := h.tmpl.ExecuteTemplate(&buf, "home.html", d); err != nil {
		h.fail(w, r, "page", err)
		return
	}
	page := h.framed(r, buf.Bytes(), nil)
	setHTMLHeaders(w)
	w.Header().Set("Content-Length", strconv.Itoa(len(page)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(page)
}
