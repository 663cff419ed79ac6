// Package progress shows how far a long command (import, export,
// reindex, migrate) has got, on one line of a terminal: messages done of
// the total, the rate and the time left (schollz/progressbar). On
// anything but a terminal (a script, a pipe, a log) it shows nothing, so
// output meant for programs stays as it was.
package progress

import (
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Bar counts messages. A nil *Bar (from New on anything but a terminal)
// does nothing, so callers need no test of their own.
type Bar struct {
	b    *progressbar.ProgressBar
	mu   sync.Mutex
	done bool
}

// New returns a bar for total messages (-1: unknown, then only the count
// and the rate) described by what, drawn on w when w is a terminal;
// otherwise nil.
func New(w *os.File, total int64, what string) *Bar {
	if w == nil || !term.IsTerminal(int(w.Fd())) {
		return nil
	}
	return newBar(w, total, what)
}

func newBar(w io.Writer, total int64, what string) *Bar {
	return &Bar{b: progressbar.NewOptions64(total,
		progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(what),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionShowIts(),
		progressbar.OptionShowCount(),
		progressbar.OptionSetPredictTime(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionShowElapsedTimeOnFinish(),
		progressbar.OptionOnCompletion(func() { io.WriteString(w, "\n") }),
	)}
}

// Add counts n more messages done.
func (b *Bar) Add(n int) {
	if b != nil {
		b.b.Add(n)
	}
}

// SetTotal sets the total once it is known (counted beside the work).
func (b *Bar) SetTotal(total int64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.done {
		b.b.ChangeMax64(total)
	}
}

// Done ends the line: the bar is drawn complete at what was counted.
func (b *Bar) Done() {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.done {
		return
	}
	b.done = true
	if b.b.GetMax64() < 0 {
		b.b.Exit()
		return
	}
	b.b.ChangeMax64(b.b.State().CurrentNum)
	b.b.Finish()
}
