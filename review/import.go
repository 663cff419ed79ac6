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

func (s *ImportStats) add(o ImportStats) {
	s.Imported += o.Imported
	s.Duplicates += o.Duplicates
	s.Unparsable += o.Unparsable
	s.NoMessageID += o.NoMessageID
}

// FileError is an import that failed part way through one of the files
// of ImportFiles.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }

func (e *FileError) Unwrap() error { return e.Err }

// ImportFiles imports the messages of each path (archive.OpenSource: an
// mbox, a maildir, a message, "-" for standard input) into list, one path
// after the other, and returns their stats summed. A list that does not
// exist stops it before any path is opened; a path that cannot be opened
// stops it with the error of opening; a failed import stops it with a
// *FileError, and the stats count what came before. progress, when set,
// is told of each message read.
func (in *Ingester) ImportFiles(ctx context.Context, list string, paths []string, progress func(n int)) (ImportStats, error) {
	var total ImportStats
	if _, err := in.ListID(ctx, list); err != nil {
		return total, err
	}
	for _, p := range paths {
		src, err := archive.OpenSource(p)
		if err != nil {
			return total, err
		}
		if progress != nil {
			src = countingSource{src, progress}
		}
		s, err := in.Import(ctx, list, src)
		src.Close()
		total.add(s)
		if err != nil {
			return total, &FileError{Path: p, Err: err}
		}
	}
	return total, nil
}

// countingSource tells progress of each message its Source hands out.
type countingSource struct {
	archive.Source
	progress func(n int)
}

func (c countingSource) Next() ([]byte, error) {
	raw, err := c.Source.Next()
	if err == nil {
		c.progress(1)
	}
	return raw, err
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
			msgs := make([]*store.NewMessage, len(batch))
			for i, p := range batch {
				p.msg.ListID = listID
				msgs[i] = &p.msg
			}
			if err := tx.Expect(ctx, listID, msgs); err != nil {
				return err
			}
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
