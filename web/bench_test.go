package web

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"patchwell/core"
	"patchwell/store"
)

// BenchmarkSeriesJSON renders GET /api/v1/series/{id} for a 30-patch series
// through the whole handler (routing, logging middleware, encoding).
func BenchmarkSeriesJSON(b *testing.B) {
	s := store.Series{
		ID: 42, List: "dev", Subject: "[PATCH v3 00/30] a long series", Version: 3, Status: store.StatusProposed,
		Submitter: core.Person{Name: "Ann", Email: "ann@example.org"}, Total: 30, Received: 30, Complete: true,
		MessageID: "cover@example.org", CoverMessageID: "cover@example.org", Date: t0, Previous: 41,
	}
	var patches []store.Patch
	for i := 1; i <= 30; i++ {
		p := store.Patch{
			Index: i, Subject: fmt.Sprintf("[PATCH v3 %02d/30] subsystem: change number %d", i, i),
			MessageID: fmt.Sprintf("patch-%d@example.org", i), Author: s.Submitter, Date: t0,
			CommitSubject: fmt.Sprintf("subsystem: change number %d", i), PatchID: fmt.Sprintf("%040x", i),
		}
		for j := 0; j < 4; j++ {
			p.Files = append(p.Files, core.File{Path: fmt.Sprintf("dir/file%d.go", j), Added: 10 * j, Deleted: j})
		}
		p.Trailers = []core.Trailer{
			{Key: "Signed-off-by", Value: "Ann <ann@example.org>", FromMessageID: p.MessageID},
			{Key: "Reviewed-by", Value: "Bob <bob@example.org>", FromMessageID: "review@example.org"},
		}
		patches = append(patches, p)
	}
	f := &fakeReader{details: map[int64]fakeSeries{42: {s: s, patches: patches}}}
	h := New(f, Config{Domain: "lists.example.org"}, slog.New(slog.DiscardHandler))
	req := httptest.NewRequest(http.MethodGet, "/api/v1/series/42", nil)

	b.ReportAllocs()
	var n int64
	for b.Loop() {
		f.calls = f.calls[:0]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("GET = %d", rec.Code)
		}
		n, _ = io.Copy(io.Discard, rec.Body)
	}
	b.SetBytes(n)
}
