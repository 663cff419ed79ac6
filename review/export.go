package review

import (
	"bufio"
	"context"
	"io"
	"time"

	"patchwell/archive"
	"patchwell/store"
)

// Export writes every message of list to w as mboxrd (archive.MboxWriter,
// each message from "mboxrd@z" at the epoch, as public-inbox does), in
// arrival order, byte for byte as it was received. progress, when set, is
// told the list's number of messages, and of each one written.
func Export(ctx context.Context, st store.Store, list string, w io.Writer, progress Progress) error {
	l, err := st.List(ctx, list)
	if err != nil {
		return err
	}
	var add func(n int)
	if progress != nil {
		add = progress(int64(l.Messages))
	}
	return exportMbox(ctx, st, list, w, add, nil)
}

// exportMbox writes list's messages to w as Export does; add, when set,
// is told of each message, and arrived, when set, gets each one's
// arrival time (Unix seconds) in order.
func exportMbox(ctx context.Context, st store.Store, list string, w io.Writer, add func(int), arrived *[]int64) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	mw := archive.NewMboxWriter(bw)
	err := st.Walk(ctx, list, func(m *store.Message, raw []byte) error {
		if add != nil {
			add(1)
		}
		if arrived != nil {
			*arrived = append(*arrived, m.Arrived.Unix())
		}
		return mw.Write(raw, "mboxrd@z", time.Time{})
	})
	if err != nil {
		return err
	}
	return bw.Flush()
}
