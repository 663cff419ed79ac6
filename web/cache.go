package web

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
	"github.com/maypok86/otter/v2"
	"golang.org/x/sync/singleflight"
)

// The page cache keeps rendered HTML pages (thread, message and series
// pages) for requests without credentials: no Cookie, no Authorization
// header. What it holds is what an anonymous reader was shown; it never
// serves a page rendered for a signed-in user, and the authorization
// check that wraps the routes runs before it (a page that check refuses
// is not a 200 and is not kept). The key is the whole request (scheme,
// host, escaped path, query) and the store's generation, read before the
// page's data: any write (a new message, a status change, a change of
// who may read a list) makes the next request render afresh.
const (
	pageCacheBytes = 64 << 20
	maxCachedPage  = 4 << 20
)

type pageKey struct {
	url string
	gen uint64
}

// cachedPage is one rendered response.
type cachedPage struct {
	status int
	header http.Header
	body   []byte
	gz     []byte // body gzipped, when that is smaller
	etag   string
	keep   bool // a 200 worth keeping
}

type pageCache struct {
	c     *otter.Cache[pageKey, *cachedPage]
	group singleflight.Group
}

func newPageCache() *pageCache {
	return &pageCache{c: otter.Must(&otter.Options[pageKey, *cachedPage]{
		MaximumWeight: pageCacheBytes,
		Weigher: func(k pageKey, v *cachedPage) uint32 {
			return uint32(len(k.url) + len(v.body) + len(v.gz) + 256)
		},
	})}
}

// cached answers r with render's output, from the page cache when it can.
func (h *Handler) cached(w http.ResponseWriter, r *http.Request, render func(http.ResponseWriter)) {
	if h.pages == nil || (r.Method != http.MethodGet && r.Method != http.MethodHead) ||
		r.Header.Get("Cookie") != "" || r.Header.Get("Authorization") != "" {
		render(w)
		return
	}
	gen, err := h.r.Generation(r.Context())
	if err != nil {
		render(w)
		return
	}
	scheme := "http"
	if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
		scheme = "https"
	}
	key := pageKey{url: scheme + "://" + r.Host + r.URL.EscapedPath() + "?" + r.URL.RawQuery, gen: gen}
	if p, ok := h.pages.c.GetIfPresent(key); ok {
		p.serve(w, r)
		return
	}
	// Concurrent misses of one key render once.
	v, _, shared := h.pages.group.Do(key.url+"\x00"+strconv.FormatUint(gen, 10), func() (any, error) {
		p := capture(w, render)
		if p.keep {
			h.pages.c.Set(key, p)
		}
		return p, nil
	})
	if p := v.(*cachedPage); p.keep || !shared {
		p.serve(w, r)
		return
	}
	// Another request's error (its client went away, say) is not ours.
	render(w)
}

// capture runs render into a buffer. Errors render reports for the
// request log reach w's recorder.
func capture(w http.ResponseWriter, render func(http.ResponseWriter)) *cachedPage {
	bw := &bufferWriter{header: http.Header{}}
	rec := &recorder{ResponseWriter: bw}
	render(rec)
	if outer, ok := w.(*recorder); ok && rec.err != nil {
		outer.err = rec.err
	}
	p := &cachedPage{status: bw.status, header: bw.header, body: bw.buf.Bytes()}
	if p.status == 0 {
		p.status = http.StatusOK
	}
	p.keep = p.status == http.StatusOK && len(p.body) <= maxCachedPage && p.header.Get("Set-Cookie") == "" &&
		p.header.Get("Content-Encoding") == "" && !strings.Contains(p.header.Get("Cache-Control"), "no-store")
	if !p.keep {
		return p
	}
	sum := sha256.Sum256(p.body)
	p.etag = `"` + hex.EncodeToString(sum[:12]) + `"`
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	_, _ = zw.Write(p.body)
	if zw.Close() == nil && gz.Len() < len(p.body) {
		p.gz = gz.Bytes()
	}
	return p
}

// serve writes p, as 304 when the client has it, gzipped when the client
// takes that.
func (p *cachedPage) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	for k, v := range p.header {
		hd[k] = append([]string(nil), v...) // p is shared: never append to its slices
	}
	if !p.keep {
		w.WriteHeader(p.status)
		_, _ = w.Write(p.body)
		return
	}
	hd.Set("ETag", p.etag)
	hd.Add("Vary", "Accept-Encoding")
	if etagMatch(r.Header.Get("If-None-Match"), p.etag) {
		hd.Del("Content-Length")
		hd.Del("Content-Type")
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := p.body
	if p.gz != nil && acceptsGzip(r) {
		body = p.gz
		hd.Set("Content-Encoding", "gzip")
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// etagMatch implements If-None-Match's weak comparison.
func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == etag {
			return true
		}
	}
	return false
}

// acceptsGzip reports whether Accept-Encoding allows gzip (q=0 refuses).
func acceptsGzip(r *http.Request) bool {
	for _, e := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(e), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") {
			q := strings.ReplaceAll(params, " ", "")
			return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
		}
	}
	return false
}

// bufferWriter is an http.ResponseWriter into memory.
type bufferWriter struct {
	header http.Header
	status int
	buf    bytes.Buffer
}

func (b *bufferWriter) Header() http.Header { return b.header }

func (b *bufferWriter) WriteHeader(code int) {
	if b.status == 0 {
		b.status = code
	}
}

func (b *bufferWriter) Write(p []byte) (int, error) {
	if b.status == 0 {
		b.status = http.StatusOK
	}
	return b.buf.Write(p)
}

// serveThreadMboxGz answers GET /{list}/{message-id}/t.mbox.gz from the
// review layer's cache.
func (h *Handler) serveThreadMboxGz(w http.ResponseWriter, r *http.Request, list, id string) {
	b, etag, err := h.r.ThreadMboxGz(r.Context(), list, id)
	if err != nil {
		h.fail(w, r, "message", err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/gzip")
	hd.Set("Content-Disposition", "inline; filename=t.mbox.gz")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("ETag", etag)
	if etagMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b)
	}
}

// redirectFound answers 302 with an absolute Location and an empty body,
// Content-Length: 0 also for HEAD (what b4 sends), so that clients that
// do not know a HEAD response has no body (wrk) do not wait for one.
func redirectFound(w http.ResponseWriter, location string) {
	hd := w.Header()
	hd.Set("Location", location)
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusFound)
}
