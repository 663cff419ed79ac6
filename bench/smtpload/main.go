// Command smtpload sends n messages over c concurrent SMTP connections
// and reports acknowledged messages per second and time-to-250
// percentiles. It is a benchmark driver, not part of patchwell.
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:2525", "server")
	clients := flag.Int("clients", 16, "concurrent connections")
	n := flag.Int("n", 10000, "messages in all")
	to := flag.String("to", "dev@patchwell.localhost", "recipient")
	flag.Parse()

	body := strings.Repeat("This line stands for a patch body of a typical size.\r\n", 60)
	var (
		mu   sync.Mutex
		lat  []time.Duration
		fail int
		wg   sync.WaitGroup
		next = make(chan int)
	)
	go func() {
		for i := 0; i < *n; i++ {
			next <- i
		}
		close(next)
	}()
	start := time.Now()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			cl, err := smtp.Dial(*addr)
			if err != nil {
				log.Fatal(err)
			}
			defer cl.Close()
			if err := cl.Hello("load"); err != nil {
				log.Fatal(err)
			}
			for i := range next {
				msg := fmt.Sprintf("From: Load %d <load%d@example.org>\r\nTo: %s\r\nSubject: [PATCH] load test %d\r\nMessage-ID: <load-%d-%d@example.org>\r\nDate: %s\r\n\r\n%s",
					c, c, *to, i, i, start.UnixNano(), time.Now().Format(time.RFC1123Z), body)
				t0 := time.Now()
				err := send(cl, fmt.Sprintf("load%d@example.org", c), *to, msg)
				d := time.Since(t0)
				mu.Lock()
				if err != nil {
					fail++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
			cl.Quit()
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "no message acknowledged")
		os.Exit(1)
	}
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("%d acknowledged, %d failed in %.2f s: %.0f messages/s\n", len(lat), fail, el.Seconds(), float64(len(lat))/el.Seconds())
	fmt.Printf("time to 250: p50 %v p90 %v p99 %v max %v\n", p(0.5).Round(time.Microsecond), p(0.9).Round(time.Microsecond),
		p(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
}

// send runs one transaction; the time measured is from MAIL to the 250
// after DATA.
func send(cl *smtp.Client, from, to, msg string) error {
	if err := cl.Mail(from, nil); err != nil {
		return err
	}
	if err := cl.Rcpt(to, nil); err != nil {
		return err
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return err
	}
	return w.Close()
}
