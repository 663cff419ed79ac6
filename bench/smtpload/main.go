// Command smtpload sends n messages over c concurrent SMTP connections
// and reports acknowledged messages per second and time-to-250
// percentiles. It is a benchmark driver, not part of patchwell.
//
// With -retry it behaves as an MTA does across a server restart: a
// connection that fails or is refused (421) is dialled again and the
// message sent again, and what failed is counted by where it failed:
// before MAIL (a refusal a sender retries, nothing lost) or after it (a
// transaction cut short). -acked writes the Message-IDs that got their
// 250, for a test to check that each is stored exactly once.
package main

import (
	"errors"
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
	duration := flag.Duration("duration", 0, "stop starting messages after this long (0: send all n)")
	retry := flag.Bool("retry", false, "dial again and resend after a failure, as an MTA does (else a failed connection ends its client)")
	ackedFile := flag.String("acked", "", "write the Message-IDs that got their 250 to this file, one per line")
	flag.Parse()

	body := strings.Repeat("This line stands for a patch body of a typical size.\r\n", 60)
	var (
		mu                    sync.Mutex
		lat                   []time.Duration
		acked                 []string
		beforeMail, afterMail int
		failedAfter           []string
		wg                    sync.WaitGroup
		next                  = make(chan int)
		start                 = time.Now()
		stop                  = make(chan struct{})
	)
	if *duration > 0 {
		time.AfterFunc(*duration, func() { close(stop) })
	}
	go func() {
		defer close(next)
		for i := 0; i < *n; i++ {
			select {
			case next <- i:
			case <-stop:
				return
			}
		}
	}()
	for c := 0; c < *clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			var cl *smtp.Client
			defer func() {
				if cl != nil {
					cl.Quit()
				}
			}()
			from := fmt.Sprintf("load%d@example.org", c)
			for i := range next {
				id := fmt.Sprintf("load-%d-%d@example.org", i, start.UnixNano())
				msg := fmt.Sprintf("From: Load %d <%s>\r\nTo: %s\r\nSubject: [PATCH] load test %d\r\nMessage-ID: <%s>\r\nDate: %s\r\n\r\n%s",
					c, from, *to, i, id, time.Now().Format(time.RFC1123Z), body)
				for attempt := 0; ; attempt++ {
					if cl == nil {
						var err error
						if cl, err = dial(*addr); err != nil {
							if !*retry {
								log.Fatal(err)
							}
							mu.Lock()
							beforeMail++
							mu.Unlock()
							time.Sleep(20 * time.Millisecond)
							continue
						}
					}
					t0 := time.Now()
					stage, err := send(cl, from, *to, msg)
					d := time.Since(t0)
					mu.Lock()
					switch {
					case err == nil:
						lat = append(lat, d)
						acked = append(acked, id)
					case stage == "MAIL":
						beforeMail++
					default:
						afterMail++
						failedAfter = append(failedAfter, fmt.Sprintf("%s at %s: %v", id, stage, err))
					}
					mu.Unlock()
					if err == nil {
						break
					}
					cl.Close()
					cl = nil
					if !*retry {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
		}(c)
	}
	wg.Wait()
	el := time.Since(start)
	if *ackedFile != "" {
		if err := os.WriteFile(*ackedFile, []byte(strings.Join(acked, "\n")+"\n"), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) == 0 {
		fmt.Fprintln(os.Stderr, "no message acknowledged")
		os.Exit(1)
	}
	p := func(q float64) time.Duration { return lat[int(q*float64(len(lat)-1))] }
	fmt.Printf("%d acknowledged, %d failed in %.2f s: %.0f messages/s\n", len(lat), beforeMail+afterMail, el.Seconds(), float64(len(lat))/el.Seconds())
	fmt.Printf("time to 250: p50 %v p90 %v p99 %v max %v\n", p(0.5).Round(time.Microsecond), p(0.9).Round(time.Microsecond),
		p(0.99).Round(time.Microsecond), lat[len(lat)-1].Round(time.Microsecond))
	fmt.Printf("failures: %d before MAIL (refused or cut before the transaction, retried), %d after MAIL\n", beforeMail, afterMail)
	for _, f := range failedAfter {
		fmt.Printf("after MAIL: %s\n", f)
	}
}

// dial connects and says EHLO.
func dial(addr string) (*smtp.Client, error) {
	cl, err := smtp.Dial(addr)
	if err != nil {
		return nil, err
	}
	if err := cl.Hello("load"); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// send runs one transaction and says at which command it failed; the
// time measured is from MAIL to the 250 after DATA.
func send(cl *smtp.Client, from, to, msg string) (string, error) {
	if err := cl.Mail(from, nil); err != nil {
		return "MAIL", err
	}
	if err := cl.Rcpt(to, nil); err != nil {
		return "RCPT", err
	}
	w, err := cl.Data()
	if err != nil {
		return "DATA", err
	}
	if _, err := w.Write([]byte(msg)); err != nil {
		return "DATA", err
	}
	if err := w.Close(); err != nil {
		var se *smtp.SMTPError
		if errors.As(err, &se) {
			return "end of DATA (" + se.Error() + ")", err
		}
		return "end of DATA", err
	}
	return "", nil
}
