package review

import (
	"path/filepath"
	"testing"
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
