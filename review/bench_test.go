package review

import (
	"path/filepath"
	"testing"
	"time"

	"patchwell/archive"
)

// BenchmarkImportGit20k imports the 20,000-message benchmark corpus into a
// fresh store per iteration; messages/s is reported as msgs/s.
func BenchmarkImportGit20k(b *testing.B) {
	path := filepath.Join(corpusDir(b), "bench", "git-20k.mbox.gz")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		in, _ := newTestIngester(b)
		b.StartTimer()
		st := importFile(b, in, path)
		b.ReportMetric(float64(st.Imported)/b.Elapsed().Seconds()*float64(i+1), "msgs/s")
	}
}

// BenchmarkPrepare parses, compresses and cuts into search words the
// first 2,000 messages of the benchmark corpus: the part of ingest that
// runs outside the write transaction, on every core.
func BenchmarkPrepare(b *testing.B) {
	src, err := archive.OpenSource(filepath.Join(corpusDir(b), "bench", "git-20k.mbox.gz"))
	if err != nil {
		b.Fatal(err)
	}
	var raws [][]byte
	for len(raws) < 2000 {
		raw, err := src.Next()
		if err != nil {
			break
		}
		raws = append(raws, raw)
	}
	src.Close()
	now := time.Now()
	b.ResetTimer()
	for range b.N {
		for _, raw := range raws {
			Prepare(raw, now)
		}
	}
	b.ReportMetric(float64(b.N*len(raws))/b.Elapsed().Seconds(), "msgs/s")
}
