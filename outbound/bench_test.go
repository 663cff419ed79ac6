package outbound

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkFanOut: one post to 10,000 subscribers through a go-smtp sink
// on loopback (in this process; it discards the bodies), from queued to
// drained. It reports the drain time, deliveries per second and the peak
// heap (sampled every millisecond), with one commit per acknowledged
// delivery (the default) and, to measure what that costs, one per 10
// and per 100.
//
//	go test -run '^$' -bench FanOut -benchtime 1x ./outbound
func BenchmarkFanOut(b *testing.B) {
	const subscribers = 10_000
	rcpts := make([]string, subscribers)
	for i := range rcpts {
		rcpts[i] = fmt.Sprintf("subscriber%05d@example.net", i)
	}
	for _, every := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("commit=%d", every), func(b *testing.B) {
			s := newSink(b, func(s *sink) { s.discard = true })
			var drain time.Duration
			var peak uint64
			for b.Loop() {
				b.StopTimer()
				st, _ := queue(b, b.TempDir(), time.Now(), rcpts)
				w := newWorker(b, st, s, nil, func(c *Config) { c.CommitEvery = every })
				w.log = testLogger(b)
				runtime.GC()
				var base runtime.MemStats
				runtime.ReadMemStats(&base)
				var max atomic.Uint64
				stop := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					var ms runtime.MemStats
					tick := time.NewTicker(time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
							runtime.ReadMemStats(&ms)
							if ms.HeapAlloc > max.Load() {
								max.Store(ms.HeapAlloc)
							}
						}
					}
				}()
				b.StartTimer()
				start := time.Now()
				n, err := w.Drain(context.Background())
				d := time.Since(start)
				b.StopTimer()
				close(stop)
				<-done
				if err != nil || n != subscribers {
					b.Fatalf("Drain() = %d, %v", n, err)
				}
				drain += d
				peak = maxU(peak, max.Load())
				st.Close()
				b.StartTimer()
			}
			b.ReportMetric(drain.Seconds()/float64(b.N), "drain-s")
			b.ReportMetric(float64(subscribers)*float64(b.N)/drain.Seconds(), "deliveries/s")
			b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MB")
		})
	}
}

func maxU(a, b uint64) uint64 {
	if a > b {
		return a
	}
	return b
}
