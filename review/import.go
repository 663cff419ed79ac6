package review

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"patchwell/archive"
	"patchwell/store"
)

// ImportStats counts what an import did.
type ImportStats struct {
	Imported    int // stored as new messages
	Duplicates  int // the same bytes were already in the list
	Unparsable  int // stored raw and flagged
	NoMessageID int // stored with a generated Message-ID
}

// importBatch is how many messages one import transaction holds.
const importBatch = 1000

type pending struct {
	raw     []byte
	arrived time.Time
	p       *Prepared
	done    chan struct{}
}

// ArrivalSource is a Source that knows when each message first arrived
// (reindex replays the archive with it); other sources arrive now.
type ArrivalSource interface {
	archive.Source
	Arrived() time.Time // of the message Next returned last
}

// Import reads every message of src into list, in order: parsing runs on
// all cores, storing in batches of importBatch messages per transaction.
func (in *Ingester) Import(ctx context.Context, list string, src archive.Source) (ImportStats, error) {
	var st ImportStats
	listID, err := in.ListID(ctx, list)
	if err != nil {
		return st, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	work := make(chan *pending, 256)
	order := make(chan *pending, 2*importBatch)
	readErr := make(chan error, 1)
	go func() {
		defer close(work)
		defer close(order)
		for {
			raw, err := src.Next()
			if errors.Is(err, io.EOF) {
				readErr <- nil
				return
			}
			if err != nil {
				readErr <- err
				return
			}
			pe := &pending{raw: raw, arrived: time.Now(), done: make(chan struct{})}
			if as, ok := src.(ArrivalSource); ok {
				pe.arrived = as.Arrived()
			}
			select {
			case order <- pe:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
			select {
			case work <- pe:
			case <-ctx.Done():
				readErr <- ctx.Err()
				return
			}
		}
	}()
	for i := 0; i < runtime.GOMAXPROCS(0); i++ {
		go func() {
			for pe := range work {
				pe.p = Prepare(pe.raw, pe.arrived)
				close(pe.done)
			}
		}()
	}

	batch := make([]*Prepared, 0, importBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		imported := st.Imported
		err := in.st.Update(ctx, func(tx store.Tx) error {
			b := NewBatch(tx)
			for _, p := range batch {
				a, err := in.Store(ctx, b, listID, p)
				if err != nil {
					return fmt.Errorf("message %q: %w", p.MessageID(), err)
				}
				if a.Duplicate {
					st.Duplicates++
					continue
				}
				st.Imported++
				if a.Flags&store.FlagUnparsable != 0 {
					st.Unparsable++
				}
				if a.Flags&store.FlagNoMessageID != 0 {
					st.NoMessageID++
				}
			}
			return nil
		})
		batch = batch[:0]
		if err == nil && st.Imported > imported {
			in.publish(Committed{Lists: []string{list}})
		}
		return err
	}
	for pe := range order {
		<-pe.done
		batch = append(batch, pe.p)
		if len(batch) == importBatch {
			before := st
			if err := flush(); err != nil {
				st = before
				return st, err
			}
		}
	}
	before := st
	if err := flush(); err != nil {
		st = before
		return st, err
	}
	if err := <-readErr; err != nil {
		return st, fmt.Errorf("read: %w", err)
	}
	return st, nil
}
