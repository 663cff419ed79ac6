// Command smtpsink is an SMTP server that accepts every message and
// throws it away, counting: the smarthost of the fan-out benchmark
// (bench/fanout.sh). It prints the count every second once mail flows.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"sync/atomic"
	"time"

	"github.com/emersion/go-smtp"
)

var count atomic.Int64

type backend struct{}

func (backend) NewSession(*smtp.Conn) (smtp.Session, error) { return session{}, nil }

type session struct{}

func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (session) Data(r io.Reader) error {
	_, err := io.Copy(io.Discard, r)
	count.Add(1)
	return err
}
func (session) Reset()        {}
func (session) Logout() error { return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:2526", "listen address")
	flag.Parse()
	s := smtp.NewServer(backend{})
	s.Addr, s.Domain = *addr, "sink.localhost"
	go func() {
		last := int64(0)
		for range time.Tick(time.Second) {
			if n := count.Load(); n != last {
				fmt.Printf("%s %d\n", time.Now().Format("15:04:05.000"), n)
				last = n
			}
		}
	}()
	log.Fatal(s.ListenAndServe())
}
